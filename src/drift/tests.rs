//! Tests of drift: matching, resolution of `self` and `sg:NAME`, and every rule of
//! identity in policy-language.md.

use super::*;
use crate::inventory::{self, Inventory};
use crate::policy::load_str;
use crate::rule::DescribedRule;

const OWNER: &str = "111111111111";

fn policy(text: &str) -> Policy {
    load_str("p.yaml", text).unwrap_or_else(|e| panic!("{e}: {:#?}", e.issues()))
}

/// A live group from canonical rule texts.
fn live(region: &str, id: &str, name: &str, vpc: &str, rules: &[&str]) -> CurrentGroup {
    let mut ingress = Vec::new();
    let mut egress = Vec::new();
    for t in rules {
        let rule: Rule = t.parse().unwrap();
        let d = DescribedRule {
            rule,
            description: None,
        };
        if d.rule.direction == Direction::Ingress {
            ingress.push(d);
        } else {
            egress.push(d);
        }
    }
    ingress.sort();
    egress.sort();
    CurrentGroup {
        place: Place::new("", region),
        group_id: id.into(),
        group_name: name.into(),
        vpc_id: Some(vpc.into()),
        owner_id: OWNER.into(),
        description: String::new(),
        tags: Default::default(),
        ingress,
        egress,
    }
}

fn inv(groups: Vec<CurrentGroup>) -> Inventory {
    Inventory {
        groups,
        unreadable: vec![],
    }
}

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn run(p: &Policy, i: &Inventory) -> Drift {
    drift(p, i, &[Place::new("", "us-east-1")], day("2026-11-23"))
}

fn texts(rules: &[DescribedRule]) -> Vec<String> {
    rules.iter().map(|r| r.rule.to_string()).collect()
}

fn find<'a>(d: &'a Drift, id: &str) -> &'a GroupDrift {
    d.groups.iter().find(|g| g.group_id == id).unwrap()
}

#[test]
fn a_drifted_cidr_inside_a_wanted_permission_is_one_missing_and_one_extra() {
    let p = policy(
        "version: 1\ngroups:\n  web: {ingress: ['tcp/443 from 10.0.0.0/8, 192.168.0.0/16']}\n",
    );
    let mut i = Inventory::default();
    inventory::read_snapshot(
        "s.json",
        &Place::new("", "us-east-1"),
        r#"{"SecurityGroups":[{"GroupId":"sg-1","GroupName":"web","OwnerId":"111111111111","VpcId":"vpc-1",
        "IpPermissions":[{"IpProtocol":"tcp","FromPort":443,"ToPort":443,
          "IpRanges":[{"CidrIp":"10.0.0.0/8"},{"CidrIp":"192.168.0.0/24"}]}]}]}"#,
        &mut i,
    )
    .unwrap();
    let d = run(&p, &i);
    let g = find(&d, "sg-1");
    assert_eq!(texts(&g.missing), vec!["tcp/443 from 192.168.0.0/16"]);
    assert_eq!(texts(&g.extra), vec!["tcp/443 from 192.168.0.0/24"]);
}

#[test]
fn all_protocols_match_live_minus_one() {
    let p = policy("version: 1\ngroups:\n  web: {egress: [all to 0.0.0.0/0]}\n");
    let mut i = Inventory::default();
    inventory::read_snapshot(
        "s.json",
        &Place::new("", "us-east-1"),
        r#"{"SecurityGroups":[{"GroupId":"sg-1","GroupName":"web","OwnerId":"1","VpcId":"vpc-1",
        "IpPermissionsEgress":[{"IpProtocol":"-1","IpRanges":[{"CidrIp":"0.0.0.0/0"}]}]}]}"#,
        &mut i,
    )
    .unwrap();
    assert!(!run(&p, &i).has_drift());
}

#[test]
fn icmp_type_code_matches_ec2_from_and_to_ports() {
    let p = policy(
        "version: 1\ngroups:\n  web: {ingress: ['icmp/3:4 from 0.0.0.0/0', 'icmp/8 from 0.0.0.0/0']}\n",
    );
    let mut i = Inventory::default();
    inventory::read_snapshot(
        "s.json",
        &Place::new("", "us-east-1"),
        r#"{"SecurityGroups":[{"GroupId":"sg-1","GroupName":"web","OwnerId":"1","VpcId":"vpc-1",
        "IpPermissions":[{"IpProtocol":"icmp","FromPort":3,"ToPort":4,"IpRanges":[{"CidrIp":"0.0.0.0/0"}]},
                         {"IpProtocol":"1","FromPort":8,"ToPort":-1,"IpRanges":[{"CidrIp":"0.0.0.0/0"}]}]}]}"#,
        &mut i,
    )
    .unwrap();
    assert!(!run(&p, &i).has_drift());
}

