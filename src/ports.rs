//! The ports: small traits the enforcer runs against, one per outside service. They speak
//! domain types only; adapters (the AWS SDK, files, memory) implement them and turn each
//! service's errors into these enums.

use std::future::Future;

use crate::inventory::{CurrentGroup, Inventory};
use crate::place::Place;
use crate::policy::{Policy, PolicyError};
use crate::report::Report;
use crate::rule::{DescribedRule, Direction, Rule};

/// One live group, by place and id.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GroupRef {
    pub place: Place,
    pub group_id: String,
}

impl GroupRef {
    /// Whether this is the live group `g`.
    pub fn is(&self, g: &CurrentGroup) -> bool {
        self.place == g.place && self.group_id == g.group_id
    }
}

/// What an EC2 call can come back with.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Ec2Error {
    /// `InvalidPermission.Duplicate`: a rule of an authorize batch is already there (EC2
    /// rejects the whole batch).
    #[error("a rule is already present (InvalidPermission.Duplicate)")]
    AlreadyPresent,
    /// `InvalidPermission.NotFound` or `InvalidSecurityGroupRuleId.NotFound`: a rule of a
    /// revoke or description batch is not there.
    #[error("a rule is not present ({code})")]
    NotFound { code: String },
    /// The group itself is gone (deleted during the run).
    #[error("the group no longer exists ({code})")]
    GroupNotFound { code: String },
    /// Anything else, with the service's code and message.
    #[error("{operation} failed: {code}: {message}")]
    Api {
        operation: String,
        code: String,
        message: String,
    },
}

impl Ec2Error {
    pub fn api(operation: &str, code: &str, message: &str) -> Self {
        Ec2Error::Api {
            operation: operation.to_string(),
            code: code.to_string(),
            message: message.to_string(),
        }
    }

    /// The AWS error code, for the report.
    pub fn code(&self) -> &str {
        match self {
            Ec2Error::AlreadyPresent => "InvalidPermission.Duplicate",
            Ec2Error::NotFound { code } | Ec2Error::GroupNotFound { code } => code,
            Ec2Error::Api { code, .. } => code,
        }
    }
}

/// A network interface and what flow-log matching needs of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    pub id: String,
    /// The groups attached to it.
    pub group_ids: Vec<String>,
    /// Its private IPv4 and IPv6 addresses.
    pub addresses: Vec<std::net::IpAddr>,
}

/// Reading and writing security groups.
pub trait Ec2: Sync {
    /// The network interfaces the groups are attached to (for flow logs). The default
    /// knows none.
    fn interfaces(
        &self,
        _place: &Place,
        _group_ids: &[String],
    ) -> impl Future<Output = Result<Vec<Interface>, Ec2Error>> + Send {
        async { Ok(Vec::new()) }
    }

    /// The groups of a place (all of them, or only `group_ids`), split into atomic rules.
    fn describe(
        &self,
        place: &Place,
        group_ids: Option<&[String]>,
    ) -> impl Future<Output = Result<Inventory, Ec2Error>> + Send;

    /// The groups of a place named `names` (EC2 `GroupName`), in any VPC. The default
    /// reads the whole place and keeps those; adapters filter at the source.
    fn describe_named(
        &self,
        place: &Place,
        names: &[String],
    ) -> impl Future<Output = Result<Inventory, Ec2Error>> + Send {
        async move {
            let mut inv = self.describe(place, None).await?;
            inv.groups.retain(|g| names.contains(&g.group_name));
            let kept: Vec<&str> = inv.groups.iter().map(|g| g.group_id.as_str()).collect();
            inv.unreadable
                .retain(|u| kept.contains(&u.group_id.as_str()));
            Ok(inv)
        }
    }

    /// Creates a group (EC2's default VPC when `vpc` is `None`) and returns its id. EC2
    /// gives a new VPC group its default `all to 0.0.0.0/0` egress rule. The default
    /// refuses: an adapter that cannot create groups never does.
    fn create_group(
        &self,
        _place: &Place,
        _name: &str,
        _description: &str,
        _vpc: Option<&str>,
    ) -> impl Future<Output = Result<String, Ec2Error>> + Send {
        async {
            Err(Ec2Error::api(
                "CreateSecurityGroup",
                "Unsupported",
                "this EC2 adapter cannot create groups",
            ))
        }
    }

    /// Authorizes rules in one call for one group and direction.
    fn authorize(
        &self,
        group: &GroupRef,
        direction: Direction,
        rules: &[DescribedRule],
    ) -> impl Future<Output = Result<(), Ec2Error>> + Send;

    /// Revokes rules in one call for one group and direction.
    fn revoke(
        &self,
        group: &GroupRef,
        direction: Direction,
        rules: &[Rule],
    ) -> impl Future<Output = Result<(), Ec2Error>> + Send;

    /// Sets the descriptions of existing rules in one call for one group and direction.
    fn update_descriptions(
        &self,
        group: &GroupRef,
        direction: Direction,
        rules: &[DescribedRule],
    ) -> impl Future<Output = Result<(), Ec2Error>> + Send;
}

/// Why the policy could not be had.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error("cannot read policy `{location}`: {message}")]
    Unavailable { location: String, message: String },
}

