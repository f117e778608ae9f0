//! The per-group revert budget (`settings.flap_limit`): the loop breaker behind the event
//! pattern's exclusion and the in-code check of the function's own role.
//!
//! Another tool (or a person, or a second copy of sgwarden) that keeps re-adding what
//! sgwarden revokes would otherwise fight it forever. Every run that is about to write to
//! a group first *reserves* a revert in a ledger; a group that already has `reverts`
//! reverts within the window is not written to and is reported as flapping, with the
//! actors whose changes were reverted. The ledger is kept where every invocation sees it
//! (an S3 object written with conditional requests, `aws::state`), so that the budget
//! holds across invocations and under concurrent ones: a reservation is a
//! read-modify-write that only lands on the version it read.
//!
//! This module holds the ledger itself and its pure arithmetic; the stores are adapters
//! (`local::MemoryLedger`, `aws::state`).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::policy::FlapLimit;

/// One write-bearing run on one group, asked for before the writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    /// `ACCOUNT/REGION/GROUP_ID` (`Place::key`).
    pub key: String,
    /// Whose change is being reverted: the CloudTrail event's principal, when known.
    pub actor: Option<String>,
    /// What found the drift: `schedule`, `cloudtrail:EVENT_NAME`, `manual`.
    pub trigger: String,
}

/// A revert recorded in the ledger.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revert {
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    pub trigger: String,
}

/// The answer to one claim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The revert is recorded; the run may write.
    Granted,
    /// The budget is spent: no writes until `until`.
    Flapping {
        /// The reverts within the window, oldest first.
        reverts: Vec<Revert>,
        /// When the oldest counted revert leaves the window.
        until: DateTime<Utc>,
    },
}

/// The ledger: recent reverts per group. Serialized as the state object.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    /// Format version (1).
    #[serde(default = "one")]
    pub version: u32,
    /// `ACCOUNT/REGION/GROUP_ID` → reverts within the last window, oldest first.
    #[serde(default)]
    pub groups: BTreeMap<String, Vec<Revert>>,
}

fn one() -> u32 {
    1
}

