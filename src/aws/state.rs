//! [`RevertLedger`] on S3: the revert budget as one JSON object (`SGWARDEN_STATE`,
//! `s3://bucket/key`), changed only by conditional writes.
//!
//! A reservation reads the object and its ETag, answers the claims, and writes the new
//! ledger with `If-Match: ETag` (or `If-None-Match: *` when there was none). S3 refuses
//! the write with `412 Precondition Failed` when another invocation wrote in between (or
//! `409 ConditionalRequestConflict` while one is in flight); the reservation then starts
//! over from a fresh read, so two invocations never both spend the last revert of a group.
//! When the ledger cannot be read or written after a few attempts, or is not a ledger,
//! the run writes nothing to the groups it would have reverted (fail closed).

use aws_config::SdkConfig;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use chrono::{DateTime, Utc};

use super::s3::S3Location;
use crate::budget::{Claim, Ledger, Verdict};
use crate::policy::FlapLimit;
use crate::ports::{LedgerError, RevertLedger};

/// How many read-modify-write rounds a reservation tries before giving up.
const ATTEMPTS: u32 = 8;

/// The revert ledger in one S3 object.
pub struct S3Ledger {
    client: Client,
    location: S3Location,
}

/// The outcome of one conditional write.
enum Put {
    Written,
    /// Someone else wrote first (412, 409, or the object vanished under `If-Match`).
    Lost,
}

impl S3Ledger {
    /// A ledger in the object at `location` (`SGWARDEN_STATE`, checked by the config).
    pub fn new(config: &SdkConfig, location: S3Location) -> Self {
        S3Ledger {
            client: super::s3_client(config),
            location,
        }
    }

    pub fn url(&self) -> String {
        self.location.url()
    }

    fn error(&self, message: String) -> LedgerError {
        LedgerError {
            location: self.url(),
            message,
        }
    }

    /// The ledger and its ETag (`None` when there is no object yet).
    async fn read(&self) -> Result<(Ledger, Option<String>), LedgerError> {
        let got = self
            .client
            .get_object()
            .bucket(&self.location.bucket)
            .key(&self.location.key)
            .send()
            .await;
        let out = match got {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => {
                return Ok((Ledger::default(), None));
            }
            Err(e) => return Err(self.error(format!("cannot read it: {}", super::error_text(&e)))),
        };
        let etag = out.e_tag().map(str::to_string);
        let body = out
            .body
            .collect()
            .await
            .map_err(|e| self.error(format!("cannot read it: {e}")))?
            .into_bytes();
        let ledger: Ledger = serde_json::from_slice(&body).map_err(|e| {
            self.error(format!(
                "it is not a revert ledger ({e}); delete the object to start counting afresh"
            ))
        })?;
        Ok((ledger, etag))
    }

    async fn write(&self, ledger: &Ledger, etag: Option<&str>) -> Result<Put, LedgerError> {
        let body = serde_json::to_vec(ledger).map_err(|e| self.error(e.to_string()))?;
        let mut req = self
            .client
            .put_object()
            .bucket(&self.location.bucket)
            .key(&self.location.key)
            .content_type("application/json")
            .body(ByteStream::from(body));
        req = match etag {
            Some(tag) => req.if_match(tag),
            None => req.if_none_match("*"),
        };
        match req.send().await {
            Ok(_) => Ok(Put::Written),
            Err(e) => {
                let status = e.raw_response().map(|r| r.status().as_u16());
                let code = e.code().unwrap_or_default();
                if matches!(status, Some(412 | 409))
                    || [
                        "PreconditionFailed",
                        "ConditionalRequestConflict",
                        "NoSuchKey",
                    ]
                    .contains(&code)
                {
                    Ok(Put::Lost)
                } else {
                    Err(self.error(format!("cannot write it: {}", super::error_text(&e))))
                }
            }
        }
    }
}

impl RevertLedger for S3Ledger {
    async fn reserve(
        &self,
        now: DateTime<Utc>,
        limit: FlapLimit,
        claims: &[Claim],
    ) -> Result<Vec<Verdict>, LedgerError> {
        for attempt in 0..ATTEMPTS {
            let (mut ledger, etag) = self.read().await?;
            let verdicts = ledger.admit(now, limit, claims);
            match self.write(&ledger, etag.as_deref()).await? {
                Put::Written => return Ok(verdicts),
                Put::Lost => {
                    // Back off a random 5-50 ms times the attempt, then read again.
                    use std::hash::BuildHasher;
                    let jitter = std::collections::hash_map::RandomState::new().hash_one(attempt);
                    let ms = (5 + jitter % 46) * u64::from(attempt + 1);
                    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                }
            }
        }
        Err(self.error(format!(
            "{ATTEMPTS} conditional writes in a row lost to other writers"
        )))
    }
}
