//! `sgwarden validate`: check a policy and report every problem in it.

use std::io::Write;

use clap::Args;

use super::{CliError, load_policy};
use crate::report::Outcome;

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Policy: a file, a directory, s3://bucket/key or s3://bucket/prefix/.
    #[arg(long, env = "SGWARDEN_POLICY")]
    pub policy: String,
}

/// Prints `LOCATION: valid (N groups, N atomic rules, N exceptions, N files)`.
pub(super) fn run(a: &ValidateArgs, out: &mut dyn Write) -> Result<Outcome, CliError> {
    let p = load_policy(&a.policy)?;
    let rules: usize = p
        .groups
        .values()
        .map(|g| g.ingress.as_ref().map_or(0, Vec::len) + g.egress.as_ref().map_or(0, Vec::len))
        .sum();
    writeln!(
        out,
        "{}: valid ({} groups, {} atomic rules, {} exceptions, {} files)",
        a.policy,
        p.groups.len(),
        rules,
        p.exceptions.len(),
        p.files.len()
    )?;
    Ok(Outcome::Clean)
}
