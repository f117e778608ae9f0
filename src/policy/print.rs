//! The policy printed back: the expanded policy as a policy document sgwarden reads back
//! unchanged (`show policy`), and the one YAML emitter of sgwarden (`show`, `export`).
//! Pure: values in, text out.

use serde_json::Value;

use super::schema::{
    AccountsFile, ExceptionFile, FlapLimitFields, FlapLimitFile, FlowLogsFile, GroupFile,
    GuardrailFile, GuardrailModeFile, ModeFile, NotifyFile, OneOrMany, PolicyFile, RuleFile,
    SelectFile, SettingsFile, SeverityFile, StructuredRuleFile, TextOrNumber, UnmanagedFile,
};
use super::{Accounts, Mode, Notify, Policy, UnmanagedGroups};
use crate::guardrail::{Guardrail, GuardrailMode, Severity};
use crate::rule::{DescribedRule, Direction};
use crate::select::{Selector, SelectorSpec};

/// One described rule as policy text: the compact form, or the structured form when it has
/// a description.
fn rule_file(r: &DescribedRule) -> RuleFile {
    let Some(d) = &r.description else {
        return RuleFile::Compact(r.rule.to_string());
    };
    let proto = r.rule.protocol.to_string();
    let (proto, ports) = match proto.split_once('/') {
        Some((p, ports)) => (p.to_string(), Some(TextOrNumber::Text(ports.to_string()))),
        None => (proto, None),
    };
    let peer = Some(OneOrMany::One(r.rule.peer.to_string()));
    let (from, to) = match r.rule.direction {
        Direction::Ingress => (peer, None),
        Direction::Egress => (None, peer),
    };
    RuleFile::Structured(StructuredRuleFile {
        proto: TextOrNumber::Text(proto),
        ports,
        from,
        to,
        description: Some(d.clone()),
    })
}

/// One described rule as a policy value (`show rule`, `export`).
pub fn rule_value(r: &DescribedRule) -> Value {
    file_value(&rule_file(r))
}

/// Account ids as text (quoted when printed: they read back as the same digits).
fn ids(list: &[String]) -> Vec<TextOrNumber> {
    list.iter().map(|a| TextOrNumber::Text(a.clone())).collect()
}

fn mode(m: Mode) -> ModeFile {
    match m {
        Mode::Audit => ModeFile::Audit,
        Mode::AddOnly => ModeFile::AddOnly,
        Mode::Enforce => ModeFile::Enforce,
    }
}

fn settings(p: &Policy) -> SettingsFile {
    let s = &p.settings;
    SettingsFile {
        regions: (!s.regions.is_empty()).then(|| s.regions.clone()),
        default_mode: Some(mode(s.default_mode)),
        unmanaged_groups: Some(match s.unmanaged_groups {
            UnmanagedGroups::Ignore => UnmanagedFile::Ignore,
            UnmanagedGroups::Report => UnmanagedFile::Report,
        }),
        compare_descriptions: Some(s.compare_descriptions),
        max_changes_per_run: Some(s.max_changes_per_run),
        notify: Some(match s.notify {
            Notify::Drift => NotifyFile::Drift,
            Notify::Changes => NotifyFile::Changes,
            Notify::Always => NotifyFile::Always,
        }),
        account: s.account.clone(),
        accounts: s.accounts.as_ref().map(|a| match a {
            Accounts::Organization => AccountsFile::Organization("organization".into()),
            Accounts::List(list) => AccountsFile::List(ids(list)),
        }),
        exclude_accounts: (!s.exclude_accounts.is_empty()).then(|| ids(&s.exclude_accounts)),
        flap_limit: Some(match s.flap_limit {
            Some(l) => FlapLimitFile::Limit(FlapLimitFields {
                reverts: l.reverts,
                per: l.per_text(),
            }),
            None => FlapLimitFile::Off("off".into()),
        }),
        create_missing: s.create_missing.then_some(true),
        flow_logs: s.flow_logs.as_ref().map(|f| FlowLogsFile {
            log_group: f.log_group.clone(),
            look_back: Some(f.look_back_text()),
        }),
    }
}

