//! The SNS message of a report: one Publish with `MessageStructure=json`, a variant per
//! protocol, an ASCII subject, and message attributes for subscription filter policies.
//!
//! - `default`: the headline (SMS and anything without its own variant);
//! - `email`: the plain-text report;
//! - `https`: an Amazon Q Developer in chat applications (AWS Chatbot) custom notification,
//!   so Slack and Teams channels subscribed through it render the report
//!   (docs.aws.amazon.com/chatbot/latest/adminguide/custom-notifs.html);
//! - `sqs`, `lambda`: the JSON report.
//!
//! SNS refuses messages over 256 KB, all variants and attributes together: a report too
//! large is cut group by group, with a count of what was left out and, when a report
//! bucket is set, where the full report is. Pure: the adapter does the Publish.

use serde_json::json;

use super::{Report, Truncated, render};
use crate::limits::clip;
use crate::plan::Status;
use crate::policy::Mode;

/// SNS's limit for one message, variants and attributes included.
pub const SNS_LIMIT: usize = 262_144;
/// Room kept for the subject and attributes, which count toward the limit too.
const HEADROOM: usize = 4_096;
/// Longest description sent to chat: past this, chat clients cut messages themselves.
const CHAT_DESCRIPTION: usize = 3_000;

/// One SNS Publish.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnsMessage {
    pub subject: String,
    /// The `MessageStructure=json` body.
    pub message: String,
    /// (name, value), all of type String.
    pub attributes: Vec<(String, String)>,
    /// Set when the report had to be cut to fit.
    pub truncated: Option<Truncated>,
}

/// `ok`, `drift`, `changed` or `error`, for filter policies.
pub fn severity(r: &Report) -> &'static str {
    if !r.errors.is_empty() {
        "error"
    } else if r.summary.authorized + r.summary.revoked + r.summary.descriptions_updated > 0 {
        "changed"
    } else if r.has_drift() {
        "drift"
    } else {
        "ok"
    }
}

/// The modes of the listed groups: one of them, or `mixed`.
pub fn mode(r: &Report) -> &'static str {
    let mut modes: Vec<Mode> = r.groups.iter().filter_map(|g| g.mode).collect();
    modes.sort();
    modes.dedup();
    match modes.as_slice() {
        [one] => one.as_str(),
        [] => r.default_mode.unwrap_or(Mode::Audit).as_str(),
        _ => "mixed",
    }
}

fn ascii(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() {
                c
            } else {
                ' '
            }
        })
        .collect()
}

/// The subject: ASCII, one line, under 100 characters; account, region(s), counts and
/// what was done.
pub fn subject(r: &Report) -> String {
    let account = r.account.as_deref().unwrap_or("unknown account");
    let regions = match r.regions.as_slice() {
        [] => r
            .trigger
            .region
            .clone()
            .unwrap_or_else(|| "no region".into()),
        [one] => one.clone(),
        many => format!("{} regions", many.len()),
    };
    let s = &r.summary;
    let what = match severity(r) {
        "error" => format!("ERROR ({} errors)", r.errors.len()),
        "changed" => format!(
            "fixed {} rules",
            s.authorized + s.revoked + s.descriptions_updated
        ),
        "drift" if s.groups_with_drift + s.missing_groups == 0 => {
            format!("{} guardrail violations", s.violations)
        }
        "drift" => format!("drift in {} groups", s.groups_with_drift + s.missing_groups),
        _ => "no drift".into(),
    };
    let mut counts = Vec::new();
    if s.groups_flapping > 0 {
        counts.push(format!("{} FLAPPING", s.groups_flapping));
    }
    if s.missing_rules > 0 {
        counts.push(format!("{} missing", s.missing_rules));
    }
    if s.extra_rules > 0 {
        counts.push(format!("{} extra", s.extra_rules));
    }
    if s.violations > 0 && s.groups_with_drift + s.missing_groups > 0 {
        let many = if s.violations == 1 { "" } else { "s" };
        counts.push(format!("{} violation{many}", s.violations));
    }
    if s.failed > 0 {
        counts.push(format!("{} failed", s.failed));
    }
    let mut subject = format!("sgwarden {account} {regions}: {what}");
    if !counts.is_empty() {
        subject.push_str(&format!(" ({})", counts.join(", ")));
    }
    let mut subject = ascii(&subject);
    if subject.len() > 99 {
        subject.truncate(96);
        subject.push_str("...");
    }
    subject
}

