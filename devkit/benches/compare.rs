//! sgwarden against Cloud Custodian (c7n), side by side on the same local AWS.
//!
//! For each N (default 100, 500 and 2,000; `SGWARDEN_COMPARE_GROUPS="100 500"`), on a
//! freshly started moto server:
//!
//! 1. cold start: each tool's report run against an empty region;
//! 2. the estate of `sgwarden_devkit::scale` (one VPC, N groups of 12 mixed ingress rules,
//!    10 % drifted with `tcp/22 from 0.0.0.0/0`), and the emulator floor: one raw
//!    DescribeSecurityGroups of all groups over HTTP with no client library;
//! 3. c7n: report only, `notify` to SNS; sgwarden: audit, audit with SNS;
//! 4. c7n: `remove-permissions: matched`, then the same again (must match nothing);
//! 5. the drift put back; sgwarden: enforce, then rescan (must find nothing);
//! 6. one wanted rule deleted from 10 % of the groups; sgwarden restores it (c7n has no
//!    way to express "this rule must exist").
//!
//! Every tool run is a fresh process measured by `bench/measure.py` (wall, CPU, peak RSS
//! from getrusage); moto's CPU comes from `/proc`, the API calls from moto's recorder.
//! After every step the emulator's state is read back and compared with what the step
//! must have left: report steps change nothing, remediation removes exactly the drift,
//! restore puts back exactly what was deleted. A failed check stops the benchmark.
//!
//! Results are printed and written into docs/benchmarks.md between the `compare` markers.
//! Run it with `bench/run`, which installs c7n and builds everything first.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a benchmark fails loudly on a broken setup"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_ec2::types::IpPermission;
use serde_json::Value;
use sgwarden_devkit::moto::Moto;
use sgwarden_devkit::root;
use sgwarden_devkit::{estate, scale};

#[path = "../../benches/estate/mod.rs"]
mod engine_estate;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const REGION: &str = "us-east-1";
/// The wanted rule the restore scenario deletes (as EC2 holds it: see [`rule_texts`]).
const DELETED: &str = "udp/53 from 10.0.0.0/16";
const DELETED_ATOMIC: &str = "udp 53-53 10.0.0.0/16";
const DRIFT_ATOMIC: &str = "tcp 22-22 0.0.0.0/0";
/// sgwarden's report run (measured, and profiled with `SGWARDEN_COMPARE_PERF`).
const AUDIT_PLAN: &[&str] = &["plan", "--policy", "audit.yaml", "--format", "json"];
/// sgwarden's remediation and restore run.
const ENFORCE_APPLY: &[&str] = &["apply", "--policy", "enforce.yaml", "--format", "json"];
/// sgwarden's rescan.
const ENFORCE_PLAN: &[&str] = &["plan", "--policy", "enforce.yaml", "--format", "json"];

/// One measured tool run.
#[derive(Clone, Debug, Default)]
struct Run {
    wall: Duration,
    cpu: Duration,
    rss_kib: u64,
    moto_cpu: Duration,
    /// API calls by name, in moto's recorder.
    calls: BTreeMap<String, usize>,
    exit: i32,
    stdout: String,
}

impl Run {
    fn total_calls(&self) -> usize {
        self.calls.values().sum()
    }