fn select(s: &SelectorSpec) -> SelectFile {
    let list = |l: &Vec<String>| (!l.is_empty()).then(|| l.clone());
    SelectFile {
        ids: list(&s.ids),
        names: list(&s.names),
        vpcs: list(&s.vpcs),
        regions: list(&s.regions),
        accounts: (!s.accounts.is_empty()).then(|| ids(&s.accounts)),
        tags: (!s.tags.is_empty()).then(|| s.tags.clone()),
        exclude: s.exclude.as_deref().map(|x| Box::new(select(x))),
    }
}

fn selected(s: &Option<Selector>) -> Option<SelectFile> {
    s.as_ref().map(|s| select(s.spec()))
}

fn guardrail(g: &Guardrail) -> GuardrailFile {
    GuardrailFile {
        id: Some(g.id.clone()),
        preset: None,
        severity: Some(match g.severity {
            Severity::Critical => SeverityFile::Critical,
            Severity::High => SeverityFile::High,
            Severity::Medium => SeverityFile::Medium,
            Severity::Low => SeverityFile::Low,
            Severity::Informational => SeverityFile::Informational,
        }),
        mode: Some(match g.mode {
            GuardrailMode::Audit => GuardrailModeFile::Audit,
            GuardrailMode::Enforce => GuardrailModeFile::Enforce,
        }),
        select: selected(&g.select),
        deny: (!g.deny.is_empty()).then(|| g.deny.iter().map(|(t, _)| t.clone()).collect()),
        world_only: g.world_only.as_ref().map(|(texts, _)| texts.clone()),
    }
}

fn group(p: &Policy, g: &super::GroupPolicy) -> GroupFile {
    let rules = |d: Direction| g.rules(d).map(|r| r.iter().map(rule_file).collect());
    GroupFile {
        name: (g.name != g.key && g.select.is_none()).then(|| g.name.clone()),
        id: g.id.clone(),
        select: selected(&g.select),
        priority: (g.priority != 0).then_some(g.priority),
        // Templates are already merged into the rules below.
        include: None,
        vpc: g.vpc.clone(),
        regions: (!g.regions.is_empty()).then(|| g.regions.clone()),
        accounts: (!g.accounts.is_empty()).then(|| ids(&g.accounts)),
        mode: Some(mode(g.mode)),
        // Globals are already merged into the rules below.
        global: Some(false),
        description: g.description.clone(),
        // Each entry's `create` already holds settings.create_missing unless it said
        // otherwise.
        create: (g.create != p.settings.create_missing && g.select.is_none()).then_some(g.create),
        keep_if_traffic: g.keep_if_traffic.then_some(true),
        ingress: rules(Direction::Ingress),
        egress: rules(Direction::Egress),
    }
}

/// The expanded policy as a policy document (version 1) that sgwarden reads back
/// unchanged: every rule atomic, variables and globals expanded.
pub fn policy_value(p: &Policy) -> Value {
    let exceptions: Vec<ExceptionFile> = p
        .exceptions
        .iter()
        .map(|e| ExceptionFile {
            group: e.group.clone(),
            guardrail: e.guardrail.clone(),
            select: selected(&e.select),
            accounts: (!e.accounts.is_empty()).then(|| ids(&e.accounts)),
            rule: e.text.clone(),
            expires: e.expires.to_string(),
            owner: e.owner.clone(),
            reason: e.reason.clone(),
        })
        .collect();
    file_value(&PolicyFile {
        version: 1,
        settings: Some(settings(p)),
        variables: None,
        global: None,
        groups: Some(
            p.groups
                .values()
                .map(|g| (g.key.clone(), Some(group(p, g))))
                .collect(),
        ),
        exceptions: (!exceptions.is_empty()).then_some(exceptions),
        templates: None,
        guardrails: (!p.guardrails.is_empty())
            .then(|| p.guardrails.iter().map(guardrail).collect()),
    })
}

/// A part of the policy file as a value, without the keys it leaves out (`null`).
fn file_value(part: &impl serde::Serialize) -> Value {
    fn prune(v: &mut Value) {
        match v {
            Value::Object(m) => {
                m.retain(|_, x| !x.is_null());
                m.values_mut().for_each(prune);
            }
            Value::Array(a) => a.iter_mut().for_each(prune),
            _ => {}
        }
    }
    let mut v = serde_json::to_value(part).unwrap_or_default();
    prune(&mut v);
    v
}

