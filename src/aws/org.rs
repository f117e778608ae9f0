//! [`WorkQueue`] on the SDK: Organizations `ListAccounts` (every page, ACTIVE accounts
//! only) and SQS `SendMessageBatch`, ten messages a call.

use aws_config::SdkConfig;
use aws_sdk_organizations::types::AccountStatus;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;

use crate::ports::{WorkError, WorkQueue};

/// The organization and the work queue through the SDK.
pub struct SdkWorkQueue {
    organizations: aws_sdk_organizations::Client,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SdkWorkQueue {
    pub fn new(config: &SdkConfig, queue_url: &str) -> Self {
        SdkWorkQueue {
            organizations: aws_sdk_organizations::Client::new(config),
            sqs: aws_sdk_sqs::Client::new(config),
            queue_url: queue_url.to_string(),
        }
    }
}

/// The ACTIVE accounts of the caller's AWS Organization, every page, sorted.
pub async fn active_accounts(config: &SdkConfig) -> Result<Vec<String>, WorkError> {
    list_active(&aws_sdk_organizations::Client::new(config)).await
}

/// The caller's own account (STS GetCallerIdentity).
pub async fn caller_account(config: &SdkConfig) -> Result<String, WorkError> {
    aws_sdk_sts::Client::new(config)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| WorkError {
            operation: "GetCallerIdentity",
            message: super::error_text(&e),
        })?
        .account()
        .map(str::to_string)
        .ok_or_else(|| WorkError {
            operation: "GetCallerIdentity",
            message: "no account in the answer".into(),
        })
}

async fn list_active(
    organizations: &aws_sdk_organizations::Client,
) -> Result<Vec<String>, WorkError> {
    let mut pages = organizations.list_accounts().into_paginator().send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| WorkError {
            operation: "ListAccounts",
            message: super::error_text(&e),
        })?;
        out.extend(
            page.accounts()
                .iter()
                .filter(|a| a.status() == Some(&AccountStatus::Active))
                .filter_map(|a| a.id().map(str::to_string)),
        );
    }
    out.sort();
    Ok(out)
}

impl WorkQueue for SdkWorkQueue {
    async fn active_accounts(&self) -> Result<Vec<String>, WorkError> {
        list_active(&self.organizations).await
    }

    async fn send(&self, bodies: &[String]) -> Result<(), WorkError> {
        for (n, chunk) in bodies.chunks(crate::work::BATCH).enumerate() {
            let entries: Vec<SendMessageBatchRequestEntry> = chunk
                .iter()
                .enumerate()
                .filter_map(|(i, body)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(format!("m{n}-{i}"))
                        .message_body(body)
                        .build()
                        .ok()
                })
                .collect();
            let out = self
                .sqs
                .send_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| WorkError {
                    operation: "SendMessageBatch",
                    message: super::error_text(&e),
                })?;
            if let Some(f) = out.failed().first() {
                return Err(WorkError {
                    operation: "SendMessageBatch",
                    message: format!(
                        "{} of {} messages refused; first: {}: {}",
                        out.failed().len(),
                        chunk.len(),
                        f.code(),
                        f.message().unwrap_or_default()
                    ),
                });
            }
        }
        Ok(())
    }
}
