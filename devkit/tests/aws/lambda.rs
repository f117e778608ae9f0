//! The real `sgwarden-lambda` binary, driven through the Lambda runtime API served on
//! loopback, against moto: what AWS Lambda does, minus AWS.

use std::time::Duration;

use serde_json::json;
use sgwarden_devkit::runtime_api::{Function, RuntimeApi};

use crate::moto::{POLICY_KEY, SELF_ROLE, event, event_for, received, rules_of, seed};
use crate::moto_support::{is_ec2_write, start_moto};

const WAIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lambda_binary_answers_the_runtime_api_for_a_scheduled_and_a_cloudtrail_event() {
    let moto = start_moto();
    let e = seed(&moto, "enforce").await;
    let api = RuntimeApi::start().await.unwrap();
    let mut env: Vec<(&str, String)> = moto.env();
    env.push(("SGWARDEN_POLICY", format!("s3://policy/{POLICY_KEY}")));
    env.push(("SGWARDEN_TOPIC_ARN", e.topic.clone()));
    env.push(("SGWARDEN_SELF_ROLE_ARN", SELF_ROLE.to_string()));
    let log = std::env::temp_dir().join(format!("sgwarden-lambda-{}.log", api.address()));
    let mut function = Function::start(
        crate::support::bin("sgwarden-lambda").as_path(),
        &api,
        &env,
        Some(&log),
    )
    .unwrap();

    // The hourly sweep: web gets HTTPS back and loses world SSH; db loses the default
    // egress its policy forbids.
    let sweep = api.invoke(&event("scheduled.json"), WAIT).await.unwrap();
    let summary = sweep.outcome.expect("the sweep succeeds");
    assert_eq!(summary["trigger"]["kind"], "schedule", "{summary}");
    assert_eq!(summary["summary"]["groups_checked"], 3, "{summary}");
    assert_eq!(summary["summary"]["authorized"], 1, "{summary}");
    assert_eq!(summary["summary"]["revoked"], 2, "{summary}");
    assert_eq!(summary["errors"], 0);
    let mut web = rules_of(&e, &e.web).await;
    web.sort();
    assert_eq!(
        web,
        vec![
            "all to 0.0.0.0/0",
            "tcp/22 from 10.0.0.0/8",
            "tcp/443 from 0.0.0.0/0",
            "tcp/80 from 0.0.0.0/0",
        ]
    );
    assert_eq!(
        rules_of(&e, &e.db).await,
        vec![format!("tcp/5432 from {}", e.app)]
    );
    let msgs = received(&e).await;
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].1["trigger"]["kind"], "schedule");

    // Someone opens RDP on app from the console: the event names app, so only app is
    // read and written.
    let ec2 = aws_sdk_ec2::Client::new(&e.sdk);
    sgwarden_devkit::estate::authorize(&ec2, &e.app, &["tcp/3389 from 0.0.0.0/0"])
        .await
        .unwrap();
    moto.clear_recording();
    let edit = api
        .invoke(&event_for("authorize-ingress.json", &e.app), WAIT)
        .await
        .unwrap();
    let summary = edit.outcome.expect("the CloudTrail run succeeds");
    assert_eq!(summary["trigger"]["kind"], "cloudtrail", "{summary}");
    assert_eq!(summary["summary"]["groups_checked"], 1, "{summary}");
    assert_eq!(summary["summary"]["revoked"], 1, "{summary}");
    let written: Vec<String> = moto
        .requests()
        .into_iter()
        .filter(|r| r.action.as_deref().is_some_and(is_ec2_write))
        .map(|r| r.param("GroupId").unwrap_or_default().to_string())
        .collect();
    assert_eq!(written, vec![e.app.clone()]);
    assert!(
        !rules_of(&e, &e.app)
            .await
            .contains(&"tcp/3389 from 0.0.0.0/0".to_string())
    );
    let msgs = received(&e).await;
    assert_eq!(msgs.len(), 1);
    let subject = msgs[0].0["Subject"].as_str().unwrap();
    assert!(subject.contains("fixed 1 rules"), "{subject}");

    // Input that is not an event is rejected with the Lambda error type, and the warm
    // function keeps serving.
    let bad = api.invoke(&json!({"hello": "world"}), WAIT).await.unwrap();
    let err = bad.outcome.expect_err("rejected");
    assert_eq!(err.error_type, "EventRejected");
    assert!(err.message.contains("Scheduled Event"), "{}", err.message);
    assert!(function.running());

    // Its own change, echoed back by CloudTrail, is ignored.
    moto.clear_recording();
    let echo = api
        .invoke(&event_for("self-role.json", &e.app), WAIT)
        .await
        .unwrap();
    let summary = echo.outcome.expect("ignored events succeed");
    assert_eq!(summary["summary"]["groups_checked"], 0, "{summary}");
    assert!(moto.requests().is_empty(), "{:?}", moto.actions());

    // The log is JSON, one object a line: log records, and one metrics line (CloudWatch
    // embedded metric format) per run that ran: the sweep and the edit, not the echo.
    drop(function);
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty());
    let mut metrics = Vec::new();
    for line in &lines {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        if v.get("_aws").is_some() {
            metrics.push(v);
        } else {
            assert!(v["level"].is_string(), "{line}");
        }
    }
    assert!(text.contains("run done"));
    assert_eq!(metrics.len(), 2, "{metrics:?}");
    for m in &metrics {
        let directive = &m["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "sgwarden");
        assert_eq!(directive["Dimensions"], json!([[], ["Trigger", "Mode"]]));
        assert!(m["_aws"]["Timestamp"].is_i64(), "{m}");
        let names: Vec<&str> = directive["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|d| d["Name"].as_str())
            .collect();
        for name in [
            "GroupsChecked",
            "GroupsDrifted",
            "GroupsViolating",
            "RulesMissing",
            "RulesExtra",
            "RulesAuthorized",
            "RulesRevoked",
            "WritesFailed",
            "GroupsFlapping",
            "Errors",
            "Duration",
        ] {
            assert!(names.contains(&name), "{name} not declared: {m}");
            assert!(m[name].is_u64(), "{name} has no value: {m}");
        }
    }
    let sweep = &metrics[0];
    assert_eq!(
        (&sweep["Trigger"], &sweep["Mode"]),
        (&json!("schedule"), &json!("declared"))
    );
    assert_eq!(
        (
            &sweep["GroupsChecked"],
            &sweep["RulesAuthorized"],
            &sweep["RulesRevoked"]
        ),
        (&json!(3), &json!(1), &json!(2))
    );
    assert_eq!(metrics[1]["Trigger"], "cloudtrail");
    assert_eq!(metrics[1]["RulesRevoked"], 1);
    let _ = std::fs::remove_file(&log);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_without_its_policy_variable_fails_every_invocation_with_the_reason() {
    let api = RuntimeApi::start().await.unwrap();
    let _function = Function::start(
        crate::support::bin("sgwarden-lambda").as_path(),
        &api,
        &[("SGWARDEN_POLICY", String::new())],
        None,
    )
    .unwrap();
    let inv = api.invoke(&event("scheduled.json"), WAIT).await.unwrap();
    let err = inv.outcome.expect_err("no policy configured");
    assert_eq!(err.error_type, "ConfigInvalid");
    assert!(err.message.contains("SGWARDEN_POLICY"), "{err:?}");
}
