//! The EC2 adapter against a scripted EC2 over real HTTP (the real SDK, its retry and its
//! XML parsing): the paths a local AWS does not model.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ec2::config::Credentials;

use super::SdkEc2;
use crate::devkit::stub::{Stub, StubRequest, StubResponse};
use crate::ports::{Ec2, Ec2Error, GroupRef};
use crate::rule::{DescribedRule, Direction, Rule};

const NS: &str = "xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"";

async fn sdk(stub: &Stub) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(stub.url())
        .credentials_provider(Credentials::new("testing", "testing", None, None, "stub"))
        // The standard retry, with short waits so the test stays fast.
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(5)),
        )
        .load()
        .await
}

fn group_xml(id: &str, name: &str, ingress: &str) -> String {
    format!(
        "<item><ownerId>123456789012</ownerId><groupId>{id}</groupId><groupName>{name}</groupName>\
         <groupDescription>{name}</groupDescription><vpcId>vpc-1</vpcId>\
         <ipPermissions>{ingress}</ipPermissions><ipPermissionsEgress/></item>"
    )
}

fn ssh_from(cidr: &str) -> String {
    format!(
        "<item><ipProtocol>tcp</ipProtocol><fromPort>22</fromPort><toPort>22</toPort><groups/>\
         <ipRanges><item><cidrIp>{cidr}</cidrIp></item></ipRanges><ipv6Ranges/><prefixListIds/></item>"
    )
}

/// One page of a paginated EC2 answer: `items` in the `list` element, and the token of the
/// next page.
fn page(action: &str, list: &str, items: &[String], next: Option<&str>) -> StubResponse {
    let next = next
        .map(|t| format!("<nextToken>{t}</nextToken>"))
        .unwrap_or_default();
    StubResponse::ok(format!(
        "<{action}Response {NS}><requestId>r</requestId><{list}>{}</{list}>{next}</{action}Response>",
        items.concat()
    ))
}

fn describe_page(groups: &[String], next: Option<&str>) -> StubResponse {
    page("DescribeSecurityGroups", "securityGroupInfo", groups, next)
}

fn rule_xml(rule_id: &str, group: &str, cidr: &str) -> String {
    format!(
        "<item><securityGroupRuleId>{rule_id}</securityGroupRuleId><groupId>{group}</groupId>\
         <groupOwnerId>123456789012</groupOwnerId><isEgress>false</isEgress><ipProtocol>tcp</ipProtocol>\
         <fromPort>22</fromPort><toPort>22</toPort><cidrIpv4>{cidr}</cidrIpv4></item>"
    )
}

fn rules_page(rules: &[String], next: Option<&str>) -> StubResponse {
    page(
        "DescribeSecurityGroupRules",
        "securityGroupRuleSet",
        rules,
        next,
    )
}

fn web() -> GroupRef {
    GroupRef {
        region: "us-east-1".into(),
        group_id: "sg-1".into(),
    }
}

fn ssh(cidr: &str) -> Rule {
    format!("tcp/22 from {cidr}").parse().unwrap()
}

/// Answers DescribeSecurityGroupRules with two pages (the world rule on the second) and
/// every revoke with `revoke`.
fn revoke_script(revoke: String) -> impl Fn(&StubRequest, usize) -> StubResponse {
    move |req, _| match (req.action().as_str(), req.param("NextToken")) {
        ("DescribeSecurityGroupRules", None) => {
            rules_page(&[rule_xml("sgr-a", "sg-1", "10.0.0.0/8")], Some("page-2"))
        }
        ("DescribeSecurityGroupRules", Some(_)) => rules_page(
            &[
                rule_xml("sgr-b", "sg-1", "0.0.0.0/0"),
                rule_xml("sgr-c", "sg-2", "0.0.0.0/0"),
            ],
            None,
        ),
        ("RevokeSecurityGroupIngress", _) => StubResponse::ok(format!(
            "<RevokeSecurityGroupIngressResponse {NS}><requestId>r</requestId>{revoke}</RevokeSecurityGroupIngressResponse>"
        )),
        (other, _) => StubResponse::ec2_error(400, "InvalidAction", other),
    }
}

