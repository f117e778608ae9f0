//! The AWS path end to end on a real local AWS (moto's server), over real HTTP with the
//! real SDK: every behaviour is checked by reading state back, or in moto's request
//! recorder, never from the report alone.

use serde_json::Value;
use sgwarden::aws::ec2::SdkEc2;
use sgwarden::aws::flows::SdkFlows;
use sgwarden::aws::sns::SnsNotifier;
use sgwarden::aws::{AnyLedger, AnyPolicySource};
use sgwarden::config::LambdaConfig;
use sgwarden::enforcer::Enforcer;
use sgwarden::handler;
use sgwarden::ports::{Ec2, NoFindings};
use sgwarden::report::{Outcome, Report};

use crate::moto_support::{Moto, US_EAST_1, is_ec2_write, start_moto};
use crate::support::root;
use sgwarden_devkit::estate;

pub(crate) const POLICY_KEY: &str = "sgwarden/policy.yaml";
pub(crate) const SELF_ROLE: &str = "arn:aws:iam::111122223333:role/sgwarden-function-role";

fn policy(mode: &str) -> String {
    format!(
        "version: 1
settings: {{regions: [us-east-1], default_mode: {mode}, notify: always}}
groups:
  web: {{name: web-prod, ingress: ['tcp/80,443 from 0.0.0.0/0', 'tcp/22 from 10.0.0.0/8']}}
  app: {{name: app-prod, ingress: ['tcp/8080 from sg:web']}}
  db: {{name: db-prod, ingress: ['tcp/5432 from sg:app'], egress: []}}
"
    )
}

pub(crate) struct Estate {
    pub vpc: String,
    pub web: String,
    pub app: String,
    pub db: String,
    pub topic: String,
    pub queue: String,
    pub sdk: aws_config::SdkConfig,
}

/// web drifts (HTTPS deleted, SSH opened to the world), app is clean, db keeps EC2's
/// default egress its policy forbids. The policy is in a versioned bucket; an SQS queue
/// is subscribed to the report topic.
pub(crate) async fn seed(moto: &Moto, mode: &str) -> Estate {
    let sdk = moto.sdk().await;
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let vpc = estate::create_vpc(&ec2, "10.0.0.0/16").await.unwrap();
    let mut ids = Vec::new();
    for name in ["web-prod", "app-prod", "db-prod"] {
        ids.push(estate::create_group(&ec2, &vpc, name, name).await.unwrap());
    }
    let (web, app, db) = (ids[0].clone(), ids[1].clone(), ids[2].clone());
    let seeded = [
        (
            &web,
            vec![
                "tcp/80 from 0.0.0.0/0".to_string(),
                "tcp/22 from 10.0.0.0/8".into(),
                "tcp/22 from 0.0.0.0/0".into(),
            ],
        ),
        (&app, vec![format!("tcp/8080 from {web}")]),
        (&db, vec![format!("tcp/5432 from {app}")]),
    ];
    for (group, rules) in seeded {
        let rules: Vec<&str> = rules.iter().map(String::as_str).collect();
        estate::authorize(&ec2, group, &rules).await.unwrap();
    }
    estate::versioned_bucket(&sdk, "policy").await.unwrap();
    put_policy(&sdk, &policy(mode)).await;
    let topic = estate::topic_with_queue(&sdk, "sgwarden-reports")
        .await
        .unwrap();
    moto.clear_recording();
    Estate {
        vpc,
        web,
        app,
        db,
        topic: topic.arn,
        queue: topic.queue_url,
        sdk,
    }
}

pub(crate) async fn put_policy(sdk: &aws_config::SdkConfig, text: &str) -> String {
    estate::put_object(sdk, "policy", POLICY_KEY, text)
        .await
        .unwrap()
}

type SdkEnforcer = Enforcer<SdkEc2, AnyPolicySource, SnsNotifier, AnyLedger, SdkFlows>;

fn enforcer(e: &Estate) -> SdkEnforcer {
    Enforcer {
        ec2: SdkEc2::new(&e.sdk),
        source: AnyPolicySource::new(&e.sdk, &format!("s3://policy/{POLICY_KEY}")),
        notifier: SnsNotifier::new(&e.sdk, Some(e.topic.clone()), None),
        ledger: AnyLedger::new(&e.sdk, None),
        flows: SdkFlows::new(&e.sdk),
        findings: NoFindings,
    }
}

fn config(self_role: Option<&str>) -> LambdaConfig {
    LambdaConfig {
        policy: format!("s3://policy/{POLICY_KEY}"),
        topic_arn: None,
        dry_run: false,
        self_role_arn: self_role.map(str::to_string),
        member_role: sgwarden::place::DEFAULT_MEMBER_ROLE.into(),
        member_external_id: None,
        work_queue: None,
        report_bucket: None,
        state: None,
        security_hub: false,
        metrics: sgwarden::metrics::Metrics::default(),
    }
}

pub(crate) fn event(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(root().join("events").join(name)).unwrap())
        .unwrap()
}

/// A CloudTrail sample pointed at one of this estate's groups.
pub(crate) fn event_for(name: &str, group: &str) -> Value {
    estate::event_for_group(&event(name), group)
}

async fn run(
    enf: &SdkEnforcer,
    cfg: &LambdaConfig,
    ev: &Value,
) -> Result<Report, handler::HandlerError> {
    handler::handle(
        enf,
        cfg,
        &US_EAST_1,
        "2026-11-23T12:00:00Z".parse().unwrap(),
        ev,
    )
    .await
}

/// The messages the SQS subscriber received: (SNS envelope, the report inside).
pub(crate) async fn received(e: &Estate) -> Vec<(Value, Value)> {
    estate::receive(&e.sdk, &e.queue).await.unwrap()
}

