//! `sgwarden invoke`: the Lambda's code path on an event file, with the same handler,
//! configuration (`SGWARDEN_*`) and clients as the function.

use std::io::Write;

use clap::Args;

use super::{CliError, EndpointArgs, ReportArgs};
use crate::report::Outcome;

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

#[cfg(not(feature = "aws"))]
pub(super) fn run(_: &InvokeArgs, _: &mut dyn Write) -> Result<Outcome, CliError> {
    Err(CliError::NoAws(""))
}

/// Prints the report of the run; an event the handler rejects is an error.
#[cfg(feature = "aws")]
pub(super) fn run(a: &InvokeArgs, out: &mut dyn Write) -> Result<Outcome, CliError> {
    use crate::aws::{home_region, sdk_config, wiring};
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
    let mut config = LambdaConfig::from_vars(|name| match (name, &policy) {
        ("SGWARDEN_POLICY", Some(p)) => Some(p.clone()),
        _ => std::env::var(name).ok(),
    })?;
    // Its stdout is the report: no metrics line.
    config.metrics = crate::metrics::Metrics::default();
    let now = super::now(a.report.now.as_deref())?;
    // On a large stack, as in the Lambda: Security Hub's SDK types are large.
    let result = crate::limits::on_large_stack(|| {
        super::block_on(async {
            let sdk = sdk_config(None, a.aws.endpoint_url.as_deref()).await;
            let enforcer = wiring::lambda(&sdk, Some(&config));
            let home = crate::place::Place::new("", home_region(&sdk));
            handler::handle(&enforcer, &config, &home, now, &event).await
        })
    })
    .map_err(CliError::Runtime)??;
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
