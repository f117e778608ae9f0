//! Drift: the policy's desired rules against the live groups, per group and managed
//! direction. Pure: no I/O and no clock (today's date is a parameter).
//!
//! Matching (policy-language.md, "Matching and regions"; docs/policy.md, "Selectors"): an
//! entry matches live groups by id when it has one, by its selector when it has one, else
//! by name, narrowed by VPC and regions. Of several entries matching one group, an `id`
//! entry governs it, then a `name` entry, then the `select` entry of highest priority; two
//! of the same rank are an error and the group is untouched. `self` and `sg:NAME` resolve
//! per live group (`sg:` of a select entry: every group it governs in the VPC and place).
//!
//! Guardrails are checked on every live group they select, governed by an entry or not.

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;

use crate::guardrail::{self, Guardrail, GuardrailMode, Severity};
use crate::inventory::{CurrentGroup, Inventory};
use crate::place::Place;
use crate::policy::{Exception, GroupPolicy, Mode, Policy, UnmanagedGroups};
use crate::rule::{DescribedRule, Direction, Peer, Rule};
use crate::select::Candidate;
use crate::stage::Stage;

/// An extra rule whose exception has expired: drift again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpiredException {
    pub rule: DescribedRule,
    pub owner: String,
    pub expires: NaiveDate,
}

/// A rule present on both sides whose descriptions differ (`compare_descriptions`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DescriptionDrift {
    pub rule: Rule,
    pub want: String,
    pub have: String,
}

/// How an entry came to govern a live group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub enum MatchedBy {
    Id,
    Name,
    /// By its selector, as written (`tags env=prod*`).
    Select(String),
}

impl std::fmt::Display for MatchedBy {
    /// `by id`, `by name`, `selected by tags env=prod*`: as reports say it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MatchedBy::Id => f.write_str("by id"),
            MatchedBy::Name => f.write_str("by name"),
            MatchedBy::Select(spec) => write!(f, "selected by {spec}"),
        }
    }
}

impl From<MatchedBy> for String {
    fn from(m: MatchedBy) -> String {
        m.to_string()
    }
}

/// A live rule that violates a guardrail.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Violation {
    pub severity: Severity,
    pub guardrail: String,
    pub rule: DescribedRule,
    /// Whether the guardrail revokes it (`enforce`).
    pub enforce: bool,
}

/// A violation an unexpired exception excuses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExceptedViolation {
    pub violation: Violation,
    pub owner: String,
    pub expires: NaiveDate,
}

/// A wanted rule that a guardrail selecting the group denies: it is never authorized.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denied {
    pub rule: Rule,
    pub guardrail: String,
}

/// One live group, governed by one policy entry or only by guardrails, and how it differs
/// from the policy.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupDrift {
    /// The entry that governs it; `None`: no entry does (it is here for its violations).
    pub key: Option<String>,
    /// Why that entry governs it.
    pub matched_by: Option<MatchedBy>,
    pub group_id: String,
    pub group_name: String,
    pub vpc_id: Option<String>,
    pub place: Place,
    /// The account that owns the group.
    pub owner_id: String,
    /// The entry's mode; `None` when no entry governs the group.
    pub mode: Option<Mode>,
    /// Directions the entry manages.
    pub managed: Vec<Direction>,
    /// Desired rules absent from the group. A peer still `sg:NAME` could not be resolved.
    pub missing: Vec<DescribedRule>,
    /// Live rules not desired and not excepted (expired exceptions included).
    pub extra: Vec<DescribedRule>,
    /// Extra rules that an unexpired exception allows.
    pub excepted: Vec<DescribedRule>,
    pub expired_exceptions: Vec<ExpiredException>,
    pub descriptions: Vec<DescriptionDrift>,
    /// Live rules that violate a guardrail selecting the group, most severe first.
    pub violations: Vec<Violation>,
    pub excepted_violations: Vec<ExceptedViolation>,
    /// Missing rules a guardrail denies.
    pub denied: Vec<Denied>,
}

