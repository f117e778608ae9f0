//! The enforcer: the one path every run takes (architecture.md), against the ports.
//!
//! trigger → policy → inventory → drift → plan → apply → verify → report → notify.
//! The Lambda handler and every CLI command that touches AWS call [`Enforcer::run`];
//! neither re-implements a step. A failing group or region is report data, never an
//! early return: one group's failure does not stop the others.

mod risk;

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use futures_util::future::join_all;
use futures_util::{StreamExt, stream};

use crate::budget::{Claim, Verdict};
use crate::drift::{self, Drift};
use crate::inventory::{CurrentGroup, Inventory};
use crate::plan::{self, Failure, GroupPlan, Op, Plan, PlanOptions, Status};
use crate::policy::{FlapLimit, Mode, Notify, Policy};
use crate::ports::{
    Ec2, Ec2Error, FlowSource, GroupRef, Notifier, PolicySource, RevertLedger, SourceError,
};
use crate::report::{AfterJson, CreatedGroupJson, ErrorJson, FlappingJson, Report, RuleJson};
use crate::rule::{DescribedRule, Direction, Rule};
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
    /// The region the program runs in: governed when the policy names none.
    pub home_region: String,
    /// Publish the report through the notifier (as `settings.notify` says).
    pub notify: bool,
}

/// The enforcer, over an EC2, a policy source, a notifier, a revert ledger and the VPC
/// flow logs.
pub struct Enforcer<E, S, N, L, F> {
    pub ec2: E,
    pub source: S,
    pub notifier: N,
    pub ledger: L,
    pub flows: F,
}

fn error(
    stage: Stage,
    group_id: Option<&str>,
    region: Option<&str>,
    code: Option<&str>,
    message: String,
) -> ErrorJson {
    ErrorJson {
        stage,
        group_id: group_id.map(str::to_string),
        region: region.map(str::to_string),
        code: code.map(str::to_string),
        message,
    }
}

fn empty_report(event: &TriggerEvent) -> Report {
    Report::new(event.info(), None, &[], &Drift::default(), &Plan::default())
}

