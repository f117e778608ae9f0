//! The plan: for each drifted group, the writes its mode calls for. Pure.
//!
//! `audit` lists what enforce would do as `planned` but never runs it; `add-only`
//! authorizes missing rules and fixes descriptions; `enforce` also revokes extra rules.
//! Excepted rules are never revoked. An `enforce` guardrail revokes the rules that violate
//! it whatever the group's mode (in a group no entry governs too), and a rule a guardrail
//! denies is never authorized. Writes are batched so a group needs at most one
//! authorize and one revoke call per direction, authorize first. A plan whose changes
//! exceed `max_changes_per_run` changes nothing and says why.

use serde::Serialize;

use crate::drift::{Drift, GroupDrift};
use crate::policy::Mode;
use crate::rule::{DescribedRule, Direction, Peer, Rule};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Authorize,
    UpdateDescription,
    Revoke,
}

impl Op {
    /// `authorize`, `update_description` or `revoke`, as in the JSON report.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Authorize => "authorize",
            Op::UpdateDescription => "update_description",
            Op::Revoke => "revoke",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Planned,
    Done,
    Failed,
    Skipped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Planned => "planned",
            Status::Done => "done",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
        }
    }
}

/// Why a write failed: the service's error code, as data, and the whole message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub code: String,
    pub message: String,
}

impl std::fmt::Display for Failure {
    /// `CODE: MESSAGE`, as the JSON report's `error` of an action.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// One atomic change to one group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Action {
    pub op: Op,
    /// The rule and, for authorize and description updates, the description to write.
    pub rule: DescribedRule,
    pub status: Status,
    pub reason: Option<String>,
    /// Why the write failed, when it did.
    pub error: Option<Failure>,
    /// For a revoke, when `settings.flow_logs` is set: the traffic it would cut.
    pub risk: Option<crate::flows::ChangeRisk>,
    /// The guardrail that revokes the rule, or that denies authorizing it.
    pub guardrail: Option<String>,
    /// Whether the run makes this write while it is planned (`false`: audit, reported
    /// only).
    pub applies: bool,
}

impl Action {
    /// Whether this action is a write the run will make (not audit, not skipped).
    pub fn is_write(&self) -> bool {
        self.applies && self.status == Status::Planned
    }
}

/// The actions for one group of the drift, in execution order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupPlan {
    /// Index of the group in `Drift::groups`.
    pub group: usize,
    /// The governing entry's mode (`audit` in a dry run); `None` when no entry governs.
    pub mode: Option<Mode>,
    pub actions: Vec<Action>,
}

/// One API call: a batch of rules for one group, operation and direction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch<'a> {
    pub op: Op,
    pub direction: Direction,
    /// Indices into the group plan's `actions`.
    pub actions: Vec<usize>,
    pub rules: Vec<&'a DescribedRule>,
}

impl GroupPlan {
    /// The writes to make, as one batch per operation and direction, in the safe order:
    /// authorize (ingress, egress), description updates, then revoke.
    pub fn batches(&self) -> Vec<Batch<'_>> {
        let mut out: Vec<Batch<'_>> = Vec::new();
        for op in [Op::Authorize, Op::UpdateDescription, Op::Revoke] {
            for direction in Direction::BOTH {
                let idx: Vec<usize> = self
                    .actions
                    .iter()
                    .enumerate()
                    .filter(|(_, a)| {
                        a.op == op && a.rule.rule.direction == direction && a.is_write()
                    })
                    .map(|(i, _)| i)
                    .collect();
                if !idx.is_empty() {
                    let rules = idx.iter().map(|i| &self.actions[*i].rule).collect();
                    out.push(Batch {
                        op,
                        direction,
                        actions: idx,
                        rules,
                    });
                }
            }
        }
        out
    }
}

/// Options a run adds to the policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlanOptions {
    pub max_changes_per_run: u64,
    /// Every group as `audit` (a dry run, or `SGWARDEN_DRY_RUN`).
    pub force_audit: bool,
}

/// The plan of a whole run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// One per group of the drift, same order.
    pub groups: Vec<GroupPlan>,
    /// Why nothing will be changed, when the run was refused.
    pub refused: Option<String>,
    /// The number of atomic writes the run would make (before any refusal).
    pub changes: u64,
}

fn planned(op: Op, rule: &DescribedRule, applies: bool) -> Action {
    Action {
        op,
        rule: rule.clone(),
        status: Status::Planned,
        reason: (!applies).then(|| "audit mode: reported, not applied".to_string()),
        error: None,
        risk: None,
        guardrail: None,
        applies,
    }
}

fn skipped(rule: &DescribedRule, reason: String, guardrail: Option<&str>) -> Action {
    Action {
        op: Op::Authorize,
        rule: rule.clone(),
        status: Status::Skipped,
        reason: Some(reason),
        error: None,
        risk: None,
        guardrail: guardrail.map(str::to_string),
        applies: false,
    }
}

