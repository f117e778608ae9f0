//! The `sgwarden` command line: clap types and [`run`], which tests call directly.
//!
//! Commands that need no AWS: `validate`, `plan --snapshot`, `show policy`,
//! `show current --snapshot`, `schema`. Every command returns an [`Outcome`] (the exit
//! code) or an error for the binary to print; nothing here panics on user input.

use std::io::{IsTerminal, Write};

use chrono::{DateTime, Utc};

use crate::limits;
use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::{Value, json};

use crate::budget::MemoryLedger;
use crate::enforcer::{Enforcer, RunOptions};
use crate::inventory::Inventory;
use crate::local::{self, LoadedPolicy, MemoryEc2, MemoryNotifier};
use crate::policy::{self, Policy, PolicyError};
use crate::report::{Outcome, Report, render};
use crate::rule::{DescribedRule, Direction};
use crate::trigger::{Trigger, TriggerEvent};
use crate::{export, import};

/// Keeps EC2 security groups equal to a declared policy.
#[derive(Debug, Parser)]
#[command(name = "sgwarden", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a policy and report every problem in it.
    Validate(ValidateArgs),
    /// Show the drift of live groups (or snapshots) against a policy, and what each mode would do.
    Plan(PlanArgs),
    /// Make the writes each group's mode calls for, then re-read the groups to verify.
    Apply(ApplyArgs),
    /// Run the Lambda's code path locally on an event file (reads the SGWARDEN_* variables).
    Invoke(InvokeArgs),
    /// Show the expanded policy or the current groups.
    #[command(subcommand)]
    Show(ShowCommand),
    /// Print the JSON Schema (draft 2020-12) of the policy file, for editor completion.
    Schema,
    /// Print an sgwarden policy from an older tool's files, or from today's groups.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Print the policy's groups in another tool's format.
    #[command(subcommand)]
    Export(ExportCommand),
    /// Who talks to a group or an interface: the VPC flow-log digest (hits, from, to,
    /// ACCEPT/REJECT) of a look-back window, from CloudWatch Logs.
    Flows(FlowsArgs),
}

#[derive(Debug, Args)]
pub struct FlowsArgs {
    /// The CloudWatch Logs group the VPC flow logs are delivered to.
    #[arg(long)]
    pub log_group: String,
    /// Every interface this security group is attached to.
    #[arg(long, required_unless_present = "eni", conflicts_with = "eni")]
    pub group: Option<String>,
    /// One network interface (`eni-…`).
    #[arg(long)]
    pub eni: Option<String>,
    /// How far back to look: `90s`, `30m`, `1h`, `1d`; at most 3653d (ten years, CloudWatch
    /// Logs' longest retention).
    #[arg(long, default_value = "1h")]
    pub look_back: String,
    /// The region (else the region sgwarden runs in).
    #[arg(long)]
    pub region: Option<String>,
    #[arg(long)]
    pub no_headers: bool,
    #[command(flatten)]
    pub aws: EndpointArgs,
}

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// A pysecurity-groups configuration (ini): its groups, variables and global rules.
    Ini(ImportIniArgs),
    /// pysec-aws rules files (`ADDRESS/PREFIX:FROM[-TO]^PROTO`) as one group.
    Pysec(ImportPysecArgs),
    /// Today's groups (live, or `--snapshot`) as a starting policy with no drift.
    Current(ImportCurrentArgs),
}

#[derive(Debug, Args)]
pub struct ImportIniArgs {
    /// The pysecurity-groups configuration file.
    pub file: std::path::PathBuf,
}

