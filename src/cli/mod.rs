//! The `sgwarden` command line: clap types and [`run`], which tests call directly. One
//! file per command; this one holds what they share (the report and endpoint arguments,
//! the policy loader, the clock, the error type).
//!
//! Commands that need no AWS: `validate`, `plan --snapshot`, `show policy`,
//! `show current --snapshot`, `schema`, `import ini|pysec`, `import current --snapshot`,
//! `export`. Every command returns an [`Outcome`] (the exit code) or an error for the binary
//! to print; nothing here panics on user input.

mod export;
mod flows;
mod import;
mod invoke;
mod plan;
mod show;
mod validate;

use std::io::{IsTerminal, Write};

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::Value;

use crate::local;
use crate::policy::{self, Policy, PolicyError};
use crate::report::{Outcome, Report, render};
use crate::trigger::{Trigger, TriggerEvent};

pub use export::{ExportCloudFormationArgs, ExportCommand, TemplateFormat};
pub use flows::FlowsArgs;
pub use import::{ImportCommand, ImportCurrentArgs, ImportIniArgs, ImportPysecArgs};
pub use invoke::InvokeArgs;
pub use plan::{ApplyArgs, PlanArgs, RunArgs};
pub use show::{ShowCommand, ShowCurrentArgs, ShowFormat, ShowPolicyArgs};
pub use validate::ValidateArgs;

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

/// Runs a parsed command, writing its output to `out`.
pub fn run(cli: Cli, out: &mut dyn Write) -> Result<Outcome, CliError> {
    match cli.command {
        Command::Validate(a) => validate::run(&a, out),
        Command::Plan(a) => plan::plan(&a, out),
        Command::Apply(a) => plan::apply(&a, out),
        Command::Invoke(a) => invoke::run(&a, out),
        Command::Show(ShowCommand::Policy(a)) => show::policy(&a, out),
        Command::Show(ShowCommand::Current(a)) => show::current(&a, out),
        Command::Schema => {
            writeln!(out, "{}", policy::schema::json_schema())?;
            Ok(Outcome::Clean)
        }
        Command::Import(c) => import::run(c, out),
        Command::Export(ExportCommand::Cloudformation(a)) => export::cloudformation(&a, out),
        Command::Flows(a) => flows::run(&a, out),
    }
}

/// Why a command could not do its work (exit code 1). Each variant is one kind of cause;
/// the message is one paragraph naming what and where.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The policy could not be read or is invalid (its problems print one a line).
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// An argument that cannot be used, with what to write instead.
    #[error("{0}")]
    Usage(String),
    /// An input file (snapshot, event, rules file) that cannot be read or is not what the
    /// command takes.
    #[error("{0}")]
    Input(String),
    /// An import that cannot be made from its files.
    #[error(transparent)]
    Import(#[from] crate::import::ImportError),
    /// The `SGWARDEN_*` configuration `invoke` reads.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// An AWS service that could not be reached or answered with an error.
    #[error("{0}")]
    Aws(String),
    /// A command that needs AWS, in a build without it.
    #[error("this sgwarden was built without AWS support (feature `aws`){0}")]
    NoAws(&'static str),
    /// The async runtime could not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Table,
    Text,
    Json,
    Markdown,
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

/// The run's clock: `--now`, or the system's.
fn now(now: Option<&str>) -> Result<DateTime<Utc>, CliError> {
    match now {
        None => Ok(Utc::now()),
        Some(text) => DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| {
                CliError::Usage(format!(
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

#[cfg(not(feature = "aws"))]
fn load_remote_policy(_: &str) -> Result<Policy, CliError> {
    Err(CliError::NoAws(": pass a local policy file or directory"))
}

/// The policy at `location` (local or S3), its problems kept apart from unreachable S3.
#[cfg(feature = "aws")]
async fn fetch_policy(sdk: &aws_config::SdkConfig, location: &str) -> Result<Policy, CliError> {
    use crate::ports::{PolicySource, SourceError};
    match crate::aws::AnyPolicySource::new(sdk, location).load().await {
        Ok(p) => Ok(p),
        Err(SourceError::Policy(p)) => Err(CliError::Policy(p)),
        Err(e) => Err(CliError::Aws(e.to_string())),
    }
}

/// The regions a command governs: the policy's (`home` when it lists none), narrowed by
/// `--region` (see [`crate::policy::Settings::governed_regions`]).
fn governed_regions(
    policy: &Policy,
    home: &str,
    narrow: &[String],
) -> Result<Vec<String>, CliError> {
    policy.settings.governed_regions(home, narrow).map_err(|e| {
        CliError::Usage(format!(
            "--region `{}` is not governed by the policy (regions: {})",
            e.region,
            e.governed.join(", ")
        ))
    })
}

fn report_format(f: Option<ReportFormat>) -> ReportFormat {
    f.unwrap_or(if std::io::stdout().is_terminal() {
        ReportFormat::Table
    } else {
        ReportFormat::Text
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

/// A run asked for by a person.
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
        .map_err(CliError::Runtime)?;
    Ok(rt.block_on(f))
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default() + "\n"
}