impl GroupDrift {
    /// Anything that counts as drift for the exit code (excepted rules and excepted
    /// violations alone do not).
    pub fn has_drift(&self) -> bool {
        !self.missing.is_empty()
            || !self.extra.is_empty()
            || !self.descriptions.is_empty()
            || !self.violations.is_empty()
    }

    /// The guardrail that denies a missing rule, if one does.
    pub fn denied_by(&self, rule: &Rule) -> Option<&str> {
        self.denied
            .iter()
            .find(|d| d.rule == *rule)
            .map(|d| d.guardrail.as_str())
    }
}

/// A policy entry with no live group in a governed place.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct MissingGroup {
    pub key: String,
    pub place: Place,
    pub vpc_id: Option<String>,
}

/// A live group no entry matches (listed with `unmanaged_groups: report`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct UnmanagedGroup {
    pub group_id: String,
    pub group_name: String,
    pub vpc_id: Option<String>,
    pub place: Place,
}

/// A group that could not be evaluated, with why. It is left untouched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DriftError {
    pub stage: Stage,
    pub group_id: String,
    pub place: Place,
    pub message: String,
}

/// The drift of a whole estate.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Drift {
    /// Every governed group that was checked, clean ones included, in report order.
    pub groups: Vec<GroupDrift>,
    pub missing_groups: Vec<MissingGroup>,
    pub unmanaged_groups: Vec<UnmanagedGroup>,
    pub errors: Vec<DriftError>,
    /// Each `select` entry and how many live groups it governs (none is not missing).
    pub selections: BTreeMap<String, usize>,
}

impl Drift {
    pub fn has_drift(&self) -> bool {
        !self.missing_groups.is_empty() || self.groups.iter().any(GroupDrift::has_drift)
    }
}

/// The live groups each entry stands for in a place and VPC, for `sg:NAME`.
type Names<'a> = HashMap<(&'a str, &'a Place, Option<&'a str>), Vec<&'a str>>;

/// A desired or excepted peer resolved against one live group, into `out`: `self` is the
/// group, `sg:NAME` each group the entry stands for beside it (kept as written when there
/// is none), an own-account reference the same rule without the account.
fn resolve_into(peer: &Peer, group: &CurrentGroup, names: &Names<'_>, out: &mut Vec<Peer>) {
    let by_id = |id: &str| Peer::Group {
        account: None,
        id: id.to_string(),
    };
    match peer {
        Peer::SelfGroup => out.push(by_id(&group.group_id)),
        Peer::Named(key) => {
            match names.get(&(key.as_str(), &group.place, group.vpc_id.as_deref())) {
                Some(ids) if !ids.is_empty() => out.extend(ids.iter().map(|id| by_id(id))),
                _ => out.push(peer.clone()),
            }
        }
        Peer::Group {
            account: Some(a),
            id,
        } if *a == group.owner_id => out.push(by_id(id)),
        other => out.push(other.clone()),
    }
}

/// Whether a desired peer reads differently once the live group is known.
fn needs_resolution(peer: &Peer, group: &CurrentGroup) -> bool {
    match peer {
        Peer::SelfGroup | Peer::Named(_) => true,
        Peer::Group {
            account: Some(a), ..
        } => *a == group.owner_id,
        _ => false,
    }
}

/// A rule resolved against one live group: one rule per peer it resolves to.
fn resolve_rule(rule: &Rule, group: &CurrentGroup, names: &Names<'_>) -> Vec<Rule> {
    let mut peers = Vec::with_capacity(1);
    resolve_into(&rule.peer, group, names, &mut peers);
    peers
        .into_iter()
        .map(|peer| Rule {
            direction: rule.direction,
            protocol: rule.protocol,
            peer,
        })
        .collect()
}

/// What selectors look at in a live group.
pub fn candidate(g: &CurrentGroup) -> Candidate<'_> {
    Candidate {
        id: &g.group_id,
        name: &g.group_name,
        vpc: g.vpc_id.as_deref(),
        region: &g.place.region,
        account: &g.place.account,
        tags: &g.tags,
    }
}