#[derive(Debug, Args)]
pub struct ImportPysecArgs {
    /// Rules files, or folders of them (their non-hidden files).
    #[arg(required = true)]
    pub paths: Vec<std::path::PathBuf>,
    /// The group the rules belong to (pysec's --group-name).
    #[arg(long)]
    pub group: String,
    /// Only the group of that name in this VPC (else every group of that name).
    #[arg(long)]
    pub vpc: Option<String>,
    /// The policy's regions (repeatable; else the region sgwarden runs in).
    #[arg(long)]
    pub region: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ImportCurrentArgs {
    /// `aws ec2 describe-security-groups` output for one region, as [REGION=]FILE
    /// (repeatable). Without it, the groups are read from EC2.
    #[arg(long, value_name = "[REGION=]FILE")]
    pub snapshot: Vec<String>,
    /// Regions to read (repeatable; else the region sgwarden runs in).
    #[arg(long)]
    pub region: Vec<String>,
    #[command(flatten)]
    pub aws: EndpointArgs,
}

#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// `AWS::EC2::SecurityGroup` resources with their ingress and egress.
    Cloudformation(ExportCloudFormationArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TemplateFormat {
    Yaml,
    Json,
}

#[derive(Debug, Args)]
pub struct ExportCloudFormationArgs {
    /// Policy file or directory.
    #[arg(long, env = "SGWARDEN_POLICY")]
    pub policy: String,
    #[arg(long, value_enum, default_value = "yaml")]
    pub format: TemplateFormat,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Policy file or directory.
    #[arg(long, env = "SGWARDEN_POLICY")]
    pub policy: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Table,
    Text,
    Json,
    Markdown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ShowFormat {
    Table,
    Yaml,
    Json,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Policy file or directory.
    #[arg(long, env = "SGWARDEN_POLICY")]
    pub policy: String,
    /// `aws ec2 describe-security-groups` output for one region, as [REGION=]FILE
    /// (repeatable). Without it, the groups are read from EC2.
    #[arg(long, value_name = "[REGION=]FILE")]
    pub snapshot: Vec<String>,
    /// Only these regions (repeatable), within settings.regions.
    #[arg(long)]
    pub region: Vec<String>,
    #[command(flatten)]
    pub report: ReportArgs,
    #[command(flatten)]
    pub aws: EndpointArgs,
}

/// How a report is printed, and the clock it is computed at.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Pin the clock for exception expiry (RFC 3339, e.g. 2026-11-23T00:00:00Z).
    #[arg(long, value_name = "RFC3339")]
    pub now: Option<String>,
    /// Output format (default: table on a terminal, text otherwise).
    #[arg(long, value_enum)]
    pub format: Option<ReportFormat>,
    /// Leave out the header line of tables.
    #[arg(long)]
    pub no_headers: bool,
}

impl ReportArgs {
    /// The report in the chosen format.
    fn render(&self, report: &Report) -> String {
        render_report(report, report_format(self.format), !self.no_headers)
    }
}

/// Where AWS is.
#[derive(Debug, Args)]
pub struct EndpointArgs {
    /// Another endpoint for every AWS client (a local AWS).
    #[arg(long, env = "AWS_ENDPOINT_URL", value_name = "URL")]
    pub endpoint_url: Option<String>,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Policy: a file, a directory, s3://bucket/key or s3://bucket/prefix/.
    #[arg(long, env = "SGWARDEN_POLICY")]
    pub policy: String,
    /// Every group as audit: report what would change, change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Only these regions (repeatable), within settings.regions.
    #[arg(long)]
    pub region: Vec<String>,
    #[command(flatten)]
    pub report: ReportArgs,
    #[command(flatten)]
    pub aws: EndpointArgs,
}

#[derive(Debug, Args)]
pub struct InvokeArgs {
    /// An EventBridge event (JSON), as the Lambda receives it (see events/).
    #[arg(long, value_name = "FILE")]
    pub event: String,
    /// Overrides `SGWARDEN_POLICY`.
    #[arg(long)]
    pub policy: Option<String>,
    #[command(flatten)]
    pub report: ReportArgs,
    #[command(flatten)]
    pub aws: EndpointArgs,
}

#[derive(Debug, Subcommand)]
pub enum ShowCommand {
    /// The policy as sgwarden reads it: every group's atomic rules, variables and globals expanded.
    Policy(ShowPolicyArgs),
    /// The current groups, split into atomic rules.
    Current(ShowCurrentArgs),
}

#[derive(Debug, Args)]
pub struct ShowPolicyArgs {
    #[arg(long, env = "SGWARDEN_POLICY")]
    pub policy: String,
    #[arg(long, value_enum)]
    pub format: Option<ShowFormat>,
    #[arg(long)]
    pub no_headers: bool,
}

#[derive(Debug, Args)]
pub struct ShowCurrentArgs {
    /// `aws ec2 describe-security-groups` output for one region, as [REGION=]FILE (repeatable).
    #[arg(long, value_name = "[REGION=]FILE", required = true)]
    pub snapshot: Vec<String>,
    #[arg(long)]
    pub region: Vec<String>,
    #[arg(long, value_enum)]
    pub format: Option<ShowFormat>,
    #[arg(long)]
    pub no_headers: bool,
}

/// Why a command could not do its work (exit code 1).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error("{0}")]
    Input(String),
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
}

/// The longest `flows --look-back`: past this no flow log is kept anyway.
const MAX_LOOK_BACK_DAYS: u64 = 3_653;

/// The run's clock: `--now`, or the system's.
fn now(now: Option<&str>) -> Result<DateTime<Utc>, CliError> {
    match now {
        None => Ok(Utc::now()),
        Some(text) => DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| {
                CliError::Input(format!(
                    "invalid --now `{text}`: {e} (write RFC 3339, e.g. 2026-11-23T00:00:00Z)"
                ))
            }),
    }
}

