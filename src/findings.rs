//! A run's findings for AWS Security Hub: what stays open after the run, one finding per
//! group and kind, and the resolution of what no longer is.
//!
//! The stage reads the run's report (after verify), never the drift: a finding says what
//! is open once sgwarden has done what it may. Its id is stable forever:
//! `sgwarden/{partition}/{account}/{region}/{group-id}/{kind}[/{guardrail}]` (a missing
//! group has its entry's key where the group id would be). [`sync`] compares the run's
//! open findings with the active ones Security Hub holds for the run's scope and gives
//! what to import: new or changed findings, unchanged ones not refreshed for
//! [`REFRESH_DAYS`], and the resolution (PASSED, ARCHIVED) of each active finding in
//! scope that the run did not find again. The SDK adapter (`aws/securityhub.rs`) turns
//! them into ASFF.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};

use crate::guardrail::Severity;
use crate::place::Place;
use crate::policy::Mode;
use crate::report::{GroupReport, Report, RuleJson, ViolationJson};
use crate::stage::Stage;

/// Security Hub's limit on a finding's `Description`, in characters.
pub const DESCRIPTION_CHARS: usize = 1024;
/// Security Hub's limit on one `ProductFields` value, in characters.
pub const FIELD_CHARS: usize = 2048;
/// Findings per `BatchImportFindings` call (Security Hub takes at most 100).
pub const BATCH: usize = 100;
/// An open finding that did not change is imported again after this many days, well
/// inside Security Hub's 90-day expiry of findings not updated.
pub const REFRESH_DAYS: i64 = 7;
/// The most active findings read back for one account and region (100 pages of
/// `GetFindings`); past it the run imports its findings but resolves none, and says so.
pub const ACTIVE_LIMIT: usize = 10_000;

/// The `Types` of every finding (the ASFF taxonomy).
pub const NETWORK_REACHABILITY: &str =
    "Software and Configuration Checks/AWS Security Best Practices/Network Reachability";
const CIS: &str = "Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark";
const FSBP: &str = "Software and Configuration Checks/Industry and Regulatory Standards/AWS-Foundational-Security-Best-Practices";

/// What a finding is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// A guardrail's violations in one group (one finding per guardrail).
    Violation,
    /// Missing and extra rules that remain in a governed group.
    Drift,
    /// A group sgwarden stopped reverting (the loop breaker).
    Flapping,
    /// A declared group that does not exist.
    Missing,
}

impl Kind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::Violation => "violation",
            Kind::Drift => "drift",
            Kind::Flapping => "flapping",
            Kind::Missing => "missing",
        }
    }

    fn parse(s: &str) -> Option<Kind> {
        [Kind::Violation, Kind::Drift, Kind::Flapping, Kind::Missing]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// A finding's subject: a live group, or the entry of a missing one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    Group {
        group_id: String,
        group_name: String,
        vpc_id: Option<String>,
    },
    /// A declared group that does not exist, named by its entry's key.
    Entry { key: String },
}

impl Subject {
    /// What stands in the finding's id: the group id, or the entry's key.
    pub fn id_part(&self) -> &str {
        match self {
            Subject::Group { group_id, .. } => group_id,
            Subject::Entry { key } => key,
        }
    }
}

/// One finding, open (FAILED, ACTIVE) or resolved (PASSED, ARCHIVED).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub id: String,
    pub place: Place,
    pub subject: Subject,
    pub kind: Kind,
    pub guardrail: Option<String>,
    pub severity: Severity,
    pub title: String,
    /// At most [`DESCRIPTION_CHARS`].
    pub description: String,
    pub types: Vec<&'static str>,
    pub recommendation: String,
    /// `ProductFields`, each value at most [`FIELD_CHARS`].
    pub fields: BTreeMap<String, String>,
    pub open: bool,
    /// When sgwarden first found it (kept across imports).
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An active sgwarden finding as Security Hub holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Existing {
    pub id: String,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    /// `ProductFields["sgwarden/fingerprint"]`: what the finding said, hashed.
    pub fingerprint: Option<String>,
}

