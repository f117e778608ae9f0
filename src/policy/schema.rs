//! The policy file's shape, declared once: these types are the policy language's keys.
//! Three things come from them, so they cannot disagree:
//!
//! - the JSON Schema (draft 2020-12) for editor completion (`sgwarden schema`);
//! - the keys the checker knows in each mapping (`keys()`); the checker (`check.rs`)
//!   reads the file itself, so that it can report every problem with its position;
//! - the printed policy (`policy/print.rs` fills a [`PolicyFile`] from the model and
//!   serializes it, so a setting missing from the printer does not compile).
//!
//! A new setting is a field here, its check in `check.rs`, its place in the model, and
//! the line of `print.rs` the compiler then asks for.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A peer, or a list of peers and `@variable` references.
#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// A protocol name or number, or ports given as a number or text.
#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum TextOrNumber {
    Text(String),
    Number(u32),
}

/// sgwarden policy file, version 1.
#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    /// Always 1.
    #[schemars(range(min = 1, max = 1))]
    pub version: u32,
    pub settings: Option<SettingsFile>,
    /// Named peers: `office: [203.0.113.0/24, "@vpn"]`.
    pub variables: Option<BTreeMap<String, OneOrMany>>,
    /// Rules every group entry gets unless it sets `global: false`.
    pub global: Option<RuleSetFile>,
    /// Group entries by policy-local name.
    pub groups: Option<BTreeMap<String, Option<GroupFile>>>,
    /// Time-boxed permissions for extra rules and guardrail violations.
    pub exceptions: Option<Vec<ExceptionFile>>,
    /// Named rule sets a group entry takes with `include:`.
    pub templates: Option<BTreeMap<String, RuleSetFile>>,
    /// Rules that hold on every group they select, whether an entry governs it or not.
    pub guardrails: Option<Vec<GuardrailFile>>,
}

#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ModeFile {
    Audit,
    AddOnly,
    Enforce,
}

#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum UnmanagedFile {
    Ignore,
    Report,
}

#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NotifyFile {
    Drift,
    Changes,
    Always,
}

#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsFile {
    /// Regions where groups are looked for (default: the region the program runs in).
    pub regions: Option<Vec<String>>,
    /// Mode of groups that set none (default: audit).
    pub default_mode: Option<ModeFile>,
    /// `report` lists existing groups no entry matches (default: ignore).
    pub unmanaged_groups: Option<UnmanagedFile>,
    /// Whether a rule description mismatch is drift (default: false).
    pub compare_descriptions: Option<bool>,
    /// Blast-radius guard: a run over this many rule changes changes nothing (default: 50).
    pub max_changes_per_run: Option<u64>,
    /// When a report is published (default: drift).
    pub notify: Option<NotifyFile>,
    /// The 12-digit account the policy is written for: runs against any other account
    /// change nothing and report an error. For one account; `accounts` is for several.
    pub account: Option<String>,
    /// The accounts governed from a hub: `organization` (every ACTIVE account of the
    /// AWS Organization) or a list of 12-digit ids.
    pub accounts: Option<AccountsFile>,
    /// Accounts left out of `accounts`.
    pub exclude_accounts: Option<Vec<TextOrNumber>>,
    /// The loop breaker: a group reverted `reverts` times within `per` is not reverted
    /// again until the window has passed, and is reported as flapping (default:
    /// `{reverts: 3, per: 1h}`; `off` turns it off).
    pub flap_limit: Option<FlapLimitFile>,
    /// Create policy groups that exist nowhere, in add-only and enforce modes (default:
    /// false; a group's own `create` wins).
    pub create_missing: Option<bool>,
    /// The VPC flow logs in CloudWatch Logs: each revoke's change risk (the traffic it
    /// would cut) is read from them and reported, and `keep_if_traffic` groups keep the
    /// extra rules that carried traffic.
    pub flow_logs: Option<FlowLogsFile>,
}

/// `organization`, or a list of account ids.
#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum AccountsFile {
    /// `organization`
    Organization(String),
    List(Vec<TextOrNumber>),
}