    fn calls_text(&self) -> String {
        self.calls
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Where a run's files go, and how to reach moto.
struct Bench {
    moto: Moto,
    work: PathBuf,
    env: Vec<(&'static str, String)>,
    python: PathBuf,
    custodian: PathBuf,
    runs: usize,
}

impl Bench {
    /// Runs a command under `bench/measure.py`; the API calls it made and moto's CPU.
    fn measure(&self, label: &str, program: &Path, args: &[&str]) -> Run {
        let out = self.work.join(format!("{label}.measure.json"));
        let log = std::fs::File::create(self.work.join(format!("{label}.stderr"))).unwrap();
        self.moto.clear_recording();
        let moto0 = self.moto.cpu_time().unwrap_or_default();
        let output = Command::new(&self.python)
            .arg(root().join("bench/measure.py"))
            .arg(&out)
            .arg("--")
            .arg(program)
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v.as_str())))
            .current_dir(&self.work)
            .stdin(Stdio::null())
            .stderr(log)
            .output()
            .unwrap_or_else(|e| panic!("{label}: cannot start {}: {e}", program.display()));
        let moto_cpu = self
            .moto
            .cpu_time()
            .unwrap_or_default()
            .saturating_sub(moto0);
        let m: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        let mut calls = BTreeMap::new();
        for r in self.moto.requests() {
            let name = r
                .action
                .clone()
                .unwrap_or_else(|| format!("S3 {}", r.method));
            *calls.entry(name).or_insert(0) += 1;
        }
        Run {
            wall: Duration::from_secs_f64(m["wall_s"].as_f64().unwrap()),
            cpu: Duration::from_secs_f64(m["cpu_s"].as_f64().unwrap()),
            rss_kib: m["peak_rss_kib"].as_u64().unwrap(),
            moto_cpu,
            calls,
            exit: m["exit"].as_i64().unwrap() as i32,
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        }
    }

    /// The median run (by wall time) of `self.runs` repetitions of a step that changes
    /// nothing; `check` is asserted on each.
    fn median_of(&self, label: &str, program: &Path, args: &[&str], check: impl Fn(&Run)) -> Run {
        let mut runs: Vec<Run> = (0..self.runs)
            .map(|k| {
                let r = self.measure(&format!("{label}-{k}"), program, args);
                check(&r);
                r
            })
            .collect();
        runs.sort_by_key(|r| r.wall);
        runs.swap_remove(runs.len() / 2)
    }

    fn c7n(&self, label: &str, policy: &str) -> Run {
        let args = c7n_args(label, policy);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = self.measure(label, &self.custodian, &args);
        assert_eq!(
            run.exit,
            0,
            "c7n {label} failed: see {}",
            self.work.display()
        );
        run
    }

    /// How many resources a c7n policy matched in its last run.
    fn c7n_matched(&self, label: &str, policy_name: &str) -> usize {
        let path = self
            .work
            .join(format!("c7n-{label}"))
            .join(policy_name)
            .join("resources.json");
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        v.as_array().unwrap().len()
    }
}

fn sgwarden_bin() -> PathBuf {
    sgwarden_devkit::binary("sgwarden").expect("the sgwarden binary")
}

fn summary(run: &Run, step: &str) -> Value {
    let v: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("{step}: the report is not JSON ({e}): {}", run.stdout));
    v["summary"].clone()
}

/// Every group's ingress as atomic rule texts, read with the SDK and split here, apart
/// from sgwarden's own reading: `PROTO FROM-TO PEER`.
type State = BTreeMap<String, BTreeSet<String>>;

async fn state(ec2: &aws_sdk_ec2::Client) -> State {
    let out = ec2.describe_security_groups().send().await.unwrap();
    let mut state = State::new();
    for g in out.security_groups() {
        let rules = state.entry(g.group_id().unwrap().to_string()).or_default();
        for p in g.ip_permissions() {
            rules.extend(rule_texts(p));
        }
    }
    state
}

fn rule_texts(p: &IpPermission) -> Vec<String> {
    let head = format!(
        "{} {}-{}",
        p.ip_protocol().unwrap_or("?"),
        p.from_port().unwrap_or(-1),
        p.to_port().unwrap_or(-1)
    );
    let peers = p
        .ip_ranges()
        .iter()
        .filter_map(|r| r.cidr_ip())
        .chain(p.ipv6_ranges().iter().filter_map(|r| r.cidr_ipv6()))
        .chain(p.user_id_group_pairs().iter().filter_map(|r| r.group_id()))
        .chain(
            p.prefix_list_ids()
                .iter()
                .filter_map(|r| r.prefix_list_id()),
        );
    peers.map(|peer| format!("{head} {peer}")).collect()
}

