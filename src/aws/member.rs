//! The member role of a hub deployment: the configuration for calls in one account,
//! with credentials from `AssumeRole` into that account's member role (aws-config's
//! assume-role provider; each client's identity cache keeps them until shortly before
//! they expire, then refreshes). Calls in the hub's own account, or in an account not
//! known (a single-account run), use the hub's own credentials.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use aws_config::sts::AssumeRoleProvider;
use aws_config::{Region, SdkConfig};
use aws_sdk_ec2::config::SharedCredentialsProvider;

use crate::place::{Place, partition};

/// The member role as configured (`SGWARDEN_MEMBER_ROLE`, `--member-role`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberRole {
    /// The role's name, with its path if it has one (`sgwarden-member`, `ops/sgwarden-member`).
    pub name: String,
    /// The ExternalId the members' trust policies ask for, when they do.
    pub external_id: Option<String>,
}

/// The most accounts whose member-role credentials are kept at once.
const PROVIDERS: usize = 32;

/// The configuration for calls in `place`, in its region: with its account's member role
/// when `members` are given (a hub), else `own`.
pub async fn place_config(members: Option<&Members>, own: &SdkConfig, place: &Place) -> SdkConfig {
    let base = match members {
        Some(m) => m.config(place).await,
        None => own.clone(),
    };
    base.to_builder()
        .region(Region::new(place.region.clone()))
        .build()
}

/// Configurations per account, the member role's credentials built once per account.
pub struct Members {
    base: SdkConfig,
    role: MemberRole,
    /// The hub's own account, once known (the function learns it from its ARN at its
    /// first invocation): its groups are read with the hub's own credentials.
    hub: OnceLock<String>,
    providers: Mutex<HashMap<String, SharedCredentialsProvider>>,
}

impl Members {
    pub fn new(base: &SdkConfig, role: MemberRole) -> Self {
        Members {
            base: base.clone(),
            role,
            hub: OnceLock::new(),
            providers: Mutex::new(HashMap::new()),
        }
    }

    /// Names the hub's own account (the first name given stays).
    pub fn set_hub(&self, account: &str) {
        if crate::place::is_account(account) {
            let _ = self.hub.set(account.to_string());
        }
    }

    /// The role's ARN in an account, in the partition of `region`.
    pub fn role_arn(&self, account: &str, region: &str) -> String {
        format!(
            "arn:{}:iam::{account}:role/{}",
            partition(region),
            self.role.name
        )
    }

    /// The configuration for calls in `place`: the hub's own in its account or an account
    /// not known, else the member role's in that account.
    pub async fn config(&self, place: &Place) -> SdkConfig {
        if place.account.is_empty() || self.hub.get() == Some(&place.account) {
            return self.base.clone();
        }
        let cached = self.lock().get(&place.account).cloned();
        let provider = match cached {
            Some(p) => p,
            None => {
                let mut builder =
                    AssumeRoleProvider::builder(self.role_arn(&place.account, &place.region))
                        .session_name("sgwarden")
                        .configure(&self.base)
                        .region(Region::new(place.region.clone()));
                if let Some(id) = &self.role.external_id {
                    builder = builder.external_id(id);
                }
                let p = SharedCredentialsProvider::new(builder.build().await);
                let mut providers = self.lock();
                // Bounded, as the clients are: a hub meets every account in one container.
                if providers.len() >= PROVIDERS {
                    providers.clear();
                }
                providers.insert(place.account.clone(), p.clone());
                p
            }
        };
        self.base
            .to_builder()
            .credentials_provider(provider)
            .build()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, SharedCredentialsProvider>> {
        self.providers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_use_the_partition_of_the_region() {
        assert_eq!(partition("eu-west-1"), "aws");
        assert_eq!(partition("cn-north-1"), "aws-cn");
        assert_eq!(partition("us-gov-west-1"), "aws-us-gov");
    }
}