pub(crate) async fn rules_of(e: &Estate, group: &str) -> Vec<String> {
    let inv = SdkEc2::new(&e.sdk)
        .describe(&US_EAST_1, Some(&[group.to_string()]))
        .await
        .unwrap();
    let g = &inv.groups[0];
    g.ingress
        .iter()
        .chain(&g.egress)
        .map(|r| r.rule.to_string())
        .collect()
}

/// `sgwarden ARGS` pointed at this moto: (exit code, stdout, stderr).
fn sgwarden_on(moto: &Moto, args: &[&str]) -> (Option<i32>, String, String) {
    let out = std::process::Command::new(crate::support::bin("sgwarden"))
        .args(args)
        .envs(moto.env())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn texts(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| r["text"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_scheduled_audit_sweep_finds_exactly_the_drift_writes_nothing_and_publishes_it() {
    let moto = start_moto();
    let e = seed(&moto, "audit").await;
    let report = run(&enforcer(&e), &config(None), &event("scheduled.json"))
        .await
        .expect("no errors");
    assert_eq!(report.outcome(), Outcome::Drift);
    let json: Value = serde_json::to_value(&report).unwrap();
    let group = |key: &str| {
        json["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["key"] == key)
            .cloned()
    };
    let web = group("web").unwrap();
    assert_eq!(texts(&web["missing"]), vec!["tcp/443 from 0.0.0.0/0"]);
    assert_eq!(texts(&web["extra"]), vec!["tcp/22 from 0.0.0.0/0"]);
    assert_eq!(
        texts(&group("db").unwrap()["extra"]),
        vec!["all to 0.0.0.0/0"]
    );
    assert!(group("app").is_none(), "app is clean: {json}");
    assert_eq!(json["summary"]["groups_checked"], 3);

    // Audit made no write call: moto's recorder holds every request.
    let actions = moto.actions();
    assert!(actions.iter().any(|a| a == "DescribeSecurityGroups"));
    assert!(!actions.iter().any(|a| is_ec2_write(a)), "{actions:?}");

    // The SQS subscriber got the JSON report, with subject and filter attributes.
    let msgs = received(&e).await;
    assert_eq!(msgs.len(), 1);
    let (envelope, sent) = &msgs[0];
    let subject = envelope["Subject"].as_str().unwrap();
    assert!(
        subject.starts_with("sgwarden 123456789012 us-east-1: drift in 2 groups"),
        "{subject}"
    );
    assert!(subject.is_ascii() && subject.len() < 100);
    let attr = |n: &str| {
        envelope["MessageAttributes"][n]["Value"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        (
            attr("severity"),
            attr("mode"),
            attr("trigger"),
            attr("account")
        ),
        (
            "drift".into(),
            "audit".into(),
            "schedule".into(),
            "123456789012".into()
        )
    );
    assert_eq!(sent["summary"]["extra_rules"], 2);
    assert_eq!(
        sent["policy"]["location"],
        "s3://policy/sgwarden/policy.yaml"
    );

    // The e-mail and chat variants are in the Publish request moto recorded.
    let publish = moto
        .requests()
        .into_iter()
        .find(|r| r.action.as_deref() == Some("Publish"))
        .expect("a Publish");
    assert_eq!(publish.param("MessageStructure"), Some("json"));
    let message: Value = serde_json::from_str(publish.param("Message").unwrap()).unwrap();
    assert!(
        message["email"]
            .as_str()
            .unwrap()
            .contains("  extra     tcp/22 from 0.0.0.0/0")
    );
    let chat: Value = serde_json::from_str(message["https"].as_str().unwrap()).unwrap();
    assert_eq!(
        (chat["version"].as_str(), chat["source"].as_str()),
        (Some("1.0"), Some("custom"))
    );
    assert!(
        chat["content"]["description"]
            .as_str()
            .unwrap()
            .contains("extra `tcp/22 from 0.0.0.0/0`")
    );
}

#[tokio::test]
async fn enforce_restores_then_revokes_and_the_groups_then_equal_the_policy() {
    let moto = start_moto();
    let e = seed(&moto, "enforce").await;
    let report = run(&enforcer(&e), &config(None), &event("scheduled.json"))
        .await
        .expect("no errors");
    assert_eq!(report.outcome(), Outcome::Clean, "{}", report.to_json());
    assert_eq!((report.summary.authorized, report.summary.revoked), (1, 2));
    // State read back from EC2, not from the report.
    let mut web = rules_of(&e, &e.web).await;
    web.retain(|r| r.contains(" from "));
    assert_eq!(
        web,
        vec![
            "tcp/22 from 10.0.0.0/8",
            "tcp/80 from 0.0.0.0/0",
            "tcp/443 from 0.0.0.0/0"
        ]
    );
    assert_eq!(
        rules_of(&e, &e.db).await,
        vec![format!("tcp/5432 from {}", e.app)]
    );
    // Authorize came before revoke for web.
    let writes: Vec<String> = moto
        .requests()
        .into_iter()
        .filter(|r| {
            r.action.as_deref().is_some_and(is_ec2_write)
                && r.param("GroupId") == Some(e.web.as_str())
        })
        .map(|r| r.action.unwrap())
        .collect();
    assert_eq!(
        writes,
        vec![
            "AuthorizeSecurityGroupIngress",
            "RevokeSecurityGroupIngress"
        ]
    );
    // A second sweep finds nothing and writes nothing.
    moto.clear_recording();
    let again = run(&enforcer(&e), &config(None), &event("scheduled.json"))
        .await
        .unwrap();
    assert_eq!(again.summary.groups_with_drift, 0);
    assert!(!moto.actions().iter().any(|a| is_ec2_write(a)));
}

#[tokio::test]
async fn add_only_restores_and_never_revokes() {
    let moto = start_moto();
    let e = seed(&moto, "add-only").await;
    let report = run(&enforcer(&e), &config(None), &event("scheduled.json"))
        .await
        .unwrap();
    assert_eq!(report.outcome(), Outcome::Drift, "the extra rules remain");
    let actions = moto.actions();
    assert!(
        actions.iter().any(|a| a == "AuthorizeSecurityGroupIngress"),
        "{actions:?}"
    );
    assert!(
        !actions.iter().any(|a| a.starts_with("Revoke")),
        "{actions:?}"
    );
    assert!(
        rules_of(&e, &e.web)
            .await
            .contains(&"tcp/22 from 0.0.0.0/0".to_string())
    );
    assert!(
        rules_of(&e, &e.web)
            .await
            .contains(&"tcp/443 from 0.0.0.0/0".to_string())
    );
}

#[tokio::test]
async fn a_cloudtrail_event_for_one_group_touches_only_that_group() {
    let moto = start_moto();
    let e = seed(&moto, "enforce").await;
    let report = run(
        &enforcer(&e),
        &config(None),
        &event_for("authorize-ingress.json", &e.db),
    )
    .await
    .unwrap();
    assert_eq!(
        report.trigger.group_ids.as_deref(),
        Some(&[e.db.clone()][..])
    );
    assert_eq!(report.summary.groups_checked, 1);
    let written: Vec<String> = moto
        .requests()
        .into_iter()
        .filter(|r| r.action.as_deref().is_some_and(is_ec2_write))
        .map(|r| r.param("GroupId").unwrap_or_default().to_string())
        .collect();
    assert_eq!(written, vec![e.db.clone()]);
    // web's drift is untouched.
    assert!(
        rules_of(&e, &e.web)
            .await
            .contains(&"tcp/22 from 0.0.0.0/0".to_string())
    );
    let actor = report.trigger.actor.unwrap();
    assert_eq!(actor.console, Some(true));
}

#[tokio::test]
async fn a_cloudtrail_event_reads_its_group_and_the_groups_its_policy_names_not_the_region() {
    let moto = start_moto();
    let e = seed(&moto, "enforce").await;
    let ec2 = aws_sdk_ec2::Client::new(&e.sdk);
    estate::authorize(&ec2, &e.app, &["tcp/9999 from 0.0.0.0/0"])
        .await
        .unwrap();
    moto.clear_recording();
    let report = run(
        &enforcer(&e),
        &config(None),
        &event_for("authorize-ingress.json", &e.app),
    )
    .await
    .unwrap();
    // app's policy says `tcp/8080 from sg:web`: it resolved (nothing missing), so web
    // was read too; only the console edit is extra, and it is gone.
    let app = &report.groups[0];
    assert_eq!(app.key.as_deref(), Some("app"));
    assert!(app.missing.is_empty(), "{:?}", app.missing);
    let extra: Vec<&str> = app.extra.iter().map(|r| r.text.as_str()).collect();
    assert_eq!(extra, ["tcp/9999 from 0.0.0.0/0"]);
    assert_eq!(report.summary.revoked, 1);
    assert_eq!(
        rules_of(&e, &e.app).await,
        [
            format!("tcp/8080 from {}", e.web),
            "all to 0.0.0.0/0".into()
        ]
    );
    // Every describe was narrowed: the event's group by id, web by name, then the
    // re-describes of app (the verify, and moto's revoke answer that names no revoked
    // rule, which sgwarden re-checks).
    let describes: Vec<(String, String)> = moto
        .requests()
        .into_iter()
        .filter(|r| r.action.as_deref() == Some("DescribeSecurityGroups"))
        .map(|r| {
            (
                r.param("Filter.1.Name").unwrap_or("NONE").to_string(),
                r.param("Filter.1.Value.1").unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        describes[..2],
        [
            ("group-id".to_string(), e.app.clone()),
            ("group-name".to_string(), "web-prod".to_string()),
        ]
    );
    assert!(
        describes[2..]
            .iter()
            .all(|d| *d == ("group-id".to_string(), e.app.clone())),
        "{describes:?}"
    );
}

#[tokio::test]
async fn the_own_role_and_error_code_events_change_nothing_and_read_nothing() {
    let moto = start_moto();
    let e = seed(&moto, "enforce").await;
    for name in ["self-role.json", "error-code.json"] {
        let report = run(
            &enforcer(&e),
            &config(Some(SELF_ROLE)),
            &event_for(name, &e.web),
        )
        .await
        .unwrap();
        assert!(report.trigger.ignored.is_some(), "{name}");
        assert!(report.policy.is_none());
    }
    assert!(moto.requests().is_empty(), "{:?}", moto.actions());
    assert!(received(&e).await.is_empty());
}

#[tokio::test]
async fn a_warm_handler_picks_up_a_new_policy_version_and_revalidates_with_the_etag() {
    let moto = start_moto();
    let e = seed(&moto, "audit").await;
    let enf = enforcer(&e);
    let first = run(&enf, &config(None), &event("scheduled.json"))
        .await
        .unwrap();
    let v1 = first.policy.as_ref().unwrap().version_id.clone().unwrap();
    // Unchanged: the warm handler asks with If-None-Match.
    moto.clear_recording();
    run(&enf, &config(None), &event("scheduled.json"))
        .await
        .unwrap();
    let get = moto
        .requests()
        .into_iter()
        .find(|r| r.method == "GET" && r.path.contains(POLICY_KEY))
        .expect("a GetObject");
    assert!(
        get.headers
            .get("If-None-Match")
            .or(get.headers.get("if-none-match"))
            .is_some(),
        "{:?}",
        get.headers
    );
    // A new version that allows SSH from the world on web.
    let v2 = put_policy(
        &e.sdk,
        &policy("audit").replace(
            "'tcp/22 from 10.0.0.0/8'",
            "'tcp/22 from 10.0.0.0/8, 0.0.0.0/0'",
        ),
    )
    .await;
    assert_ne!(v1, v2);
    let second = run(&enf, &config(None), &event("scheduled.json"))
        .await
        .unwrap();
    assert_eq!(
        second.policy.as_ref().unwrap().version_id.as_deref(),
        Some(v2.as_str())
    );
    let web = second
        .groups
        .iter()
        .find(|g| g.key.as_deref() == Some("web"))
        .unwrap();
    assert!(web.extra.is_empty(), "the new version allows it");
}

#[tokio::test]
async fn a_missing_or_invalid_policy_makes_no_write_and_publishes_an_error_report() {
    let moto = start_moto();
    let e = seed(&moto, "enforce").await;
    put_policy(
        &e.sdk,
        "version: 1\ngroups:\n  web: {ingress: [tcp/22 from 10.0.0.5/8]}\n",
    )
    .await;
    let err = run(&enforcer(&e), &config(None), &event("scheduled.json"))
        .await
        .unwrap_err();
    assert_eq!(err.error_type, "PolicyInvalid");
    assert!(
        err.message.contains("host bits set in `10.0.0.5/8`"),
        "{}",
        err.message
    );
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&e.sdk)
            .force_path_style(true)
            .build(),
    );
    s3.delete_object()
        .bucket("policy")
        .key(POLICY_KEY)
        .send()
        .await
        .unwrap();
    let err = run(&enforcer(&e), &config(None), &event("scheduled.json"))
        .await
        .unwrap_err();
    assert_eq!(err.error_type, "PolicyInvalid");
    assert!(err.message.contains("NoSuchKey"), "{}", err.message);
    assert!(
        !moto
            .actions()
            .iter()
            .any(|a| is_ec2_write(a) || a == "DescribeSecurityGroups")
    );
    let msgs = received(&e).await;
    assert_eq!(msgs.len(), 2);
    assert!(
        msgs.iter()
            .all(|(env, _)| env["MessageAttributes"]["severity"]["Value"] == "error")
    );
}

#[tokio::test]
async fn a_policy_object_with_a_nul_byte_is_invalid_and_nothing_is_written() {
    // The YAML parser stops at a NUL: read that way, the rules after it would be gone and
    // revoked in enforce mode. It is an error at its position, and the run writes nothing.
    let moto = start_moto();
    let e = seed(&moto, "enforce").await;
    let text = policy("enforce");
    let cut = text.find("  db:").unwrap();
    put_policy(&e.sdk, &format!("{}\0{}", &text[..cut], &text[cut..])).await;
    let err = run(&enforcer(&e), &config(None), &event("scheduled.json"))
        .await
        .unwrap_err();
    assert_eq!(err.error_type, "PolicyInvalid");
    assert!(err.message.contains("a NUL byte"), "{}", err.message);
    assert!(!moto.actions().iter().any(|a| is_ec2_write(a)));
}

#[tokio::test]
async fn a_report_bucket_that_cannot_be_written_never_holds_back_the_alert() {
    let moto = start_moto();
    let e = seed(&moto, "audit").await;
    let enf = Enforcer {
        ec2: SdkEc2::new(&e.sdk),
        source: AnyPolicySource::new(&e.sdk, &format!("s3://policy/{POLICY_KEY}")),
        notifier: SnsNotifier::new(&e.sdk, Some(e.topic.clone()), Some("no-such-bucket".into())),
        ledger: AnyLedger::new(&e.sdk, None),
        flows: SdkFlows::new(&e.sdk),
        findings: NoFindings,
    };
    run(&enf, &config(None), &event("scheduled.json"))
        .await
        .expect("the alert went out");
    let msgs = received(&e).await;
    assert_eq!(msgs.len(), 1);
    let errors = msgs[0].1["errors"].as_array().unwrap();
    let stored = errors
        .iter()
        .find(|x| x["stage"] == "report")
        .expect("a report error");
    let text = stored["message"].as_str().unwrap();
    assert!(
        text.contains("the full report could not be stored"),
        "{text}"
    );
    assert!(text.contains("s3://no-such-bucket/reports/"), "{text}");
    assert!(text.contains("NoSuchBucket"), "{text}");
    assert!(!text.contains("<?xml"), "{text}");
}

#[tokio::test]
async fn validate_show_and_export_read_a_policy_on_s3() {
    let moto = start_moto();
    let e = seed(&moto, "audit").await;
    let run = |args: &[&str]| sgwarden_on(&moto, args);
    let location = format!("s3://policy/{POLICY_KEY}");
    let (code, out, err) = run(&["validate", "--policy", &location]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.starts_with(&format!("{location}: valid (")), "{out}");
    let (code, out, err) = run(&["show", "policy", "--policy", &location, "--format", "json"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("web-prod"), "{out}");
    let (code, out, err) = run(&["export", "cloudformation", "--policy", &location]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("AWS::EC2::SecurityGroup"), "{out}");
    // A bad policy on S3 is reported with its position, like a local one.
    put_policy(
        &e.sdk,
        "version: 1\ngroups:\n  web: {ingress: [tcp/22 from 10.0.0.5/8]}\n",
    )
    .await;
    let (code, _, err) = run(&["validate", "--policy", &location]);
    assert_eq!(code, Some(1));
    assert!(err.contains(&format!("{location}:3:")), "{err}");
    assert!(err.contains("host bits set"), "{err}");
}

#[tokio::test]
async fn an_unreachable_topic_fails_the_run_with_the_full_report_in_the_report_bucket() {
    let moto = start_moto();
    let e = seed(&moto, "enforce").await;
    estate::versioned_bucket(&e.sdk, "reports").await.unwrap();
    let gone = "arn:aws:sns:us-east-1:123456789012:no-such-topic".to_string();
    let enf = Enforcer {
        ec2: SdkEc2::new(&e.sdk),
        source: AnyPolicySource::new(&e.sdk, &format!("s3://policy/{POLICY_KEY}")),
        notifier: SnsNotifier::new(&e.sdk, Some(gone), Some("reports".into())),
        ledger: AnyLedger::new(&e.sdk, None),
        flows: SdkFlows::new(&e.sdk),
        findings: NoFindings,
    };
    let err = run(&enf, &config(None), &event("scheduled.json"))
        .await
        .expect_err("publishing failed");
    assert_eq!(err.error_type, "NotifyFailed", "{}", err.message);
    // The repair itself went ahead and is verified in EC2.
    assert!(
        rules_of(&e, &e.web)
            .await
            .contains(&"tcp/443 from 0.0.0.0/0".to_string())
    );
    // The full report is in the report bucket.
    let s3 = sgwarden::aws::s3_client(&e.sdk);
    let listed = s3
        .list_objects_v2()
        .bucket("reports")
        .prefix("reports/")
        .send()
        .await
        .unwrap();
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let body = estate::get_object(&e.sdk, "reports", keys[0])
        .await
        .unwrap()
        .expect("the stored report");
    let report: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(report["summary"]["authorized"], 1, "{report}");
}

#[tokio::test]
async fn a_run_over_the_change_cap_writes_nothing_and_publishes_why() {
    let moto = start_moto();
    let e = seed(&moto, "enforce").await;
    // The seeded drift needs 3 writes (web: 1 authorize, 1 revoke; db: 1 revoke).
    let capped =
        policy("enforce").replace("notify: always", "notify: always, max_changes_per_run: 2");
    put_policy(&e.sdk, &capped).await;
    moto.clear_recording();
    let report = run(&enforcer(&e), &config(None), &event("scheduled.json"))
        .await
        .expect("a refused run is not an error");
    let why = report.refused.clone().expect("refused");
    assert!(why.contains("max_changes_per_run"), "{why}");
    let actions = moto.actions();
    assert!(!actions.iter().any(|a| is_ec2_write(a)), "{actions:?}");
    assert!(
        rules_of(&e, &e.web)
            .await
            .contains(&"tcp/22 from 0.0.0.0/0".to_string())
    );
    let msgs = received(&e).await;
    assert_eq!(msgs.len(), 1);
    assert!(
        msgs[0].1["refused"]
            .as_str()
            .is_some_and(|r| r.contains("max_changes_per_run")),
        "{}",
        msgs[0].1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_polling_during_enforce_never_sees_a_wanted_rule_absent() {
    let moto = start_moto();
    let e = seed(&moto, "enforce").await;
    // Narrow SSH is replaced by the policy's wider block: the group must never be without
    // SSH from the admins, and HTTP must stay throughout.
    let ec2 = aws_sdk_ec2::Client::new(&e.sdk);
    estate::authorize(&ec2, &e.web, &["tcp/22 from 10.1.0.0/16"])
        .await
        .unwrap();
    let widened = policy("enforce").replace(
        "tcp/22 from 10.0.0.0/8",
        "tcp/22 from 10.0.0.0/8, 10.2.0.0/16",
    );
    put_policy(&e.sdk, &widened).await;

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let (sdk, web, stop) = (e.sdk.clone(), e.web.clone(), stop.clone());
        tokio::spawn(async move {
            let reader = SdkEc2::new(&sdk);
            let mut seen = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let inv = reader
                    .describe(&US_EAST_1, Some(std::slice::from_ref(&web)))
                    .await
                    .unwrap();
                let rules: Vec<String> = inv.groups[0]
                    .ingress
                    .iter()
                    .map(|r| r.rule.to_string())
                    .collect();
                seen.push(rules);
            }
            seen
        })
    };
    let report = run(&enforcer(&e), &config(None), &event("scheduled.json"))
        .await
        .unwrap();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let seen = watcher.await.unwrap();
    assert!(
        report.summary.authorized >= 2 && report.summary.revoked >= 2,
        "{:?}",
        report.summary
    );
    assert!(seen.len() >= 2, "the watcher polled {} times", seen.len());
    for (i, rules) in seen.iter().enumerate() {
        for wanted in ["tcp/80 from 0.0.0.0/0", "tcp/22 from 10.0.0.0/8"] {
            assert!(
                rules.iter().any(|r| r == wanted),
                "poll {i}: `{wanted}` absent: {rules:?}"
            );
        }
    }
    let after = rules_of(&e, &e.web).await;
    assert!(after.contains(&"tcp/22 from 10.2.0.0/16".to_string()));
    assert!(!after.contains(&"tcp/22 from 10.1.0.0/16".to_string()));
}

#[tokio::test]
async fn a_raw_describe_needs_no_client_and_a_reset_clears_the_server() {
    let moto = start_moto();
    let e = seed(&moto, "audit").await;
    let (_, small) = moto
        .raw_query("ec2", "Action=DescribeSecurityGroups&Version=2016-11-15")
        .unwrap();
    let ec2 = aws_sdk_ec2::Client::new(&e.sdk);
    let vpc = estate::create_vpc(&ec2, "10.9.0.0/16").await.unwrap();
    for i in 0..5 {
        estate::create_group(&ec2, &vpc, &format!("more-{i}"), "more")
            .await
            .unwrap();
    }
    let (_, large) = moto
        .raw_query("ec2", "Action=DescribeSecurityGroups&Version=2016-11-15")
        .unwrap();
    assert!(large > small, "{large} <= {small}");
    assert!(moto.raw_query("ec2", "Action=NoSuchAction").is_err());

    moto.reset().unwrap();
    let inv = SdkEc2::new(&e.sdk)
        .describe(&US_EAST_1, None)
        .await
        .unwrap();
    assert!(
        inv.groups
            .iter()
            .all(|g| !g.group_name.starts_with("more-") && !g.group_name.ends_with("-prod")),
        "{:?}",
        inv.groups.iter().map(|g| &g.group_name).collect::<Vec<_>>()
    );
}

/// A policy group that exists nowhere and says `create: true` is created (name,
/// description, VPC from the policy) in enforce mode and filled; in audit it is only
/// reported missing; a group without `create` is never created.
#[tokio::test]
async fn a_missing_group_with_create_is_created_in_its_vpc_and_filled_never_in_audit() {
    let moto = start_moto();
    let e = seed(&moto, "enforce").await;
    let ec2 = aws_sdk_ec2::Client::new(&e.sdk);
    let vpc = e.vpc.clone();
    let text = |mode: &str| {
        format!(
            "version: 1
settings: {{regions: [us-east-1], default_mode: {mode}, notify: always}}
groups:
  web: {{name: web-prod, ingress: ['tcp/80,443 from 0.0.0.0/0', 'tcp/22 from 10.0.0.0/8']}}
  cache:
    name: cache-prod
    vpc: {vpc}
    description: Redis for the web tier
    create: true
    ingress: ['tcp/6379 from sg:web']
  batch: {{name: batch-prod, vpc: {vpc}, ingress: ['tcp/9000 from 10.0.0.0/8']}}
"
        )
    };
    let named = |name: &'static str| {
        let ec2 = ec2.clone();
        async move {
            ec2.describe_security_groups()
                .filters(
                    aws_sdk_ec2::types::Filter::builder()
                        .name("group-name")
                        .values(name)
                        .build(),
                )
                .send()
                .await
                .unwrap()
                .security_groups()
                .to_vec()
        }
    };

    // Audit: reported missing, nothing created.
    put_policy(&e.sdk, &text("audit")).await;
    let report = run(&enforcer(&e), &config(None), &event("scheduled.json"))
        .await
        .unwrap();
    assert_eq!(report.summary.missing_groups, 2, "{report:?}");
    assert!(report.created_groups.is_empty());
    assert!(named("cache-prod").await.is_empty());
    assert!(!moto.actions().iter().any(|a| a == "CreateSecurityGroup"));

    // Enforce: cache is created and filled; batch (no `create`) stays missing.
    put_policy(&e.sdk, &text("enforce")).await;
    moto.clear_recording();
    let report = run(&enforcer(&e), &config(None), &event("scheduled.json"))
        .await
        .unwrap();
    let created = named("cache-prod").await;
    assert_eq!(created.len(), 1, "one group created");
    let g = &created[0];
    assert_eq!(g.vpc_id(), Some(vpc.as_str()));
    assert_eq!(g.description(), Some("Redis for the web tier"));
    let id = g.group_id().unwrap().to_string();
    assert_eq!(report.created_groups.len(), 1, "{report:?}");
    assert_eq!(report.created_groups[0].group_id, id);
    assert_eq!(report.summary.groups_created, 1);
    assert_eq!(report.summary.missing_groups, 1, "batch stays missing");
    assert_eq!(report.missing_groups[0].key, "batch");
    assert!(named("batch-prod").await.is_empty());
    assert_eq!(
        rules_of(&e, &id).await,
        vec![
            format!("tcp/6379 from {}", e.web),
            "all to 0.0.0.0/0".to_string()
        ],
        "filled from sg:web, with EC2's default egress (egress is unmanaged)"
    );
    let creates = moto
        .actions()
        .iter()
        .filter(|a| *a == "CreateSecurityGroup")
        .count();
    assert_eq!(creates, 1);
    assert!(
        !moto.actions().iter().any(|a| a == "DeleteSecurityGroup"),
        "sgwarden never deletes a group"
    );

    // The next run finds it and changes nothing for it.
    moto.clear_recording();
    let report = run(&enforcer(&e), &config(None), &event("scheduled.json"))
        .await
        .unwrap();
    assert!(report.created_groups.is_empty());
    assert!(!moto.actions().iter().any(|a| a == "CreateSecurityGroup"));
    assert_eq!(named("cache-prod").await.len(), 1);
}

/// `sgwarden import current` against live EC2 (moto, through the binary): the policy it
/// prints plans with no drift on the same groups, and an edit made afterwards shows.
#[tokio::test]
async fn import_current_adopts_the_live_groups_with_no_drift_then_sees_an_edit() {
    let moto = start_moto();
    let e = seed(&moto, "audit").await;
    let run = |args: &[&str]| sgwarden_on(&moto, args);
    let (code, yaml, stderr) = run(&["import", "current", "--region", "us-east-1"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(yaml.contains("web-prod:"), "{yaml}");
    assert!(yaml.contains(&format!("tcp/8080 from {}", e.web)), "{yaml}");
    let path = std::env::temp_dir().join(format!(
        "sgwarden-current-{}.yaml",
        moto.host().replace(":", "-")
    ));
    std::fs::write(&path, &yaml).unwrap();
    let policy = path.to_str().unwrap();
    let (code, report, stderr) = run(&["plan", "--policy", policy, "--format", "json"]);
    assert_eq!(code, Some(0), "no drift on day one: {report}{stderr}");
    let report: Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["summary"]["groups_with_drift"], 0);
    assert!(report["summary"]["groups_checked"].as_u64().unwrap() >= 3);
    let ec2 = aws_sdk_ec2::Client::new(&e.sdk);
    estate::authorize(&ec2, &e.db, &["tcp/3389 from 0.0.0.0/0"])
        .await
        .unwrap();
    let (code, report, _) = run(&["plan", "--policy", policy, "--format", "json"]);
    assert_eq!(code, Some(2));
    let report: Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["summary"]["extra_rules"], 1, "{report:#}");
    let _ = std::fs::remove_file(&path);
}

/// The web group of a seeded estate on a network interface (10.0.1.10), and a log group
/// `vpc-flows` with one stream of records written by the test: 2 ACCEPTs and a REJECT
/// to tcp/22 on that interface, an ACCEPT on another interface, and a header line.
async fn flow_estate(moto: &Moto, mode: &str) -> (Estate, String, chrono::DateTime<chrono::Utc>) {
    let e = seed(moto, mode).await;
    let ec2 = aws_sdk_ec2::Client::new(&e.sdk);
    let eni = estate::interface(&ec2, &e.vpc, "10.0.1.0/24", &e.web, "10.0.1.10")
        .await
        .unwrap();
    let now = chrono::Utc::now();
    let record = |eni: &str, src: &str, port: u16, bytes: u64, action: &str| {
        estate::flow_record(eni, src, "10.0.1.10", port, bytes, action, now)
    };
    let lines = [
        record(&eni, "203.0.113.9", 22, 840, "ACCEPT"),
        record(&eni, "203.0.113.9", 22, 160, "ACCEPT"),
        record(&eni, "198.51.100.4", 22, 99, "REJECT"),
        record("eni-0other", "203.0.113.9", 22, 5000, "ACCEPT"),
        "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status".to_string(),
    ];
    estate::flow_logs(&e.sdk, "vpc-flows", &format!("{eni}-all"), &lines, now)
        .await
        .unwrap();
    moto.clear_recording();
    (e, eni, now)
}

/// The flow-log readers on moto: a group's interfaces (DescribeNetworkInterfaces by
/// group), and the records of a log group read back and selected by sgwarden itself (a
/// record of another interface, a REJECT and a header line are told apart); then
/// `sgwarden flows`.
#[tokio::test]
async fn flow_records_and_a_groups_interfaces_are_read_and_the_digest_printed() {
    use sgwarden::ports::FlowSource;
    let moto = start_moto();
    let (e, eni, now) = flow_estate(&moto, "audit").await;
    let sdk_ec2 = SdkEc2::new(&e.sdk);
    let ifs = sdk_ec2
        .interfaces(&US_EAST_1, std::slice::from_ref(&e.web))
        .await
        .unwrap();
    assert_eq!(ifs.len(), 1, "{ifs:?}");
    assert_eq!(ifs[0].id, eni);
    assert!(ifs[0].group_ids.contains(&e.web));
    let local: std::net::IpAddr = "10.0.1.10".parse().unwrap();
    assert!(ifs[0].addresses.contains(&local), "{ifs:?}");
    assert!(
        sdk_ec2
            .interfaces(&US_EAST_1, std::slice::from_ref(&e.app))
            .await
            .unwrap()
            .is_empty()
    );
    let records = SdkFlows::new(&e.sdk)
        .records(
            &US_EAST_1,
            "vpc-flows",
            now - chrono::Duration::hours(1),
            now + chrono::Duration::minutes(1),
            std::slice::from_ref(&eni),
        )
        .await
        .unwrap();
    assert_eq!(records.len(), 3, "{records:?}");
    assert_eq!(
        records.iter().filter(|r| r.accepted).count(),
        2,
        "{records:?}"
    );
    // `sgwarden flows` prints the digest of the group's interfaces.
    let flows = |args: &[&str]| {
        std::process::Command::new(crate::support::bin("sgwarden"))
            .arg("flows")
            .args(args)
            .envs(moto.env())
            .output()
            .unwrap()
    };
    let out = flows(&[
        "--log-group",
        "vpc-flows",
        "--group",
        &e.web,
        "--look-back",
        "1h",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows[0],
        ["HITS", "BYTES", "FROM", "TO", "ACCEPT/REJECT"],
        "{text}"
    );
    assert_eq!(
        rows[1],
        ["2", "1000", "203.0.113.9", "10.0.1.10", "ACCEPT"],
        "{text}"
    );
    assert_eq!(
        rows[2],
        ["1", "99", "198.51.100.4", "10.0.1.10", "REJECT"],
        "{text}"
    );
    assert_eq!(
        rows.len(),
        3,
        "the other interface's record is not shown: {text}"
    );
    let out = flows(&[
        "--log-group",
        "vpc-flows",
        "--eni",
        &eni,
        "--look-back",
        "soon",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid --look-back `soon`"));
    // A log group that does not exist is an error naming it.
    let err = SdkFlows::new(&e.sdk)
        .records(&US_EAST_1, "nope", now, now, std::slice::from_ref(&eni))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
}

fn flow_policy(keep: bool) -> String {
    format!(
        "version: 1
settings:
  regions: [us-east-1]
  default_mode: enforce
  notify: always
  flow_logs: {{log_group: vpc-flows, look_back: 1h}}
groups:
  web: {{name: web-prod, keep_if_traffic: {keep}, ingress: ['tcp/80,443 from 0.0.0.0/0', 'tcp/22 from 10.0.0.0/8']}}
  app: {{name: app-prod, ingress: ['tcp/8080 from sg:web']}}
  db: {{name: db-prod, ingress: ['tcp/5432 from sg:app'], egress: []}}
"
    )
}

/// The revoke of web's `tcp/22 from <cidr>`, from a report's JSON.
fn revoke_of<'a>(report: &'a Value, group: &str, cidr: &str) -> &'a Value {
    let g = report["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["group_id"] == group)
        .unwrap_or_else(|| panic!("{group} not in {report:#}"));
    g["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["op"] == "revoke" && a["rule"]["text"] == format!("tcp/22 from {cidr}"))
        .unwrap_or_else(|| panic!("no revoke of tcp/22 from {cidr} in {g:#}"))
}

/// Change risk through the enforcer: the traffic each revoke would cut, read from the flow
/// logs written by the test; keep_if_traffic holds the revoke that would cut some, and
/// only that one.
#[tokio::test]
async fn a_revoke_reports_the_traffic_it_would_cut_and_keep_if_traffic_holds_it() {
    let moto = start_moto();
    let (e, _eni, now) = flow_estate(&moto, "enforce").await;
    let ec2 = aws_sdk_ec2::Client::new(&e.sdk);
    // A second extra SSH rule, from a network that sent nothing.
    estate::authorize(&ec2, &e.web, &["tcp/22 from 192.0.2.0/24"])
        .await
        .unwrap();
    put_policy(&e.sdk, &flow_policy(true)).await;
    let opts = |apply: bool| sgwarden::enforcer::RunOptions {
        apply,
        force_audit: false,
        regions: Vec::new(),
        now,
        home: US_EAST_1.clone(),
        notify: false,
    };
    let manual = sgwarden::trigger::TriggerEvent {
        trigger: sgwarden::trigger::Trigger::Manual,
        ignored: None,
        account: None,
    };

    // The plan: the numbers, and which revoke would be held.
    moto.clear_recording();
    let plan = enforcer(&e).run(&manual, &opts(false)).await;
    let json: Value = serde_json::from_str(&plan.to_json()).unwrap();
    assert!(plan.errors.is_empty(), "{json:#}");
    let world = revoke_of(&json, &e.web, "0.0.0.0/0");
    assert_eq!(world["traffic"]["flows"], 2, "{world:#}");
    assert_eq!(world["traffic"]["bytes"], 1000, "{world:#}");
    assert_eq!(world["traffic"]["interfaces"], 1, "{world:#}");
    assert_eq!(world["traffic"]["window"], "1h", "{world:#}");
    assert_eq!(
        world["traffic"]["top_sources"],
        serde_json::json!([{"address": "203.0.113.9", "flows": 2}])
    );
    assert_eq!(world["status"], "skipped", "{world:#}");
    assert!(
        world["reason"]
            .as_str()
            .unwrap()
            .contains("kept (keep_if_traffic): it carried 2 flows, 1000 bytes in the last 1h"),
        "{world:#}"
    );
    let office = revoke_of(&json, &e.web, "192.0.2.0/24");
    assert_eq!(office["traffic"]["flows"], 0, "{office:#}");
    assert_eq!(office["traffic"]["bytes"], 0, "{office:#}");
    assert!(office["traffic"].get("top_sources").is_none(), "{office:#}");
    assert_eq!(office["status"], "planned", "{office:#}");
    // db has no interface: nothing to cut, measured on none.
    let db = json["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["group_id"] == e.db.as_str())
        .unwrap();
    let egress = &db["actions"][0];
    assert_eq!(egress["op"], "revoke", "{db:#}");
    assert_eq!(
        (
            &egress["traffic"]["flows"],
            &egress["traffic"]["interfaces"]
        ),
        (&Value::from(0), &Value::from(0)),
        "{db:#}"
    );
    let text = sgwarden::report::render::text(&plan);
    assert!(
        text.contains(
            "traffic in the last 1h: 2 flows, 1000 bytes on 1 interface; top sources 203.0.113.9 (2)"
        ),
        "{text}"
    );
    assert!(
        text.contains("traffic in the last 1h: none on 1 interface"),
        "{text}"
    );
    // One interface read for the region; a plan writes nothing.
    let actions = moto.actions();
    assert_eq!(
        actions
            .iter()
            .filter(|a| *a == "DescribeNetworkInterfaces")
            .count(),
        1,
        "{actions:?}"
    );
    assert!(!actions.iter().any(|a| is_ec2_write(a)), "{actions:?}");

    // Apply: the quiet rule is revoked, the rule still carrying traffic stays.
    let applied = enforcer(&e).run(&manual, &opts(true)).await;
    assert!(applied.errors.is_empty(), "{}", applied.to_json());
    let web = rules_of(&e, &e.web).await;
    assert!(
        web.contains(&"tcp/22 from 0.0.0.0/0".to_string()),
        "{web:?}"
    );
    assert!(
        !web.contains(&"tcp/22 from 192.0.2.0/24".to_string()),
        "{web:?}"
    );
    assert!(
        web.contains(&"tcp/443 from 0.0.0.0/0".to_string()),
        "{web:?}"
    );
    assert_eq!(
        applied.outcome(),
        Outcome::Drift,
        "the kept rule is still drift"
    );

    // Without keep_if_traffic the rule goes, and the report says what it carried.
    put_policy(&e.sdk, &flow_policy(false)).await;
    let applied = enforcer(&e).run(&manual, &opts(true)).await;
    let json: Value = serde_json::from_str(&applied.to_json()).unwrap();
    let world = revoke_of(&json, &e.web, "0.0.0.0/0");
    assert_eq!(world["status"], "done", "{world:#}");
    assert_eq!(world["traffic"]["flows"], 2, "{world:#}");
    assert_eq!(applied.outcome(), Outcome::Clean, "{json:#}");
    assert!(
        !rules_of(&e, &e.web)
            .await
            .contains(&"tcp/22 from 0.0.0.0/0".to_string())
    );
}

#[tokio::test]
async fn the_ec2_adapter_reads_each_groups_tags() {
    let moto = start_moto();
    let sdk = moto.sdk().await;
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let vpc = estate::create_vpc(&ec2, "10.0.0.0/16").await.unwrap();
    let id = estate::create_group(&ec2, &vpc, "web-prod", "web")
        .await
        .unwrap();
    ec2.create_tags()
        .resources(&id)
        .tags(
            aws_sdk_ec2::types::Tag::builder()
                .key("tier")
                .value("web")
                .build(),
        )
        .tags(
            aws_sdk_ec2::types::Tag::builder()
                .key("owner")
                .value("")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let inv = SdkEc2::new(&sdk)
        .describe(&US_EAST_1, Some(std::slice::from_ref(&id)))
        .await
        .unwrap();
    let tags = &inv.groups[0].tags;
    assert_eq!(tags.get("tier").map(String::as_str), Some("web"));
    assert_eq!(tags.get("owner").map(String::as_str), Some(""));
}