#[test]
fn ipv6_written_differently_in_policy_and_live_is_the_same_rule() {
    let p = policy("version: 1\ngroups:\n  web: {ingress: ['tcp/443 from 2001:0DB8:0000::/32']}\n");
    let i = inv(vec![live(
        "us-east-1",
        "sg-1",
        "web",
        "vpc-1",
        &["tcp/443 from 2001:db8::/32"],
    )]);
    assert!(!run(&p, &i).has_drift());
}

#[test]
fn bare_addresses_are_hosts() {
    let p =
        policy("version: 1\ngroups:\n  web: {ingress: ['tcp/22 from 10.1.2.3, 2001:db8::1']}\n");
    let i = inv(vec![live(
        "us-east-1",
        "sg-1",
        "web",
        "vpc-1",
        &["tcp/22 from 10.1.2.3/32", "tcp/22 from 2001:db8::1/128"],
    )]);
    assert!(!run(&p, &i).has_drift());
}

#[test]
fn self_resolves_to_the_group_itself() {
    let p = policy("version: 1\ngroups:\n  app: {ingress: [all from self]}\n");
    let i = inv(vec![
        live("us-east-1", "sg-1", "app", "vpc-1", &["all from sg-1"]),
        live("us-east-1", "sg-2", "app", "vpc-2", &["all from sg-1"]),
    ]);
    let d = run(&p, &i);
    assert!(!find(&d, "sg-1").has_drift());
    let other = find(&d, "sg-2");
    assert_eq!(texts(&other.missing), vec!["all from sg-2"]);
    assert_eq!(texts(&other.extra), vec!["all from sg-1"]);
}

#[test]
fn sg_name_resolves_in_the_same_vpc_when_two_vpcs_have_that_group() {
    let p =
        policy("version: 1\ngroups:\n  app: {ingress: ['tcp/8080 from sg:web']}\n  web: null\n");
    let i = inv(vec![
        live("us-east-1", "sg-0e1", "web", "vpc-1", &[]),
        live("us-east-1", "sg-0e2", "web", "vpc-2", &[]),
        live(
            "us-east-1",
            "sg-0a1",
            "app",
            "vpc-1",
            &["tcp/8080 from sg-0e1"],
        ),
        live(
            "us-east-1",
            "sg-0a2",
            "app",
            "vpc-2",
            &["tcp/8080 from sg-0e1"],
        ),
    ]);
    let d = run(&p, &i);
    assert!(!find(&d, "sg-0a1").has_drift());
    let a2 = find(&d, "sg-0a2");
    assert_eq!(texts(&a2.missing), vec!["tcp/8080 from sg-0e2"]);
    assert_eq!(texts(&a2.extra), vec!["tcp/8080 from sg-0e1"]);
}

#[test]
fn an_unresolvable_sg_name_is_a_missing_rule_with_its_name_not_a_crash() {
    let p =
        policy("version: 1\ngroups:\n  app: {ingress: ['tcp/8080 from sg:web']}\n  web: null\n");
    let i = inv(vec![live("us-east-1", "sg-0a1", "app", "vpc-1", &[])]);
    let d = run(&p, &i);
    assert_eq!(
        texts(&find(&d, "sg-0a1").missing),
        vec!["tcp/8080 from sg:web"]
    );
    assert_eq!(
        d.missing_groups,
        vec![MissingGroup {
            key: "web".into(),
            place: Place::new("", "us-east-1"),
            vpc_id: None
        }]
    );
}

#[test]
fn a_cross_account_pair_keeps_its_account_and_an_own_account_reference_drops_it() {
    let p = policy(
        "version: 1\ngroups:\n  web: {ingress: ['tcp/443 from 222222222222/sg-0abc', 'tcp/80 from 111111111111/sg-0def']}\n",
    );
    let mut i = Inventory::default();
    inventory::read_snapshot(
        "s.json",
        &Place::new("", "us-east-1"),
        r#"{"SecurityGroups":[{"GroupId":"sg-1","GroupName":"web","OwnerId":"111111111111","VpcId":"vpc-1",
        "IpPermissions":[
          {"IpProtocol":"tcp","FromPort":443,"ToPort":443,"UserIdGroupPairs":[{"GroupId":"sg-0abc","UserId":"222222222222"}]},
          {"IpProtocol":"tcp","FromPort":80,"ToPort":80,"UserIdGroupPairs":[{"GroupId":"sg-0def","UserId":"111111111111"}]}]}]}"#,
        &mut i,
    )
    .unwrap();
    assert!(!run(&p, &i).has_drift(), "{:#?}", run(&p, &i));
    // The same id in another account is another rule.
    let p2 = policy(
        "version: 1\ngroups:\n  web: {ingress: ['tcp/443 from 333333333333/sg-0abc', 'tcp/80 from sg-0def']}\n",
    );
    let d = run(&p2, &i);
    assert_eq!(
        texts(&find(&d, "sg-1").missing),
        vec!["tcp/443 from 333333333333/sg-0abc"]
    );
}

