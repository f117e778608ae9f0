//! Bursts of edits through the real `sgwarden` release binary on moto: N `sgwarden
//! invoke` processes at once, one per edit, sharing `SGWARDEN_STATE` (as Lambda scales out
//! to one invocation per event). Prints, per burst: the wall time from the first start to
//! the last exit, the revert-budget calls to S3 per invocation, and how many invocations
//! failed closed on the budget. docs/benchmarks.md ("Bursts of edits") records the runs.
//!
//! `cargo build --release --bins && cargo bench -p sgwarden-devkit --bench burst`
//! (`SGWARDEN_BURST_SIZES="40 100"` sets the sizes).

#![allow(
    clippy::expect_used,
    reason = "a benchmark fails loudly on a broken setup"
)]

use sgwarden_devkit::burst;
use sgwarden_devkit::estate;
use sgwarden_devkit::moto::Moto;
use sgwarden_devkit::root;

/// `SGWARDEN_STATE` of the runs (`SGWARDEN_BURST_STATE` overrides it, say with the single
/// object `s3://state/sgwarden/revert-ledger.json` of earlier versions).
fn state() -> String {
    std::env::var("SGWARDEN_BURST_STATE")
        .unwrap_or_else(|_| "s3://state/sgwarden/revert-budget/".into())
}

fn sample() -> serde_json::Value {
    let text = std::fs::read_to_string(root().join("events/authorize-ingress.json"))
        .expect("events/authorize-ingress.json");
    serde_json::from_str(&text).expect("a JSON event")
}

fn report(what: &str, n: usize, b: &burst::Burst) {
    let failed = b.invocations.iter().filter(|i| i.failed_closed()).count();
    let flapping = b.invocations.iter().filter(|i| i.flapping()).count();
    if let Some(i) = b.invocations.iter().find(|i| i.code != Some(0)) {
        eprintln!("an invocation ended {:?}: {}", i.code, i.stderr.trim());
    }
    println!(
        "| {what} | {n} | {:.2} s | {:.1} | {failed} | {flapping} |",
        b.wall.as_secs_f64(),
        b.state_calls as f64 / n as f64
    );
}

#[tokio::main]
async fn main() {
    let sgwarden = sgwarden_devkit::binary("sgwarden").expect("the sgwarden release binary");
    let sizes: Vec<usize> = std::env::var("SGWARDEN_BURST_SIZES")
        .unwrap_or_else(|_| "40 100".into())
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect();
    let dir = std::env::temp_dir().join(format!("sgwarden-burst-bench-{}", std::process::id()));
    println!(
        "| burst | invocations | wall | state calls per invocation | failed closed | flapping |"
    );
    println!("|---|---|---|---|---|---|");
    for n in sizes {
        let moto = Moto::start(&root().join(".venv")).expect("moto (./scripts/setup)");
        let sdk = moto.sdk().await;
        let groups = burst::seed(&moto, &sdk, n, 3).await.expect("seed");
        burst::open(&sdk, &groups).await.expect("open");
        let events: Vec<_> = groups
            .iter()
            .map(|g| estate::event_for_group(&sample(), g))
            .collect();
        let b = burst::run(&moto, &sgwarden, &dir, &state(), &events).expect("burst");
        report("one edit on each of N groups", n, &b);
    }
    // Twenty events for one group whose port stays open (the runs see the same drift).
    let moto = Moto::start(&root().join(".venv")).expect("moto (./scripts/setup)");
    let sdk = moto.sdk().await;
    let groups = burst::seed(&moto, &sdk, 1, 3).await.expect("seed");
    burst::open(&sdk, &groups).await.expect("open");
    let events: Vec<_> = (0..20)
        .map(|_| estate::event_for_group(&sample(), &groups[0]))
        .collect();
    let b = burst::run(&moto, &sgwarden, &dir, &state(), &events).expect("burst");
    report("20 events on one group (budget 3)", 20, &b);
    let _ = std::fs::remove_dir_all(dir);
}
