//! The AWS path on a local AWS (moto), through the real `sgwarden-lambda` binary driven by
//! the Lambda runtime API, as a deployed function runs:
//!
//! - full sweeps of N groups (default 2,000; `SGWARDEN_BENCH_GROUPS`): the first (cold:
//!   clients, policy load), warm audit sweeps, the enforce sweep that repairs the 10 %
//!   drifted groups, and the rescan that finds nothing;
//! - the warm CloudTrail-event path: a console edit opens RDP on one group, the event
//!   comes in, the revert is done and the report published (`SGWARDEN_BENCH_EVENTS` runs);
//! - the emulator floor: one raw DescribeSecurityGroups of every group over plain HTTP.
//!
//! Every step is checked (counts of drift, of writes, the groups read back). Results are
//! printed and written into docs/benchmarks.md between the `aws-path` markers.
//! Run: `cargo bench --bench aws`.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a benchmark fails loudly on a broken setup"
)]

use std::time::{Duration, Instant};

use serde_json::Value;
use sgwarden_devkit::moto::{Moto, is_ec2_write};
use sgwarden_devkit::root;
use sgwarden_devkit::runtime_api::{Function, RuntimeApi};
use sgwarden_devkit::{env_number, estate, process_cpu_time, process_peak_rss_kib, scale};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const WAIT: Duration = Duration::from_secs(600);
const KEY: &str = "sgwarden/policy.yaml";

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The `p` quantile (0.5 = the median) by nearest rank.
fn percentile(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i]
}

struct Row {
    step: String,
    wall: Duration,
    /// CPU time of the function process during the step.
    cpu: Duration,
    /// CPU time of moto during the step.
    moto_cpu: Duration,
    writes: usize,
    calls: usize,
    note: String,
}

fn cpu(pid: u32) -> Duration {
    process_cpu_time(pid).unwrap_or_default()
}

async fn sweep(api: &RuntimeApi, moto: &Moto, function: u32, step: &str) -> (Row, Value) {
    moto.clear_recording();
    let (cpu0, moto0) = (cpu(function), cpu(moto.pid()));
    let event: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("events/scheduled.json")).unwrap(),
    )
    .unwrap();
    let inv = api.invoke(&event, WAIT).await.unwrap();
    let summary = inv
        .outcome
        .unwrap_or_else(|e| panic!("{step} failed: {e:?}"));
    let actions = moto.actions();
    let row = Row {
        step: step.to_string(),
        wall: inv.elapsed,
        cpu: cpu(function).saturating_sub(cpu0),
        moto_cpu: cpu(moto.pid()).saturating_sub(moto0),
        writes: actions.iter().filter(|a| is_ec2_write(a)).count(),
        calls: actions.len(),
        note: String::new(),
    };
    (row, summary)
}

fn main() {
    let n = env_number("SGWARDEN_BENCH_GROUPS", 2000);
    let events = env_number("SGWARDEN_BENCH_EVENTS", 20);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(n, events));
}

