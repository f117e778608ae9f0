//! The Lambda handler's logic, shared by the `sgwarden-lambda` binary and
//! `sgwarden invoke`: event → trigger → the enforcer's run → the value returned to Lambda.
//!
//! The returned value is the report summary `{"trigger", "summary", "errors": N,
//! "refused"?}`. An input that is not an event sgwarden handles, and a run whose report
//! has errors, are handler errors, so that Lambda's asynchronous retries and on-failure
//! destination see them; the report itself has been published and logged by then.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::config::LambdaConfig;
use crate::enforcer::{Enforcer, RunOptions};
use crate::place::Place;
use crate::ports::{Ec2, FindingSink, FlowSource, Notifier, PolicySource, RevertLedger, WorkQueue};
use crate::report::Report;
use crate::trigger;

/// A failed invocation: a kind for Lambda's `errorType`, a message, and the report when
/// there is one.
#[derive(Debug)]
pub struct HandlerError {
    pub error_type: &'static str,
    pub message: String,
    pub report: Option<Box<Report>>,
}

impl std::fmt::Display for HandlerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error_type, self.message)
    }
}

impl std::error::Error for HandlerError {}

/// The value returned to Lambda for a report.
pub fn summary(report: &Report) -> Value {
    let mut v = json!({
        "trigger": report.trigger,
        "summary": report.summary,
        "errors": report.errors.len(),
    });
    if let Some(r) = &report.refused {
        v["refused"] = json!(r);
    }
    v
}

/// The Lambda `errorType` of a report's first error (see [`crate::stage::Stage::error_type`]).
fn error_type(report: &Report) -> &'static str {
    report
        .errors
        .first()
        .map_or("RunFailed", |e| e.stage.error_type())
}

/// The account and region a function runs in: the account from its own ARN
/// (`arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME`; empty if it is not one), the
/// region from its configuration.
pub fn home(function_arn: &str, region: &str) -> Place {
    let account = function_arn
        .split(':')
        .nth(4)
        .filter(|a| crate::place::is_account(a))
        .unwrap_or_default();
    Place::new(account, region)
}

/// The roles whose calls are sgwarden's own.
fn own_roles(config: &LambdaConfig) -> trigger::OwnRoles<'_> {
    trigger::OwnRoles {
        function: config.self_role_arn.as_deref(),
        member: Some(config.member_role.as_str()),
    }
}

/// Handles an SQS batch of a hub deployment's work queue: each item is one run, in the
/// account and region of its sweep message or of its forwarded event; the items that
/// fail (unreadable, or a report with errors) are returned for SQS to deliver again,
/// and the others are done. Items run one after another: Lambda's concurrency is the
/// event source mapping's to give.
pub async fn handle_batch<
    E: Ec2,
    S: PolicySource,
    N: Notifier,
    L: RevertLedger,
    F: FlowSource,
    H: FindingSink,
>(
    enforcer: &Enforcer<E, S, N, L, F, H>,
    config: &LambdaConfig,
    hub: &Place,
    now: DateTime<Utc>,
    input: &Value,
) -> Result<Value, HandlerError> {
    let items = crate::work::items(input).map_err(|message| HandlerError {
        error_type: "EventRejected",
        message,
        report: None,
    })?;
    let mut failed = Vec::new();
    for item in items {
        let ok = match item.work {
            Ok(crate::work::Work::Sweep(sweep)) => {
                let event = trigger::TriggerEvent {
                    trigger: trigger::Trigger::Schedule {
                        event_id: sweep.event_id.clone(),
                        region: Some(sweep.region.clone()),
                    },
                    ignored: None,
                    account: Some(sweep.account.clone()),
                };
                let mut opts = options(config, sweep.place(), now);
                opts.regions = vec![sweep.region.clone()];
                run_measured(enforcer, config, &event, &opts)
                    .await
                    .errors
                    .is_empty()
            }
            Ok(crate::work::Work::Event(v)) => match trigger::parse_own(&v, own_roles(config)) {
                Ok(event) => {
                    let region = match &event.trigger {
                        trigger::Trigger::CloudTrail { region, .. } => region.clone(),
                        _ => hub.region.clone(),
                    };
                    let account = event.account.clone().unwrap_or_else(|| hub.account.clone());
                    let opts = options(config, Place::new(account, region), now);
                    run_measured(enforcer, config, &event, &opts)
                        .await
                        .errors
                        .is_empty()
                }
                Err(e) => {
                    log_unrun_item(&item.message_id, &e.to_string());
                    false
                }
            },
            Err(why) => {
                log_unrun_item(&item.message_id, &why);
                false
            }
        };
        if !ok {
            failed.push(item.message_id);
        }
    }
    serde_json::to_value(crate::work::response(&failed)).map_err(|e| HandlerError {
        error_type: "RunFailed",
        message: e.to_string(),
        report: None,
    })
}

