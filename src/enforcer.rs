//! The enforcer: the one path every run takes (architecture.md), against the ports.
//!
//! [`Enforcer::run`] loads the policy, runs the stages, and publishes the report. The
//! stages, in order, each in its own module; each takes the output of the one before by
//! value, and only its own module can make its output, so the order is the types':
//!
//! | stage | module | takes | gives |
//! |---|---|---|---|
//! | 1. inventory (and the account guard) | `enforcer/inventory.rs` | the governed places | `Read`: groups, places read, errors |
//! | 2. drift, narrowed to the trigger; 3. create missing groups | `enforcer/create.rs` | `Read` | `Found`: the estate, its [`Drift`], the groups created |
//! | 4. plan | [`crate::plan`] | the drift | [`Plan`] |
//! | 5. change risk (flow logs) | `enforcer/risk.rs` | [`Plan`] | `Assessed`: revokes measured, `keep_if_traffic` held |
//! | 6. revert budget (loop breaker) | `enforcer/budget.rs` | `Assessed` | `Budgeted`: flapping groups held back |
//! | 7. apply | `enforcer/apply.rs` | `Budgeted` | `Applied`: every action's outcome, the groups written to |
//! | 8. report | `Applied::report` | `Applied`, `Found` | [`Report`] |
//! | 9. verify | `enforcer/verify.rs` | `Applied` | `groups[].after` in the report |
//! | 10. findings (Security Hub) | `enforcer/findings.rs` | the [`Report`] | imports; its errors in the report |
//!
//! Errors of every stage gather in one list that the report takes.
//! The Lambda handler and every CLI command that touches AWS call [`Enforcer::run`];
//! neither re-implements a step. A failing group or region is report data, never an
//! early return: one group's failure does not stop the others.

mod apply;
mod budget;
mod create;
mod findings;
mod inventory;
mod risk;
mod verify;

use chrono::{DateTime, Utc};

use crate::drift::Drift;
use crate::place::Place;
use crate::plan::{self, Plan, PlanOptions};
use crate::policy::{Notify, Policy};
use crate::ports::{
    Ec2, FindingSink, FlowSource, NoFindings, Notifier, PolicySource, RevertLedger, SourceError,
};
use crate::report::{ErrorJson, Report};
use crate::stage::Stage;
use crate::trigger::{Trigger, TriggerEvent};

/// How many groups are written at once. EC2 throttles mutating calls per account; the
/// SDK backs off and retries when it does.
const WRITE_CONCURRENCY: usize = 8;

/// What a run may do, beyond what the trigger says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunOptions {
    /// Make the planned writes (false: plan only; every action stays `planned`).
    pub apply: bool,
    /// Every group as `audit` (`--dry-run`, `SGWARDEN_DRY_RUN`).
    pub force_audit: bool,
    /// Only these regions (`--region`), within the policy's; empty means all of them.
    pub regions: Vec<String>,
    /// Now: the revert budget's clock; its UTC date decides exception expiry.
    pub now: DateTime<Utc>,
    /// The account and region the program runs in: the region is governed when the
    /// policy names none; the account, when known (the Lambda's own ARN), is the one the
    /// run acts in. Empty, the account comes from the event or `settings.account`.
    pub home: Place,
    /// Publish the report through the notifier (as `settings.notify` says).
    pub notify: bool,
}

/// The enforcer, over an EC2, a policy source, a notifier, a revert ledger, the VPC
/// flow logs and where findings go (none unless given).
pub struct Enforcer<E, S, N, L, F, H = NoFindings> {
    pub ec2: E,
    pub source: S,
    pub notifier: N,
    pub ledger: L,
    pub flows: F,
    pub findings: H,
}

fn error(
    stage: Stage,
    group_id: Option<&str>,
    place: Option<&Place>,
    code: Option<&str>,
    message: String,
) -> ErrorJson {
    ErrorJson {
        stage,
        group_id: group_id.map(str::to_string),
        place: place.cloned(),
        code: code.map(str::to_string),
        message,
    }
}

fn empty_report(event: &TriggerEvent) -> Report {
    Report::new(event.info(), None, &[], &Drift::default(), &Plan::default())
}

/// The places a run governs: the home account in the policy's regions (or the home
/// region), narrowed by the options and, for a CloudTrail trigger, to the event's region.
/// A hub's run in an account its policy does not govern governs nothing.
/// An unknown home account is named once the groups are read (`Read::name_account`).
fn governed(policy: &Policy, opts: &RunOptions, trigger: &Trigger) -> Result<Vec<Place>, String> {
    let account = &opts.home.account;
    if !account.is_empty() && !policy.settings.governs_account(account) {
        return Err(format!(
            "account {account} is not governed by the policy (settings.accounts, exclude_accounts)"
        ));
    }
    let mut all = policy
        .settings
        .governed_regions(&opts.home.region, &opts.regions)
        .map_err(|e| {
            format!(
                "region `{}` is not governed by the policy (regions: {})",
                e.region,
                e.governed.join(", ")
            )
        })?;
    if let Trigger::CloudTrail { region, .. } = trigger {
        all.retain(|r| r == region);
    }
    Ok(Place::all(&opts.home.account, &all))
}

