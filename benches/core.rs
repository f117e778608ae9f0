//! The pure path at scale: 10,000 groups × 20 atomic rules (200,000 rules).
//!
//! Measures, separately and together: loading the policy text (YAML parse, checks,
//! expansion of variables and globals), reading a describe-security-groups snapshot of the
//! same estate, and drift + plan. 10 % of the groups drift (one rule missing, one extra).
//! Run with `cargo bench --bench core`; results go to docs/benchmarks.md by hand.

#![allow(
    clippy::expect_used,
    reason = "a benchmark fails loudly on a broken setup"
)]

use std::fmt::Write;
use std::hint::black_box;
use std::time::Duration;

use chrono::NaiveDate;
use criterion::{Criterion, criterion_group, criterion_main};
use sgwarden::drift::drift;
use sgwarden::inventory::{self, Inventory};
use sgwarden::plan::{PlanOptions, plan};
use sgwarden::policy::{self, Policy};

const GROUPS: usize = 10_000;

/// A policy of GROUPS entries, 20 atomic rules each: 5 office CIDRs × 2 ports (variable),
/// 2 ports from the group's own /16, 4 single-port rules, a range, an ICMP rule, `self`,
/// and a global SSH rule from the VPN.
fn policy_text() -> String {
    let mut t = String::from(
        "version: 1\nsettings:\n  regions: [us-east-1]\n  default_mode: enforce\n  max_changes_per_run: 100000\n\
         variables:\n  office: [203.0.113.0/24, 198.51.100.0/24, 192.0.2.0/24, 100.64.0.0/16, 172.16.0.0/12]\n  vpn: 10.8.0.0/16\n\
         global:\n  ingress: [tcp/22 from @vpn]\ngroups:\n",
    );
    for i in 0..GROUPS {
        let (a, b) = (i / 256, i % 256);
        let _ = write!(
            t,
            "  g{i:05}:\n    ingress:\n      - tcp/80,443 from @office\n      - tcp/8080,8443 from 10.{a}.{b}.0/24\n      - tcp/5432 from 10.{a}.{b}.0/25\n      - tcp/6379 from 10.{a}.{b}.128/25\n      - udp/53 from 10.{a}.{b}.2\n      - udp/123 from 10.{a}.{b}.3\n      - tcp/9000-9100 from 10.{a}.{b}.0/24\n      - 'icmp/3:4 from 0.0.0.0/0'\n      - all from self\n"
        );
    }
    t
}

fn group_id(i: usize) -> String {
    format!("sg-{i:017x}")
}

/// The same estate as describe-security-groups JSON, with drift in every tenth group.
fn snapshot_text() -> String {
    let office = r#"[{"CidrIp":"203.0.113.0/24"},{"CidrIp":"198.51.100.0/24"},{"CidrIp":"192.0.2.0/24"},{"CidrIp":"100.64.0.0/16"},{"CidrIp":"172.16.0.0/12"}]"#;
    let mut t = String::from("{\"SecurityGroups\":[");
    for i in 0..GROUPS {
        let (a, b) = (i / 256, i % 256);
        let id = group_id(i);
        if i > 0 {
            t.push(',');
        }
        let drifted = i % 10 == 0;
        // Drift: udp/123 deleted, tcp/22 from the world added.
        let ntp = if drifted {
            String::new()
        } else {
            format!(
                r#",{{"IpProtocol":"udp","FromPort":123,"ToPort":123,"IpRanges":[{{"CidrIp":"10.{a}.{b}.3/32"}}]}}"#
            )
        };
        let ssh_world = if drifted {
            r#",{"CidrIp":"0.0.0.0/0"}"#
        } else {
            ""
        };
        let _ = write!(
            t,
            r#"{{"GroupId":"{id}","GroupName":"g{i:05}","OwnerId":"111122223333","VpcId":"vpc-0123456789abcdef0","Description":"g",
"IpPermissions":[
{{"IpProtocol":"tcp","FromPort":80,"ToPort":80,"IpRanges":{office}}},
{{"IpProtocol":"tcp","FromPort":443,"ToPort":443,"IpRanges":{office}}},
{{"IpProtocol":"tcp","FromPort":8080,"ToPort":8080,"IpRanges":[{{"CidrIp":"10.{a}.{b}.0/24"}}]}},
{{"IpProtocol":"tcp","FromPort":8443,"ToPort":8443,"IpRanges":[{{"CidrIp":"10.{a}.{b}.0/24"}}]}},
{{"IpProtocol":"tcp","FromPort":5432,"ToPort":5432,"IpRanges":[{{"CidrIp":"10.{a}.{b}.0/25"}}]}},
{{"IpProtocol":"tcp","FromPort":6379,"ToPort":6379,"IpRanges":[{{"CidrIp":"10.{a}.{b}.128/25"}}]}},
{{"IpProtocol":"udp","FromPort":53,"ToPort":53,"IpRanges":[{{"CidrIp":"10.{a}.{b}.2/32"}}]}}{ntp},
{{"IpProtocol":"tcp","FromPort":9000,"ToPort":9100,"IpRanges":[{{"CidrIp":"10.{a}.{b}.0/24"}}]}},
{{"IpProtocol":"icmp","FromPort":3,"ToPort":4,"IpRanges":[{{"CidrIp":"0.0.0.0/0"}}]}},
{{"IpProtocol":"-1","UserIdGroupPairs":[{{"GroupId":"{id}","UserId":"111122223333"}}]}},
{{"IpProtocol":"tcp","FromPort":22,"ToPort":22,"IpRanges":[{{"CidrIp":"10.8.0.0/16"}}{ssh_world}]}}]}}"#
        );
    }
    t.push_str("]}");
    t
}