/// Loads a policy: a local file or directory, or an `s3://` object or prefix (read with
/// the ambient AWS configuration, `AWS_ENDPOINT_URL` included), exactly as a run would.
pub fn load_policy(location: &str) -> Result<Policy, CliError> {
    if location.starts_with("s3://") {
        return load_remote_policy(location);
    }
    let docs = local::read_policy(location)?;
    Ok(policy::load(location, &docs)?)
}

#[cfg(feature = "aws")]
fn load_remote_policy(location: &str) -> Result<Policy, CliError> {
    block_on(async {
        let sdk = crate::aws::sdk_config(None, None).await;
        fetch_policy(&sdk, location).await
    })?
}

/// The policy at `location` (local or S3), its problems kept apart from unreachable S3.
#[cfg(feature = "aws")]
async fn fetch_policy(sdk: &aws_config::SdkConfig, location: &str) -> Result<Policy, CliError> {
    use crate::ports::{PolicySource, SourceError};
    match crate::aws::AnyPolicySource::new(sdk, location).load().await {
        Ok(p) => Ok(p),
        Err(SourceError::Policy(p)) => Err(CliError::Policy(p)),
        Err(e) => Err(CliError::Input(e.to_string())),
    }
}

#[cfg(not(feature = "aws"))]
fn load_remote_policy(location: &str) -> Result<Policy, CliError> {
    Err(CliError::Input(format!(
        "cannot read `{location}`: this sgwarden was built without AWS support (feature `aws`)"
    )))
}

/// The regions a run governs: settings.regions (or the running region), narrowed by
/// `--region`. A `--region` outside settings.regions is an error.
pub fn governed_regions(policy: &Policy, narrow: &[String]) -> Result<Vec<String>, CliError> {
    let mut all = if policy.settings.regions.is_empty() {
        vec![local::running_region()]
    } else {
        policy.settings.regions.clone()
    };
    if !narrow.is_empty() {
        if let Some(bad) = narrow.iter().find(|r| !all.contains(r)) {
            return Err(CliError::Input(format!(
                "--region `{bad}` is not governed by the policy (regions: {})",
                all.join(", ")
            )));
        }
        all.retain(|r| narrow.contains(r));
    }
    all.sort();
    Ok(all)
}

fn report_format(f: Option<ReportFormat>) -> ReportFormat {
    f.unwrap_or(if std::io::stdout().is_terminal() {
        ReportFormat::Table
    } else {
        ReportFormat::Text
    })
}

fn show_format(f: Option<ShowFormat>) -> ShowFormat {
    f.unwrap_or(if std::io::stdout().is_terminal() {
        ShowFormat::Table
    } else {
        ShowFormat::Yaml
    })
}

/// Renders a report in the chosen format.
pub fn render_report(report: &Report, format: ReportFormat, headers: bool) -> String {
    match format {
        ReportFormat::Json => report.to_json() + "\n",
        ReportFormat::Text => render::text(report),
        ReportFormat::Markdown => render::markdown(report),
        ReportFormat::Table => render::table(report, headers),
    }
}