#[tokio::test]
async fn describe_follows_next_tokens_over_every_page() {
    let stub = Stub::start(|req, _| match req.param("NextToken").as_deref() {
        None => describe_page(
            &[group_xml("sg-1", "web", &ssh_from("0.0.0.0/0"))],
            Some("t2"),
        ),
        Some("t2") => describe_page(&[group_xml("sg-2", "app", "")], Some("t3")),
        Some(_) => describe_page(&[group_xml("sg-3", "db", &ssh_from("10.0.0.0/8"))], None),
    })
    .await
    .unwrap();
    let ec2 = SdkEc2::new(&sdk(&stub).await);
    let inv = ec2.describe("us-east-1", None).await.unwrap();
    let names: Vec<&str> = inv.groups.iter().map(|g| g.group_name.as_str()).collect();
    assert_eq!(names, ["web", "app", "db"]);
    assert_eq!(inv.groups[0].ingress[0].rule, ssh("0.0.0.0/0"));
    let tokens: Vec<Option<String>> = stub
        .requests()
        .iter()
        .map(|r| r.param("NextToken"))
        .collect();
    assert_eq!(tokens, [None, Some("t2".into()), Some("t3".into())]);
}

#[tokio::test]
async fn revoke_finds_rule_ids_across_pages_and_revokes_by_id() {
    let revoked = "<return>true</return><revokedSecurityGroupRuleSet><item>\
        <securityGroupRuleId>sgr-b</securityGroupRuleId><groupId>sg-1</groupId>\
        <isEgress>false</isEgress></item></revokedSecurityGroupRuleSet>";
    let stub = Stub::start(revoke_script(revoked.into())).await.unwrap();
    let ec2 = SdkEc2::new(&sdk(&stub).await);
    ec2.revoke(&web(), Direction::Ingress, &[ssh("0.0.0.0/0")])
        .await
        .unwrap();
    let calls = stub.requests();
    let revoke = calls
        .iter()
        .find(|r| r.action() == "RevokeSecurityGroupIngress")
        .unwrap();
    assert_eq!(revoke.param("GroupId").as_deref(), Some("sg-1"));
    assert_eq!(
        revoke.param("SecurityGroupRuleId.1").as_deref(),
        Some("sgr-b")
    );
    assert_eq!(revoke.param("SecurityGroupRuleId.2"), None);
    // The rule search was filtered to the group, and sg-2's identical rule was not taken.
    let first = &calls[0];
    assert_eq!(first.param("Filter.1.Name").as_deref(), Some("group-id"));
    assert_eq!(first.param("Filter.1.Value.1").as_deref(), Some("sg-1"));
}

#[tokio::test]
async fn a_revoke_answered_with_unknown_ip_permissions_is_not_found() {
    // What EC2 answers for a rule it could not match (seen on default-VPC groups).
    let unknown = "<return>true</return><unknownIpPermissionSet><item><ipProtocol>tcp</ipProtocol>\
        <fromPort>22</fromPort><toPort>22</toPort><groups/><ipRanges><item><cidrIp>0.0.0.0/0</cidrIp>\
        </item></ipRanges><ipv6Ranges/><prefixListIds/></item></unknownIpPermissionSet>";
    let stub = Stub::start(revoke_script(unknown.into())).await.unwrap();
    let ec2 = SdkEc2::new(&sdk(&stub).await);
    let err = ec2
        .revoke(&web(), Direction::Ingress, &[ssh("0.0.0.0/0")])
        .await
        .unwrap_err();
    assert_eq!(
        err,
        Ec2Error::NotFound {
            code: "UnknownIpPermissions".into()
        }
    );
}

#[tokio::test]
async fn a_revoke_that_lists_fewer_rules_than_asked_is_not_found() {
    let partial = "<return>true</return><revokedSecurityGroupRuleSet><item>\
        <securityGroupRuleId>sgr-a</securityGroupRuleId></item></revokedSecurityGroupRuleSet>";
    let stub = Stub::start(revoke_script(partial.into())).await.unwrap();
    let ec2 = SdkEc2::new(&sdk(&stub).await);
    let err = ec2
        .revoke(
            &web(),
            Direction::Ingress,
            &[ssh("10.0.0.0/8"), ssh("0.0.0.0/0")],
        )
        .await
        .unwrap_err();
    assert_eq!(
        err,
        Ec2Error::NotFound {
            code: "RevokedSecurityGroupRules".into()
        }
    );
}

