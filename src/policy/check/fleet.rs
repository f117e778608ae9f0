//! The checks of the policy's fleet parts: selectors, templates and guardrails, and the
//! conflicts between a guardrail and the rules an entry wants that the policy alone shows.

use std::collections::BTreeMap;

use super::{At, Ctx, Global, Vars, check_regions, check_rule_set, is_aws_id, join};
use crate::guardrail::{self, Guardrail, GuardrailMode, PRESETS, Severity};
use crate::limits;
use crate::policy::schema::keys;
use crate::policy::yaml::Value;
use crate::policy::{Exception, GroupPolicy};
use crate::rule::{self, Direction, Protocol};
use crate::select::{Selector, SelectorSpec};
use crate::suggest;

const SEVERITIES: [(&str, Severity); 5] = [
    (Severity::ALL[0].as_str(), Severity::ALL[0]),
    (Severity::ALL[1].as_str(), Severity::ALL[1]),
    (Severity::ALL[2].as_str(), Severity::ALL[2]),
    (Severity::ALL[3].as_str(), Severity::ALL[3]),
    (Severity::ALL[4].as_str(), Severity::ALL[4]),
];

const GUARDRAIL_MODES: [(&str, GuardrailMode); 2] = [
    ("audit", GuardrailMode::Audit),
    ("enforce", GuardrailMode::Enforce),
];

/// A list of strings (a single string counts as a list of one).
fn strings<'a>(ctx: &mut Ctx, at: At<'a>, path: &str) -> Vec<(String, At<'a>)> {
    let items: Vec<&_> = match &at.node.value {
        Value::Seq(items) => items.iter().collect(),
        _ => vec![at.node],
    };
    let mut out = Vec::new();
    for (i, n) in items.into_iter().enumerate() {
        let nat = At {
            file: at.file,
            node: n,
        };
        let p = if matches!(at.node.value, Value::Seq(_)) {
            format!("{path}[{i}]")
        } else {
            path.to_string()
        };
        if let Some(s) = ctx.string(nat, &p) {
            out.push((s, nat));
        }
    }
    out
}

/// A glob of a selector: bounded in length, and one globset compiles.
fn glob_text(ctx: &mut Ctx, text: String, at: At<'_>, path: &str) -> Option<String> {
    if text.len() > limits::GLOB_BYTES {
        ctx.issue(
            at,
            path,
            format!(
                "a glob of {} bytes is longer than the limit of {}",
                text.len(),
                limits::GLOB_BYTES
            ),
            None,
        );
        return None;
    }
    match globset::Glob::new(&text) {
        Ok(_) => Some(text),
        Err(e) => {
            ctx.issue(
                at,
                path,
                format!("`{text}` is not a valid glob: {}", e.kind()),
                Some("`*` matches any text, `?` one character, `[ab]` one of a set".into()),
            );
            None
        }
    }
}

/// `select:` (and its `exclude:`), checked and compiled.
pub(super) fn check_select(ctx: &mut Ctx, at: At<'_>, path: &str) -> Option<Selector> {
    let before = ctx.issues.len();
    let spec = select_spec(ctx, at, path, 0)?;
    if ctx.issues.len() != before {
        return None;
    }
    // Every glob compiled above, so this does not fail.
    Selector::new(&spec).ok()
}

fn select_spec(ctx: &mut Ctx, at: At<'_>, path: &str, depth: usize) -> Option<SelectorSpec> {
    let fields = ctx.fields(at, path, &keys().select)?;
    let mut spec = SelectorSpec::default();
    for (key, v) in fields {
        let p = join(path, key);
        match key {
            "ids" | "vpcs" => {
                let prefix = if key == "ids" { "sg-" } else { "vpc-" };
                for (id, iat) in strings(ctx, v, &p) {
                    if is_aws_id(&id, prefix) {
                        let list = if key == "ids" {
                            &mut spec.ids
                        } else {
                            &mut spec.vpcs
                        };
                        list.push(id);
                    } else {
                        ctx.issue(
                            iat,
                            &p,
                            format!("`{id}` is not a {prefix}… id"),
                            Some(format!("ids look like `{prefix}0123456789abcdef0`")),
                        );
                    }
                }
            }
            "names" => {
                for (name, nat) in strings(ctx, v, &p) {
                    if let Some(g) = glob_text(ctx, name, nat, &p) {
                        spec.names.push(g);
                    }
                }
            }
            "regions" => spec.regions = check_regions(ctx, v, &p),
            "accounts" => spec.accounts = super::account_ids(ctx, v, &p),
            "tags" => {
                let Some(entries) = ctx.fields_any(v, &p) else {
                    continue;
                };
                for (k, _, vat) in entries {
                    let tp = join(&p, &k);
                    if let Some(value) = ctx.string(vat, &tp)
                        && let Some(g) = glob_text(ctx, value, vat, &tp)
                    {
                        spec.tags.insert(k, g);
                    }
                }
            }
            "exclude" if depth > 0 => ctx.issue(
                v,
                &p,
                "an `exclude` inside an `exclude`",
                Some("list everything to leave out in the one `exclude`".into()),
            ),
            "exclude" => spec.exclude = select_spec(ctx, v, &p, depth + 1).map(Box::new),
            _ => {}
        }
    }
    Some(spec)
}