/// What one run may import and resolve in one account and region.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    pub place: Place,
    /// The groups a CloudTrail run checked; `None`: the whole place (a sweep).
    pub groups: Option<BTreeSet<String>>,
    /// Groups that could not be read: their findings are left as they are.
    pub unread: BTreeSet<String>,
}

impl Scope {
    /// The prefix of every finding id of its place.
    pub fn prefix(&self) -> String {
        id_prefix(&self.place)
    }

    /// Whether the finding `id` is this run's to import or resolve.
    pub fn holds(&self, id: &str) -> bool {
        id.strip_prefix(&self.prefix())
            .and_then(|rest| rest.split('/').next())
            .is_some_and(|subject| self.covers(subject))
    }

    /// Whether the run checked the group (or the entry) `subject` and read it.
    fn covers(&self, subject: &str) -> bool {
        !self.unread.contains(subject) && self.groups.as_ref().is_none_or(|g| g.contains(subject))
    }
}

fn id_prefix(place: &Place) -> String {
    format!(
        "sgwarden/{}/{}/{}/",
        place.partition(),
        place.account,
        place.region
    )
}

/// The id of a finding: `sgwarden/{partition}/{account}/{region}/{subject}/{kind}[/{guardrail}]`.
pub fn id(place: &Place, subject: &str, kind: Kind, guardrail: Option<&str>) -> String {
    let mut id = format!("{}{subject}/{}", id_prefix(place), kind.as_str());
    if let Some(g) = guardrail {
        id.push('/');
        id.push_str(g);
    }
    id
}

/// The places whose findings a run may touch, and how far: none when the run was
/// refused or its policy did not load; a place whose groups could not be read is left
/// out; a CloudTrail run holds only its groups.
pub fn scopes(report: &Report) -> Vec<Scope> {
    if report.refused.is_some() || report.policy.is_none() {
        return Vec::new();
    }
    let Some(account) = report.account.as_deref().filter(|a| !a.is_empty()) else {
        return Vec::new();
    };
    let groups = report
        .trigger
        .group_ids
        .as_ref()
        .map(|ids| ids.iter().cloned().collect::<BTreeSet<_>>());
    let mut out = Vec::new();
    for region in &report.regions {
        let place = Place::new(account, region.as_str());
        let mut unread = BTreeSet::new();
        let mut whole_place_failed = false;
        for e in &report.errors {
            if !matches!(e.stage, Stage::Inventory | Stage::Policy | Stage::Verify) {
                continue;
            }
            if e.place.as_ref().is_some_and(|p| p != &place) {
                continue;
            }
            match &e.group_id {
                Some(g) => {
                    unread.insert(g.clone());
                }
                None => whole_place_failed = true,
            }
        }
        if !whole_place_failed {
            out.push(Scope {
                place,
                groups: groups.clone(),
                unread,
            });
        }
    }
    out
}

/// The run's open findings in `scope`, from its report.
pub fn open(report: &Report, scope: &Scope, now: DateTime<Utc>) -> Vec<Finding> {
    let version = report
        .policy
        .as_ref()
        .map(|p| p.version_id.clone().unwrap_or_else(|| p.sha256.clone()))
        .unwrap_or_default();
    let mut out = Vec::new();
    for g in &report.groups {
        let Some(group_id) = g.group_id.as_deref() else {
            continue;
        };
        if g.place != scope.place || !scope.covers(group_id) {
            continue;
        }
        let subject = Subject::Group {
            group_id: group_id.to_string(),
            group_name: g.group_name.clone(),
            vpc_id: g.vpc_id.clone(),
        };
        let base = Base {
            place: &scope.place,
            subject: &subject,
            group: Some(g),
            version: &version,
            now,
        };
        out.extend(violation_findings(&base, g));
        if let Some(f) = drift_finding(&base, g) {
            out.push(f);
        }
        if let Some(f) = flapping_finding(&base, g) {
            out.push(f);
        }
    }
    if scope.groups.is_none() {
        for m in &report.missing_groups {
            if m.place != scope.place {
                continue;
            }
            let subject = Subject::Entry { key: m.key.clone() };
            let base = Base {
                place: &scope.place,
                subject: &subject,
                group: None,
                version: &version,
                now,
            };
            let mut fields = base.fields(Kind::Missing, None, &[]);
            fields.insert("sgwarden/entry".into(), m.key.clone());
            out.push(base.finding(
                Kind::Missing,
                None,
                Severity::Low,
                format!("Declared security group `{}` does not exist", m.key),
                format!(
                    "The policy declares the group `{}` in {}{}, and no such group exists there.",
                    m.key,
                    scope.place,
                    m.vpc_id
                        .as_deref()
                        .map(|v| format!(" (VPC {v})"))
                        .unwrap_or_default()
                ),
                format!(
                    "Create the group, set `create: true` on the entry `{}` to have sgwarden create it, or remove the entry.",
                    m.key
                ),
                fields,
            ));
        }
    }
    out
}

