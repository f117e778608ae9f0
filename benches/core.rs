//! The pure path at scale: 10,000 groups × 20 atomic rules (200,000 rules).
//!
//! Measures, separately and together: loading the policy text (YAML parse, checks,
//! expansion of variables and globals), reading a describe-security-groups snapshot of the
//! same estate, and drift + plan. 10 % of the groups drift (one rule missing, one extra:
//! SSH from the world). `drift_and_plan_with_presets` adds the three guardrail presets
//! (audit), which find that SSH twice in each drifted group. `findings_*` turn that run's
//! report into Security Hub findings: a first run (every finding new) and a steady one
//! (every finding already active and unchanged: nothing to import).
//! Run with `cargo bench --bench core`; results go to docs/benchmarks.md by hand.

#![allow(
    clippy::expect_used,
    reason = "a benchmark fails loudly on a broken setup"
)]

use std::hint::black_box;
use std::time::Duration;

use chrono::NaiveDate;
use criterion::{Criterion, criterion_group, criterion_main};
use sgwarden::drift::drift;
use sgwarden::plan::{PlanOptions, plan};
use sgwarden::policy;

mod estate;
use estate::{GROUPS, inventory_of, load, policy_text, snapshot_text};

fn bench(c: &mut Criterion) {
    let ptext = policy_text();
    let stext = snapshot_text();
    let policy = load(&ptext);
    let inv = inventory_of(&stext);
    let regions = vec![sgwarden::place::Place::new("", "us-east-1")];
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
    let guarded = load(&format!(
        "{ptext}guardrails:\n  - preset: world-admin-ports\n  - preset: world-high-risk-ports\n  - preset: default-group-closed\n"
    ));
    let d = drift(&guarded, &inv, &regions, today);
    let violations: usize = d.groups.iter().map(|g| g.violations.len()).sum();
    assert_eq!(violations, 2 * GROUPS / 10);
    assert_eq!(plan(&d, opts).changes, 2 * (GROUPS / 10) as u64);
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
    g.bench_function("drift_and_plan_with_presets", |b| {
        b.iter(|| {
            let d = drift(black_box(&guarded), black_box(&inv), &regions, today);
            black_box(plan(&d, opts))
        })
    });
    // The report of the guarded run, in one account: 3 findings per drifted group.
    let d = drift(&guarded, &inv, &regions, today);
    let p = plan(&d, opts);
    let mut report = sgwarden::report::Report::new(
        sgwarden::trigger::TriggerInfo::of(sgwarden::trigger::TriggerKind::Schedule),
        Some(&guarded),
        &[sgwarden::place::Place::new("111122223333", "us-east-1")],
        &d,
        &p,
    );
    for group in &mut report.groups {
        group.place.account = "111122223333".into();
    }
    let now = chrono::Utc::now();
    let scope = sgwarden::findings::scopes(&report).remove(0);
    let open = sgwarden::findings::open(&report, &scope, now);
    assert_eq!(open.len(), 3 * GROUPS / 10);
    let active: Vec<sgwarden::findings::Existing> = open
        .iter()
        .map(|f| sgwarden::findings::Existing {
            id: f.id.clone(),
            created_at: Some(now),
            updated_at: Some(now),
            fingerprint: f.fields.get("sgwarden/fingerprint").cloned(),
        })
        .collect();
    assert!(sgwarden::findings::sync(&scope, open.clone(), &active, now).is_empty());
    g.bench_function("findings_first_run", |b| {
        b.iter(|| {
            let open = sgwarden::findings::open(black_box(&report), &scope, now);
            black_box(sgwarden::findings::sync(&scope, open, &[], now))
        })
    });
    g.bench_function("findings_steady", |b| {
        b.iter(|| {
            let open = sgwarden::findings::open(black_box(&report), &scope, now);
            black_box(sgwarden::findings::sync(
                &scope,
                open,
                black_box(&active),
                now,
            ))
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

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