/// `templates:`: each template's rules, by name.
pub(super) fn check_templates<'a>(
    ctx: &mut Ctx,
    vars: &mut Vars<'_, 'a>,
    templates: &BTreeMap<String, (At<'a>, At<'a>)>,
) -> BTreeMap<String, Global> {
    templates
        .iter()
        .map(|(name, (_, at))| {
            let rules = check_rule_set(ctx, vars, *at, &format!("templates.{name}"));
            (name.clone(), rules)
        })
        .collect()
}

/// An entry's `include:`: the rules of the templates it names, in the order named.
pub(super) fn include<'t>(
    ctx: &mut Ctx,
    templates: &'t BTreeMap<String, Global>,
    at: At<'_>,
    path: &str,
) -> Vec<&'t Global> {
    let mut out = Vec::new();
    for (name, nat) in strings(ctx, at, path) {
        match templates.get(&name) {
            Some(t) => out.push(t),
            None => {
                let help = ctx
                    .suggest
                    .closest(&name, templates.keys().map(String::as_str))
                    .map(|s| format!("did you mean `{s}`?"))
                    .or_else(|| Some("define it under `templates:`".into()));
                ctx.issue(nat, path, format!("`{name}` names no template"), help);
            }
        }
    }
    out
}

/// `guardrails:`: each one checked, presets filled in, ids unique.
pub(super) fn check_guardrails(ctx: &mut Ctx, items: &[At<'_>]) -> Vec<Guardrail> {
    if items.len() > limits::GUARDRAILS
        && let Some(first) = items.first()
    {
        ctx.issue(
            *first,
            "guardrails",
            format!(
                "{} guardrails, more than the limit of {}",
                items.len(),
                limits::GUARDRAILS
            ),
            Some("merge guardrails that share a select into one with several deny patterns".into()),
        );
        return Vec::new();
    }
    let mut out: Vec<Guardrail> = Vec::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (i, at) in items.iter().enumerate() {
        let Some(g) = check_guardrail(ctx, *at, i) else {
            continue;
        };
        if let Some(first) = seen.get(&g.id) {
            ctx.issue(
                *at,
                &format!("guardrails[{i}].id"),
                format!("guardrail id `{}` is also guardrails[{first}]'s", g.id),
                Some("give each guardrail its own id".into()),
            );
            continue;
        }
        seen.insert(g.id.clone(), i);
        out.push(g);
    }
    out
}

fn is_guardrail_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn check_guardrail(ctx: &mut Ctx, at: At<'_>, index: usize) -> Option<Guardrail> {
    let path = format!("guardrails[{index}]");
    if !matches!(at.node.value, Value::Map(_)) {
        ctx.issue(
            at,
            &path,
            format!(
                "expected a guardrail (a mapping with id and deny or world_only, or a preset), found {}",
                at.node.kind()
            ),
            None,
        );
        return None;
    }
    let fields = ctx.fields(at, &path, &keys().guardrail)?;
    let get = |k: &str| fields.iter().find(|(key, _)| *key == k).map(|(_, a)| *a);
    let before = ctx.issues.len();
    let preset = get("preset").and_then(|v| {
        let p = join(&path, "preset");
        let name = ctx.string(v, &p)?;
        let found = PRESETS.iter().find(|x| x.name == name);
        if found.is_none() {
            let help = suggest::closest(&name, PRESETS.iter().map(|x| x.name))
                .map(|s| format!("did you mean `{s}`?"))
                .unwrap_or_else(|| {
                    let all: Vec<&str> = PRESETS.iter().map(|x| x.name).collect();
                    format!("the presets are {}", all.join(", "))
                });
            ctx.issue(v, &p, format!("unknown preset `{name}`"), Some(help));
        }
        found
    });
    let id = match get("id") {
        Some(v) => {
            let p = join(&path, "id");
            ctx.string(v, &p).filter(|id| {
                let ok = is_guardrail_id(id);
                if !ok {
                    ctx.issue(
                        v,
                        &p,
                        format!("`{id}` is not a guardrail id"),
                        Some("ids are 1 to 64 of a-z, 0-9 and `-`: `no-ssh-from-world`".into()),
                    );
                }
                ok
            })
        }
        None => match preset {
            Some(p) => Some(p.name.to_string()),
            None => {
                if get("preset").is_none() {
                    ctx.issue(
                        at,
                        &path,
                        "missing `id`",
                        Some("name it: `id: no-ssh-from-world`".into()),
                    );
                }
                None
            }
        },
    };
    let severity = match get("severity") {
        Some(v) => ctx.choice(v, &join(&path, "severity"), &SEVERITIES),
        None => Some(preset.map_or(Severity::High, |p| p.severity)),
    };
    let mode = match get("mode") {
        Some(v) => ctx.choice(v, &join(&path, "mode"), &GUARDRAIL_MODES),
        None => Some(GuardrailMode::Audit),
    };
    let select = match (get("select"), preset) {
        (Some(v), _) => check_select(ctx, v, &join(&path, "select")),
        (None, Some(p)) if !p.names.is_empty() => Selector::new(&SelectorSpec {
            names: p.names.iter().map(|s| s.to_string()).collect(),
            ..SelectorSpec::default()
        })
        .ok(),
        (None, _) => None,
    };
    let mut deny = Vec::new();
    if let Some(v) = get("deny") {
        let p = join(&path, "deny");
        let items = strings(ctx, v, &p);
        if items.is_empty() && ctx.issues.len() == before {
            ctx.issue(v, &p, "an empty deny list", None);
        }
        for (i, (text, tat)) in items.into_iter().enumerate() {
            match guardrail::parse(&text) {
                Ok(patterns) => deny.push((text, patterns)),
                Err(e) => ctx.syntax(tat, &format!("{p}[{i}]"), e),
            }
        }
    }
    let world_only =
        get("world_only").map(|v| check_world_only(ctx, v, &join(&path, "world_only")));
    if let Some(p) = preset {
        if get("deny").is_some() || get("world_only").is_some() {
            ctx.issue(
                at,
                &path,
                format!("preset `{}` brings its own patterns", p.name),
                Some("drop `deny`/`world_only`, or write a guardrail of your own beside it".into()),
            );
        }
        for text in p.deny {
            // The presets' patterns are sgwarden's own; a unit test parses each one.
            if let Ok(patterns) = guardrail::parse(text) {
                deny.push((text.to_string(), patterns));
            }
        }
    } else if get("deny").is_none() && get("world_only").is_none() {
        ctx.issue(
            at,
            &path,
            "a guardrail needs `deny`, `world_only` or a `preset`",
            Some("e.g. `deny: [tcp/22,3389 from world]`".into()),
        );
    }
    if ctx.issues.len() != before {
        return None;
    }
    Some(Guardrail {
        id: id?,
        severity: severity?,
        mode: mode?,
        select,
        deny,
        world_only,
    })
}

/// `world_only: [tcp/443, tcp/80]`: tcp and udp port ranges only.
fn check_world_only(ctx: &mut Ctx, at: At<'_>, path: &str) -> (Vec<String>, Vec<Protocol>) {
    let mut texts = Vec::new();
    let mut ranges = Vec::new();
    for (text, tat) in strings(ctx, at, path) {
        let parsed = match text.split_once('/') {
            Some((proto, ports)) if matches!(proto.trim(), "tcp" | "udp") => {
                rule::parse_protocols(proto, Some(ports)).map_err(|e| (e.message, e.help))
            }
            _ => Err((
                format!("`{text}` is not a tcp or udp port range"),
                Some("write `tcp/443`, `tcp/8000-8100` or `udp/53`".to_string()),
            )),
        };
        match parsed {
            Ok(p) => {
                ranges.extend(p);
                texts.push(text);
            }
            Err((message, help)) => ctx.issue(tat, path, message, help),
        }
    }
    (texts, ranges)
}

/// A group entry's wanted rule that a guardrail selecting the entry's group denies, when
/// the policy alone shows it: the guardrail selects every group, or selects by names and
/// ids that decide for the entry. An exception of the guardrail for the entry allows it.
pub(super) fn conflicts(
    ctx: &mut Ctx,
    groups: &BTreeMap<String, GroupPolicy>,
    at: &BTreeMap<String, (At<'_>, At<'_>)>,
    guardrails: &[Guardrail],
    exceptions: &[Exception],
) {
    for (key, g) in groups {
        let Some((_, gat)) = at.get(key) else {
            continue;
        };
        for rail in guardrails {
            let selected = match &rail.select {
                None => Some(true),
                Some(s) if g.select.is_none() => s.decides(g.id.as_deref(), &g.name),
                Some(_) => None,
            };
            let excepted = exceptions.iter().any(|e| {
                e.guardrail.as_deref() == Some(rail.id.as_str())
                    && e.group.as_deref() == Some(key.as_str())
            });
            if selected != Some(true) || excepted {
                continue;
            }
            for direction in Direction::BOTH {
                let denied = g
                    .rules(direction)
                    .unwrap_or_default()
                    .iter()
                    .find(|r| rail.denies("", r));
                if let Some(r) = denied {
                    ctx.issue(
                        *gat,
                        &format!("groups.{key}.{direction}"),
                        format!(
                            "`{}` is denied by guardrail `{}`: it would never be authorized",
                            r.rule, rail.id
                        ),
                        Some(format!(
                            "drop the rule, narrow the guardrail's select, or add an exception {{guardrail: {}, group: {key}, …}}",
                            rail.id
                        )),
                    );
                }
            }
        }
    }
}