/// Runs a parsed command, writing its output to `out`.
pub fn run(cli: Cli, out: &mut dyn Write) -> Result<Outcome, CliError> {
    match cli.command {
        Command::Validate(a) => {
            let p = load_policy(&a.policy)?;
            let rules: usize = p
                .groups
                .values()
                .map(|g| {
                    g.ingress.as_ref().map_or(0, Vec::len) + g.egress.as_ref().map_or(0, Vec::len)
                })
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
        Command::Plan(a) => {
            let now = now(a.report.now.as_deref())?;
            if a.snapshot.is_empty() {
                let report = live(
                    a.aws.endpoint_url.as_deref(),
                    &a.policy,
                    &a.region,
                    now,
                    false,
                    false,
                )?;
                out.write_all(a.report.render(&report).as_bytes())?;
                return Ok(report.outcome());
            }
            let policy = load_policy(&a.policy)?;
            governed_regions(&policy, &a.region)?;
            let inventory = local::read_snapshots(&a.snapshot).map_err(CliError::Input)?;
            // A snapshot of a region the policy does not govern would be silently left
            // out of the plan: say so instead.
            let all = governed_regions(&policy, &[])?;
            for arg in &a.snapshot {
                let (region, _) = local::snapshot_arg(arg);
                if !all.contains(&region) {
                    return Err(CliError::Input(format!(
                        "--snapshot `{arg}`: region `{region}` is not governed by the policy \
                         (regions: {}); its groups would not be planned",
                        all.join(", ")
                    )));
                }
            }
            let enforcer = Enforcer {
                ec2: MemoryEc2::new(inventory),
                source: LoadedPolicy(policy),
                notifier: MemoryNotifier::default(),
                ledger: MemoryLedger::new(),
                flows: crate::ports::NoFlows,
            };
            let opts = RunOptions {
                apply: false,
                force_audit: false,
                regions: a.region.clone(),
                now,
                home_region: local::running_region(),
                notify: false,
            };
            let report = block_on(enforcer.run(&manual(), &opts))?;
            out.write_all(a.report.render(&report).as_bytes())?;
            Ok(report.outcome())
        }
        Command::Apply(a) => {
            let now = now(a.report.now.as_deref())?;
            let report = live(
                a.aws.endpoint_url.as_deref(),
                &a.policy,
                &a.region,
                now,
                true,
                a.dry_run,
            )?;
            out.write_all(a.report.render(&report).as_bytes())?;
            Ok(report.outcome())
        }
        Command::Invoke(a) => invoke(&a, out),
        Command::Show(ShowCommand::Policy(a)) => {
            let policy = load_policy(&a.policy)?;
            let text = match show_format(a.format) {
                ShowFormat::Table => policy_table(&policy, !a.no_headers),
                ShowFormat::Json => pretty(&policy_value(&policy)),
                ShowFormat::Yaml => to_yaml(&policy_value(&policy)),
            };
            out.write_all(text.as_bytes())?;
            Ok(Outcome::Clean)
        }
        Command::Show(ShowCommand::Current(a)) => {
            let inventory = local::read_snapshots(&a.snapshot).map_err(CliError::Input)?;
            let mut groups: Vec<_> = inventory
                .groups
                .iter()
                .filter(|g| a.region.is_empty() || a.region.contains(&g.region))
                .collect();
            groups.sort_by(|x, y| {
                (&x.region, &x.vpc_id, &x.group_name, &x.group_id).cmp(&(
                    &y.region,
                    &y.vpc_id,
                    &y.group_name,
                    &y.group_id,
                ))
            });
            let text = match show_format(a.format) {
                ShowFormat::Table => {
                    let mut rows = vec![
                        ["REGION", "VPC", "GROUP", "ID", "RULE", "DESCRIPTION"]
                            .map(String::from)
                            .to_vec(),
                    ];
                    for g in &groups {
                        for r in g.ingress.iter().chain(&g.egress) {
                            rows.push(vec![
                                g.region.clone(),
                                g.vpc_id.clone().unwrap_or_else(|| "-".into()),
                                g.group_name.clone(),
                                g.group_id.clone(),
                                r.rule.to_string(),
                                r.description.clone().unwrap_or_default(),
                            ]);
                        }
                    }
                    render::columns(rows, !a.no_headers)
                }
                f => {
                    let v = Value::Array(
                        groups
                            .iter()
                            .map(|g| {
                                json!({
                                    "region": g.region, "group_id": g.group_id, "group_name": g.group_name,
                                    "vpc_id": g.vpc_id, "owner_id": g.owner_id, "description": g.description,
                                    "ingress": g.ingress.iter().map(rule_value).collect::<Vec<_>>(),
                                    "egress": g.egress.iter().map(rule_value).collect::<Vec<_>>(),
                                })
                            })
                            .collect(),
                    );
                    if f == ShowFormat::Json {
                        pretty(&v)
                    } else {
                        to_yaml(&v)
                    }
                }
            };
            out.write_all(text.as_bytes())?;
            for u in &inventory.unreadable {
                writeln!(
                    out,
                    "error: cannot read group {} in {}: {}",
                    u.group_id, u.region, u.message
                )?;
            }
            Ok(if inventory.unreadable.is_empty() {
                Outcome::Clean
            } else {
                Outcome::Error
            })
        }
        Command::Schema => {
            writeln!(out, "{}", policy::schema::json_schema())?;
            Ok(Outcome::Clean)
        }
        Command::Import(c) => {
            let imported = match c {
                ImportCommand::Ini(a) => {
                    let name = a.file.display().to_string();
                    let text = limits::read_text(&a.file, "ini file", limits::IMPORT_BYTES)
                        .map_err(CliError::Input)?;
                    import::ini::import(&name, &text)
                }
                ImportCommand::Pysec(a) => import::pysec::read_paths(&a.paths).and_then(|files| {
                    import::pysec::import(&files, &a.group, a.vpc.as_deref(), &a.region)
                }),
                ImportCommand::Current(a) => {
                    let (inventory, source) = if a.snapshot.is_empty() {
                        let regions = if a.region.is_empty() {
                            vec![local::running_region()]
                        } else {
                            a.region.clone()
                        };
                        let inv = live_inventory(a.aws.endpoint_url.as_deref(), &regions)?;
                        (inv, format!("EC2 ({})", regions.join(", ")))
                    } else {
                        let mut inv =
                            local::read_snapshots(&a.snapshot).map_err(CliError::Input)?;
                        if !a.region.is_empty() {
                            inv.groups.retain(|g| a.region.contains(&g.region));
                        }
                        (inv, a.snapshot.join(", "))
                    };
                    import::current::import(&inventory, &source)
                }
            }
            .map_err(|e| CliError::Input(e.to_string()))?;
            for w in &imported.warnings {
                eprintln!("warning: {w}");
            }
            out.write_all(imported.yaml.as_bytes())?;
            Ok(Outcome::Clean)
        }
        Command::Flows(a) => {
            let seconds = policy::parse_window(&a.look_back)
                .filter(|s| (1..=MAX_LOOK_BACK_DAYS * 86_400).contains(s))
                .ok_or_else(|| {
                    CliError::Input(format!(
                        "invalid --look-back `{}`: write a number and a unit from 1s to \
                         {MAX_LOOK_BACK_DAYS}d, e.g. 90s, 30m, 1h, 1d",
                        a.look_back
                    ))
                })?;
            let records = flow_records(&a, seconds)?;
            let mut rows = vec![
                ["HITS", "BYTES", "FROM", "TO", "ACCEPT/REJECT"]
                    .map(String::from)
                    .to_vec(),
            ];
            for r in crate::flows::digest(&records) {
                rows.push(vec![
                    r.hits.to_string(),
                    r.bytes.to_string(),
                    r.src.to_string(),
                    r.dst.to_string(),
                    if r.accepted { "ACCEPT" } else { "REJECT" }.into(),
                ]);
            }
            out.write_all(render::columns(rows, !a.no_headers).as_bytes())?;
            Ok(Outcome::Clean)
        }
        Command::Export(ExportCommand::Cloudformation(a)) => {
            let policy = load_policy(&a.policy)?;
            let t = export::cloudformation(&policy, &a.policy);
            for w in &t.warnings {
                eprintln!("warning: {w}");
            }
            let text = match a.format {
                TemplateFormat::Yaml => to_yaml(&t.template),
                TemplateFormat::Json => pretty(&t.template),
            };
            out.write_all(text.as_bytes())?;
            Ok(Outcome::Clean)
        }
    }
}

fn manual() -> TriggerEvent {
    TriggerEvent {
        trigger: Trigger::Manual,
        ignored: None,
        account: None,
    }
}

fn block_on<F: std::future::Future>(f: F) -> Result<F::Output, CliError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Input(format!("cannot start the async runtime: {e}")))?;
    Ok(rt.block_on(f))
}

