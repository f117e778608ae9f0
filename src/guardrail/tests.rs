//! The matcher against every way a port check is known to be fooled.

use super::*;

const GROUP: &str = "sg-0aaa";

fn rules(texts: &[&str]) -> Vec<DescribedRule> {
    texts
        .iter()
        .map(|t| DescribedRule {
            rule: t.parse().unwrap_or_else(|e| panic!("{t}: {e}")),
            description: None,
        })
        .collect()
}

/// The texts of the rules that violate any pattern of `pattern`.
fn hits(pattern: &str, live: &[&str]) -> Vec<String> {
    let live = rules(live);
    let mut found = BTreeSet::new();
    for p in parse(pattern).unwrap() {
        found.extend(violations(&p, GROUP, &live));
    }
    found
        .into_iter()
        .map(|i| live[i].rule.to_string())
        .collect()
}

#[test]
fn a_range_or_all_that_contains_the_port_violates_not_only_the_exact_port() {
    assert_eq!(
        hits(
            "tcp/22 from world",
            &[
                "tcp/0-65535 from 0.0.0.0/0",
                "tcp/20-23 from 0.0.0.0/0",
                "all from 0.0.0.0/0",
                "tcp/23-25 from 0.0.0.0/0",
                "udp/22 from 0.0.0.0/0",
            ]
        ),
        [
            "tcp/0-65535 from 0.0.0.0/0",
            "tcp/20-23 from 0.0.0.0/0",
            "all from 0.0.0.0/0"
        ]
    );
}

#[test]
fn ec2s_protocol_minus_one_is_all() {
    let all = Protocol::from_ec2("-1", None, None).unwrap();
    assert_eq!(all, Protocol::All);
    assert!(overlaps(&all, &Protocol::Tcp { from: 22, to: 22 }));
}

#[test]
fn the_whole_range_counts_not_its_first_port() {
    assert_eq!(
        hits("tcp/3389 from world", &["tcp/80-65535 from 0.0.0.0/0"]),
        ["tcp/80-65535 from 0.0.0.0/0"]
    );
}

#[test]
fn ipv6_world_is_world() {
    assert_eq!(
        hits(
            "tcp/22 from world",
            &["tcp/22 from ::/0", "tcp/22 from 2001:db8::/32"]
        ),
        ["tcp/22 from ::/0"]
    );
}

#[test]
fn cidrs_that_split_the_world_are_the_world_and_inner_ones_are_not() {
    let split = [
        "tcp/22 from 0.0.0.0/1",
        "tcp/22 from 128.0.0.0/1",
        "tcp/22 from 10.0.0.0/8",
    ];
    assert_eq!(
        hits("tcp/22 from world", &split),
        ["tcp/22 from 0.0.0.0/1", "tcp/22 from 128.0.0.0/1"]
    );
    // Half the world alone is not the world.
    assert!(hits("tcp/22 from world", &["tcp/22 from 0.0.0.0/1"]).is_empty());
    // Split over ranges that share port 22, and over `all`: still the world on 22.
    assert_eq!(
        hits(
            "tcp/22 from world",
            &["tcp/0-1024 from 0.0.0.0/1", "all from 128.0.0.0/1"]
        ),
        ["tcp/0-1024 from 0.0.0.0/1", "all from 128.0.0.0/1"]
    );
    // Halves on different ports never let one port in from everywhere.
    assert!(
        hits(
            "tcp/0-65535 from world",
            &["tcp/22 from 0.0.0.0/1", "tcp/23 from 128.0.0.0/1"]
        )
        .is_empty()
    );
    // IPv6 split in four.
    assert_eq!(
        hits(
            "udp/53 to world",
            &[
                "udp/53 to ::/2",
                "udp/53 to 4000::/2",
                "udp/53 to 8000::/2",
                "udp/53 to c000::/2"
            ]
        )
        .len(),
        4
    );
}

