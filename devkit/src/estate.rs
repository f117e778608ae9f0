//! Seeding a local AWS over the SDK: VPCs and groups with their rules, the versioned
//! policy bucket, and the report topic with an SQS queue subscribed to read messages back.

use aws_config::SdkConfig;
use aws_sdk_ec2::types::IpPermission;
use serde_json::Value;

use super::DevError;
use sgwarden::aws::ec2::rule_permission;
use sgwarden::rule::{Direction, Rule};

use sgwarden::aws::s3_client;

/// Creates a VPC; its id.
pub async fn create_vpc(ec2: &aws_sdk_ec2::Client, cidr: &str) -> Result<String, DevError> {
    let out = ec2
        .create_vpc()
        .cidr_block(cidr)
        .send()
        .await
        .map_err(DevError::aws("CreateVpc"))?;
    out.vpc()
        .and_then(|v| v.vpc_id())
        .map(str::to_string)
        .ok_or_else(|| DevError::Setup("CreateVpc returned no id".into()))
}

/// A network interface in a new subnet `cidr` of `vpc`, with `group` attached and the
/// private address `ip`; its id.
pub async fn interface(
    ec2: &aws_sdk_ec2::Client,
    vpc: &str,
    cidr: &str,
    group: &str,
    ip: &str,
) -> Result<String, DevError> {
    let subnet = ec2
        .create_subnet()
        .vpc_id(vpc)
        .cidr_block(cidr)
        .send()
        .await
        .map_err(DevError::aws("CreateSubnet"))?
        .subnet()
        .and_then(|s| s.subnet_id())
        .map(str::to_string)
        .ok_or_else(|| DevError::Setup("CreateSubnet returned no id".into()))?;
    ec2.create_network_interface()
        .subnet_id(subnet)
        .groups(group)
        .private_ip_address(ip)
        .send()
        .await
        .map_err(DevError::aws("CreateNetworkInterface"))?
        .network_interface()
        .and_then(|n| n.network_interface_id())
        .map(str::to_string)
        .ok_or_else(|| DevError::Setup("CreateNetworkInterface returned no id".into()))
}

/// A flow-log record of the default format (version 2), from `src` to `dst`:`port` over
/// TCP, on `eni`, ending at `end`.
pub fn flow_record(
    eni: &str,
    src: &str,
    dst: &str,
    port: u16,
    bytes: u64,
    action: &str,
    end: chrono::DateTime<chrono::Utc>,
) -> String {
    format!(
        "2 123456789012 {eni} {src} {dst} 49152 {port} 6 10 {bytes} {} {} {action} OK",
        end.timestamp() - 60,
        end.timestamp()
    )
}

