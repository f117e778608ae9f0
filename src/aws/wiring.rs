//! The SDK-backed enforcer, wired in one place for every entry point: the Lambda binary,
//! `sgwarden invoke` (the Lambda's code path on an event file), and `sgwarden plan|apply`
//! against live EC2.

use std::sync::Arc;

use aws_config::SdkConfig;

use super::ec2::SdkEc2;
use super::flows::SdkFlows;
use super::member::{MemberRole, Members};
use super::securityhub::SdkFindings;
use super::sns::SnsNotifier;
use super::{AnyLedger, AnyPolicySource};
use crate::config::LambdaConfig;
use crate::enforcer::Enforcer;
use crate::ports::{Notifier, PolicySource, RevertLedger};

/// The enforcer of the Lambda function and of `invoke`.
pub type LambdaEnforcer =
    Enforcer<SdkEc2, AnyPolicySource, SnsNotifier, AnyLedger, SdkFlows, SdkFindings>;

/// An enforcer that reads and writes EC2, reads flow logs and (when `security_hub`)
/// imports findings through the SDK (in another account than the caller's, with its
/// member role), with the policy source, notifier and revert ledger given.
pub fn enforcer<S: PolicySource, N: Notifier, L: RevertLedger>(
    sdk: &SdkConfig,
    role: MemberRole,
    security_hub: bool,
    source: S,
    notifier: N,
    ledger: L,
) -> Enforcer<SdkEc2, S, N, L, SdkFlows, SdkFindings> {
    let members = Arc::new(Members::new(sdk, role));
    Enforcer {
        ec2: SdkEc2::new(sdk).with_members(members.clone()),
        source,
        notifier,
        ledger,
        flows: SdkFlows::new(sdk).with_members(members.clone()),
        findings: SdkFindings::new(sdk, security_hub).with_members(members),
    }
}

/// The Lambda's enforcer from its configuration: the policy from `SGWARDEN_POLICY`, reports
/// to the topic and report bucket, the revert ledger in `SGWARDEN_STATE` (in memory without
/// it). `None` (a configuration that did not load) wires an enforcer that is never run:
/// every invocation fails with the configuration error first.
///
/// EC2 and flow logs in another account than the function's are called with that
/// account's member role (`SGWARDEN_MEMBER_ROLE`): a single-account deployment never
/// names another account, so it never assumes one.
pub fn lambda(sdk: &SdkConfig, config: Option<&LambdaConfig>) -> LambdaEnforcer {
    enforcer(
        sdk,
        MemberRole {
            name: config.map_or(crate::place::DEFAULT_MEMBER_ROLE.to_string(), |c| {
                c.member_role.clone()
            }),
            external_id: config.and_then(|c| c.member_external_id.clone()),
        },
        config.is_some_and(|c| c.security_hub),
        AnyPolicySource::new(sdk, config.map_or("", |c| c.policy.as_str())),
        SnsNotifier::new(
            sdk,
            config.and_then(|c| c.topic_arn.clone()),
            config.and_then(|c| c.report_bucket.clone()),
        ),
        AnyLedger::new(sdk, config.and_then(|c| c.state.as_ref())),
    )
}