/// What every finding of one subject shares.
struct Base<'a> {
    place: &'a Place,
    subject: &'a Subject,
    group: Option<&'a GroupReport>,
    version: &'a str,
    now: DateTime<Utc>,
}

impl Base<'_> {
    fn fields(
        &self,
        kind: Kind,
        guardrail: Option<&str>,
        rules: &[String],
    ) -> BTreeMap<String, String> {
        let mut f = BTreeMap::new();
        f.insert("sgwarden/kind".into(), kind.as_str().into());
        f.insert("sgwarden/policy-version".into(), self.version.to_string());
        if let Some(g) = self.group {
            f.insert("sgwarden/mode".into(), g.mode_text().into());
            f.insert("sgwarden/entry".into(), g.key_text().into());
        }
        if let Some(g) = guardrail {
            f.insert("sgwarden/guardrail".into(), g.into());
        }
        if !rules.is_empty() {
            f.insert("sgwarden/rules-total".into(), rules.len().to_string());
            f.insert("sgwarden/rules".into(), bounded_list(rules, FIELD_CHARS));
        }
        f
    }

    #[allow(clippy::too_many_arguments)]
    fn finding(
        &self,
        kind: Kind,
        guardrail: Option<&str>,
        severity: Severity,
        title: String,
        description: String,
        recommendation: String,
        mut fields: BTreeMap<String, String>,
    ) -> Finding {
        let id = id(self.place, self.subject.id_part(), kind, guardrail);
        let mut types = vec![NETWORK_REACHABILITY];
        match guardrail {
            Some("world-admin-ports") => types.extend([CIS, FSBP]),
            Some("default-group-closed") => types.extend([FSBP, CIS]),
            Some("world-high-risk-ports") => types.push(FSBP),
            _ => {}
        }
        let description = bounded(&description, DESCRIPTION_CHARS);
        let fingerprint = fingerprint(&[
            kind.as_str(),
            guardrail.unwrap_or(""),
            severity.as_str(),
            &title,
            &description,
            &recommendation,
            fields.get("sgwarden/mode").map_or("", String::as_str),
            fields.get("sgwarden/rules").map_or("", String::as_str),
        ]);
        fields.insert("sgwarden/fingerprint".into(), fingerprint);
        Finding {
            id,
            place: self.place.clone(),
            subject: self.subject.clone(),
            kind,
            guardrail: guardrail.map(str::to_string),
            severity,
            title,
            description,
            types,
            recommendation: bounded(&recommendation, 512),
            fields,
            open: true,
            created_at: self.now,
            updated_at: self.now,
        }
    }
}

fn texts(rules: &[&RuleJson]) -> Vec<String> {
    let mut v: Vec<String> = rules.iter().map(|r| r.text.clone()).collect();
    v.sort();
    v.dedup();
    v
}

