//! Fault injection: the Lambda's path through a seeded proxy that throttles, fails, slows
//! and resets requests on their way to the local AWS (`devkit::chaos`).
//!
//! What must hold at 20 % injected faults: a sweep converges (within the SDK's retries, or
//! by the next run); no action is ever reported done that did not take effect; a watcher
//! polling the groups during enforce never sees a wanted rule absent. At 60 %, writes
//! fail for real, and each one is reported failed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sgwarden::aws::ec2::SdkEc2;
use sgwarden::aws::flows::SdkFlows;
use sgwarden::aws::sns::SnsNotifier;
use sgwarden::aws::{AnyLedger, AnyPolicySource};
use sgwarden::config::LambdaConfig;
use sgwarden::enforcer::Enforcer;
use sgwarden::handler;
use sgwarden::plan::{Op, Status};
use sgwarden::ports::{Ec2, NoFindings, RevertLedger};
use sgwarden::report::Report;
use sgwarden_devkit::chaos::{Fault, FaultProxy};
use sgwarden_devkit::{estate, scale};

use crate::budget::state;
use crate::moto::event;
use crate::moto_support::{Moto, US_EAST_1, start_moto};

const N: usize = 24;
const POLICY: &str = "s3://policy/sgwarden/policy.yaml";
const SEED: u64 = 0x5a_fe_20;

/// The wanted rule every second group lacks, and the console edit every third one has.
const ADDED: &str = "tcp/8443 from 10.0.0.0/8";
const RDP: &str = "tcp/3389 from 0.0.0.0/0";

struct Scene {
    ids: Vec<String>,
    policy: sgwarden::policy::Policy,
    direct: aws_config::SdkConfig,
}

/// N benchmark groups (10 % with SSH from the world), RDP opened on every third, and a
/// policy that also wants 8443 on every second: drift of every kind, in many groups.
async fn scene(moto: &Moto) -> Scene {
    let direct = moto.sdk().await;
    let ec2 = aws_sdk_ec2::Client::new(&direct);
    let ids = scale::seed(&ec2, N).await.unwrap();
    for id in ids.iter().step_by(3) {
        estate::authorize(&ec2, id, &[RDP]).await.unwrap();
    }
    let mut text = scale::policy_text(N, "enforce", "always").replace(
        "notify: always,",
        "notify: always, flap_limit: {reverts: 10, per: 1h},",
    );
    for i in (0..N).step_by(2) {
        let name = scale::group_name(i);
        let head = format!("  {name}:\n    name: {name}\n    ingress:\n");
        text = text.replace(&head, &format!("{head}      - \"{ADDED}\"\n"));
    }
    estate::versioned_bucket(&direct, "policy").await.unwrap();
    estate::put_object(&direct, "policy", "sgwarden/policy.yaml", &text)
        .await
        .unwrap();
    estate::versioned_bucket(&direct, "state").await.unwrap();
    let policy = sgwarden::policy::load_str("policy.yaml", &text).unwrap();
    Scene {
        ids,
        policy,
        direct,
    }
}

fn config() -> LambdaConfig {
    LambdaConfig {
        policy: POLICY.into(),
        topic_arn: None,
        dry_run: false,
        self_role_arn: None,
        member_role: sgwarden::place::DEFAULT_MEMBER_ROLE.into(),
        member_external_id: None,
        work_queue: None,
        report_bucket: None,
        state: Some(state()),
        security_hub: false,
        metrics: sgwarden::metrics::Metrics::default(),
    }
}

/// Every group's rules as canonical text, read straight from the local AWS.
async fn live(direct: &aws_config::SdkConfig) -> BTreeMap<String, Vec<String>> {
    let inv = SdkEc2::new(direct)
        .describe(&US_EAST_1, None)
        .await
        .unwrap();
    inv.groups
        .iter()
        .map(|g| {
            let rules = g
                .ingress
                .iter()
                .chain(&g.egress)
                .map(|r| r.rule.to_string())
                .collect();
            (g.group_id.clone(), rules)
        })
        .collect()
}

