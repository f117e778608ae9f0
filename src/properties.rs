//! Property tests of the core's invariants: canonical text round-trips; the drift of a
//! state against itself is empty; applying an enforce plan yields exactly the desired
//! state, and an add-only plan never removes a rule.

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};
use proptest::prelude::*;

use crate::drift::drift;
use crate::inventory::{CurrentGroup, Inventory};
use crate::plan::{self, PlanOptions};
use crate::policy::load_str;
use crate::rule::{DescribedRule, Direction, Icmp, Peer, Protocol, Rule};

const OWNER: &str = "111111111111";

fn arb_protocol() -> impl Strategy<Value = Protocol> {
    let range = (any::<u16>(), any::<u16>()).prop_map(|(a, b)| (a.min(b), a.max(b)));
    let icmp = prop_oneof![
        Just(Icmp::ALL),
        any::<u8>().prop_map(|t| Icmp {
            icmp_type: Some(t),
            code: None
        }),
        (any::<u8>(), any::<u8>()).prop_map(|(t, c)| Icmp {
            icmp_type: Some(t),
            code: Some(c)
        }),
    ];
    prop_oneof![
        range
            .clone()
            .prop_map(|(from, to)| Protocol::Tcp { from, to }),
        range.prop_map(|(from, to)| Protocol::Udp { from, to }),
        icmp.clone().prop_map(Protocol::Icmp),
        icmp.prop_map(Protocol::Icmpv6),
        Just(Protocol::All),
        any::<u8>()
            .prop_filter("named protocols", |n| ![1, 6, 17, 58].contains(n))
            .prop_map(Protocol::Number),
    ]
}

fn arb_peer() -> impl Strategy<Value = Peer> {
    prop_oneof![
        (any::<u32>(), 0u8..=32)
            .prop_map(|(a, p)| Peer::V4(Ipv4Net::new(Ipv4Addr::from(a), p).unwrap().trunc())),
        (any::<u128>(), 0u8..=128)
            .prop_map(|(a, p)| Peer::V6(Ipv6Net::new(Ipv6Addr::from(a), p).unwrap().trunc())),
        ("[0-9a-f]{8,17}", proptest::option::of("[2-9][0-9]{11}")).prop_map(|(id, account)| {
            Peer::Group {
                account,
                id: format!("sg-{id}"),
            }
        }),
        "[0-9a-f]{8,17}".prop_map(|id| Peer::PrefixList(format!("pl-{id}"))),
    ]
}

fn arb_rule() -> impl Strategy<Value = Rule> {
    (
        prop_oneof![Just(Direction::Ingress), Just(Direction::Egress)],
        arb_protocol(),
        arb_peer(),
    )
        .prop_map(|(direction, protocol, peer)| Rule {
            direction,
            protocol,
            peer,
        })
}

/// Rules drawn from a small pool, so that desired and current sets overlap.
fn pooled_rules() -> impl Strategy<Value = Vec<Rule>> {
    proptest::collection::vec(arb_rule(), 12)
        .prop_flat_map(|pool| proptest::sample::subsequence(pool.clone(), 0..=pool.len()))
}

fn policy_text(rules: &[Rule], mode: &str) -> String {
    let mut t =
        format!("version: 1\ngroups:\n  g:\n    mode: {mode}\n    ingress: []\n    egress: []\n");
    for direction in Direction::BOTH {
        let list: Vec<String> = rules
            .iter()
            .filter(|r| r.direction == direction)
            .map(|r| format!("'{r}'"))
            .collect();
        if !list.is_empty() {
            t = t.replace(
                &format!("    {direction}: []\n"),
                &format!("    {direction}: [{}]\n", list.join(", ")),
            );
        }
    }
    t
}