fn violation_findings(base: &Base<'_>, g: &GroupReport) -> Vec<Finding> {
    let violations: &[ViolationJson] = match &g.after {
        Some(a) => &a.violations,
        None => &g.violations,
    };
    let mut by_guardrail: BTreeMap<&str, (Severity, Vec<&RuleJson>)> = BTreeMap::new();
    for v in violations {
        let e = by_guardrail
            .entry(v.guardrail.as_str())
            .or_insert((v.severity, Vec::new()));
        e.0 = e.0.min(v.severity);
        e.1.push(&v.rule);
    }
    by_guardrail
        .into_iter()
        .map(|(guardrail, (severity, rules))| {
            let rules = texts(&rules);
            let fields = base.fields(Kind::Violation, Some(guardrail), &rules);
            base.finding(
                Kind::Violation,
                Some(guardrail),
                severity,
                format!(
                    "Security group {} violates guardrail {guardrail}",
                    g.group_name
                ),
                format!(
                    "{} rule{} of {} ({}) in {} violate{} the guardrail `{guardrail}`: {}",
                    rules.len(),
                    plural(rules.len()),
                    g.group_name,
                    base.subject.id_part(),
                    base.place,
                    if rules.len() == 1 { "s" } else { "" },
                    rules.join("; ")
                ),
                format!(
                    "Remove the rules, or set the guardrail `{guardrail}` to `mode: enforce` to have sgwarden revoke them; if they are meant, add a guardrail exception (guardrail: {guardrail}, group: {}, rule, owner, expires).",
                    g.key_text()
                ),
                fields,
            )
        })
        .collect()
}

fn drift_finding(base: &Base<'_>, g: &GroupReport) -> Option<Finding> {
    let mode = g.mode?;
    let (missing, extra) = match &g.after {
        Some(a) => (&a.missing, &a.extra),
        None => (&g.missing, &g.extra),
    };
    if missing.is_empty() && extra.is_empty() {
        return None;
    }
    let mut rules: Vec<String> = texts(&missing.iter().collect::<Vec<_>>())
        .into_iter()
        .map(|t| format!("missing {t}"))
        .collect();
    rules.extend(
        texts(&extra.iter().collect::<Vec<_>>())
            .into_iter()
            .map(|t| format!("extra {t}")),
    );
    // Drift an enforce group still has is a control that failed this run; an audit or
    // add-only group's drift is what its owners chose to see and not to repair.
    let severity = if mode == Mode::Enforce {
        Severity::Medium
    } else {
        Severity::Low
    };
    let recommendation = match mode {
        Mode::Enforce => format!(
            "sgwarden could not repair the group in this run (see the run's errors: a failed write, the change cap, keep_if_traffic); the next run tries again. If the rules are meant, declare them in the entry `{}`.",
            g.key_text()
        ),
        Mode::Audit | Mode::AddOnly => format!(
            "Set the entry `{}` to `mode: enforce` to have sgwarden repair the group, change the group to match the policy, or declare the rules in the policy if they are meant.",
            g.key_text()
        ),
    };
    let fields = base.fields(Kind::Drift, None, &rules);
    Some(base.finding(
        Kind::Drift,
        None,
        severity,
        format!(
            "Security group {} differs from its policy ({} missing, {} extra)",
            g.group_name,
            missing.len(),
            extra.len()
        ),
        format!(
            "{} ({}) in {}, governed by the entry `{}` in mode {}: {}",
            g.group_name,
            base.subject.id_part(),
            base.place,
            g.key_text(),
            mode.as_str(),
            rules.join("; ")
        ),
        recommendation,
        fields,
    ))
}

