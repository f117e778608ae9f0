//! The report of a run: one value, built from the drift and the plan (and, after apply,
//! the outcome of each action), serialised as the JSON contract of architecture.md and
//! rendered for people by [`render`]. Pure: no I/O, no clock.

pub mod render;
pub mod sns;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::drift::{Drift, GroupDrift, MatchedBy, Violation};
use crate::guardrail::Severity;
use crate::place::Place;
use crate::plan::{Op, Plan, Status};
use crate::policy::{Mode, Policy, Provenance};
use crate::rule::{DescribedRule, Rule};
use crate::stage::Stage;
pub use crate::trigger::{Actor, TriggerInfo, TriggerKind};

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PolicyInfo {
    pub location: String,
    pub sha256: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    pub files: Vec<Provenance>,
}

/// A rule as the JSON contract gives it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RuleJson {
    pub text: String,
    pub direction: &'static str,
    pub protocol: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_port: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_port: Option<i32>,
    pub peer: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl RuleJson {
    pub fn new(rule: &Rule, description: Option<&str>) -> Self {
        let ports = rule.protocol.ec2_ports();
        RuleJson {
            text: rule.to_string(),
            direction: rule.direction.as_str(),
            protocol: rule.protocol.name(),
            from_port: ports.map(|p| p.0),
            to_port: ports.map(|p| p.1),
            peer: rule.peer.to_string(),
            description: description.map(str::to_string),
        }
    }

    fn of(d: &DescribedRule) -> Self {
        RuleJson::new(&d.rule, d.description.as_deref())
    }
}

fn rules_json(rules: &[DescribedRule]) -> Vec<RuleJson> {
    let mut out: Vec<RuleJson> = rules.iter().map(RuleJson::of).collect();
    out.sort_by(|a, b| a.text.cmp(&b.text));
    out
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExpiredJson {
    pub rule: RuleJson,
    pub owner: String,
    pub expires: String,
}

/// A live rule that violates a guardrail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ViolationJson {
    pub guardrail: String,
    pub severity: Severity,
    pub rule: RuleJson,
}

impl ViolationJson {
    fn of(v: &Violation) -> Self {
        ViolationJson {
            guardrail: v.guardrail.clone(),
            severity: v.severity,
            rule: RuleJson::of(&v.rule),
        }
    }
}

/// A violation an exception excuses, and that exception.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExceptedViolationJson {
    #[serde(flatten)]
    pub violation: ViolationJson,
    pub exception: ExceptionJson,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExceptionJson {
    pub owner: String,
    pub expires: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DescriptionJson {
    pub rule: RuleJson,
    pub want: String,
    pub have: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ActionJson {
    pub op: Op,
    pub rule: RuleJson,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// For a revoke when `settings.flow_logs` is set: the traffic it would cut.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traffic: Option<TrafficJson>,
    /// The guardrail that revokes the rule, or that denied authorizing it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guardrail: Option<String>,
    /// Whether the run makes the write while it is planned (not audit).
    #[serde(skip)]
    pub applies: bool,
}

/// The change risk of a revoke: the accepted traffic the rule carried in the window that
/// no rule left after the run allows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TrafficJson {
    /// The look-back window (`1d`).
    pub window: String,
    /// The group's network interfaces the flow records were read on.
    pub interfaces: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flows: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// Ingress: the sources with the most flows (at most five).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub top_sources: Vec<PeerFlowsJson>,
    /// Egress: the destinations with the most flows (at most five).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub top_destinations: Vec<PeerFlowsJson>,
    /// Why the traffic is not known (then `flows` and `bytes` are absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unknown: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PeerFlowsJson {
    pub address: String,
    pub flows: u64,
}

impl TrafficJson {
    fn new(risk: &crate::flows::ChangeRisk, direction: crate::rule::Direction) -> Self {
        let mut t = TrafficJson {
            window: crate::policy::window_text(risk.window_seconds),
            interfaces: risk.interfaces,
            flows: None,
            bytes: None,
            top_sources: Vec::new(),
            top_destinations: Vec::new(),
            unknown: None,
        };
        match &risk.traffic {
            Ok(r) => {
                t.flows = Some(r.flows);
                t.bytes = Some(r.bytes);
                let top = r
                    .top_peers
                    .iter()
                    .map(|(a, n)| PeerFlowsJson {
                        address: a.to_string(),
                        flows: *n,
                    })
                    .collect();
                match direction {
                    crate::rule::Direction::Ingress => t.top_sources = top,
                    crate::rule::Direction::Egress => t.top_destinations = top,
                }
            }
            Err(why) => t.unknown = Some(why.clone()),
        }
        t
    }
}

/// The re-described state of a group after a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AfterJson {
    pub missing: Vec<RuleJson>,
    pub extra: Vec<RuleJson>,
    pub violations: Vec<ViolationJson>,
}