/// Whether a policy entry matches a live group (by id, selector or name, VPC and region),
/// before precedence among entries.
pub fn entry_matches(entry: &GroupPolicy, g: &CurrentGroup) -> bool {
    let by_identity = match (&entry.id, &entry.select) {
        (Some(id), _) => *id == g.group_id,
        (None, Some(s)) => s.matches(&candidate(g)),
        (None, None) => entry.name == g.group_name,
    };
    by_identity && entry_narrowing(entry, g.vpc_id.as_deref(), &g.place)
}

/// Whether a place and VPC are within an entry's `vpc:`, `regions:` and `accounts:`.
fn entry_narrowing(entry: &GroupPolicy, vpc: Option<&str>, place: &Place) -> bool {
    entry.vpc.as_deref().is_none_or(|v| Some(v) == vpc) && entry_in(entry, place)
}

/// Whether an entry applies in a place (its `regions:` and `accounts:`, when it has them).
fn entry_in(entry: &GroupPolicy, place: &Place) -> bool {
    (entry.regions.is_empty() || entry.regions.contains(&place.region))
        && (entry.accounts.is_empty() || entry.accounts.contains(&place.account))
}

/// How an entry came to govern a group.
fn matched_by(entry: &GroupPolicy) -> MatchedBy {
    match (&entry.id, &entry.select) {
        (Some(_), _) => MatchedBy::Id,
        (None, Some(s)) => MatchedBy::Select(s.spec().to_string()),
        (None, None) => MatchedBy::Name,
    }
}

/// The entries matching one live group, and which one governs it: an `id` entry, then a
/// `name` entry, then the `select` entry of highest priority. `Err` names the entries of
/// the same rank that tie.
fn governing<'p>(matching: &[&'p GroupPolicy]) -> Result<Option<&'p GroupPolicy>, Vec<String>> {
    let rank = |e: &GroupPolicy| match (&e.id, &e.select) {
        (Some(_), _) => (2, 0),
        (None, None) => (1, 0),
        (None, Some(_)) => (0, e.priority),
    };
    let Some(best) = matching.iter().map(|e| rank(e)).max() else {
        return Ok(None);
    };
    let top: Vec<&GroupPolicy> = matching
        .iter()
        .copied()
        .filter(|e| rank(e) == best)
        .collect();
    match top.as_slice() {
        [one] => Ok(Some(one)),
        several => Err(several.iter().map(|e| format!("`{}`", e.key)).collect()),
    }
}