fn group_plan(index: usize, g: &GroupDrift, force_audit: bool) -> GroupPlan {
    let mode = g.mode.map(|m| if force_audit { Mode::Audit } else { m });
    let writes = mode.is_some_and(|m| m != Mode::Audit);
    let mut actions = Vec::new();
    for m in &g.missing {
        if let Peer::Named(name) = &m.rule.peer {
            let why = format!(
                "`sg:{name}` has no live group in {} {}",
                g.place.region,
                g.vpc_id.as_deref().unwrap_or("(no VPC)")
            );
            actions.push(skipped(m, why, None));
        } else if let Some(id) = g.denied_by(&m.rule) {
            let why = format!("denied by guardrail `{id}`");
            actions.push(skipped(m, why, Some(id)));
        } else {
            actions.push(planned(Op::Authorize, m, writes));
        }
    }
    for d in &g.descriptions {
        let rule = DescribedRule {
            rule: d.rule.clone(),
            description: Some(d.want.clone()),
        };
        actions.push(planned(Op::UpdateDescription, &rule, writes));
    }
    let revokes_from = actions.len();
    if mode != Some(Mode::AddOnly) {
        for e in &g.extra {
            actions.push(planned(Op::Revoke, e, mode == Some(Mode::Enforce)));
        }
    }
    // Enforce guardrails revoke what violates them; a rule also extra is revoked once.
    for v in g.violations.iter().filter(|v| v.enforce) {
        let same = |a: &&mut Action| a.rule.rule == v.rule.rule;
        match actions[revokes_from..].iter_mut().find(same) {
            Some(a) if a.guardrail.is_none() => {
                a.guardrail = Some(v.guardrail.clone());
                a.applies = !force_audit;
                a.reason = force_audit.then(|| "audit mode: reported, not applied".into());
            }
            Some(_) => {}
            None => {
                let mut a = planned(Op::Revoke, &v.rule, !force_audit);
                a.guardrail = Some(v.guardrail.clone());
                actions.push(a);
            }
        }
    }
    GroupPlan {
        group: index,
        mode,
        actions,
    }
}

/// Plans the writes for `drift` under `options`.
pub fn plan(drift: &Drift, options: PlanOptions) -> Plan {
    let mut groups: Vec<GroupPlan> = drift
        .groups
        .iter()
        .enumerate()
        .map(|(i, g)| group_plan(i, g, options.force_audit))
        .collect();
    let changes: u64 = groups
        .iter()
        .map(|gp| gp.actions.iter().filter(|a| a.is_write()).count() as u64)
        .sum();
    let mut refused = None;
    if changes > options.max_changes_per_run {
        let why = format!(
            "{changes} rule changes exceed max_changes_per_run ({}); nothing was changed",
            options.max_changes_per_run
        );
        for gp in &mut groups {
            for a in gp.actions.iter_mut().filter(|a| a.is_write()) {
                a.status = Status::Skipped;
                a.reason = Some(format!(
                    "refused: run over max_changes_per_run ({})",
                    options.max_changes_per_run
                ));
            }
        }
        refused = Some(why);
    }
    Plan {
        groups,
        refused,
        changes,
    }
}

/// The rules a group holds after its plan's writes succeed (used by tests and fakes):
/// authorized rules added, revoked rules removed, descriptions updated.
pub fn apply_to(rules: &mut Vec<DescribedRule>, direction: Direction, actions: &[Action]) {
    for a in actions
        .iter()
        .filter(|a| a.rule.rule.direction == direction)
    {
        let pos = rules.iter().position(|r| r.rule == a.rule.rule);
        match (a.op, pos) {
            (Op::Authorize, None) => rules.push(a.rule.clone()),
            (Op::Revoke, Some(i)) => {
                rules.remove(i);
            }
            (Op::UpdateDescription, Some(i)) => rules[i].description = a.rule.description.clone(),
            _ => {}
        }
    }
    rules.sort();
}

