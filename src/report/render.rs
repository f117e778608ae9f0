//! Renders a [`Report`] for people: plain text (e-mail and logs), Markdown (a pull-request
//! comment) and a terminal table. Every finding is in canonical rule text; the order is
//! the report's own (deterministic).

use std::fmt::Write;

use super::{GroupReport, Report};

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// One line that says what the run found and did, e.g.
/// `drift in 2 of 14 groups: 3 missing, 2 extra rules, 1 missing group; 4 changes planned`.
pub fn headline(r: &Report) -> String {
    let s = &r.summary;
    let mut out = drift_headline(r);
    if s.violations > 0 {
        let _ = write!(
            out,
            "; {} in {}",
            plural(s.violations, "guardrail violation", "guardrail violations"),
            plural(s.groups_with_violations, "group", "groups")
        );
    }
    let mut done = Vec::new();
    if s.authorized > 0 {
        done.push(format!("{} authorized", s.authorized));
    }
    if s.revoked > 0 {
        done.push(format!("{} revoked", s.revoked));
    }
    if s.descriptions_updated > 0 {
        done.push(format!("{} descriptions updated", s.descriptions_updated));
    }
    if s.failed > 0 {
        done.push(format!("{} failed", s.failed));
    }
    if s.skipped > 0 {
        done.push(format!("{} skipped", s.skipped));
    }
    // Planned writes the run makes or would make (not those an audit mode only lists).
    let writes_planned = r
        .groups
        .iter()
        .flat_map(|g| &g.actions)
        .filter(|a| a.status == crate::plan::Status::Planned && a.applies)
        .count();
    if writes_planned > 0 {
        done.push(format!(
            "{} planned",
            plural(writes_planned, "change", "changes")
        ));
    }
    if s.excepted_rules > 0 {
        done.push(format!("{} excepted", s.excepted_rules));
    }
    if !done.is_empty() {
        let _ = write!(out, "; {}", done.join(", "));
    }
    if s.groups_flapping > 0 {
        let _ = write!(
            out,
            "; {} FLAPPING (left alone)",
            plural(s.groups_flapping, "group", "groups")
        );
    }
    if r.refused.is_some() {
        out.push_str("; REFUSED (nothing changed)");
    }
    if !r.errors.is_empty() {
        let _ = write!(out, "; {}", plural(r.errors.len(), "error", "errors"));
    }
    out
}

/// What the run found of the entries' drift (guardrails aside).
fn drift_headline(r: &Report) -> String {
    let s = &r.summary;
    if s.groups_with_drift == 0 && s.missing_groups == 0 {
        format!(
            "no drift in {}",
            plural(s.groups_checked, "group", "groups")
        )
    } else {
        let mut parts = Vec::new();
        if s.missing_rules > 0 {
            parts.push(format!("{} missing", s.missing_rules));
        }
        if s.extra_rules > 0 {
            parts.push(format!("{} extra", s.extra_rules));
        }
        let mut text = format!(
            "drift in {} of {}",
            s.groups_with_drift,
            plural(s.groups_checked, "group", "groups")
        );
        if !parts.is_empty() {
            let _ = write!(
                text,
                ": {} rule{}",
                parts.join(", "),
                if s.missing_rules + s.extra_rules == 1 {
                    ""
                } else {
                    "s"
                }
            );
        }
        if s.missing_groups > 0 {
            let _ = write!(
                text,
                "{}{}",
                if parts.is_empty() { ": " } else { ", " },
                plural(s.missing_groups, "missing group", "missing groups")
            );
        }
        text
    }
}

/// `db-prod, sg-0abc, vpc-0def, us-east-1`: what identifies the live group.
fn group_ids(r: &Report, g: &GroupReport) -> String {
    let mut ids = Vec::new();
    if g.key.as_ref() != Some(&g.group_name) {
        ids.push(g.group_name.clone());
    }
    if let Some(id) = &g.group_id {
        ids.push(id.clone());
    }
    if let Some(v) = &g.vpc_id {
        ids.push(v.clone());
    }
    ids.push(r.place_text(&g.place));
    ids.join(", ")
}

fn group_title(r: &Report, g: &GroupReport) -> String {
    let mut t = format!(
        "{} ({}) mode {}",
        g.key_text(),
        group_ids(r, g),
        g.mode_text()
    );
    if let Some(m @ crate::drift::MatchedBy::Select(_)) = &g.matched_by {
        let _ = write!(t, ", {m}");
    }
    t
}