/// Whether the live groups equal the policy.
async fn converged(s: &Scene) -> bool {
    let inv = SdkEc2::new(&s.direct)
        .describe(&US_EAST_1, None)
        .await
        .unwrap();
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
    !sgwarden::drift::drift(&s.policy, &inv, std::slice::from_ref(&US_EAST_1), today).has_drift()
}

/// No action is reported done that did not take effect, and every failed action has its
/// error in the report. Returns (done, failed).
async fn check_report(s: &Scene, r: &Report) -> (usize, usize) {
    let now = live(&s.direct).await;
    let (mut done, mut failed) = (0, 0);
    for g in &r.groups {
        let rules = &now[g.group_id.as_deref().unwrap()];
        for a in &g.actions {
            let present = rules.contains(&a.rule.text);
            match (a.status, a.op) {
                (Status::Done, Op::Authorize) => {
                    assert!(
                        present,
                        "reported done but absent: {} {:?}",
                        a.rule.text, g.group_id
                    )
                }
                (Status::Done, Op::Revoke) => {
                    assert!(
                        !present,
                        "reported done but present: {} {:?}",
                        a.rule.text, g.group_id
                    )
                }
                (Status::Failed, _) => {
                    let e = a.error.as_deref().expect("a failed action says why");
                    assert!(
                        r.errors
                            .iter()
                            .any(|x| x.stage == sgwarden::stage::Stage::Apply
                                && x.group_id == g.group_id
                                && x.message.contains(&a.rule.text)),
                        "failed `{}` ({e}) is not in the errors: {:?}",
                        a.rule.text,
                        r.errors
                    );
                }
                _ => {}
            }
            done += usize::from(a.status == Status::Done);
            failed += usize::from(a.status == Status::Failed);
        }
    }
    (done, failed)
}

fn report_of(result: Result<Report, handler::HandlerError>) -> Report {
    match result {
        Ok(r) => r,
        Err(e) => *e
            .report
            .unwrap_or_else(|| panic!("no report: {}", e.message)),
    }
}

