//! The one integration test crate (every crate under tests/ links the whole library again).
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test helpers fail loudly on a broken fixture"
)]

mod cli;
mod fuzz_corpus;
mod hostile;
mod support;