impl AfterJson {
    /// What remains of a group's drift once it was read again (`None`: it is clean, and
    /// no longer listed in the drift).
    pub fn of(g: Option<&GroupDrift>) -> Self {
        AfterJson {
            missing: g.map(|g| rules_json(&g.missing)).unwrap_or_default(),
            extra: g.map(|g| rules_json(&g.extra)).unwrap_or_default(),
            violations: g
                .map(|g| g.violations.iter().map(ViolationJson::of).collect())
                .unwrap_or_default(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GroupReport {
    /// The entry that governs the group; `null` when none does (it is listed for its
    /// guardrail violations).
    pub key: Option<String>,
    /// Why that entry governs it: `by id`, `by name` or `selected by tags env=prod*`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched_by: Option<MatchedBy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    pub group_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vpc_id: Option<String>,
    #[serde(flatten)]
    pub place: Place,
    /// The entry's mode; `null` when no entry governs the group.
    pub mode: Option<Mode>,
    pub missing: Vec<RuleJson>,
    pub extra: Vec<RuleJson>,
    pub excepted: Vec<RuleJson>,
    pub expired_exceptions: Vec<ExpiredJson>,
    pub descriptions: Vec<DescriptionJson>,
    /// Live rules that violate a guardrail selecting the group, most severe first.
    pub violations: Vec<ViolationJson>,
    pub excepted_violations: Vec<ExceptedViolationJson>,
    pub actions: Vec<ActionJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<AfterJson>,
    /// Set when the group's revert budget is spent and its writes were held back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flapping: Option<FlappingJson>,
}

impl GroupReport {
    /// The entry governing the group, or `(no entry)`.
    pub fn key_text(&self) -> &str {
        self.key.as_deref().unwrap_or("(no entry)")
    }

    /// The mode of the group's entry, or `guardrails only`.
    pub fn mode_text(&self) -> &'static str {
        self.mode.map_or("guardrails only", Mode::as_str)
    }

    /// The change risk of revoking the rule whose canonical text is `text`, if measured.
    pub fn traffic_of(&self, text: &str) -> Option<&TrafficJson> {
        self.actions
            .iter()
            .find(|a| a.op == Op::Revoke && a.rule.text == text)
            .and_then(|a| a.traffic.as_ref())
    }
}

/// A group reverted `settings.flap_limit.reverts` times within the window: sgwarden
/// stopped reverting it until `until`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FlappingJson {
    /// Reverts within the window (at least the limit).
    pub reverts: usize,
    /// The limit and its window, as in the policy (`3 per 1h`).
    pub limit: String,
    /// When the group may be reverted again (RFC 3339).
    pub until: String,
    /// Whose changes were reverted in the window, and whose change stands now, first
    /// seen first; `unknown (found by a sweep)` where a sweep found the drift.
    pub actors: Vec<String>,
}

impl GroupReport {
    /// Whether drift remains for this group: after the run when it was re-described.
    pub fn drift_remains(&self) -> bool {
        let rules = match &self.after {
            Some(a) => !a.missing.is_empty() || !a.extra.is_empty() || !a.violations.is_empty(),
            None => {
                !self.missing.is_empty() || !self.extra.is_empty() || !self.violations.is_empty()
            }
        };
        let descriptions = !self.descriptions.is_empty()
            && !self
                .actions
                .iter()
                .filter(|a| a.op == Op::UpdateDescription)
                .all(|a| a.status == Status::Done);
        rules || descriptions
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MissingGroupJson {
    pub key: String,
    #[serde(flatten)]
    pub place: Place,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vpc_id: Option<String>,
}

/// A policy group sgwarden created because it existed nowhere (`create: true`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CreatedGroupJson {
    pub key: String,
    #[serde(flatten)]
    pub place: Place,
    pub group_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vpc_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UnmanagedJson {
    pub group_id: String,
    pub group_name: String,
    pub vpc_id: Option<String>,
    #[serde(flatten)]
    pub place: Place,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Truncated {
    pub groups_omitted: usize,
    pub rules_omitted: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full_report: Option<String>,
    /// Other fields cut short or lists shortened to fit (`trigger.actor.user_agent`,
    /// `policy.files (100 of 1000)`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cut: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ErrorJson {
    pub stage: Stage,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    /// Where it arose, when in one place (`account` and `region` in the JSON).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub place: Option<Place>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    pub message: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub groups_checked: usize,
    pub groups_with_drift: usize,
    pub missing_rules: usize,
    pub extra_rules: usize,
    pub excepted_rules: usize,
    pub missing_groups: usize,
    pub planned: usize,
    pub authorized: usize,
    pub revoked: usize,
    pub descriptions_updated: usize,
    pub failed: usize,
    pub skipped: usize,
    /// Groups whose revert budget is spent (`settings.flap_limit`): not reverted.
    pub groups_flapping: usize,
    /// Groups created because the policy asks for them and they existed nowhere.
    #[serde(skip_serializing_if = "is_zero")]
    pub groups_created: usize,
    /// Guardrail violations not excepted (one per guardrail and live atomic rule).
    pub violations: usize,
    pub groups_with_violations: usize,
}

/// The whole report of a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The AWS account (12 digits) the run governed, when known (one account).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// The accounts of a run over several (then `account` is absent, and every group,
    /// missing group, unmanaged group and error names its own).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub accounts: Vec<String>,
    pub trigger: TriggerInfo,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicyInfo>,
    /// The regions the run governed.
    pub regions: Vec<String>,
    pub groups: Vec<GroupReport>,
    pub missing_groups: Vec<MissingGroupJson>,
    /// Groups created in this run (then filled like any other group).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub created_groups: Vec<CreatedGroupJson>,
    pub unmanaged_groups: Vec<UnmanagedJson>,
    /// Each `select` entry and how many live groups it governs in this run (0: it
    /// selected none; it is never a missing group).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub selected: BTreeMap<String, usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncated: Option<Truncated>,
    pub errors: Vec<ErrorJson>,
    pub summary: Summary,
    /// The policy's default mode (for the `mode` message attribute when no group is listed).
    #[serde(skip)]
    pub default_mode: Option<Mode>,
}

/// How a command or invocation ends: the exit-code table of architecture.md.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// 0: no drift (or no drift remains).
    Clean,
    /// 2: drift (or drift remains).
    Drift,
    /// 1: an error is in the report.
    Error,
}

impl Outcome {
    pub fn code(self) -> u8 {
        match self {
            Outcome::Clean => 0,
            Outcome::Drift => 2,
            Outcome::Error => 1,
        }
    }
}

impl PolicyInfo {
    pub fn of(policy: &Policy) -> Self {
        PolicyInfo {
            location: policy.source.location.clone(),
            sha256: policy.source.sha256.clone(),
            version_id: policy.source.version_id.clone(),
            etag: policy.source.etag.clone(),
            files: policy.files.clone(),
        }
    }
}

fn group_report(g: &GroupDrift, mode: Option<Mode>, actions: Vec<ActionJson>) -> GroupReport {
    let mut descriptions: Vec<DescriptionJson> = g
        .descriptions
        .iter()
        .map(|d| DescriptionJson {
            rule: RuleJson::new(&d.rule, Some(&d.have)),
            want: d.want.clone(),
            have: d.have.clone(),
        })
        .collect();
    descriptions.sort_by(|a, b| a.rule.text.cmp(&b.rule.text));
    let mut expired: Vec<ExpiredJson> = g
        .expired_exceptions
        .iter()
        .map(|e| ExpiredJson {
            rule: RuleJson::of(&e.rule),
            owner: e.owner.clone(),
            expires: e.expires.to_string(),
        })
        .collect();
    expired.sort_by(|a, b| a.rule.text.cmp(&b.rule.text));
    GroupReport {
        key: g.key.clone(),
        matched_by: g.matched_by.clone(),
        group_id: Some(g.group_id.clone()),
        group_name: g.group_name.clone(),
        vpc_id: g.vpc_id.clone(),
        place: g.place.clone(),
        mode,
        missing: rules_json(&g.missing),
        extra: rules_json(&g.extra),
        excepted: rules_json(&g.excepted),
        expired_exceptions: expired,
        descriptions,
        violations: g.violations.iter().map(ViolationJson::of).collect(),
        excepted_violations: g
            .excepted_violations
            .iter()
            .map(|e| ExceptedViolationJson {
                violation: ViolationJson::of(&e.violation),
                exception: ExceptionJson {
                    owner: e.owner.clone(),
                    expires: e.expires.to_string(),
                },
            })
            .collect(),
        actions,
        after: None,
        flapping: None,
    }
}

impl Report {
    /// Builds the report of a run from its drift and plan. Groups with nothing to say
    /// (no drift, no excepted rules, no actions) are counted but not listed.
    pub fn new(
        trigger: TriggerInfo,
        policy: Option<&Policy>,
        places: &[Place],
        drift: &Drift,
        plan: &Plan,
    ) -> Report {
        let mut groups = Vec::new();
        for gp in &plan.groups {
            let Some(g) = drift.groups.get(gp.group) else {
                continue;
            };
            let mut actions: Vec<ActionJson> = gp
                .actions
                .iter()
                .map(|a| ActionJson {
                    op: a.op,
                    rule: RuleJson::of(&a.rule),
                    status: a.status,
                    reason: a.reason.clone(),
                    error: a.error.as_ref().map(ToString::to_string),
                    traffic: a
                        .risk
                        .as_ref()
                        .map(|r| TrafficJson::new(r, a.rule.rule.direction)),
                    guardrail: a.guardrail.clone(),
                    applies: a.applies,
                })
                .collect();
            // Authorize first, then descriptions, then revoke; rules by text within each.
            actions.sort_by(|a, b| (a.op, &a.rule.text).cmp(&(b.op, &b.rule.text)));
            let r = group_report(g, gp.mode, actions);
            if r.drift_remains()
                || !r.excepted.is_empty()
                || !r.expired_exceptions.is_empty()
                || !r.excepted_violations.is_empty()
                || !r.actions.is_empty()
            {
                groups.push(r);
            }
        }
        // The account is the one the places name (a run governs one account), else the
        // owner of the groups read.
        let account = places
            .first()
            .map(|p| p.account.clone())
            .filter(|a| !a.is_empty())
            .or_else(|| drift.groups.first().map(|g| g.owner_id.clone()))
            .filter(|o| !o.is_empty());
        let mut regions: Vec<String> = Vec::with_capacity(places.len());
        for p in places {
            if !regions.contains(&p.region) {
                regions.push(p.region.clone());
            }
        }
        let mut report = Report {
            account,
            accounts: Vec::new(),
            trigger,
            policy: policy.map(PolicyInfo::of),
            regions,
            groups,
            missing_groups: drift
                .missing_groups
                .iter()
                .map(|m| MissingGroupJson {
                    key: m.key.clone(),
                    place: m.place.clone(),
                    vpc_id: m.vpc_id.clone(),
                })
                .collect(),
            created_groups: Vec::new(),
            unmanaged_groups: drift
                .unmanaged_groups
                .iter()
                .map(|u| UnmanagedJson {
                    group_id: u.group_id.clone(),
                    group_name: u.group_name.clone(),
                    vpc_id: u.vpc_id.clone(),
                    place: u.place.clone(),
                })
                .collect(),
            selected: drift.selections.clone(),
            refused: plan.refused.clone(),
            truncated: None,
            errors: drift
                .errors
                .iter()
                .map(|e| ErrorJson {
                    stage: e.stage,
                    group_id: Some(e.group_id.clone()),
                    place: Some(e.place.clone()),
                    code: None,
                    message: e.message.clone(),
                })
                .collect(),
            summary: Summary::default(),
            default_mode: policy.map(|p| p.settings.default_mode),
        };
        report.summary.groups_checked = drift.groups.len();
        report.recount();
        report
    }

    /// One report of several runs over several accounts (each run's own report): their
    /// groups, missing and unmanaged groups and errors side by side, `accounts` listing
    /// them. The refusals of the change cap are per run; the first is kept. One run's
    /// report is returned as it is.
    pub fn merge(mut reports: Vec<Report>) -> Report {
        if reports.len() <= 1 {
            return reports.pop().unwrap_or_else(|| {
                Report::new(
                    TriggerInfo::manual(),
                    None,
                    &[],
                    &Drift::default(),
                    &Plan::default(),
                )
            });
        }
        let mut all = reports.remove(0);
        let mut accounts: Vec<String> = all.account.take().into_iter().collect();
        for r in reports {
            accounts.extend(r.account.clone());
            for region in r.regions {
                if !all.regions.contains(&region) {
                    all.regions.push(region);
                }
            }
            all.groups.extend(r.groups);
            all.missing_groups.extend(r.missing_groups);
            all.created_groups.extend(r.created_groups);
            all.unmanaged_groups.extend(r.unmanaged_groups);
            all.errors.extend(r.errors);
            for (k, n) in r.selected {
                *all.selected.entry(k).or_default() += n;
            }
            all.refused = all.refused.or(r.refused);
            all.summary.groups_checked += r.summary.groups_checked;
        }
        accounts.sort();
        accounts.dedup();
        all.accounts = accounts;
        all.recount();
        all
    }

    /// Recomputes the summary's counts from the groups (after actions changed status).
    pub fn recount(&mut self) {
        let s = &mut self.summary;
        s.groups_with_drift = self
            .groups
            .iter()
            .filter(|g| !g.missing.is_empty() || !g.extra.is_empty() || !g.descriptions.is_empty())
            .count();
        s.missing_rules = self.groups.iter().map(|g| g.missing.len()).sum();
        s.extra_rules = self.groups.iter().map(|g| g.extra.len()).sum();
        s.excepted_rules = self.groups.iter().map(|g| g.excepted.len()).sum();
        s.missing_groups = self.missing_groups.len();
        s.groups_created = self.created_groups.len();
        let actions = || self.groups.iter().flat_map(|g| g.actions.iter());
        let count = |op: Option<Op>, st: Status| {
            actions()
                .filter(|a| a.status == st && op.is_none_or(|o| a.op == o))
                .count()
        };
        s.planned = count(None, Status::Planned);
        s.authorized = count(Some(Op::Authorize), Status::Done);
        s.revoked = count(Some(Op::Revoke), Status::Done);
        s.descriptions_updated = count(Some(Op::UpdateDescription), Status::Done);
        s.failed = count(None, Status::Failed);
        s.skipped = count(None, Status::Skipped);
        s.groups_flapping = self.groups.iter().filter(|g| g.flapping.is_some()).count();
        s.violations = self.groups.iter().map(|g| g.violations.len()).sum();
        s.groups_with_violations = self
            .groups
            .iter()
            .filter(|g| !g.violations.is_empty())
            .count();
    }

    /// Whether any drift is reported (remaining, after a run that re-described groups).
    pub fn has_drift(&self) -> bool {
        !self.missing_groups.is_empty() || self.groups.iter().any(GroupReport::drift_remains)
    }

    /// The exit code class of this report: errors first, then drift.
    pub fn outcome(&self) -> Outcome {
        if !self.errors.is_empty() {
            Outcome::Error
        } else if self.has_drift() {
            Outcome::Drift
        } else {
            Outcome::Clean
        }
    }

    /// A place as the text reports write it: the region alone when it is in the
    /// report's account, else `ACCOUNT/REGION`.
    pub fn place_text(&self, place: &Place) -> String {
        if place.account.is_empty() || self.account.as_deref() == Some(place.account.as_str()) {
            place.region.clone()
        } else {
            place.to_string()
        }
    }

    /// The JSON contract, pretty-printed.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The pure path of a plan, for tests: drift, plan, report. No writes.
#[cfg(test)]
pub(crate) fn plan_report(
    policy: &Policy,
    inventory: &crate::inventory::Inventory,
    places: &[Place],
    today: chrono::NaiveDate,
    trigger: TriggerInfo,
    force_audit: bool,
) -> Report {
    let d = crate::drift::drift(policy, inventory, places, today);
    let p = crate::plan::plan(
        &d,
        crate::plan::PlanOptions {
            max_changes_per_run: policy.settings.max_changes_per_run,
            force_audit,
        },
    );
    Report::new(trigger, Some(policy), places, &d, &p)
}