#[test]
fn group_and_prefix_list_peers_are_never_the_world() {
    assert!(
        hits(
            "all from world",
            &[
                "all from sg-0bbb",
                "all from pl-0ccc",
                "all from 111122223333/sg-0ddd"
            ]
        )
        .is_empty()
    );
    assert_eq!(
        hits(
            "all from pl-0ccc",
            &["all from pl-0ccc", "all from pl-0eee"]
        ),
        ["all from pl-0ccc"]
    );
    assert_eq!(
        hits(
            "all from sg-0bbb",
            &["tcp/80 from sg-0bbb", "tcp/80 from sg-0fff"]
        ),
        ["tcp/80 from sg-0bbb"]
    );
    assert_eq!(
        hits("all from self", &["all from sg-0aaa", "all from sg-0bbb"]),
        ["all from sg-0aaa"]
    );
}

#[test]
fn any_is_every_peer_and_a_cidr_matches_what_overlaps_it() {
    let live = [
        "all from sg-0bbb",
        "tcp/443 from 10.1.0.0/16",
        "tcp/443 from 192.0.2.0/24",
        "all to 0.0.0.0/0",
    ];
    assert_eq!(hits("all from any", &live).len(), 3);
    assert_eq!(hits("all to any", &live), ["all to 0.0.0.0/0"]);
    // Overlap, not text: 10.0.0.0/8 holds 10.1.0.0/16, and a /32 inside it overlaps too.
    assert_eq!(
        hits("tcp/443 from 10.0.0.0/8", &live),
        ["tcp/443 from 10.1.0.0/16"]
    );
    assert_eq!(
        hits("tcp/443 from 10.1.2.3", &live),
        ["tcp/443 from 10.1.0.0/16"]
    );
}

#[test]
fn egress_patterns_match_egress_rules_only() {
    let live = ["tcp/25 to 0.0.0.0/0", "tcp/25 from 0.0.0.0/0"];
    assert_eq!(hits("tcp/25 to world", &live), ["tcp/25 to 0.0.0.0/0"]);
    assert_eq!(hits("tcp/25 from world", &live), ["tcp/25 from 0.0.0.0/0"]);
}

#[test]
fn numeric_protocols_match_themselves_and_all() {
    let live = ["47 from 0.0.0.0/0", "50 from 0.0.0.0/0", "all from ::/0"];
    assert_eq!(
        hits("47 from world", &live),
        ["47 from 0.0.0.0/0", "all from ::/0"]
    );
    assert_eq!(hits("tcp/22 from world", &live), ["all from ::/0"]);
}

#[test]
fn icmp_type_and_code_match_when_equal_or_all() {
    let live = [
        "icmp/8 from 0.0.0.0/0",
        "icmp/3:4 from 0.0.0.0/0",
        "icmp from 0.0.0.0/0",
        "icmpv6/128 from ::/0",
    ];
    assert_eq!(
        hits("icmp/8 from world", &live),
        ["icmp/8 from 0.0.0.0/0", "icmp from 0.0.0.0/0"]
    );
    assert_eq!(
        hits("icmp/3:4 from world", &live),
        ["icmp/3:4 from 0.0.0.0/0", "icmp from 0.0.0.0/0"]
    );
    assert_eq!(hits("icmpv6 from world", &live), ["icmpv6/128 from ::/0"]);
    // ICMP split into halves on one type: the world.
    assert_eq!(
        hits(
            "icmp/8 from world",
            &["icmp/8 from 0.0.0.0/1", "icmp from 128.0.0.0/1"]
        )
        .len(),
        2
    );
}

#[test]
fn world_only_lets_only_the_listed_ports_face_the_world() {
    let allowed: Vec<Protocol> = ["tcp/443", "tcp/80"]
        .iter()
        .flat_map(|p| {
            let (proto, ports) = p.split_once('/').unwrap();
            rule::parse_protocols(proto, Some(ports)).unwrap()
        })
        .collect();
    let live = rules(&[
        "tcp/443 from 0.0.0.0/0",
        "tcp/80 from ::/0",
        "tcp/80-443 from 0.0.0.0/0",
        "all from 0.0.0.0/0",
        "tcp/22 from 10.0.0.0/8",
        "tcp/8080 from 0.0.0.0/1",
        "tcp/8080 from 128.0.0.0/1",
    ]);
    let bad: Vec<String> = world_only(&allowed, GROUP, &live)
        .into_iter()
        .map(|i| live[i].rule.to_string())
        .collect();
    assert_eq!(
        bad,
        [
            "tcp/80-443 from 0.0.0.0/0",
            "all from 0.0.0.0/0",
            "tcp/8080 from 0.0.0.0/1",
            "tcp/8080 from 128.0.0.0/1"
        ]
    );
}