/// `critical no-admin-from-world`: a violation's severity and guardrail.
pub(crate) fn violation_text(v: &super::ViolationJson) -> String {
    format!("{} {}", v.severity.as_str(), v.guardrail)
}

/// What happens to a finding that has no action: add-only keeps extra rules.
fn no_action(g: &GroupReport, extra: bool) -> &'static str {
    if extra && g.mode == Some(crate::policy::Mode::AddOnly) {
        "kept (add-only)"
    } else {
        "—"
    }
}

/// `reverted 3 times (limit 3 per 1h); left alone until …; changed by A, B`.
fn flapping_line(f: &super::FlappingJson) -> String {
    format!(
        "reverted {} times (limit {}); left alone until {}; changed by {}",
        f.reverts,
        f.limit,
        f.until,
        f.actors.join(", ")
    )
}

fn trigger_line(r: &Report) -> String {
    let t = &r.trigger;
    let mut s = t.kind.as_str().to_string();
    if let Some(n) = &t.event_name {
        let _ = write!(s, " {n}");
    }
    if let Some(ids) = &t.group_ids {
        let _ = write!(s, " on {}", ids.join(", "));
    }
    if let Some(a) = &t.actor {
        let _ = write!(s, " by {}", a.arn);
        if a.console == Some(true) {
            s.push_str(" (console)");
        }
        if let Some(ip) = &a.source_ip {
            let _ = write!(s, " from {ip}");
        }
        if let Some(svc) = &a.invoked_by {
            let _ = write!(s, " via {svc}");
        }
    }
    if let Some(i) = &t.ignored {
        let _ = write!(s, " (ignored: {i})");
    }
    s
}

