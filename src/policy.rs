//! The policy: loaded from one or more YAML/JSON documents, checked, and expanded into the
//! desired atomic rules of each group entry (policy-language.md).
//!
//! `load` is pure: it takes the documents' text and names and does no I/O; reading files
//! or S3 objects is the policy source's job. Variables, global rules and duplicates are
//! resolved here; `self` and `sg:NAME` stay symbolic until a live group is known (drift).

mod check;
pub(crate) use check::{is_region, parse_window};
pub mod error;
pub mod print;
pub mod schema;
pub mod yaml;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;
use sha2::{Digest, Sha256};

pub use error::{Issue, PolicyError};

use crate::guardrail::{Guardrail, Pattern};
use crate::rule::{Direction, Rule};
use crate::select::Selector;

/// How a group is kept in line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Report drift; change nothing.
    Audit,
    /// Authorize missing rules; report extra rules but never revoke them.
    AddOnly,
    /// Authorize missing rules, then revoke extra rules.
    Enforce,
}

impl Mode {
    /// Every mode, in the order the policy language lists them.
    pub const ALL: [Mode; 3] = [Mode::Audit, Mode::AddOnly, Mode::Enforce];

    /// The name the policy and the report use.
    pub const fn as_str(self) -> &'static str {
        match self {
            Mode::Audit => "audit",
            Mode::AddOnly => "add-only",
            Mode::Enforce => "enforce",
        }
    }
}

/// What to do with existing groups that no policy entry matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UnmanagedGroups {
    Ignore,
    Report,
}

/// When a report is published.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Notify {
    Drift,
    Changes,
    Always,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Settings {
    /// Regions where groups are looked for; empty means the region the program runs in.
    pub regions: Vec<String>,
    pub default_mode: Mode,
    pub unmanaged_groups: UnmanagedGroups,
    pub compare_descriptions: bool,
    pub max_changes_per_run: u64,
    pub notify: Notify,
    /// The account the policy is written for (12 digits): groups of any other account are
    /// neither checked nor changed.
    pub account: Option<String>,
    /// The accounts a hub governs; `None`: one account (the one it runs in).
    pub accounts: Option<Accounts>,
    /// Accounts left out of `accounts`.
    pub exclude_accounts: Vec<String>,
    /// The per-group revert budget (the loop breaker); `None` when turned off.
    pub flap_limit: Option<FlapLimit>,
    /// Create policy groups that exist nowhere (add-only and enforce modes only).
    pub create_missing: bool,
    /// Where the VPC flow logs are, for the change risk of revokes; `None`: not read.
    pub flow_logs: Option<FlowLogs>,
}

/// `settings.flow_logs`: the CloudWatch Logs group the VPC flow logs are delivered to (the
/// same name in every governed region) and how far back a run reads them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FlowLogs {
    pub log_group: String,
    pub look_back_seconds: u64,
}

impl FlowLogs {
    /// The default window: one day, as pysec-aws's `--look-back 1`.
    pub const DEFAULT_LOOK_BACK: u64 = 86_400;

    /// The window as written in policies.
    pub fn look_back_text(&self) -> String {
        window_text(self.look_back_seconds)
    }
}

/// Seconds as written in policies (`1h`, `30m`, `90s`, `1d`): the largest whole unit.
pub fn window_text(s: u64) -> String {
    match s {
        _ if s.is_multiple_of(86_400) => format!("{}d", s / 86_400),
        _ if s.is_multiple_of(3600) => format!("{}h", s / 3600),
        _ if s.is_multiple_of(60) => format!("{}m", s / 60),
        _ => format!("{s}s"),
    }
}

/// `settings.flap_limit`: a group reverted `reverts` times within `per_seconds` is not
/// reverted again until the oldest of those reverts is older than the window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct FlapLimit {
    pub reverts: u32,
    pub per_seconds: u64,
}

impl FlapLimit {
    /// The default: three reverts an hour.
    pub const DEFAULT: FlapLimit = FlapLimit {
        reverts: 3,
        per_seconds: 3600,
    };

    /// The window as written in policies (`1h`, `30m`, `90s`, `1d`).
    pub fn per_text(&self) -> String {
        window_text(self.per_seconds)
    }
}

/// `settings.accounts`: which accounts a hub deployment governs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Accounts {
    /// Every ACTIVE account of the AWS Organization.
    Organization,
    /// These accounts.
    List(Vec<String>),
}

impl Settings {
    /// Whether a run in `account` is governed: any account of a single-account policy
    /// (`settings.account` guards that one apart), else one of `accounts` (any member, for
    /// `organization`) not in `exclude_accounts`.
    pub fn governs_account(&self, account: &str) -> bool {
        let excluded = self.exclude_accounts.iter().any(|a| a == account);
        match &self.accounts {
            None => true,
            Some(Accounts::Organization) => !excluded,
            Some(Accounts::List(list)) => !excluded && list.iter().any(|a| a == account),
        }
    }