#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FlowLogsFile {
    /// The log group the flow logs are delivered to (the same name in every region).
    pub log_group: String,
    /// How far back a run reads: `30m`, `6h`, `1d` (1 minute to 30 days; default 1d).
    pub look_back: Option<String>,
}

#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum FlapLimitFile {
    /// `off`
    Off(String),
    Limit(FlapLimitFields),
}

#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FlapLimitFields {
    /// Reverts allowed within the window (at least 1).
    pub reverts: u32,
    /// The window: `90s`, `30m`, `1h`, `1d` (1 minute to 7 days).
    pub per: String,
}

/// Ingress and egress rules: the `global:` section and each template.
#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleSetFile {
    pub ingress: Option<Vec<RuleFile>>,
    pub egress: Option<Vec<RuleFile>>,
}

/// A rule: compact text (`tcp/443 from 10.0.0.0/8, @office`) or the structured form.
#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum RuleFile {
    Compact(String),
    Structured(StructuredRuleFile),
}

#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StructuredRuleFile {
    /// tcp, udp, icmp, icmpv6, all, or a protocol number 0-255.
    pub proto: TextOrNumber,
    /// `22`, `8000-8100`, `80,443`; for ICMP `8` or `"3:4"`.
    pub ports: Option<TextOrNumber>,
    /// Peers of an ingress rule.
    pub from: Option<OneOrMany>,
    /// Peers of an egress rule.
    pub to: Option<OneOrMany>,
    pub description: Option<String>,
}

#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupFile {
    /// The EC2 GroupName, when it differs from the key.
    pub name: Option<String>,
    /// Match by id instead of name.
    pub id: Option<String>,
    /// Govern every live group this selects, instead of one by name or id.
    pub select: Option<SelectFile>,
    /// Of several `select` entries taking one group, the highest priority governs it
    /// (default 0); an `id` or `name` entry always comes first.
    pub priority: Option<i64>,
    /// Templates whose rules this entry takes, as if written here.
    pub include: Option<Vec<String>>,
    /// Only groups in this VPC.
    pub vpc: Option<String>,
    /// Only these regions (a subset of settings.regions).
    pub regions: Option<Vec<String>>,
    /// Only these accounts (of settings.accounts).
    pub accounts: Option<Vec<TextOrNumber>>,
    pub mode: Option<ModeFile>,
    /// `false` opts out of the global rules.
    pub global: Option<bool>,
    /// The GroupDescription (used only to create).
    pub description: Option<String>,
    /// Create the group when it exists nowhere, in add-only and enforce modes (default:
    /// settings.create_missing). sgwarden never deletes a group.
    pub create: Option<bool>,
    /// Hold the revoke of an extra rule that carried traffic within
    /// settings.flow_logs.look_back that no remaining rule allows (default: false).
    pub keep_if_traffic: Option<bool>,
    /// Absent: ingress is not compared. `[]`: the group must have no ingress rules.
    pub ingress: Option<Vec<RuleFile>>,
    /// Absent: egress is not compared. `[]`: the group must have no egress rules.
    pub egress: Option<Vec<RuleFile>>,
}

#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExceptionFile {
    /// A key under `groups`: the groups that entry governs.
    pub group: Option<String>,
    /// A guardrail id: the exception excuses that guardrail's violations instead of
    /// extra rules.
    pub guardrail: Option<String>,
    /// With `guardrail`, instead of `group`: the groups it holds in.
    pub select: Option<SelectFile>,
    /// Only in these accounts.
    pub accounts: Option<Vec<TextOrNumber>>,
    /// A compact rule; its keyword (from/to) gives the direction. With `guardrail`, a
    /// pattern whose peer may also be `world` or `any`.
    pub rule: String,
    /// Last day (UTC, YYYY-MM-DD) on which it holds.
    pub expires: String,
    pub owner: String,
    pub reason: Option<String>,
}

/// Which live groups: every listed dimension must match, any item of a list may.
#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SelectFile {
    pub ids: Option<Vec<String>>,
    /// Shell globs over the whole GroupName, case-sensitive: `web-*`, `api-?`.
    pub names: Option<Vec<String>>,
    pub vpcs: Option<Vec<String>>,
    pub regions: Option<Vec<String>>,
    pub accounts: Option<Vec<TextOrNumber>>,
    /// Every tag listed must match; a value is a glob, `"*"`: present with any value.
    pub tags: Option<BTreeMap<String, String>>,
    /// Groups this matches are not selected (exclusion wins).
    pub exclude: Option<Box<SelectFile>>,
}

