//! Security Hub findings from the real `sgwarden-lambda` binary on moto. moto's
//! `GetFindings` ignores its filters, so the tests (and sgwarden itself) filter what it
//! answers by id.

use std::time::Duration;

use aws_sdk_securityhub::types::AwsSecurityFinding;
use sgwarden_devkit::chaos::{Fault, FaultProxy};
use sgwarden_devkit::runtime_api::{Function, RuntimeApi};

use crate::moto::{Estate, POLICY_KEY, event, put_policy, rules_of, seed};
use crate::moto_support::{Moto, start_moto};

const WAIT: Duration = Duration::from_secs(60);
const PREFIX: &str = "sgwarden/aws/123456789012/us-east-1/";

/// web (audit) lacks HTTPS and has SSH from the world, which the guardrail also
/// reports; db keeps EC2's default egress its entry forbids; app is clean.
fn policy(mode: &str) -> String {
    format!(
        "version: 1
settings: {{regions: [us-east-1], default_mode: {mode}}}
guardrails:
  - {{preset: world-admin-ports, mode: {mode}}}
groups:
  web: {{name: web-prod, ingress: ['tcp/80,443 from 0.0.0.0/0', 'tcp/22 from 10.0.0.0/8']}}
  app: {{name: app-prod, ingress: ['tcp/8080 from sg:web']}}
  db: {{name: db-prod, ingress: ['tcp/5432 from sg:app'], egress: []}}
"
    )
}

/// sgwarden's findings in the account of `sdk`, by id.
pub(crate) async fn findings_of(
    sdk: &aws_config::SdkConfig,
) -> std::collections::BTreeMap<String, AwsSecurityFinding> {
    let out = aws_sdk_securityhub::Client::new(sdk)
        .get_findings()
        .max_results(100)
        .send()
        .await
        .unwrap();
    out.findings()
        .iter()
        .filter(|f| f.id().is_some_and(|id| id.starts_with("sgwarden/")))
        .map(|f| (f.id().unwrap_or_default().to_string(), f.clone()))
        .collect()
}

fn state(f: &AwsSecurityFinding) -> (&str, &str) {
    (
        f.record_state().map_or("", |s| s.as_str()),
        f.compliance()
            .and_then(|c| c.status())
            .map_or("", |s| s.as_str()),
    )
}

