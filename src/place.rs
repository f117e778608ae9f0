//! Where a security group lives: an AWS account and a region.
//!
//! Every live group, drift entry, write, ledger key, report line and error of a run is
//! keyed by a [`Place`], never by a bare region: the same group id in two accounts is two
//! groups. A run knows its account from where it runs (the Lambda's own ARN, the caller's
//! identity, `settings.account` or a snapshot's owner ids); when it cannot know it (a plan
//! from snapshots that carry none), the account is empty and the report leaves it out.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An AWS account and a region.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Place {
    /// The 12-digit account id, or empty when the run does not know it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub account: String,
    pub region: String,
}

impl Place {
    pub fn new(account: impl Into<String>, region: impl Into<String>) -> Self {
        Place {
            account: account.into(),
            region: region.into(),
        }
    }

    /// The places of one account in `regions`, in that order.
    pub fn all(account: &str, regions: &[String]) -> Vec<Place> {
        regions
            .iter()
            .map(|r| Place::new(account, r.as_str()))
            .collect()
    }

    /// The AWS partition of its region (`aws`, `aws-cn`, `aws-us-gov`), for ARNs.
    pub fn partition(&self) -> &'static str {
        partition(&self.region)
    }

    /// The key of one of its groups in the revert ledger: `ACCOUNT/REGION/GROUP_ID`, or
    /// `REGION/GROUP_ID` when the account is not known.
    pub fn key(&self, group_id: &str) -> String {
        format!("{self}/{group_id}")
    }
}

/// The role a hub deployment assumes in each member account, unless configured otherwise.
pub const DEFAULT_MEMBER_ROLE: &str = "sgwarden-member";

/// The AWS partition of `region`, for ARNs.
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// `text` split at `sep` into exactly `N` fields, the last one holding the rest (an
/// ARN's six, a finding id's); `None` when there are fewer.
pub(crate) fn fields<const N: usize>(text: &str, sep: char) -> Option<[&str; N]> {
    let mut parts = text.splitn(N, sep);
    let out: [&str; N] = std::array::from_fn(|_| parts.next().unwrap_or(""));
    let count = text.splitn(N, sep).count();
    (count == N).then_some(out)
}

/// Whether `text` is an AWS account id: exactly 12 ASCII digits.
pub fn is_account(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

/// `ACCOUNT/REGION`, or `REGION` when the account is not known.
impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.account.is_empty() {
            f.write_str(&self.region)
        } else {
            write!(f, "{}/{}", self.account, self.region)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_place_names_its_account_when_known() {
        let p = Place::new("111122223333", "eu-west-1");
        assert_eq!(p.to_string(), "111122223333/eu-west-1");
        assert_eq!(p.key("sg-1"), "111122223333/eu-west-1/sg-1");
        let unknown = Place::new("", "eu-west-1");
        assert_eq!(unknown.key("sg-1"), "eu-west-1/sg-1");
    }

    #[test]
    fn an_account_is_twelve_ascii_digits() {
        assert!(is_account("012345678901"));
        for bad in [
            "12345678901",
            "1234567890123",
            "12345678901a",
            "١٢٣٤٥٦٧٨٩٠١٢",
            "",
        ] {
            assert!(!is_account(bad), "{bad}");
        }
    }

    #[test]
    fn the_same_region_in_two_accounts_is_two_places() {
        let a = Place::new("111122223333", "us-east-1");
        let b = Place::new("444455556666", "us-east-1");
        assert_ne!(a, b);
        assert_ne!(a.key("sg-1"), b.key("sg-1"));
        let json = serde_json::to_value(&a).unwrap();
        assert_eq!(json["account"], "111122223333");
        assert_eq!(json["region"], "us-east-1");
        let unknown = serde_json::to_value(Place::new("", "us-east-1")).unwrap();
        assert!(unknown.get("account").is_none());
    }
}
