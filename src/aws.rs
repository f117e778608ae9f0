//! The AWS adapters: the only place (with the Lambda binary) that names the SDK.
//!
//! Clients come from one `SdkConfig`, loaded once through the standard configuration
//! chain (environment, profile, container or instance role) plus an optional endpoint URL
//! (`--endpoint-url`, `AWS_ENDPOINT_URL`) for a local AWS.

pub mod ec2;
pub mod flows;
pub mod member;
pub mod org;
pub mod s3;
pub mod securityhub;
pub mod sns;
pub mod state;
pub mod wiring;

use aws_config::{BehaviorVersion, Region, SdkConfig};

/// An SDK error as one line: `CODE: message` when the service answered, else the whole
/// error chain (a connection failure, a timeout).
pub(crate) fn error_text<E>(e: &E) -> String
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    let text = match (e.code(), e.message()) {
        (Some(code), Some(m)) => format!("{code}: {m}"),
        (Some(code), None) => code.to_string(),
        _ => {
            // The SDK's full context is the readable chain of causes, then the error again in
            // Debug form (`(DispatchFailure(DispatchFailure { source: … }))`), which may hold
            // the raw HTTP response: kilobytes that belong in no report. Keep the chain.
            let full = aws_sdk_s3::error::DisplayErrorContext(e).to_string();
            let end = [
                " (ConstructionFailure(",
                " (TimeoutError(",
                " (DispatchFailure(",
                " (ResponseError(",
                " (ServiceError(",
                "raw: ",
            ]
            .iter()
            .filter_map(|m| full.find(m))
            .min()
            .unwrap_or(full.len());
            full[..end].trim_end().to_string()
        }
    };
    one_line(&text, ERROR_TEXT)
}

/// The longest AWS error text put into a report.
const ERROR_TEXT: usize = 500;

/// `text` on one line (whitespace runs collapsed), cut to `max` bytes with a mark.
pub(crate) fn one_line(text: &str, max: usize) -> String {
    let mut out = text.split_whitespace().collect::<Vec<_>>().join(" ");
    crate::limits::clip(&mut out, max);
    out
}

/// Loads the SDK configuration once. `region` overrides the chain's region (the home
/// region); `endpoint_url` points every client at another endpoint (a local AWS).
pub async fn sdk_config(region: Option<&str>, endpoint_url: Option<&str>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(r) = region {
        loader = loader.region(Region::new(r.to_string()));
    }
    if let Some(url) = endpoint_url {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}

/// The region the program runs in, from the SDK's configuration chain, else `us-east-1`.
pub fn home_region(config: &SdkConfig) -> String {
    config
        .region()
        .map(|r| r.as_ref().to_string())
        .unwrap_or_else(|| "us-east-1".to_string())
}

/// An S3 client. Against a custom endpoint (a local AWS on 127.0.0.1, which has no bucket
/// DNS names) it addresses buckets by path; against AWS, by virtual host as AWS recommends.
pub fn s3_client(config: &SdkConfig) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(config.endpoint_url().is_some())
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// A policy from S3 (`s3://…`) or from a local file or directory.
pub enum AnyPolicySource {
    S3(Box<s3::S3PolicySource>),
    Local(crate::local::FilePolicySource),
}

impl AnyPolicySource {
    pub fn new(config: &SdkConfig, location: &str) -> Self {
        match s3::S3Location::parse(location) {
            Some(l) => AnyPolicySource::S3(Box::new(s3::S3PolicySource::new(config, l))),
            None => AnyPolicySource::Local(crate::local::FilePolicySource {
                location: location.to_string(),
            }),
        }
    }
}

impl crate::ports::PolicySource for AnyPolicySource {
    async fn load(&self) -> Result<crate::policy::Policy, crate::ports::SourceError> {
        match self {
            AnyPolicySource::S3(s) => s.load().await,
            AnyPolicySource::Local(l) => l.load().await,
        }
    }
}

/// The revert budgets: one S3 object per group under `SGWARDEN_STATE` or, without it,
/// memory.
pub enum AnyLedger {
    S3(Box<state::S3Ledger>),
    Memory(crate::local::MemoryLedger),
}

impl AnyLedger {
    pub fn new(config: &SdkConfig, location: Option<&s3::S3Location>) -> Self {
        match location {
            Some(l) => AnyLedger::S3(Box::new(state::S3Ledger::new(config, l.clone()))),
            None => AnyLedger::Memory(crate::local::MemoryLedger::new()),
        }
    }
}

impl crate::ports::RevertLedger for AnyLedger {
    async fn reserve(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        limit: crate::policy::FlapLimit,
        claims: &[crate::budget::Claim],
    ) -> Result<Vec<crate::budget::Verdict>, crate::ports::LedgerError> {
        match self {
            AnyLedger::S3(l) => l.reserve(now, limit, claims).await,
            AnyLedger::Memory(m) => m.reserve(now, limit, claims).await,
        }
    }
}
