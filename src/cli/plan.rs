//! `sgwarden plan` (from snapshots, or live) and `sgwarden apply` (live): the drift of the
//! groups against a policy and what each mode does about it.

use std::io::Write;

use chrono::{DateTime, Utc};
use clap::Args;

use super::{CliError, EndpointArgs, ReportArgs, block_on, governed_regions, load_policy, manual};
use crate::enforcer::{Enforcer, RunOptions};
use crate::local::MemoryLedger;
use crate::local::{self, LoadedPolicy, MemoryEc2, MemoryNotifier};
use crate::place::Place;
use crate::report::{Outcome, Report};

/// What `plan` and `apply` both take: the policy, the regions, the report, where AWS is.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Policy: a file, a directory, s3://bucket/key or s3://bucket/prefix/.
    #[arg(long, env = "SGWARDEN_POLICY")]
    pub policy: String,
    /// Only these regions (repeatable), within settings.regions.
    #[arg(long)]
    pub region: Vec<String>,
    #[command(flatten)]
    pub report: ReportArgs,
    #[command(flatten)]
    pub aws: EndpointArgs,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// `aws ec2 describe-security-groups` output for one region, as [REGION=]FILE
    /// (repeatable). Without it, the groups are read from EC2.
    #[arg(long, value_name = "[REGION=]FILE")]
    pub snapshot: Vec<String>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Every group as audit: report what would change, change nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub run: RunArgs,
}

/// Plans from `--snapshot` files (no AWS at all), or from live EC2 without them.
pub(super) fn plan(a: &PlanArgs, out: &mut dyn Write) -> Result<Outcome, CliError> {
    let now = super::now(a.run.report.now.as_deref())?;
    let report = if a.snapshot.is_empty() {
        live(&a.run, now, false, false)?
    } else {
        from_snapshots(a, now)?
    };
    out.write_all(a.run.report.render(&report).as_bytes())?;
    Ok(report.outcome())
}

/// Makes the writes each group's mode calls for (or none with `--dry-run`).
pub(super) fn apply(a: &ApplyArgs, out: &mut dyn Write) -> Result<Outcome, CliError> {
    let now = super::now(a.run.report.now.as_deref())?;
    let report = live(&a.run, now, true, a.dry_run)?;
    out.write_all(a.run.report.render(&report).as_bytes())?;
    Ok(report.outcome())
}

/// The plan of snapshots: the enforcer's run over an in-memory EC2 that writes nothing.
fn from_snapshots(a: &PlanArgs, now: DateTime<Utc>) -> Result<Report, CliError> {
    let home = local::running_region();
    let policy = load_policy(&a.run.policy)?;
    governed_regions(&policy, &home, &a.run.region)?;
    let inventory = local::read_snapshots(&a.snapshot).map_err(CliError::Input)?;
    // A snapshot of a region the policy does not govern would be silently left out of the
    // plan: say so instead.
    let all = governed_regions(&policy, &home, &[])?;
    let mut accounts: Vec<String> = Vec::new();
    for arg in &a.snapshot {
        let (place, _) = local::snapshot_arg(arg);
        if !all.contains(&place.region) {
            return Err(CliError::Usage(format!(
                "--snapshot `{arg}`: region `{}` is not governed by the policy \
                 (regions: {}); its groups would not be planned",
                place.region,
                all.join(", ")
            )));
        }
        if !accounts.contains(&place.account) {
            accounts.push(place.account);
        }
    }
    accounts.sort();
    let enforcer = Enforcer {
        ec2: MemoryEc2::new(inventory),
        source: LoadedPolicy(policy),
        notifier: MemoryNotifier::default(),
        ledger: MemoryLedger::new(),
        flows: crate::ports::NoFlows,
    };
    // One run per account the snapshots name (`ACCOUNT/REGION=FILE`), merged.
    let runs = block_on(async {
        let mut reports = Vec::new();
        for account in &accounts {
            let opts = RunOptions {
                apply: false,
                force_audit: false,
                regions: a.run.region.clone(),
                now,
                home: Place::new(account.as_str(), home.as_str()),
                notify: false,
            };
            reports.push(enforcer.run(&manual(), &opts).await);
        }
        reports
    })?;
    Ok(Report::merge(runs))
}

#[cfg(not(feature = "aws"))]
fn live(_: &RunArgs, _: DateTime<Utc>, _: bool, _: bool) -> Result<Report, CliError> {
    Err(CliError::NoAws(": pass --snapshot"))
}

/// A plan or apply against live EC2 (or the endpoint given), through the enforcer.
#[cfg(feature = "aws")]
fn live(a: &RunArgs, now: DateTime<Utc>, apply: bool, dry_run: bool) -> Result<Report, CliError> {
    use crate::aws::{home_region, sdk_config, wiring};
    let regions = &a.region;
    block_on(async {
        let sdk = sdk_config(None, a.aws.endpoint_url.as_deref()).await;
        let home = home_region(&sdk);
        let policy = super::fetch_policy(&sdk, &a.policy).await?;
        governed_regions(&policy, &home, regions)?;
        // A person's apply: counted within this run only, never held back by the Lambda's
        // ledger (docs/operations.md).
        let enforcer = wiring::enforcer(
            &sdk,
            LoadedPolicy(policy),
            MemoryNotifier::default(),
            MemoryLedger::new(),
        );
        let opts = RunOptions {
            apply,
            force_audit: dry_run,
            regions: regions.to_vec(),
            now,
            home: Place::new("", home),
            notify: false,
        };
        Ok(enforcer.run(&manual(), &opts).await)
    })?
}