#[cfg(not(feature = "aws"))]
fn live(
    _: Option<&str>,
    _: &str,
    _: &[String],
    _: DateTime<Utc>,
    _: bool,
    _: bool,
) -> Result<Report, CliError> {
    Err(CliError::Input(
        "this sgwarden was built without AWS support (feature `aws`): pass --snapshot".into(),
    ))
}

/// A plan or apply against live EC2 (or the endpoint given), through the enforcer.
#[cfg(feature = "aws")]
fn live(
    endpoint: Option<&str>,
    location: &str,
    regions: &[String],
    now: DateTime<Utc>,
    apply: bool,
    dry_run: bool,
) -> Result<Report, CliError> {
    use crate::aws::{ec2::SdkEc2, home_region, sdk_config};
    block_on(async {
        let sdk = sdk_config(None, endpoint).await;
        let policy = fetch_policy(&sdk, location).await?;
        governed_regions(&policy, regions)?;
        let enforcer = Enforcer {
            ec2: SdkEc2::new(&sdk),
            source: LoadedPolicy(policy),
            notifier: MemoryNotifier::default(),
            // A person's apply: counted within this run only, never held back by the
            // Lambda's ledger (docs/operations.md).
            ledger: MemoryLedger::new(),
            flows: crate::aws::flows::SdkFlows::new(&sdk),
        };
        let opts = RunOptions {
            apply,
            force_audit: dry_run,
            regions: regions.to_vec(),
            now,
            home_region: home_region(&sdk),
            notify: false,
        };
        Ok(enforcer.run(&manual(), &opts).await)
    })?
}

#[cfg(not(feature = "aws"))]
fn flow_records(_: &FlowsArgs, _: u64) -> Result<Vec<crate::flows::FlowRecord>, CliError> {
    Err(CliError::Input(
        "this sgwarden was built without AWS support (feature `aws`)".into(),
    ))
}