/// Computes the drift of `inventory` against `policy` in the governed `places`, as of
/// `today` (for exception expiry). Live groups of other places are ignored.
pub fn drift<'p>(
    policy: &'p Policy,
    inventory: &'p Inventory,
    places: &[Place],
    today: NaiveDate,
) -> Drift {
    let governed: HashSet<&Place> = places.iter().collect();
    let live: Vec<&CurrentGroup> = inventory
        .groups
        .iter()
        .filter(|g| governed.contains(&g.place))
        .collect();

    // Index entries by id and by name for matching; select entries are tried on each.
    let entries = policy.groups.len();
    let mut by_id: HashMap<&str, Vec<&GroupPolicy>> = HashMap::default();
    let mut by_name: HashMap<&str, Vec<&GroupPolicy>> =
        HashMap::with_capacity_and_hasher(entries, Default::default());
    let mut selecting: Vec<&GroupPolicy> = Vec::new();
    for e in policy.groups.values() {
        match (&e.id, &e.select) {
            (Some(id), _) => by_id.entry(id.as_str()).or_default().push(e),
            (None, Some(_)) => selecting.push(e),
            (None, None) => by_name.entry(e.name.as_str()).or_default().push(e),
        }
    }

    let mut out = Drift {
        selections: selecting.iter().map(|e| (e.key.clone(), 0)).collect(),
        ..Drift::default()
    };
    let mut matched: Vec<(&GroupPolicy, &CurrentGroup)> = Vec::with_capacity(live.len());
    let mut unmanaged: Vec<&CurrentGroup> = Vec::new();
    // The groups each entry stands for, by (entry key, place, vpc), for `sg:NAME`.
    let mut names: Names<'_> = HashMap::with_capacity_and_hasher(live.len(), Default::default());
    // (entry key, place) that have a live group: those entries are not missing there.
    let mut seen: HashSet<(&str, &Place)> =
        HashSet::with_capacity_and_hasher(live.len(), Default::default());
    for u in &inventory.unreadable {
        if governed.contains(&u.place) {
            out.errors.push(DriftError {
                stage: Stage::Inventory,
                group_id: u.group_id.clone(),
                place: u.place.clone(),
                message: u.message.clone(),
            });
            // It exists: its entry is not missing (and is never created a second time).
            for e in policy.groups.values() {
                let by_identity = match &e.id {
                    Some(id) => *id == u.group_id,
                    None => e.select.is_none() && e.name == u.group_name,
                };
                if by_identity && entry_narrowing(e, u.vpc_id.as_deref(), &u.place) {
                    seen.insert((e.key.as_str(), &u.place));
                }
            }
        }
    }
    for g in &live {
        let mut entries: Vec<&GroupPolicy> = Vec::new();
        for list in [
            by_id.get(g.group_id.as_str()),
            by_name.get(g.group_name.as_str()),
            Some(&selecting),
        ]
        .into_iter()
        .flatten()
        {
            entries.extend(list.iter().copied().filter(|e| entry_matches(e, g)));
        }
        let place_vpc = |e: &'p GroupPolicy| (e.key.as_str(), &g.place, g.vpc_id.as_deref());
        for e in entries.iter().filter(|e| e.select.is_none()) {
            names.entry(place_vpc(e)).or_default().push(&g.group_id);
            seen.insert((e.key.as_str(), &g.place));
        }
        match governing(&entries) {
            Ok(None) => unmanaged.push(g),
            Ok(Some(one)) => {
                if one.select.is_some() {
                    names.entry(place_vpc(one)).or_default().push(&g.group_id);
                    if let Some(n) = out.selections.get_mut(&one.key) {
                        *n += 1;
                    }
                }
                matched.push((one, g));
            }
            Err(keys) => out.errors.push(DriftError {
                stage: Stage::Policy,
                group_id: g.group_id.clone(),
                place: g.place.clone(),
                message: format!(
                    "group `{}` is matched by entries {}; it is left untouched",
                    g.group_name,
                    keys.join(" and ")
                ),
            }),
        }
    }

    let mut exceptions: HashMap<&str, Vec<&Exception>> = HashMap::default();
    for e in &policy.exceptions {
        if let (Some(group), None) = (&e.group, &e.guardrail) {
            exceptions.entry(group.as_str()).or_default().push(e);
        }
    }

    for (entry, g) in matched {
        let mut d = group_drift(
            entry,
            g,
            &names,
            exceptions
                .get(entry.key.as_str())
                .map_or(&[][..], Vec::as_slice),
            policy.settings.compare_descriptions,
            today,
        );
        check_guardrails(policy, g, &mut d, today);
        for denied in &d.denied {
            out.errors.push(DriftError {
                stage: Stage::Policy,
                group_id: d.group_id.clone(),
                place: d.place.clone(),
                message: format!(
                    "`{}` is wanted by groups.{} but denied by guardrail `{}`; it is not authorized",
                    denied.rule, entry.key, denied.guardrail
                ),
            });
        }
        out.groups.push(d);
    }
    for g in unmanaged {
        let mut d = bare(g);
        check_guardrails(policy, g, &mut d, today);
        if !d.violations.is_empty() || !d.excepted_violations.is_empty() {
            out.groups.push(d);
        }
        if policy.settings.unmanaged_groups == UnmanagedGroups::Report {
            out.unmanaged_groups.push(UnmanagedGroup {
                group_id: g.group_id.clone(),
                group_name: g.group_name.clone(),
                vpc_id: g.vpc_id.clone(),
                place: g.place.clone(),
            });
        }
    }

    let mut all_places: Vec<&Place> = governed.iter().copied().collect();
    all_places.sort_unstable();
    // A select entry is never missing: it stands for whatever it selects.
    for e in policy.groups.values().filter(|e| e.select.is_none()) {
        for p in &all_places {
            if entry_in(e, p) && !seen.contains(&(e.key.as_str(), *p)) {
                out.missing_groups.push(MissingGroup {
                    key: e.key.clone(),
                    place: (*p).clone(),
                    vpc_id: e.vpc.clone(),
                });
            }
        }
    }

    out.groups.sort_by(|a, b| {
        (&a.place, &a.vpc_id, &a.key, &a.group_id).cmp(&(&b.place, &b.vpc_id, &b.key, &b.group_id))
    });
    out.missing_groups
        .sort_by(|a, b| (&a.place, &a.vpc_id, &a.key).cmp(&(&b.place, &b.vpc_id, &b.key)));
    out.unmanaged_groups.sort_by(|a, b| {
        (&a.place, &a.vpc_id, &a.group_id).cmp(&(&b.place, &b.vpc_id, &b.group_id))
    });
    out.errors.sort_by(|a, b| {
        (&a.place, &a.group_id, &a.message).cmp(&(&b.place, &b.group_id, &b.message))
    });
    out
}

