//! Change risk at scale: a day of VPC flow logs for a busy group, read and matched.
//!
//! 200,000 default-format records on 50 interfaces (10.0.0.1-50), from 5,000 sources, to
//! ten ports; 20 pending revokes measured against 20 rules that stay, the way a run does
//! it (`enforcer::risk`): a flow counts against a revoke when the revoked rule lets it in
//! and no staying rule does. Run with `cargo bench --bench flows`; results go to
//! docs/benchmarks.md by hand.

#![allow(
    clippy::expect_used,
    reason = "a benchmark fails loudly on a broken setup"
)]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::net::IpAddr;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use sgwarden::Rule;
use sgwarden::flows::{FlowRecord, GroupAddresses, cut_traffic, matches, parse_record};

const RECORDS: usize = 200_000;
const PORTS: [u16; 10] = [22, 80, 443, 3306, 5432, 6379, 8080, 8443, 9000, 9100];

fn lines() -> Vec<String> {
    (0..RECORDS)
        .map(|i| {
            let eni = i % 50;
            let src = format!("198.{}.{}.{}", 18 + (i % 2), (i / 7) % 100, i % 50);
            let port = PORTS[i % PORTS.len()];
            let action = if i % 9 == 0 { "REJECT" } else { "ACCEPT" };
            format!(
                "2 123456789012 eni-{eni:017x} {src} 10.0.0.{} 49152 {port} 6 10 840 1700000000 1700000060 {action} OK",
                eni + 1
            )
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let text = lines();
    let records: Vec<FlowRecord> = text.iter().filter_map(|l| parse_record(l)).collect();
    assert_eq!(records.len(), RECORDS);
    let local: BTreeMap<String, Vec<IpAddr>> = (0..50)
        .map(|e| {
            (
                format!("eni-{e:017x}"),
                vec![format!("10.0.0.{}", e + 1).parse().expect("address")],
            )
        })
        .collect();
    let on: Vec<(&FlowRecord, &[IpAddr])> = records
        .iter()
        .map(|r| (r, local[&r.interface_id].as_slice()))
        .collect();
    // 20 revokes: each port from two halves of the sources' range; 20 staying rules.
    let revokes: Vec<Rule> = PORTS
        .iter()
        .flat_map(|p| {
            [
                format!("tcp/{p} from 198.18.0.0/16"),
                format!("tcp/{p} from 0.0.0.0/0"),
            ]
        })
        .map(|t| t.parse().expect("rule"))
        .collect();
    let stay: Vec<Rule> = PORTS
        .iter()
        .flat_map(|p| {
            [
                format!("tcp/{p} from 10.0.0.0/8"),
                format!("tcp/{p} from 198.19.0.0/24"),
            ]
        })
        .map(|t| t.parse().expect("rule"))
        .collect();
    let groups = GroupAddresses::new();
    let risk = |revoke: &Rule| {
        cut_traffic(revoke, "sg-1", on.iter().copied(), &groups, |r, l| {
            stay.iter().any(|q| matches(q, "sg-1", r, l, &groups))
        })
    };
    let world = risk(&revokes[1]);
    assert!(world.flows > 0 && world.flows < RECORDS as u64, "{world:?}");

    let mut g = c.benchmark_group("flows_200k_records");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function("parse", |b| {
        b.iter(|| {
            black_box(
                text.iter()
                    .filter_map(|l| parse_record(black_box(l)))
                    .count(),
            )
        })
    });
    g.bench_function("cut_traffic_20_revokes", |b| {
        b.iter(|| {
            for r in &revokes {
                black_box(risk(black_box(r)));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
