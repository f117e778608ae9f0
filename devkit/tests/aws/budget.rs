//! The revert budget kept in S3 on moto, one object per group: conditional writes,
//! concurrent invocations for one group, the single-object form of earlier versions, and
//! a budget object that is not one.

use futures_util::future::join_all;
use serde_json::Value;
use sgwarden::aws::ec2::SdkEc2;
use sgwarden::aws::flows::SdkFlows;
use sgwarden::aws::sns::SnsNotifier;
use sgwarden::aws::state::S3Ledger;
use sgwarden::aws::{AnyLedger, AnyPolicySource};
use sgwarden::budget::{Claim, Ledger, Verdict};
use sgwarden::config::{LambdaConfig, S3Location};
use sgwarden::enforcer::Enforcer;
use sgwarden::handler;
use sgwarden::policy::FlapLimit;
use sgwarden::ports::{NoFindings, RevertLedger};

use crate::moto::{POLICY_KEY, event_for, rules_of, seed};
use crate::moto_support::{US_EAST_1, is_ec2_write, start_moto};
use sgwarden_devkit::estate;

pub(crate) const STATE: &str = "s3://state/sgwarden/revert-budget/";

/// The revert budgets' prefix, as `SGWARDEN_STATE` names it.
pub(crate) fn state() -> S3Location {
    S3Location::parse(STATE).unwrap()
}
const BOT: &str = "arn:aws:sts::123456789012:assumed-role/other-tool/bot";

/// The budget object of one group (`ACCOUNT/REGION/GROUP_ID`), read back.
pub(crate) async fn budget_object(sdk: &aws_config::SdkConfig, group: &str) -> Option<Ledger> {
    let key = S3Ledger::new(sdk, state()).object(group);
    let body = estate::get_object(sdk, "state", &key).await.unwrap()?;
    Some(serde_json::from_slice(&body).unwrap())
}

#[tokio::test]
async fn concurrent_reservations_never_spend_more_than_the_budget() {
    let moto = start_moto();
    let sdk = moto.sdk().await;
    estate::versioned_bucket(&sdk, "state").await.unwrap();
    let ledger = S3Ledger::new(&sdk, state());
    let limit = FlapLimit {
        reverts: 3,
        per_seconds: 3600,
    };
    let now = "2026-11-23T12:00:00Z".parse().unwrap();
    let claim = |who: usize| Claim {
        key: "us-east-1/sg-0123".into(),
        actor: Some(format!("{BOT}-{who}")),
        trigger: "cloudtrail:AuthorizeSecurityGroupIngress".into(),
    };
    // Eight invocations at the same moment, each with its own client, all for one group.
    let ledgers: Vec<S3Ledger> = (0..8).map(|_| S3Ledger::new(&sdk, state())).collect();
    let claims: Vec<Vec<Claim>> = (0..8).map(|i| vec![claim(i)]).collect();
    let verdicts = join_all(
        ledgers
            .iter()
            .zip(&claims)
            .map(|(l, c)| l.reserve(now, limit, c)),
    )
    .await;
    let granted = verdicts
        .iter()
        .filter(|v| v.as_ref().unwrap()[0] == Verdict::Granted)
        .count();
    assert_eq!(granted, 3, "{verdicts:?}");
    let kept = budget_object(&sdk, "us-east-1/sg-0123")
        .await
        .expect("the group's budget");
    assert_eq!(kept.groups["us-east-1/sg-0123"].len(), 3);
    // Some writes lost the race and were retried: the object has more than one version
    // but the conditional writes kept every granted reservation. The five refused ones
    // only read: a spent budget is answered without a write.
    let puts = moto
        .requests()
        .iter()
        .filter(|r| r.method == "PUT" && r.path.contains("revert-budget"))
        .count();
    assert!(puts >= 3, "{puts} PUTs");

    // A stale ETag is refused by S3 itself (412): the precondition the ledger relies on.
    let s3 = sgwarden::aws::s3_client(&sdk);
    let key = ledger.object("us-east-1/sg-0123");
    let put = || {
        s3.put_object()
            .bucket("state")
            .key(&key)
            .body(aws_sdk_s3::primitives::ByteStream::from_static(b"{}"))
    };
    let stale = put()
        .if_match("\"0123456789abcdef0123456789abcdef\"")
        .send()
        .await
        .expect_err("a stale ETag");
    assert_eq!(stale.raw_response().unwrap().status().as_u16(), 412);
    let none_match = put()
        .if_none_match("*")
        .send()
        .await
        .expect_err("the object exists");
    assert_eq!(none_match.raw_response().unwrap().status().as_u16(), 412);
    // The ledger itself still answers.
    assert!(matches!(
        ledger.reserve(now, limit, &[claim(9)]).await.unwrap()[0],
        Verdict::Flapping { .. }
    ));

    // Another group is another object: its budget is whole.
    let other = Claim {
        key: "us-east-1/sg-0456".into(),
        ..claim(10)
    };
    assert_eq!(
        ledger.reserve(now, limit, &[other]).await.unwrap(),
        [Verdict::Granted]
    );

    // The single object of earlier versions (`s3://bucket/key`) is read as the prefix
    // `key/`: a stack that still names it keeps counting, per group, beside it.
    let old = S3Location::parse("s3://state/sgwarden/revert-ledger.json").unwrap();
    let old_form = S3Ledger::new(&sdk, old);
    assert_eq!(
        old_form.object("us-east-1/sg-0123"),
        "sgwarden/revert-ledger.json/us-east-1/sg-0123.json"
    );
    assert_eq!(
        old_form.reserve(now, limit, &[claim(11)]).await.unwrap(),
        [Verdict::Granted]
    );
}