/// A live group before any comparison: no entry, nothing found yet.
fn bare(g: &CurrentGroup) -> GroupDrift {
    GroupDrift {
        key: None,
        matched_by: None,
        group_id: g.group_id.clone(),
        group_name: g.group_name.clone(),
        vpc_id: g.vpc_id.clone(),
        place: g.place.clone(),
        owner_id: g.owner_id.clone(),
        mode: None,
        managed: Vec::new(),
        missing: Vec::new(),
        extra: Vec::new(),
        excepted: Vec::new(),
        expired_exceptions: Vec::new(),
        descriptions: Vec::new(),
        violations: Vec::new(),
        excepted_violations: Vec::new(),
        denied: Vec::new(),
    }
}

/// The guardrails selecting `g` against its live rules (violations, excepted or not) and
/// against the rules `d` is missing (those a guardrail denies).
fn check_guardrails(policy: &Policy, g: &CurrentGroup, d: &mut GroupDrift, today: NaiveDate) {
    if policy.guardrails.is_empty() {
        return;
    }
    let who = candidate(g);
    for rail in policy.guardrails.iter().filter(|r| r.selects(&who)) {
        // Unexpired exceptions of this guardrail that hold in this group.
        let excuses: Vec<&Exception> = policy
            .exceptions
            .iter()
            .filter(|e| {
                e.guardrail.as_deref() == Some(rail.id.as_str())
                    && e.is_active(today)
                    && e.holds_in(&g.place.account)
                    && (e.group.is_some() && e.group == d.key
                        || e.select.as_ref().is_some_and(|s| s.matches(&who)))
            })
            .collect();
        let excused_by = |direction: Direction, index: usize, rules: &[DescribedRule]| {
            excuses.iter().copied().find(|e| {
                e.patterns.iter().any(|p| {
                    p.direction == direction
                        && guardrail::violations(p, &g.group_id, rules).contains(&index)
                })
            })
        };
        for (direction, index) in rail.violations(&g.group_id, &g.ingress, &g.egress) {
            let rules = g.rules(direction);
            let v = violation(rail, &rules[index]);
            match excused_by(direction, index, rules) {
                Some(e) => d.excepted_violations.push(ExceptedViolation {
                    violation: v,
                    owner: e.owner.clone(),
                    expires: e.expires,
                }),
                None => d.violations.push(v),
            }
        }
        for m in &d.missing {
            let one = std::slice::from_ref(m);
            let denied = rail.denies(&g.group_id, m)
                && excused_by(m.rule.direction, 0, one).is_none()
                && !d.denied.iter().any(|x| x.rule == m.rule);
            if denied {
                d.denied.push(Denied {
                    rule: m.rule.clone(),
                    guardrail: rail.id.clone(),
                });
            }
        }
    }
    d.violations.sort();
    d.excepted_violations
        .sort_by(|a, b| a.violation.cmp(&b.violation));
}