/// The records of the window on the interface asked for, or on every interface of the
/// group asked for.
#[cfg(feature = "aws")]
fn flow_records(a: &FlowsArgs, seconds: u64) -> Result<Vec<crate::flows::FlowRecord>, CliError> {
    use crate::aws::{ec2::SdkEc2, flows::SdkFlows, sdk_config};
    use crate::ports::{Ec2, FlowSource};
    let region = a.region.clone().unwrap_or_else(local::running_region);
    block_on(async {
        let sdk = sdk_config(None, a.aws.endpoint_url.as_deref()).await;
        let interfaces: Vec<String> = match (&a.eni, &a.group) {
            (Some(eni), _) => vec![eni.clone()],
            (None, Some(group)) => SdkEc2::new(&sdk)
                .interfaces(&region, std::slice::from_ref(group))
                .await
                .map_err(|e| {
                    CliError::Input(format!("cannot list the interfaces of {group}: {e}"))
                })?
                .into_iter()
                .map(|i| i.id)
                .collect(),
            (None, None) => Vec::new(),
        };
        if interfaces.is_empty() {
            return Err(CliError::Input(format!(
                "{} is attached to no network interface in {region}: there are no flows to show",
                a.group.as_deref().unwrap_or("the group")
            )));
        }
        let end = Utc::now();
        let start = i64::try_from(seconds)
            .ok()
            .and_then(chrono::Duration::try_seconds)
            .and_then(|d| end.checked_sub_signed(d))
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        SdkFlows::new(&sdk)
            .records(&region, &a.log_group, start, end, &interfaces)
            .await
            .map_err(|e| CliError::Input(e.to_string()))
    })?
}

#[cfg(not(feature = "aws"))]
fn live_inventory(_: Option<&str>, _: &[String]) -> Result<Inventory, CliError> {
    Err(CliError::Input(
        "this sgwarden was built without AWS support (feature `aws`): pass --snapshot".into(),
    ))
}

/// Every group of the regions, read from EC2 (or the endpoint given).
#[cfg(feature = "aws")]
fn live_inventory(endpoint: Option<&str>, regions: &[String]) -> Result<Inventory, CliError> {
    use crate::aws::{ec2::SdkEc2, sdk_config};
    use crate::ports::Ec2;
    block_on(async {
        let sdk = sdk_config(None, endpoint).await;
        let ec2 = SdkEc2::new(&sdk);
        let mut all = Inventory::default();
        for region in regions {
            let inv = ec2
                .describe(region, None)
                .await
                .map_err(|e| CliError::Input(format!("cannot read the groups of {region}: {e}")))?;
            all.groups.extend(inv.groups);
            all.unreadable.extend(inv.unreadable);
        }
        Ok(all)
    })?
}

#[cfg(not(feature = "aws"))]
fn invoke(_: &InvokeArgs, _: &mut dyn Write) -> Result<Outcome, CliError> {
    Err(CliError::Input(
        "this sgwarden was built without AWS support (feature `aws`)".into(),
    ))
}

/// The Lambda's code path on an event file: the same handler, configuration and clients.
#[cfg(feature = "aws")]
fn invoke(a: &InvokeArgs, out: &mut dyn Write) -> Result<Outcome, CliError> {
    use crate::aws::{
        AnyLedger, AnyPolicySource, ec2::SdkEc2, home_region, sdk_config, sns::SnsNotifier,
    };
    use crate::config::LambdaConfig;
    use crate::handler;
    let text = crate::limits::read_text(
        std::path::Path::new(&a.event),
        "event",
        crate::limits::EVENT_BYTES,
    )
    .map_err(CliError::Input)?;
    let event: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        CliError::Input(format!(
            "event `{}` is not JSON: line {} column {}: {e}",
            a.event,
            e.line(),
            e.column()
        ))
    })?;
    let policy = a.policy.clone();
    let config = LambdaConfig::from_vars(|name| match (name, &policy) {
        ("SGWARDEN_POLICY", Some(p)) => Some(p.clone()),
        _ => std::env::var(name).ok(),
    })
    .map_err(|e| CliError::Input(e.to_string()))?;
    let now = now(a.report.now.as_deref())?;
    let result = block_on(async {
        let sdk = sdk_config(None, a.aws.endpoint_url.as_deref()).await;
        let enforcer = Enforcer {
            ec2: SdkEc2::new(&sdk),
            source: AnyPolicySource::new(&sdk, &config.policy),
            notifier: SnsNotifier::new(
                &sdk,
                config.topic_arn.clone(),
                config.report_bucket.clone(),
            ),
            ledger: AnyLedger::new(&sdk, config.state.as_ref()),
            flows: crate::aws::flows::SdkFlows::new(&sdk),
        };
        handler::handle(&enforcer, &config, &home_region(&sdk), now, &event).await
    })?;
    match result {
        Ok(report) => {
            out.write_all(a.report.render(&report).as_bytes())?;
            Ok(if report.trigger.ignored.is_some() {
                Outcome::Clean
            } else {
                report.outcome()
            })
        }
        Err(e) => match e.report {
            Some(report) => {
                out.write_all(a.report.render(&report).as_bytes())?;
                Ok(Outcome::Error)
            }
            None => Err(CliError::Input(e.message)),
        },
    }
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default() + "\n"
}

