//! Drift: the policy's desired rules against the live groups, per group and managed
//! direction. Pure: no I/O and no clock (today's date is a parameter).
//!
//! Matching (policy-language.md, "Matching and regions"): an entry matches live groups by
//! id when it has one, else by name, narrowed by VPC and regions. `self` and `sg:NAME`
//! resolve per live group; a live group matched by two entries is an error and untouched.

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::borrow::Cow;
use std::cmp::Ordering;

use chrono::NaiveDate;

use crate::inventory::{CurrentGroup, Inventory};
use crate::place::Place;
use crate::policy::{Exception, GroupPolicy, Mode, Policy, UnmanagedGroups};
use crate::rule::{DescribedRule, Direction, Peer, Rule};
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

/// One live group governed by one policy entry, and how it differs from the policy.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupDrift {
    pub key: String,
    pub group_id: String,
    pub group_name: String,
    pub vpc_id: Option<String>,
    pub place: Place,
    /// The account that owns the group.
    pub owner_id: String,
    pub mode: Mode,
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
}

impl GroupDrift {
    /// Anything that counts as drift for the exit code (excepted rules alone do not).
    pub fn has_drift(&self) -> bool {
        !self.missing.is_empty() || !self.extra.is_empty() || !self.descriptions.is_empty()
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
}

impl Drift {
    pub fn has_drift(&self) -> bool {
        !self.missing_groups.is_empty() || self.groups.iter().any(GroupDrift::has_drift)
    }
}

fn resolve(
    peer: &Peer,
    group: &CurrentGroup,
    names: &HashMap<(&str, &Place, Option<&str>), &str>,
) -> Peer {
    match peer {
        Peer::SelfGroup => Peer::Group {
            account: None,
            id: group.group_id.clone(),
        },
        Peer::Named(key) => {
            match names.get(&(key.as_str(), &group.place, group.vpc_id.as_deref())) {
                Some(id) => Peer::Group {
                    account: None,
                    id: (*id).to_string(),
                },
                None => peer.clone(),
            }
        }
        // A reference that names the group's own account is the same rule without it.
        Peer::Group {
            account: Some(a),
            id,
        } if *a == group.owner_id => Peer::Group {
            account: None,
            id: id.clone(),
        },
        other => other.clone(),
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

fn resolve_rule(
    rule: &Rule,
    group: &CurrentGroup,
    names: &HashMap<(&str, &Place, Option<&str>), &str>,
) -> Rule {
    Rule {
        direction: rule.direction,
        protocol: rule.protocol,
        peer: resolve(&rule.peer, group, names),
    }
}

/// Whether a policy entry governs a live group (by id or name, VPC and region).
pub fn entry_matches(entry: &GroupPolicy, g: &CurrentGroup) -> bool {
    entry_matches_identity(entry, &g.group_id, &g.group_name, g.vpc_id.as_deref())
        && entry_in(entry, &g.place)
}

/// Whether a policy entry applies in a place (its `regions:`, when it has any).
fn entry_in(entry: &GroupPolicy, place: &Place) -> bool {
    entry.regions.is_empty() || entry.regions.contains(&place.region)
}

/// Whether a policy entry names a group by its id or name, and VPC.
fn entry_matches_identity(entry: &GroupPolicy, id: &str, name: &str, vpc: Option<&str>) -> bool {
    let by_identity = match &entry.id {
        Some(entry_id) => entry_id == id,
        None => entry.name == name,
    };
    by_identity && entry.vpc.as_deref().is_none_or(|v| Some(v) == vpc)
}

/// Computes the drift of `inventory` against `policy` in the governed `places`, as of
/// `today` (for exception expiry). Live groups of other places are ignored.
pub fn drift(policy: &Policy, inventory: &Inventory, places: &[Place], today: NaiveDate) -> Drift {
    let governed: HashSet<&Place> = places.iter().collect();
    let live: Vec<&CurrentGroup> = inventory
        .groups
        .iter()
        .filter(|g| governed.contains(&g.place))
        .collect();

    // Index entries by id and by name for matching.
    let entries = policy.groups.len();
    let mut by_id: HashMap<&str, Vec<&GroupPolicy>> = HashMap::default();
    let mut by_name: HashMap<&str, Vec<&GroupPolicy>> =
        HashMap::with_capacity_and_hasher(entries, Default::default());
    for e in policy.groups.values() {
        match &e.id {
            Some(id) => by_id.entry(id.as_str()).or_default().push(e),
            None => by_name.entry(e.name.as_str()).or_default().push(e),
        }
    }

    let mut out = Drift::default();
    let mut matched: Vec<(&GroupPolicy, &CurrentGroup)> = Vec::with_capacity(live.len());
    // (entry key, place, vpc) that have a live group, for sg:NAME and missing groups.
    let mut names: HashMap<(&str, &Place, Option<&str>), &str> =
        HashMap::with_capacity_and_hasher(live.len(), Default::default());
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
                if entry_matches_identity(e, &u.group_id, &u.group_name, u.vpc_id.as_deref())
                    && entry_in(e, &u.place)
                {
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
        ]
        .into_iter()
        .flatten()
        {
            entries.extend(list.iter().copied().filter(|e| entry_matches(e, g)));
        }
        for e in &entries {
            names.insert(
                (e.key.as_str(), &g.place, g.vpc_id.as_deref()),
                g.group_id.as_str(),
            );
            seen.insert((e.key.as_str(), &g.place));
        }
        match entries.as_slice() {
            [] => {
                if policy.settings.unmanaged_groups == UnmanagedGroups::Report {
                    out.unmanaged_groups.push(UnmanagedGroup {
                        group_id: g.group_id.clone(),
                        group_name: g.group_name.clone(),
                        vpc_id: g.vpc_id.clone(),
                        place: g.place.clone(),
                    });
                }
            }
            [one] => matched.push((one, g)),
            several => {
                let keys: Vec<String> = several.iter().map(|e| format!("`{}`", e.key)).collect();
                out.errors.push(DriftError {
                    stage: Stage::Policy,
                    group_id: g.group_id.clone(),
                    place: g.place.clone(),
                    message: format!(
                        "group `{}` is matched by entries {}; it is left untouched",
                        g.group_name,
                        keys.join(" and ")
                    ),
                });
            }
        }
    }

    let mut exceptions: HashMap<&str, Vec<&Exception>> = HashMap::default();
    for e in &policy.exceptions {
        exceptions.entry(e.group.as_str()).or_default().push(e);
    }

    for (entry, g) in matched {
        out.groups.push(group_drift(
            entry,
            g,
            &names,
            exceptions
                .get(entry.key.as_str())
                .map_or(&[][..], Vec::as_slice),
            policy.settings.compare_descriptions,
            today,
        ));
    }

    let mut all_places: Vec<&Place> = governed.iter().copied().collect();
    all_places.sort_unstable();
    for e in policy.groups.values() {
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

fn group_drift(
    entry: &GroupPolicy,
    g: &CurrentGroup,
    names: &HashMap<(&str, &Place, Option<&str>), &str>,
    exceptions: &[&Exception],
    compare_descriptions: bool,
    today: NaiveDate,
) -> GroupDrift {
    let mut d = GroupDrift {
        key: entry.key.clone(),
        group_id: g.group_id.clone(),
        group_name: g.group_name.clone(),
        vpc_id: g.vpc_id.clone(),
        place: g.place.clone(),
        owner_id: g.owner_id.clone(),
        mode: entry.mode,
        managed: Vec::new(),
        missing: Vec::new(),
        extra: Vec::new(),
        excepted: Vec::new(),
        expired_exceptions: Vec::new(),
        descriptions: Vec::new(),
    };
    // Exceptions resolved against this group: rule -> the exception that allows it.
    let mut allowed: HashMap<Rule, &Exception> = HashMap::default();
    for e in exceptions {
        for r in &e.rules {
            let resolved = resolve_rule(r, g, names);
            // Of several exceptions for one rule, the one that lasts longest counts.
            let slot = allowed.entry(resolved).or_insert(e);
            if e.expires > slot.expires {
                *slot = e;
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
        let mut desired: Vec<(Cow<'_, Rule>, &Option<String>)> = wanted
            .iter()
            .map(|w| {
                let rule = if needs_resolution(&w.rule.peer, g) {
                    Cow::Owned(resolve_rule(&w.rule, g, names))
                } else {
                    Cow::Borrowed(&w.rule)
                };
                (rule, &w.description)
            })
            .collect();
        if desired.iter().any(|(r, _)| matches!(r, Cow::Owned(_))) {
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