impl Ledger {
    /// Answers the claims against the budget and records the granted ones. Entries older
    /// than the window are dropped first, so the ledger never grows past the groups
    /// reverted within one window.
    pub fn admit(
        &mut self,
        now: DateTime<Utc>,
        limit: FlapLimit,
        claims: &[Claim],
    ) -> Vec<Verdict> {
        self.version = 1;
        // The policy bounds the window to days; the fallbacks only keep hostile numbers
        // from overflowing.
        let per = i64::try_from(limit.per_seconds)
            .ok()
            .and_then(Duration::try_seconds)
            .unwrap_or(Duration::days(365));
        let since = now
            .checked_sub_signed(per)
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        for list in self.groups.values_mut() {
            // An entry dated in the future (a forged ledger, a skewed clock) counts as made
            // now: it holds a group for at most one window from now, never until its date.
            for r in list.iter_mut() {
                r.at = r.at.min(now);
            }
            list.retain(|r| r.at > since);
            list.sort_by_key(|r| r.at);
        }
        self.groups.retain(|_, list| !list.is_empty());
        let k = limit.reverts.max(1) as usize;
        claims
            .iter()
            .map(|c| {
                let list = self.groups.entry(c.key.clone()).or_default();
                if list.len() >= k {
                    Verdict::Flapping {
                        until: list[list.len() - k]
                            .at
                            .checked_add_signed(per)
                            .unwrap_or(DateTime::<Utc>::MAX_UTC),
                        reverts: list.clone(),
                    }
                } else {
                    list.push(Revert {
                        at: now,
                        actor: c.actor.clone(),
                        trigger: c.trigger.clone(),
                    });
                    Verdict::Granted
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-23T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
            + Duration::minutes(minute)
    }

    fn claim(key: &str, actor: &str) -> Claim {
        Claim {
            key: key.into(),
            actor: Some(actor.into()),
            trigger: "cloudtrail:AuthorizeSecurityGroupIngress".into(),
        }
    }

    const LIMIT: FlapLimit = FlapLimit {
        reverts: 3,
        per_seconds: 3600,
    };

    #[test]
    fn the_fourth_revert_within_the_window_is_refused_and_names_the_actors() {
        let mut l = Ledger::default();
        for (m, who) in [(0, "alice"), (10, "bot"), (20, "bot")] {
            assert_eq!(
                l.admit(at(m), LIMIT, &[claim("us-east-1/sg-1", who)]),
                [Verdict::Granted]
            );
        }
        let v = l.admit(at(30), LIMIT, &[claim("us-east-1/sg-1", "bot")]);
        let Verdict::Flapping { reverts, until } = &v[0] else {
            panic!("{v:?}")
        };
        assert_eq!(reverts.len(), 3);
        assert_eq!(reverts[0].actor.as_deref(), Some("alice"));
        // Free again when the revert at minute 0 leaves the hour.
        assert_eq!(*until, at(60));
        // A refused claim is not recorded.
        assert_eq!(l.groups["us-east-1/sg-1"].len(), 3);
        // Another group has its own budget.
        assert_eq!(
            l.admit(at(30), LIMIT, &[claim("us-east-1/sg-2", "bot")]),
            [Verdict::Granted]
        );
    }

    #[test]
    fn reverts_leave_the_window_and_the_budget_frees() {
        let mut l = Ledger::default();
        for m in [0, 1, 2] {
            l.admit(at(m), LIMIT, &[claim("r/sg-1", "x")]);
        }
        let almost = at(60) - Duration::seconds(1);
        assert!(matches!(
            l.admit(almost, LIMIT, &[claim("r/sg-1", "x")])[0],
            Verdict::Flapping { .. }
        ));
        // At minute 60 the revert of minute 0 is an hour old and out: one slot.
        assert_eq!(
            l.admit(at(60), LIMIT, &[claim("r/sg-1", "x")]),
            [Verdict::Granted]
        );
        assert_eq!(l.groups["r/sg-1"].len(), 3);
        // Everything older than the window is dropped, whole groups included.
        l.admit(at(200), LIMIT, &[claim("r/sg-9", "x")]);
        assert_eq!(l.groups.keys().collect::<Vec<_>>(), ["r/sg-9"]);
    }

    #[test]
    fn entries_dated_in_the_future_hold_a_group_one_window_at_most() {
        let mut l = Ledger::default();
        let year_9999 = DateTime::parse_from_rfc3339("9999-12-31T23:59:59Z")
            .unwrap()
            .with_timezone(&Utc);
        l.groups.insert(
            "r/sg-1".into(),
            (0..3)
                .map(|_| Revert {
                    at: year_9999,
                    actor: None,
                    trigger: "forged".into(),
                })
                .collect(),
        );
        let v = l.admit(at(0), LIMIT, &[claim("r/sg-1", "x")]);
        let Verdict::Flapping { until, .. } = &v[0] else {
            panic!("{v:?}")
        };
        assert_eq!(*until, at(60));
        // One window later the group is free again.
        assert_eq!(
            l.admit(at(60), LIMIT, &[claim("r/sg-1", "x")]),
            [Verdict::Granted]
        );
    }

    #[test]
    fn two_claims_for_one_group_in_one_call_count_twice() {
        let mut l = Ledger::default();
        let one = FlapLimit {
            reverts: 1,
            per_seconds: 600,
        };
        let v = l.admit(at(0), one, &[claim("r/sg-1", "a"), claim("r/sg-1", "b")]);
        assert_eq!(v[0], Verdict::Granted);
        assert!(matches!(v[1], Verdict::Flapping { .. }));
    }

    #[test]
    fn the_ledger_round_trips_as_json_and_reads_an_empty_object() {
        let mut l = Ledger::default();
        l.admit(at(0), LIMIT, &[claim("r/sg-1", "a")]);
        let text = serde_json::to_string(&l).unwrap();
        assert_eq!(serde_json::from_str::<Ledger>(&text).unwrap(), l);
        let empty: Ledger = serde_json::from_str("{}").unwrap();
        assert!(empty.groups.is_empty());
    }
}
