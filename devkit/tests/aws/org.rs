//! A hub deployment's member accounts on moto, which keeps one backend per account:
//! credentials from `AssumeRole` into `arn:aws:iam::ACCOUNT:role/…` make every later call
//! land in that account. The real SDK's assume-role provider is pointed at moto.

use std::sync::Arc;

use sgwarden::aws::ec2::SdkEc2;
use sgwarden::aws::member::{MemberRole, Members};
use sgwarden::place::Place;
use sgwarden::ports::{Ec2, GroupRef};
use sgwarden::rule::{DescribedRule, Direction};
use sgwarden_devkit::estate;

use crate::moto_support::{Moto, start_moto};
use sgwarden_devkit::runtime_api::{Function, RuntimeApi, sqs_batch};

/// moto's default account: the hub in most tests here.
const HUB: &str = "123456789012";
/// The hub where a test must tell the hub's calls from calls that fell back to moto's
/// default account (as cached member credentials do after `/moto-api/reset`).
const OTHER_HUB: &str = "111111111111";

fn names(inv: &sgwarden::inventory::Inventory) -> Vec<String> {
    let mut v: Vec<String> = inv
        .groups
        .iter()
        .filter(|g| g.group_name != "default")
        .map(|g| format!("{} {}", g.place.account, g.group_name))
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn each_place_is_read_and_written_with_its_own_accounts_member_role() {
    let moto = start_moto();
    let hub = moto.sdk().await;
    let members = Arc::new(Members::new(
        &hub,
        MemberRole {
            name: "sgwarden-member".into(),
            external_id: Some("org-secret".into()),
        },
    ));
    members.set_hub(HUB);
    // Seed each member through its own member-role credentials; the hub gets a group too.
    let mut ids = Vec::new();
    for account in ["222222222222", "333333333333"] {
        let conf = members.config(&Place::new(account, "us-east-1")).await;
        let ec2 = aws_sdk_ec2::Client::new(&conf);
        let vpc = estate::create_vpc(&ec2, "10.0.0.0/16").await.unwrap();
        let name = format!("web-{account}");
        ids.push(
            estate::create_group(&ec2, &vpc, &name, "web")
                .await
                .unwrap(),
        );
    }
    let hub_ec2 = aws_sdk_ec2::Client::new(&hub);
    let vpc = estate::create_vpc(&hub_ec2, "10.9.0.0/16").await.unwrap();
    estate::create_group(&hub_ec2, &vpc, "hub-only", "hub")
        .await
        .unwrap();

    let ec2 = SdkEc2::new(&hub).with_members(members.clone());
    let place = |a: &str| Place::new(a, "us-east-1");
    let read = |a: &'static str| {
        let ec2 = &ec2;
        async move { names(&ec2.describe(&place(a), None).await.unwrap()) }
    };
    assert_eq!(
        read("222222222222").await,
        ["222222222222 web-222222222222"]
    );
    assert_eq!(
        read("333333333333").await,
        ["333333333333 web-333333333333"]
    );
    assert_eq!(read(HUB).await, [format!("{HUB} hub-only")]);

    // A write in one member lands there and nowhere else.
    let rule = DescribedRule {
        rule: "tcp/22 from 10.0.0.0/8".parse().unwrap(),
        description: None,
    };
    let group = GroupRef {
        place: place("333333333333"),
        group_id: ids[1].clone(),
    };
    ec2.authorize(&group, Direction::Ingress, std::slice::from_ref(&rule))
        .await
        .unwrap();
    let mine = ec2
        .describe(&place("333333333333"), Some(std::slice::from_ref(&ids[1])))
        .await
        .unwrap();
    assert!(mine.groups[0].ingress.contains(&rule));
    let other = ec2.describe(&place("222222222222"), None).await.unwrap();
    assert!(other.groups.iter().all(|g| g.ingress.is_empty()));
    // The role assumed is the member role in each account, with the ExternalId.
    let assumed: Vec<(String, String)> = moto
        .requests()
        .into_iter()
        .filter(|r| r.action.as_deref() == Some("AssumeRole"))
        .map(|r| {
            (
                r.param("RoleArn").unwrap_or_default().to_string(),
                r.param("ExternalId").unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert!(assumed.contains(&(
        "arn:aws:iam::333333333333:role/sgwarden-member".to_string(),
        "org-secret".to_string()
    )));
    assert!(
        assumed.iter().all(|(arn, _)| !arn.contains(HUB)),
        "{assumed:?}"
    );
}

/// The member roles as a hub in `account` assumes them.
fn members_of(hub: &aws_config::SdkConfig, account: &str) -> Members {
    let members = Members::new(
        hub,
        MemberRole {
            name: "sgwarden-member".into(),
            external_id: None,
        },
    );
    members.set_hub(account);
    members
}

/// The member roles as the hub (moto's default account) assumes them.
fn hub_members(hub: &aws_config::SdkConfig) -> Members {
    members_of(hub, HUB)
}

/// The Lambda binary on a runtime API, pointed at this moto with `env` besides.
async fn function(moto: &Moto, env: &[(&'static str, &str)]) -> (RuntimeApi, Function) {
    function_in(HUB, moto.env(), env).await
}

/// The Lambda binary of a hub in `account`, with that account's environment `base`.
async fn function_in(
    account: &str,
    base: Vec<(&'static str, String)>,
    env: &[(&'static str, &str)],
) -> (RuntimeApi, Function) {
    let api = RuntimeApi::start_in(account).await.unwrap();
    let mut all = base;
    all.extend(env.iter().map(|(k, v)| (*k, v.to_string())));
    let f = Function::start(
        crate::support::bin("sgwarden-lambda").as_path(),
        &api,
        &all,
        None,
    )
    .unwrap();
    (api, f)
}

/// Puts a policy in the hub's versioned bucket `policy`, at `key`.
async fn policy_in(hub: &aws_config::SdkConfig, key: &str, text: &str) {
    estate::versioned_bucket(hub, "policy").await.unwrap();
    estate::put_object(hub, "policy", key, text).await.unwrap();
}

/// Seeds `web-prod` with SSH open to the world in each account (through its member role;
/// the hub's with its own credentials).
async fn seed_web(members: &Members, accounts: &[&str]) -> Vec<String> {
    let mut ids = Vec::new();
    for account in accounts {
        let conf = members.config(&Place::new(*account, "us-east-1")).await;
        let ec2 = aws_sdk_ec2::Client::new(&conf);
        let vpc = estate::create_vpc(&ec2, "10.0.0.0/16").await.unwrap();
        let id = estate::create_group(&ec2, &vpc, "web-prod", "web")
            .await
            .unwrap();
        estate::authorize(&ec2, &id, &["tcp/22 from 0.0.0.0/0"])
            .await
            .unwrap();
        ids.push(id);
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pumped_sweep_and_a_member_event_repair_each_member_with_its_own_role() {
    let moto = start_moto();
    // The hub runs in its own account, so that a call made with the wrong credentials
    // would show in moto's default account, which must stay empty.
    let (hub, hub_env) = moto.account(OTHER_HUB).await.unwrap();
    let members = members_of(&hub, OTHER_HUB);
    let accounts = ["222222222222", "333333333333", OTHER_HUB];
    let ids = seed_web(&members, &accounts).await;
    policy_in(&hub, "sgwarden/policy.yaml", "version: 1
settings: {regions: [us-east-1], default_mode: enforce, notify: always, accounts: [\"222222222222\", \"333333333333\"]}
groups:
  web: {name: web-prod, ingress: [tcp/443 from 0.0.0.0/0]}
").await;
    let topic = estate::topic_with_queue(&hub, "sgwarden-reports")
        .await
        .unwrap();
    let (api, _function) = function_in(
        OTHER_HUB,
        hub_env,
        &[
            ("SGWARDEN_POLICY", "s3://policy/sgwarden/policy.yaml"),
            ("SGWARDEN_TOPIC_ARN", &topic.arn),
        ],
    )
    .await;

    // The planner's messages on a work queue; the harness pumps it as Lambda's event
    // source mapping would (moto never invokes a function from a queue).
    let queue = estate::queue(&hub, "sgwarden-work").await.unwrap();
    let bodies = sgwarden::work::plan_sweep(
        &["222222222222".to_string(), "333333333333".to_string()],
        &["us-east-1".to_string()],
        Some("sweep-1"),
    );
    estate::send(&hub, &queue, &bodies).await.unwrap();
    let pumped = api
        .pump(&hub, &queue, std::time::Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(pumped.received, 2);
    assert!(pumped.failed.is_empty(), "{:?}", pumped.failed);

    let rules = |account: &'static str, id: String| {
        let ec2 = SdkEc2::new(&hub).with_members(Arc::new(members_of(&hub, OTHER_HUB)));
        async move {
            let inv = ec2
                .describe(&Place::new(account, "us-east-1"), Some(&[id]))
                .await
                .unwrap();
            let mut v: Vec<String> = inv.groups[0]
                .ingress
                .iter()
                .map(|r| r.rule.to_string())
                .collect();
            v.sort();
            v
        }
    };
    for (i, account) in ["222222222222", "333333333333"].into_iter().enumerate() {
        assert_eq!(
            rules(account, ids[i].clone()).await,
            ["tcp/443 from 0.0.0.0/0"],
            "{account}"
        );
    }
    // The hub is not governed: untouched.
    assert_eq!(
        rules(OTHER_HUB, ids[2].clone()).await,
        ["tcp/22 from 0.0.0.0/0"]
    );
    // One report per item, each naming its account, in the JSON and in the subject.
    let mut named: Vec<(String, String)> = estate::receive(&hub, &topic.queue_url)
        .await
        .unwrap()
        .into_iter()
        .map(|(envelope, r)| {
            (
                r["account"].as_str().unwrap_or_default().to_string(),
                envelope["Subject"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    named.sort();
    let accounts: Vec<&str> = named.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(accounts, ["222222222222", "333333333333"]);
    for (account, subject) in &named {
        assert!(
            subject.starts_with(&format!("sgwarden {account} us-east-1:")),
            "{subject}"
        );
    }

    // A console edit in 333333333333, forwarded to the hub's queue: reverted there only.
    let conf = members
        .config(&Place::new("333333333333", "us-east-1"))
        .await;
    estate::authorize(
        &aws_sdk_ec2::Client::new(&conf),
        &ids[1],
        &["tcp/3389 from 0.0.0.0/0"],
    )
    .await
    .unwrap();
    let mut edit = crate::moto::event_for("authorize-ingress.json", &ids[1]);
    edit["account"] = "333333333333".into();
    let own = {
        // The revert's own event: made by the member role in that account.
        let mut e = edit.clone();
        e["detail"]["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"] =
            "arn:aws:iam::333333333333:role/sgwarden-member".into();
        e["detail"]["eventID"] = "own-revert".into();
        e
    };
    moto.clear_recording();
    let body = |e: &serde_json::Value| {
        aws_sdk_sqs::types::Message::builder()
            .message_id(e["detail"]["eventID"].as_str().unwrap_or("x"))
            .body(e.to_string())
            .build()
    };
    let out = api
        .invoke(
            &sqs_batch(&[body(&edit), body(&own)]),
            std::time::Duration::from_secs(60),
        )
        .await
        .unwrap();
    assert_eq!(
        out.outcome.expect("the batch runs"),
        serde_json::json!({"batchItemFailures": []})
    );
    assert_eq!(
        rules("333333333333", ids[1].clone()).await,
        ["tcp/443 from 0.0.0.0/0"]
    );
    // Exactly one write, in the member: the own event read and wrote nothing.
    let writes: Vec<String> = moto
        .requests()
        .into_iter()
        .filter(|r| {
            r.action
                .as_deref()
                .is_some_and(crate::moto_support::is_ec2_write)
        })
        .map(|r| r.param("GroupId").unwrap_or_default().to_string())
        .collect();
    assert_eq!(writes, [ids[1].clone()]);

    // moto's default account saw none of it: no group but its default VPC's, no bucket,
    // no topic, no queue.
    let default = moto.sdk().await;
    assert_eq!(
        estate::holdings(&default).await.unwrap(),
        Vec::<String>::new()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_planner_queues_exactly_the_active_accounts_crossed_with_the_regions() {
    let moto = start_moto();
    let hub = moto.sdk().await;
    let members = estate::organization(&hub, 5).await.unwrap();
    aws_sdk_organizations::Client::new(&hub)
        .close_account()
        .account_id(&members[4])
        .send()
        .await
        .unwrap();
    policy_in(
        &hub,
        "sgwarden/policy.yaml",
        "version: 1
settings: {regions: [us-east-1, eu-west-1], accounts: organization}
groups: {}
",
    )
    .await;
    let queue = estate::queue(&hub, "sgwarden-work").await.unwrap();
    let (api, _function) = function(
        &moto,
        &[
            ("SGWARDEN_POLICY", "s3://policy/sgwarden/policy.yaml"),
            ("SGWARDEN_WORK_QUEUE", &queue),
        ],
    )
    .await;
    moto.clear_recording();
    let out = api
        .invoke(
            &crate::moto::event("scheduled.json"),
            std::time::Duration::from_secs(60),
        )
        .await
        .unwrap();
    let planned = out.outcome.expect("the planner runs");
    assert_eq!(planned["planned"]["queued"], 8, "{planned}");

    let mut got: Vec<String> = estate::drain(&hub, &queue)
        .await
        .unwrap()
        .iter()
        .map(|v| {
            format!(
                "{}/{}",
                v["account"].as_str().unwrap(),
                v["region"].as_str().unwrap()
            )
        })
        .collect();
    got.sort();
    let mut want: Vec<String> = members[..4]
        .iter()
        .flat_map(|a| [format!("{a}/eu-west-1"), format!("{a}/us-east-1")])
        .collect();
    want.sort();
    // The hub (the management account) and the suspended member are not in it.
    assert_eq!(got, want);
    // The planner read and queued; it touched no security group anywhere.
    assert!(moto.requests().iter().all(|r| {
        !r.action
            .as_deref()
            .is_some_and(crate::moto_support::is_ec2_write)
    }));
}

#[tokio::test]
async fn the_member_template_deploys_through_stacksets_to_a_list_of_accounts() {
    use aws_sdk_cloudformation::types::{Capability, Parameter};
    let moto = start_moto();
    let hub = moto.sdk().await;
    let cf = aws_sdk_cloudformation::Client::new(&hub);
    let body = std::fs::read_to_string(crate::support::root().join("infra/member.yaml")).unwrap();
    let param = |k: &str, v: &str| {
        Parameter::builder()
            .parameter_key(k)
            .parameter_value(v)
            .build()
    };
    cf.create_stack_set()
        .stack_set_name("sgwarden-member")
        .template_body(body)
        .parameters(param(
            "HubRoleArn",
            &format!("arn:aws:iam::{HUB}:role/sgwarden-function"),
        ))
        .parameters(param(
            "HubBusArn",
            &format!("arn:aws:events:us-east-1:{HUB}:event-bus/sgwarden-hub"),
        ))
        .capabilities(Capability::CapabilityNamedIam)
        .send()
        .await
        .unwrap();
    let accounts = ["222222222222", "333333333333"];
    cf.create_stack_instances()
        .stack_set_name("sgwarden-member")
        .set_accounts(Some(accounts.map(String::from).to_vec()))
        .regions("us-east-1")
        .send()
        .await
        .unwrap();
    let members = hub_members(&hub);
    for account in accounts {
        // Read back in the member, with its own credentials: the role and both rules.
        let conf = members.config(&Place::new(account, "us-east-1")).await;
        let role = aws_sdk_iam::Client::new(&conf)
            .get_role()
            .role_name("sgwarden-member")
            .send()
            .await
            .unwrap();
        assert_eq!(
            role.role().map(|r| r.arn()),
            Some(format!("arn:aws:iam::{account}:role/sgwarden-member").as_str())
        );
        let rules = aws_sdk_eventbridge::Client::new(&conf)
            .list_rules()
            .send()
            .await
            .unwrap();
        let mut names: Vec<&str> = rules.rules().iter().filter_map(|r| r.name()).collect();
        names.sort();
        assert_eq!(names.len(), 2, "{account}: {names:?}");
        assert!(names[0].contains("SecurityGroupChange") && names[1].contains("SecurityGroupTags"));
    }
    // Nothing of it in the hub.
    let hub_rules = aws_sdk_eventbridge::Client::new(&hub)
        .list_rules()
        .send()
        .await
        .unwrap();
    assert!(hub_rules.rules().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_item_fails_alone_and_reaches_the_dead_letter_queue() {
    use aws_sdk_sqs::types::QueueAttributeName;
    let moto = start_moto();
    let hub = moto.sdk().await;
    let members = hub_members(&hub);
    let ids = seed_web(&members, &["222222222222"]).await;
    // 444444444444 is not governed: each run there is an error, as a member whose role
    // cannot be assumed would be (moto checks no trust policy, so it cannot refuse one).
    policy_in(
        &hub,
        "sgwarden/policy.yaml",
        "version: 1
settings: {regions: [us-east-1], default_mode: enforce, accounts: [\"222222222222\"]}
groups:
  web: {name: web-prod, ingress: []}
",
    )
    .await;
    let sqs = aws_sdk_sqs::Client::new(&hub);
    let dlq = estate::queue(&hub, "sgwarden-work-dlq").await.unwrap();
    let dlq_arn = format!("arn:aws:sqs:us-east-1:{HUB}:sgwarden-work-dlq");
    let queue = sqs
        .create_queue()
        .queue_name("sgwarden-work")
        .attributes(QueueAttributeName::VisibilityTimeout, "1")
        .attributes(
            QueueAttributeName::RedrivePolicy,
            format!("{{\"deadLetterTargetArn\":\"{dlq_arn}\",\"maxReceiveCount\":\"2\"}}"),
        )
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    let bodies = sgwarden::work::plan_sweep(
        &["222222222222".to_string(), "444444444444".to_string()],
        &["us-east-1".to_string()],
        None,
    );
    estate::send(&hub, &queue, &bodies).await.unwrap();
    let (api, _function) = function(
        &moto,
        &[("SGWARDEN_POLICY", "s3://policy/sgwarden/policy.yaml")],
    )
    .await;

    // The pump: receive, run the batch, delete what did not fail; what failed comes back
    // after its visibility timeout, until SQS moves it to the dead-letter queue.
    let mut failures = Vec::new();
    for _ in 0..6 {
        let pumped = api
            .pump(&hub, &queue, std::time::Duration::from_secs(60))
            .await
            .unwrap();
        if pumped.received == 0 {
            break;
        }
        failures.extend(pumped.failed);
        tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    }
    // The governed member was repaired at the first delivery; only the other failed.
    let conf = members
        .config(&Place::new("222222222222", "us-east-1"))
        .await;
    let inv = SdkEc2::new(&conf)
        .describe(&Place::new("222222222222", "us-east-1"), Some(&ids))
        .await
        .unwrap();
    assert!(inv.groups[0].ingress.is_empty());
    assert!(!failures.is_empty());
    assert!(
        failures.iter().all(|b| b.contains("444444444444")),
        "{failures:?}"
    );
    let dead = estate::drain(&hub, &dlq).await.unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["account"], "444444444444");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_applies_a_policy_over_every_active_account_of_the_organization() {
    let moto = start_moto();
    let hub = moto.sdk().await;
    let accounts = estate::organization(&hub, 2).await.unwrap();
    let members = hub_members(&hub);
    let refs: Vec<&str> = accounts.iter().map(String::as_str).chain([HUB]).collect();
    let ids = seed_web(&members, &refs).await;
    policy_in(
        &hub,
        "p.yaml",
        "version: 1
settings: {regions: [us-east-1], default_mode: enforce, accounts: organization}
groups:
  web: {name: web-prod, ingress: []}
",
    )
    .await;
    let out = std::process::Command::new(crate::support::bin("sgwarden"))
        .args([
            "apply",
            "--policy",
            "s3://policy/p.yaml",
            "--concurrency",
            "2",
            "--format",
            "json",
        ])
        .envs(moto.env())
        .env("AWS_REGION", "us-east-1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut want = accounts.clone();
    want.sort();
    assert_eq!(report["accounts"], serde_json::json!(want));
    assert_eq!(report["summary"]["revoked"], 2, "{report}");
    // Each member repaired through its role; the hub (the management account) untouched.
    for (i, account) in accounts.iter().enumerate() {
        let conf = members
            .config(&Place::new(account.as_str(), "us-east-1"))
            .await;
        let inv = SdkEc2::new(&conf)
            .describe(
                &Place::new(account.as_str(), "us-east-1"),
                Some(&ids[i..=i]),
            )
            .await
            .unwrap();
        assert!(inv.groups[0].ingress.is_empty(), "{account}");
    }
    let inv = SdkEc2::new(&hub)
        .describe(&Place::new(HUB, "us-east-1"), Some(&ids[2..]))
        .await
        .unwrap();
    assert_eq!(inv.groups[0].ingress.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_organization_run_imports_each_members_findings_in_that_members_account() {
    let moto = start_moto();
    let hub = moto.sdk().await;
    let members = hub_members(&hub);
    let accounts = ["222222222222", "333333333333"];
    let ids = seed_web(&members, &accounts).await;
    policy_in(&hub, "sgwarden/policy.yaml", "version: 1
settings: {regions: [us-east-1], default_mode: audit, accounts: [\"222222222222\", \"333333333333\"]}
groups:
  web: {name: web-prod, ingress: [tcp/443 from 0.0.0.0/0]}
").await;
    let (api, _function) = function(
        &moto,
        &[
            ("SGWARDEN_POLICY", "s3://policy/sgwarden/policy.yaml"),
            ("SGWARDEN_SECURITY_HUB", "true"),
        ],
    )
    .await;
    let queue = estate::queue(&hub, "sgwarden-work").await.unwrap();
    let bodies = sgwarden::work::plan_sweep(
        &accounts.map(String::from),
        &["us-east-1".to_string()],
        None,
    );
    estate::send(&hub, &queue, &bodies).await.unwrap();
    let pumped = api
        .pump(&hub, &queue, std::time::Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!((pumped.received, pumped.failed.len()), (2, 0));

    // Each member's finding is in that member's Security Hub, as that account's own.
    for (i, account) in accounts.into_iter().enumerate() {
        let conf = members.config(&Place::new(account, "us-east-1")).await;
        let found = crate::findings::findings_of(&conf).await;
        let id = format!("sgwarden/aws/{account}/us-east-1/{}/drift", ids[i]);
        assert_eq!(found.keys().collect::<Vec<_>>(), [&id], "{account}");
        let f = &found[&id];
        assert_eq!(f.aws_account_id(), Some(account));
        assert_eq!(
            f.product_arn(),
            Some(
                format!("arn:aws:securityhub:us-east-1:{account}:product/{account}/default")
                    .as_str()
            )
        );
    }
    assert!(crate::findings::findings_of(&hub).await.is_empty());
}