/// Writes `lines` to the stream `stream` of log group `group` (both created when absent),
/// as VPC flow logs deliver records to CloudWatch Logs, all at `at`.
pub async fn flow_logs(
    sdk: &SdkConfig,
    group: &str,
    stream: &str,
    lines: &[String],
    at: chrono::DateTime<chrono::Utc>,
) -> Result<(), DevError> {
    let logs = aws_sdk_cloudwatchlogs::Client::new(sdk);
    let exists = logs
        .describe_log_groups()
        .log_group_name_prefix(group)
        .send()
        .await
        .map_err(DevError::aws("DescribeLogGroups"))?
        .log_groups()
        .iter()
        .any(|g| g.log_group_name() == Some(group));
    if !exists {
        logs.create_log_group()
            .log_group_name(group)
            .send()
            .await
            .map_err(DevError::aws("CreateLogGroup"))?;
    }
    if lines.is_empty() {
        return Ok(());
    }
    logs.create_log_stream()
        .log_group_name(group)
        .log_stream_name(stream)
        .send()
        .await
        .map_err(DevError::aws("CreateLogStream"))?;
    let events = lines
        .iter()
        .map(|m| {
            aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                .timestamp(at.timestamp_millis())
                .message(m)
                .build()
                .map_err(|e| DevError::Setup(format!("a log event: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    logs.put_log_events()
        .log_group_name(group)
        .log_stream_name(stream)
        .set_log_events(Some(events))
        .send()
        .await
        .map_err(DevError::aws("PutLogEvents"))?;
    Ok(())
}

/// Creates a group; its id. EC2 gives it the default egress rule (all to 0.0.0.0/0).
pub async fn create_group(
    ec2: &aws_sdk_ec2::Client,
    vpc: &str,
    name: &str,
    description: &str,
) -> Result<String, DevError> {
    let out = ec2
        .create_security_group()
        .group_name(name)
        .description(description)
        .vpc_id(vpc)
        .send()
        .await
        .map_err(DevError::aws("CreateSecurityGroup"))?;
    out.group_id()
        .map(str::to_string)
        .ok_or_else(|| DevError::Setup("CreateSecurityGroup returned no id".into()))
}

/// Authorizes rules (canonical text, `sg-…` peers) on a group: one call per direction.
pub async fn authorize(
    ec2: &aws_sdk_ec2::Client,
    group: &str,
    rules: &[&str],
) -> Result<(), DevError> {
    let (ingress, egress) = permissions(rules)?;
    if !ingress.is_empty() {
        ec2.authorize_security_group_ingress()
            .group_id(group)
            .set_ip_permissions(Some(ingress))
            .send()
            .await
            .map_err(DevError::aws("AuthorizeSecurityGroupIngress"))?;
    }
    if !egress.is_empty() {
        ec2.authorize_security_group_egress()
            .group_id(group)
            .set_ip_permissions(Some(egress))
            .send()
            .await
            .map_err(DevError::aws("AuthorizeSecurityGroupEgress"))?;
    }
    Ok(())
}

/// Revokes compact rules from a group by their permissions (as a console user or an older
/// tool does), ingress and egress in one call each.
pub async fn revoke(
    ec2: &aws_sdk_ec2::Client,
    group: &str,
    rules: &[&str],
) -> Result<(), DevError> {
    let (ingress, egress) = permissions(rules)?;
    if !ingress.is_empty() {
        ec2.revoke_security_group_ingress()
            .group_id(group)
            .set_ip_permissions(Some(ingress))
            .send()
            .await
            .map_err(DevError::aws("RevokeSecurityGroupIngress"))?;
    }
    if !egress.is_empty() {
        ec2.revoke_security_group_egress()
            .group_id(group)
            .set_ip_permissions(Some(egress))
            .send()
            .await
            .map_err(DevError::aws("RevokeSecurityGroupEgress"))?;
    }
    Ok(())
}

/// Compact rules as EC2 permissions, split by direction.
fn permissions(rules: &[&str]) -> Result<(Vec<IpPermission>, Vec<IpPermission>), DevError> {
    let mut ingress: Vec<IpPermission> = Vec::new();
    let mut egress: Vec<IpPermission> = Vec::new();
    for text in rules {
        let rule: Rule = text
            .parse()
            .map_err(|e| DevError::Setup(format!("seed rule `{text}`: {e}")))?;
        let perm = rule_permission(&rule, None)
            .map_err(|e| DevError::Setup(format!("seed rule `{text}`: {e}")))?;
        match rule.direction {
            Direction::Ingress => ingress.push(perm),
            Direction::Egress => egress.push(perm),
        }
    }
    Ok((ingress, egress))
}

/// Creates a versioned bucket.
pub async fn versioned_bucket(sdk: &SdkConfig, bucket: &str) -> Result<(), DevError> {
    let s3 = s3_client(sdk);
    s3.create_bucket()
        .bucket(bucket)
        .send()
        .await
        .map_err(DevError::aws("CreateBucket"))?;
    s3.put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .map_err(DevError::aws("PutBucketVersioning"))?;
    Ok(())
}

/// Writes an object; its version id (empty when the bucket is not versioned).
pub async fn put_object(
    sdk: &SdkConfig,
    bucket: &str,
    key: &str,
    text: &str,
) -> Result<String, DevError> {
    let out = s3_client(sdk)
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(text.as_bytes().to_vec().into())
        .send()
        .await
        .map_err(DevError::aws("PutObject"))?;
    Ok(out.version_id().unwrap_or_default().to_string())
}

/// Reads an object whole; `None` when there is no such key.
pub async fn get_object(
    sdk: &SdkConfig,
    bucket: &str,
    key: &str,
) -> Result<Option<Vec<u8>>, DevError> {
    let got = s3_client(sdk)
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await;
    let out = match got {
        Ok(out) => out,
        Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
        Err(e) => return Err(DevError::aws("GetObject")(e)),
    };
    let body = out.body.collect().await.map_err(|e| DevError::Aws {
        call: "GetObject",
        message: e.to_string(),
    })?;
    Ok(Some(body.into_bytes().to_vec()))
}

/// A topic with an SQS queue subscribed to it.
pub struct Topic {
    pub arn: String,
    pub queue_url: String,
}

/// Creates the report topic and subscribes a new queue to it.
pub async fn topic_with_queue(sdk: &SdkConfig, name: &str) -> Result<Topic, DevError> {
    let sns = aws_sdk_sns::Client::new(sdk);
    let arn = sns
        .create_topic()
        .name(name)
        .send()
        .await
        .map_err(DevError::aws("CreateTopic"))?
        .topic_arn()
        .map(str::to_string)
        .ok_or_else(|| DevError::Setup("CreateTopic returned no ARN".into()))?;
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let queue_url = sqs
        .create_queue()
        .queue_name(format!("{name}-inbox"))
        .send()
        .await
        .map_err(DevError::aws("CreateQueue"))?
        .queue_url()
        .map(str::to_string)
        .ok_or_else(|| DevError::Setup("CreateQueue returned no URL".into()))?;
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(DevError::aws("GetQueueAttributes"))?;
    let queue_arn = attrs
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
        .cloned()
        .ok_or_else(|| DevError::Setup("the queue has no ARN".into()))?;
    sns.subscribe()
        .topic_arn(&arn)
        .protocol("sqs")
        .endpoint(queue_arn)
        .send()
        .await
        .map_err(DevError::aws("Subscribe"))?;
    Ok(Topic { arn, queue_url })
}

/// Messages waiting in the queue (deleted as read): the SNS envelope and the JSON report
/// inside it.
pub async fn receive(sdk: &SdkConfig, queue_url: &str) -> Result<Vec<(Value, Value)>, DevError> {
    let bodies = take(&aws_sdk_sqs::Client::new(sdk), queue_url).await?;
    Ok(bodies
        .iter()
        .map(|body| {
            let envelope: Value = serde_json::from_str(body).unwrap_or_default();
            let report: Value =
                serde_json::from_str(envelope["Message"].as_str().unwrap_or("null"))
                    .unwrap_or_default();
            (envelope, report)
        })
        .collect())
}

/// Every message on a queue, received until it is empty and each deleted: their bodies
/// as JSON (`null` for a body that is not).
pub async fn drain(sdk: &SdkConfig, queue_url: &str) -> Result<Vec<Value>, DevError> {
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let mut out = Vec::new();
    loop {
        let bodies = take(&sqs, queue_url).await?;
        if bodies.is_empty() {
            return Ok(out);
        }
        out.extend(
            bodies
                .iter()
                .map(|b| serde_json::from_str(b).unwrap_or_default()),
        );
    }
}

/// One receive of up to ten messages, each deleted: their bodies.
async fn take(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Result<Vec<String>, DevError> {
    let out = sqs
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .send()
        .await
        .map_err(DevError::aws("ReceiveMessage"))?;
    let mut bodies = Vec::new();
    for m in out.messages() {
        bodies.push(m.body().unwrap_or("{}").to_string());
        if let Some(handle) = m.receipt_handle() {
            delete_message(sqs, queue_url, handle).await?;
        }
    }
    Ok(bodies)
}

/// Deletes one received message from a queue (its work is done).
pub async fn delete_message(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    receipt_handle: &str,
) -> Result<(), DevError> {
    sqs.delete_message()
        .queue_url(queue_url)
        .receipt_handle(receipt_handle)
        .send()
        .await
        .map_err(DevError::aws("DeleteMessage"))?;
    Ok(())
}

/// A CloudTrail sample from `events/` pointed at another group: the request's group id (or,
/// for a tag change, its resources) and the group ids of the response's rule set.
pub fn event_for_group(sample: &Value, group_id: &str) -> Value {
    let mut e = sample.clone();
    let request = &mut e["detail"]["requestParameters"];
    if request.get("resourcesSet").is_some() {
        request["resourcesSet"] = serde_json::json!({"items": [{"resourceId": group_id}]});
    } else {
        request["groupId"] = Value::String(group_id.to_string());
    }
    if let Some(items) =
        e["detail"]["responseElements"]["securityGroupRuleSet"]["items"].as_array_mut()
    {
        for i in items {
            i["groupId"] = Value::String(group_id.to_string());
        }
    }
    e
}

/// Creates an SQS queue; its URL.
pub async fn queue(sdk: &SdkConfig, name: &str) -> Result<String, DevError> {
    aws_sdk_sqs::Client::new(sdk)
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .map_err(DevError::aws("CreateQueue"))?
        .queue_url()
        .map(str::to_string)
        .ok_or_else(|| DevError::Setup("CreateQueue returned no URL".into()))
}

/// An AWS Organization of the caller's account with `n` member accounts created in it
/// (`member-0`…); their ids, in order.
pub async fn organization(sdk: &SdkConfig, n: usize) -> Result<Vec<String>, DevError> {
    let orgs = aws_sdk_organizations::Client::new(sdk);
    orgs.create_organization()
        .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
        .send()
        .await
        .map_err(DevError::aws("CreateOrganization"))?;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let status = orgs
            .create_account()
            .account_name(format!("member-{i}"))
            .email(format!("member-{i}@example.com"))
            .send()
            .await
            .map_err(DevError::aws("CreateAccount"))?;
        let id = status
            .create_account_status()
            .and_then(|s| s.account_id())
            .ok_or_else(|| DevError::Setup("CreateAccount returned no account id".into()))?;
        out.push(id.to_string());
    }
    Ok(out)
}

/// Sends each body to a queue, one message each.
pub async fn send(sdk: &SdkConfig, queue_url: &str, bodies: &[String]) -> Result<(), DevError> {
    let sqs = aws_sdk_sqs::Client::new(sdk);
    for body in bodies {
        sqs.send_message()
            .queue_url(queue_url)
            .message_body(body)
            .send()
            .await
            .map_err(DevError::aws("SendMessage"))?;
    }
    Ok(())
}

/// What an account holds in the current region, as `KIND NAME` lines: security groups
/// other than the default VPC's `default`, buckets, topics and queues.
pub async fn holdings(sdk: &SdkConfig) -> Result<Vec<String>, DevError> {
    let mut out = Vec::new();
    let groups = aws_sdk_ec2::Client::new(sdk)
        .describe_security_groups()
        .send()
        .await
        .map_err(DevError::aws("DescribeSecurityGroups"))?;
    out.extend(
        groups
            .security_groups()
            .iter()
            .filter_map(|g| g.group_name())
            .filter(|n| *n != "default")
            .map(|n| format!("group {n}")),
    );
    let buckets = aws_sdk_s3::Client::new(sdk)
        .list_buckets()
        .send()
        .await
        .map_err(DevError::aws("ListBuckets"))?;
    out.extend(
        buckets
            .buckets()
            .iter()
            .filter_map(|b| b.name())
            .map(|n| format!("bucket {n}")),
    );
    let topics = aws_sdk_sns::Client::new(sdk)
        .list_topics()
        .send()
        .await
        .map_err(DevError::aws("ListTopics"))?;
    out.extend(
        topics
            .topics()
            .iter()
            .filter_map(|t| t.topic_arn())
            .map(|n| format!("topic {n}")),
    );
    let queues = aws_sdk_sqs::Client::new(sdk)
        .list_queues()
        .send()
        .await
        .map_err(DevError::aws("ListQueues"))?;
    out.extend(queues.queue_urls().iter().map(|q| format!("queue {q}")));
    Ok(out)
}