#[test]
fn prefix_lists_compare_by_id() {
    let p = policy("version: 1\ngroups:\n  web: {ingress: ['tcp/443 from pl-0abc']}\n");
    let i = inv(vec![live(
        "us-east-1",
        "sg-1",
        "web",
        "vpc-1",
        &["tcp/443 from pl-0abc", "tcp/443 from pl-0def"],
    )]);
    let d = run(&p, &i);
    assert_eq!(texts(&find(&d, "sg-1").extra), vec!["tcp/443 from pl-0def"]);
}

#[test]
fn global_opt_out_leaves_the_global_rule_extra() {
    let p = policy(
        "version: 1\nglobal: {ingress: [tcp/22 from 10.0.0.0/8]}\ngroups:\n  a: {ingress: []}\n  b: {global: false, ingress: []}\n",
    );
    let i = inv(vec![
        live(
            "us-east-1",
            "sg-a",
            "a",
            "vpc-1",
            &["tcp/22 from 10.0.0.0/8"],
        ),
        live(
            "us-east-1",
            "sg-b",
            "b",
            "vpc-1",
            &["tcp/22 from 10.0.0.0/8"],
        ),
    ]);
    let d = run(&p, &i);
    assert!(!find(&d, "sg-a").has_drift());
    assert_eq!(
        texts(&find(&d, "sg-b").extra),
        vec!["tcp/22 from 10.0.0.0/8"]
    );
}

#[test]
fn egress_absent_is_not_compared_and_egress_empty_wants_none() {
    let p = policy("version: 1\ngroups:\n  a: {ingress: []}\n  b: {ingress: [], egress: []}\n");
    let i = inv(vec![
        live("us-east-1", "sg-a", "a", "vpc-1", &["all to 0.0.0.0/0"]),
        live("us-east-1", "sg-b", "b", "vpc-1", &["all to 0.0.0.0/0"]),
    ]);
    let d = run(&p, &i);
    assert!(!find(&d, "sg-a").has_drift());
    assert_eq!(find(&d, "sg-a").managed, vec![Direction::Ingress]);
    assert_eq!(texts(&find(&d, "sg-b").extra), vec!["all to 0.0.0.0/0"]);
}

#[test]
fn exceptions_hold_through_their_last_day_and_then_are_drift_again() {
    let p = policy(
        "version: 1\ngroups:\n  web: {ingress: []}\nexceptions:\n  - {group: web, rule: tcp/8443 from 198.51.100.0/24, expires: 2026-12-31, owner: alice}\n",
    );
    let i = inv(vec![live(
        "us-east-1",
        "sg-1",
        "web",
        "vpc-1",
        &["tcp/8443 from 198.51.100.0/24"],
    )]);
    let r = [Place::new("", "us-east-1")];
    let during = drift(&p, &i, &r, day("2026-12-31"));
    assert!(!during.has_drift());
    assert_eq!(
        texts(&find(&during, "sg-1").excepted),
        vec!["tcp/8443 from 198.51.100.0/24"]
    );
    let after = drift(&p, &i, &r, day("2027-01-01"));
    let g = find(&after, "sg-1");
    assert_eq!(texts(&g.extra), vec!["tcp/8443 from 198.51.100.0/24"]);
    assert_eq!(g.expired_exceptions[0].owner, "alice");
    assert!(g.excepted.is_empty());
}

#[test]
fn an_exception_never_hides_a_missing_rule_or_another_group() {
    let p = policy(
        "version: 1\ngroups:\n  web: {ingress: [tcp/443 from 0.0.0.0/0]}\n  app: {ingress: []}\nexceptions:\n  - {group: web, rule: tcp/8443 from 10.0.0.0/8, expires: 2026-12-31, owner: a}\n",
    );
    let i = inv(vec![
        live("us-east-1", "sg-1", "web", "vpc-1", &[]),
        live(
            "us-east-1",
            "sg-2",
            "app",
            "vpc-1",
            &["tcp/8443 from 10.0.0.0/8"],
        ),
    ]);
    let d = run(&p, &i);
    assert_eq!(
        texts(&find(&d, "sg-1").missing),
        vec!["tcp/443 from 0.0.0.0/0"]
    );
    assert_eq!(
        texts(&find(&d, "sg-2").extra),
        vec!["tcp/8443 from 10.0.0.0/8"]
    );
}