fn tally(proxy: &FaultProxy) -> (usize, BTreeMap<Fault, usize>) {
    let log = proxy.log();
    let mut kinds = BTreeMap::new();
    for f in log.iter().filter_map(|p| p.fault) {
        *kinds.entry(f).or_insert(0) += 1;
    }
    (log.len(), kinds)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_20_percent_faults_a_sweep_converges_reports_nothing_false_and_never_opens_a_gap() {
    let moto = start_moto();
    let s = scene(&moto).await;
    let proxy = FaultProxy::start(moto.host(), SEED, 0.2).await.unwrap();
    let sdk = proxy.sdk().await;
    let topic = estate::topic_with_queue(&s.direct, "reports")
        .await
        .unwrap();
    // The whole Lambda path goes through the proxy: policy, EC2, ledger and SNS.
    let enf = Enforcer {
        ec2: SdkEc2::new(&sdk),
        source: AnyPolicySource::new(&sdk, POLICY),
        notifier: SnsNotifier::new(&sdk, Some(topic.arn.clone()), None),
        ledger: AnyLedger::new(&sdk, Some(&state())),
        flows: SdkFlows::new(&sdk),
        findings: NoFindings,
    };

    // The watcher reads straight from the local AWS, without faults, as fast as it can:
    // every rule of each group's baseline is wanted and present from the start.
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (direct, ids, stop) = (s.direct.clone(), s.ids.clone(), stop.clone());
        tokio::spawn(async move {
            let mut polls = 0;
            while !stop.load(Ordering::SeqCst) {
                let now = live(&direct).await;
                for (i, id) in ids.iter().enumerate() {
                    for wanted in scale::live_rules(i, &ids) {
                        assert!(
                            now[id].contains(&wanted),
                            "poll {polls}: `{wanted}` absent from {id}"
                        );
                    }
                }
                polls += 1;
            }
            polls
        })
    };

    let mut runs = 0;
    let mut failed_total = 0;
    while !converged(&s).await {
        runs += 1;
        assert!(runs <= 3, "not converged after 3 runs");
        let started = std::time::Instant::now();
        let r = report_of(
            handler::handle(
                &enf,
                &config(),
                &US_EAST_1,
                "2026-11-23T12:00:00Z".parse().unwrap(),
                &event("scheduled.json"),
            )
            .await,
        );
        let (done, failed) = check_report(&s, &r).await;
        failed_total += failed;
        let (requests, kinds) = tally(&proxy);
        eprintln!(
            "fault run {runs}: {:.1} s, {done} done, {failed} failed, {} errors; {requests} requests so far, faults {kinds:?}",
            started.elapsed().as_secs_f64(),
            r.errors.len()
        );
    }
    stop.store(true, Ordering::SeqCst);
    let polls = watcher
        .await
        .expect("the watcher saw every wanted rule in every poll");
    let (requests, kinds) = tally(&proxy);
    let injected: usize = kinds.values().sum();
    eprintln!(
        "converged in {runs} run(s); {requests} requests, {injected} faults injected {kinds:?}; {failed_total} actions failed; watcher polled {polls} times"
    );
    assert!(runs >= 1, "the scene had drift");
    assert!(polls >= 3, "the watcher polled {polls} times");
    // The rate held, and faults of every kind were injected along the way.
    assert!(injected * 100 >= requests * 10, "{injected} of {requests}");
    assert!(kinds.len() >= 4, "{kinds:?}");
    // The ledger survived the faults: every group written to is in it.
    let ledger = AnyLedger::new(&s.direct, Some(&state()));
    let probe = sgwarden::budget::Claim {
        key: format!("123456789012/us-east-1/{}", s.ids[0]),
        actor: None,
        trigger: "probe".into(),
    };
    let limit = sgwarden::policy::FlapLimit {
        reverts: 1,
        per_seconds: 3600,
    };
    let v = ledger
        .reserve("2026-11-23T12:00:00Z".parse().unwrap(), limit, &[probe])
        .await
        .unwrap();
    assert!(
        matches!(v[0], sgwarden::budget::Verdict::Flapping { .. }),
        "{v:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_60_percent_faults_writes_fail_and_each_is_reported_failed_never_done() {
    let moto = start_moto();
    let s = scene(&moto).await;
    let proxy = FaultProxy::start(moto.host(), SEED, 0.6).await.unwrap();
    // This test is about the writes: only EC2 goes through the proxy, and only the writes
    // meet faults (a failed describe would rightly stop the run before any write).
    proxy.only(&["Authorize", "Revoke"]);
    let sdk = proxy.sdk().await;
    let enf = Enforcer {
        ec2: SdkEc2::new(&sdk),
        source: AnyPolicySource::new(&s.direct, POLICY),
        notifier: SnsNotifier::new(&s.direct, None, None),
        ledger: AnyLedger::new(&s.direct, None),
        flows: SdkFlows::new(&s.direct),
        findings: NoFindings,
    };
    let cfg = LambdaConfig {
        state: None,
        ..config()
    };
    let scheduled = event("scheduled.json");
    let run = || {
        handler::handle(
            &enf,
            &cfg,
            &US_EAST_1,
            "2026-11-23T12:00:00Z".parse().unwrap(),
            &scheduled,
        )
    };
    let r = report_of(run().await);
    let (done, failed) = check_report(&s, &r).await;
    let (requests, kinds) = tally(&proxy);
    eprintln!(
        "at 60 %: {done} done, {failed} failed, {} errors; {requests} requests, faults {kinds:?}",
        r.errors.len()
    );
    assert!(failed > 0, "at 60 % some writes fail past the retries");
    assert!(done > 0, "and some go through");
    assert!(!r.errors.is_empty());
    // The next runs, at 20 % faults on every call, finish the job.
    proxy.only(&[]);
    proxy.set_rate(0.2);
    let mut runs = 0;
    while !converged(&s).await {
        runs += 1;
        assert!(runs <= 3, "not converged after 3 more runs");
        let r = report_of(run().await);
        check_report(&s, &r).await;
    }
    eprintln!("converged {runs} run(s) after the 60 % run");
}