#[test]
fn a_pattern_names_the_world_by_name_never_by_a_cidr() {
    for text in ["tcp/22 from 0.0.0.0/0", "tcp/22 from ::/0"] {
        let e = parse(text).unwrap_err();
        assert!(e.to_string().contains("every rule"), "{e}");
        assert!(e.help.as_deref().unwrap_or("").contains("world"), "{e:?}");
    }
    assert!(parse("tcp/22 from sg:web").is_err());
    assert_eq!(parse("tcp/22,3389 from world, any").unwrap().len(), 4);
}

#[test]
fn every_preset_parses() {
    for p in &PRESETS {
        for d in p.deny {
            assert!(!parse(d).unwrap().is_empty(), "{}: {d}", p.name);
        }
    }
    assert_eq!(
        hits(
            PRESETS[1].deny[0],
            &["tcp/9000-9300 from 0.0.0.0/0", "tcp/9301 from 0.0.0.0/0"]
        ),
        ["tcp/9000-9300 from 0.0.0.0/0"]
    );
}

#[test]
fn ipv6_cut_down_to_single_addresses_is_still_the_world() {
    // ::/0 as 8000::/1's sibling ::/1, then each next half down to two /128s: 129 rules,
    // the last of them a single address each.
    let mut rules = Vec::new();
    for i in 1u8..=128 {
        let ones = if i == 1 {
            0
        } else {
            u128::MAX << (129 - u32::from(i))
        };
        let net = ipnet::Ipv6Net::new(std::net::Ipv6Addr::from(ones), i).unwrap();
        rules.push(format!("tcp/22 from {net}"));
    }
    rules.push(format!(
        "tcp/22 from {}/128",
        std::net::Ipv6Addr::from(u128::MAX)
    ));
    let all: Vec<&str> = rules.iter().map(String::as_str).collect();
    let found = hits("tcp/22 from world", &all);
    assert_eq!(found.len(), rules.len(), "{found:?}");
    assert!(hits("tcp/22 from world", &all[..all.len() - 1]).is_empty());
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// A range from the world violates a port exactly when it holds the port.
        #[test]
        fn a_world_range_violates_exactly_the_ports_inside_it(a in 0u16..=u16::MAX, b in 0u16..=u16::MAX, p in 0u16..=u16::MAX) {
            let (from, to) = (a.min(b), a.max(b));
            let live = format!("tcp/{from}-{to} from 0.0.0.0/0");
            let found = hits(&format!("tcp/{p} from world"), &[live.as_str()]);
            prop_assert_eq!(!found.is_empty(), from <= p && p <= to);
        }

        /// The world cut into 2^k equal CIDRs is the world; with any one piece missing it
        /// is not, whatever the order the rules come in.
        #[test]
        fn the_world_in_equal_pieces_is_the_world_and_one_piece_short_is_not(k in 1u8..=6, drop in 0usize..64, port in 1u16..=1024) {
            let world: ipnet::Ipv4Net = "0.0.0.0/0".parse().unwrap();
            let pieces: Vec<String> = world
                .subnets(k)
                .unwrap()
                .map(|n| format!("tcp/{port} from {n}"))
                .collect();
            let all: Vec<&str> = pieces.iter().map(String::as_str).collect();
            let pattern = format!("tcp/{port} from world");
            prop_assert_eq!(hits(&pattern, &all).len(), pieces.len());
            let mut short = all.clone();
            short.remove(drop % all.len());
            prop_assert!(hits(&pattern, &short).is_empty());
        }
    }
}