fn flappy_policy() -> String {
    "version: 1
settings: {regions: [us-east-1], default_mode: enforce, notify: always, flap_limit: {reverts: 1, per: 1h}}
groups:
  web: {name: web-prod, ingress: ['tcp/80,443 from 0.0.0.0/0', 'tcp/22 from 10.0.0.0/8']}
  app: {name: app-prod, ingress: ['tcp/8080 from sg:web']}
  db: {name: db-prod, ingress: ['tcp/5432 from sg:app'], egress: []}
"
    .to_string()
}

fn config() -> LambdaConfig {
    LambdaConfig {
        policy: format!("s3://policy/{POLICY_KEY}"),
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

#[tokio::test]
async fn two_events_for_one_group_at_the_same_moment_revert_it_once_and_report_it_flapping_once() {
    let moto = start_moto();
    let e = seed(&moto, "enforce").await;
    estate::put_object(&e.sdk, "policy", POLICY_KEY, &flappy_policy())
        .await
        .unwrap();
    estate::versioned_bucket(&e.sdk, "state").await.unwrap();
    // Two warm functions, as Lambda runs concurrent events in separate environments.
    let make = || Enforcer {
        ec2: SdkEc2::new(&e.sdk),
        source: AnyPolicySource::new(&e.sdk, &format!("s3://policy/{POLICY_KEY}")),
        notifier: SnsNotifier::new(&e.sdk, Some(e.topic.clone()), None),
        ledger: AnyLedger::new(&e.sdk, Some(&state())),
        flows: SdkFlows::new(&e.sdk),
        findings: NoFindings,
    };
    let (a, b) = (make(), make());
    let mut ev = event_for("authorize-ingress.json", &e.web);
    ev["detail"]["userIdentity"]["arn"] = Value::String(BOT.into());
    let now = "2026-11-23T12:00:00Z".parse().unwrap();
    let cfg = config();
    let (ra, rb) = tokio::join!(
        handler::handle(&a, &cfg, &US_EAST_1, now, &ev),
        handler::handle(&b, &cfg, &US_EAST_1, now, &ev),
    );
    let reports = [ra.expect("no error"), rb.expect("no error")];
    let flapping: Vec<_> = reports
        .iter()
        .filter(|r| r.summary.groups_flapping == 1)
        .collect();
    assert_eq!(flapping.len(), 1, "exactly one of the two is refused");
    let f = flapping[0].groups[0].flapping.as_ref().unwrap();
    assert_eq!(f.actors, [BOT]);
    assert_eq!(f.until, "2026-11-23T13:00:00Z");
    let reverted = reports
        .iter()
        .find(|r| r.summary.groups_flapping == 0)
        .unwrap();
    assert!(reverted.summary.revoked + reverted.summary.authorized > 0);
    assert!(
        !rules_of(&e, &e.web)
            .await
            .contains(&"tcp/22 from 0.0.0.0/0".to_string())
    );
    let web = format!("123456789012/us-east-1/{}", e.web);
    let kept = budget_object(&e.sdk, &web).await.unwrap();
    let reverts = &kept.groups[&web];
    assert_eq!(reverts.len(), 1);
    assert_eq!(reverts[0].actor.as_deref(), Some(BOT));

    // The same change made again within the hour stands, and the refusal is published.
    let ec2 = aws_sdk_ec2::Client::new(&e.sdk);
    estate::authorize(&ec2, &e.web, &["tcp/22 from 0.0.0.0/0"])
        .await
        .unwrap();
    moto.clear_recording();
    let r = handler::handle(
        &a,
        &cfg,
        &US_EAST_1,
        now + chrono::Duration::minutes(5),
        &ev,
    )
    .await
    .unwrap();
    assert_eq!(r.summary.groups_flapping, 1);
    assert!(
        !moto.actions().iter().any(|x| is_ec2_write(x)),
        "{:?}",
        moto.actions()
    );
    assert!(
        rules_of(&e, &e.web)
            .await
            .contains(&"tcp/22 from 0.0.0.0/0".to_string())
    );
    let msgs = crate::moto::received(&e).await;
    let flapping: Vec<&Value> = msgs
        .iter()
        .map(|(_, report)| report)
        .filter(|r| r["summary"]["groups_flapping"] == 1)
        .collect();
    assert_eq!((msgs.len(), flapping.len()), (3, 2), "{msgs:?}");
    assert_eq!(flapping[0]["groups"][0]["flapping"]["actors"][0], BOT);
}

#[tokio::test]
async fn a_budget_that_is_not_one_fails_closed_with_budget_unavailable() {
    let moto = start_moto();
    let e = seed(&moto, "enforce").await;
    estate::versioned_bucket(&e.sdk, "state").await.unwrap();
    let web = S3Ledger::new(&e.sdk, state()).object(&format!("123456789012/us-east-1/{}", e.web));
    estate::put_object(&e.sdk, "state", &web, "not json")
        .await
        .unwrap();
    let enf = Enforcer {
        ec2: SdkEc2::new(&e.sdk),
        source: AnyPolicySource::new(&e.sdk, &format!("s3://policy/{POLICY_KEY}")),
        notifier: SnsNotifier::new(&e.sdk, Some(e.topic.clone()), None),
        ledger: AnyLedger::new(&e.sdk, Some(&state())),
        flows: SdkFlows::new(&e.sdk),
        findings: NoFindings,
    };
    moto.clear_recording();
    let err = handler::handle(
        &enf,
        &config(),
        &US_EAST_1,
        "2026-11-23T12:00:00Z".parse().unwrap(),
        &crate::moto::event("scheduled.json"),
    )
    .await
    .expect_err("the budget cannot be checked");
    assert_eq!(err.error_type, "BudgetUnavailable", "{}", err.message);
    assert!(err.message.contains("delete the object"), "{}", err.message);
    assert!(
        !moto.actions().iter().any(|x| is_ec2_write(x)),
        "{:?}",
        moto.actions()
    );
    // The error report was still published.
    assert_eq!(crate::moto::received(&e).await.len(), 1);
}