#[test]
fn one_entry_governs_the_same_group_in_several_vpcs_and_regions() {
    let p = policy(
        "version: 1\nsettings: {regions: [us-east-1, eu-west-1]}\ngroups:\n  web: {ingress: [tcp/443 from 0.0.0.0/0]}\n",
    );
    let i = inv(vec![
        live("us-east-1", "sg-1", "web", "vpc-1", &[]),
        live(
            "us-east-1",
            "sg-2",
            "web",
            "vpc-2",
            &["tcp/443 from 0.0.0.0/0"],
        ),
        live("eu-west-1", "sg-3", "web", "vpc-3", &[]),
        live("ap-south-1", "sg-4", "web", "vpc-4", &[]),
    ]);
    let d = drift(
        &p,
        &i,
        &Place::all("", &p.settings.regions),
        day("2026-11-23"),
    );
    let ids: Vec<&str> = d.groups.iter().map(|g| g.group_id.as_str()).collect();
    assert_eq!(
        ids,
        vec!["sg-3", "sg-1", "sg-2"],
        "ordered by region, vpc; other regions ignored"
    );
    assert!(d.groups.iter().filter(|g| g.has_drift()).count() == 2);
}

#[test]
fn entries_match_by_id_and_are_narrowed_by_vpc_and_region() {
    let p = policy(
        "version: 1\nsettings: {regions: [us-east-1, eu-west-1]}\ngroups:\n  byid: {id: sg-0aaa, ingress: []}\n  invpc: {name: web, vpc: vpc-2, ingress: []}\n  ineu: {name: db, regions: [eu-west-1], ingress: []}\n",
    );
    let i = inv(vec![
        live("us-east-1", "sg-0aaa", "whatever", "vpc-1", &[]),
        live("us-east-1", "sg-0bbb", "web", "vpc-1", &[]),
        live("us-east-1", "sg-0ccc", "web", "vpc-2", &[]),
        live("us-east-1", "sg-0ddd", "db", "vpc-1", &[]),
        live("eu-west-1", "sg-0eee", "db", "vpc-3", &[]),
    ]);
    let d = drift(
        &p,
        &i,
        &Place::all("", &p.settings.regions),
        day("2026-11-23"),
    );
    let got: Vec<(&str, &str)> = d
        .groups
        .iter()
        .map(|g| (g.key.as_deref().unwrap_or_default(), g.group_id.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("ineu", "sg-0eee"),
            ("byid", "sg-0aaa"),
            ("invpc", "sg-0ccc")
        ]
    );
    // byid and invpc have no live group in eu-west-1.
    let missing: Vec<(&str, &str)> = d
        .missing_groups
        .iter()
        .map(|m| (m.key.as_str(), m.place.region.as_str()))
        .collect();
    assert_eq!(missing, vec![("byid", "eu-west-1"), ("invpc", "eu-west-1")]);
}

#[test]
fn an_id_entry_governs_before_a_name_entry_and_two_of_one_rank_are_an_error() {
    let web = || {
        inv(vec![live(
            "us-east-1",
            "sg-0aaa",
            "web",
            "vpc-1",
            &["tcp/22 from 0.0.0.0/0"],
        )])
    };
    let p = policy(
        "version: 1\ngroups:\n  a: {name: web, ingress: []}\n  b: {id: sg-0aaa, ingress: []}\n",
    );
    let d = run(&p, &web());
    assert!(d.errors.is_empty(), "{:?}", d.errors);
    assert_eq!(d.groups[0].key.as_deref(), Some("b"));
    assert_eq!(d.groups[0].matched_by, Some(crate::drift::MatchedBy::Id));
    // `a` names a live group, so it is not missing either.
    assert!(d.missing_groups.is_empty());

    let p = policy(
        "version: 1\ngroups:\n  a: {name: web, ingress: []}\n  b: {name: web, vpc: vpc-1, ingress: []}\n",
    );
    let d = run(&p, &web());
    assert!(d.groups.is_empty());
    assert_eq!(d.errors.len(), 1);
    assert!(
        d.errors[0]
            .message
            .contains("matched by entries `a` and `b`"),
        "{}",
        d.errors[0].message
    );
    assert!(d.missing_groups.is_empty());
}