/// Why an item was not run, on stderr (the function's log): it is retried and ends in
/// the dead-letter queue, where the message itself is kept.
fn log_unrun_item(message_id: &str, why: &str) {
    eprintln!(
        "{}",
        json!({"level": "ERROR", "item": message_id, "error": why})
    );
}

/// A hub's scheduled sweep: when the policy governs `settings.accounts`, the planner
/// queues one message per account and region and the answer says what it queued
/// (`Ok(Some(..))`); a single-account policy gives `Ok(None)`, and the sweep runs here as
/// always (its load of the policy is then a conditional GET that the source's cache
/// answers). A policy that does not load is the run's to report: `Ok(None)` too.
pub async fn plan_sweep<
    E: Ec2,
    S: PolicySource,
    N: Notifier,
    L: RevertLedger,
    F: FlowSource,
    H: FindingSink,
    Q: WorkQueue,
>(
    enforcer: &Enforcer<E, S, N, L, F, H>,
    queue: &Q,
    hub: &Place,
    event: &Value,
) -> Result<Option<Value>, HandlerError> {
    if event["detail-type"] != "Scheduled Event" {
        return Ok(None);
    }
    let Ok(policy) = enforcer.source.load().await else {
        return Ok(None);
    };
    if policy.settings.accounts.is_none() {
        return Ok(None);
    }
    let event_id = event["id"].as_str();
    match crate::work::plan(queue, &policy.settings, hub, event_id).await {
        Ok(planned) => Ok(Some(json!({ "planned": planned }))),
        Err(e) => Err(HandlerError {
            error_type: "RunFailed",
            message: format!("the planner could not queue the sweep: {e}"),
            report: None,
        }),
    }
}

/// Runs the enforcer for one trigger, then writes the run's metrics line (CloudWatch
/// embedded metric format) to stdout, the function's log, when the configuration says.
async fn run_measured<
    E: Ec2,
    S: PolicySource,
    N: Notifier,
    L: RevertLedger,
    F: FlowSource,
    H: FindingSink,
>(
    enforcer: &Enforcer<E, S, N, L, F, H>,
    config: &LambdaConfig,
    event: &trigger::TriggerEvent,
    opts: &RunOptions,
) -> Report {
    let started = std::time::Instant::now();
    let report = enforcer.run(event, opts).await;
    if config.metrics.enabled && event.ignored.is_none() {
        let line = config
            .metrics
            .line(&report, opts.force_audit, started.elapsed(), Utc::now());
        println!("{line}");
    }
    report
}

/// The options of one run in `home` (an account and region).
fn options(config: &LambdaConfig, home: Place, now: DateTime<Utc>) -> RunOptions {
    RunOptions {
        apply: true,
        force_audit: config.dry_run,
        regions: Vec::new(),
        now,
        home,
        notify: true,
    }
}

/// Handles one invocation: reads the event, runs the enforcer, and returns the report
/// (`Ok` when it has no error).
pub async fn handle<
    E: Ec2,
    S: PolicySource,
    N: Notifier,
    L: RevertLedger,
    F: FlowSource,
    H: FindingSink,
>(
    enforcer: &Enforcer<E, S, N, L, F, H>,
    config: &LambdaConfig,
    home: &Place,
    now: DateTime<Utc>,
    event: &Value,
) -> Result<Report, HandlerError> {
    let trigger = trigger::parse_own(event, own_roles(config)).map_err(|e| HandlerError {
        error_type: "EventRejected",
        message: e.to_string(),
        report: None,
    })?;
    let opts = options(config, home.clone(), now);
    let report = run_measured(enforcer, config, &trigger, &opts).await;
    if report.errors.is_empty() {
        Ok(report)
    } else {
        Err(HandlerError {
            error_type: error_type(&report),
            message: report
                .errors
                .iter()
                .map(|e| format!("[{}] {}", e.stage, e.message))
                .collect::<Vec<_>>()
                .join("; "),
            report: Some(Box::new(report)),
        })
    }
}
