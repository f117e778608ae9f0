//! Stage 7, apply: each group's writes, a few groups at a time, each group's own writes in
//! order (authorize, descriptions, revoke); a revoke never follows a failed authorize in
//! its direction; a batch EC2 rejects for one duplicate or absent rule is retried with what
//! is still needed. Then the actions the run did not make, and the failures as errors.

use std::collections::BTreeSet;

use futures_util::{StreamExt, stream};

use super::budget::{self, Budgeted, Flapping};
use super::create::Found;
use super::{Enforcer, RunOptions, WRITE_CONCURRENCY, error};
use crate::drift::Drift;
use crate::plan::{Failure, GroupPlan, Op, Plan, Status};
use crate::policy::Policy;
use crate::ports::{
    Ec2, Ec2Error, FindingSink, FlowSource, GroupRef, Notifier, PolicySource, RevertLedger,
};
use crate::report::{ErrorJson, Report, TriggerInfo};
use crate::rule::{DescribedRule, Direction, Rule};
use crate::stage::Stage;

/// The plan with every action's outcome, the flapping groups, and the groups written
/// to: what the report and verify take.
pub(super) struct Applied {
    plan: Plan,
    flapping: Vec<Flapping>,
    /// Indices into the drift's groups, sorted.
    changed: Vec<usize>,
}

impl Applied {
    /// The groups written to (indices into the drift's groups, sorted), for verify.
    pub fn changed(&self) -> &[usize] {
        &self.changed
    }

    /// Stage 8, the report of the run: its drift and plan, the errors of every stage
    /// (failed writes with EC2's code), the groups created and the flapping ones.
    pub fn report(
        &self,
        trigger: TriggerInfo,
        policy: &Policy,
        found: &Found,
        errors: Vec<ErrorJson>,
    ) -> Report {
        let d = found.drift();
        let mut report = Report::new(trigger, Some(policy), found.places(), d, &self.plan);
        report.errors.extend(errors);
        report.errors.extend(failures(d, &self.plan));
        report.created_groups = found.created().to_vec();
        budget::mark(&mut report, &self.flapping);
        report
    }
}