fn short_sha(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

/// Plain text for e-mail and logs.
pub fn text(r: &Report) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "sgwarden: {}", headline(r));
    if let Some(p) = &r.policy {
        let _ = write!(
            o,
            "Policy:  {} (sha256 {}",
            p.location,
            short_sha(&p.sha256)
        );
        if let Some(v) = &p.version_id {
            let _ = write!(o, ", version {v}");
        }
        if p.files.len() > 1 {
            let _ = write!(o, ", {} files", p.files.len());
        }
        o.push_str(")\n");
    }
    let _ = writeln!(o, "Trigger: {}", trigger_line(r));
    if !r.regions.is_empty() {
        let _ = writeln!(o, "Regions: {}", r.regions.join(", "));
    }
    if let Some(why) = &r.refused {
        let _ = writeln!(o, "\nREFUSED: {why}");
    }
    for g in &r.groups {
        let _ = writeln!(o, "\n{}", group_title(r, g));
        if let Some(f) = &g.flapping {
            let _ = writeln!(o, "  FLAPPING  {}", flapping_line(f));
        }
        for v in &g.violations {
            let _ = writeln!(o, "  VIOLATION {} ({})", v.rule.text, violation_text(v));
        }
        for e in &g.excepted_violations {
            let _ = writeln!(
                o,
                "  excepted  {} ({}; exception owned by {} until {})",
                e.violation.rule.text,
                violation_text(&e.violation),
                e.exception.owner,
                e.exception.expires
            );
        }
        for m in &g.missing {
            let _ = writeln!(o, "  missing   {}", m.text);
        }
        for e in &g.extra {
            let _ = writeln!(o, "  extra     {}", e.text);
        }
        if g.mode == Some(crate::policy::Mode::AddOnly) && !g.extra.is_empty() {
            o.push_str("  (add-only: extra rules are reported, never revoked)\n");
        }
        for e in &g.expired_exceptions {
            let _ = writeln!(
                o,
                "  expired   {} (exception owned by {} expired after {})",
                e.rule.text, e.owner, e.expires
            );
        }
        for e in &g.excepted {
            let _ = writeln!(o, "  excepted  {}", e.text);
        }
        for d in &g.descriptions {
            let _ = writeln!(
                o,
                "  description of {}: want {:?}, have {:?}",
                d.rule.text, d.want, d.have
            );
        }
        if !g.actions.is_empty() {
            o.push_str("  actions:\n");
            for a in &g.actions {
                let op = match a.op {
                    crate::plan::Op::Authorize => "authorize",
                    crate::plan::Op::Revoke => "revoke",
                    crate::plan::Op::UpdateDescription => "describe",
                };
                let _ = write!(o, "    {:<8} {:<9} {}", a.status.as_str(), op, a.rule.text);
                if let Some(e) = &a.error {
                    let _ = write!(o, " — error: {e}");
                }
                if let Some(why) = &a.reason {
                    let _ = write!(o, " — {why}");
                }
                if let Some(id) = a
                    .guardrail
                    .as_ref()
                    .filter(|_| a.op == crate::plan::Op::Revoke)
                {
                    let _ = write!(o, " — guardrail {id}");
                }
                o.push('\n');
                if let Some(t) = &a.traffic {
                    let _ = writeln!(o, "                       {}", traffic_line(t));
                }
            }
        }
        if let Some(after) = &g.after {
            if after.missing.is_empty() && after.extra.is_empty() && after.violations.is_empty() {
                o.push_str("  after:    no drift\n");
            } else {
                let _ = write!(
                    o,
                    "  after:    {} missing, {} extra",
                    after.missing.len(),
                    after.extra.len()
                );
                if !after.violations.is_empty() {
                    let _ = write!(o, ", {} violations", after.violations.len());
                }
                o.push('\n');
            }
        }
    }
    if !r.created_groups.is_empty() {
        o.push_str("\nCreated groups (in the policy, found nowhere, `create: true`):\n");
        for c in &r.created_groups {
            let _ = writeln!(
                o,
                "  {} in {}{}: {}",
                c.key,
                r.place_text(&c.place),
                vpc_suffix(c.vpc_id.as_deref()),
                c.group_id
            );
        }
    }
    if !r.missing_groups.is_empty() {
        o.push_str("\nMissing groups (in the policy, not found):\n");
        for m in &r.missing_groups {
            let _ = writeln!(
                o,
                "  {} in {}{}",
                m.key,
                r.place_text(&m.place),
                vpc_suffix(m.vpc_id.as_deref())
            );
        }
    }
    if !r.selected.is_empty() {
        let each: Vec<String> = r
            .selected
            .iter()
            .map(|(key, n)| format!("{key} {}", plural(*n, "group", "groups")))
            .collect();
        let _ = writeln!(o, "\nSelect entries govern: {}", each.join(", "));
    }
    if !r.unmanaged_groups.is_empty() {
        o.push_str("\nUnmanaged groups (no policy entry):\n");
        for u in &r.unmanaged_groups {
            let _ = writeln!(
                o,
                "  {} {} in {}{}",
                u.group_id,
                u.group_name,
                r.place_text(&u.place),
                vpc_suffix(u.vpc_id.as_deref())
            );
        }
    }
    if let Some(t) = &r.truncated {
        let _ = writeln!(
            o,
            "\n(truncated: {} groups and {} rules left out{}{})",
            t.groups_omitted,
            t.rules_omitted,
            if t.cut.is_empty() {
                String::new()
            } else {
                format!("; also cut: {}", t.cut.join(", "))
            },
            t.full_report
                .as_deref()
                .map(|f| format!("; full report at {f}"))
                .unwrap_or_default()
        );
    }
    if !r.errors.is_empty() {
        o.push_str("\nErrors:\n");
        for e in &r.errors {
            let mut at = Vec::new();
            if let Some(g) = &e.group_id {
                at.push(g.clone());
            }
            if let Some(p) = &e.place {
                at.push(r.place_text(p));
            }
            let _ = writeln!(
                o,
                "  [{}] {}{}{}",
                e.stage,
                if at.is_empty() {
                    String::new()
                } else {
                    format!("{}: ", at.join(" "))
                },
                e.code
                    .as_deref()
                    .map(|c| format!("{c}: "))
                    .unwrap_or_default(),
                e.message
            );
        }
    }
    o
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|")
}