    /// The accounts a run governs, sorted: `settings.accounts` less `exclude_accounts`.
    /// `active` are the organization's ACTIVE accounts (read only for `organization`);
    /// `hub` is the account the hub runs in, governed only when a list names it.
    /// `None` for a single-account policy.
    pub fn governed_accounts(&self, active: &[String], hub: &str) -> Option<Vec<String>> {
        let mut out: Vec<String> = match self.accounts.as_ref()? {
            Accounts::Organization => active.iter().filter(|a| *a != hub).cloned().collect(),
            Accounts::List(list) => list.clone(),
        };
        out.retain(|a| !self.exclude_accounts.contains(a));
        out.sort();
        out.dedup();
        Some(out)
    }
}

/// A region asked for that the policy does not govern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UngovernedRegion {
    pub region: String,
    /// The regions the policy does govern.
    pub governed: Vec<String>,
}

impl Settings {
    /// The regions a run governs, sorted: `settings.regions`, or `home` (the region the
    /// program runs in) when none are listed; narrowed to `narrow` when it names any. A
    /// region of `narrow` that is not governed is an error. The one place this is decided,
    /// for the Lambda and every CLI command alike.
    pub fn governed_regions(
        &self,
        home: &str,
        narrow: &[String],
    ) -> Result<Vec<String>, UngovernedRegion> {
        let mut all = if self.regions.is_empty() {
            vec![home.to_string()]
        } else {
            self.regions.clone()
        };
        if let Some(bad) = narrow.iter().find(|r| !all.contains(r)) {
            return Err(UngovernedRegion {
                region: bad.clone(),
                governed: all,
            });
        }
        if !narrow.is_empty() {
            all.retain(|r| narrow.contains(r));
        }
        all.sort();
        Ok(all)
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            regions: Vec::new(),
            default_mode: Mode::Audit,
            unmanaged_groups: UnmanagedGroups::Ignore,
            compare_descriptions: false,
            max_changes_per_run: 50,
            notify: Notify::Drift,
            account: None,
            accounts: None,
            exclude_accounts: Vec::new(),
            flap_limit: Some(FlapLimit::DEFAULT),
            create_missing: false,
            flow_logs: None,
        }
    }
}

/// A desired atomic rule and its description.
pub type DesiredRule = crate::rule::DescribedRule;

/// One entry of `groups`, with global rules merged in and duplicates collapsed.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupPolicy {
    /// The policy-local name (the key under `groups`).
    pub key: String,
    /// The EC2 GroupName it matches (defaults to the key; unused with `select`).
    pub name: String,
    pub id: Option<String>,
    /// Governs every live group this takes, instead of one by name or id.
    pub select: Option<Selector>,
    /// Among `select` entries taking one group, the highest governs it.
    pub priority: i64,
    pub vpc: Option<String>,
    /// Narrowing to these regions; empty means every governed region.
    pub regions: Vec<String>,
    /// Narrowing to these accounts; empty means every governed account.
    pub accounts: Vec<String>,
    pub mode: Mode,
    pub takes_global: bool,
    pub description: Option<String>,
    /// Create the group when it exists nowhere (add-only and enforce modes only).
    pub create: bool,
    /// Hold the revoke of an extra rule that carried traffic in the flow-log window.
    pub keep_if_traffic: bool,
    /// `None`: the direction is not managed. Sorted, without duplicates.
    pub ingress: Option<Vec<DesiredRule>>,
    pub egress: Option<Vec<DesiredRule>>,
}

impl GroupPolicy {
    pub fn rules(&self, direction: Direction) -> Option<&[DesiredRule]> {
        match direction {
            Direction::Ingress => self.ingress.as_deref(),
            Direction::Egress => self.egress.as_deref(),
        }
    }

    /// The GroupDescription a new group gets: the policy's, else "NAME (managed by
    /// sgwarden)" (EC2 requires one).
    pub fn creation_description(&self) -> String {
        self.description
            .clone()
            .unwrap_or_else(|| format!("{} (managed by sgwarden)", self.name))
    }
}

/// A time-boxed permission: for extra rules in the groups of one entry, or for one
/// guardrail's violations in some groups.
#[derive(Clone, Debug, PartialEq)]
pub struct Exception {
    /// The policy group key: the groups that entry governs.
    pub group: Option<String>,
    /// The guardrail whose violations it excuses; `None`: it excuses extra rules.
    pub guardrail: Option<String>,
    /// With a guardrail, instead of `group`: the groups it holds in.
    pub select: Option<Selector>,
    /// Only in these accounts; empty: in every account.
    pub accounts: Vec<String>,
    /// The rule text as written.
    pub text: String,
    /// The atomic rules it covers (peers may still be `self`/`sg:NAME`); none for a
    /// guardrail's exception.
    pub rules: Vec<Rule>,
    /// A guardrail's exception: the patterns of the violations it excuses.
    pub patterns: Vec<Pattern>,
    /// Last day (UTC) on which it holds.
    pub expires: NaiveDate,
    pub owner: String,
    pub reason: Option<String>,
}