/// (group, rule) pairs in `a` and not in `b`.
fn minus(a: &State, b: &State) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (g, rules) in a {
        let other = b.get(g);
        for r in rules {
            if other.is_none_or(|o| !o.contains(r)) {
                out.insert((g.clone(), r.clone()));
            }
        }
    }
    out
}

/// Asserts `after` is `before` less `removed` plus `added`, exactly.
fn expect_change(
    step: &str,
    before: &State,
    after: &State,
    removed: &BTreeSet<(String, String)>,
    added: &BTreeSet<(String, String)>,
) {
    let gone = minus(before, after);
    let new = minus(after, before);
    assert_eq!(
        &gone, removed,
        "{step}: removed rules differ from what it must remove"
    );
    assert_eq!(
        &new, added,
        "{step}: added rules differ from what it must add"
    );
    eprintln!(
        "  verified {step}: {} rules removed, {} added, nothing else changed",
        gone.len(),
        new.len()
    );
}

fn pairs(ids: &[String], indices: &[usize], rule: &str) -> BTreeSet<(String, String)> {
    indices
        .iter()
        .map(|&i| (ids[i].clone(), rule.to_string()))
        .collect()
}

fn c7n_policy(name: &str, action: &str) -> String {
    format!(
        "policies:\n  - name: {name}\n    resource: aws.security-group\n    filters:\n      - type: ingress\n        IpProtocol: tcp\n        Ports: [22]\n        Cidr: {{value: 0.0.0.0/0}}\n{action}"
    )
}

/// One side-by-side row: c7n's run and sgwarden's (either may be absent).
struct Pair {
    step: &'static str,
    c7n: Option<Run>,
    sgwarden: Option<Run>,
    note: String,
}

struct Results {
    n: usize,
    floor: Duration,
    /// The size of that answer (bytes of XML).
    floor_bytes: usize,
    rows: Vec<Pair>,
}

