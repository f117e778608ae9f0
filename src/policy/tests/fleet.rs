//! Tests of the policy language's fleet parts: guardrails, presets, selectors,
//! templates, guardrail exceptions, and the conflicts `validate` can see.

use super::{issues, ok, one_issue};
use crate::guardrail::{GuardrailMode, Severity};
use crate::policy::{load_str, print};
use crate::rule::Direction;

#[test]
fn guardrails_read_with_defaults_and_presets_fill_in_their_patterns() {
    let p = ok("version: 1
groups: {}
guardrails:
  - id: no-admin-from-world
    deny: ['tcp/22,3389 from world', udp/22 from world]
  - id: web-world-only
    severity: medium
    mode: enforce
    select: {tags: {tier: web}}
    world_only: [tcp/443, tcp/80]
  - preset: world-high-risk-ports
    mode: enforce
  - preset: default-group-closed
    id: closed-defaults
    severity: critical
");
    let g = &p.guardrails;
    assert_eq!(g.len(), 4);
    assert_eq!(g[0].id, "no-admin-from-world");
    assert_eq!(
        (g[0].severity, g[0].mode),
        (Severity::High, GuardrailMode::Audit)
    );
    assert_eq!(g[0].deny.len(), 2);
    assert_eq!(g[0].deny[0].1.len(), 2, "one pattern per port range");
    assert!(g[0].select.is_none());
    assert_eq!(
        (g[1].severity, g[1].mode),
        (Severity::Medium, GuardrailMode::Enforce)
    );
    assert_eq!(g[1].world_only.as_ref().unwrap().1.len(), 2);
    assert_eq!(g[2].id, "world-high-risk-ports");
    assert_eq!(g[2].severity, Severity::Critical);
    assert_eq!(g[2].deny[0].1.len(), 24);
    assert_eq!(g[3].id, "closed-defaults");
    assert_eq!(g[3].severity, Severity::Critical);
    assert_eq!(g[3].select.as_ref().unwrap().spec().names, vec!["default"]);
}

#[test]
fn guardrail_mistakes_are_reported_where_they_are_with_suggestions() {
    let all = issues(
        "version: 1
groups: {}
guardrails:
  - id: Bad_Id
    deny: [tcp/22 from 0.0.0.0/0]
  - preset: world-admin-port
  - id: a
    severity: severe
    world_only: [icmp/8]
  - deny: [tcp/22 from world]
  - id: b
  - id: c
    deny: [tcp/22 from world]
  - id: c
    deny: [tcp/23 from world]
  - preset: world-admin-ports
    deny: [tcp/1 from world]
",
    );
    let find = |path: &str| {
        all.iter()
            .find(|i| i.path == path)
            .unwrap_or_else(|| panic!("no issue at {path}: {all:#?}"))
    };
    assert!(find("guardrails[0].id").message.contains("Bad_Id"));
    let world = find("guardrails[0].deny[0]");
    assert!(world.message.contains("0.0.0.0/0"), "{world:?}");
    assert!(world.help.as_deref().unwrap().contains("world"));
    assert_eq!(world.line, Some(5));
    let preset = find("guardrails[1].preset");
    assert_eq!(
        preset.help.as_deref(),
        Some("did you mean `world-admin-ports`?")
    );
    assert!(
        find("guardrails[2].severity")
            .help
            .as_deref()
            .unwrap()
            .contains("critical")
    );
    assert!(find("guardrails[2].world_only").message.contains("icmp/8"));
    assert_eq!(find("guardrails[3]").message, "missing `id`");
    assert!(find("guardrails[4]").message.contains("needs `deny`"));
    assert!(find("guardrails[6].id").message.contains("guardrails[5]"));
    assert!(
        find("guardrails[7]")
            .message
            .contains("brings its own patterns")
    );
}

#[test]
fn selectors_are_checked_and_compiled() {
    let p = ok(r#"version: 1
groups:
  web:
    select:
      names: ["web-*", "api-?"]
      vpcs: [vpc-0abc]
      tags: {team: payments, env: "prod*"}
      exclude: {tags: {"sgwarden:ignore": "*"}}
    priority: 5
    ingress: [tcp/443 from 10.0.0.0/8]
"#);
    let web = &p.groups["web"];
    let spec = web.select.as_ref().unwrap().spec();
    assert_eq!(spec.names, vec!["web-*", "api-?"]);
    assert_eq!(spec.tags["env"], "prod*");
    assert!(spec.exclude.is_some());
    assert_eq!(web.priority, 5);
    assert!(!web.create, "a select entry never creates");

    let all = issues(
        "version: 1
groups:
  a: {select: {names: [\"web-[\"], ids: [sg-zz], vpcs: [vnet-1]}}
  b: {name: x, select: {names: [x]}}
  c: {priority: 3}
  d: {select: {tags: {env: prod}}, create: true}
  e: {select: {exclude: {exclude: {names: [x]}}}}
",
    );
    let msgs: Vec<String> = all
        .iter()
        .map(|i| format!("{}: {}", i.path, i.message))
        .collect();
    let has = |path: &str, text: &str| {
        assert!(
            msgs.iter().any(|m| m.starts_with(path) && m.contains(text)),
            "{path} / {text}: {msgs:#?}"
        )
    };
    has("groups.a.select.names", "not a valid glob");
    has("groups.a.select.ids", "sg-zz");
    has("groups.a.select.vpcs", "vnet-1");
    has("groups.b", "`select` with `name` or `id`");
    has("groups.c.priority", "no `select`");
    has("groups.d.create", "cannot create");
    has("groups.e.select.exclude.exclude", "inside an `exclude`");
}

#[test]
fn templates_add_their_rules_and_manage_their_directions() {
    let p = ok("version: 1
variables: {office: 203.0.113.0/24}
templates:
  ssh: {ingress: [tcp/22 from @office]}
  out: {egress: [tcp/443 to 0.0.0.0/0]}
global: {ingress: [icmp/8 from 10.0.0.0/8]}
groups:
  web:
    include: [ssh, out]
    ingress: [tcp/443 from 0.0.0.0/0]
  db: {include: [out]}
");
    let texts = |key: &str, d: Direction| -> Vec<String> {
        p.groups[key]
            .rules(d)
            .map(|r| r.iter().map(|x| x.rule.to_string()).collect())
            .unwrap_or_default()
    };
    assert_eq!(
        texts("web", Direction::Ingress),
        vec![
            "tcp/22 from 203.0.113.0/24",
            "tcp/443 from 0.0.0.0/0",
            "icmp/8 from 10.0.0.0/8"
        ]
    );
    assert_eq!(
        texts("web", Direction::Egress),
        vec!["tcp/443 to 0.0.0.0/0"]
    );
    // `db` takes the template's egress; its ingress comes from the global rules only.
    assert_eq!(texts("db", Direction::Egress), vec!["tcp/443 to 0.0.0.0/0"]);
    assert_eq!(
        texts("db", Direction::Ingress),
        vec!["icmp/8 from 10.0.0.0/8"]
    );

    let i = one_issue(
        "version: 1\ntemplates: {ssh: {ingress: []}}\ngroups:\n  web: {include: [shh]}\n",
    );
    assert_eq!(i.path, "groups.web.include");
    assert_eq!(i.help.as_deref(), Some("did you mean `ssh`?"));
}

#[test]
fn validate_reports_a_wanted_rule_a_guardrail_denies_when_the_policy_shows_it() {
    let base = "version: 1
guardrails:
  - {id: no-ssh, deny: [tcp/22 from world]}
  - {id: web-only, select: {names: [\"web*\"]}, deny: [tcp/23 from world]}
  - {id: tagged, select: {tags: {env: prod}}, deny: [tcp/25 from world]}
groups:
  web: {ingress: [tcp/0-65535 from 0.0.0.0/0]}
  db: {ingress: [tcp/23 from 0.0.0.0/0]}
";
    let all = issues(base);
    let msgs: Vec<&str> = all.iter().map(|i| i.message.as_str()).collect();
    assert_eq!(all.len(), 2, "{msgs:#?}");
    assert!(msgs[0].contains("denied by guardrail `no-ssh`"), "{msgs:?}");
    assert!(
        msgs[1].contains("denied by guardrail `web-only`"),
        "{msgs:?}"
    );
    assert!(all.iter().all(|i| i.path == "groups.web.ingress"));
    // An exception of the guardrail for the entry allows it.
    let excepted = format!(
        "{base}exceptions:\n  - {{guardrail: no-ssh, group: web, rule: tcp/22 from world, owner: a, expires: 2030-01-01}}\n  - {{guardrail: web-only, group: web, rule: tcp/23 from world, owner: a, expires: 2030-01-01}}\n"
    );
    ok(&excepted);
}

#[test]
fn guardrail_exceptions_name_a_guardrail_and_their_groups() {
    let p = ok("version: 1
guardrails: [{id: no-ssh, deny: [tcp/22 from world]}]
groups: {web: {ingress: []}}
exceptions:
  - {guardrail: no-ssh, select: {tags: {team: bastion}}, rule: tcp/22 from world, owner: a, expires: 2030-01-01}
  - {guardrail: no-ssh, group: web, rule: tcp/22 from 198.51.100.0/24, owner: b, expires: 2030-01-01}
");
    assert_eq!(p.exceptions.len(), 2);
    assert_eq!(p.exceptions[0].guardrail.as_deref(), Some("no-ssh"));
    assert_eq!(p.exceptions[0].patterns.len(), 1);
    assert!(p.exceptions[0].rules.is_empty());
    assert!(p.exceptions[0].group.is_none() && p.exceptions[0].select.is_some());

    let all = issues(
        "version: 1
guardrails: [{id: no-ssh, deny: [tcp/22 from world]}]
groups: {web: {ingress: []}}
exceptions:
  - {guardrail: no-shh, group: web, rule: tcp/22 from world, owner: a, expires: 2030-01-01}
  - {guardrail: no-ssh, rule: tcp/22 from world, owner: a, expires: 2030-01-01}
  - {group: web, select: {names: [x]}, rule: tcp/22 from 10.0.0.0/8, owner: a, expires: 2030-01-01}
",
    );
    let find = |path: &str| {
        all.iter()
            .find(|i| i.path == path)
            .unwrap_or_else(|| panic!("{path}: {all:#?}"))
    };
    assert_eq!(
        find("exceptions[0].guardrail").help.as_deref(),
        Some("did you mean `no-ssh`?")
    );
    assert!(
        find("exceptions[1]")
            .message
            .contains("missing `group` or `select`")
    );
    assert!(
        find("exceptions[2].select")
            .message
            .contains("for an exception to a guardrail")
    );
}

#[test]
fn the_printed_policy_reads_back_with_its_guardrails_and_selectors() {
    let first = ok(r#"version: 1
templates: {ssh: {ingress: [tcp/22 from 10.0.0.0/8]}}
guardrails:
  - {preset: default-group-closed, mode: enforce}
  - {id: web, select: {tags: {tier: web}, exclude: {names: ["x*"]}}, world_only: [tcp/443]}
groups:
  web: {select: {tags: {tier: web}}, priority: 2, include: [ssh]}
exceptions:
  - {guardrail: web, select: {ids: [sg-0abc]}, rule: tcp/80 from world, owner: a, expires: 2030-01-01}
"#);
    let printed = print::to_yaml(&print::policy_value(&first));
    let again = load_str("printed.yaml", &printed)
        .unwrap_or_else(|e| panic!("{e}: {:?}\n{printed}", e.issues()));
    assert_eq!(again.guardrails, first.guardrails, "{printed}");
    assert_eq!(again.exceptions, first.exceptions, "{printed}");
    let (a, b) = (&again.groups["web"], &first.groups["web"]);
    assert_eq!(
        (&a.select, a.priority, &a.ingress),
        (&b.select, b.priority, &b.ingress),
        "{printed}"
    );
}

#[test]
fn a_hub_policy_names_its_accounts_and_entries_narrow_them() {
    let p = ok(r#"version: 1
settings:
  accounts: ["222222222222", 333333333333, "444444444444"]
  exclude_accounts: ["444444444444"]
groups:
  web: {accounts: ["333333333333"], ingress: []}
exceptions:
  - {group: web, rule: tcp/22 from 10.0.0.0/8, owner: a, expires: 2030-01-01, accounts: ["333333333333"]}
"#);
    assert_eq!(
        p.settings.governed_accounts(&[], "999999999999").unwrap(),
        ["222222222222", "333333333333"]
    );
    assert_eq!(p.groups["web"].accounts, ["333333333333"]);
    assert!(p.exceptions[0].holds_in("333333333333"));
    assert!(!p.exceptions[0].holds_in("222222222222"));
    let printed = print::to_yaml(&print::policy_value(&p));
    let again = load_str("printed.yaml", &printed).unwrap();
    assert_eq!(again.settings, p.settings, "{printed}");
    assert_eq!(
        again.groups["web"].accounts, p.groups["web"].accounts,
        "{printed}"
    );
    assert_eq!(again.exceptions, p.exceptions, "{printed}");

    // `organization`: every ACTIVE account the planner read, less the hub and exclusions.
    let org = ok(
        "version: 1\nsettings: {accounts: organization, exclude_accounts: [\"555555555555\"]}\ngroups: {}\n",
    );
    let active = ["111111111111", "555555555555", "666666666666"].map(String::from);
    assert_eq!(
        org.settings
            .governed_accounts(&active, "111111111111")
            .unwrap(),
        ["666666666666"]
    );
    // A single-account policy has none.
    assert!(
        ok("version: 1\ngroups: {}\n")
            .settings
            .governed_accounts(&active, "")
            .is_none()
    );
}

#[test]
fn account_mistakes_are_reported_where_they_are() {
    let all = issues(
        r#"version: 1
settings:
  account: "111111111111"
  accounts: ["222222222222", "12345"]
groups:
  web: {accounts: ["333333333333"]}
"#,
    );
    let msgs: Vec<String> = all
        .iter()
        .map(|i| format!("{}: {}", i.path, i.message))
        .collect();
    let has = |text: &str| assert!(msgs.iter().any(|m| m.contains(text)), "{text}: {msgs:#?}");
    has("settings.accounts[1]: expected a 12-digit AWS account id");
    has("settings.accounts: `account` and `accounts` together");
    has("groups.web.accounts: account `333333333333` is not in settings.accounts");
    let i = one_issue("version: 1\nsettings: {accounts: everything}\ngroups: {}\n");
    assert!(i.message.contains("`organization` or a list"), "{i:?}");
    let i = one_issue("version: 1\ngroups: {web: {accounts: [\"333333333333\"]}}\n");
    assert!(i.message.contains("does not set"), "{i:?}");
}