#[tokio::test]
async fn a_revoke_of_a_rule_with_no_id_is_not_found_and_writes_nothing() {
    let stub = Stub::start(revoke_script(String::new())).await.unwrap();
    let ec2 = SdkEc2::new(&sdk(&stub).await);
    let err = ec2
        .revoke(&web(), Direction::Ingress, &[ssh("192.0.2.0/24")])
        .await
        .unwrap_err();
    assert!(matches!(err, Ec2Error::NotFound { .. }), "{err:?}");
    assert!(
        !stub
            .requests()
            .iter()
            .any(|r| r.action().starts_with("Revoke"))
    );
}

fn authorize_ok() -> StubResponse {
    StubResponse::ok(format!(
        "<AuthorizeSecurityGroupIngressResponse {NS}><requestId>r</requestId><return>true</return></AuthorizeSecurityGroupIngressResponse>"
    ))
}

fn world_ssh() -> Vec<DescribedRule> {
    vec![DescribedRule {
        rule: ssh("10.0.0.0/8"),
        description: Some("admin".into()),
    }]
}

#[tokio::test]
async fn throttling_is_retried_by_the_sdk_until_it_passes() {
    let stub = Stub::start(|_, i| {
        if i < 2 {
            StubResponse::ec2_error(503, "RequestLimitExceeded", "Request limit exceeded.")
        } else {
            authorize_ok()
        }
    })
    .await
    .unwrap();
    let ec2 = SdkEc2::new(&sdk(&stub).await);
    ec2.authorize(&web(), Direction::Ingress, &world_ssh())
        .await
        .unwrap();
    let calls = stub.requests();
    assert_eq!(calls.len(), 3);
    assert!(
        calls
            .iter()
            .all(|r| r.action() == "AuthorizeSecurityGroupIngress")
    );
    assert_eq!(
        calls[2]
            .param("IpPermissions.1.IpRanges.1.Description")
            .as_deref(),
        Some("admin")
    );
}

#[tokio::test]
async fn throttling_past_the_retries_is_an_api_error_naming_the_code() {
    let stub = Stub::start(|_, _| {
        StubResponse::ec2_error(503, "RequestLimitExceeded", "Request limit exceeded.")
    })
    .await
    .unwrap();
    let ec2 = SdkEc2::new(&sdk(&stub).await);
    let err = ec2
        .authorize(&web(), Direction::Ingress, &world_ssh())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "RequestLimitExceeded");
    assert!(
        err.to_string().contains("AuthorizeSecurityGroupIngress"),
        "{err}"
    );
    assert_eq!(stub.requests().len(), 3, "three attempts");
}

#[tokio::test]
async fn ec2_error_codes_map_onto_the_port_errors() {
    let cases = [
        ("InvalidPermission.Duplicate", Ec2Error::AlreadyPresent),
        (
            "InvalidGroup.NotFound",
            Ec2Error::GroupNotFound {
                code: "InvalidGroup.NotFound".into(),
            },
        ),
        (
            "InvalidPermission.NotFound",
            Ec2Error::NotFound {
                code: "InvalidPermission.NotFound".into(),
            },
        ),
        (
            "UnauthorizedOperation",
            Ec2Error::Api {
                operation: "AuthorizeSecurityGroupIngress".into(),
                code: "UnauthorizedOperation".into(),
                message: "You are not authorized".into(),
            },
        ),
    ];
    for (code, want) in cases {
        let stub =
            Stub::start(move |_, _| StubResponse::ec2_error(400, code, "You are not authorized"))
                .await
                .unwrap();
        let ec2 = SdkEc2::new(&sdk(&stub).await);
        let err = ec2
            .authorize(&web(), Direction::Ingress, &world_ssh())
            .await
            .unwrap_err();
        assert_eq!(err, want, "{code}");
        assert_eq!(stub.requests().len(), 1, "{code} is not retried");
    }
}

#[tokio::test]
async fn an_endpoint_that_is_down_is_unavailable_not_missing() {
    let url = {
        let stub = Stub::start(|_, _| StubResponse::ok("")).await.unwrap();
        stub.url()
    };
    // The stub is gone: nothing listens on its port any more.
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(url)
        .credentials_provider(Credentials::new("testing", "testing", None, None, "stub"))
        .retry_config(RetryConfig::standard().with_initial_backoff(Duration::from_millis(5)))
        .load()
        .await;
    let err = SdkEc2::new(&config)
        .describe("us-east-1", None)
        .await
        .unwrap_err();
    assert!(matches!(err, Ec2Error::Api { .. }), "{err:?}");
    assert_eq!(err.code(), "Unavailable");
}