impl Exception {
    /// Whether it holds in an account.
    pub fn holds_in(&self, account: &str) -> bool {
        self.accounts.is_empty() || self.accounts.iter().any(|a| a == account)
    }

    /// True while the exception holds: through the whole UTC day of `expires`.
    pub fn is_active(&self, today: NaiveDate) -> bool {
        today <= self.expires
    }
}

/// Where one policy document came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Provenance {
    pub location: String,
    pub sha256: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
}

/// One policy document to load: its text and where it came from.
#[derive(Clone, Debug)]
pub struct Document {
    pub location: String,
    pub text: String,
    pub version_id: Option<String>,
    pub etag: Option<String>,
}

impl Document {
    pub fn new(location: impl Into<String>, text: impl Into<String>) -> Self {
        Document {
            location: location.into(),
            text: text.into(),
            version_id: None,
            etag: None,
        }
    }

    /// A document from bytes read elsewhere (a file, an S3 object): UTF-8, a leading byte
    /// order mark dropped. Bytes that are not UTF-8 are a problem at their position.
    pub fn from_bytes(location: impl Into<String>, bytes: Vec<u8>) -> Result<Self, PolicyError> {
        let location = location.into();
        match yaml::decode(bytes) {
            Ok(text) => Ok(Document::new(location, text)),
            Err(e) => Err(PolicyError::Invalid(vec![Issue {
                file: location,
                line: Some(e.line),
                column: Some(e.col),
                path: String::new(),
                message: e.message,
                help: Some("policy files are UTF-8 text".into()),
            }])),
        }
    }

    pub fn provenance(&self) -> Provenance {
        Provenance {
            location: self.location.clone(),
            sha256: sha256_hex(self.text.as_bytes()),
            version_id: self.version_id.clone(),
            etag: self.etag.clone(),
        }
    }
}

/// Lower-case hex SHA-256 of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().fold(String::with_capacity(64), |mut s, b| {
        use std::fmt::Write;
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// A checked, expanded policy.
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    pub settings: Settings,
    /// Entries by key, in key order.
    pub groups: BTreeMap<String, GroupPolicy>,
    pub exceptions: Vec<Exception>,
    /// In the order written.
    pub guardrails: Vec<Guardrail>,
    /// Every document, in the order given.
    pub files: Vec<Provenance>,
    /// The policy as a whole: its location and a digest over all its documents.
    pub source: Provenance,
}

/// Checks and expands policy documents (already read) into a [`Policy`].
///
/// `location` names the whole policy (the file, directory or S3 prefix it was read from).
/// Every problem of every document is reported together in [`PolicyError::Invalid`].
pub fn load(location: &str, documents: &[Document]) -> Result<Policy, PolicyError> {
    expand(location, documents, &parse(documents))
}

/// Documents read into positioned trees, before any check (see [`parse`] and [`expand`]).
pub struct Parsed {
    trees: Vec<(String, yaml::Node)>,
    issues: Vec<Issue>,
    files: Vec<Provenance>,
}

/// The first half of [`load`]: reads each document as YAML (or JSON).
pub fn parse(documents: &[Document]) -> Parsed {
    let (trees, issues) = check::parse(documents);
    let files = documents.iter().map(Document::provenance).collect();
    Parsed {
        trees,
        issues,
        files,
    }
}

/// The second half of [`load`]: checks the parsed documents and expands variables,
/// global rules and duplicates into each entry's desired atomic rules.
pub fn expand(
    location: &str,
    documents: &[Document],
    parsed: &Parsed,
) -> Result<Policy, PolicyError> {
    if documents.is_empty() {
        return Err(PolicyError::NoFiles {
            location: location.to_string(),
        });
    }
    let mut policy = check::check(&parsed.trees, &parsed.issues).map_err(PolicyError::Invalid)?;
    let files = parsed.files.clone();
    let source = if let [only] = files.as_slice() {
        Provenance {
            location: location.to_string(),
            ..only.clone()
        }
    } else {
        let mut all = String::new();
        for f in &files {
            all.push_str(&f.location);
            all.push(' ');
            all.push_str(&f.sha256);
            all.push('\n');
        }
        Provenance {
            location: location.to_string(),
            sha256: sha256_hex(all.as_bytes()),
            version_id: None,
            etag: None,
        }
    };
    policy.files = files;
    policy.source = source;
    Ok(policy)
}

/// Loads a single document; a convenience for tests and tools.
pub fn load_str(location: &str, text: &str) -> Result<Policy, PolicyError> {
    load(location, &[Document::new(location, text)])
}
