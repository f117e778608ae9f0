//! Tests of the fleet parts of drift and plan: guardrail violations on every group they
//! select (governed or not), select entries and their precedence, `sg:` of a select
//! entry, denied rules, guardrail exceptions, and the revokes guardrails plan.

use super::*;
use crate::plan::{PlanOptions, Status, plan};

fn tagged(mut g: CurrentGroup, tags: &[(&str, &str)]) -> CurrentGroup {
    g.tags = tags
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    g
}

fn planned(d: &Drift, force_audit: bool) -> crate::plan::Plan {
    plan(
        d,
        PlanOptions {
            max_changes_per_run: 50,
            force_audit,
        },
    )
}

/// Each action of a group's plan: its rule, its guardrail, whether the run makes it.
fn actions(gp: &crate::plan::GroupPlan) -> Vec<(String, Option<&str>, bool)> {
    gp.actions
        .iter()
        .map(|a| {
            (
                a.rule.rule.to_string(),
                a.guardrail.as_deref(),
                a.is_write(),
            )
        })
        .collect()
}

const NO_SSH: &str = "guardrails:\n  - {id: no-ssh, mode: enforce, deny: [tcp/22 from world]}\n";

#[test]
fn an_enforce_guardrail_revokes_only_the_offending_peer_of_a_group_no_entry_governs() {
    let p = policy(&format!("version: 1\n{NO_SSH}groups: {{}}\n"));
    let i = inv(vec![live(
        "us-east-1",
        "sg-0aaa",
        "legacy",
        "vpc-1",
        &[
            "tcp/22 from 0.0.0.0/0",
            "tcp/22 from 10.0.0.0/8",
            "tcp/22 from ::/0",
            "tcp/443 from 0.0.0.0/0",
        ],
    )]);
    let d = run(&p, &i);
    let g = find(&d, "sg-0aaa");
    assert_eq!((g.key.as_deref(), g.mode), (None, None));
    let v: Vec<String> = g
        .violations
        .iter()
        .map(|v| v.rule.rule.to_string())
        .collect();
    assert_eq!(v, vec!["tcp/22 from 0.0.0.0/0", "tcp/22 from ::/0"]);
    assert!(d.has_drift());
    let p = planned(&d, false);
    let revokes = actions(&p.groups[0]);
    assert_eq!(
        revokes,
        vec![
            ("tcp/22 from 0.0.0.0/0".into(), Some("no-ssh"), true),
            ("tcp/22 from ::/0".into(), Some("no-ssh"), true),
        ]
    );
    assert_eq!(p.changes, 2);
    // A dry run lists them and makes none.
    let dry = planned(&d, true);
    assert!(dry.groups[0].actions.iter().all(|a| !a.is_write()));
    assert_eq!(dry.changes, 0);
}

#[test]
fn an_audit_guardrail_reports_and_plans_nothing_and_clean_unmanaged_groups_stay_out() {
    let p =
        policy("version: 1\nguardrails: [{id: no-ssh, deny: [tcp/22 from world]}]\ngroups: {}\n");
    let i = inv(vec![
        live(
            "us-east-1",
            "sg-0aaa",
            "open",
            "vpc-1",
            &["tcp/0-65535 from 0.0.0.0/1", "tcp/22 from 128.0.0.0/1"],
        ),
        live(
            "us-east-1",
            "sg-0bbb",
            "shut",
            "vpc-1",
            &["tcp/22 from 10.0.0.0/8"],
        ),
    ]);
    let d = run(&p, &i);
    assert_eq!(d.groups.len(), 1, "the clean group is not listed");
    assert_eq!(d.groups[0].violations.len(), 2, "split world: both halves");
    assert!(d.groups[0].violations.iter().all(|v| !v.enforce));
    assert!(planned(&d, false).groups[0].actions.is_empty());
}

