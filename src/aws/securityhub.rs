//! [`FindingSink`] on AWS Security Hub: `GetFindings` for the active sgwarden findings of
//! a scope (filtered by id prefix and record state, and filtered again here), and
//! `BatchImportFindings` in the account the findings belong to (Security Hub requires
//! `AwsAccountId` to be the caller's: in a hub deployment, through the member role).
//!
//! Each [`Finding`] becomes an ASFF finding of the account's default product
//! (`arn:{partition}:securityhub:{region}:{account}:product/{account}/default`).

use std::sync::Arc;

use aws_config::SdkConfig;
use aws_sdk_securityhub::types::{
    AwsEc2SecurityGroupDetails, AwsSecurityFinding, AwsSecurityFindingFilters, Compliance,
    ComplianceStatus, Partition, Recommendation, RecordState, Remediation, Resource,
    ResourceDetails, Severity, SeverityLabel, StringFilter, StringFilterComparison,
};
use chrono::{DateTime, SecondsFormat, Utc};

use super::member::Members;
use crate::findings::{ACTIVE_LIMIT, BATCH, Existing, Finding, Scope, Subject};
use crate::guardrail::Severity as Level;
use crate::place::Place;
use crate::ports::{Active, FindingSink, FindingsError};

/// The `GeneratorId` of every sgwarden finding.
pub const GENERATOR: &str = "sgwarden";

/// Security Hub through the SDK, in each finding's own account.
pub struct SdkFindings {
    config: SdkConfig,
    members: Option<Arc<Members>>,
    enabled: bool,
}

impl SdkFindings {
    /// Imports nothing unless `enabled` (`SGWARDEN_SECURITY_HUB`).
    pub fn new(config: &SdkConfig, enabled: bool) -> Self {
        SdkFindings {
            config: config.clone(),
            members: None,
            enabled,
        }
    }

    /// Findings of every account of a hub deployment, imported with each member's role.
    pub fn with_members(mut self, members: Arc<Members>) -> Self {
        self.members = Some(members);
        self
    }

    async fn client(&self, place: &Place) -> aws_sdk_securityhub::Client {
        let conf = super::member::place_config(self.members.as_deref(), &self.config, place).await;
        aws_sdk_securityhub::Client::new(&conf)
    }
}