fn rule_value(r: &DescribedRule) -> Value {
    match &r.description {
        None => Value::String(r.rule.to_string()),
        Some(d) => {
            let proto = r.rule.protocol.to_string();
            let (p, ports) = match proto.split_once('/') {
                Some((p, ports)) => (p.to_string(), Some(ports.to_string())),
                None => (proto, None),
            };
            let mut m = serde_json::Map::new();
            m.insert("proto".into(), Value::String(p));
            if let Some(ports) = ports {
                m.insert("ports".into(), Value::String(ports));
            }
            m.insert(
                r.rule.direction.keyword().into(),
                Value::String(r.rule.peer.to_string()),
            );
            m.insert("description".into(), Value::String(d.clone()));
            Value::Object(m)
        }
    }
}

/// The expanded policy as a policy document (version 1) that sgwarden reads back
/// unchanged: every rule atomic, variables and globals expanded.
pub fn policy_value(p: &Policy) -> Value {
    let s = &p.settings;
    let mut settings = serde_json::Map::new();
    if !s.regions.is_empty() {
        settings.insert("regions".into(), json!(s.regions));
    }
    settings.insert("default_mode".into(), json!(s.default_mode.as_str()));
    settings.insert("unmanaged_groups".into(), json!(s.unmanaged_groups));
    settings.insert("compare_descriptions".into(), json!(s.compare_descriptions));
    settings.insert("max_changes_per_run".into(), json!(s.max_changes_per_run));
    settings.insert("notify".into(), json!(s.notify));
    if let Some(a) = &s.account {
        settings.insert("account".into(), json!(a));
    }
    settings.insert(
        "flap_limit".into(),
        match s.flap_limit {
            Some(l) => json!({"reverts": l.reverts, "per": l.per_text()}),
            None => json!("off"),
        },
    );
    if s.create_missing {
        settings.insert("create_missing".into(), json!(true));
    }
    if let Some(f) = &s.flow_logs {
        settings.insert(
            "flow_logs".into(),
            json!({"log_group": f.log_group, "look_back": f.look_back_text()}),
        );
    }
    let mut groups = serde_json::Map::new();
    for g in p.groups.values() {
        let mut m = serde_json::Map::new();
        if g.name != g.key {
            m.insert("name".into(), json!(g.name));
        }
        if let Some(id) = &g.id {
            m.insert("id".into(), json!(id));
        }
        if let Some(v) = &g.vpc {
            m.insert("vpc".into(), json!(v));
        }
        if !g.regions.is_empty() {
            m.insert("regions".into(), json!(g.regions));
        }
        m.insert("mode".into(), json!(g.mode.as_str()));
        // Globals are already merged into the rules below.
        m.insert("global".into(), json!(false));
        if let Some(d) = &g.description {
            m.insert("description".into(), json!(d));
        }
        // Each entry's `create` already holds settings.create_missing unless it said
        // otherwise.
        if g.create != s.create_missing {
            m.insert("create".into(), json!(g.create));
        }
        if g.keep_if_traffic {
            m.insert("keep_if_traffic".into(), json!(true));
        }
        for direction in Direction::BOTH {
            if let Some(rules) = g.rules(direction) {
                m.insert(
                    direction.as_str().into(),
                    Value::Array(rules.iter().map(rule_value).collect()),
                );
            }
        }
        groups.insert(g.key.clone(), Value::Object(m));
    }
    let exceptions: Vec<Value> = p
        .exceptions
        .iter()
        .map(|e| {
            let mut m = serde_json::Map::new();
            m.insert("group".into(), json!(e.group));
            m.insert("rule".into(), json!(e.text));
            m.insert("expires".into(), json!(e.expires.to_string()));
            m.insert("owner".into(), json!(e.owner));
            if let Some(r) = &e.reason {
                m.insert("reason".into(), json!(r));
            }
            Value::Object(m)
        })
        .collect();
    let mut top = serde_json::Map::new();
    top.insert("version".into(), json!(1));
    top.insert("settings".into(), Value::Object(settings));
    top.insert("groups".into(), Value::Object(groups));
    if !exceptions.is_empty() {
        top.insert("exceptions".into(), Value::Array(exceptions));
    }
    Value::Object(top)
}