impl<E: Ec2, S: PolicySource, N: Notifier, L: RevertLedger, F: FlowSource, H: FindingSink>
    Enforcer<E, S, N, L, F, H>
{
    /// Runs the whole path for one trigger and returns its report (errors included).
    pub async fn run(&self, event: &TriggerEvent, opts: &RunOptions) -> Report {
        if event.ignored.is_some() {
            // Nothing is loaded, checked or changed for an ignored event.
            return empty_report(event);
        }
        let (mut report, notify) = match self.source.load().await {
            Ok(policy) => (
                self.run_with(&policy, event, opts).await,
                policy.settings.notify,
            ),
            Err(e) => {
                let mut r = empty_report(event);
                let message = match &e {
                    SourceError::Policy(p) if !p.issues().is_empty() => {
                        let lines: Vec<String> =
                            p.issues().iter().map(ToString::to_string).collect();
                        format!("{p}: {}", lines.join("; "))
                    }
                    other => other.to_string(),
                };
                r.errors
                    .push(error(Stage::Policy, None, None, None, message));
                r.refused =
                    Some("the policy could not be loaded; nothing was checked or changed".into());
                (r, Notify::Always)
            }
        };
        if report.account.is_none() {
            report.account = event.account.clone();
        }
        // 10. findings
        self.import_findings(&mut report, opts.now).await;
        if opts.notify
            && should_publish(&report, notify)
            && let Err(e) = self.notifier.publish(&report).await
        {
            report
                .errors
                .push(error(Stage::Notify, None, None, None, e.to_string()));
        }
        report
    }

    /// The stages of one run with its policy loaded. Each stage takes the output of the
    /// one before by value, so they can only run in this order.
    async fn run_with(&self, policy: &Policy, event: &TriggerEvent, opts: &RunOptions) -> Report {
        let places = match governed(policy, opts, &event.trigger) {
            Ok(p) => p,
            Err(message) => return refused(event, policy, &[], None, Stage::Event, message, None),
        };
        // 1. inventory, and the guard against a policy written for another account
        let read = match self.inventory(policy, &places, event).await {
            Ok(read) => read,
            Err(refusal) => return *refusal,
        };
        // 2. drift and 3. create
        let (found, mut errors) = self
            .create_missing(policy, opts, &event.trigger, read)
            .await;
        // 4. plan
        let options = PlanOptions {
            max_changes_per_run: policy.settings.max_changes_per_run,
            force_audit: opts.force_audit,
        };
        let planned = plan::plan(found.drift(), options);
        // 5. change risk
        let assessed = self
            .assess(policy, &found, planned, opts.now, &mut errors)
            .await;
        // 6. revert budget
        let budgeted = self
            .spend_budget(policy, opts, &event.trigger, &found, assessed, &mut errors)
            .await;
        // 7. apply
        let applied = self.apply(opts, &found, budgeted).await;
        // 8. report
        let mut report = applied.report(event.info(), policy, &found, errors);
        // 9. verify
        self.verify(policy, &found, opts.now.date_naive(), &applied, &mut report)
            .await;
        report.recount();
        report
    }
}

/// The report of a run stopped before any write: one error of `stage`, and why nothing
/// was done when `refusal` says.
fn refused(
    event: &TriggerEvent,
    policy: &Policy,
    places: &[Place],
    account: Option<String>,
    stage: Stage,
    message: String,
    refusal: Option<String>,
) -> Report {
    let mut r = Report::new(
        event.info(),
        Some(policy),
        places,
        &Drift::default(),
        &Plan::default(),
    );
    r.account = account;
    r.errors.push(error(stage, None, None, None, message));
    r.refused = refusal;
    r
}

/// Whether a report is published under `settings.notify`. Errors and flapping groups
/// always are. `drift`
/// means drift was found in this run, repaired or not: a revert is news too.
fn should_publish(report: &Report, notify: Notify) -> bool {
    let s = &report.summary;
    if !report.errors.is_empty() || s.groups_flapping > 0 {
        return true;
    }
    let changed = s.authorized + s.revoked + s.descriptions_updated + s.failed > 0;
    let found = s.groups_with_drift + s.missing_groups > 0;
    match notify {
        Notify::Always => true,
        Notify::Drift => found || changed,
        Notify::Changes => changed,
    }
}

#[cfg(test)]
mod tests;
