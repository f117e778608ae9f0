//! Stage 6, the revert budget (the loop breaker, `settings.flap_limit`): each group about
//! to be written to spends one revert of its budget first; a group whose budget is spent
//! is held back and reported flapping, with the actors whose changes were reverted.
//! Runs after the change risk, so a group whose only write `keep_if_traffic` holds spends
//! nothing.

use chrono::{DateTime, SecondsFormat, Utc};

use super::create::Found;
use super::risk::Assessed;
use super::{Enforcer, RunOptions, error};
use crate::budget::{Claim, Verdict};
use crate::drift::Drift;
use crate::place::Place;
use crate::plan::{GroupPlan, Plan, Status};
use crate::policy::{FlapLimit, Policy};
use crate::ports::{Ec2, FindingSink, FlowSource, Notifier, PolicySource, RevertLedger};
use crate::report::{ErrorJson, FlappingJson, Report};
use crate::stage::Stage;
use crate::trigger::Trigger;

/// A group held back by its spent budget: (place, group id, what the report says).
pub(super) struct Flapping {
    place: Place,
    group_id: String,
    json: FlappingJson,
}

/// The plan once each group to be written to has its revert reserved, and the groups
/// held back because their budget is spent: what apply takes.
pub(super) struct Budgeted {
    plan: Plan,
    flapping: Vec<Flapping>,
}

impl Budgeted {
    pub fn into_parts(self) -> (Plan, Vec<Flapping>) {
        (self.plan, self.flapping)
    }
}

impl<E: Ec2, S: PolicySource, N: Notifier, L: RevertLedger, F: FlowSource, H: FindingSink>
    Enforcer<E, S, N, L, F, H>
{
    /// Reserves a revert for every group with a write to make; holds back the groups
    /// whose budget is spent (and, when the ledger cannot be used, every such group).
    pub(super) async fn spend_budget(
        &self,
        policy: &Policy,
        opts: &RunOptions,
        trigger: &Trigger,
        found: &Found,
        assessed: Assessed,
        errors: &mut Vec<ErrorJson>,
    ) -> Budgeted {
        let mut plan = assessed.into_plan();
        let flapping = match policy.settings.flap_limit.filter(|_| opts.apply) {
            Some(limit) if plan.refused.is_none() => {
                let d = found.drift();
                self.reserve(limit, opts.now, trigger, d, &mut plan, errors)
                    .await
            }
            _ => Vec::new(),
        };
        Budgeted { plan, flapping }
    }

    /// Reserves the reverts of the groups with writes; holds back the flapping ones.
    async fn reserve(
        &self,
        limit: FlapLimit,
        now: DateTime<Utc>,
        trigger: &Trigger,
        d: &Drift,
        p: &mut Plan,
        errors: &mut Vec<ErrorJson>,
    ) -> Vec<Flapping> {
        let mut flapping = Vec::new();
        let writing: Vec<usize> = (0..p.groups.len())
            .filter(|i| {
                let gp = &p.groups[*i];
                gp.actions.iter().any(|a| a.is_write())
            })
            .collect();
        if writing.is_empty() {
            return flapping;
        }
        let actor = claim_actor(trigger);
        let claims: Vec<Claim> = writing
            .iter()
            .map(|i| {
                let g = &d.groups[p.groups[*i].group];
                Claim {
                    key: g.place.key(&g.group_id),
                    actor: actor.clone(),
                    trigger: claim_trigger(trigger),
                }
            })
            .collect();
        match self.ledger.reserve(now, limit, &claims).await {
            Ok(verdicts) => {
                for (i, v) in writing.iter().zip(verdicts) {
                    let Verdict::Flapping { reverts, until } = v else {
                        continue;
                    };
                    let json = flapping_json(limit, &reverts, until, actor.as_deref());
                    hold(
                        &mut p.groups[*i],
                        &format!(
                            "held back: flapping, reverted {} times within {} (limit {}); not reverted before {}",
                            json.reverts,
                            limit.per_text(),
                            limit.reverts,
                            json.until
                        ),
                    );
                    let g = &d.groups[p.groups[*i].group];
                    flapping.push(Flapping {
                        place: g.place.clone(),
                        group_id: g.group_id.clone(),
                        json,
                    });
                }
            }
            Err(e) => {
                for i in &writing {
                    hold(
                        &mut p.groups[*i],
                        "held back: the revert budget could not be checked",
                    );
                }
                errors.push(error(Stage::Budget, None, None, None, e.to_string()));
            }
        }
        flapping
    }
}

/// Marks the flapping groups in the report.
pub(super) fn mark(report: &mut Report, flapping: &[Flapping]) {
    for f in flapping {
        if let Some(g) = report
            .groups
            .iter_mut()
            .find(|g| g.place == f.place && g.group_id.as_deref() == Some(f.group_id.as_str()))
        {
            g.flapping = Some(f.json.clone());
        }
    }
}

/// The principal whose change a run reverts, for the revert ledger.
fn claim_actor(trigger: &Trigger) -> Option<String> {
    match trigger {
        Trigger::CloudTrail { actor, .. } if !actor.arn.is_empty() => Some(actor.arn.clone()),
        _ => None,
    }
}

fn claim_trigger(trigger: &Trigger) -> String {
    match trigger {
        Trigger::Schedule { .. } => "schedule".into(),
        Trigger::CloudTrail { event_name, .. } => format!("cloudtrail:{event_name}"),
        Trigger::Manual => "manual".into(),
    }
}

/// Holds back a group's planned writes, with the reason.
fn hold(gp: &mut GroupPlan, reason: &str) {
    for a in gp.actions.iter_mut().filter(|a| a.is_write()) {
        a.status = Status::Skipped;
        a.reason = Some(reason.to_string());
    }
}

/// What the report says of a group whose budget is spent.
fn flapping_json(
    limit: FlapLimit,
    reverts: &[crate::budget::Revert],
    until: DateTime<Utc>,
    now_actor: Option<&str>,
) -> FlappingJson {
    let mut actors: Vec<String> = Vec::new();
    let names = reverts
        .iter()
        .map(|r| r.actor.as_deref())
        .chain(std::iter::once(now_actor));
    for a in names {
        let name = a.unwrap_or("unknown (found by a sweep)").to_string();
        if !actors.contains(&name) {
            actors.push(name);
        }
    }
    FlappingJson {
        reverts: reverts.len(),
        limit: format!("{} per {}", limit.reverts, limit.per_text()),
        until: until.to_rfc3339_opts(SecondsFormat::Secs, true),
        actors,
    }
}