fn flapping_finding(base: &Base<'_>, g: &GroupReport) -> Option<Finding> {
    let f = g.flapping.as_ref()?;
    let fields = base.fields(Kind::Flapping, None, &[]);
    Some(base.finding(
        Kind::Flapping,
        None,
        Severity::High,
        format!("sgwarden stopped reverting security group {}", g.group_name),
        format!(
            "{} ({}) in {} was reverted {} times within the limit {}; sgwarden leaves it as it is until {}. Changed by: {}.",
            g.group_name,
            base.subject.id_part(),
            base.place,
            f.reverts,
            f.limit,
            f.until,
            f.actors.join(", ")
        ),
        "Someone keeps changing the group back: settle with them whether the policy or the change is right, then change one of the two.".into(),
        fields,
    ))
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// `text` cut to `max` characters, ending in `…` when cut.
fn bounded(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Items joined by `; ` within `max` characters, the rest counted: `…; and 12 more`.
fn bounded_list(items: &[String], max: usize) -> String {
    let mut out = String::new();
    for (i, item) in items.iter().enumerate() {
        let more = format!("; and {} more", items.len() - i);
        let sep = if out.is_empty() { "" } else { "; " };
        let fits = out.chars().count() + sep.len() + item.chars().count();
        let room_for_more = if i + 1 < items.len() { more.len() } else { 0 };
        if fits + room_for_more > max {
            out.push_str(&more);
            return bounded(&out, max);
        }
        out.push_str(sep);
        out.push_str(item);
    }
    out
}

fn fingerprint(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// What to import for one scope: the open findings that are new, changed or due for a
/// refresh (keeping when each was first found), and the resolution of every active
/// finding in scope the run did not find again.
pub fn sync(
    scope: &Scope,
    open: Vec<Finding>,
    active: &[Existing],
    now: DateTime<Utc>,
) -> Vec<Finding> {
    let by_id: BTreeMap<&str, &Existing> = active.iter().map(|e| (e.id.as_str(), e)).collect();
    let open_ids: BTreeSet<String> = open.iter().map(|f| f.id.clone()).collect();
    let mut out = Vec::new();
    for mut f in open {
        if let Some(e) = by_id.get(f.id.as_str()) {
            let fresh = e
                .updated_at
                .is_some_and(|u| now.signed_duration_since(u) < Duration::days(REFRESH_DAYS));
            if fresh && e.fingerprint.as_ref() == f.fields.get("sgwarden/fingerprint") {
                continue;
            }
            if let Some(c) = e.created_at {
                f.created_at = c;
            }
            f.updated_at = later(now, e.updated_at);
        }
        out.push(f);
    }
    for e in active {
        if open_ids.contains(&e.id) || !scope.holds(&e.id) {
            continue;
        }
        if let Some(f) = resolution(e, now) {
            out.push(f);
        }
    }
    out
}

/// `now`, or just after `previous` when the clock says otherwise: Security Hub keeps
/// the newer of two imports of one id.
fn later(now: DateTime<Utc>, previous: Option<DateTime<Utc>>) -> DateTime<Utc> {
    match previous {
        Some(p) if p >= now => p + Duration::milliseconds(1),
        _ => now,
    }
}

/// The resolution of an active finding no longer found: its id parsed back into what
/// it names, PASSED and ARCHIVED. `None` for an id sgwarden did not write.
pub fn resolution(e: &Existing, now: DateTime<Utc>) -> Option<Finding> {
    let (head, guardrail) = match crate::place::fields::<7>(&e.id, '/') {
        Some([a, b, c, d, f, g, guardrail]) => ([a, b, c, d, f, g], Some(guardrail.to_string())),
        None => (crate::place::fields::<6>(&e.id, '/')?, None),
    };
    let ["sgwarden", _, account, region, subject, kind] = head else {
        return None;
    };
    let kind = Kind::parse(kind)?;
    let place = Place::new(account, region);
    let subject = if kind == Kind::Missing {
        Subject::Entry {
            key: subject.to_string(),
        }
    } else {
        Subject::Group {
            group_id: subject.to_string(),
            group_name: subject.to_string(),
            vpc_id: None,
        }
    };
    let mut fields = BTreeMap::new();
    fields.insert("sgwarden/kind".into(), kind.as_str().into());
    if let Some(g) = &guardrail {
        fields.insert("sgwarden/guardrail".into(), g.clone());
    }
    Some(Finding {
        id: e.id.clone(),
        title: format!(
            "Resolved: {} {} of {}",
            kind.as_str(),
            guardrail.as_deref().unwrap_or(""),
            subject.id_part()
        )
        .replace("  ", " "),
        description: format!(
            "sgwarden no longer finds this in {place}: the group was repaired, changed by hand, deleted, or is no longer governed."
        ),
        place,
        subject,
        kind,
        guardrail,
        severity: Severity::Informational,
        types: vec![NETWORK_REACHABILITY],
        recommendation: "Nothing to do.".into(),
        fields,
        open: false,
        created_at: e.created_at.unwrap_or(now),
        updated_at: later(now, e.updated_at),
    })
}

#[cfg(test)]
mod tests;
