//! A hub governing an organization, on one moto: A accounts (default 100,
//! `SGWARDEN_BENCH_ACCOUNTS`) × 3 regions × 20 groups, every tenth group with SSH open to
//! the world. The real `sgwarden-lambda` binary plans the sweep onto a work queue, then the
//! harness pumps the queue as Lambda's event source mapping would (moto never invokes a
//! function from a queue): batches of 10, each item one run in one account and region
//! through that account's member role. Measured: the planner, the pumped sweep against
//! the floor of one DescribeSecurityGroups per (account, region), the function's CPU per
//! item and its peak RSS. Every drifted group is checked repaired. Results are printed
//! and written into docs/benchmarks.md between the `org` markers.
//! Run: `cargo bench -p sgwarden-devkit --bench org`.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a benchmark fails loudly on a broken setup"
)]

use std::time::{Duration, Instant};

use sgwarden::aws::member::{MemberRole, Members, place_config};
use sgwarden::place::Place;
use sgwarden_devkit::moto::{Moto, is_ec2_write};
use sgwarden_devkit::runtime_api::{Function, RuntimeApi};
use sgwarden_devkit::{estate, process_cpu_time, process_peak_rss_kib, root};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-southeast-2"];
const GROUPS: usize = 20;
const HUB: &str = "123456789012";
/// The function's configured memory (infra/template.yaml).
const MEMORY_MIB: u64 = 128;

fn main() {
    let accounts = sgwarden_devkit::env_number("SGWARDEN_BENCH_ACCOUNTS", 100);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(run(accounts));
}

fn account(i: usize) -> String {
    format!("{:012}", 200_000_000_000u64 + i as u64)
}