fn live(rules: &[Rule]) -> CurrentGroup {
    let mut ingress: Vec<DescribedRule> = Vec::new();
    let mut egress: Vec<DescribedRule> = Vec::new();
    for r in rules {
        let d = DescribedRule {
            rule: r.clone(),
            description: None,
        };
        if r.direction == Direction::Ingress {
            ingress.push(d)
        } else {
            egress.push(d)
        }
    }
    for v in [&mut ingress, &mut egress] {
        v.sort();
        v.dedup();
    }
    CurrentGroup {
        place: crate::place::Place::new("", "us-east-1"),
        group_id: "sg-0aaa".into(),
        group_name: "g".into(),
        vpc_id: Some("vpc-1".into()),
        owner_id: OWNER.into(),
        description: String::new(),
        tags: Default::default(),
        ingress,
        egress,
    }
}

fn set(rules: &[DescribedRule]) -> Vec<Rule> {
    let mut v: Vec<Rule> = rules.iter().map(|r| r.rule.clone()).collect();
    v.sort();
    v.dedup();
    v
}

fn today() -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
}

proptest! {
    #[test]
    fn canonical_text_round_trips(rule in arb_rule()) {
        let text = rule.to_string();
        let back: Rule = text.parse().unwrap();
        prop_assert_eq!(back, rule);
    }

    #[test]
    fn drift_of_a_state_against_itself_is_empty(rules in pooled_rules()) {
        let policy = load_str("p.yaml", &policy_text(&rules, "enforce")).unwrap();
        let inv = Inventory { groups: vec![live(&rules)], unreadable: vec![] };
        let d = drift(&policy, &inv, &[crate::place::Place::new("", "us-east-1")], today());
        prop_assert!(!d.has_drift(), "{:#?}", d);
    }

    #[test]
    fn applying_an_enforce_plan_yields_exactly_the_desired_state(desired in pooled_rules(), current in pooled_rules()) {
        let policy = load_str("p.yaml", &policy_text(&desired, "enforce")).unwrap();
        let mut group = live(&current);
        let inv = Inventory { groups: vec![group.clone()], unreadable: vec![] };
        let d = drift(&policy, &inv, &[crate::place::Place::new("", "us-east-1")], today());
        let p = plan::plan(&d, PlanOptions { max_changes_per_run: u64::MAX, force_audit: false });
        for direction in Direction::BOTH {
            plan::apply_to(group.rules_mut(direction), direction, &p.groups[0].actions);
        }
        let want = live(&desired);
        prop_assert_eq!(set(&group.ingress), set(&want.ingress));
        prop_assert_eq!(set(&group.egress), set(&want.egress));
        // And the result has no drift.
        let after = drift(&policy, &Inventory { groups: vec![group], unreadable: vec![] }, &[crate::place::Place::new("", "us-east-1")], today());
        prop_assert!(!after.has_drift());
    }

    #[test]
    fn an_add_only_plan_adds_what_is_missing_and_removes_nothing(desired in pooled_rules(), current in pooled_rules()) {
        let policy = load_str("p.yaml", &policy_text(&desired, "add-only")).unwrap();
        let mut group = live(&current);
        let inv = Inventory { groups: vec![group.clone()], unreadable: vec![] };
        let d = drift(&policy, &inv, &[crate::place::Place::new("", "us-east-1")], today());
        let p = plan::plan(&d, PlanOptions { max_changes_per_run: u64::MAX, force_audit: false });
        for direction in Direction::BOTH {
            plan::apply_to(group.rules_mut(direction), direction, &p.groups[0].actions);
        }
        let mut union: Vec<Rule> = desired.iter().chain(&current).cloned().collect();
        union.sort();
        union.dedup();
        let mut got = set(&group.ingress);
        got.extend(set(&group.egress));
        got.sort();
        prop_assert_eq!(got, union);
    }
}

/// Tokens that stress the YAML reader and the rule parser when spliced into a policy.
const TOKENS: &[&str] = &[
    "\n",
    ": ",
    "- ",
    "[",
    "]",
    "{",
    "}",
    "'",
    "\"",
    "@",
    "@admins",
    "&a ",
    "*a",
    "!!str ",
    "#",
    "\t",
    "sg:",
    "sg:web",
    "self",
    "/",
    "-1",
    "0-65535",
    "65536",
    "3:4",
    "::",
    "/33",
    "10.0.0.1/8",
    "from",
    "to",
    ",",
    ", ",
    "icmp",
    "all",
    "6/22",
    "null",
    "~",
    "version: 2",
    "  ",
    "    ",
    "\u{fffd}",
    "é",
    "\r\n",
    "---\n",
];

