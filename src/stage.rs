//! The stages of a run, as errors name them: one enum, so the report's `stage`, the
//! Lambda `errorType` and the docs' list of stages cannot drift apart.

use serde::Serialize;

/// Where in the run an error arose. The JSON report writes it in lower case
/// (`"inventory"`); docs/operations.md lists every one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// The trigger: an event for a region the policy does not govern.
    Event,
    /// Loading or checking the policy, and entries that match one group twice.
    Policy,
    /// Reading the live groups of a region, or a group that cannot be read.
    Inventory,
    /// Creating a missing group (`create: true`).
    Create,
    /// Reading the VPC flow logs for the change risk of revokes.
    Flows,
    /// Reading or writing the revert ledger (the loop breaker).
    Budget,
    /// A write to a group.
    Apply,
    /// Reading the groups back after the writes.
    Verify,
    /// Importing the run's findings into Security Hub (never holds back a revert).
    Findings,
    /// Storing the full report in the report bucket (the alert still goes out).
    Report,
    /// Publishing the report.
    Notify,
}

impl Stage {
    /// Every stage, in run order.
    pub const ALL: [Stage; 11] = [
        Stage::Event,
        Stage::Policy,
        Stage::Inventory,
        Stage::Create,
        Stage::Flows,
        Stage::Budget,
        Stage::Apply,
        Stage::Verify,
        Stage::Findings,
        Stage::Report,
        Stage::Notify,
    ];

    /// The name the JSON report and the messages use.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Event => "event",
            Stage::Policy => "policy",
            Stage::Inventory => "inventory",
            Stage::Create => "create",
            Stage::Flows => "flows",
            Stage::Budget => "budget",
            Stage::Apply => "apply",
            Stage::Verify => "verify",
            Stage::Findings => "findings",
            Stage::Report => "report",
            Stage::Notify => "notify",
        }
    }

    /// The Lambda `errorType` of a run whose first error is of this stage. Exhaustive: a
    /// new stage must say which it is.
    pub fn error_type(self) -> &'static str {
        match self {
            Stage::Event => "EventRejected",
            Stage::Policy => "PolicyInvalid",
            Stage::Inventory | Stage::Flows | Stage::Verify => "AwsUnavailable",
            Stage::Create | Stage::Apply => "ApplyFailed",
            Stage::Budget => "BudgetUnavailable",
            Stage::Findings => "FindingsFailed",
            Stage::Report | Stage::Notify => "NotifyFailed",
        }
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_json_names_and_every_stage_has_an_error_type() {
        for s in Stage::ALL {
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                serde_json::json!(s.as_str())
            );
            assert!(!s.error_type().is_empty());
        }
        assert_eq!(Stage::Flows.error_type(), "AwsUnavailable");
        assert_eq!(Stage::Create.error_type(), "ApplyFailed");
    }
}
