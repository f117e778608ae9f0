//! The Lambda's configuration from `SGWARDEN_*` environment variables (architecture.md,
//! "Lambda contract"). Errors name the variable and say what it takes.

/// An S3 location: a policy object or prefix, the revert budgets' prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    /// An object key, or a prefix ending in `/` (empty: the whole bucket).
    pub key: String,
}

impl S3Location {
    /// Parses `s3://bucket/key` or `s3://bucket/prefix/`.
    pub fn parse(text: &str) -> Option<S3Location> {
        let rest = text.strip_prefix("s3://")?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return None;
        }
        Some(S3Location {
            bucket: bucket.to_string(),
            key: key.to_string(),
        })
    }

    pub fn is_prefix(&self) -> bool {
        self.key.is_empty() || self.key.ends_with('/')
    }

    pub fn url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }
}

/// What the function is told by its environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LambdaConfig {
    /// `SGWARDEN_POLICY`: `s3://bucket/key`, `s3://bucket/prefix/`, or a local path.
    pub policy: String,
    /// `SGWARDEN_TOPIC_ARN`: where reports are published (else the log only).
    pub topic_arn: Option<String>,
    /// `SGWARDEN_DRY_RUN`: every group as audit.
    pub dry_run: bool,
    /// `SGWARDEN_SELF_ROLE_ARN`: events made by this role are ignored.
    pub self_role_arn: Option<String>,
    /// `SGWARDEN_MEMBER_ROLE`: the role assumed in each member account of a hub deployment
    /// (default `sgwarden-member`); its calls are sgwarden's own.
    pub member_role: String,
    /// `SGWARDEN_MEMBER_EXTERNAL_ID`: the ExternalId the member roles' trust asks for.
    pub member_external_id: Option<String>,
    /// `SGWARDEN_WORK_QUEUE`: a hub's work queue (URL). With it, a scheduled sweep of a
    /// policy with `settings.accounts` queues one message per account and region.
    pub work_queue: Option<String>,
    /// `SGWARDEN_REPORT_BUCKET`: full reports are also written there.
    pub report_bucket: Option<String>,
    /// `SGWARDEN_STATE`: `s3://bucket/prefix/` of the per-group revert budgets
    /// (`settings.flap_limit`; `s3://bucket/key` is read as the prefix `key/`); unset,
    /// the budget is kept in the memory of one warm container only.
    pub state: Option<S3Location>,
    /// `SGWARDEN_SECURITY_HUB`: import each run's findings into Security Hub, in the
    /// account they belong to.
    pub security_hub: bool,
    /// `SGWARDEN_METRICS`: the run's metrics line in the log (`on`, `off`, `per-place`).
    pub metrics: crate::metrics::Metrics,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("`{name}` is not set (help: {help})")]
    Missing {
        name: &'static str,
        help: &'static str,
    },
    #[error("`{name}` is `{value}`: {why}")]
    Invalid {
        name: &'static str,
        value: String,
        why: &'static str,
    },
}