#[test]
fn unmanaged_groups_are_listed_only_when_asked() {
    let text = |mode: &str| {
        format!("version: 1\nsettings: {{unmanaged_groups: {mode}}}\ngroups:\n  web: null\n")
    };
    let i = inv(vec![
        live("us-east-1", "sg-1", "web", "vpc-1", &[]),
        live("us-east-1", "sg-2", "legacy", "vpc-1", &[]),
    ]);
    assert!(
        run(&policy(&text("ignore")), &i)
            .unmanaged_groups
            .is_empty()
    );
    let d = run(&policy(&text("report")), &i);
    assert_eq!(d.unmanaged_groups[0].group_id, "sg-2");
}

#[test]
fn description_mismatches_are_drift_only_when_compared() {
    let text = |cmp: bool| {
        format!(
            "version: 1\nsettings: {{compare_descriptions: {cmp}}}\ngroups:\n  web:\n    ingress:\n      - {{proto: tcp, ports: 22, from: 10.0.0.0/8, description: ssh}}\n"
        )
    };
    let mut g = live(
        "us-east-1",
        "sg-1",
        "web",
        "vpc-1",
        &["tcp/22 from 10.0.0.0/8"],
    );
    g.ingress[0].description = Some("old".into());
    let i = inv(vec![g]);
    assert!(!run(&policy(&text(false)), &i).has_drift());
    let d = run(&policy(&text(true)), &i);
    let dd = &find(&d, "sg-1").descriptions[0];
    assert_eq!((dd.want.as_str(), dd.have.as_str()), ("ssh", "old"));
    assert!(d.has_drift());
}

#[test]
fn unreadable_live_groups_are_errors_not_drift() {
    let p = policy("version: 1\ngroups:\n  web: null\n");
    let mut i = inv(vec![]);
    i.unreadable.push(crate::inventory::UnreadableGroup {
        place: Place::new("", "us-east-1"),
        group_id: "sg-9".into(),
        group_name: "db".into(),
        vpc_id: None,
        message: "cannot read".into(),
    });
    let d = run(&p, &i);
    assert_eq!(d.errors[0].stage, crate::stage::Stage::Inventory);
}

#[test]
fn an_unreadable_group_is_never_missing() {
    // The entry names it (by name here, by id below): it exists, so it is neither missing
    // nor ever created a second time; it is only an inventory error.
    for entry in ["web: {create: true}", "web: {id: sg-9, create: true}"] {
        let p = policy(&format!("version: 1\ngroups:\n  {entry}\n"));
        let mut i = inv(vec![]);
        i.unreadable.push(crate::inventory::UnreadableGroup {
            place: Place::new("", "us-east-1"),
            group_id: "sg-9".into(),
            group_name: "web".into(),
            vpc_id: None,
            message: "cannot read".into(),
        });
        let d = run(&p, &i);
        assert!(
            d.missing_groups.is_empty(),
            "{entry}: {:?}",
            d.missing_groups
        );
        assert_eq!(d.errors.len(), 1);
    }
}

#[test]
fn the_same_group_in_two_accounts_is_two_groups_and_other_accounts_are_ignored() {
    let p = policy(
        "version: 1\ngroups:\n  web: {ingress: [tcp/443 from 0.0.0.0/0]}\n  db: {ingress: []}\n",
    );
    let at = |account: &str, id: &str, name: &str, rules: &[&str]| CurrentGroup {
        place: Place::new(account, "us-east-1"),
        owner_id: account.into(),
        ..live("us-east-1", id, name, "vpc-1", rules)
    };
    let i = inv(vec![
        at("111111111111", "sg-1", "web", &[]),
        at("222222222222", "sg-1", "web", &["tcp/443 from 0.0.0.0/0"]),
        at("222222222222", "sg-2", "db", &[]),
        at("333333333333", "sg-1", "web", &[]),
    ]);
    let places = [
        Place::new("111111111111", "us-east-1"),
        Place::new("222222222222", "us-east-1"),
    ];
    let d = drift(&p, &i, &places, day("2026-11-23"));
    let groups: Vec<(&str, &str, usize)> = d
        .groups
        .iter()
        .map(|g| {
            (
                g.place.account.as_str(),
                g.group_id.as_str(),
                g.missing.len(),
            )
        })
        .collect();
    assert_eq!(
        groups,
        vec![
            ("111111111111", "sg-1", 1),
            ("222222222222", "sg-2", 0),
            ("222222222222", "sg-1", 0),
        ],
        "one drift per account, sorted by place; account 333333333333 is not governed"
    );
    let missing: Vec<String> = d
        .missing_groups
        .iter()
        .map(|m| format!("{} {}", m.place, m.key))
        .collect();
    assert_eq!(
        missing,
        vec!["111111111111/us-east-1 db"],
        "db is missing in one account only"
    );
}

mod fleet;