fn policy_table(p: &Policy, headers: bool) -> String {
    let mut rows = vec![
        [
            "GROUP",
            "MATCHES",
            "VPC",
            "REGIONS",
            "MODE",
            "RULE",
            "DESCRIPTION",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for g in p.groups.values() {
        let matches = g.id.clone().unwrap_or_else(|| g.name.clone());
        let regions = if g.regions.is_empty() {
            "*".to_string()
        } else {
            g.regions.join(",")
        };
        for direction in Direction::BOTH {
            for r in g.rules(direction).unwrap_or_default() {
                rows.push(vec![
                    g.key.clone(),
                    matches.clone(),
                    g.vpc.clone().unwrap_or_else(|| "*".into()),
                    regions.clone(),
                    g.mode.as_str().into(),
                    r.rule.to_string(),
                    r.description.clone().unwrap_or_default(),
                ]);
            }
        }
    }
    render::columns(rows, headers)
}

fn yaml_scalar(s: &str) -> String {
    let plain_ok = !s.is_empty()
        && s.trim() == s
        && !s.starts_with([
            '-', '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%',
            '@', '`',
        ])
        && !s.ends_with(':')
        && !s.contains(": ")
        && !s.contains(" #")
        && s.chars().all(|c| !c.is_control())
        && matches!(crate::policy::yaml::parse(s).map(|n| n.value), Ok(crate::policy::yaml::Value::Str(ref t)) if t == s);
    if plain_ok {
        s.to_string()
    } else {
        serde_json::to_string(s).unwrap_or_default()
    }
}

fn yaml_into(v: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, val) in m {
                out.push_str(&pad);
                out.push_str(&yaml_scalar(k));
                out.push(':');
                match val {
                    Value::Object(c) if !c.is_empty() => {
                        out.push('\n');
                        yaml_into(val, indent + 2, out);
                    }
                    Value::Array(c) if !c.is_empty() => {
                        out.push('\n');
                        yaml_into(val, indent + 2, out);
                    }
                    _ => {
                        out.push(' ');
                        yaml_inline(val, out);
                        out.push('\n');
                    }
                }
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for item in items {
                out.push_str(&pad);
                out.push_str("- ");
                match item {
                    Value::Object(c) if !c.is_empty() => {
                        let mut inner = String::new();
                        yaml_into(item, indent + 2, &mut inner);
                        out.push_str(inner.trim_start());
                    }
                    _ => {
                        yaml_inline(item, out);
                        out.push('\n');
                    }
                }
            }
        }
        other => {
            out.push_str(&pad);
            yaml_inline(other, out);
            out.push('\n');
        }
    }
}

fn yaml_inline(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => out.push_str(&yaml_scalar(s)),
        Value::Array(a) if a.is_empty() => out.push_str("[]"),
        Value::Object(m) if m.is_empty() => out.push_str("{}"),
        other => out.push_str(&serde_json::to_string(other).unwrap_or_default()),
    }
}

/// Block-style YAML of a JSON value (strings quoted only where YAML needs it).
pub fn to_yaml(v: &Value) -> String {
    let mut out = String::new();
    yaml_into(v, 0, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_printed_policy_reads_back_with_the_same_settings_and_groups() {
        let text = "version: 1
settings:
  regions: [us-east-1]
  default_mode: enforce
  account: \"012345678901\"
  flap_limit: {reverts: 5, per: 30m}
  create_missing: true
  flow_logs: {log_group: /vpc/flows, look_back: 6h}
variables: {office: 203.0.113.0/24}
global: {ingress: [icmp/8 from 10.0.0.0/8]}
groups:
  web: {keep_if_traffic: true, description: Web, ingress: [tcp/22 from @office]}
  db: {create: false, global: false, vpc: vpc-0abc1234, egress: []}
";
        let first = policy::load_str("p.yaml", text).unwrap();
        let printed = to_yaml(&policy_value(&first));
        let again = policy::load_str("printed.yaml", &printed)
            .unwrap_or_else(|e| panic!("{e}: {:?}\n{printed}", e.issues()));
        assert_eq!(again.settings, first.settings, "{printed}");
        // Globals are printed merged into each entry, which then takes none.
        let mut want = first.groups.clone();
        for g in want.values_mut() {
            g.takes_global = false;
        }
        assert_eq!(again.groups, want, "{printed}");
        let off = policy::load_str(
            "p.yaml",
            "version: 1\nsettings: {flap_limit: off}\ngroups: {}\n",
        )
        .unwrap();
        let again = policy::load_str("q.yaml", &to_yaml(&policy_value(&off))).unwrap();
        assert_eq!(again.settings.flap_limit, None);
    }
}