#[test]
fn a_guardrail_revoke_in_an_audit_group_and_one_revoke_for_a_rule_also_extra() {
    let p = policy(&format!(
        "version: 1\n{NO_SSH}groups:\n  web: {{mode: audit, ingress: [tcp/443 from 0.0.0.0/0]}}\n  app: {{mode: enforce, ingress: []}}\n"
    ));
    let i = inv(vec![
        live(
            "us-east-1",
            "sg-0aaa",
            "web",
            "vpc-1",
            &[
                "tcp/443 from 0.0.0.0/0",
                "tcp/22 from 0.0.0.0/0",
                "tcp/80 from 0.0.0.0/0",
            ],
        ),
        live(
            "us-east-1",
            "sg-0bbb",
            "app",
            "vpc-1",
            &["tcp/22 from 0.0.0.0/0"],
        ),
    ]);
    let d = run(&p, &i);
    let p = planned(&d, false);
    let web = &p.groups[d
        .groups
        .iter()
        .position(|g| g.group_id == "sg-0aaa")
        .unwrap()];
    let acts = actions(web);
    // The audit group's extra tcp/80 is only listed; the guardrail revokes tcp/22.
    assert_eq!(
        acts,
        vec![
            ("tcp/22 from 0.0.0.0/0".into(), Some("no-ssh"), true),
            ("tcp/80 from 0.0.0.0/0".into(), None, false),
        ]
    );
    let app = &p.groups[d
        .groups
        .iter()
        .position(|g| g.group_id == "sg-0bbb")
        .unwrap()];
    assert_eq!(app.actions.len(), 1, "extra and violating: one revoke");
    assert_eq!(app.actions[0].guardrail.as_deref(), Some("no-ssh"));
}

#[test]
fn a_wanted_rule_a_guardrail_denies_is_never_authorized_and_is_an_error() {
    // The guardrail selects by tag, so the policy alone cannot show the conflict.
    let p = policy(
        "version: 1
guardrails: [{id: no-ssh, select: {tags: {env: prod}}, deny: [tcp/22 from world]}]
groups:
  web: {mode: enforce, ingress: [tcp/22 from 0.0.0.0/0, tcp/443 from 0.0.0.0/0]}
",
    );
    let i = inv(vec![tagged(
        live("us-east-1", "sg-0aaa", "web", "vpc-1", &[]),
        &[("env", "prod")],
    )]);
    let d = run(&p, &i);
    let g = find(&d, "sg-0aaa");
    assert_eq!(g.missing.len(), 2);
    assert_eq!(
        g.denied_by(&"tcp/22 from 0.0.0.0/0".parse().unwrap()),
        Some("no-ssh")
    );
    assert_eq!(d.errors.len(), 1);
    assert!(d.errors[0].message.contains("denied by guardrail `no-ssh`"));
    let p = planned(&d, false);
    let auth: Vec<(String, Status)> = p.groups[0]
        .actions
        .iter()
        .map(|a| (a.rule.rule.to_string(), a.status))
        .collect();
    assert_eq!(
        auth,
        vec![
            ("tcp/22 from 0.0.0.0/0".into(), Status::Skipped),
            ("tcp/443 from 0.0.0.0/0".into(), Status::Planned),
        ]
    );
    assert_eq!(p.changes, 1);
}

#[test]
fn guardrail_exceptions_excuse_matching_violations_until_they_expire() {
    let text = |expires: &str| {
        format!(
            "version: 1\n{NO_SSH}groups: {{}}\nexceptions:\n  - {{guardrail: no-ssh, select: {{tags: {{team: bastion}}}}, rule: tcp/22 from world, owner: sec@example.com, expires: {expires}}}\n"
        )
    };
    let i = inv(vec![
        tagged(
            live(
                "us-east-1",
                "sg-0aaa",
                "bastion",
                "vpc-1",
                &["tcp/22 from 0.0.0.0/0"],
            ),
            &[("team", "bastion")],
        ),
        live(
            "us-east-1",
            "sg-0bbb",
            "other",
            "vpc-1",
            &["tcp/22 from 0.0.0.0/0"],
        ),
    ]);
    let d = run(&policy(&text("2026-11-23")), &i);
    let bastion = find(&d, "sg-0aaa");
    assert!(bastion.violations.is_empty());
    assert_eq!(bastion.excepted_violations.len(), 1);
    assert_eq!(bastion.excepted_violations[0].owner, "sec@example.com");
    assert_eq!(find(&d, "sg-0bbb").violations.len(), 1);
    let p = planned(&d, false);
    assert_eq!(
        p.changes, 1,
        "only the group without an exception is reverted"
    );
    // The day after it expires, it is a violation again.
    let d = run(&policy(&text("2026-11-22")), &i);
    assert_eq!(find(&d, "sg-0aaa").violations.len(), 1);
}