#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SeverityFile {
    Critical,
    High,
    Medium,
    Low,
    Informational,
}

#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum GuardrailModeFile {
    Audit,
    Enforce,
}

/// A guardrail: deny patterns or a `world_only` list, or a built-in `preset`.
#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GuardrailFile {
    /// Unique, `[a-z0-9-]+` (default with `preset`: the preset's name).
    pub id: Option<String>,
    /// A built-in guardrail: world-admin-ports, world-high-risk-ports, default-group-closed.
    pub preset: Option<String>,
    /// Default: high (a preset's own).
    pub severity: Option<SeverityFile>,
    /// `audit` reports (default); `enforce` also revokes the violating rules.
    pub mode: Option<GuardrailModeFile>,
    /// The groups it holds in (default: every group of the governed regions).
    pub select: Option<SelectFile>,
    /// Compact rules whose peer may be `world` or `any`: `tcp/22,3389 from world`.
    pub deny: Option<Vec<String>>,
    /// The only tcp/udp ports that may be open to the world: `[tcp/443, tcp/80]`.
    pub world_only: Option<Vec<String>>,
}

/// The JSON Schema of a policy file.
fn schema() -> serde_json::Value {
    schemars::schema_for!(PolicyFile).to_value()
}

/// The JSON Schema of a policy file, pretty-printed.
pub fn json_schema() -> String {
    serde_json::to_string_pretty(&schema()).unwrap_or_default()
}

/// The keys of each mapping of a policy file, as [`PolicyFile`] and its parts declare them.
pub(crate) struct Keys {
    pub top: Vec<String>,
    pub settings: Vec<String>,
    pub flap_limit: Vec<String>,
    pub flow_logs: Vec<String>,
    pub rule_set: Vec<String>,
    pub group: Vec<String>,
    pub rule: Vec<String>,
    pub exception: Vec<String>,
    pub select: Vec<String>,
    pub guardrail: Vec<String>,
}

/// The keys the checker knows, read once from the schema of the types above.
pub(crate) fn keys() -> &'static Keys {
    static KEYS: LazyLock<Keys> = LazyLock::new(|| {
        let schema = schema();
        let of = |v: &serde_json::Value| -> Vec<String> {
            v["properties"]
                .as_object()
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default()
        };
        let def = |name: &str| of(&schema["$defs"][name]);
        Keys {
            top: of(&schema),
            settings: def("SettingsFile"),
            flap_limit: def("FlapLimitFields"),
            flow_logs: def("FlowLogsFile"),
            rule_set: def("RuleSetFile"),
            group: def("GroupFile"),
            rule: def("StructuredRuleFile"),
            exception: def("ExceptionFile"),
            select: def("SelectFile"),
            guardrail: def("GuardrailFile"),
        }
    });
    &KEYS
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    #[test]
    fn the_schema_is_draft_2020_12_and_closed() {
        let schema: Value = serde_json::from_str(&super::json_schema()).unwrap();
        assert_eq!(
            schema["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        assert_eq!(schema["$defs"]["GroupFile"]["additionalProperties"], false);
    }

    #[test]
    fn every_mapping_has_its_keys() {
        let k = super::keys();
        for (name, list, one) in [
            ("top", &k.top, "groups"),
            ("settings", &k.settings, "flap_limit"),
            ("flap_limit", &k.flap_limit, "per"),
            ("flow_logs", &k.flow_logs, "look_back"),
            ("rule_set", &k.rule_set, "egress"),
            ("group", &k.group, "keep_if_traffic"),
            ("rule", &k.rule, "proto"),
            ("exception", &k.exception, "expires"),
            ("select", &k.select, "exclude"),
            ("guardrail", &k.guardrail, "world_only"),
        ] {
            assert!(list.iter().any(|x| x == one), "{name}: {list:?}");
        }
        assert_eq!(k.top.len(), 8);
        assert_eq!(k.settings.len(), 12);
    }
}