async fn function(moto_env: Vec<(&'static str, String)>, api: &RuntimeApi) -> Function {
    let mut env = moto_env;
    env.push(("SGWARDEN_POLICY", format!("s3://policy/{POLICY_KEY}")));
    env.push(("SGWARDEN_SECURITY_HUB", "true".into()));
    Function::start(
        crate::support::bin("sgwarden-lambda").as_path(),
        api,
        &env,
        None,
    )
    .unwrap()
}

async fn audit_estate(moto: &Moto) -> Estate {
    let e = seed(moto, "audit").await;
    put_policy(&e.sdk, &policy("audit")).await;
    e
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_imports_its_findings_and_the_sweep_after_the_repair_archives_them() {
    let moto = start_moto();
    let e = audit_estate(&moto).await;
    let api = RuntimeApi::start().await.unwrap();
    let _function = function(moto.env(), &api).await;

    let sweep = api.invoke(&event("scheduled.json"), WAIT).await.unwrap();
    let summary = sweep.outcome.expect("an audit sweep succeeds");
    assert_eq!(summary["errors"], 0, "{summary}");
    let found = findings_of(&e.sdk).await;
    let web_drift = format!("{PREFIX}{}/drift", e.web);
    let web_ssh = format!("{PREFIX}{}/violation/world-admin-ports", e.web);
    let db_drift = format!("{PREFIX}{}/drift", e.db);
    let mut ids: Vec<&String> = found.keys().collect();
    ids.sort();
    let mut want = vec![&web_drift, &web_ssh, &db_drift];
    want.sort();
    assert_eq!(ids, want);
    for f in found.values() {
        assert_eq!(state(f), ("ACTIVE", "FAILED"), "{:?}", f.id());
        assert_eq!(f.aws_account_id(), Some("123456789012"));
        assert_eq!(
            f.product_arn(),
            Some("arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default")
        );
        assert_eq!(f.generator_id(), Some("sgwarden"));
        assert!(f.description().is_some_and(|d| d.chars().count() <= 1024));
        assert!(f.remediation().and_then(|r| r.recommendation()).is_some());
    }
    let ssh = &found[&web_ssh];
    assert_eq!(
        ssh.severity().and_then(|s| s.label()).map(|l| l.as_str()),
        Some("HIGH")
    );
    assert!(
        ssh.types()
            .iter()
            .any(|t| t.ends_with("CIS AWS Foundations Benchmark"))
    );
    let resource = &ssh.resources()[0];
    assert_eq!(resource.r#type(), Some("AwsEc2SecurityGroup"));
    assert_eq!(
        resource.id(),
        Some(
            format!(
                "arn:aws:ec2:us-east-1:123456789012:security-group/{}",
                e.web
            )
            .as_str()
        )
    );
    let fields = ssh.product_fields().unwrap();
    assert_eq!(fields["sgwarden/rules"], "tcp/22 from 0.0.0.0/0");
    assert_eq!(fields["sgwarden/mode"], "audit");
    assert_eq!(fields["sgwarden/entry"], "web");
    let drift = &found[&web_drift];
    assert_eq!(
        drift.severity().and_then(|s| s.label()).map(|l| l.as_str()),
        Some("LOW")
    );
    assert!(
        drift.product_fields().unwrap()["sgwarden/rules"]
            .contains("missing tcp/443 from 0.0.0.0/0"),
        "{drift:?}"
    );

    // The policy turns to enforce: the next sweep repairs every group, and archives
    // each finding it no longer finds (PASSED), keeping when it was first found.
    put_policy(&e.sdk, &policy("enforce")).await;
    let sweep = api.invoke(&event("scheduled.json"), WAIT).await.unwrap();
    sweep.outcome.expect("the repairing sweep succeeds");
    assert!(
        !rules_of(&e, &e.web)
            .await
            .iter()
            .any(|r| r == "tcp/22 from 0.0.0.0/0")
    );
    let after = findings_of(&e.sdk).await;
    assert_eq!(after.len(), 3);
    for (id, f) in &after {
        assert_eq!(state(f), ("ARCHIVED", "PASSED"), "{id}");
        assert_eq!(f.created_at(), found[id].created_at(), "{id}");
        assert!(f.updated_at() > found[id].updated_at(), "{id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_import_is_retried_then_reported_and_the_revert_stands() {
    let moto = start_moto();
    let e = seed(&moto, "enforce").await;
    // web is repaired; db, in audit, keeps its drift: a finding to import.
    put_policy(
        &e.sdk,
        &policy("enforce").replace("db: {name: db-prod,", "db: {name: db-prod, mode: audit,"),
    )
    .await;
    let proxy = FaultProxy::start(moto.host(), 7, 1.0).await.unwrap();
    // Reading the active findings passes; every import is throttled.
    proxy.only(&["securityhub:POST /findings/import"]);
    proxy.kind(Some(Fault::Throttle));
    let api = RuntimeApi::start().await.unwrap();
    let env: Vec<(&'static str, String)> = moto
        .env()
        .into_iter()
        .map(|(k, v)| match k {
            "AWS_ENDPOINT_URL" => (k, proxy.url()),
            _ => (k, v),
        })
        .collect();
    let _function = function(env, &api).await;

    let sweep = api.invoke(&event("scheduled.json"), WAIT).await.unwrap();
    let failed = sweep
        .outcome
        .expect_err("a findings error fails the invocation");
    assert_eq!(failed.error_type, "FindingsFailed", "{failed:?}");
    assert!(
        failed.message.contains("TooManyRequestsException"),
        "{}",
        failed.message
    );
    // Every import was throttled and tried again by the SDK's retries.
    let calls: Vec<_> = proxy
        .log()
        .into_iter()
        .filter(|p| p.call == "securityhub:POST /findings/import")
        .collect();
    assert!(calls.len() >= 3, "{calls:?}");
    assert!(calls.iter().all(|p| p.fault == Some(Fault::Throttle)));
    // The revert happened all the same: web lost SSH from the world.
    let web = rules_of(&e, &e.web).await;
    assert!(!web.iter().any(|r| r == "tcp/22 from 0.0.0.0/0"), "{web:?}");
    assert!(web.iter().any(|r| r == "tcp/443 from 0.0.0.0/0"), "{web:?}");
    assert!(findings_of(&e.sdk).await.is_empty());
}