/// Markdown, for a pull-request comment.
pub fn markdown(r: &Report) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "### sgwarden: {}\n", headline(r));
    let mut meta = Vec::new();
    if let Some(p) = &r.policy {
        meta.push(format!(
            "**Policy** `{}` (sha256 `{}`)",
            p.location,
            short_sha(&p.sha256)
        ));
    }
    meta.push(format!("**Trigger** {}", trigger_line(r)));
    if !r.regions.is_empty() {
        meta.push(format!("**Regions** {}", r.regions.join(", ")));
    }
    let _ = writeln!(o, "{}", meta.join(" · "));
    if let Some(why) = &r.refused {
        let _ = writeln!(o, "\n> **Refused:** {why}");
    }
    for g in &r.groups {
        let _ = writeln!(
            o,
            "\n#### `{}` ({}), {}\n",
            g.key_text(),
            md_escape(&group_ids(r, g)),
            g.mode_text()
        );
        if let Some(f) = &g.flapping {
            let _ = writeln!(o, "> **Flapping:** {}\n", md_escape(&flapping_line(f)));
        }
        o.push_str("| finding | rule | action |\n|---|---|---|\n");
        let action_of = |text: &str| {
            g.actions.iter().find(|a| a.rule.text == text).map(|a| {
                let mut s = format!("{} ({})", a.op.as_str(), a.status.as_str());
                if let Some(t) = &a.traffic {
                    let _ = write!(s, "; {}", md_escape(&traffic_line(t)));
                }
                s
            })
        };
        for v in &g.violations {
            let action = action_of(&v.rule.text).unwrap_or_else(|| "—".into());
            let _ = writeln!(
                o,
                "| **violation** ({}) | `{}` | {} |",
                violation_text(v),
                v.rule.text,
                action
            );
        }
        for e in &g.excepted_violations {
            let _ = writeln!(
                o,
                "| excepted violation ({}; {} until {}) | `{}` | — |",
                violation_text(&e.violation),
                md_escape(&e.exception.owner),
                e.exception.expires,
                e.violation.rule.text
            );
        }
        for m in &g.missing {
            let action = action_of(&m.text).unwrap_or_else(|| no_action(g, false).into());
            let _ = writeln!(o, "| missing | `{}` | {} |", m.text, action);
        }
        for e in &g.extra {
            let expired = g.expired_exceptions.iter().any(|x| x.rule.text == e.text);
            let _ = writeln!(
                o,
                "| extra{} | `{}` | {} |",
                if expired { " (exception expired)" } else { "" },
                e.text,
                action_of(&e.text).unwrap_or_else(|| no_action(g, true).into())
            );
        }
        for e in &g.excepted {
            let _ = writeln!(o, "| excepted | `{}` | — |", e.text);
        }
        for d in &g.descriptions {
            let _ = writeln!(
                o,
                "| description `{}` → `{}` | `{}` | {} |",
                md_escape(&d.have),
                md_escape(&d.want),
                d.rule.text,
                action_of(&d.rule.text).unwrap_or_else(|| no_action(g, false).into())
            );
        }
    }
    if !r.missing_groups.is_empty() {
        o.push_str("\n**Missing groups:** ");
        let list: Vec<String> = r
            .missing_groups
            .iter()
            .map(|m| {
                format!(
                    "`{}` in {}{}",
                    m.key,
                    r.place_text(&m.place),
                    m.vpc_id
                        .as_deref()
                        .map(|v| format!(" `{v}`"))
                        .unwrap_or_default()
                )
            })
            .collect();
        let _ = writeln!(o, "{}", list.join(", "));
    }
    if !r.unmanaged_groups.is_empty() {
        o.push_str("\n**Unmanaged groups:** ");
        let list: Vec<String> = r
            .unmanaged_groups
            .iter()
            .map(|u| {
                format!(
                    "`{}` {} in {}",
                    u.group_id,
                    u.group_name,
                    r.place_text(&u.place)
                )
            })
            .collect();
        let _ = writeln!(o, "{}", list.join(", "));
    }
    if !r.errors.is_empty() {
        o.push_str("\n**Errors**\n\n");
        for e in &r.errors {
            let _ = writeln!(
                o,
                "- [{}] {}{}",
                e.stage,
                e.group_id
                    .as_deref()
                    .map(|g| format!("`{g}`: "))
                    .unwrap_or_default(),
                md_escape(&e.message)
            );
        }
    }
    o
}

/// Aligns rows into columns separated by two spaces; the first row is the header unless
/// `headers` is false (it is then dropped).
pub fn columns(mut rows: Vec<Vec<String>>, headers: bool) -> String {
    if !headers && !rows.is_empty() {
        rows.remove(0);
    }
    let n = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..n)
        .map(|i| {
            rows.iter()
                .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut o = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{:<w$}  ", cell, w = widths[i]);
            }
        }
        o.push_str(line.trim_end());
        o.push('\n');
    }
    o
}