#[test]
fn select_entries_govern_by_tag_after_id_and_name_entries_and_by_priority() {
    let p = policy(
        "version: 1
groups:
  web-tier: {select: {tags: {tier: web}}, ingress: [tcp/443 from 0.0.0.0/0]}
  prod: {select: {tags: {env: prod}}, priority: 5, ingress: []}
  named: {name: web-1, ingress: []}
  twin-a: {select: {names: [\"db-*\"]}, ingress: []}
  twin-b: {select: {names: [\"db-?\"]}, ingress: []}
",
    );
    let i = inv(vec![
        tagged(
            live("us-east-1", "sg-0aaa", "web-1", "vpc-1", &[]),
            &[("tier", "web")],
        ),
        tagged(
            live("us-east-1", "sg-0bbb", "web-2", "vpc-1", &[]),
            &[("tier", "web")],
        ),
        tagged(
            live("us-east-1", "sg-0ccc", "web-3", "vpc-1", &[]),
            &[("tier", "web"), ("env", "prod")],
        ),
        live("us-east-1", "sg-0ddd", "db-1", "vpc-1", &[]),
    ]);
    let d = run(&p, &i);
    let key = |id: &str| find(&d, id).key.clone();
    assert_eq!(key("sg-0aaa").as_deref(), Some("named"));
    assert_eq!(key("sg-0bbb").as_deref(), Some("web-tier"));
    assert_eq!(key("sg-0ccc").as_deref(), Some("prod"));
    assert_eq!(
        find(&d, "sg-0bbb")
            .matched_by
            .as_ref()
            .map(ToString::to_string)
            .as_deref(),
        Some("selected by tags tier=web")
    );
    assert!(!d.groups.iter().any(|g| g.group_id == "sg-0ddd"));
    assert!(
        d.errors[0].message.contains("`twin-a` and `twin-b`"),
        "{:?}",
        d.errors
    );
    // Select entries are never missing; the report counts what each governs.
    assert!(d.missing_groups.is_empty());
    let counts: Vec<(&str, usize)> = d.selections.iter().map(|(k, n)| (k.as_str(), *n)).collect();
    assert_eq!(
        counts,
        [("prod", 1), ("twin-a", 0), ("twin-b", 0), ("web-tier", 1)]
    );
}

#[test]
fn sg_of_a_select_entry_is_every_group_it_governs_in_the_vpc() {
    let p = policy(
        "version: 1
groups:
  web: {select: {tags: {tier: web}}, ingress: []}
  db: {ingress: [tcp/5432 from sg:web]}
",
    );
    let i = inv(vec![
        tagged(
            live("us-east-1", "sg-0aaa", "web-1", "vpc-1", &[]),
            &[("tier", "web")],
        ),
        tagged(
            live("us-east-1", "sg-0bbb", "web-2", "vpc-1", &[]),
            &[("tier", "web")],
        ),
        tagged(
            live("us-east-1", "sg-0ccc", "web-3", "vpc-2", &[]),
            &[("tier", "web")],
        ),
        live("us-east-1", "sg-0ddd", "db", "vpc-1", &[]),
    ]);
    let d = run(&p, &i);
    assert_eq!(
        texts(&find(&d, "sg-0ddd").missing),
        vec!["tcp/5432 from sg-0aaa", "tcp/5432 from sg-0bbb"]
    );
}

#[test]
fn the_same_group_id_in_two_accounts_shares_no_exception_and_no_report_line() {
    let p = policy(
        "version: 1
settings: {accounts: [\"222222222222\", \"333333333333\"]}
groups:
  web: {mode: enforce, ingress: []}
  db: {accounts: [\"333333333333\"], ingress: []}
exceptions:
  - {group: web, rule: tcp/22 from 10.0.0.0/8, owner: a, expires: 2030-01-01, accounts: [\"222222222222\"]}
",
    );
    let in_account = |account: &str, name: &str| {
        let mut g = live(
            "us-east-1",
            "sg-0aaa",
            name,
            "vpc-1",
            &["tcp/22 from 10.0.0.0/8"],
        );
        g.place = Place::new(account, "us-east-1");
        g
    };
    let i = inv(vec![
        in_account("222222222222", "web"),
        in_account("333333333333", "web"),
    ]);
    let places = [
        Place::new("222222222222", "us-east-1"),
        Place::new("333333333333", "us-east-1"),
    ];
    let d = drift(&p, &i, &places, day("2026-11-23"));
    let by_account = |a: &str| d.groups.iter().find(|g| g.place.account == a).unwrap();
    assert_eq!(d.groups.len(), 2, "one line per account");
    assert_eq!(
        texts(&by_account("222222222222").excepted),
        ["tcp/22 from 10.0.0.0/8"]
    );
    assert_eq!(
        texts(&by_account("333333333333").extra),
        ["tcp/22 from 10.0.0.0/8"]
    );
    // `db` is narrowed to one account: missing there only.
    let missing: Vec<&str> = d
        .missing_groups
        .iter()
        .map(|m| m.place.account.as_str())
        .collect();
    assert_eq!(missing, ["333333333333"]);
}
