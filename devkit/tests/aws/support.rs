//! Where things are: the repository root, and sgwarden's binaries.

use std::path::PathBuf;

/// The repository root (paths in tests are relative to it).
pub use sgwarden_devkit::root;

/// One of sgwarden's binaries, built beside this test by `cargo test --workspace`.
pub fn bin(name: &str) -> PathBuf {
    sgwarden_devkit::binary(name).unwrap_or_else(|e| panic!("{e}"))
}
