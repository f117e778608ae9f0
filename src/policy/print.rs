//! The policy printed back: the expanded policy as a policy document sgwarden reads back
//! unchanged (`show policy`), and the one YAML emitter of sgwarden (`show`, `export`).
//! Pure: values in, text out.

use serde_json::{Value, json};

use super::Policy;
use crate::rule::{DescribedRule, Direction};

/// One described rule as policy text: the compact form, or the structured form when it has
/// a description.
pub fn rule_value(r: &DescribedRule) -> Value {
    match &r.description {
        None => Value::String(r.rule.to_string()),
        Some(d) => {
            let proto = r.rule.protocol.to_string();
            let (p, ports) = match proto.split_once('/') {
                Some((p, ports)) => (p.to_string(), Some(ports.to_string())),
                None => (proto, None),
            };
            let mut m = serde_json::Map::new();
            m.insert("proto".into(), Value::String(p));
            if let Some(ports) = ports {
                m.insert("ports".into(), Value::String(ports));
            }
            m.insert(
                r.rule.direction.keyword().into(),
                Value::String(r.rule.peer.to_string()),
            );
            m.insert("description".into(), Value::String(d.clone()));
            Value::Object(m)
        }
    }
}

/// The expanded policy as a policy document (version 1) that sgwarden reads back
/// unchanged: every rule atomic, variables and globals expanded.
pub fn policy_value(p: &Policy) -> Value {
    let s = &p.settings;
    let mut settings = serde_json::Map::new();
    if !s.regions.is_empty() {
        settings.insert("regions".into(), json!(s.regions));
    }
    settings.insert("default_mode".into(), json!(s.default_mode.as_str()));
    settings.insert("unmanaged_groups".into(), json!(s.unmanaged_groups));
    settings.insert("compare_descriptions".into(), json!(s.compare_descriptions));
    settings.insert("max_changes_per_run".into(), json!(s.max_changes_per_run));
    settings.insert("notify".into(), json!(s.notify));
    if let Some(a) = &s.account {
        settings.insert("account".into(), json!(a));
    }
    settings.insert(
        "flap_limit".into(),
        match s.flap_limit {
            Some(l) => json!({"reverts": l.reverts, "per": l.per_text()}),
            None => json!("off"),
        },
    );
    if s.create_missing {
        settings.insert("create_missing".into(), json!(true));
    }
    if let Some(f) = &s.flow_logs {
        settings.insert(
            "flow_logs".into(),
            json!({"log_group": f.log_group, "look_back": f.look_back_text()}),
        );
    }
    let mut groups = serde_json::Map::new();
    for g in p.groups.values() {
        let mut m = serde_json::Map::new();
        if g.name != g.key {
            m.insert("name".into(), json!(g.name));
        }
        if let Some(id) = &g.id {
            m.insert("id".into(), json!(id));
        }
        if let Some(v) = &g.vpc {
            m.insert("vpc".into(), json!(v));
        }
        if !g.regions.is_empty() {
            m.insert("regions".into(), json!(g.regions));
        }
        m.insert("mode".into(), json!(g.mode.as_str()));
        // Globals are already merged into the rules below.
        m.insert("global".into(), json!(false));
        if let Some(d) = &g.description {
            m.insert("description".into(), json!(d));
        }
        // Each entry's `create` already holds settings.create_missing unless it said
        // otherwise.
        if g.create != s.create_missing {
            m.insert("create".into(), json!(g.create));
        }
        if g.keep_if_traffic {
            m.insert("keep_if_traffic".into(), json!(true));
        }
        for direction in Direction::BOTH {
            if let Some(rules) = g.rules(direction) {
                m.insert(
                    direction.as_str().into(),
                    Value::Array(rules.iter().map(rule_value).collect()),
                );
            }
        }
        groups.insert(g.key.clone(), Value::Object(m));
    }
    let exceptions: Vec<Value> = p
        .exceptions
        .iter()
        .map(|e| {
            let mut m = serde_json::Map::new();
            m.insert("group".into(), json!(e.group));
            m.insert("rule".into(), json!(e.text));
            m.insert("expires".into(), json!(e.expires.to_string()));
            m.insert("owner".into(), json!(e.owner));
            if let Some(r) = &e.reason {
                m.insert("reason".into(), json!(r));
            }
            Value::Object(m)
        })
        .collect();
    let mut top = serde_json::Map::new();
    top.insert("version".into(), json!(1));
    top.insert("settings".into(), Value::Object(settings));
    top.insert("groups".into(), Value::Object(groups));
    if !exceptions.is_empty() {
        top.insert("exceptions".into(), Value::Array(exceptions));
    }
    Value::Object(top)
}

/// A YAML scalar: plain when sgwarden's reader reads it back as the same string, else
/// double-quoted.
fn yaml_scalar(s: &str) -> String {
    let plain_ok = !s.is_empty()
        && s.trim() == s
        && !s.starts_with([
            '-', '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%',
            '@', '`',
        ])
        && !s.ends_with(':')
        && !s.contains(": ")
        && !s.contains(" #")
        && s.chars().all(|c| !c.is_control())
        && matches!(crate::policy::yaml::parse(s).map(|n| n.value), Ok(crate::policy::yaml::Value::Str(ref t)) if t == s);
    if plain_ok {
        s.to_string()
    } else {
        serde_json::to_string(s).unwrap_or_default()
    }
}

fn yaml_into(v: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, val) in m {
                out.push_str(&pad);
                out.push_str(&yaml_scalar(k));
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
        Value::String(s) => out.push_str(&yaml_scalar(s)),
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