/// The chat notification (AWS Chatbot custom notification schema, version 1.0).
pub fn chat(r: &Report) -> serde_json::Value {
    let mut lines = Vec::new();
    for g in &r.groups {
        lines.push(format!(
            "*{}* `{}` {} ({})",
            g.key_text(),
            g.group_id.as_deref().unwrap_or("-"),
            r.place_text(&g.place),
            g.mode_text()
        ));
        if let Some(f) = &g.flapping {
            lines.push(format!(
                "• :warning: FLAPPING: reverted {} times ({}), left alone until {}; changed by {}",
                f.reverts,
                f.limit,
                f.until,
                f.actors.join(", ")
            ));
        }
        for v in &g.violations {
            lines.push(format!(
                "• :rotating_light: violation `{}` ({})",
                v.rule.text,
                render::violation_text(v)
            ));
        }
        for m in &g.missing {
            lines.push(format!("• missing `{}`", m.text));
        }
        for e in &g.extra {
            match g.traffic_of(&e.text) {
                Some(t) => lines.push(format!(
                    "• extra `{}`: {}",
                    e.text,
                    super::render::traffic_line(t)
                )),
                None => lines.push(format!("• extra `{}`", e.text)),
            }
        }
        for e in &g.excepted {
            lines.push(format!("• excepted `{}`", e.text));
        }
        for a in g.actions.iter().filter(|a| a.status != Status::Planned) {
            lines.push(format!(
                "  ↳ {} {} `{}`",
                a.status.as_str(),
                a.op.as_str(),
                a.rule.text
            ));
        }
    }
    for m in &r.missing_groups {
        lines.push(format!(
            "• missing group *{}* in {}",
            m.key,
            r.place_text(&m.place)
        ));
    }
    for e in &r.errors {
        lines.push(format!("• error [{}] {}", e.stage, e.message));
    }
    let mut description = String::new();
    let mut left = 0usize;
    for (i, l) in lines.iter().enumerate() {
        if description.len() + l.len() + 1 > CHAT_DESCRIPTION {
            left = lines.len() - i;
            break;
        }
        description.push_str(l);
        description.push('\n');
    }
    if left > 0 {
        description.push_str(&format!(
            "…and {left} more lines (see the e-mail or JSON report)\n"
        ));
    }
    if let Some(t) = &r.trigger.actor {
        description.push_str(&format!(
            "Changed by `{}`{}{}\n",
            t.arn,
            if t.console == Some(true) {
                " in the console"
            } else {
                ""
            },
            t.source_ip
                .as_deref()
                .map(|ip| format!(" from {ip}"))
                .unwrap_or_default()
        ));
    }
    let mut next = Vec::new();
    if r.refused.is_some() {
        next.push(
            "The run was refused by max_changes_per_run: review the plan with `sgwarden plan`"
                .to_string(),
        );
    }
    if r.groups
        .iter()
        .any(|g| g.mode == Some(Mode::Audit) && !g.extra.is_empty())
    {
        next.push(
            "Audit groups are only reported: fix the rules or move the group to enforce"
                .to_string(),
        );
    }
    let related: Vec<&str> = r
        .groups
        .iter()
        .filter_map(|g| g.group_id.as_deref())
        .collect();
    json!({
        "version": "1.0",
        "source": "custom",
        "id": r.trigger.event_id,
        "content": {
            "textType": "client-markdown",
            "title": format!(":shield: sgwarden: {}", render::headline(r)),
            "description": description,
            "nextSteps": next,
            "keywords": [severity(r), mode(r), r.trigger.kind.as_str()],
        },
        "metadata": {
            "summary": subject(r),
            "eventType": format!("sgwarden.{}", severity(r)),
            "relatedResources": related,
        }
    })
}