fn load(text: &str) -> Policy {
    policy::load_str("bench.yaml", text).expect("bench policy is valid")
}

fn inventory_of(text: &str) -> Inventory {
    let mut inv = Inventory::default();
    inventory::read_snapshot("bench.json", "us-east-1", text, &mut inv).expect("bench snapshot");
    inv
}

fn bench(c: &mut Criterion) {
    let ptext = policy_text();
    let stext = snapshot_text();
    let policy = load(&ptext);
    let inv = inventory_of(&stext);
    let regions = vec!["us-east-1".to_string()];
    let today = NaiveDate::from_ymd_opt(2026, 11, 23).expect("date");
    let opts = PlanOptions {
        max_changes_per_run: 100_000,
        force_audit: false,
    };

    // Sanity: the estate is what the benchmark says it is.
    let rules: usize = policy
        .groups
        .values()
        .map(|g| g.ingress.as_ref().map_or(0, Vec::len))
        .sum();
    assert_eq!(rules, GROUPS * 20);
    let d = drift(&policy, &inv, &regions, today);
    assert_eq!(d.groups.len(), GROUPS);
    assert_eq!(
        d.groups.iter().filter(|g| g.has_drift()).count(),
        GROUPS / 10
    );
    let p = plan(&d, opts);
    assert_eq!(p.changes, 2 * (GROUPS / 10) as u64);
    eprintln!(
        "policy text {} KiB, snapshot {} KiB",
        ptext.len() / 1024,
        stext.len() / 1024
    );

    let docs = [policy::Document::new("bench.yaml", ptext.clone())];
    let parsed = policy::parse(&docs);

    let mut g = c.benchmark_group("core_10k_groups_x_20_rules");
    g.sample_size(20).measurement_time(Duration::from_secs(8));
    g.bench_function("drift_and_plan", |b| {
        b.iter(|| {
            let d = drift(black_box(&policy), black_box(&inv), &regions, today);
            black_box(plan(&d, opts))
        })
    });
    g.bench_function("expand_drift_plan", |b| {
        b.iter(|| {
            let policy = policy::expand("bench.yaml", &docs, black_box(&parsed)).expect("valid");
            let d = drift(&policy, black_box(&inv), &regions, today);
            black_box(plan(&d, opts))
        })
    });
    g.bench_function("expand", |b| {
        b.iter(|| {
            black_box(policy::expand("bench.yaml", &docs, black_box(&parsed)).expect("valid"))
        })
    });
    g.bench_function("parse_yaml", |b| {
        b.iter(|| black_box(policy::parse(black_box(&docs))))
    });
    g.bench_function("load_from_text", |b| {
        b.iter(|| black_box(load(black_box(&ptext))))
    });
    g.bench_function("read_snapshot", |b| {
        b.iter(|| black_box(inventory_of(black_box(&stext))))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
