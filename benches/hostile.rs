//! Hostile inputs, timed: each is a reproduction from the hostile-input review that took
//! seconds to minutes (or gigabytes) before its bound, and must now answer (mostly with a
//! clear error) in well under a second. Run with `cargo bench --bench hostile`; results go
//! to docs/benchmarks.md ("Hostile inputs") by hand.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a benchmark fails loudly on a broken setup"
)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use sgwarden::import;
use sgwarden::policy;

/// 3,000 rules naming `sg:` groups that do not exist, beside 3,000 that do: every one is a
/// problem with a "did you mean".
fn unknown_references() -> String {
    let mut doc = String::from("version: 1\ngroups:\n  web:\n    ingress:\n");
    for i in 0..3000 {
        doc.push_str(&format!("      - tcp/22 from sg:grop-{i:04}\n"));
    }
    for i in 0..3000 {
        doc.push_str(&format!("  group-{i:04}: {{}}\n"));
    }
    doc
}

/// 1,000 unknown top-level keys of 1,000 characters each.
fn long_keys() -> String {
    let mut doc = String::from("version: 1\ngroups: {}\n");
    for i in 0..1000 {
        doc.push_str(&format!("{}{i:04}: 1\n", "k".repeat(996)));
    }
    doc
}

/// A 678-byte policy whose variables double 40 times (2.4 GB before variables were sets).
fn doubling() -> String {
    let mut doc = String::from("version: 1\nvariables:\n  d0: [10.0.0.0/8, 10.0.0.1/32]\n");
    for i in 1..40 {
        doc.push_str(&format!("  d{i}: ['@d{0}', '@d{0}']\n", i - 1));
    }
    doc.push_str("groups:\n  web: {ingress: ['tcp/22 from @d39']}\n");
    doc
}

/// A chain of 4,000 variables (a stack overflow before the depth bound).
fn chain() -> String {
    let mut doc = String::from("version: 1\ngroups: {}\nvariables:\n");
    for i in 0..4000 {
        doc.push_str(&format!("  v{i:04}: ['@v{:04}']\n", i + 1));
    }
    doc.push_str("  v4000: [10.0.0.0/8]\n");
    doc
}

/// 58 KB: 2,000 ports × 4,500 peers, 9 million atomic rules called "valid" before.
fn ports_times_peers() -> String {
    let peers: Vec<String> = (0..4500)
        .map(|i| format!("10.{}.{}.0/24", i / 256, i % 256))
        .collect();
    let ports: Vec<String> = (1..=2000).map(|p| p.to_string()).collect();
    format!(
        "version: 1\nvariables:\n  many: [{}]\ngroups:\n  web: {{ingress: ['tcp/{} from @many']}}\n",
        peers.join(", "),
        ports.join(",")
    )
}

/// A 61 KB pysecurity-groups file: 3,000 sections that each allow `*` (every group).
fn ini_everyone() -> String {
    (0..3000).map(|i| format!("[g{i}]\n*: tcp:22\n")).collect()
}

/// 80,000 pysec lines: 8,000 distinct rules, each written ten times.
fn pysec_lines() -> String {
    (0..80_000)
        .map(|i| {
            let n = i % 8000;
            format!("10.{}.{}.0/24:22^tcp\n", n / 256, n % 256)
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("hostile");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    let policies = [
        ("did_you_mean_3000_x_3000", unknown_references()),
        ("unknown_keys_1000_x_1000_chars", long_keys()),
        ("variables_doubling_40_times", doubling()),
        ("variable_chain_4000", chain()),
        ("ports_x_peers_9m", ports_times_peers()),
    ];
    for (name, text) in &policies {
        g.bench_function(*name, |b| {
            b.iter(|| black_box(policy::load_str("p.yaml", text).is_err()))
        });
    }
    let ini = ini_everyone();
    g.bench_function("import_ini_61kb_everyone", |b| {
        b.iter(|| black_box(import::ini::import("sg.conf", &ini).is_err()))
    });
    let pysec = vec![import::pysec::RulesFile {
        name: "rules.txt".into(),
        text: pysec_lines(),
    }];
    g.bench_function("import_pysec_80000_lines", |b| {
        b.iter(|| {
            black_box(import::pysec::import(&pysec, "web", None, &["us-east-1".into()]).is_ok())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
