//! Guardrails and selectors through the real `sgwarden-lambda` binary (driven through the
//! Lambda runtime API) against moto: what each run wrote is read back from EC2 and from
//! moto's request recorder, never taken from the report alone.

use std::time::Duration;

use aws_sdk_ec2::types::{IpPermission, IpRange, Ipv6Range, Tag};
use serde_json::Value;
use sgwarden_devkit::estate;
use sgwarden_devkit::runtime_api::{Function, RuntimeApi};

use crate::moto::{POLICY_KEY, SELF_ROLE, event, event_for};
use crate::moto_support::{Moto, US_EAST_1, is_ec2_write, start_moto};
use sgwarden::aws::ec2::SdkEc2;
use sgwarden::ports::Ec2;

const WAIT: Duration = Duration::from_secs(60);

/// A running function on a moto with `policy` uploaded and a report topic.
struct Stage {
    moto: Moto,
    sdk: aws_config::SdkConfig,
    ec2: aws_sdk_ec2::Client,
    vpc: String,
    api: RuntimeApi,
    queue: String,
    _function: Function,
}

async fn stage(policy: &str) -> Stage {
    let moto = start_moto();
    let sdk = moto.sdk().await;
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let vpc = estate::create_vpc(&ec2, "10.0.0.0/16").await.unwrap();
    estate::versioned_bucket(&sdk, "policy").await.unwrap();
    estate::put_object(&sdk, "policy", POLICY_KEY, policy)
        .await
        .unwrap();
    let topic = estate::topic_with_queue(&sdk, "sgwarden-reports")
        .await
        .unwrap();
    let api = RuntimeApi::start().await.unwrap();
    let mut env: Vec<(&str, String)> = moto.env();
    env.push(("SGWARDEN_POLICY", format!("s3://policy/{POLICY_KEY}")));
    env.push(("SGWARDEN_TOPIC_ARN", topic.arn.clone()));
    env.push(("SGWARDEN_SELF_ROLE_ARN", SELF_ROLE.to_string()));
    let function = Function::start(
        crate::support::bin("sgwarden-lambda").as_path(),
        &api,
        &env,
        None,
    )
    .unwrap();
    Stage {
        moto,
        sdk,
        ec2,
        vpc,
        api,
        queue: topic.queue_url,
        _function: function,
    }
}

impl Stage {
    async fn group(&self, name: &str) -> String {
        estate::create_group(&self.ec2, &self.vpc, name, name)
            .await
            .unwrap()
    }

    async fn tag(&self, group: &str, key: &str, value: &str) {
        self.ec2
            .create_tags()
            .resources(group)
            .tags(Tag::builder().key(key).value(value).build())
            .send()
            .await
            .unwrap();
    }

    async fn rules(&self, group: &str) -> Vec<String> {
        let inv = SdkEc2::new(&self.sdk)
            .describe(&US_EAST_1, Some(&[group.to_string()]))
            .await
            .unwrap();
        let g = &inv.groups[0];
        let mut all: Vec<String> = g.ingress.iter().map(|r| r.rule.to_string()).collect();
        all.sort();
        all
    }

    /// Invokes the function; its summary, and the JSON report the subscriber received.
    async fn invoke(&self, ev: &Value) -> (Value, Value) {
        let out = self.api.invoke(ev, WAIT).await.unwrap();
        let summary = out.outcome.expect("the run succeeds");
        let mut reports = estate::receive(&self.sdk, &self.queue).await.unwrap();
        let report = reports.pop().map(|(_, r)| r).unwrap_or_default();
        (summary, report)
    }

