//! Runs each stage of the pure path once on the benchmark estate, for instruction counts
//! that do not depend on a noisy machine:
//! `valgrind --tool=callgrind --toggle-collect='*stage_*' target/release/deps/core_once-*`
//! (see docs/benchmarks.md). Without valgrind it prints each stage's wall time.

#![allow(
    clippy::expect_used,
    reason = "a benchmark fails loudly on a broken setup"
)]

use std::hint::black_box;
use std::time::Instant;

use chrono::NaiveDate;
use sgwarden::drift::drift;
use sgwarden::inventory::Inventory;
use sgwarden::plan::{Plan, PlanOptions, plan};
use sgwarden::policy::{self, Document, Parsed, Policy};

mod estate;

#[inline(never)]
fn stage_parse(docs: &[Document]) -> Parsed {
    policy::parse(docs)
}

#[inline(never)]
fn stage_expand(docs: &[Document], parsed: &Parsed) -> Policy {
    policy::expand("bench.yaml", docs, parsed).expect("valid")
}

#[inline(never)]
fn stage_drift_plan(
    p: &Policy,
    inv: &Inventory,
    regions: &[sgwarden::place::Place],
    today: NaiveDate,
) -> Plan {
    let d = drift(p, inv, regions, today);
    plan(
        &d,
        PlanOptions {
            max_changes_per_run: 100_000,
            force_audit: false,
        },
    )
}

#[inline(never)]
fn stage_read_snapshot(text: &str) -> Inventory {
    estate::inventory_of(text)
}

fn main() {
    if std::env::args().any(|a| a == "--bench") && std::env::var_os("SGWARDEN_ONCE").is_none() {
        // Under `cargo bench` this target stays quiet; run it directly to measure.
        return;
    }
    let docs = [Document::new("bench.yaml", estate::policy_text())];
    let stext = estate::snapshot_text();
    let regions = vec![sgwarden::place::Place::new("", "us-east-1")];
    let today = NaiveDate::from_ymd_opt(2026, 11, 23).expect("date");

    let t = Instant::now();
    let parsed = black_box(stage_parse(&docs));
    let t_parse = t.elapsed();
    let t = Instant::now();
    let policy = black_box(stage_expand(&docs, &parsed));
    let t_expand = t.elapsed();
    let t = Instant::now();
    let inv = black_box(stage_read_snapshot(&stext));
    let t_snap = t.elapsed();
    let t = Instant::now();
    let p = black_box(stage_drift_plan(&policy, &inv, &regions, today));
    let t_drift = t.elapsed();
    assert_eq!(p.changes, 2 * (estate::GROUPS / 10) as u64);
    println!(
        "parse {:?}  expand {:?}  read_snapshot {:?}  drift+plan {:?}",
        t_parse, t_expand, t_snap, t_drift
    );
}

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
