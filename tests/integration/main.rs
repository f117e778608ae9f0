//! The one integration test crate (every crate under tests/ links the whole library again).
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test helpers fail loudly on a broken fixture"
)]

#[cfg(feature = "devkit")]
mod budget;
mod cli;
#[cfg(feature = "devkit")]
mod demo;
#[cfg(feature = "devkit")]
mod faults;
mod fuzz_corpus;
mod hostile;
#[cfg(feature = "devkit")]
mod infra;
#[cfg(feature = "devkit")]
mod lambda;
#[cfg(feature = "devkit")]
mod moto;
#[cfg(feature = "devkit")]
mod moto_support;
mod support;