#[derive(Clone, Debug)]
enum Mutation {
    Delete(usize, usize),
    Insert(usize, usize),
    DuplicateLine(usize),
    SwapLines(usize, usize),
    Truncate(usize),
}

fn arb_mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1usize..20).prop_map(|(a, n)| Mutation::Delete(a, n)),
        (any::<usize>(), any::<usize>()).prop_map(|(a, t)| Mutation::Insert(a, t)),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn boundary(text: &str, at: usize) -> usize {
    let mut i = at % (text.len() + 1);
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn mutate(text: &str, mutations: &[Mutation]) -> String {
    let mut t = text.to_string();
    for m in mutations {
        match *m {
            Mutation::Delete(a, n) => {
                let s = boundary(&t, a);
                let e = boundary(&t, (s + n).min(t.len()));
                if e > s {
                    t.replace_range(s..e, "");
                }
            }
            Mutation::Insert(a, tok) => {
                let s = boundary(&t, a);
                t.insert_str(s, TOKENS[tok % TOKENS.len()]);
            }
            Mutation::DuplicateLine(a) | Mutation::SwapLines(a, _) | Mutation::Truncate(a)
                if t.is_empty() =>
            {
                let _ = a;
            }
            Mutation::DuplicateLine(a) => {
                let mut lines: Vec<String> = t.lines().map(str::to_string).collect();
                let i = a % lines.len().max(1);
                if let Some(l) = lines.get(i).cloned() {
                    lines.insert(i, l);
                }
                t = lines.join("\n");
            }
            Mutation::SwapLines(a, b) => {
                let mut lines: Vec<String> = t.lines().map(str::to_string).collect();
                if !lines.is_empty() {
                    let n = lines.len();
                    lines.swap(a % n, b % n);
                }
                t = lines.join("\n");
            }
            Mutation::Truncate(a) => {
                let s = boundary(&t, a);
                t.truncate(s);
            }
        }
    }
    t
}

const EXAMPLE_POLICY: &str = include_str!("../examples/policy.yaml");
const EXAMPLE_SNAPSHOT: &str = include_str!("../examples/snapshots/us-east-1.json");

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn mutated_policies_never_panic_and_errors_say_where(muts in proptest::collection::vec(arb_mutation(), 1..6)) {
        let text = mutate(EXAMPLE_POLICY, &muts);
        match load_str("p.yaml", &text) {
            Err(e) => {
                prop_assert!(!e.issues().is_empty());
                for i in e.issues() {
                    prop_assert_eq!(i.file.as_str(), "p.yaml");
                    prop_assert!(i.line.is_some() && !i.message.is_empty(), "{}", i);
                }
            }
            Ok(policy) => {
                // A policy that still loads runs through the whole pure path.
                let mut inv = Inventory::default();
                crate::inventory::read_snapshot("s.json", &crate::place::Place::new("", "us-east-1"), EXAMPLE_SNAPSHOT, &mut inv).unwrap();
                let places = [crate::place::Place::new("", "us-east-1"), crate::place::Place::new("", "eu-west-1")];
                let report = crate::report::plan_report(&policy, &inv, &places, today(), crate::report::TriggerInfo::manual(), false);
                let _ = crate::report::render::text(&report);
                let _ = crate::report::render::markdown(&report);
                let _ = crate::report::render::table(&report, true);
                let _ = report.to_json();
            }
        }
    }

    #[test]
    fn mutated_snapshots_never_panic(muts in proptest::collection::vec(arb_mutation(), 1..4)) {
        let text = mutate(EXAMPLE_SNAPSHOT, &muts);
        let mut inv = Inventory::default();
        let _ = crate::inventory::read_snapshot("s.json", &crate::place::Place::new("", "us-east-1"), &text, &mut inv);
    }

    #[test]
    fn arbitrary_text_never_panics_the_rule_parser(text in "\\PC{0,60}") {
        let _ = text.parse::<Rule>();
        let _ = crate::rule::parse_compact(&text, None);
        let _ = load_str("p.yaml", &text);
    }
}
