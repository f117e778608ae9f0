//! The EC2 adapter against a scripted EC2 over real HTTP (the real SDK, its retry and its
//! XML parsing): the paths a local AWS does not model.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ec2::config::Credentials;

use sgwarden::aws::ec2::SdkEc2;
use sgwarden::place::Place;
use sgwarden::ports::{Ec2, Ec2Error, GroupRef};
use sgwarden::rule::{DescribedRule, Direction, Rule};
use sgwarden_devkit::stub::{Stub, StubRequest, StubResponse};

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

fn web() -> GroupRef {
    GroupRef {
        place: Place::new("", "us-east-1"),
        group_id: "sg-1".into(),
    }
}

fn ssh(cidr: &str) -> Rule {
    format!("tcp/22 from {cidr}").parse().unwrap()
}

/// Answers every revoke with `revoke`; any other call is an error.
fn revoke_script(revoke: String) -> impl Fn(&StubRequest, usize) -> StubResponse {
    move |req, _| match req.action().as_str() {
        "RevokeSecurityGroupIngress" => StubResponse::ok(format!(
            "<RevokeSecurityGroupIngressResponse {NS}><requestId>r</requestId>{revoke}</RevokeSecurityGroupIngressResponse>"
        )),
        other => StubResponse::ec2_error(400, "InvalidAction", other),
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
    let inv = ec2
        .describe(&sgwarden::place::Place::new("", "us-east-1"), None)
        .await
        .unwrap();
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
async fn describe_by_id_splits_the_ids_into_filters_ec2_accepts() {
    // EC2 takes at most 200 values per filter: 450 ids (an event naming them) are three
    // calls, each answering for its own ids.
    let stub = Stub::start(|req, _| {
        let ids: Vec<String> = req
            .params()
            .into_iter()
            .filter(|(k, _)| k.starts_with("Filter.1.Value."))
            .map(|(_, v)| v)
            .collect();
        if ids.len() > 200 {
            return StubResponse::ec2_error(400, "FilterLimitExceeded", "too many values");
        }
        describe_page(&[group_xml(&ids[0], &ids[0], "")], None)
    })
    .await
    .unwrap();
    let ec2 = SdkEc2::new(&sdk(&stub).await);
    let ids: Vec<String> = (0..450).map(|i| format!("sg-{i:04}")).collect();
    let inv = ec2
        .describe(&sgwarden::place::Place::new("", "us-east-1"), Some(&ids))
        .await
        .unwrap();
    let firsts: Vec<&str> = inv.groups.iter().map(|g| g.group_id.as_str()).collect();
    assert_eq!(firsts, ["sg-0000", "sg-0200", "sg-0400"]);
    assert_eq!(stub.requests().len(), 3);
}

#[tokio::test]
async fn revoke_sends_each_rule_as_its_exact_permission_in_one_call_and_reads_nothing_first() {
    let revoked = "<return>true</return><revokedSecurityGroupRuleSet>\
        <item><securityGroupRuleId>sgr-a</securityGroupRuleId></item>\
        <item><securityGroupRuleId>sgr-b</securityGroupRuleId></item></revokedSecurityGroupRuleSet>";
    let stub = Stub::start(revoke_script(revoked.into())).await.unwrap();
    let ec2 = SdkEc2::new(&sdk(&stub).await);
    let pg: Rule = "tcp/5432 from 111122223333/sg-0abc".parse().unwrap();
    ec2.revoke(&web(), Direction::Ingress, &[ssh("0.0.0.0/0"), pg])
        .await
        .unwrap();
    let calls = stub.requests();
    assert_eq!(calls.len(), 1, "one call, no rule-id read before it");
    let revoke = &calls[0];
    assert_eq!(revoke.action(), "RevokeSecurityGroupIngress");
    assert_eq!(revoke.param("GroupId").as_deref(), Some("sg-1"));
    let p = |k: &str| revoke.param(k);
    assert_eq!(p("IpPermissions.1.IpProtocol").as_deref(), Some("tcp"));
    assert_eq!(p("IpPermissions.1.FromPort").as_deref(), Some("22"));
    assert_eq!(p("IpPermissions.1.ToPort").as_deref(), Some("22"));
    assert_eq!(
        p("IpPermissions.1.IpRanges.1.CidrIp").as_deref(),
        Some("0.0.0.0/0")
    );
    assert_eq!(
        p("IpPermissions.1.IpRanges.2.CidrIp"),
        None,
        "one peer per permission"
    );
    assert_eq!(
        p("IpPermissions.2.Groups.1.GroupId").as_deref(),
        Some("sg-0abc")
    );
    assert_eq!(
        p("IpPermissions.2.Groups.1.UserId").as_deref(),
        Some("111122223333"),
        "a group of another account is named with its account"
    );
    assert_eq!(p("SecurityGroupRuleId.1"), None);
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
        .describe(&sgwarden::place::Place::new("", "us-east-1"), None)
        .await
        .unwrap_err();
    assert!(matches!(err, Ec2Error::Api { .. }), "{err:?}");
    assert_eq!(err.code(), "Unavailable");
    // The readable chain of causes, never the SDK's Debug dump after it.
    let text = err.to_string();
    assert!(text.contains("dispatch failure"), "{text}");
    assert!(
        !text.contains("DispatchFailure(") && !text.contains('{'),
        "{text}"
    );
}