async fn run(n: usize, events: usize) {
    let moto = Moto::start(&root().join(".venv")).expect("moto (run ./scripts/setup)");
    let sdk = moto.sdk().await;
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let t = Instant::now();
    let ids = scale::seed(&ec2, n).await.unwrap();
    let seeding = t.elapsed();
    eprintln!("seeded {n} groups in {:.1} s", seeding.as_secs_f64());
    estate::versioned_bucket(&sdk, "policy").await.unwrap();
    estate::put_object(
        &sdk,
        "policy",
        KEY,
        &scale::policy_text(n, "audit", "drift"),
    )
    .await
    .unwrap();
    let topic = estate::topic_with_queue(&sdk, "sgwarden-reports")
        .await
        .unwrap();

    // The floor: every group, raw, three times.
    let floor = percentile(
        (0..3)
            .map(|_| {
                moto.raw_query("ec2", "Action=DescribeSecurityGroups&Version=2016-11-15")
                    .unwrap()
                    .0
            })
            .collect(),
        0.5,
    );

    let api = RuntimeApi::start().await.unwrap();
    let mut env = moto.env();
    env.push(("SGWARDEN_POLICY", format!("s3://policy/{KEY}")));
    env.push(("SGWARDEN_TOPIC_ARN", topic.arn.clone()));
    env.push(("RUST_LOG", "warn".into()));
    let function = Function::start(
        &sgwarden_devkit::binary("sgwarden-lambda").expect("the Lambda binary"),
        &api,
        &env,
        None,
    )
    .unwrap();
    let drifted = scale::drifted(n).len();
    let mut rows = Vec::new();

    let (mut row, s) = sweep(
        &api,
        &moto,
        function.pid(),
        "audit sweep, cold (first invocation)",
    )
    .await;
    assert_eq!(s["summary"]["groups_checked"], n, "{s}");
    assert_eq!(s["summary"]["groups_with_drift"], drifted, "{s}");
    assert_eq!(row.writes, 0);
    row.note = format!("{drifted} groups with drift found");
    rows.push(row);

    let mut warm = Vec::new();
    for _ in 0..3 {
        let (row, s) = sweep(&api, &moto, function.pid(), "audit").await;
        assert_eq!(s["summary"]["groups_with_drift"], drifted);
        warm.push(row);
    }
    warm.sort_by_key(|r| r.wall);
    let mut row = warm.swap_remove(1);
    row.step = "audit sweep, warm (median of 3)".into();
    row.note = "policy revalidated by conditional GET (304)".into();
    rows.push(row);

    estate::put_object(
        &sdk,
        "policy",
        KEY,
        &scale::policy_text(n, "enforce", "drift"),
    )
    .await
    .unwrap();
    let (mut row, s) = sweep(
        &api,
        &moto,
        function.pid(),
        "enforce sweep (repairs the drift)",
    )
    .await;
    assert_eq!(s["summary"]["revoked"], drifted, "{s}");
    assert_eq!(s["errors"], 0, "{s}");
    row.note = format!("{drifted} revokes, new policy version loaded");
    rows.push(row);

    let (mut row, s) = sweep(&api, &moto, function.pid(), "rescan (nothing to do)").await;
    assert_eq!(s["summary"]["groups_with_drift"], 0, "{s}");
    assert_eq!(row.writes, 0);
    row.note = "no drift, nothing published".into();
    rows.push(row);
    // What was published: one report per sweep with drift.
    let _ = estate::receive(&sdk, &topic.queue_url).await.unwrap();

    // Warm CloudTrail events: a console edit, then its event.
    let sample: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("events/authorize-ingress.json")).unwrap(),
    )
    .unwrap();
    let mut times = Vec::new();
    let mut calls = 0;
    let (cpu0, moto0) = (cpu(function.pid()), cpu(moto.pid()));
    for k in 0..events {
        let group = &ids[(k * 97) % n];
        estate::authorize(&ec2, group, &["tcp/3389 from 0.0.0.0/0"])
            .await
            .unwrap();
        moto.clear_recording();
        let inv = api
            .invoke(&estate::event_for_group(&sample, group), WAIT)
            .await
            .unwrap();
        let s = inv.outcome.expect("the CloudTrail run succeeds");
        assert_eq!(s["summary"]["groups_checked"], 1, "{s}");
        assert_eq!(s["summary"]["revoked"], 1, "{s}");
        let actions = moto.actions();
        assert!(actions.iter().any(|a| a == "Publish"), "{actions:?}");
        calls = actions.len();
        times.push(inv.elapsed);
    }
    let event_cpu = cpu(function.pid()).saturating_sub(cpu0) / events as u32;
    let event_moto = cpu(moto.pid()).saturating_sub(moto0) / events as u32;
    let published = estate::receive(&sdk, &topic.queue_url).await.unwrap().len();
    assert!(published >= 1);
    let cpu = process_cpu_time(function.pid()).unwrap_or_default();
    let rss = process_peak_rss_kib(function.pid()).unwrap_or_default();
    let event_median = percentile(times.clone(), 0.5);
    let event_p90 = percentile(times.clone(), 0.9);
    let event_max = percentile(times, 1.0);

    let mut table = String::new();
    table.push_str(&format!(
        "N = {n} groups × {} ingress rules, {drifted} drifted; function: release build, warm process, 2-core machine.\n\n",
        scale::baseline(0, n).len()
    ));
    table.push_str(
        "| step | wall | above the floor | function CPU | moto CPU | EC2 writes | API calls |\n|---|---|---|---|---|---|---|\n",
    );
    for r in &rows {
        let above = r.wall.saturating_sub(floor);
        table.push_str(&format!(
            "| {} | {:.0} ms | {:.0} ms | {:.0} ms | {:.0} ms | {} | {} |\n",
            if r.note.is_empty() {
                r.step.clone()
            } else {
                format!("{} — {}", r.step, r.note)
            },
            ms(r.wall),
            ms(above),
            ms(r.cpu),
            ms(r.moto_cpu),
            r.writes,
            r.calls
        ));
    }
    table.push_str(&format!(
        "\nWarm CloudTrail event, event in → revert done → report published ({events} events, \
         {calls} API calls each): median {:.1} ms, p90 {:.1} ms, max {:.1} ms; per event the \
         function used {:.1} ms of CPU and moto {:.0} ms.\n\n\
         Emulator floor (one raw DescribeSecurityGroups of all {n} groups over HTTP, no client \
         library, median of 3): {:.0} ms. Seeding the estate: {:.1} s.\n\n\
         The function process over the whole run: {:.2} s CPU, peak RSS {:.1} MiB.\n",
        ms(event_median),
        ms(event_p90),
        ms(event_max),
        ms(event_cpu),
        ms(event_moto),
        ms(floor),
        seeding.as_secs_f64(),
        cpu.as_secs_f64(),
        rss as f64 / 1024.0
    ));
    println!("{table}");
    sgwarden_devkit::write_doc("aws-path", &table);
    drop(function);
}
