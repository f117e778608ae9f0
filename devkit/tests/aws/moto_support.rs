//! The local AWS of the tests: moto's server from the project venv (`scripts/setup`), one
//! per test on a free loopback port, with its request recorder on, stopped by its PID.

pub use sgwarden_devkit::moto::{Moto, is_ec2_write};

use crate::support::root;

/// Starts moto for one test.
pub fn start_moto() -> Moto {
    Moto::start(&root().join(".venv")).expect("moto starts (run ./scripts/setup first)")
}

/// The home of an in-process run: us-east-1, in the account of its credentials (named
/// from the groups it reads, as the CLI does).
pub static US_EAST_1: std::sync::LazyLock<sgwarden::place::Place> =
    std::sync::LazyLock::new(|| sgwarden::place::Place::new("", "us-east-1"));