    /// The EC2 writes moto recorded since the last clear: (action, group id).
    fn writes(&self) -> Vec<(String, String)> {
        self.moto
            .requests()
            .into_iter()
            .filter(|r| r.action.as_deref().is_some_and(is_ec2_write))
            .map(|r| {
                (
                    r.action.clone().unwrap_or_default(),
                    r.param("GroupId").unwrap_or_default().to_string(),
                )
            })
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enforce_guardrail_revokes_one_peer_of_a_multi_cidr_permission_on_an_unmanaged_group() {
    let s = stage(
        "version: 1
settings: {regions: [us-east-1], notify: always}
guardrails:
  - {id: no-admin-from-world, mode: enforce, severity: critical, deny: ['tcp/22,3389 from world']}
groups: {}
",
    )
    .await;
    let legacy = s.group("legacy").await;
    // One permission, four peers: only the two that are the world may go.
    let perm = IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(22)
        .to_port(22)
        .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
        .ip_ranges(IpRange::builder().cidr_ip("10.0.0.0/8").build())
        .ip_ranges(IpRange::builder().cidr_ip("192.0.2.0/24").build())
        .ipv6_ranges(Ipv6Range::builder().cidr_ipv6("::/0").build())
        .build();
    s.ec2
        .authorize_security_group_ingress()
        .group_id(&legacy)
        .ip_permissions(perm)
        .send()
        .await
        .unwrap();
    s.moto.clear_recording();

    let (summary, report) = s.invoke(&event("scheduled.json")).await;
    assert_eq!(summary["summary"]["revoked"], 2, "{summary}");
    assert_eq!(
        s.rules(&legacy).await,
        ["tcp/22 from 10.0.0.0/8", "tcp/22 from 192.0.2.0/24"]
    );
    // One revoke call for the group, authorize never.
    assert_eq!(
        s.writes(),
        [("RevokeSecurityGroupIngress".to_string(), legacy.clone())]
    );
    let g = report["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["group_id"] == legacy.as_str())
        .expect("the unmanaged group is reported");
    assert!(g["key"].is_null() && g["mode"].is_null(), "{g}");
    let violations: Vec<(&str, &str)> = g["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["severity"].as_str().unwrap(),
                v["rule"]["text"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        violations,
        [
            ("critical", "tcp/22 from 0.0.0.0/0"),
            ("critical", "tcp/22 from ::/0")
        ]
    );
    assert!(
        g["actions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["guardrail"] == "no-admin-from-world" && a["status"] == "done"),
        "{g}"
    );
    assert_eq!(report["summary"]["violations"], 2);
    assert_eq!(g["after"]["violations"].as_array().unwrap().len(), 0, "{g}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_change_moves_a_group_under_a_select_entry_and_its_event_reverts_it() {
    let s = stage(
        "version: 1
settings: {regions: [us-east-1], notify: always}
groups:
  web-tier:
    select: {tags: {tier: web}}
    mode: enforce
    ingress: [tcp/443 from 10.0.0.0/8]
",
    )
    .await;
    let svc = s.group("svc-7").await;
    estate::authorize(&s.ec2, &svc, &["tcp/8080 from 0.0.0.0/0"])
        .await
        .unwrap();
    // Untagged, no entry governs it: the sweep leaves it alone.
    let (summary, _) = s.invoke(&event("scheduled.json")).await;
    assert_eq!(summary["summary"]["revoked"], 0, "{summary}");
    assert_eq!(s.rules(&svc).await, ["tcp/8080 from 0.0.0.0/0"]);

    s.tag(&svc, "tier", "web").await;
    s.moto.clear_recording();
    let (summary, report) = s.invoke(&event_for("create-tags.json", &svc)).await;
    assert_eq!(summary["trigger"]["kind"], "cloudtrail", "{summary}");
    assert_eq!(summary["summary"]["authorized"], 1, "{summary}");
    assert_eq!(summary["summary"]["revoked"], 1, "{summary}");
    assert_eq!(s.rules(&svc).await, ["tcp/443 from 10.0.0.0/8"]);
    let g = &report["groups"][0];
    assert_eq!(g["key"], "web-tier");
    assert_eq!(g["matched_by"], "selected by tags tier=web");
    assert_eq!(report["selected"]["web-tier"], 1);
    assert!(s.writes().iter().all(|(_, id)| *id == svc));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wanted_rule_a_guardrail_denies_is_never_authorized() {
    let s = stage(
        "version: 1
settings: {regions: [us-east-1], notify: always}
guardrails:
  - {id: prod-no-ssh, select: {tags: {env: prod}}, deny: [tcp/22 from world]}
groups:
  web: {name: web-prod, mode: enforce, ingress: [tcp/22 from 0.0.0.0/0, tcp/443 from 0.0.0.0/0]}
",
    )
    .await;
    let web = s.group("web-prod").await;
    s.tag(&web, "env", "prod").await;
    s.moto.clear_recording();
    let out = s.api.invoke(&event("scheduled.json"), WAIT).await.unwrap();
    // The conflict is an error of the run (the owner must mend the policy); the rule the
    // guardrail allows is written all the same.
    let failed = out.outcome.expect_err("a denied rule is an error");
    assert!(
        failed.message.contains("denied by guardrail `prod-no-ssh`"),
        "{}",
        failed.message
    );
    assert_eq!(s.rules(&web).await, ["tcp/443 from 0.0.0.0/0"]);
    let authorized: Vec<String> = s
        .moto
        .requests()
        .into_iter()
        .filter(|r| r.action.as_deref() == Some("AuthorizeSecurityGroupIngress"))
        .map(|r| {
            r.param("IpPermissions.1.FromPort")
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(authorized, ["443"]);
    let reports = estate::receive(&s.sdk, &s.queue).await.unwrap();
    let report = &reports.last().expect("a report is published").1;
    let action = report["groups"][0]["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["rule"]["text"] == "tcp/22 from 0.0.0.0/0")
        .expect("the denied authorize is listed");
    assert_eq!(action["status"], "skipped");
    assert_eq!(action["guardrail"], "prod-no-ssh");
    assert!(
        report["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("denied by guardrail `prod-no-ssh`"),
        "{report}"
    );
}