async fn run(n: usize) {
    let moto = Moto::start(&root().join(".venv")).expect("moto (run ./scripts/setup)");
    let hub = moto.sdk().await;
    let members = Members::new(
        &hub,
        MemberRole {
            name: "sgwarden-member".into(),
            external_id: None,
        },
    );
    members.set_hub(HUB);
    let accounts: Vec<String> = (0..n).map(account).collect();

    // Seed: 20 groups in each account's default VPC of each region.
    let t = Instant::now();
    let mut drifted = 0;
    for a in &accounts {
        for region in REGIONS {
            let conf = place_config(Some(&members), &hub, &Place::new(a.as_str(), region)).await;
            let ec2 = aws_sdk_ec2::Client::new(&conf);
            for g in 0..GROUPS {
                let id = ec2
                    .create_security_group()
                    .group_name(format!("g-{g:02}"))
                    .description("bench")
                    .send()
                    .await
                    .unwrap()
                    .group_id()
                    .unwrap()
                    .to_string();
                let mut rules = vec!["tcp/443 from 10.0.0.0/8"];
                if g % 10 == 0 {
                    rules.push("tcp/22 from 0.0.0.0/0");
                    drifted += 1;
                }
                estate::authorize(&ec2, &id, &rules).await.unwrap();
            }
        }
    }
    eprintln!(
        "seeded {} groups in {} accounts × {} regions in {:.1} s",
        n * REGIONS.len() * GROUPS,
        n,
        REGIONS.len(),
        t.elapsed().as_secs_f64()
    );
    let list: Vec<String> = accounts.iter().map(|a| format!("\"{a}\"")).collect();
    estate::versioned_bucket(&hub, "policy").await.unwrap();
    estate::put_object(
        &hub,
        "policy",
        "p.yaml",
        &format!(
            "version: 1\nsettings: {{regions: [{}], default_mode: enforce, notify: changes, accounts: [{}]}}\n\
             groups:\n  tier: {{select: {{names: [\"g-*\"]}}, ingress: [tcp/443 from 10.0.0.0/8]}}\n",
            REGIONS.join(", "),
            list.join(", ")
        ),
    )
    .await
    .unwrap();
    let topic = estate::topic_with_queue(&hub, "reports").await.unwrap();
    let queue = estate::queue(&hub, "sgwarden-work").await.unwrap();

    // The floor: one raw describe per (account, region), through each member's role.
    let t = Instant::now();
    for a in &accounts {
        for region in REGIONS {
            let conf = place_config(Some(&members), &hub, &Place::new(a.as_str(), region)).await;
            aws_sdk_ec2::Client::new(&conf)
                .describe_security_groups()
                .send()
                .await
                .unwrap();
        }
    }
    let floor = t.elapsed();

    let api = RuntimeApi::start().await.unwrap();
    let mut env = moto.env();
    env.push(("SGWARDEN_POLICY", "s3://policy/p.yaml".into()));
    env.push(("SGWARDEN_TOPIC_ARN", topic.arn.clone()));
    env.push(("SGWARDEN_WORK_QUEUE", queue.clone()));
    env.push(("RUST_LOG", "warn".into()));
    let function = Function::start(
        &sgwarden_devkit::binary("sgwarden-lambda").expect("the Lambda binary"),
        &api,
        &env,
        None,
    )
    .unwrap();
    let pid = function.pid();
    let cpu = || process_cpu_time(pid).unwrap_or_default();

    // The planner.
    let scheduled: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("events/scheduled.json")).unwrap(),
    )
    .unwrap();
    let cpu0 = cpu();
    let out = api
        .invoke(&scheduled, Duration::from_secs(600))
        .await
        .unwrap();
    let planned = out.outcome.expect("the planner runs");
    let items = n * REGIONS.len();
    assert_eq!(planned["planned"]["queued"], items, "{planned}");
    let (planner_wall, planner_cpu) = (out.elapsed, cpu().saturating_sub(cpu0));

    // The pumped sweep.
    moto.clear_recording();
    let t = Instant::now();
    let cpu0 = cpu();
    let (mut done, mut batches, mut rss_max) = (0usize, 0usize, 0u64);
    while done < items {
        let pumped = api
            .pump(&hub, &queue, Duration::from_secs(600))
            .await
            .unwrap();
        if pumped.received == 0 {
            break;
        }
        assert!(pumped.failed.is_empty(), "{:?}", pumped.failed);
        done += pumped.received;
        batches += 1;
        rss_max = rss_max.max(process_peak_rss_kib(pid).unwrap_or(0));
    }
    let sweep = t.elapsed();
    let sweep_cpu = cpu().saturating_sub(cpu0);
    assert_eq!(done, items);
    let revokes = moto.actions().iter().filter(|a| is_ec2_write(a)).count();
    // One revoke call per drifted group (each has one extra rule).
    assert_eq!(revokes, drifted, "every drifted group repaired");
    assert!(
        rss_max <= MEMORY_MIB * 1024,
        "peak RSS {rss_max} KiB over the configured {MEMORY_MIB} MiB"
    );

    let per_item_ms = sweep.as_secs_f64() * 1000.0 / items as f64;
    let cpu_per_item_ms = sweep_cpu.as_secs_f64() * 1000.0 / items as f64;
    let floor_per_item_ms = floor.as_secs_f64() * 1000.0 / items as f64;
    // On paper: 1,000 accounts × 17 regions at MaximumConcurrency 50, each item taking
    // the wall time measured here; Lambda at 128 MB arm64 ($0.0000000017 per ms) plus
    // $0.20 per million requests, hourly.
    let big_items = 1000.0 * 17.0;
    let concurrency = 50.0;
    let full_sweep_s = big_items * per_item_ms / 1000.0 / concurrency;
    let gb_s_per_month = big_items * 24.0 * 30.0 * per_item_ms / 1000.0 * 0.125;
    let cost = gb_s_per_month * 0.0000133334 + big_items * 24.0 * 30.0 / 10.0 * 0.2 / 1e6;
    let table = format!(
        "Measured {date} by `cargo bench -p sgwarden-devkit --bench org` on the 2-core machine; moto on loopback.\n\n\
         | {n} accounts × {r} regions × {GROUPS} groups ({total} groups, {drifted} drifted) | value |\n|---|---|\n\
         | planner: {n} listed accounts × {r} regions → {items} messages on the work queue | {pw:.0} ms wall, {pc:.0} ms CPU |\n\
         | pumped sweep: {batches} batches of up to 10 items, every drifted group repaired | {sw:.1} s wall ({pi:.1} ms per item) |\n\
         | the function's CPU | {sc:.1} s ({ci:.1} ms per item) |\n\
         | floor: one DescribeSecurityGroups per (account, region) with the member's role | {fl:.1} s ({fi:.1} ms per item) |\n\
         | the function's peak RSS over the whole sweep | {rss:.1} MiB (configured: {MEMORY_MIB} MiB) |\n\n\
         On paper, from these figures: 1,000 accounts × 17 regions = 17,000 items an hour; at \
         `MaximumConcurrency` 50 a full sweep takes about {big:.0} s; Lambda (128 MB) costs about \
         ${cost:.2} a month for the hourly sweeps (moto's per-call latency is far below EC2's \
         in a far region, so take the wall figures as a lower bound).\n",
        date = chrono::Utc::now().format("%Y-%m-%d"),
        r = REGIONS.len(),
        total = n * REGIONS.len() * GROUPS,
        pw = planner_wall.as_secs_f64() * 1000.0,
        pc = planner_cpu.as_secs_f64() * 1000.0,
        sw = sweep.as_secs_f64(),
        pi = per_item_ms,
        sc = sweep_cpu.as_secs_f64(),
        ci = cpu_per_item_ms,
        fl = floor.as_secs_f64(),
        fi = floor_per_item_ms,
        rss = rss_max as f64 / 1024.0,
        big = full_sweep_s,
    );
    println!("{table}");
    sgwarden_devkit::write_doc("org", &table);
    drop(function);
}