impl<E: Ec2, S: PolicySource, N: Notifier, L: RevertLedger, F: FlowSource, H: FindingSink>
    Enforcer<E, S, N, L, F, H>
{
    /// Makes the planned writes (when the run applies and the plan was not refused) and
    /// marks what was not attempted.
    pub(super) async fn apply(
        &self,
        opts: &RunOptions,
        found: &Found,
        budgeted: Budgeted,
    ) -> Applied {
        let (mut p, flapping) = budgeted.into_parts();
        let d = found.drift();
        let mut changed = Vec::new();
        if opts.apply && p.refused.is_none() {
            let done: Vec<Option<usize>> = stream::iter(p.groups.iter_mut())
                .map(|gp| {
                    let g = &d.groups[gp.group];
                    let group = GroupRef {
                        place: g.place.clone(),
                        group_id: g.group_id.clone(),
                    };
                    async move { self.apply_group(&group, gp).await.then_some(gp.group) }
                })
                .buffer_unordered(WRITE_CONCURRENCY)
                .collect()
                .await;
            changed = done.into_iter().flatten().collect();
            changed.sort_unstable();
        }
        if opts.apply {
            // Actions a run did not make (audit) stay `planned`; add-only's kept extras
            // have no action at all.
            for gp in &mut p.groups {
                for a in gp.actions.iter_mut().filter(|a| a.is_write()) {
                    a.status = Status::Skipped;
                    a.reason.get_or_insert_with(|| "not attempted".into());
                }
            }
        }
        Applied {
            plan: p,
            flapping,
            changed,
        }
    }

    /// Makes one group's writes, batch by batch, authorize first. Returns whether any
    /// write was attempted (the group is then re-described).
    async fn apply_group(&self, group: &GroupRef, gp: &mut GroupPlan) -> bool {
        let batches: Vec<(Op, Direction, Vec<usize>)> = gp
            .batches()
            .into_iter()
            .map(|b| (b.op, b.direction, b.actions))
            .collect();
        let mut failed_authorize: BTreeSet<Direction> = BTreeSet::new();
        let mut attempted = false;
        for (op, direction, idx) in batches {
            if op == Op::Revoke && failed_authorize.contains(&direction) {
                // INVARIANT: a revoke never runs after a failed authorize in its direction,
                // so a replaced rule (say a /24 widened to a /16) never leaves a gap.
                for i in idx {
                    gp.actions[i].status = Status::Skipped;
                    gp.actions[i].reason = Some(format!(
                        "held back: the {direction} authorize of this group failed"
                    ));
                }
                continue;
            }
            attempted = true;
            let rules: Vec<DescribedRule> =
                idx.iter().map(|i| gp.actions[*i].rule.clone()).collect();
            let outcome = self.write(op, group, direction, &rules).await;
            let outcome = match outcome {
                Err(Ec2Error::AlreadyPresent | Ec2Error::NotFound { .. }) => {
                    // EC2 rejects the whole batch for one duplicate or absent rule (and moto
                    // may have applied part of it): re-describe and retry what is still
                    // needed, once. A rule already in its wanted state is done.
                    self.retry(op, group, direction, &rules).await
                }
                other => other,
            };
            match outcome {
                Ok(()) => {
                    for i in idx {
                        gp.actions[i].status = Status::Done;
                    }
                }
                Err(e) => {
                    if op == Op::Authorize {
                        failed_authorize.insert(direction);
                    }
                    let gone = matches!(e, Ec2Error::GroupNotFound { .. });
                    for i in idx {
                        gp.actions[i].status = Status::Failed;
                        gp.actions[i].error = Some(Failure {
                            code: e.code().to_string(),
                            message: e.to_string(),
                        });
                    }
                    if gone {
                        for a in gp
                            .actions
                            .iter_mut()
                            .filter(|a| a.status == Status::Planned)
                        {
                            a.status = Status::Skipped;
                            a.reason = Some("the group was deleted during the run".into());
                        }
                        break;
                    }
                }
            }
        }
        attempted
    }

    async fn write(
        &self,
        op: Op,
        group: &GroupRef,
        direction: Direction,
        rules: &[DescribedRule],
    ) -> Result<(), Ec2Error> {
        match op {
            Op::Authorize => self.ec2.authorize(group, direction, rules).await,
            Op::UpdateDescription => self.ec2.update_descriptions(group, direction, rules).await,
            Op::Revoke => {
                let plain: Vec<Rule> = rules.iter().map(|r| r.rule.clone()).collect();
                self.ec2.revoke(group, direction, &plain).await
            }
        }
    }

    async fn retry(
        &self,
        op: Op,
        group: &GroupRef,
        direction: Direction,
        rules: &[DescribedRule],
    ) -> Result<(), Ec2Error> {
        let ids = [group.group_id.clone()];
        let now = self.ec2.describe(&group.place, Some(&ids)).await?;
        let Some(live) = now
            .groups
            .into_iter()
            .find(|g| g.group_id == group.group_id)
        else {
            return Err(Ec2Error::GroupNotFound {
                code: "InvalidGroup.NotFound".into(),
            });
        };
        let held = live.rules(direction);
        let present = |r: &Rule| held.iter().find(|h| h.rule == *r);
        let still: Vec<DescribedRule> = rules
            .iter()
            .filter(|r| match op {
                Op::Authorize => present(&r.rule).is_none(),
                Op::Revoke => present(&r.rule).is_some(),
                Op::UpdateDescription => {
                    present(&r.rule).is_some_and(|h| h.description != r.description)
                }
            })
            .cloned()
            .collect();
        if still.is_empty() {
            return Ok(());
        }
        if op == Op::UpdateDescription && still.iter().any(|r| present(&r.rule).is_none()) {
            return Err(Ec2Error::NotFound {
                code: "InvalidPermission.NotFound".into(),
            });
        }
        self.write(op, group, direction, &still).await
    }
}

/// Every failed write as a report error, with EC2's code.
fn failures(d: &Drift, p: &Plan) -> Vec<ErrorJson> {
    let mut errors = Vec::new();
    for gp in &p.groups {
        let g = &d.groups[gp.group];
        for a in gp.actions.iter().filter(|a| a.status == Status::Failed) {
            let failure = a.error.as_ref();
            errors.push(error(
                Stage::Apply,
                Some(&g.group_id),
                Some(&g.place),
                failure.map(|f| f.code.as_str()),
                format!(
                    "{} {} failed: {}",
                    a.op.as_str(),
                    a.rule.rule,
                    failure.map_or("unknown error", |f| f.message.as_str())
                ),
            ));
        }
    }
    errors
}