/// Where the policy comes from (a file, a directory, S3).
pub trait PolicySource: Sync {
    fn load(&self) -> impl Future<Output = Result<Policy, SourceError>> + Send;
}

/// Why a report could not be published.
#[derive(Debug, thiserror::Error)]
#[error("cannot publish the report: {message}")]
pub struct NotifyError {
    pub message: String,
}

/// Where reports go (SNS, the log).
pub trait Notifier: Sync {
    fn publish(&self, report: &Report) -> impl Future<Output = Result<(), NotifyError>> + Send;
}

/// Why the revert budget could not be consulted.
#[derive(Debug, thiserror::Error)]
#[error("cannot keep the revert budget in `{location}`: {message}")]
pub struct LedgerError {
    pub location: String,
    pub message: String,
}

/// Where the per-group revert budget is kept (`settings.flap_limit`).
pub trait RevertLedger: Sync {
    /// Answers each claim (one per group about to be written to) and records the granted
    /// ones, atomically with respect to other runs sharing the ledger.
    fn reserve(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        limit: crate::policy::FlapLimit,
        claims: &[crate::budget::Claim],
    ) -> impl Future<Output = Result<Vec<crate::budget::Verdict>, LedgerError>> + Send;
}

/// Why flow-log records could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot read flow logs `{log_group}`: {message}")]
pub struct FlowError {
    pub log_group: String,
    pub message: String,
}

/// VPC flow-log records of a time window (CloudWatch Logs).
pub trait FlowSource: Sync {
    /// Why this source reads no records at all (a plan from snapshots), if so: the run
    /// then reports each revoke's traffic as unknown, for that reason.
    fn unavailable(&self) -> Option<&str> {
        None
    }

    /// The records of `log_group` in `place` from `start` to `end` on the interfaces
    /// given, parsed and selected by sgwarden itself.
    fn records(
        &self,
        place: &Place,
        log_group: &str,
        start: chrono::DateTime<chrono::Utc>,
        end: chrono::DateTime<chrono::Utc>,
        interfaces: &[String],
    ) -> impl Future<Output = Result<Vec<crate::flows::FlowRecord>, FlowError>> + Send;
}

/// No flow logs: where a run has none to read (a plan from snapshots, tests).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoFlows;

impl FlowSource for NoFlows {
    fn unavailable(&self) -> Option<&str> {
        Some("a plan from snapshots reads no flow logs")
    }

    async fn records(
        &self,
        _: &Place,
        log_group: &str,
        _: chrono::DateTime<chrono::Utc>,
        _: chrono::DateTime<chrono::Utc>,
        _: &[String],
    ) -> Result<Vec<crate::flows::FlowRecord>, FlowError> {
        Err(FlowError {
            log_group: log_group.to_string(),
            message: "no flow logs are read here".into(),
        })
    }
}

/// Why the planner could not list the accounts or queue the work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{operation}: {message}")]
pub struct WorkError {
    pub operation: &'static str,
    pub message: String,
}

/// A hub deployment's planner side: the organization's accounts and the work queue.
pub trait WorkQueue: Sync {
    /// The ACTIVE accounts of the AWS Organization (every page).
    fn active_accounts(&self) -> impl Future<Output = Result<Vec<String>, WorkError>> + Send;

    /// Puts the messages on the work queue ([`crate::work::BATCH`] a call); any message
    /// the queue refuses is an error (the sweep is then incomplete, and says so).
    fn send(&self, bodies: &[String]) -> impl Future<Output = Result<(), WorkError>> + Send;
}

/// Why Security Hub findings could not be read or imported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{operation} in {place}: {message}")]
pub struct FindingsError {
    pub operation: &'static str,
    pub place: Place,
    pub message: String,
}

/// The active sgwarden findings of a scope, and whether that is all of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Active {
    pub findings: Vec<crate::findings::Existing>,
    /// False past [`crate::findings::ACTIVE_LIMIT`]: the run then resolves none.
    pub complete: bool,
}

/// Where findings go (AWS Security Hub, in the account the findings belong to).
pub trait FindingSink: Sync {
    /// Whether findings are imported at all (`SGWARDEN_SECURITY_HUB`).
    fn enabled(&self) -> bool {
        true
    }

    /// The active sgwarden findings in `scope` (of its place, of its groups when it
    /// names them).
    fn active(
        &self,
        scope: &crate::findings::Scope,
    ) -> impl Future<Output = Result<Active, FindingsError>> + Send;

    /// Imports (creates or updates by id) findings of one place, [`crate::findings::BATCH`]
    /// a call; the findings Security Hub refuses are an error naming them.
    fn import(
        &self,
        place: &Place,
        findings: &[crate::findings::Finding],
    ) -> impl Future<Output = Result<(), FindingsError>> + Send;
}

/// No Security Hub: findings are not imported.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoFindings;

impl FindingSink for NoFindings {
    fn enabled(&self) -> bool {
        false
    }

    async fn active(&self, _: &crate::findings::Scope) -> Result<Active, FindingsError> {
        Ok(Active::default())
    }

    async fn import(&self, _: &Place, _: &[crate::findings::Finding]) -> Result<(), FindingsError> {
        Ok(())
    }
}