#[tokio::test]
async fn rule_ids_read_ahead_for_many_groups_take_one_call() {
    let revoked = |id: &str| {
        format!(
            "<return>true</return><revokedSecurityGroupRuleSet><item>\
             <securityGroupRuleId>{id}</securityGroupRuleId></item></revokedSecurityGroupRuleSet>"
        )
    };
    let (first, second) = (revoked("sgr-b"), revoked("sgr-c"));
    let stub = Stub::start(move |req, _| match req.action().as_str() {
        "DescribeSecurityGroupRules" => rules_page(
            &[
                rule_xml("sgr-a", "sg-1", "10.0.0.0/8"),
                rule_xml("sgr-b", "sg-1", "0.0.0.0/0"),
                rule_xml("sgr-c", "sg-2", "0.0.0.0/0"),
            ],
            None,
        ),
        "RevokeSecurityGroupIngress" => {
            let body = if req.param("GroupId").as_deref() == Some("sg-1") {
                &first
            } else {
                &second
            };
            StubResponse::ok(format!(
                "<RevokeSecurityGroupIngressResponse {NS}><requestId>r</requestId>{body}</RevokeSecurityGroupIngressResponse>"
            ))
        }
        other => StubResponse::ec2_error(400, "InvalidAction", other),
    })
    .await
    .unwrap();
    let ec2 = SdkEc2::new(&sdk(&stub).await);
    ec2.prepare_revokes("us-east-1", &["sg-1".into(), "sg-2".into()])
        .await;
    let sg2 = GroupRef {
        region: "us-east-1".into(),
        group_id: "sg-2".into(),
    };
    ec2.revoke(&web(), Direction::Ingress, &[ssh("0.0.0.0/0")])
        .await
        .unwrap();
    ec2.revoke(&sg2, Direction::Ingress, &[ssh("0.0.0.0/0")])
        .await
        .unwrap();
    let calls = stub.requests();
    let actions: Vec<String> = calls.iter().map(StubRequest::action).collect();
    assert_eq!(
        actions,
        [
            "DescribeSecurityGroupRules",
            "RevokeSecurityGroupIngress",
            "RevokeSecurityGroupIngress"
        ]
    );
    assert_eq!(calls[0].param("Filter.1.Value.2").as_deref(), Some("sg-2"));
    assert_eq!(
        calls[2].param("SecurityGroupRuleId.1").as_deref(),
        Some("sgr-c")
    );
    // The read-ahead is used once: a second revoke of sg-2 reads its ids again.
    let _ = ec2
        .revoke(&sg2, Direction::Ingress, &[ssh("0.0.0.0/0")])
        .await;
    assert_eq!(stub.requests()[3].action(), "DescribeSecurityGroupRules");
}

#[test]
fn a_described_rule_reads_like_the_same_rule_in_a_describe() {
    use aws_sdk_ec2::types::{ReferencedSecurityGroup, SecurityGroupRule};
    let pair = |user: Option<&str>| {
        SecurityGroupRule::builder()
            .group_id("sg-1")
            .group_owner_id("123456789012")
            .is_egress(false)
            .ip_protocol("tcp")
            .from_port(5432)
            .to_port(5432)
            .referenced_group_info(
                ReferencedSecurityGroup::builder()
                    .group_id("sg-0ABC")
                    .set_user_id(user.map(str::to_string))
                    .build(),
            )
            .build()
    };
    let text = |r: SecurityGroupRule| super::rule_of(&r).unwrap().to_string();
    assert_eq!(text(pair(Some("123456789012"))), "tcp/5432 from sg-0abc");
    assert_eq!(text(pair(Some(""))), "tcp/5432 from sg-0abc");
    assert_eq!(text(pair(None)), "tcp/5432 from sg-0abc");
    assert_eq!(
        text(pair(Some("111122223333"))),
        "tcp/5432 from 111122223333/sg-0abc"
    );
    let v6 = SecurityGroupRule::builder()
        .is_egress(true)
        .ip_protocol("-1")
        .cidr_ipv6("::/0")
        .build();
    assert_eq!(text(v6), "all to ::/0");
}