fn main() {
    let ns: Vec<usize> = std::env::var("SGWARDEN_COMPARE_GROUPS")
        .unwrap_or_else(|_| "100 500 2000".into())
        .split_whitespace()
        .map(|s| s.parse().expect("SGWARDEN_COMPARE_GROUPS: numbers"))
        .collect();
    let runs = std::env::var("SGWARDEN_COMPARE_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3usize);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut all = Vec::new();
    for n in ns {
        eprintln!("== N = {n}");
        all.push(runtime.block_on(compare(n, runs)));
    }
    let engine = engine();
    let text = render(&all, &engine);
    println!("{text}");
    sgwarden_devkit::write_doc("compare", &text);
}

async fn compare(n: usize, runs: usize) -> Results {
    let moto = Moto::start(&root().join(".venv")).expect("moto (run ./scripts/setup)");
    let work = root().join(format!("target/compare/{n}"));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let sdk = moto.sdk().await;
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let topic = estate::topic_with_queue(&sdk, "reports").await.unwrap();
    let mut env = moto.env();
    env.push(("AWS_DEFAULT_REGION", REGION.into()));
    env.push(("SGWARDEN_TOPIC_ARN", topic.arn.clone()));
    env.push(("RUST_LOG", "warn".into()));
    let bench = Bench {
        moto,
        work: work.clone(),
        env,
        python: root().join(".venv/bin/python"),
        custodian: root().join(".venv-c7n/bin/custodian"),
        runs,
    };

    // Policy files: sgwarden's (each group's baseline) and c7n's (the SSH filter).
    let write = |name: &str, text: &str| std::fs::write(work.join(name), text).unwrap();
    write("audit.yaml", &scale::policy_text(n, "audit", "drift"));
    write("enforce.yaml", &scale::policy_text(n, "enforce", "drift"));
    write("report.yml", &c7n_policy("ssh-world", ""));
    write(
        "notify.yml",
        &c7n_policy(
            "ssh-world-notify",
            &format!(
                "    actions:\n      - type: notify\n        to: [security@example.com]\n        subject: SSH open to the world\n        transport: {{type: sns, topic: \"{}\"}}\n",
                topic.arn
            ),
        ),
    );
    write(
        "remove.yml",
        &c7n_policy(
            "ssh-world-remove",
            "    actions:\n      - type: remove-permissions\n        ingress: matched\n",
        ),
    );
    let sg = sgwarden_bin();
    let scheduled = root().join("events/scheduled.json");
    let scheduled = scheduled.to_str().unwrap();
    let mut rows = Vec::new();

    // 1. Cold start: an empty region (moto's default group only).
    let empty = state(&ec2).await;
    let args = c7n_args("cold", "report.yml");
    let c = bench.median_of("cold-c7n", &bench.custodian, &strs(&args), |r| {
        assert_eq!(r.exit, 0, "c7n cold start failed")
    });
    let s = bench.median_of("cold-sgwarden", &sg, AUDIT_PLAN, |r| {
        assert_eq!(
            r.exit, 2,
            "sgwarden cold start: expected drift (missing groups)"
        )
    });
    assert_eq!(summary(&s, "cold start")["missing_groups"], n);
    expect_change(
        "cold start",
        &empty,
        &state(&ec2).await,
        &BTreeSet::new(),
        &BTreeSet::new(),
    );
    rows.push(Pair {
        step: "cold start (empty region)",
        c7n: Some(c),
        sgwarden: Some(s),
        note: format!("sgwarden reports the {n} declared groups missing"),
    });

    // 2. The estate and the floor.
    let t = Instant::now();
    let ids = scale::seed(&ec2, n).await.unwrap();
    eprintln!("  seeded {n} groups in {:.1} s", t.elapsed().as_secs_f64());
    let drifted = scale::drifted(n);
    let seeded = state(&ec2).await;
    for (i, id) in ids.iter().enumerate() {
        let want = 12 + usize::from(drifted.binary_search(&i).is_ok());
        assert_eq!(
            seeded[id].len(),
            want,
            "group {i} seeded with the wrong rules"
        );
    }
    let mut floors: Vec<(Duration, usize)> = (0..3)
        .map(|_| {
            bench
                .moto
                .raw_query("ec2", "Action=DescribeSecurityGroups&Version=2016-11-15")
                .unwrap()
        })
        .collect();
    floors.sort();
    let (floor, floor_bytes) = floors[1];
    let drift_pairs = pairs(&ids, &drifted, DRIFT_ATOMIC);
    let none = BTreeSet::new();

    // 3. Reports.
    let args = c7n_args("report", "report.yml");
    let c = bench.median_of("report-c7n", &bench.custodian, &strs(&args), |r| {
        assert_eq!(r.exit, 0, "c7n report failed")
    });
    assert_eq!(bench.c7n_matched("report", "ssh-world"), drifted.len());
    let s = bench.median_of("report-sgwarden", &sg, AUDIT_PLAN, |r| {
        assert_eq!(r.exit, 2);
        assert_eq!(summary(r, "audit")["groups_with_drift"], drifted.len());
        assert_eq!(summary(r, "audit")["extra_rules"], drifted.len());
    });
    if std::env::var_os("SGWARDEN_COMPARE_PERF").is_some() {
        profile(&bench, &sg, n);
    }
    expect_change("report only", &seeded, &state(&ec2).await, &none, &none);
    rows.push(Pair {
        step: "report only",
        c7n: Some(c),
        sgwarden: Some(s),
        note: format!("both find the {} drifted groups", drifted.len()),
    });

    let c = bench.c7n("notify-c7n", "notify.yml");
    assert_eq!(
        bench.c7n_matched("notify-c7n", "ssh-world-notify"),
        drifted.len()
    );
    // c7n publishes its matches in batches (more than one message for a large match).
    let c7n_messages = c.calls.get("Publish").copied().unwrap_or(0);
    assert!(c7n_messages >= 1, "c7n published: {:?}", c.calls);
    let s = bench.measure(
        "notify-sgwarden",
        &sg,
        &[
            "invoke",
            "--event",
            scheduled,
            "--policy",
            "audit.yaml",
            "--format",
            "json",
        ],
    );
    assert!(
        matches!(s.exit, 0 | 2),
        "sgwarden invoke failed: exit {}",
        s.exit
    );
    assert_eq!(
        summary(&s, "audit with SNS")["groups_with_drift"],
        drifted.len()
    );
    assert_eq!(
        s.calls.get("Publish"),
        Some(&1),
        "sgwarden published: {:?}",
        s.calls
    );
    let published = estate::receive(&sdk, &topic.queue_url).await.unwrap();
    assert_eq!(
        published.len(),
        c7n_messages + 1,
        "every report reaches the topic's queue"
    );
    expect_change("report to SNS", &seeded, &state(&ec2).await, &none, &none);
    rows.push(Pair {
        step: "report to SNS",
        c7n: Some(c),
        sgwarden: Some(s),
        note: "every message read back from the topic's queue; c7n sends its matches in batches"
            .into(),
    });

    // 4. c7n remediates, then matches nothing.
    let c = bench.c7n("remove-c7n", "remove.yml");
    assert_eq!(
        bench.c7n_matched("remove-c7n", "ssh-world-remove"),
        drifted.len()
    );
    let repaired = state(&ec2).await;
    expect_change(
        "c7n remove-permissions",
        &seeded,
        &repaired,
        &drift_pairs,
        &none,
    );
    let c_again = bench.c7n("rescan-c7n", "remove.yml");
    assert_eq!(bench.c7n_matched("rescan-c7n", "ssh-world-remove"), 0);
    expect_change("c7n again", &repaired, &state(&ec2).await, &none, &none);

    // 5. The drift again; sgwarden enforces, then rescans.
    for &i in &drifted {
        estate::authorize(&ec2, &ids[i], &[scale::DRIFT])
            .await
            .unwrap();
    }
    expect_change("drift put back", &seeded, &state(&ec2).await, &none, &none);
    let s = bench.measure("enforce-sgwarden", &sg, ENFORCE_APPLY);
    assert_eq!(s.exit, 0, "sgwarden apply failed");
    assert_eq!(summary(&s, "enforce")["revoked"], drifted.len());
    assert_eq!(summary(&s, "enforce")["failed"], 0);
    expect_change(
        "sgwarden enforce",
        &seeded,
        &state(&ec2).await,
        &drift_pairs,
        &none,
    );
    rows.push(Pair {
        step: "remediate (revoke the drift)",
        c7n: Some(c),
        sgwarden: Some(s),
        note: format!(
            "each removes exactly the {} drift rules; sgwarden also re-reads to verify",
            drifted.len()
        ),
    });
    let s_again = bench.measure("rescan-sgwarden", &sg, ENFORCE_PLAN);
    assert_eq!(s_again.exit, 0, "rescan must find nothing");
    assert_eq!(summary(&s_again, "rescan")["groups_with_drift"], 0);
    expect_change(
        "sgwarden rescan",
        &repaired,
        &state(&ec2).await,
        &none,
        &none,
    );
    rows.push(Pair {
        step: "rescan (nothing to do)",
        c7n: Some(c_again),
        sgwarden: Some(s_again),
        note: "both find nothing".into(),
    });

    // 6. A wanted rule deleted from 10 % of the groups; sgwarden restores it.
    let victims = scale::chosen(n, n / 10, 0xde1e7e);
    for &i in &victims {
        estate::revoke(&ec2, &ids[i], &[DELETED]).await.unwrap();
    }
    let deleted = state(&ec2).await;
    let victim_pairs = pairs(&ids, &victims, DELETED_ATOMIC);
    expect_change("rule deleted", &repaired, &deleted, &victim_pairs, &none);
    let s = bench.measure("restore-sgwarden", &sg, ENFORCE_APPLY);
    assert_eq!(s.exit, 0, "sgwarden restore failed");
    assert_eq!(summary(&s, "restore")["authorized"], victims.len());
    expect_change(
        "sgwarden restore",
        &deleted,
        &state(&ec2).await,
        &none,
        &victim_pairs,
    );
    rows.push(Pair {
        step: "restore a deleted wanted rule",
        c7n: None,
        sgwarden: Some(s),
        note: format!(
            "{} groups lost `{DELETED}`; c7n filters match what is present, so it cannot \
             say a rule must exist",
            victims.len()
        ),
    });
    Results {
        n,
        floor,
        floor_bytes,
        rows,
    }
}

/// `perf record` of sgwarden's report run (the binary must keep its symbols:
/// `CARGO_PROFILE_RELEASE_STRIP=none`), summarised into `target/compare/N/perf.txt`.
fn profile(bench: &Bench, sg: &Path, n: usize) {
    let data = bench.work.join("perf.data");
    let recorded = Command::new("perf")
        .args(["record", "-F", "4999", "-g", "-o"])
        .arg(&data)
        .arg("--")
        .arg(sg)
        .args(AUDIT_PLAN)
        .envs(bench.env.iter().map(|(k, v)| (k, v.as_str())))
        .current_dir(&bench.work)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !recorded.is_ok_and(|s| s.code() == Some(2)) {
        eprintln!("  perf record failed; no profile for N = {n}");
        return;
    }
    if let Ok(out) = Command::new("perf")
        .args([
            "report",
            "--stdio",
            "--no-children",
            "--sort",
            "dso,symbol",
            "-i",
        ])
        .arg(&data)
        .output()
    {
        let _ = std::fs::write(bench.work.join("perf.txt"), &out.stdout);
        eprintln!("  profile: {}", bench.work.join("perf.txt").display());
    }
}

/// `custodian run` with its output in `c7n-LABEL` under the work directory, and no cache
/// (its 15-minute cache would make a repeat run read stale groups).
fn c7n_args(label: &str, policy: &str) -> Vec<String> {
    ["run", "--cache-period", "0", "-r", REGION, "-s"]
        .into_iter()
        .map(String::from)
        .chain([format!("c7n-{label}"), policy.to_string()])
        .collect()
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// The pure engine on the core benchmark's estate (10,000 groups × 20 rules): the median
/// of 5 runs of load (parse + expand) and of drift + plan, as (load, drift + plan).
fn engine() -> (Duration, Duration) {
    use sgwarden::drift::drift;
    use sgwarden::plan::{PlanOptions, plan};
    use sgwarden::policy::{self, Document};
    let docs = [Document::new("bench.yaml", engine_estate::policy_text())];
    let inventory = engine_estate::inventory_of(&engine_estate::snapshot_text());
    let regions = vec![sgwarden::place::Place::new("", REGION)];
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
    let (mut load, mut diff) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        let t = Instant::now();
        let parsed = policy::parse(&docs);
        let p = policy::expand("bench.yaml", &docs, &parsed).expect("valid");
        load.push(t.elapsed());
        let t = Instant::now();
        let d = drift(&p, &inventory, &regions, today);
        let planned = plan(
            &d,
            PlanOptions {
                max_changes_per_run: 100_000,
                force_audit: false,
            },
        );
        diff.push(t.elapsed());
        assert_eq!(planned.changes, 2 * (engine_estate::GROUPS / 10) as u64);
    }
    load.sort();
    diff.sort();
    (load[2], diff[2])
}

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// `c7n / sgwarden` as "1/x", and whether x reaches the target.
fn ratio(c7n: f64, sgwarden: f64, target: f64) -> String {
    if sgwarden <= 0.0 {
        // Nothing measurable above the floor (moto's own noise is larger).
        return "≈ 0 ✓".into();
    }
    let x = c7n / sgwarden;
    let mark = if x >= target { "✓" } else { "✗" };
    if x >= 1.0 {
        format!("1/{x:.1} {mark}")
    } else {
        format!("{:.1}× {mark}", 1.0 / x)
    }
}

fn render(all: &[Results], engine: &(Duration, Duration)) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Measured {} by `bench/run` on a 2-core machine; c7n 0.9.53, moto 5.2.5; every tool \
         run is a fresh process (median of {} for the steps that change nothing).\n",
        chrono::Utc::now().format("%Y-%m-%d"),
        std::env::var("SGWARDEN_COMPARE_RUNS").unwrap_or_else(|_| "3".into())
    );
    let _ = writeln!(
        out,
        "### Ratios (sgwarden ÷ c7n; target in the header, ✓ met, ✗ missed)\n\n\
         | N | step | wall above the floor (≤ 1/20; cold start: wall ≤ 1/33) | client CPU (≤ 1/33) | peak RSS (≤ 1/5) | API calls (≤ c7n) |\n\
         |---|---|---|---|---|---|"
    );
    for r in all {
        for p in &r.rows {
            let (Some(c), Some(s)) = (&p.c7n, &p.sgwarden) else {
                continue;
            };
            let cold = p.step.starts_with("cold");
            let wall = if cold {
                ratio(c.wall.as_secs_f64(), s.wall.as_secs_f64(), 33.0)
            } else {
                ratio(
                    c.wall.saturating_sub(r.floor).as_secs_f64(),
                    s.wall.saturating_sub(r.floor).as_secs_f64(),
                    20.0,
                )
            };
            let calls_mark = if s.total_calls() <= c.total_calls() {
                "✓"
            } else {
                "✗"
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} vs {} {} |",
                r.n,
                p.step,
                wall,
                ratio(c.cpu.as_secs_f64(), s.cpu.as_secs_f64(), 33.0),
                ratio(c.rss_kib as f64, s.rss_kib as f64, 5.0),
                s.total_calls(),
                c.total_calls(),
                calls_mark
            );
        }
    }
    for r in all {
        let _ = writeln!(
            out,
            "\n### N = {} groups × 12 ingress rules, {} drifted\n\n\
             Emulator floor (one raw DescribeSecurityGroups of all groups over HTTP, no client \
             library, median of 3): **{}** for {:.1} MiB of XML.\n\n\
             | step | tool | wall | above the floor | client CPU | peak RSS | moto CPU | API calls |\n\
             |---|---|---|---|---|---|---|---|",
            r.n,
            r.n / 10,
            ms(r.floor),
            r.floor_bytes as f64 / (1024.0 * 1024.0)
        );
        for p in &r.rows {
            for (tool, run) in [("c7n", &p.c7n), ("sgwarden", &p.sgwarden)] {
                let Some(run) = run else {
                    let _ = writeln!(out, "| {} | {tool} | — | — | — | — | — | — |", p.step);
                    continue;
                };
                let _ = writeln!(
                    out,
                    "| {} | {tool} | {} | {} | {} | {} | {} | {} ({}) |",
                    p.step,
                    ms(run.wall),
                    ms(run.wall.saturating_sub(r.floor)),
                    ms(run.cpu),
                    mib(run.rss_kib),
                    ms(run.moto_cpu),
                    run.total_calls(),
                    run.calls_text()
                );
            }
        }
        let _ = writeln!(out);
        for p in &r.rows {
            let _ = writeln!(out, "- *{}*: {}.", p.step, p.note);
        }
    }
    let _ = writeln!(
        out,
        "\n### The pure engine (no AWS)\n\n\
         10,000 groups × 20 rules (the core benchmark's estate), median of 5 in one process: \
         load the policy (parse + expand) **{}**, drift + plan **{}**.",
        ms(engine.0),
        ms(engine.1)
    );
    out
}
