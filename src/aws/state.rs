//! [`RevertLedger`] on S3: the revert budget as one small JSON object per group under the
//! state prefix (`SGWARDEN_STATE`, `s3://bucket/prefix/`), at
//! `PREFIX/ACCOUNT/REGION/GROUP_ID.json`, each changed only by conditional writes.
//!
//! A reservation for a group reads its object and ETag, answers the claim, and writes the
//! object back with `If-Match: ETag` (or `If-None-Match: *` when there was none). S3
//! refuses the write with `412 Precondition Failed` when another invocation wrote that
//! group in between (or `409 ConditionalRequestConflict` while one is in flight); the
//! reservation then starts over from a fresh read, so two invocations never both spend the
//! last revert of a group. Different groups are different objects: invocations about
//! different groups never contend. A group whose budget is spent is answered from the read
//! alone, with no write, so a burst on one group settles once its budget is gone.
//! When a group's object cannot be read or written within [`CONTENTION_TIME`], or is not a
//! ledger, the run writes nothing to the groups it would have reverted (fail closed).
//!
//! `s3://bucket/key` without a trailing `/` (the single ledger object of earlier
//! versions) is read as the prefix `key/`: existing stacks keep working, and the old
//! object is no longer read (it may be deleted).

use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use chrono::{DateTime, Utc};
use futures_util::{StreamExt, stream};

use super::s3::S3Location;
use crate::budget::{Claim, Ledger, Verdict};
use crate::policy::FlapLimit;
use crate::ports::{LedgerError, RevertLedger};

/// How long a reservation keeps retrying writes lost to other invocations of the same
/// group before it fails closed. A burst of events on one group settles well within it:
/// each round one writer wins, and once the budget is spent the rest only read.
pub const CONTENTION_TIME: Duration = Duration::from_secs(20);

/// How many groups' budgets one run reserves at once.
const CONCURRENCY: usize = 16;

/// The revert budget in one S3 object per group.
pub struct S3Ledger {
    client: Client,
    bucket: String,
    /// Empty, or ending in `/`.
    prefix: String,
}

/// The outcome of one conditional write.
enum Put {
    Written,
    /// Someone else wrote first (412, 409, or the object vanished under `If-Match`).
    Lost,
}

impl S3Ledger {
    /// A ledger under `location` (`SGWARDEN_STATE`, checked by the config): a prefix, or
    /// an object key read as the prefix `KEY/`.
    pub fn new(config: &SdkConfig, location: S3Location) -> Self {
        let prefix = if location.is_prefix() {
            location.key
        } else {
            format!("{}/", location.key)
        };
        S3Ledger {
            client: super::s3_client(config),
            bucket: location.bucket,
            prefix,
        }
    }

    /// The object of one group (`Claim::key` is `ACCOUNT/REGION/GROUP_ID`).
    pub fn object(&self, claim_key: &str) -> String {
        format!("{}{claim_key}.json", self.prefix)
    }

    fn error(&self, key: &str, message: String) -> LedgerError {
        LedgerError {
            location: format!("s3://{}/{key}", self.bucket),
            message,
        }
    }

    /// A group's ledger and its ETag (`None` when there is no object yet).
    async fn read(&self, key: &str) -> Result<(Ledger, Option<String>), LedgerError> {
        let got = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await;
        let out = match got {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => {
                return Ok((Ledger::default(), None));
            }
            Err(e) => {
                let why = format!("cannot read it: {}", super::error_text(&e));
                return Err(self.error(key, why));
            }
        };
        let etag = out.e_tag().map(str::to_string);
        let body = out
            .body
            .collect()
            .await
            .map_err(|e| self.error(key, format!("cannot read it: {e}")))?
            .into_bytes();
        let ledger: Ledger =
            serde_json::from_slice(&body).map_err(|e| {
                self.error(key, format!(
                "it is not a revert ledger ({e}); delete the object to start counting afresh"
            ))
            })?;
        Ok((ledger, etag))
    }

    async fn write(
        &self,
        key: &str,
        ledger: &Ledger,
        etag: Option<&str>,
    ) -> Result<Put, LedgerError> {
        let body = serde_json::to_vec(ledger).map_err(|e| self.error(key, e.to_string()))?;
        let mut req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
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
                    let why = format!("cannot write it: {}", super::error_text(&e));
                    Err(self.error(key, why))
                }
            }
        }
    }

    /// Reserves one revert of one group: read, answer, conditional write; a write lost to
    /// another invocation starts again after a jittered back-off, until
    /// [`CONTENTION_TIME`] has passed.
    async fn reserve_one(
        &self,
        now: DateTime<Utc>,
        limit: FlapLimit,
        claim: &Claim,
    ) -> Result<Verdict, LedgerError> {
        let key = self.object(&claim.key);
        let give_up = Instant::now() + CONTENTION_TIME;
        let mut lost = 0u32;
        loop {
            let (mut ledger, etag) = self.read(&key).await?;
            let verdict = ledger
                .admit(now, limit, std::slice::from_ref(claim))
                .pop()
                .unwrap_or(Verdict::Granted);
            if matches!(verdict, Verdict::Flapping { .. }) {
                // Nothing to record: the read alone answers.
                return Ok(verdict);
            }
            match self.write(&key, &ledger, etag.as_deref()).await? {
                Put::Written => return Ok(verdict),
                Put::Lost if Instant::now() < give_up => {
                    lost = lost.saturating_add(1);
                    tokio::time::sleep(backoff(lost)).await;
                }
                Put::Lost => {
                    return Err(self.error(
                        &key,
                        format!(
                            "{lost} conditional writes in {} s lost to other writers of this group",
                            CONTENTION_TIME.as_secs()
                        ),
                    ));
                }
            }
        }
    }
}

/// The pause after the `n`th lost write: half of an exponential step (20 ms doubling, at
/// most 1 s) plus a random part of the other half, so that writers that lost together do
/// not come back together.
fn backoff(n: u32) -> Duration {
    use std::hash::BuildHasher;
    let step = 20u64.saturating_mul(1 << n.min(6)).min(1000);
    let jitter = std::collections::hash_map::RandomState::new().hash_one(n) % (step / 2 + 1);
    Duration::from_millis(step / 2 + jitter)
}

impl RevertLedger for S3Ledger {
    async fn reserve(
        &self,
        now: DateTime<Utc>,
        limit: FlapLimit,
        claims: &[Claim],
    ) -> Result<Vec<Verdict>, LedgerError> {
        // Each group is its own object: the claims of one run are reserved side by side,
        // a few at a time, and answered in their order.
        let verdicts: Vec<Result<Verdict, LedgerError>> = stream::iter(0..claims.len())
            .map(|i| self.reserve_one(now, limit, &claims[i]))
            .buffered(CONCURRENCY)
            .collect()
            .await;
        verdicts.into_iter().collect()
    }
}