/// Whether a rule would be authorized by this plan (for tests of authorize-first).
pub fn authorizes(plan: &GroupPlan, rule: &Rule) -> bool {
    plan.actions
        .iter()
        .any(|a| a.op == Op::Authorize && a.rule.rule == *rule)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drift::GroupDrift;

    fn dr(text: &str) -> DescribedRule {
        DescribedRule {
            rule: text.parse().unwrap(),
            description: None,
        }
    }

    fn group(mode: Mode, missing: &[&str], extra: &[&str]) -> GroupDrift {
        GroupDrift {
            key: Some("web".into()),
            matched_by: None,
            group_id: "sg-1".into(),
            group_name: "web".into(),
            vpc_id: Some("vpc-1".into()),
            place: crate::place::Place::new("", "us-east-1"),
            owner_id: "111111111111".into(),
            mode: Some(mode),
            managed: vec![Direction::Ingress, Direction::Egress],
            missing: missing.iter().map(|t| dr(t)).collect(),
            extra: extra.iter().map(|t| dr(t)).collect(),
            excepted: vec![],
            expired_exceptions: vec![],
            descriptions: vec![],
            violations: vec![],
            excepted_violations: vec![],
            denied: vec![],
        }
    }

    fn opts(max: u64) -> PlanOptions {
        PlanOptions {
            max_changes_per_run: max,
            force_audit: false,
        }
    }

    fn drift(groups: Vec<GroupDrift>) -> Drift {
        Drift {
            groups,
            ..Drift::default()
        }
    }

    #[test]
    fn extra_rule_in_add_only_is_reported_not_revoked() {
        let p = plan(
            &drift(vec![group(
                Mode::AddOnly,
                &["tcp/443 from 0.0.0.0/0"],
                &["tcp/22 from 0.0.0.0/0"],
            )]),
            opts(50),
        );
        let ops: Vec<Op> = p.groups[0].actions.iter().map(|a| a.op).collect();
        assert_eq!(ops, vec![Op::Authorize]);
        assert_eq!(p.changes, 1);
    }

    #[test]
    fn enforce_authorizes_before_it_revokes_in_one_batch_per_direction() {
        let g = group(
            Mode::Enforce,
            &[
                "tcp/443 from 0.0.0.0/0",
                "tcp/80 from 0.0.0.0/0",
                "all to 0.0.0.0/0",
            ],
            &[
                "tcp/22 from 0.0.0.0/0",
                "tcp/23 from 0.0.0.0/0",
                "udp/53 to 10.0.0.2/32",
            ],
        );
        let p = plan(&drift(vec![g]), opts(50));
        let batches = p.groups[0].batches();
        let shape: Vec<(Op, Direction, usize)> = batches
            .iter()
            .map(|b| (b.op, b.direction, b.rules.len()))
            .collect();
        assert_eq!(
            shape,
            vec![
                (Op::Authorize, Direction::Ingress, 2),
                (Op::Authorize, Direction::Egress, 1),
                (Op::Revoke, Direction::Ingress, 2),
                (Op::Revoke, Direction::Egress, 1),
            ]
        );
    }

    #[test]
    fn audit_lists_would_be_changes_as_planned_and_makes_none() {
        let p = plan(
            &drift(vec![group(
                Mode::Audit,
                &["tcp/443 from 0.0.0.0/0"],
                &["tcp/22 from 0.0.0.0/0"],
            )]),
            opts(50),
        );
        assert_eq!(p.groups[0].actions.len(), 2);
        assert!(
            p.groups[0]
                .actions
                .iter()
                .all(|a| a.status == Status::Planned && a.reason.is_some())
        );
        assert!(p.groups[0].batches().is_empty());
        assert_eq!(p.changes, 0);
    }

    #[test]
    fn force_audit_overrides_enforce() {
        let mut o = opts(50);
        o.force_audit = true;
        let p = plan(
            &drift(vec![group(Mode::Enforce, &["tcp/443 from 0.0.0.0/0"], &[])]),
            o,
        );
        assert_eq!(p.groups[0].mode, Some(Mode::Audit));
        assert!(p.groups[0].batches().is_empty());
    }

    #[test]
    fn a_plan_over_the_cap_changes_nothing_and_says_why() {
        let g1 = group(
            Mode::Enforce,
            &["tcp/443 from 0.0.0.0/0"],
            &["tcp/22 from 0.0.0.0/0"],
        );
        let g2 = group(Mode::Enforce, &["tcp/80 from 0.0.0.0/0"], &[]);
        let p = plan(&drift(vec![g1.clone(), g2.clone()]), opts(2));
        assert_eq!(p.changes, 3);
        assert!(
            p.refused
                .as_deref()
                .unwrap()
                .contains("3 rule changes exceed max_changes_per_run (2)")
        );
        assert!(p.groups.iter().all(|g| g.batches().is_empty()));
        assert!(
            p.groups
                .iter()
                .flat_map(|g| &g.actions)
                .all(|a| a.status == Status::Skipped)
        );
        // At the cap exactly, the run goes ahead.
        assert!(plan(&drift(vec![g1, g2]), opts(3)).refused.is_none());
    }

    #[test]
    fn an_unresolved_sg_name_is_skipped_with_a_reason() {
        let mut g = group(Mode::Enforce, &[], &[]);
        g.missing.push(DescribedRule {
            rule: Rule {
                direction: Direction::Ingress,
                protocol: crate::rule::Protocol::Tcp {
                    from: 5432,
                    to: 5432,
                },
                peer: Peer::Named("db".into()),
            },
            description: None,
        });
        let p = plan(&drift(vec![g]), opts(50));
        let a = &p.groups[0].actions[0];
        assert_eq!(a.status, Status::Skipped);
        assert!(
            a.reason
                .as_deref()
                .unwrap()
                .contains("`sg:db` has no live group in us-east-1 vpc-1")
        );
        assert_eq!(p.changes, 0);
    }
}