fn violation(rail: &Guardrail, rule: &DescribedRule) -> Violation {
    Violation {
        severity: rail.severity,
        guardrail: rail.id.clone(),
        rule: rule.clone(),
        enforce: rail.mode == GuardrailMode::Enforce,
    }
}

fn group_drift(
    entry: &GroupPolicy,
    g: &CurrentGroup,
    names: &Names<'_>,
    exceptions: &[&Exception],
    compare_descriptions: bool,
    today: NaiveDate,
) -> GroupDrift {
    let mut d = GroupDrift {
        key: Some(entry.key.clone()),
        matched_by: Some(matched_by(entry)),
        mode: Some(entry.mode),
        ..bare(g)
    };
    // Exceptions resolved against this group: rule -> the exception that allows it.
    let mut allowed: HashMap<Rule, &Exception> = HashMap::default();
    for e in exceptions.iter().filter(|e| e.holds_in(&g.place.account)) {
        for r in &e.rules {
            for resolved in resolve_rule(r, g, names) {
                // Of several exceptions for one rule, the one that lasts longest counts.
                let slot = allowed.entry(resolved).or_insert(e);
                if e.expires > slot.expires {
                    *slot = e;
                }
            }
        }
    }
    for direction in Direction::BOTH {
        let Some(wanted) = entry.rules(direction) else {
            continue;
        };
        d.managed.push(direction);
        // Desired rules resolved against this group. `wanted` is sorted and without
        // duplicates; only `self`, `sg:NAME` and own-account references change on
        // resolution, and only then is a re-sort needed.
        let mut desired: Vec<(Cow<'_, Rule>, &Option<String>)> = Vec::with_capacity(wanted.len());
        let mut resolved = false;
        for w in wanted {
            if needs_resolution(&w.rule.peer, g) {
                resolved = true;
                desired.extend(
                    resolve_rule(&w.rule, g, names)
                        .into_iter()
                        .map(|r| (Cow::Owned(r), &w.description)),
                );
            } else {
                desired.push((Cow::Borrowed(&w.rule), &w.description));
            }
        }
        if resolved {
            desired.sort_by(|a, b| a.0.cmp(&b.0));
            desired.dedup_by(|later, kept| {
                let same = later.0 == kept.0;
                if same && kept.1.is_none() {
                    kept.1 = later.1;
                }
                same
            });
        }
        // INVARIANT: `live` is sorted by rule without duplicate rules (inventory::split).
        let live = g.rules(direction);
        let (mut i, mut j) = (0, 0);
        while i < desired.len() || j < live.len() {
            let order = match (desired.get(i), live.get(j)) {
                (Some(w), Some(h)) => w.0.as_ref().cmp(&h.rule),
                (Some(_), None) => Ordering::Less,
                (None, _) => Ordering::Greater,
            };
            match order {
                Ordering::Less => {
                    let (rule, description) = &desired[i];
                    d.missing.push(DescribedRule {
                        rule: rule.as_ref().clone(),
                        description: (*description).clone(),
                    });
                    i += 1;
                }
                Ordering::Greater => {
                    let have = &live[j];
                    match allowed.get(&have.rule) {
                        Some(e) if e.is_active(today) => d.excepted.push(have.clone()),
                        Some(e) => {
                            d.expired_exceptions.push(ExpiredException {
                                rule: have.clone(),
                                owner: e.owner.clone(),
                                expires: e.expires,
                            });
                            d.extra.push(have.clone());
                        }
                        None => d.extra.push(have.clone()),
                    }
                    j += 1;
                }
                Ordering::Equal => {
                    let have = &live[j];
                    if compare_descriptions {
                        let want = desired[i].1.as_deref().unwrap_or("");
                        let have_d = have.description.as_deref().unwrap_or("");
                        if want != have_d {
                            d.descriptions.push(DescriptionDrift {
                                rule: have.rule.clone(),
                                want: want.to_string(),
                                have: have_d.to_string(),
                            });
                        }
                    }
                    i += 1;
                    j += 1;
                }
            }
        }
    }
    d.missing.sort();
    d.extra.sort();
    d.excepted.sort();
    d
}

#[cfg(test)]
mod tests;