impl LambdaConfig {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// Reads variables through `get` (tests pass a map).
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = |name: &str| {
            get(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let policy = var("SGWARDEN_POLICY").ok_or(ConfigError::Missing {
            name: "SGWARDEN_POLICY",
            help: "set it to s3://bucket/policy.yaml or s3://bucket/prefix/",
        })?;
        let flag = |name: &'static str| match var(name).map(|v| v.to_ascii_lowercase()) {
            None => Ok(false),
            Some(v) if ["true", "1", "yes"].contains(&v.as_str()) => Ok(true),
            Some(v) if ["false", "0", "no"].contains(&v.as_str()) => Ok(false),
            Some(v) => Err(ConfigError::Invalid {
                name,
                value: v,
                why: "expected true or false",
            }),
        };
        let dry_run = flag("SGWARDEN_DRY_RUN")?;
        let security_hub = flag("SGWARDEN_SECURITY_HUB")?;
        let metrics_var = var("SGWARDEN_METRICS");
        let metrics = crate::metrics::Metrics::parse(metrics_var.as_deref()).ok_or_else(|| {
            ConfigError::Invalid {
                name: "SGWARDEN_METRICS",
                value: metrics_var.clone().unwrap_or_default(),
                why: "expected on, off or per-place",
            }
        })?;
        let topic_arn = var("SGWARDEN_TOPIC_ARN");
        if let Some(t) = &topic_arn
            && !t.starts_with("arn:")
        {
            return Err(ConfigError::Invalid {
                name: "SGWARDEN_TOPIC_ARN",
                value: t.clone(),
                why: "expected an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)",
            });
        }
        let self_role_arn = var("SGWARDEN_SELF_ROLE_ARN");
        let member_role = var("SGWARDEN_MEMBER_ROLE")
            .unwrap_or_else(|| crate::place::DEFAULT_MEMBER_ROLE.to_string());
        if let Some(r) = &self_role_arn
            && !r.contains(":role/")
        {
            return Err(ConfigError::Invalid {
                name: "SGWARDEN_SELF_ROLE_ARN",
                value: r.clone(),
                why: "expected the function's IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)",
            });
        }
        let state = match var("SGWARDEN_STATE") {
            None => None,
            Some(st) => Some(S3Location::parse(&st).ok_or(ConfigError::Invalid {
                name: "SGWARDEN_STATE",
                value: st,
                why: "expected the revert budgets' prefix, s3://bucket/prefix/",
            })?),
        };
        Ok(LambdaConfig {
            state,
            security_hub,
            metrics,
            policy,
            topic_arn,
            dry_run,
            self_role_arn,
            member_role,
            member_external_id: var("SGWARDEN_MEMBER_EXTERNAL_ID"),
            work_queue: var("SGWARDEN_WORK_QUEUE"),
            report_bucket: var("SGWARDEN_REPORT_BUCKET").map(|b| {
                b.trim_start_matches("s3://")
                    .trim_end_matches('/')
                    .to_string()
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(vars: &[(&str, &str)]) -> Result<LambdaConfig, ConfigError> {
        let m: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        LambdaConfig::from_vars(|k| m.get(k).cloned())
    }

    #[test]
    fn the_policy_is_required_and_the_rest_optional() {
        assert!(matches!(
            cfg(&[]),
            Err(ConfigError::Missing {
                name: "SGWARDEN_POLICY",
                ..
            })
        ));
        let c = cfg(&[("SGWARDEN_POLICY", "s3://b/p.yaml")]).unwrap();
        assert_eq!(
            (c.dry_run, c.topic_arn, c.report_bucket),
            (false, None, None)
        );
    }

    #[test]
    fn values_are_checked_and_errors_name_the_variable() {
        let e = cfg(&[
            ("SGWARDEN_POLICY", "s3://b/p.yaml"),
            ("SGWARDEN_DRY_RUN", "maybe"),
        ])
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "`SGWARDEN_DRY_RUN` is `maybe`: expected true or false"
        );
        assert!(cfg(&[("SGWARDEN_POLICY", "p"), ("SGWARDEN_TOPIC_ARN", "reports")]).is_err());
        assert!(cfg(&[("SGWARDEN_POLICY", "p"), ("SGWARDEN_SELF_ROLE_ARN", "me")]).is_err());
        for bad in ["state.json", "s3://", "s3:///prefix/", "https://b/prefix/"] {
            let e = cfg(&[("SGWARDEN_POLICY", "p"), ("SGWARDEN_STATE", bad)]).unwrap_err();
            assert!(e.to_string().starts_with("`SGWARDEN_STATE`"), "{e}");
        }
        for good in ["s3://b/ledger.json", "s3://b/sgwarden/revert-budget/"] {
            let c = cfg(&[("SGWARDEN_POLICY", "p"), ("SGWARDEN_STATE", good)]);
            assert_eq!(c.unwrap().state.map(|l| l.url()).as_deref(), Some(good));
        }
        let c = cfg(&[
            ("SGWARDEN_POLICY", "p"),
            ("SGWARDEN_DRY_RUN", "TRUE"),
            ("SGWARDEN_REPORT_BUCKET", "s3://reports/"),
        ])
        .unwrap();
        assert!(c.dry_run);
        assert_eq!(c.report_bucket.as_deref(), Some("reports"));
        let e = cfg(&[("SGWARDEN_POLICY", "p"), ("SGWARDEN_SECURITY_HUB", "on")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "`SGWARDEN_SECURITY_HUB` is `on`: expected true or false"
        );
        let e = cfg(&[("SGWARDEN_POLICY", "p"), ("SGWARDEN_METRICS", "all")]).unwrap_err();
        assert!(
            e.to_string().starts_with("`SGWARDEN_METRICS` is `all`"),
            "{e}"
        );
        let c = cfg(&[
            ("SGWARDEN_POLICY", "p"),
            ("SGWARDEN_SECURITY_HUB", "true"),
            ("SGWARDEN_METRICS", "per-place"),
        ])
        .unwrap();
        assert!(c.security_hub && c.metrics.per_place);
    }
}
