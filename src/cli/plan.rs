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
use crate::ports::NoFindings;
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
    /// With settings.accounts: the role assumed in each member account.
    #[arg(long, env = "SGWARDEN_MEMBER_ROLE", default_value = crate::place::DEFAULT_MEMBER_ROLE)]
    pub member_role: String,
    /// The ExternalId the member roles' trust asks for.
    #[arg(long, env = "SGWARDEN_MEMBER_EXTERNAL_ID")]
    pub member_external_id: Option<String>,
    /// With settings.accounts: how many accounts are run at once (1 to 64).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
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
        findings: NoFindings,
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
        let accounts = match policy.settings.accounts {
            None => None,
            Some(_) => Some(member_accounts(&sdk, &policy.settings).await?),
        };
        // A person's apply: counted within this run only, never held back by the Lambda's
        // ledger (docs/operations.md).
        let enforcer = wiring::enforcer(
            &sdk,
            crate::aws::member::MemberRole {
                name: a.member_role.clone(),
                external_id: a.member_external_id.clone(),
            },
            // Findings are the deployment's to keep: a person's plan or apply imports none.
            false,
            LoadedPolicy(policy),
            MemoryNotifier::default(),
            MemoryLedger::new(),
        );
        let opts = |account: &str| RunOptions {
            apply,
            force_audit: dry_run,
            regions: regions.to_vec(),
            now,
            home: Place::new(account, home.as_str()),
            notify: false,
        };
        let Some((hub, accounts)) = accounts else {
            return Ok(enforcer.run(&manual(), &opts("")).await);
        };
        if let Some(members) = enforcer.ec2.members() {
            members.set_hub(&hub);
        }
        // Every account of the policy, a bounded number at a time, in one report.
        use futures_util::StreamExt;
        let progress = Progress::new(accounts.len());
        let reports: Vec<Report> = futures_util::stream::iter(accounts.iter())
            .map(|account| {
                let (enforcer, progress, opts) = (&enforcer, &progress, &opts);
                async move {
                    let r = enforcer.run(&manual(), &opts(account)).await;
                    progress.done(!r.errors.is_empty());
                    r
                }
            })
            .buffer_unordered(usize::from(a.concurrency))
            .collect()
            .await;
        progress.finish();
        Ok(Report::merge(reports))
    })?
}

/// The caller's account (the hub) and the accounts a CLI run over an organization
/// governs: `settings.accounts` (the organization's ACTIVE accounts, read with the
/// caller's credentials), less the exclusions and the caller's own account unless a list
/// names it.
#[cfg(feature = "aws")]
async fn member_accounts(
    sdk: &aws_config::SdkConfig,
    settings: &crate::policy::Settings,
) -> Result<(String, Vec<String>), CliError> {
    use crate::aws::org;
    let aws = |e: crate::ports::WorkError| CliError::Aws(e.to_string());
    let hub = org::caller_account(sdk).await.map_err(aws)?;
    let active = match settings.accounts {
        Some(crate::policy::Accounts::Organization) => {
            org::active_accounts(sdk).await.map_err(aws)?
        }
        _ => Vec::new(),
    };
    let accounts = settings
        .governed_accounts(&active, &hub)
        .unwrap_or_default();
    Ok((hub, accounts))
}

/// Accounts done of all, and failures so far, on stderr while it is a terminal.
#[cfg(feature = "aws")]
struct Progress {
    total: usize,
    done: std::sync::atomic::AtomicUsize,
    failed: std::sync::atomic::AtomicUsize,
    shown: bool,
}

#[cfg(feature = "aws")]
impl Progress {
    fn new(total: usize) -> Self {
        use std::io::IsTerminal;
        Progress {
            total,
            done: Default::default(),
            failed: Default::default(),
            shown: std::io::stderr().is_terminal(),
        }
    }

    fn done(&self, failed: bool) {
        use std::sync::atomic::Ordering::Relaxed;
        let n = self.done.fetch_add(1, Relaxed) + 1;
        let f = self.failed.fetch_add(usize::from(failed), Relaxed) + usize::from(failed);
        if self.shown {
            eprint!("\r{n}/{} accounts, {f} failed", self.total);
        }
    }

    fn finish(&self) {
        if self.shown && self.total > 0 {
            eprintln!();
        }
    }
}
