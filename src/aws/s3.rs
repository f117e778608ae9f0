//! [`PolicySource`] on S3: one object (`s3://bucket/key`) or every policy file under a
//! prefix (`s3://bucket/prefix/`), merged. Each file's provenance (VersionId, ETag,
//! sha256) goes into the report.
//!
//! A warm Lambda keeps the parsed policy and revalidates each object with a conditional
//! GET (`If-None-Match: ETag`): S3 answers 304 when nothing changed, and the cached policy
//! is used without reading or parsing anything again.

use aws_config::SdkConfig;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::ProvideErrorMetadata;
use tokio::sync::Mutex;

pub use crate::config::S3Location;
use crate::limits;
use crate::policy::{self, Document, Policy, PolicyError};
use crate::ports::{PolicySource, SourceError};

struct Cached {
    documents: Vec<Document>,
    policy: Policy,
}

/// The policy from S3, cached across warm invocations.
pub struct S3PolicySource {
    client: Client,
    location: S3Location,
    cache: Mutex<Option<Cached>>,
}

fn unavailable<E>(location: &str, what: &str, e: &E) -> SourceError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    SourceError::Unavailable {
        location: location.to_string(),
        message: format!("{what}: {}", super::error_text(e)),
    }
}

fn is_policy_key(key: &str) -> bool {
    let hidden = key.split('/').any(|part| part.starts_with('.'));
    !hidden && crate::local::is_policy_file(key)
}

impl S3PolicySource {
    pub fn new(config: &SdkConfig, location: S3Location) -> Self {
        S3PolicySource {
            client: super::s3_client(config),
            location,
            cache: Mutex::new(None),
        }
    }

    async fn keys(&self) -> Result<Vec<String>, SourceError> {
        if !self.location.is_prefix() {
            return Ok(vec![self.location.key.clone()]);
        }
        let mut keys = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.location.bucket)
            .prefix(&self.location.key)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                unavailable(&self.location.url(), "cannot list the policy prefix", &e)
            })?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key())
                    .filter(|k| is_policy_key(k))
                    .map(str::to_string),
            );
        }
        if keys.len() > limits::POLICY_FILES {
            return Err(PolicyError::too_many_files(self.location.url()).into());
        }
        keys.sort();
        Ok(keys)
    }

    /// Reads one object, or `None` when its ETag still matches (`304 Not Modified`).
    async fn get(&self, key: &str, etag: Option<&str>) -> Result<Option<Document>, SourceError> {
        let url = format!("s3://{}/{key}", self.location.bucket);
        let mut req = self
            .client
            .get_object()
            .bucket(&self.location.bucket)
            .key(key);
        if let Some(tag) = etag {
            req = req.if_none_match(tag);
        }
        let out = match req.send().await {
            Ok(out) => out,
            Err(e) if e.raw_response().map(|r| r.status().as_u16()) == Some(304) => {
                return Ok(None);
            }
            Err(e) => return Err(unavailable(&url, "cannot read the policy object", &e)),
        };
        let too_large = || {
            SourceError::Policy(PolicyError::Input(limits::InputError::TooLarge {
                what: "policy object",
                path: url.clone(),
                limit: limits::POLICY_FILE_BYTES,
            }))
        };
        let length = out.content_length().and_then(|n| u64::try_from(n).ok());
        if length.is_some_and(|n| n > limits::POLICY_FILE_BYTES) {
            return Err(too_large());
        }
        let version_id = out.version_id().map(str::to_string);
        let etag = out.e_tag().map(str::to_string);
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| SourceError::Unavailable {
                location: url.clone(),
                message: format!("cannot read the policy object's body: {e}"),
            })?
            .into_bytes();
        if bytes.len() as u64 > limits::POLICY_FILE_BYTES {
            return Err(too_large());
        }
        let mut doc = Document::from_bytes(url, Vec::from(bytes))?;
        doc.version_id = version_id;
        doc.etag = etag;
        Ok(Some(doc))
    }
}

impl PolicySource for S3PolicySource {
    async fn load(&self) -> Result<Policy, SourceError> {
        let mut cache = self.cache.lock().await;
        let keys = self.keys().await?;
        if keys.is_empty() {
            return Err(SourceError::Policy(PolicyError::NoFiles {
                location: self.location.url(),
            }));
        }
        let mut documents = Vec::with_capacity(keys.len());
        let mut total = 0usize;
        let mut changed = cache
            .as_ref()
            .is_none_or(|c| c.documents.len() != keys.len());
        for key in &keys {
            let url = format!("s3://{}/{key}", self.location.bucket);
            let cached = cache
                .as_ref()
                .and_then(|c| c.documents.iter().find(|d| d.location == url));
            let read = self
                .get(key, cached.and_then(|d| d.etag.as_deref()))
                .await?;
            total = total.saturating_add(read.as_ref().or(cached).map_or(0, |d| d.text.len()));
            if total as u64 > limits::POLICY_TOTAL_BYTES {
                return Err(PolicyError::too_large_in_all(self.location.url()).into());
            }
            match read {
                Some(doc) => {
                    changed = true;
                    documents.push(doc);
                }
                None => match cached {
                    Some(doc) => documents.push(doc.clone()),
                    None => {
                        return Err(SourceError::Unavailable {
                            location: url,
                            message: "S3 answered 304 for an object never read".into(),
                        });
                    }
                },
            }
        }
        if !changed && let Some(c) = cache.as_ref() {
            return Ok(c.policy.clone());
        }
        // An invalid policy is not cached: the next invocation reads it again.
        let policy = policy::load(&self.location.url(), &documents)?;
        *cache = Some(Cached {
            documents,
            policy: policy.clone(),
        });
        Ok(policy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_objects_or_prefixes() {
        let l = S3Location::parse("s3://b/policy/main.yaml").unwrap();
        assert_eq!(
            (l.bucket.as_str(), l.key.as_str(), l.is_prefix()),
            ("b", "policy/main.yaml", false)
        );
        assert!(S3Location::parse("s3://b/policy/").unwrap().is_prefix());
        assert!(S3Location::parse("s3://b").unwrap().is_prefix());
        assert!(S3Location::parse("s3:///x").is_none());
        assert!(S3Location::parse("/tmp/x.yaml").is_none());
    }

    #[test]
    fn only_visible_policy_files_under_a_prefix_count() {
        assert!(is_policy_key("p/teams/web.yml"));
        assert!(!is_policy_key("p/.hidden/web.yaml"));
        assert!(!is_policy_key("p/README.md"));
    }
}
