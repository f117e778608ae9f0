//! The AWS path on a real local AWS: sgwarden's SDK adapters, the real binaries and the
//! Lambda runtime API against moto over real HTTP, the fault proxy, the infrastructure
//! lint, and the demo. They need `./scripts/setup` (the venv with moto, cfn-lint and
//! checkov) and the workspace's binaries (`cargo test --workspace` builds them).
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test helpers fail loudly on a broken fixture"
)]

mod budget;
mod burst;
mod demo;
mod ec2_adapter;
mod faults;
mod findings;
mod fleet;
mod infra;
mod lambda;
mod moto;
mod moto_support;
mod org;
mod support;