/// A terminal table: one row per finding.
pub fn table(r: &Report, headers: bool) -> String {
    let mut rows = vec![
        [
            "REGION", "VPC", "GROUP", "ID", "MODE", "FINDING", "RULE", "ACTION",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for g in &r.groups {
        let base = |finding: &str, rule: &str, action: String| {
            vec![
                r.place_text(&g.place),
                g.vpc_id.clone().unwrap_or_else(|| "-".into()),
                g.key_text().to_string(),
                g.group_id.clone().unwrap_or_else(|| "-".into()),
                g.mode.map_or("-", crate::policy::Mode::as_str).to_string(),
                finding.to_string(),
                rule.to_string(),
                action,
            ]
        };
        let action_of = |text: &str| {
            g.actions
                .iter()
                .find(|a| a.rule.text == text)
                .map(|a| format!("{} {}", a.op.as_str(), a.status.as_str()))
                .unwrap_or_else(|| "-".into())
        };
        for v in &g.violations {
            let finding = format!("violation({})", v.severity.as_str());
            rows.push(base(&finding, &v.rule.text, action_of(&v.rule.text)));
        }
        for e in &g.excepted_violations {
            let finding = format!("excepted-violation({})", e.violation.severity.as_str());
            rows.push(base(&finding, &e.violation.rule.text, "-".into()));
        }
        for m in &g.missing {
            rows.push(base("missing", &m.text, action_of(&m.text)));
        }
        for e in &g.extra {
            let expired = g.expired_exceptions.iter().any(|x| x.rule.text == e.text);
            rows.push(base(
                if expired { "extra(expired)" } else { "extra" },
                &e.text,
                if g.actions.iter().any(|a| a.rule.text == e.text) {
                    action_of(&e.text)
                } else if g.mode == Some(crate::policy::Mode::AddOnly) {
                    "kept(add-only)".into()
                } else {
                    "-".into()
                },
            ));
        }
        for e in &g.excepted {
            rows.push(base("excepted", &e.text, "-".into()));
        }
        for d in &g.descriptions {
            rows.push(base("description", &d.rule.text, action_of(&d.rule.text)));
        }
        if let Some(f) = &g.flapping {
            rows.push(base(
                "flapping",
                &f.actors.join(","),
                format!("held until {}", f.until),
            ));
        }
    }
    for m in &r.missing_groups {
        rows.push(vec![
            r.place_text(&m.place),
            m.vpc_id.clone().unwrap_or_else(|| "-".into()),
            m.key.clone(),
            "-".into(),
            "-".into(),
            "missing-group".into(),
            "-".into(),
            "-".into(),
        ]);
    }
    for u in &r.unmanaged_groups {
        rows.push(vec![
            r.place_text(&u.place),
            u.vpc_id.clone().unwrap_or_else(|| "-".into()),
            u.group_name.clone(),
            u.group_id.clone(),
            "-".into(),
            "unmanaged".into(),
            "-".into(),
            "-".into(),
        ]);
    }
    let mut o = columns(rows, headers);
    if headers {
        let _ = writeln!(o, "\n{}", headline(r));
        if let Some(why) = &r.refused {
            let _ = writeln!(o, "REFUSED: {why}");
        }
    }
    for e in &r.errors {
        let _ = writeln!(
            o,
            "error [{}] {}: {}",
            e.stage,
            e.group_id.as_deref().unwrap_or("-"),
            e.message
        );
    }
    o
}

/// A revoke's change risk in words: `traffic in the last 1d: 2 flows, 1000 bytes on 1
/// interface; top sources 203.0.113.9 (2)`.
pub(crate) fn traffic_line(t: &super::TrafficJson) -> String {
    let on = plural(t.interfaces, "interface", "interfaces");
    let mut s = format!("traffic in the last {}: ", t.window);
    match (&t.unknown, t.flows, t.bytes) {
        (Some(why), _, _) => {
            let _ = write!(s, "unknown ({why})");
        }
        (None, Some(0), _) | (None, None, _) => {
            let _ = write!(s, "none on {on}");
        }
        (None, Some(flows), bytes) => {
            let _ = write!(
                s,
                "{} on {on}",
                crate::flows::flows_text(flows, bytes.unwrap_or(0))
            );
            for (label, top) in [
                ("top sources", &t.top_sources),
                ("top destinations", &t.top_destinations),
            ] {
                if !top.is_empty() {
                    let list: Vec<String> = top
                        .iter()
                        .map(|p| format!("{} ({})", p.address, p.flows))
                        .collect();
                    let _ = write!(s, "; {label} {}", list.join(", "));
                }
            }
        }
    }
    s
}

/// ` vpc-…` after a region in the text report, or nothing.
fn vpc_suffix(vpc: Option<&str>) -> String {
    vpc.map(|v| format!(" {v}")).unwrap_or_default()
}