/// A YAML scalar: plain when that reads back as the same string, else double-quoted.
/// Whatever sgwarden's reader would take as a number, a boolean or null (`0x1F`, `True`,
/// `.inf`, `NULL`, `1e3`) is quoted, and so are the YAML 1.1 words other readers take.
/// The one quoting of sgwarden's YAML: the printed policy, `show`, `export` and imports.
pub(crate) fn scalar(s: &str) -> String {
    let plain = !s.is_empty()
        && !s.starts_with(|c: char| "@*&!|>'\"%`{}[],#?-: ".contains(c))
        && !s.ends_with([' ', ':'])
        && !s.contains(": ")
        && !s.contains(" #")
        && !s.contains(|c: char| c.is_control())
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "yes" | "no" | "on" | "off" | "y" | "n"
        )
        && super::yaml::reads_as_text(s)
        && s.parse::<f64>().is_err();
    if plain { s.to_string() } else { quoted(s) }
}

/// A double-quoted YAML scalar (also for text that must stay a string, like `80` or `8:0`).
pub(crate) fn quoted(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

fn yaml_into(v: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, val) in m {
                out.push_str(&pad);
                out.push_str(&scalar(k));
                out.push(':');
                match val {
                    Value::Object(c) if !c.is_empty() => {
                        out.push('\n');
                        yaml_into(val, indent + 2, out);
                    }
                    Value::Array(c) if !c.is_empty() => {
                        out.push('\n');
                        yaml_into(val, indent + 2, out);
                    }
                    _ => {
                        out.push(' ');
                        yaml_inline(val, out);
                        out.push('\n');
                    }
                }
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for item in items {
                out.push_str(&pad);
                out.push_str("- ");
                match item {
                    Value::Object(c) if !c.is_empty() => {
                        let mut inner = String::new();
                        yaml_into(item, indent + 2, &mut inner);
                        out.push_str(inner.trim_start());
                    }
                    _ => {
                        yaml_inline(item, out);
                        out.push('\n');
                    }
                }
            }
        }
        other => {
            out.push_str(&pad);
            yaml_inline(other, out);
            out.push('\n');
        }
    }
}

fn yaml_inline(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => out.push_str(&scalar(s)),
        Value::Array(a) if a.is_empty() => out.push_str("[]"),
        Value::Object(m) if m.is_empty() => out.push_str("{}"),
        other => out.push_str(&serde_json::to_string(other).unwrap_or_default()),
    }
}

/// Block-style YAML of a JSON value (strings quoted only where YAML needs it).
pub fn to_yaml(v: &Value) -> String {
    let mut out = String::new();
    yaml_into(v, 0, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_printed_policy_reads_back_with_the_same_settings_and_groups() {
        let text = "version: 1
settings:
  regions: [us-east-1]
  default_mode: enforce
  account: \"012345678901\"
  flap_limit: {reverts: 5, per: 30m}
  create_missing: true
  flow_logs: {log_group: /vpc/flows, look_back: 6h}
variables: {office: 203.0.113.0/24}
global: {ingress: [icmp/8 from 10.0.0.0/8]}
groups:
  web: {keep_if_traffic: true, description: Web, ingress: [tcp/22 from @office]}
  db: {create: false, global: false, vpc: vpc-0abc1234, egress: []}
";
        let first = crate::policy::load_str("p.yaml", text).unwrap();
        let printed = to_yaml(&policy_value(&first));
        let again = crate::policy::load_str("printed.yaml", &printed)
            .unwrap_or_else(|e| panic!("{e}: {:?}\n{printed}", e.issues()));
        assert_eq!(again.settings, first.settings, "{printed}");
        // Globals are printed merged into each entry, which then takes none.
        let mut want = first.groups.clone();
        for g in want.values_mut() {
            g.takes_global = false;
        }
        assert_eq!(again.groups, want, "{printed}");
        let off = crate::policy::load_str(
            "p.yaml",
            "version: 1\nsettings: {flap_limit: off}\ngroups: {}\n",
        )
        .unwrap();
        let again = crate::policy::load_str("q.yaml", &to_yaml(&policy_value(&off))).unwrap();
        assert_eq!(again.settings.flap_limit, None);
    }
}