/// The account's default product, under which its own findings are imported.
pub fn product_arn(place: &Place) -> String {
    format!(
        "arn:{}:securityhub:{}:{}:product/{}/default",
        place.partition(),
        place.region,
        place.account,
        place.account
    )
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn parse_time(t: Option<&str>) -> Option<DateTime<Utc>> {
    t.and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
}

fn label(s: Level) -> SeverityLabel {
    match s {
        Level::Critical => SeverityLabel::Critical,
        Level::High => SeverityLabel::High,
        Level::Medium => SeverityLabel::Medium,
        Level::Low => SeverityLabel::Low,
        Level::Informational => SeverityLabel::Informational,
    }
}

fn partition(place: &Place) -> Partition {
    match place.partition() {
        "aws-cn" => Partition::AwsCn,
        "aws-us-gov" => Partition::AwsUsGov,
        _ => Partition::Aws,
    }
}

/// The ASFF form of a finding.
pub fn asff(f: &Finding) -> AwsSecurityFinding {
    let place = &f.place;
    let resource = match &f.subject {
        Subject::Group {
            group_id,
            group_name,
            vpc_id,
        } => {
            let mut details = AwsEc2SecurityGroupDetails::builder()
                .group_id(group_id)
                .owner_id(&place.account);
            if group_name != group_id {
                details = details.group_name(group_name);
            }
            if let Some(v) = vpc_id {
                details = details.vpc_id(v);
            }
            Resource::builder()
                .r#type("AwsEc2SecurityGroup")
                .id(format!(
                    "arn:{}:ec2:{}:{}:security-group/{group_id}",
                    place.partition(),
                    place.region,
                    place.account
                ))
                .details(
                    ResourceDetails::builder()
                        .aws_ec2_security_group(details.build())
                        .build(),
                )
        }
        Subject::Entry { key } => Resource::builder()
            .r#type("Other")
            .id(format!("sgwarden-entry/{key}"))
            .details(ResourceDetails::builder().other("entry", key).build()),
    }
    .partition(partition(place))
    .region(&place.region)
    .build();
    let (status, state) = if f.open {
        (ComplianceStatus::Failed, RecordState::Active)
    } else {
        (ComplianceStatus::Passed, RecordState::Archived)
    };
    let mut b = AwsSecurityFinding::builder()
        .schema_version("2018-10-08")
        .id(&f.id)
        .product_arn(product_arn(place))
        .product_name("sgwarden")
        .company_name("sgwarden")
        .generator_id(GENERATOR)
        .aws_account_id(&place.account)
        .region(&place.region)
        .set_types(Some(f.types.iter().map(|t| t.to_string()).collect()))
        .created_at(time(f.created_at))
        .updated_at(time(f.updated_at))
        .first_observed_at(time(f.created_at))
        .last_observed_at(time(f.updated_at))
        .severity(
            Severity::builder()
                .label(label(f.severity))
                .original(f.severity.as_str().to_ascii_uppercase())
                .build(),
        )
        .title(&f.title)
        .description(&f.description)
        .remediation(
            Remediation::builder()
                .recommendation(Recommendation::builder().text(&f.recommendation).build())
                .build(),
        )
        .resources(resource)
        .compliance(Compliance::builder().status(status).build())
        .record_state(state);
    for (k, v) in &f.fields {
        b = b.product_fields(k, v);
    }
    b.build()
}

fn id_filter(value: String) -> StringFilter {
    StringFilter::builder()
        .value(value)
        .comparison(StringFilterComparison::Prefix)
        .build()
}

impl FindingSink for SdkFindings {
    fn enabled(&self) -> bool {
        self.enabled
    }

    async fn active(&self, scope: &Scope) -> Result<Active, FindingsError> {
        let client = self.client(&scope.place).await;
        let prefix = scope.prefix();
        let mut filters = AwsSecurityFindingFilters::builder()
            .record_state(
                StringFilter::builder()
                    .value("ACTIVE")
                    .comparison(StringFilterComparison::Equals)
                    .build(),
            )
            .generator_id(
                StringFilter::builder()
                    .value(GENERATOR)
                    .comparison(StringFilterComparison::Equals)
                    .build(),
            );
        // Several id filters are one OR: a CloudTrail run asks for its groups only.
        match &scope.groups {
            Some(groups) => {
                for g in groups {
                    filters = filters.id(id_filter(format!("{prefix}{g}/")));
                }
            }
            None => filters = filters.id(id_filter(prefix.clone())),
        }
        let mut pages = client
            .get_findings()
            .filters(filters.build())
            .max_results(100)
            .into_paginator()
            .send();
        let mut out = Vec::new();
        let mut seen = 0usize;
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| FindingsError {
                operation: "GetFindings",
                place: scope.place.clone(),
                message: super::error_text(&e),
            })?;
            for f in page.findings() {
                seen = seen.saturating_add(1);
                if seen > ACTIVE_LIMIT {
                    return Ok(Active {
                        findings: out,
                        complete: false,
                    });
                }
                // Filtered again: what the filters promise is checked, not trusted.
                let active = f.record_state() == Some(&RecordState::Active);
                let Some(id) = f.id().filter(|id| active && scope.holds(id)) else {
                    continue;
                };
                out.push(Existing {
                    id: id.to_string(),
                    created_at: parse_time(f.created_at()),
                    updated_at: parse_time(f.updated_at()),
                    fingerprint: f
                        .product_fields()
                        .and_then(|p| p.get("sgwarden/fingerprint"))
                        .cloned(),
                });
            }
        }
        Ok(Active {
            findings: out,
            complete: true,
        })
    }

    async fn import(&self, place: &Place, findings: &[Finding]) -> Result<(), FindingsError> {
        let client = self.client(place).await;
        let error = |message: String| FindingsError {
            operation: "BatchImportFindings",
            place: place.clone(),
            message,
        };
        let mut refused = Vec::new();
        for chunk in findings.chunks(BATCH) {
            let out = client
                .batch_import_findings()
                .set_findings(Some(chunk.iter().map(asff).collect()))
                .send()
                .await
                .map_err(|e| error(super::error_text(&e)))?;
            refused.extend(out.failed_findings().iter().map(|f| {
                format!(
                    "{} ({})",
                    f.id().unwrap_or("?"),
                    f.error_message().or(f.error_code()).unwrap_or("refused")
                )
            }));
        }
        if refused.is_empty() {
            Ok(())
        } else {
            let n = refused.len();
            refused.truncate(5);
            Err(error(format!(
                "{n} of {} findings refused: {}",
                findings.len(),
                refused.join("; ")
            )))
        }
    }
}