fn body(r: &Report) -> String {
    body_within(r, usize::MAX).unwrap_or_default()
}

/// The message body, or `None` as soon as it is clear it would be over `max` bytes (the
/// JSON report alone is, and it is sent twice), without rendering the rest.
fn body_within(r: &Report, max: usize) -> Option<String> {
    let report_json = serde_json::to_string(r).unwrap_or_default();
    if report_json.len().saturating_mul(2) > max {
        return None;
    }
    Some(
        json!({
            "default": format!("sgwarden: {}", render::headline(r)),
            "email": render::text(r),
            "https": chat(r).to_string(),
            "sqs": report_json,
            "lambda": report_json,
        })
        .to_string(),
    )
}

/// Where the whole report went, for a message that has to name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FullReport<'a> {
    /// No report bucket is set.
    NotKept,
    /// Stored at this `s3://` location.
    Stored(&'a str),
    /// The bucket is set but the write failed, for this reason.
    NotStored(&'a str),
}

/// Shortens every free-text or caller-controlled field of `r` to `text` bytes and every
/// list that is not the groups to `items` entries, and says in `notes` what was cut.
fn slim(r: &mut Report, text: usize, items: usize, notes: &mut Vec<String>) {
    let cut = |name: &str, s: &mut String, notes: &mut Vec<String>| {
        if clip(s, text) && !notes.iter().any(|n| n == name) {
            notes.push(name.to_string());
        }
    };
    let cut_some = |name: &str, s: &mut Option<String>, notes: &mut Vec<String>| {
        if let Some(s) = s {
            cut(name, s, notes);
        }
    };
    let t = &mut r.trigger;
    cut_some("trigger.event_name", &mut t.event_name, notes);
    cut_some("trigger.event_id", &mut t.event_id, notes);
    cut_some("trigger.region", &mut t.region, notes);
    cut_some("trigger.ignored", &mut t.ignored, notes);
    if let Some(ids) = &mut t.group_ids {
        shorten("trigger.group_ids", ids, items, notes);
        for id in ids {
            cut("trigger.group_ids", id, notes);
        }
    }
    if let Some(a) = &mut t.actor {
        cut("trigger.actor.arn", &mut a.arn, notes);
        cut("trigger.actor.type", &mut a.kind, notes);
        cut_some("trigger.actor.invoked_by", &mut a.invoked_by, notes);
        cut_some("trigger.actor.source_ip", &mut a.source_ip, notes);
        cut_some("trigger.actor.user_agent", &mut a.user_agent, notes);
    }
    if let Some(p) = &mut r.policy {
        cut("policy.location", &mut p.location, notes);
        shorten("policy.files", &mut p.files, items, notes);
        for f in &mut p.files {
            cut("policy.files", &mut f.location, notes);
        }
    }
    cut_some("account", &mut r.account, notes);
    cut_some("refused", &mut r.refused, notes);
    shorten("errors", &mut r.errors, items, notes);
    shorten("missing_groups", &mut r.missing_groups, items, notes);
    shorten("created_groups", &mut r.created_groups, items, notes);
    shorten("unmanaged_groups", &mut r.unmanaged_groups, items, notes);
    for e in &mut r.errors {
        cut("errors[].message", &mut e.message, notes);
        cut_some("errors[].code", &mut e.code, notes);
        cut_some("errors[].group_id", &mut e.group_id, notes);
        if let Some(p) = &mut e.place {
            cut("errors[].region", &mut p.region, notes);
        }
    }
}

/// Keeps the first `items` entries of a list, noting `NAME (ITEMS of LEN)` when it cut.
fn shorten<T>(name: &str, list: &mut Vec<T>, items: usize, notes: &mut Vec<String>) {
    if list.len() > items {
        notes.push(format!("{name} ({items} of {})", list.len()));
        list.truncate(items);
    }
}

/// The SNS message of a report, always within SNS's limit whatever the report holds.
///
/// A report too large is cut in steps until it fits: first every caller-controlled text
/// (the trigger's fields, such as a CloudTrail `userAgent`) and every list but the groups
/// are shortened; then groups are left out from the end; last, only the headline,
/// summary and first errors are kept. What was cut is said in the message
/// (`truncated`), with where the full report is, or why it could not be stored.
pub fn message(report: &Report, full_report: FullReport<'_>) -> SnsMessage {
    let mut report = std::borrow::Cow::Borrowed(report);
    if let FullReport::NotStored(why) = full_report {
        report.to_mut().errors.push(super::ErrorJson {
            stage: crate::stage::Stage::Report,
            group_id: None,
            place: None,
            code: None,
            message: format!("the full report could not be stored: {why}"),
        });
    }
    let report = report.as_ref();
    let attributes: Vec<(String, String)> = [
        ("severity", severity(report).to_string()),
        (
            "account",
            report.account.clone().unwrap_or_else(|| "unknown".into()),
        ),
        ("mode", mode(report).to_string()),
        ("trigger", report.trigger.kind.as_str().to_string()),
    ]
    .into_iter()
    .map(|(name, mut value)| {
        clip(&mut value, 256);
        (name.to_string(), value)
    })
    .collect();
    let subject = subject(report);
    let fits = |m: &str| m.len() + HEADROOM <= SNS_LIMIT;
    if let Some(whole) = body_within(report, SNS_LIMIT).filter(|m| fits(m)) {
        return SnsMessage {
            subject,
            message: whole,
            attributes,
            truncated: None,
        };
    }
    let stored = match full_report {
        FullReport::Stored(at) => Some(at.to_string()),
        FullReport::NotKept | FullReport::NotStored(_) => None,
    };
    // Each step keeps more of what matters, and less of everything else.
    let mut notes = Vec::new();
    let mut slimmed = report.clone();
    slim(&mut slimmed, 2_048, 100, &mut notes);
    // Keep the first `n` groups (report order), the largest n that fits.
    let cut = |n: usize| -> (Report, String) {
        let mut r = slimmed.clone();
        let dropped = r.groups.split_off(n.min(r.groups.len()));
        r.truncated = Some(Truncated {
            groups_omitted: dropped.len(),
            rules_omitted: dropped
                .iter()
                .map(|g| g.missing.len() + g.extra.len() + g.excepted.len())
                .sum(),
            full_report: stored.clone(),
            cut: notes.clone(),
        });
        let b = body(&r);
        (r, b)
    };
    let (mut lo, mut hi) = (0usize, slimmed.groups.len());
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if fits(&cut(mid).1) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    let (mut r, mut message) = cut(lo);
    if !fits(&message) {
        // Even with no group the report is too large: the headline, the summary and the
        // first errors, each short.
        let mut notes = notes.clone();
        slim(&mut r, 256, 10, &mut notes);
        r.missing_groups.clear();
        r.created_groups.clear();
        r.unmanaged_groups.clear();
        if let Some(p) = &mut r.policy {
            p.files.clear();
        }
        if let Some(t) = &mut r.truncated {
            t.cut = notes;
        }
        message = body(&r);
    }
    SnsMessage {
        subject,
        message,
        attributes,
        truncated: r.truncated,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{self, Inventory};
    use crate::place::Place;
    use crate::report::TriggerInfo;
    use crate::report::plan_report;

    fn example() -> Report {
        let root = env!("CARGO_MANIFEST_DIR");
        let policy = crate::policy::load_str(
            "examples/policy.yaml",
            &std::fs::read_to_string(format!("{root}/examples/policy.yaml")).unwrap(),
        )
        .unwrap();
        let mut inv = Inventory::default();
        for r in ["us-east-1", "eu-west-1"] {
            let t = std::fs::read_to_string(format!("{root}/examples/snapshots/{r}.json")).unwrap();
            inventory::read_snapshot(r, &Place::new("", r), &t, &mut inv).unwrap();
        }
        let places = [Place::new("", "eu-west-1"), Place::new("", "us-east-1")];
        plan_report(
            &policy,
            &inv,
            &places,
            chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
            TriggerInfo::manual(),
            false,
        )
    }

    #[test]
    fn every_protocol_gets_its_variant() {
        let r = example();
        let m = message(&r, FullReport::NotKept);
        let v: serde_json::Value = serde_json::from_str(&m.message).unwrap();
        assert!(
            v["default"]
                .as_str()
                .unwrap()
                .starts_with("sgwarden: drift in 3 of 12 groups")
        );
        assert!(
            v["email"]
                .as_str()
                .unwrap()
                .contains("  extra     tcp/22 from 0.0.0.0/0")
        );
        let chat: serde_json::Value = serde_json::from_str(v["https"].as_str().unwrap()).unwrap();
        assert_eq!(chat["version"], "1.0");
        assert_eq!(chat["source"], "custom");
        assert_eq!(chat["content"]["textType"], "client-markdown");
        assert!(
            chat["content"]["description"]
                .as_str()
                .unwrap()
                .contains("• extra `tcp/22 from 0.0.0.0/0`")
        );
        let json: serde_json::Value = serde_json::from_str(v["sqs"].as_str().unwrap()).unwrap();
        assert_eq!(json["summary"]["extra_rules"], 3);
        assert_eq!(v["sqs"], v["lambda"]);
        assert!(m.truncated.is_none());
    }

    #[test]
    fn the_subject_is_short_ascii_and_says_what_happened() {
        let r = example();
        let s = subject(&r);
        assert_eq!(
            s,
            "sgwarden 111122223333 2 regions: drift in 4 groups (1 missing, 3 extra, 8 violations)"
        );
        let mut long = r.clone();
        long.account = Some("ünïcode-account-".repeat(10));
        let s = subject(&long);
        assert!(s.is_ascii() && s.len() < 100 && s.ends_with("..."), "{s}");
    }

    #[test]
    fn attributes_name_severity_account_mode_and_trigger() {
        let m = message(&example(), FullReport::NotKept);
        assert_eq!(
            m.attributes,
            vec![
                ("severity".into(), "drift".into()),
                ("account".into(), "111122223333".into()),
                ("mode".into(), "mixed".into()),
                ("trigger".into(), "manual".into()),
            ]
        );
    }

    #[test]
    fn a_report_too_large_is_cut_to_fit_and_says_what_was_left_out() {
        let mut r = example();
        let one = r.groups[0].clone();
        r.groups = (0..3000)
            .map(|i| {
                let mut g = one.clone();
                g.key = Some(format!("g{i:04}"));
                g
            })
            .collect();
        let m = message(&r, FullReport::Stored("s3://reports/full.json"));
        assert!(m.message.len() <= SNS_LIMIT, "{}", m.message.len());
        let t = m.truncated.expect("truncated");
        assert!(t.groups_omitted > 0 && t.groups_omitted < 3000);
        assert_eq!(t.full_report.as_deref(), Some("s3://reports/full.json"));
        let v: serde_json::Value = serde_json::from_str(&m.message).unwrap();
        let json: serde_json::Value = serde_json::from_str(v["sqs"].as_str().unwrap()).unwrap();
        assert_eq!(json["truncated"]["groups_omitted"], t.groups_omitted);
        assert_eq!(
            json["groups"].as_array().unwrap().len() + t.groups_omitted,
            3000
        );
        assert!(
            v["email"]
                .as_str()
                .unwrap()
                .contains("full report at s3://reports/full.json")
        );
    }

    /// The JSON variant of a message that must fit.
    fn fitted(r: &Report, full: FullReport<'_>) -> (SnsMessage, serde_json::Value) {
        let m = message(r, full);
        assert!(
            m.message.len() + HEADROOM <= SNS_LIMIT,
            "{}",
            m.message.len()
        );
        let v: serde_json::Value = serde_json::from_str(&m.message).unwrap();
        let json = serde_json::from_str(v["sqs"].as_str().unwrap()).unwrap();
        (m, json)
    }

    #[test]
    fn caller_controlled_fields_and_long_lists_never_stop_the_message() {
        // A 300 KB userAgent (CloudTrail passes the caller's), 10,000 group ids in one
        // event, 1,000 policy files and 5,000 errors of 1 KB: each alone was over 256 KB.
        let mut r = example();
        r.trigger.actor = Some(crate::report::Actor {
            arn: "arn:aws:iam::111122223333:user/mallory".into(),
            kind: "IAMUser".into(),
            console: None,
            invoked_by: None,
            source_ip: None,
            user_agent: Some("A".repeat(300_000)),
        });
        let (m, json) = fitted(&r, FullReport::NotKept);
        let cut = &m.truncated.as_ref().unwrap().cut;
        assert_eq!(cut, &["trigger.actor.user_agent"]);
        assert_eq!(json["groups"].as_array().unwrap().len(), r.groups.len());

        let mut r = example();
        r.trigger.group_ids = Some((0..10_000).map(|i| format!("sg-{i:017x}")).collect());
        let (m, _) = fitted(&r, FullReport::NotKept);
        assert!(m.truncated.unwrap().cut[0].starts_with("trigger.group_ids (100 of 10000)"));

        let mut r = example();
        let p = r.policy.as_mut().unwrap();
        let one = p.files[0].clone();
        p.files = (0..1000)
            .map(|i| crate::policy::Provenance {
                location: format!("s3://policy/{}/{i:04}.yaml", "team/".repeat(20)),
                ..one.clone()
            })
            .collect();
        let (m, json) = fitted(&r, FullReport::Stored("s3://reports/x.json"));
        let t = m.truncated.unwrap();
        assert_eq!(t.cut, ["policy.files (100 of 1000)"]);
        assert_eq!(json["policy"]["files"].as_array().unwrap().len(), 100);
        assert_eq!(json["truncated"]["full_report"], "s3://reports/x.json");

        let mut r = example();
        r.errors = (0..5_000)
            .map(|i| crate::report::ErrorJson {
                stage: crate::stage::Stage::Apply,
                group_id: None,
                place: None,
                code: None,
                message: format!("{i}: {}", "x".repeat(1_000)),
            })
            .collect();
        let (m, json) = fitted(&r, FullReport::NotKept);
        assert!(
            m.truncated
                .unwrap()
                .cut
                .contains(&"errors (100 of 5000)".to_string())
        );
        assert_eq!(json["summary"], serde_json::to_value(&r.summary).unwrap());
    }

    #[test]
    fn everything_huge_at_once_still_fits() {
        let mut r = example();
        let one = r.groups[0].clone();
        r.groups = vec![one; 2_000];
        r.trigger.event_name = Some("E".repeat(1 << 20));
        r.account = Some("9".repeat(1 << 20));
        r.refused = Some("R".repeat(1 << 20));
        r.errors = (0..5_000)
            .map(|_| crate::report::ErrorJson {
                stage: crate::stage::Stage::Apply,
                group_id: Some("g".repeat(1_000)),
                place: None,
                code: Some("C".repeat(1_000)),
                message: "m".repeat(1_000),
            })
            .collect();
        let (m, _) = fitted(&r, FullReport::NotKept);
        assert!(m.attributes.iter().all(|(_, v)| v.len() <= 256));
    }

    #[test]
    fn a_report_bucket_that_fails_is_said_in_the_alert() {
        let (m, json) = fitted(
            &example(),
            FullReport::NotStored("AccessDenied on s3://r/x"),
        );
        let errors = json["errors"].as_array().unwrap();
        assert_eq!(errors.last().unwrap()["stage"], "report");
        assert!(
            errors.last().unwrap()["message"]
                .as_str()
                .unwrap()
                .contains("could not be stored: AccessDenied on s3://r/x")
        );
        let v: serde_json::Value = serde_json::from_str(&m.message).unwrap();
        assert!(v["email"].as_str().unwrap().contains("could not be stored"));
    }

    #[test]
    fn severity_follows_errors_changes_and_drift() {
        let mut r = example();
        assert_eq!(severity(&r), "drift");
        r.summary.revoked = 1;
        assert_eq!(severity(&r), "changed");
        r.errors.push(crate::report::ErrorJson {
            stage: crate::stage::Stage::Apply,
            group_id: None,
            place: None,
            code: None,
            message: "x".into(),
        });
        assert_eq!(severity(&r), "error");
    }
}