/// The regions a run governs: the policy's (or the home region), narrowed by the options
/// and, for a CloudTrail trigger, to the event's region.
fn governed(policy: &Policy, opts: &RunOptions, trigger: &Trigger) -> Result<Vec<String>, String> {
    let mut all = policy
        .settings
        .governed_regions(&opts.home_region, &opts.regions)
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
    Ok(all)
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
    let mode = gp.mode;
    for a in gp.actions.iter_mut().filter(|a| a.is_write(mode)) {
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

impl<E: Ec2, S: PolicySource, N: Notifier, L: RevertLedger, F: FlowSource> Enforcer<E, S, N, L, F> {
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

    /// Creates the missing groups whose entry says `create` (or `settings.create_missing`)
    /// and whose mode writes, within the change cap, and adds them to the inventory.
    async fn create_missing(
        &self,
        policy: &Policy,
        d: &Drift,
        opts: &RunOptions,
        inventory: &mut Inventory,
        errors: &mut Vec<ErrorJson>,
    ) -> Vec<CreatedGroupJson> {
        if !opts.apply || opts.force_audit {
            return Vec::new();
        }
        let wanted: Vec<_> = d
            .missing_groups
            .iter()
            .filter(|m| {
                policy
                    .groups
                    .get(&m.key)
                    .is_some_and(|g| g.create && g.mode != Mode::Audit)
            })
            .collect();
        if wanted.is_empty() {
            return Vec::new();
        }
        if wanted.len() as u64 > policy.settings.max_changes_per_run {
            errors.push(error(
                Stage::Create,
                None,
                None,
                None,
                format!(
                    "{} groups to create is over max_changes_per_run ({}): none created",
                    wanted.len(),
                    policy.settings.max_changes_per_run
                ),
            ));
            return Vec::new();
        }
        let mut created = Vec::new();
        for m in wanted {
            let Some(g) = policy.groups.get(&m.key) else {
                continue;
            };
            let description = g.creation_description();
            let vpc = m.vpc_id.as_deref().or(g.vpc.as_deref());
            match self
                .ec2
                .create_group(&m.region, &g.name, &description, vpc)
                .await
            {
                Ok(id) => match self.ec2.describe(&m.region, Some(std::slice::from_ref(&id))).await {
                    Ok(inv) if !inv.groups.is_empty() => {
                        inventory.groups.extend(inv.groups);
                        created.push(CreatedGroupJson {
                            key: m.key.clone(),
                            region: m.region.clone(),
                            group_id: id,
                            vpc_id: vpc.map(str::to_string),
                        });
                    }
                    Ok(_) => errors.push(error(Stage::Create,
                        Some(&id),
                        Some(&m.region),
                        None,
                        format!("created group `{}` but could not read it back; it is filled on the next run", g.name),
                    )),
                    Err(e) => errors.push(error(Stage::Create,
                        Some(&id),
                        Some(&m.region),
                        Some(e.code()),
                        format!("created group `{}` but could not read it back: {e}", g.name),
                    )),
                },
                Err(e) => errors.push(error(Stage::Create,
                    None,
                    Some(&m.region),
                    Some(e.code()),
                    format!("cannot create group `{}` (groups.{}): {e}", g.name, m.key),
                )),
            }
        }
        created
    }

    async fn run_with(&self, policy: &Policy, event: &TriggerEvent, opts: &RunOptions) -> Report {
        let regions = match governed(policy, opts, &event.trigger) {
            Ok(r) => r,
            Err(message) => {
                let mut r = Report::new(
                    event.info(),
                    Some(policy),
                    &[],
                    &Drift::default(),
                    &Plan::default(),
                );
                r.errors
                    .push(error(Stage::Event, None, None, None, message));
                return r;
            }
        };

        // Inventory: every governed region at once. A region that cannot be read is an
        // error and is left out (its groups are not reported missing).
        let reads = join_all(
            regions
                .iter()
                .map(|r| self.read_region(policy, r, &event.trigger)),
        )
        .await;
        let mut inventory = Inventory::default();
        let mut read_regions = Vec::new();
        let mut errors = Vec::new();
        for (region, result) in regions.iter().zip(reads) {
            match result {
                Ok(inv) => {
                    inventory.groups.extend(inv.groups);
                    inventory.unreadable.extend(inv.unreadable);
                    read_regions.push(region.clone());
                }
                Err(e) => errors.push(error(
                    Stage::Inventory,
                    None,
                    Some(region),
                    Some(e.code()),
                    format!("cannot describe security groups: {e}"),
                )),
            }
        }

        // A policy written for another account governs nothing here (fail closed).
        if let Some(want) = &policy.settings.account {
            let live = inventory
                .groups
                .iter()
                .map(|g| g.owner_id.as_str())
                .find(|o| !o.is_empty())
                .or(event.account.as_deref());
            if let Some(live) = live.filter(|l| l != want) {
                let mut r = Report::new(
                    event.info(),
                    Some(policy),
                    &read_regions,
                    &Drift::default(),
                    &Plan::default(),
                );
                r.account = Some(live.to_string());
                r.errors.push(error(
                    Stage::Policy,
                    None,
                    None,
                    None,
                    format!(
                        "the policy is for account {want}, but the groups read belong to {live}"
                    ),
                ));
                r.refused = Some(format!(
                    "the policy is for account {want}, not {live}; nothing was checked or changed"
                ));
                return r;
            }
        }

        let mut d = drift::drift(policy, &inventory, &read_regions, opts.now.date_naive());
        scope(&mut d, &event.trigger);

        // Missing groups the policy asks to create (add-only and enforce only; never in
        // audit, a dry run or a plan): created, read back, then compared and filled like
        // any other group.
        let created = self
            .create_missing(policy, &d, opts, &mut inventory, &mut errors)
            .await;
        if !created.is_empty() {
            d = drift::drift(policy, &inventory, &read_regions, opts.now.date_naive());
            scope(&mut d, &event.trigger);
        }
        let mut p = plan::plan(
            &d,
            PlanOptions {
                max_changes_per_run: policy.settings.max_changes_per_run,
                force_audit: opts.force_audit,
            },
        );

        // Change risk (settings.flow_logs): the traffic each pending revoke would cut;
        // keep_if_traffic holds the revokes that would cut some, before the loop breaker
        // counts which groups will be written to.
        risk::assess(
            &self.ec2,
            &self.flows,
            policy,
            &inventory,
            &d,
            &mut p,
            opts.now,
            &mut errors,
        )
        .await;

        // The loop breaker: each group about to be written to spends one revert of its
        // budget first; a group whose budget is spent is held back and reported flapping.
        let mut flapping: Vec<(String, String, FlappingJson)> = Vec::new();
        if let Some(limit) = policy.settings.flap_limit.filter(|_| opts.apply)
            && p.refused.is_none()
        {
            let writing: Vec<usize> = (0..p.groups.len())
                .filter(|i| {
                    let gp = &p.groups[*i];
                    gp.actions.iter().any(|a| a.is_write(gp.mode))
                })
                .collect();
            let actor = claim_actor(&event.trigger);
            let claims: Vec<Claim> = writing
                .iter()
                .map(|i| {
                    let g = &d.groups[p.groups[*i].group];
                    Claim {
                        key: format!("{}/{}", g.region, g.group_id),
                        actor: actor.clone(),
                        trigger: claim_trigger(&event.trigger),
                    }
                })
                .collect();
            if !claims.is_empty() {
                match self.ledger.reserve(opts.now, limit, &claims).await {
                    Ok(verdicts) => {
                        for (i, v) in writing.iter().zip(verdicts) {
                            let Verdict::Flapping { reverts, until } = v else {
                                continue;
                            };
                            let f = flapping_json(limit, &reverts, until, actor.as_deref());
                            hold(
                                &mut p.groups[*i],
                                &format!(
                                    "held back: flapping, reverted {} times within {} (limit {}); not reverted before {}",
                                    f.reverts,
                                    limit.per_text(),
                                    limit.reverts,
                                    f.until
                                ),
                            );
                            let g = &d.groups[p.groups[*i].group];
                            flapping.push((g.region.clone(), g.group_id.clone(), f));
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
            }
        }

        let mut changed: Vec<usize> = Vec::new();
        if opts.apply && p.refused.is_none() {
            // Groups are independent: their writes run a few at a time, each group's own
            // writes in order (authorize, descriptions, revoke).
            let done: Vec<Option<usize>> = stream::iter(p.groups.iter_mut())
                .map(|gp| {
                    let g = &d.groups[gp.group];
                    let group = GroupRef {
                        region: g.region.clone(),
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
                let mode = gp.mode;
                for a in gp
                    .actions
                    .iter_mut()
                    .filter(|a| a.status == Status::Planned && mode != crate::policy::Mode::Audit)
                {
                    a.status = Status::Skipped;
                    a.reason.get_or_insert_with(|| "not attempted".into());
                }
            }
        }

        let mut report = Report::new(event.info(), Some(policy), &read_regions, &d, &p);
        report.errors.extend(errors);
        report.created_groups = created;
        for (region, id, f) in flapping {
            if let Some(g) = report
                .groups
                .iter_mut()
                .find(|g| g.region == region && g.group_id.as_deref() == Some(id.as_str()))
            {
                g.flapping = Some(f);
            }
        }
        for gp in &p.groups {
            for a in &gp.actions {
                if a.status == Status::Failed {
                    let g = &d.groups[gp.group];
                    let failure = a.error.as_ref();
                    report.errors.push(error(
                        Stage::Apply,
                        Some(&g.group_id),
                        Some(&g.region),
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
        }
        if !changed.is_empty() {
            self.verify(
                policy,
                &inventory,
                &read_regions,
                opts.now.date_naive(),
                &d,
                &changed,
                &mut report,
            )
            .await;
        }
        report.recount();
        report
    }

    /// The groups a run needs from one region. For a CloudTrail event about known group
    /// ids: those groups, plus the groups their policy entries and exceptions name with
    /// `sg:NAME` (so references resolve), a few small reads instead of the whole region.
    /// Otherwise (a sweep, a delete, an event that names groups without ids): every group.
    async fn read_region(
        &self,
        policy: &Policy,
        region: &str,
        trigger: &Trigger,
    ) -> Result<Inventory, Ec2Error> {
        let ids = match trigger {
            Trigger::CloudTrail {
                event_name,
                group_ids,
                group_names,
                ..
            } if event_name != "DeleteSecurityGroup"
                && !group_ids.is_empty()
                && group_names.is_empty() =>
            {
                group_ids
            }
            _ => return self.ec2.describe(region, None).await,
        };
        let mut inv = self.ec2.describe(region, Some(ids)).await?;
        let (by_id, by_name) = referenced(policy, &inv);
        let by_id: Vec<String> = by_id
            .into_iter()
            .filter(|id| !inv.groups.iter().any(|g| g.group_id == *id))
            .collect();
        let mut more = Vec::new();
        if !by_id.is_empty() {
            more.push(self.ec2.describe(region, Some(&by_id)).await?);
        }
        if !by_name.is_empty() {
            more.push(self.ec2.describe_named(region, &by_name).await?);
        }
        for m in more {
            for g in m.groups {
                if !inv.groups.iter().any(|h| h.group_id == g.group_id) {
                    inv.groups.push(g);
                }
            }
            inv.unreadable.extend(m.unreadable);
        }
        Ok(inv)
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
        let now = self.ec2.describe(&group.region, Some(&ids)).await?;
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

    /// Re-describes the changed groups and records their state after the run.
    #[expect(
        clippy::too_many_arguments,
        reason = "the verify step needs the run's whole context"
    )]
    async fn verify(
        &self,
        policy: &Policy,
        before: &Inventory,
        regions: &[String],
        today: NaiveDate,
        d: &Drift,
        changed: &[usize],
        report: &mut Report,
    ) {
        let mut fresh: Vec<CurrentGroup> = Vec::new();
        let mut verified: Vec<&str> = Vec::new();
        for region in regions {
            let ids: Vec<String> = changed
                .iter()
                .map(|i| &d.groups[*i])
                .filter(|g| g.region == *region)
                .map(|g| g.group_id.clone())
                .collect();
            if ids.is_empty() {
                continue;
            }
            match self.ec2.describe(region, Some(&ids)).await {
                Ok(inv) => fresh.extend(inv.groups),
                Err(e) => {
                    report.errors.push(error(
                        Stage::Verify,
                        None,
                        Some(region),
                        Some(e.code()),
                        format!("cannot re-describe the changed groups: {e}"),
                    ));
                    continue;
                }
            }
            verified.extend(
                changed
                    .iter()
                    .map(|i| d.groups[*i].group_id.as_str())
                    .filter(|id| ids.iter().any(|x| x == id)),
            );
        }
        // The rest of the estate as it was, so that `sg:NAME` still resolves.
        let mut after = Inventory {
            groups: before
                .groups
                .iter()
                .filter(|g| !verified.contains(&g.group_id.as_str()))
                .cloned()
                .collect(),
            unreadable: Vec::new(),
        };
        after.groups.extend(fresh);
        let again = drift::drift(policy, &after, regions, today);
        for g in report.groups.iter_mut() {
            let Some(id) = g.group_id.as_deref() else {
                continue;
            };
            if !verified.contains(&id) {
                continue;
            }
            let rules = |list: &[DescribedRule]| -> Vec<RuleJson> {
                let mut v: Vec<RuleJson> = list
                    .iter()
                    .map(|r| RuleJson::new(&r.rule, r.description.as_deref()))
                    .collect();
                v.sort_by(|a, b| a.text.cmp(&b.text));
                v
            };
            g.after = Some(match again.groups.iter().find(|x| x.group_id == id) {
                Some(now) => AfterJson {
                    missing: rules(&now.missing),
                    extra: rules(&now.extra),
                },
                None => {
                    report.errors.push(error(
                        Stage::Verify,
                        Some(id),
                        Some(&g.region),
                        None,
                        "the group is gone after the run".into(),
                    ));
                    AfterJson {
                        missing: Vec::new(),
                        extra: Vec::new(),
                    }
                }
            });
        }
    }
}

/// The groups that the entries governing `inv`'s groups name with `sg:NAME`, in their
/// rules or their exceptions: (ids, names) of the named entries.
fn referenced(policy: &Policy, inv: &Inventory) -> (BTreeSet<String>, Vec<String>) {
    let mut ids = BTreeSet::new();
    let mut names = BTreeSet::new();
    for g in &inv.groups {
        for e in policy
            .groups
            .values()
            .filter(|e| drift::entry_matches(e, g))
        {
            let rules = e
                .ingress
                .iter()
                .chain(&e.egress)
                .flatten()
                .map(|r| &r.rule)
                .chain(
                    policy
                        .exceptions
                        .iter()
                        .filter(|x| x.group == e.key)
                        .flat_map(|x| &x.rules),
                );
            for r in rules {
                let crate::rule::Peer::Named(key) = &r.peer else {
                    continue;
                };
                if let Some(t) = policy.groups.get(key) {
                    match &t.id {
                        Some(id) => ids.insert(id.clone()),
                        None => names.insert(t.name.clone()),
                    };
                }
            }
        }
    }
    (ids, names.into_iter().collect())
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

/// Narrows a drift to what a CloudTrail event touched: its groups (by id, or by name
/// where the event gave no id). Other groups are neither reported nor changed. Missing
/// groups stay listed only for a DeleteSecurityGroup event, which may have made them so.
fn scope(d: &mut Drift, trigger: &Trigger) {
    let Trigger::CloudTrail {
        event_name,
        group_ids,
        group_names,
        ..
    } = trigger
    else {
        return;
    };
    d.groups
        .retain(|g| group_ids.contains(&g.group_id) || group_names.contains(&g.group_name));
    d.unmanaged_groups.clear();
    d.errors.retain(|e| group_ids.contains(&e.group_id));
    if event_name != "DeleteSecurityGroup" {
        d.missing_groups.clear();
    }
}

#[cfg(test)]
mod tests;
