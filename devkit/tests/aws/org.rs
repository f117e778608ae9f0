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

use crate::moto_support::start_moto;

/// moto's default account: the hub here.
const HUB: &str = "123456789012";

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
            hub: HUB.into(),
        },
    ));
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
