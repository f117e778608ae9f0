//! Turns positioned YAML trees into a [`Policy`], running every check of the policy
//! language and collecting every problem (with file, position and field path) rather than
//! stopping at the first. Expansion (variables, global rules, duplicates) happens here
//! too, since it needs the same positions for its errors.

mod fleet;

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::NaiveDate;

use super::schema::keys;
use super::yaml::{self, Node, Value};
use super::{
    Accounts, DesiredRule, Document, Exception, FlapLimit, FlowLogs, GroupPolicy, Issue, Mode,
    Notify, Policy, Provenance, Settings, UnmanagedGroups,
};
use crate::limits;
use crate::rule::{self, Direction, Peer, Rule, SyntaxError};
use crate::suggest::{self, Suggester};

/// The modes as the checker offers them, from [`Mode`]'s own names.
const MODES: [(&str, Mode); 3] = [
    (Mode::ALL[0].as_str(), Mode::ALL[0]),
    (Mode::ALL[1].as_str(), Mode::ALL[1]),
    (Mode::ALL[2].as_str(), Mode::ALL[2]),
];

/// A node and the file it is in.
#[derive(Clone, Copy)]
struct At<'a> {
    file: &'a str,
    node: &'a Node,
}

struct Ctx {
    issues: Vec<Issue>,
    /// "Did you mean" over names the policy defines, bounded for the whole policy.
    suggest: Suggester,
}

impl Default for Ctx {
    fn default() -> Self {
        Ctx {
            issues: Vec::new(),
            suggest: Suggester::for_policy(),
        }
    }
}

impl Ctx {
    fn issue(&mut self, at: At<'_>, path: &str, message: impl Into<String>, help: Option<String>) {
        self.issues.push(Issue {
            file: at.file.to_string(),
            line: Some(at.node.line),
            column: Some(at.node.col),
            path: path.to_string(),
            message: message.into(),
            help,
        });
    }

    fn syntax(&mut self, at: At<'_>, path: &str, e: SyntaxError) {
        self.issue(at, path, e.message, e.help);
    }

    /// The entries of a mapping whose keys are known; reports unknown and non-text keys.
    /// Null counts as an empty mapping. Returns `None` (and reports) for other kinds.
    fn fields<'a>(
        &mut self,
        at: At<'a>,
        path: &str,
        known: &[String],
    ) -> Option<Vec<(&'a str, At<'a>)>> {
        let entries = match &at.node.value {
            Value::Map(entries) => entries,
            Value::Null => return Some(Vec::new()),
            _ => {
                self.issue(
                    at,
                    path,
                    format!("expected a mapping, found {}", at.node.kind()),
                    None,
                );
                return None;
            }
        };
        let mut out = Vec::new();
        for (k, v) in entries {
            let key_at = At {
                file: at.file,
                node: k,
            };
            let Some(key) = k.as_str() else {
                self.issue(
                    key_at,
                    path,
                    format!("unknown key `{}`", k.scalar_text().unwrap_or_default()),
                    None,
                );
                continue;
            };
            if known.iter().any(|k| k == key) {
                out.push((
                    key,
                    At {
                        file: at.file,
                        node: v,
                    },
                ));
            } else {
                let help = suggest::closest(key, known.iter().map(String::as_str))
                    .map(|s| format!("did you mean `{s}`?"))
                    .or_else(|| Some(format!("known keys: {}", known.join(", "))));
                self.issue(
                    key_at,
                    &join(path, key),
                    format!("unknown key `{key}`"),
                    help,
                );
            }
        }
        Some(out)
    }

    /// Text: a string, or a plain scalar that YAML would read as a number or a boolean,
    /// taken as written (a name `0x1F` or `True` stays that name).
    fn string(&mut self, at: At<'_>, path: &str) -> Option<String> {
        match (&at.node.value, &at.node.written) {
            (Value::Str(s), _) => Some(s.clone()),
            (_, Some(w)) => Some(w.to_string()),
            _ => {
                self.issue(
                    at,
                    path,
                    format!("expected a string, found {}", at.node.kind()),
                    None,
                );
                None
            }
        }
    }

    /// A duration from one minute to `max_days` days (`90s`, `30m`, `1h`, `1d`), in seconds.
    fn window(&mut self, at: At<'_>, path: &str, max_days: u64) -> Option<u64> {
        let text = at.node.scalar_text().unwrap_or_default();
        match parse_window(&text) {
            Some(secs) if (60..=max_days * 86_400).contains(&secs) => Some(secs),
            Some(_) => {
                self.issue(
                    at,
                    path,
                    format!("`{text}` is outside 1m to {max_days}d"),
                    None,
                );
                None
            }
            None => {
                self.issue(
                    at,
                    path,
                    format!("`{text}` is not a duration"),
                    Some("write a number and a unit: `90s`, `30m`, `1h`, `1d`".into()),
                );
                None
            }
        }
    }

    fn boolean(&mut self, at: At<'_>, path: &str) -> Option<bool> {
        match at.node.value {
            Value::Bool(b) => Some(b),
            _ => {
                let found = at.node.kind();
                self.issue(
                    at,
                    path,
                    format!("expected true or false, found {found}"),
                    None,
                );
                None
            }
        }
    }

    fn choice<T: Copy>(&mut self, at: At<'_>, path: &str, options: &[(&str, T)]) -> Option<T> {
        let text = self.string(at, path)?;
        if let Some((_, v)) = options.iter().find(|(name, _)| *name == text) {
            return Some(*v);
        }
        let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
        let help = suggest::closest(&text, names.iter().copied())
            .map(|s| format!("did you mean `{s}`?"))
            .unwrap_or_else(|| format!("one of: {}", names.join(", ")));
        self.issue(at, path, format!("unknown value `{text}`"), Some(help));
        None
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Whether `s` is written like a region name (`us-east-1`, `us-gov-west-1`).
pub(crate) fn is_region(s: &str) -> bool {
    // e.g. us-east-1, eu-central-2, us-gov-west-1, ap-southeast-4
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts[0].bytes().all(|b| b.is_ascii_lowercase())
        && parts[1..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts
            .last()
            .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

fn is_aws_id(s: &str, prefix: &str) -> bool {
    s.strip_prefix(prefix).is_some_and(|rest| {
        !rest.is_empty()
            && rest.len() <= 32
            && rest
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// Everything the documents define, with where each piece is.
#[derive(Default)]
struct Sections<'a> {
    settings: Option<At<'a>>,
    global: Option<At<'a>>,
    variables: BTreeMap<String, (At<'a>, At<'a>)>,
    groups: BTreeMap<String, (At<'a>, At<'a>)>,
    templates: BTreeMap<String, (At<'a>, At<'a>)>,
    exceptions: Vec<At<'a>>,
    guardrails: Vec<At<'a>>,
    any_groups: bool,
}

/// Variable values, resolved on demand with memoisation and cycle detection.
struct Vars<'s, 'a> {
    defs: &'s BTreeMap<String, (At<'a>, At<'a>)>,
    group_keys: &'s HashSet<String>,
    /// `None`: the variable has a problem, already reported.
    done: HashMap<String, Option<Vec<Peer>>>,
    /// Compact rule lines already expanded without a problem, by direction and text.
    /// Policies repeat lines across groups; a line's meaning does not depend on its group
    /// (`self` and `sg:NAME` stay symbolic here).
    /// A line is stored on its second sighting (`None` marks the first), so lines used
    /// once are not copied.
    lines: rustc_hash::FxHashMap<(Direction, &'a str), Option<Vec<DesiredRule>>>,
    /// Peers copied while resolving variables, and atomic rules expanded, so far: each is
    /// bounded for the whole policy, so no document can make the work blow up.
    peers_copied: usize,
    rules_expanded: usize,
}

impl Vars<'_, '_> {
    fn resolve(&mut self, ctx: &mut Ctx, name: &str, stack: &mut Vec<String>) -> Option<Vec<Peer>> {
        if let Some(done) = self.done.get(name) {
            return done.clone();
        }
        let (_, value) = *self.defs.get(name)?;
        stack.push(name.to_string());
        let path = format!("variables.{name}");
        let items: Vec<(String, At<'_>)> = match &value.node.value {
            Value::Seq(items) => items
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    (
                        format!("{path}[{i}]"),
                        At {
                            file: value.file,
                            node: n,
                        },
                    )
                })
                .collect(),
            _ => vec![(path.clone(), value)],
        };
        let mut ok = true;
        let mut peers = Vec::new();
        if items.is_empty() {
            ctx.issue(
                value,
                &path,
                "empty variable",
                Some("give it at least one peer".into()),
            );
            ok = false;
        }
        for (p, at) in items {
            let Some(text) = at.node.as_str() else {
                ctx.issue(
                    at,
                    &p,
                    format!("expected a peer (a string), found {}", at.node.kind()),
                    None,
                );
                ok = false;
                continue;
            };
            if let Some(r) = text.strip_prefix('@') {
                if stack.len() >= limits::VARIABLE_DEPTH && self.defs.contains_key(r) {
                    ctx.issue(
                        at,
                        &p,
                        format!(
                            "`@{r}` is more than {} variables deep (the chain starts at `@{}`)",
                            limits::VARIABLE_DEPTH,
                            stack.first().map_or(name, String::as_str)
                        ),
                        Some("list the peers in fewer levels of variables".into()),
                    );
                    ok = false;
                } else if let Some(pos) = stack.iter().position(|s| s == r) {
                    let mut chain: Vec<String> =
                        stack[pos..].iter().map(|s| format!("`@{s}`")).collect();
                    chain.push(format!("`@{r}`"));
                    ctx.issue(
                        at,
                        &p,
                        format!("variable cycle: {}", chain.join(" → ")),
                        None,
                    );
                    ok = false;
                } else if self.defs.contains_key(r) {
                    match self.resolve(ctx, r, stack) {
                        Some(v)
                            if self.peers_copied.saturating_add(v.len())
                                <= limits::VARIABLE_PEERS_COPIED =>
                        {
                            self.peers_copied += v.len();
                            peers.extend(v);
                        }
                        Some(_) => {
                            too_many_copies(ctx, at, &p);
                            ok = false;
                            break;
                        }
                        None => ok = false,
                    }
                } else {
                    let chain: Vec<String> = stack.iter().map(|s| format!("`@{s}`")).collect();
                    let help = ctx
                        .suggest
                        .closest(r, self.defs.keys().map(String::as_str))
                        .map(|s| format!("did you mean `@{s}`?"));
                    ctx.issue(
                        at,
                        &p,
                        format!("undefined variable `@{r}` (in {})", chain.join(" → ")),
                        help,
                    );
                    ok = false;
                }
            } else {
                match check_peer(ctx, text, self.group_keys) {
                    Ok(peer) => peers.push(peer),
                    Err(e) => {
                        ctx.syntax(at, &p, e);
                        ok = false;
                    }
                }
            }
        }
        stack.pop();
        // A variable is a set of peers: repeats (`[@a, @a]`) add nothing, so doubling
        // references cannot grow it.
        peers.sort_unstable();
        peers.dedup();
        self.peers_copied = self.peers_copied.saturating_add(peers.len());
        if ok && peers.len() > limits::VARIABLE_PEERS {
            ctx.issue(
                value,
                &path,
                format!(
                    "variable holds {} distinct peers, more than the limit of {}",
                    peers.len(),
                    limits::VARIABLE_PEERS
                ),
                Some("split it, or use a managed prefix list (`pl-…`)".into()),
            );
            ok = false;
        } else if ok && self.peers_copied > limits::VARIABLE_PEERS_COPIED {
            too_many_copies(ctx, value, &path);
            ok = false;
        }
        let result = ok.then_some(peers);
        self.done.insert(name.to_string(), result.clone());
        result
    }

    /// Expands one peer written in a rule (a variable or a literal peer) into `out`.
    /// `path` renders the field path, only when there is a problem to report.
    fn peer_into(
        &mut self,
        ctx: &mut Ctx,
        text: &str,
        at: At<'_>,
        path: &dyn Fn() -> String,
        out: &mut Vec<Peer>,
    ) {
        if let Some(r) = text.strip_prefix('@') {
            if !self.defs.contains_key(r) {
                let help = ctx
                    .suggest
                    .closest(r, self.defs.keys().map(String::as_str))
                    .map(|s| format!("did you mean `@{s}`?"));
                ctx.issue(at, &path(), format!("undefined variable `@{r}`"), help);
                return;
            }
            if let Some(done) = self.done.get(r) {
                out.extend_from_slice(done.as_deref().unwrap_or_default());
            } else if let Some(peers) = self.resolve(ctx, r, &mut Vec::new()) {
                out.extend(peers);
            }
            return;
        }
        match check_peer(ctx, text, self.group_keys) {
            Ok(p) => out.push(p),
            Err(e) => ctx.syntax(at, &path(), e),
        }
    }
}

/// The problem of variables that copy more peers than the policy's budget.
fn too_many_copies(ctx: &mut Ctx, at: At<'_>, path: &str) {
    ctx.issue(
        at,
        path,
        format!(
            "variables expand to more than {} peers in all",
            limits::VARIABLE_PEERS_COPIED
        ),
        Some("reference each variable fewer times".into()),
    );
}

fn check_peer(
    ctx: &mut Ctx,
    text: &str,
    group_keys: &HashSet<String>,
) -> Result<Peer, SyntaxError> {
    let peer = rule::parse_peer(text)?;
    if let Peer::Named(name) = &peer
        && !group_keys.contains(name)
    {
        let help = ctx
            .suggest
            .closest(name, group_keys.iter().map(String::as_str))
            .map(|s| format!("did you mean `sg:{s}`?"))
            .or_else(|| Some("`sg:NAME` names a key under `groups`".into()));
        return Err(SyntaxError {
            message: format!("`sg:{name}` names no policy group"),
            help,
        });
    }
    Ok(peer)
}

fn check_rules<'a>(
    ctx: &mut Ctx,
    vars: &mut Vars<'_, 'a>,
    at: At<'a>,
    path: &str,
    direction: Direction,
) -> Vec<DesiredRule> {
    let items = match &at.node.value {
        Value::Seq(items) => items,
        other => {
            let help = matches!(other, Value::Null).then(|| {
                format!(
                    "write `{}: []` for a group that must have no {} rules",
                    direction, direction
                )
            });
            ctx.issue(
                at,
                path,
                format!("expected a list of rules, found {}", at.node.kind()),
                help,
            );
            return Vec::new();
        }
    };
    let mut out = Vec::with_capacity(items.len() * 2);
    let mut peers = Vec::new();
    for (i, item) in items.iter().enumerate() {
        // The path is only rendered when there is a problem to report.
        let p = || format!("{path}[{i}]");
        let item_at = At {
            file: at.file,
            node: item,
        };
        match &item.value {
            Value::Str(text) => {
                let key = (direction, text.as_str());
                let seen_before = match vars.lines.get(&key) {
                    Some(Some(done)) => {
                        if let Err(e) = room(out.len(), done.len(), &mut vars.rules_expanded) {
                            ctx.issue(item_at, &p(), e, Some(ROOM_HELP.into()));
                            break;
                        }
                        out.extend_from_slice(done);
                        continue;
                    }
                    Some(None) => true,
                    None => false,
                };
                match rule::parse_compact(text, Some(direction)) {
                    Ok(c) => {
                        let before = ctx.issues.len();
                        peers.clear();
                        for peer in &c.peers {
                            vars.peer_into(ctx, peer, item_at, &p, &mut peers);
                        }
                        let start = out.len();
                        let expanded = &mut vars.rules_expanded;
                        if let Err(e) =
                            push_product(&mut out, direction, &c.protocols, &peers, None, expanded)
                        {
                            ctx.issue(item_at, &p(), e, Some(ROOM_HELP.into()));
                            break;
                        }
                        if ctx.issues.len() == before {
                            let done = seen_before.then(|| out[start..].to_vec());
                            vars.lines.insert(key, done);
                        }
                    }
                    Err(e) => ctx.syntax(item_at, &p(), e),
                }
            }
            Value::Map(_) => structured_rule(ctx, vars, item_at, &p(), direction, &mut out),
            _ => ctx.issue(
                item_at,
                &p(),
                format!("expected a rule, found {}", item.kind()),
                Some(format!(
                    "write a string like `tcp/443 {} 10.0.0.0/8` or a mapping with proto, ports, {}",
                    direction.keyword(),
                    direction.keyword()
                )),
            ),
        }
    }
    out
}

/// Whether `add` more atomic rules fit beside the `len` a list has: at most
/// [`limits::RULES_PER_GROUP`] in one list, [`limits::RULES_PER_POLICY`] in the policy.
/// Counts them into `expanded` when they do; the message says which bound was hit.
fn room(len: usize, add: usize, expanded: &mut usize) -> Result<(), String> {
    let per_list = len.checked_add(add);
    if per_list.is_none_or(|n| n > limits::RULES_PER_GROUP) {
        return Err(format!(
            "expands to more than {} atomic rules (one protocol, port range and peer each)",
            limits::RULES_PER_GROUP
        ));
    }
    let total = expanded.saturating_add(add);
    if total > limits::RULES_PER_POLICY {
        return Err(format!(
            "the policy expands to more than {} atomic rules in all",
            limits::RULES_PER_POLICY
        ));
    }
    *expanded = total;
    Ok(())
}

const ROOM_HELP: &str = "EC2 allows about a thousand rules per group: use fewer ports or \
                         peers, or a managed prefix list (`pl-…`)";

/// Adds every protocol × peer to `out`, when they fit ([`room`]).
fn push_product(
    out: &mut Vec<DesiredRule>,
    direction: Direction,
    protocols: &[rule::Protocol],
    peers: &[Peer],
    description: Option<&str>,
    expanded: &mut usize,
) -> Result<(), String> {
    let add = protocols.len().saturating_mul(peers.len());
    room(out.len(), add, expanded)?;
    out.reserve(add);
    for protocol in protocols {
        for peer in peers {
            out.push(DesiredRule {
                rule: Rule {
                    direction,
                    protocol: *protocol,
                    peer: peer.clone(),
                },
                description: description.map(str::to_string),
            });
        }
    }
    Ok(())
}

fn structured_rule(
    ctx: &mut Ctx,
    vars: &mut Vars<'_, '_>,
    at: At<'_>,
    path: &str,
    direction: Direction,
    out: &mut Vec<DesiredRule>,
) {
    let Some(fields) = ctx.fields(at, path, &keys().rule) else {
        return;
    };
    let get = |k: &str| fields.iter().find(|(key, _)| *key == k).map(|(_, a)| *a);
    let want = direction.keyword();
    let other = match direction {
        Direction::Ingress => "to",
        Direction::Egress => "from",
    };
    if let Some(wrong) = get(other) {
        ctx.issue(
            wrong,
            &join(path, other),
            format!("`{other}` in an {direction} rule"),
            Some(format!("{direction} rules use `{want}`")),
        );
    }
    let proto_text = match get("proto") {
        None => {
            ctx.issue(
                at,
                path,
                "missing `proto`",
                Some("add e.g. `proto: tcp`".into()),
            );
            None
        }
        Some(p) => match &p.node.value {
            Value::Str(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            _ => {
                ctx.issue(
                    p,
                    &join(path, "proto"),
                    format!(
                        "expected a protocol name or number, found {}",
                        p.node.kind()
                    ),
                    None,
                );
                None
            }
        },
    };
    let ports_text = match get("ports") {
        None => None,
        Some(p) => match &p.node.value {
            Value::Str(s) => Some(Some(s.clone())),
            Value::Int(i) => Some(Some(i.to_string())),
            _ => {
                ctx.issue(
                    p,
                    &join(path, "ports"),
                    format!(
                        "expected ports (a number or text like `80,443`), found {}",
                        p.node.kind()
                    ),
                    None,
                );
                return;
            }
        },
    };
    let description = match get("description") {
        None => None,
        Some(d) => ctx.string(d, &join(path, "description")),
    };
    // A bad protocol is the `proto` field's problem; a bad port list is the `ports` field's.
    let protocols = proto_text.as_ref().and_then(|proto| {
        let (key, input_ports) = match rule::parse_protocols(proto, None) {
            Err(e) => {
                ctx.syntax(get("proto").unwrap_or(at), &join(path, "proto"), e);
                return None;
            }
            Ok(_) => ("ports", ports_text.clone().flatten()),
        };
        match rule::parse_protocols(proto, input_ports.as_deref()) {
            Ok(p) => Some(p),
            Err(e) => {
                ctx.syntax(get(key).unwrap_or(at), &join(path, key), e);
                None
            }
        }
    });
    let peer_path = join(path, want);
    let mut peers = Vec::new();
    match get(want) {
        None => {
            if get(other).is_none() {
                ctx.issue(
                    at,
                    path,
                    format!("missing `{want}`"),
                    Some(format!("add e.g. `{want}: [10.0.0.0/8]`")),
                );
            }
        }
        Some(p) => {
            let list: Vec<(String, At<'_>)> = match &p.node.value {
                Value::Seq(items) => items
                    .iter()
                    .enumerate()
                    .map(|(i, n)| {
                        (
                            format!("{peer_path}[{i}]"),
                            At {
                                file: at.file,
                                node: n,
                            },
                        )
                    })
                    .collect(),
                _ => vec![(peer_path.clone(), p)],
            };
            if list.is_empty() {
                ctx.issue(p, &peer_path, "empty peer list", None);
            }
            for (pp, pat) in list {
                match pat.node.as_str() {
                    Some(text) => vars.peer_into(ctx, text, pat, &|| pp.clone(), &mut peers),
                    None => ctx.issue(
                        pat,
                        &pp,
                        format!("expected a peer (a string), found {}", pat.node.kind()),
                        None,
                    ),
                }
            }
        }
    }
    if let Some(protocols) = protocols {
        let expanded = &mut vars.rules_expanded;
        if let Err(e) = push_product(
            out,
            direction,
            &protocols,
            &peers,
            description.as_deref(),
            expanded,
        ) {
            ctx.issue(at, path, e, Some(ROOM_HELP.into()));
        }
    }
}

/// Sorts and collapses duplicate rules; of duplicates, the first description given wins.
fn collapse(mut rules: Vec<DesiredRule>) -> Vec<DesiredRule> {
    // A stable sort keeps duplicates in the order written, so "first" is well defined.
    rules.sort_by(|a, b| a.rule.cmp(&b.rule));
    rules.dedup_by(|later, kept| {
        let same = later.rule == kept.rule;
        if same && kept.description.is_none() {
            kept.description = later.description.take();
        }
        same
    });
    rules
}

fn check_settings(ctx: &mut Ctx, at: At<'_>) -> Settings {
    let mut s = Settings::default();
    let Some(fields) = ctx.fields(at, "settings", &keys().settings) else {
        return s;
    };
    for &(key, v) in &fields {
        let path = join("settings", key);
        match key {
            "regions" => s.regions = check_regions(ctx, v, &path),
            "default_mode" => {
                if let Some(m) = ctx.choice(v, &path, &MODES) {
                    s.default_mode = m;
                }
            }
            "unmanaged_groups" => {
                if let Some(u) = ctx.choice(
                    v,
                    &path,
                    &[
                        ("ignore", UnmanagedGroups::Ignore),
                        ("report", UnmanagedGroups::Report),
                    ],
                ) {
                    s.unmanaged_groups = u;
                }
            }
            "notify" => {
                if let Some(n) = ctx.choice(
                    v,
                    &path,
                    &[
                        ("drift", Notify::Drift),
                        ("changes", Notify::Changes),
                        ("always", Notify::Always),
                    ],
                ) {
                    s.notify = n;
                }
            }
            "compare_descriptions" => {
                if let Some(b) = ctx.boolean(v, &path) {
                    s.compare_descriptions = b;
                }
            }
            "create_missing" => {
                if let Some(b) = ctx.boolean(v, &path) {
                    s.create_missing = b;
                }
            }
            "account" => s.account = account_id(ctx, v, &path),
            "accounts" => {
                s.accounts = match &v.node.value {
                    Value::Str(o) if o == "organization" => Some(Accounts::Organization),
                    Value::Seq(_) => Some(Accounts::List(account_ids(ctx, v, &path))),
                    _ => {
                        ctx.issue(
                            v,
                            &path,
                            format!(
                                "expected `organization` or a list of account ids, found {}",
                                v.node.scalar_text().unwrap_or_else(|| v.node.kind().into())
                            ),
                            Some(
                                "`accounts: organization`, or `accounts: [\"111122223333\"]`"
                                    .into(),
                            ),
                        );
                        None
                    }
                };
            }
            "exclude_accounts" => s.exclude_accounts = account_ids(ctx, v, &path),
            "flap_limit" => s.flap_limit = check_flap_limit(ctx, v, &path),
            "flow_logs" => s.flow_logs = check_flow_logs(ctx, v, &path),
            "max_changes_per_run" => match v.node.value {
                Value::Int(n) if n >= 0 => s.max_changes_per_run = n.unsigned_abs(),
                _ => ctx.issue(
                    v,
                    &path,
                    format!("expected an integer ≥ 0, found {}", v.node.kind()),
                    None,
                ),
            },
            _ => {}
        }
    }
    if s.account.is_some()
        && s.accounts.is_some()
        && let Some((_, v)) = fields.iter().find(|(k, _)| *k == "accounts")
    {
        ctx.issue(
            *v,
            "settings.accounts",
            "`account` and `accounts` together",
            Some(
                "`account` pins a single-account policy; a hub governs `accounts`: keep one".into(),
            ),
        );
    }
    s
}

/// `flap_limit: {reverts: N, per: DURATION}` or `off`. On an error the default stays.
/// A 12-digit account id. Unquoted digits keep their text as written, leading zeros
/// included.
fn account_id(ctx: &mut Ctx, v: At<'_>, path: &str) -> Option<String> {
    let text = match &v.node.value {
        Value::Str(_) | Value::Int(_) => v.node.scalar_text(),
        _ => None,
    };
    match text {
        Some(a) if crate::place::is_account(&a) => Some(a),
        _ => {
            ctx.issue(
                v,
                path,
                "expected a 12-digit AWS account id".to_string(),
                Some("write the 12 digits, e.g. `\"012345678901\"`".into()),
            );
            None
        }
    }
}

/// A list of account ids (sorted, without repeats).
fn account_ids(ctx: &mut Ctx, at: At<'_>, path: &str) -> Vec<String> {
    let Value::Seq(items) = &at.node.value else {
        ctx.issue(
            at,
            path,
            format!("expected a list of account ids, found {}", at.node.kind()),
            Some("e.g. `[\"111122223333\", \"444455556666\"]`".into()),
        );
        return Vec::new();
    };
    let mut out: Vec<String> = items
        .iter()
        .enumerate()
        .filter_map(|(i, n)| {
            let nat = At {
                file: at.file,
                node: n,
            };
            account_id(ctx, nat, &format!("{path}[{i}]"))
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

fn check_flap_limit(ctx: &mut Ctx, at: At<'_>, path: &str) -> Option<FlapLimit> {
    const HELP: &str = "write `flap_limit: {reverts: 3, per: 1h}`, or `flap_limit: off`";
    match &at.node.value {
        Value::Str(t) if t == "off" => return None,
        Value::Bool(false) => return None,
        Value::Map(_) => {}
        _ => {
            ctx.issue(
                at,
                path,
                format!("expected a mapping or `off`, found {}", at.node.kind()),
                Some(HELP.into()),
            );
            return Some(FlapLimit::DEFAULT);
        }
    }
    let mut limit = FlapLimit::DEFAULT;
    let Some(fields) = ctx.fields(at, path, &keys().flap_limit) else {
        return Some(limit);
    };
    let (mut reverts, mut per) = (false, false);
    for (key, v) in fields {
        let p = join(path, key);
        match key {
            "reverts" => {
                reverts = true;
                match v.node.value {
                    Value::Int(n) if (1..=1000).contains(&n) => limit.reverts = n as u32,
                    _ => ctx.issue(
                        v,
                        &p,
                        match v.node.value {
                            Value::Int(n) => {
                                format!("expected an integer from 1 to 1000, found {n}")
                            }
                            _ => format!(
                                "expected an integer from 1 to 1000, found {}",
                                v.node.kind()
                            ),
                        },
                        Some("to stop counting reverts, write `flap_limit: off`".into()),
                    ),
                }
            }
            "per" => {
                per = true;
                if let Some(secs) = ctx.window(v, &p, 7) {
                    limit.per_seconds = secs;
                }
            }
            _ => {}
        }
    }
    for (given, key) in [(reverts, "reverts"), (per, "per")] {
        if !given {
            ctx.issue(at, path, format!("`{key}` is missing"), Some(HELP.into()));
        }
    }
    Some(limit)
}

/// `flow_logs: {log_group: NAME, look_back: DURATION}` (the window defaults to a day).
fn check_flow_logs(ctx: &mut Ctx, at: At<'_>, path: &str) -> Option<FlowLogs> {
    const HELP: &str = "write `flow_logs: {log_group: /vpc/flow-logs, look_back: 1d}`";
    if !matches!(at.node.value, Value::Map(_)) {
        ctx.issue(
            at,
            path,
            format!("expected a mapping, found {}", at.node.kind()),
            Some(HELP.into()),
        );
        return None;
    }
    let fields = ctx.fields(at, path, &keys().flow_logs)?;
    let before = ctx.issues.len();
    let mut out = FlowLogs {
        log_group: String::new(),
        look_back_seconds: FlowLogs::DEFAULT_LOOK_BACK,
    };
    for &(key, v) in &fields {
        let p = join(path, key);
        match key {
            "log_group" => {
                let Some(name) = ctx.string(v, &p) else {
                    continue;
                };
                // CloudWatch Logs: 1 to 512 of `A-Za-z0-9_-/.#`.
                let bad = name.chars().find(|c| {
                    !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '/' | '.' | '#'))
                });
                if name.is_empty() || name.len() > 512 {
                    ctx.issue(
                        v,
                        &p,
                        "expected a log group name of 1 to 512 characters",
                        None,
                    );
                } else if let Some(c) = bad {
                    ctx.issue(
                        v,
                        &p,
                        format!("`{name}` is not a log group name: `{c}` is not allowed"),
                        Some("log group names use letters, digits and `_-/.#`".into()),
                    );
                } else {
                    out.log_group = name;
                }
            }
            "look_back" => {
                if let Some(secs) = ctx.window(v, &p, 30) {
                    out.look_back_seconds = secs;
                }
            }
            _ => {}
        }
    }
    if !fields.iter().any(|(k, _)| *k == "log_group") {
        ctx.issue(at, path, "`log_group` is missing", Some(HELP.into()));
    }
    (ctx.issues.len() == before).then_some(out)
}

/// `90s`, `30m`, `1h`, `1d` → seconds.
pub(crate) fn parse_window(text: &str) -> Option<u64> {
    let text = text.trim();
    let unit = match text.chars().last()? {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return None,
    };
    let n: u64 = text[..text.len() - 1].parse().ok()?;
    n.checked_mul(unit)
}

fn check_regions(ctx: &mut Ctx, at: At<'_>, path: &str) -> Vec<String> {
    let Value::Seq(items) = &at.node.value else {
        ctx.issue(
            at,
            path,
            format!("expected a list of regions, found {}", at.node.kind()),
            Some("e.g. `[us-east-1, eu-west-1]`".into()),
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, n) in items.iter().enumerate() {
        let p = format!("{path}[{i}]");
        let nat = At {
            file: at.file,
            node: n,
        };
        if let Some(r) = ctx.string(nat, &p) {
            if is_region(&r) {
                if !out.contains(&r) {
                    out.push(r);
                }
            } else {
                ctx.issue(
                    nat,
                    &p,
                    format!("`{r}` is not a region name"),
                    Some("regions look like `us-east-1`".into()),
                );
            }
        }
    }
    out
}

struct Global {
    ingress: Option<Vec<DesiredRule>>,
    egress: Option<Vec<DesiredRule>>,
}

/// Reads each document into a positioned tree; documents that are not YAML become issues.
pub(crate) fn parse(documents: &[Document]) -> (Vec<(String, Node)>, Vec<Issue>) {
    let mut trees = Vec::with_capacity(documents.len());
    let mut issues = Vec::new();
    for doc in documents {
        match yaml::parse(&doc.text) {
            Ok(node) => trees.push((doc.location.clone(), node)),
            Err(e) => issues.push(Issue {
                file: doc.location.clone(),
                line: Some(e.line),
                column: Some(e.col),
                path: String::new(),
                message: format!("not valid YAML or JSON: {}", e.message),
                help: None,
            }),
        }
    }
    (trees, issues)
}

/// Checks and expands parsed documents; `issues` are the parse problems already found.
/// The top level of each file, and what each defines: every section found once (a second
/// `settings` or `global`, or a group or variable defined twice, is an issue).
fn sections<'a>(ctx: &mut Ctx, trees: &'a [(String, Node)]) -> Sections<'a> {
    let mut sec = Sections::default();
    for (file, root) in trees {
        let at = At { file, node: root };
        if matches!(root.value, Value::Null) {
            ctx.issue(
                at,
                "",
                "empty policy file",
                Some("a policy file starts with `version: 1`".into()),
            );
            continue;
        }
        let Some(fields) = ctx.fields(at, "", &keys().top) else {
            continue;
        };
        if !fields.iter().any(|(k, _)| *k == "version") {
            ctx.issue(
                at,
                "version",
                "missing `version`",
                Some("add `version: 1`".into()),
            );
        }
        for (key, v) in fields {
            match key {
                "version" if v.node.value != Value::Int(1) => check_version(ctx, v),
                "settings" | "global" => {
                    let slot = if key == "settings" {
                        &mut sec.settings
                    } else {
                        &mut sec.global
                    };
                    if let Some(prev) = slot {
                        let msg = format!(
                            "`{key}` is also defined in {}:{}",
                            prev.file, prev.node.line
                        );
                        ctx.issue(v, key, msg, Some(format!("keep `{key}` in one file")));
                    } else {
                        *slot = Some(v);
                    }
                }
                "variables" | "groups" | "templates" => {
                    if key == "groups" {
                        sec.any_groups = true;
                    }
                    let Some(entries) = ctx.fields_any(v, key) else {
                        continue;
                    };
                    let (map, what) = match key {
                        "groups" => (&mut sec.groups, "group"),
                        "templates" => (&mut sec.templates, "template"),
                        _ => (&mut sec.variables, "variable"),
                    };
                    for (name, kat, vat) in entries {
                        if let Some((prev_k, _)) = map.get(&name) {
                            let msg = format!(
                                "{what} `{name}` is also defined in {}:{}",
                                prev_k.file, prev_k.node.line
                            );
                            ctx.issue(kat, &join(key, &name), msg, None);
                        } else {
                            map.insert(name, (kat, vat));
                        }
                    }
                }
                "exceptions" | "guardrails" => {
                    let list = if key == "exceptions" {
                        &mut sec.exceptions
                    } else {
                        &mut sec.guardrails
                    };
                    match &v.node.value {
                        Value::Seq(items) => list.extend(items.iter().map(|n| At {
                            file: v.file,
                            node: n,
                        })),
                        Value::Null => {}
                        _ => ctx.issue(
                            v,
                            key,
                            format!("expected a list of {key}, found {}", v.node.kind()),
                            None,
                        ),
                    }
                }
                _ => {}
            }
        }
    }
    if !sec.any_groups
        && let Some((file, root)) = trees.first()
    {
        ctx.issue(
            At { file, node: root },
            "groups",
            "no policy file defines `groups`",
            Some("add `groups: {}` (it may be empty)".into()),
        );
    }

    sec
}

/// `version:` that is not the number 1.
fn check_version(ctx: &mut Ctx, v: At<'_>) {
    let (message, help) = match &v.node.value {
        Value::Str(s) if s.trim() == "1" => (
            format!("`version` is the number 1, found the string `\"{s}\"`"),
            "write `version: 1`, without quotes",
        ),
        Value::Int(_) | Value::Float(_) => (
            format!(
                "unsupported version `{}`",
                v.node.scalar_text().unwrap_or_default()
            ),
            "this sgwarden reads `version: 1`",
        ),
        _ => (
            format!("`version` is the number 1, found {}", v.node.kind()),
            "write `version: 1`",
        ),
    };
    ctx.issue(v, "version", message, Some(help.into()));
}

/// The rules of `global:` or of a template (at `path`).
fn check_rule_set<'a>(ctx: &mut Ctx, vars: &mut Vars<'_, 'a>, at: At<'a>, path: &str) -> Global {
    let mut g = Global {
        ingress: None,
        egress: None,
    };
    if let Some(fields) = ctx.fields(at, path, &keys().rule_set) {
        for (key, v) in fields {
            let path = join(path, key);
            let direction = if key == "ingress" {
                Direction::Ingress
            } else {
                Direction::Egress
            };
            let rules = Some(check_rules(ctx, vars, v, &path, direction));
            match direction {
                Direction::Ingress => g.ingress = rules,
                Direction::Egress => g.egress = rules,
            }
        }
    }
    g
}

pub(crate) fn check(trees: &[(String, Node)], issues: &[Issue]) -> Result<Policy, Vec<Issue>> {
    let mut ctx = Ctx {
        issues: issues.to_vec(),
        ..Ctx::default()
    };

    let sec = sections(&mut ctx, trees);

    let settings = match sec.settings {
        Some(at) => check_settings(&mut ctx, at),
        None => Settings::default(),
    };
    let group_keys: HashSet<String> = sec.groups.keys().cloned().collect();
    let mut vars = Vars {
        defs: &sec.variables,
        group_keys: &group_keys,
        done: HashMap::new(),
        lines: rustc_hash::FxHashMap::default(),
        peers_copied: 0,
        rules_expanded: 0,
    };
    // Every variable is checked, used or not.
    let names: Vec<String> = sec.variables.keys().cloned().collect();
    for name in names {
        vars.resolve(&mut ctx, &name, &mut Vec::new());
    }

    let global = match sec.global {
        Some(at) => check_rule_set(&mut ctx, &mut vars, at, "global"),
        None => Global {
            ingress: None,
            egress: None,
        },
    };
    let templates = fleet::check_templates(&mut ctx, &mut vars, &sec.templates);

    let mut groups = BTreeMap::new();
    for (key, (_, at)) in &sec.groups {
        let inherited = Inherited {
            settings: &settings,
            global: &global,
            templates: &templates,
        };
        if let Some(g) = check_group(&mut ctx, &mut vars, &inherited, key, *at) {
            groups.insert(key.clone(), g);
        }
    }

    let guardrails = fleet::check_guardrails(&mut ctx, &sec.guardrails);
    let known = Known {
        groups: &groups,
        group_keys: &group_keys,
        guardrails: &guardrails,
    };
    let mut exceptions = Vec::new();
    for (i, at) in sec.exceptions.iter().enumerate() {
        if let Some(e) = check_exception(&mut ctx, &mut vars, &known, *at, i) {
            exceptions.push(e);
        }
    }
    fleet::conflicts(&mut ctx, &groups, &sec.groups, &guardrails, &exceptions);

    if ctx.issues.is_empty() {
        Ok(Policy {
            settings,
            groups,
            exceptions,
            guardrails,
            files: Vec::new(),
            source: Provenance {
                location: String::new(),
                sha256: String::new(),
                version_id: None,
                etag: None,
            },
        })
    } else {
        Err(ctx.issues)
    }
}

impl Ctx {
    /// The entries of a mapping with any text keys (names of groups or variables).
    fn fields_any<'a>(&mut self, at: At<'a>, path: &str) -> Option<Vec<(String, At<'a>, At<'a>)>> {
        match &at.node.value {
            Value::Null => Some(Vec::new()),
            Value::Map(entries) => {
                let mut out = Vec::new();
                for (k, v) in entries {
                    let kat = At {
                        file: at.file,
                        node: k,
                    };
                    match k.scalar_text() {
                        Some(name) if !name.is_empty() => out.push((
                            name,
                            kat,
                            At {
                                file: at.file,
                                node: v,
                            },
                        )),
                        _ => self.issue(kat, path, "empty or invalid name", None),
                    }
                }
                Some(out)
            }
            _ => {
                self.issue(
                    at,
                    path,
                    format!("expected a mapping, found {}", at.node.kind()),
                    None,
                );
                None
            }
        }
    }
}

/// What a group entry takes from the rest of the policy.
struct Inherited<'p> {
    settings: &'p Settings,
    global: &'p Global,
    templates: &'p BTreeMap<String, Global>,
}

/// What an exception may name.
struct Known<'p> {
    groups: &'p BTreeMap<String, GroupPolicy>,
    group_keys: &'p HashSet<String>,
    guardrails: &'p [crate::guardrail::Guardrail],
}

fn check_group<'a, 'i>(
    ctx: &mut Ctx,
    vars: &mut Vars<'_, 'a>,
    inherited: &Inherited<'i>,
    key: &str,
    at: At<'a>,
) -> Option<GroupPolicy> {
    let settings = inherited.settings;
    let path = format!("groups.{key}");
    let fields = ctx.fields(at, &path, &keys().group)?;
    check_entry_kind(ctx, &path, &fields);
    let before = ctx.issues.len();
    let mut g = GroupPolicy {
        key: key.to_string(),
        name: key.to_string(),
        id: None,
        select: None,
        priority: 0,
        vpc: None,
        regions: Vec::new(),
        accounts: Vec::new(),
        mode: settings.default_mode,
        takes_global: true,
        description: None,
        create: settings.create_missing,
        keep_if_traffic: false,
        ingress: None,
        egress: None,
    };
    let mut own_ingress = None;
    let mut own_egress = None;
    let mut included = Vec::new();
    for (field, v) in fields {
        let p = join(&path, field);
        match field {
            "select" => g.select = fleet::check_select(ctx, v, &p),
            "priority" => match v.node.value {
                Value::Int(n) => g.priority = n,
                _ => ctx.issue(
                    v,
                    &p,
                    format!("expected a whole number, found {}", v.node.kind()),
                    None,
                ),
            },
            "include" => included = fleet::include(ctx, inherited.templates, v, &p),
            "name" => {
                if let Some(n) = ctx.string(v, &p) {
                    if n.is_empty() {
                        ctx.issue(v, &p, "empty group name", None);
                    }
                    g.name = n;
                }
            }
            "id" => {
                if let Some(id) = ctx.string(v, &p) {
                    if is_aws_id(&id, "sg-") {
                        g.id = Some(id);
                    } else {
                        ctx.issue(
                            v,
                            &p,
                            format!("`{id}` is not a security group id"),
                            Some("ids look like `sg-0123456789abcdef0`".into()),
                        );
                    }
                }
            }
            "vpc" => {
                if let Some(id) = ctx.string(v, &p) {
                    if is_aws_id(&id, "vpc-") {
                        g.vpc = Some(id);
                    } else {
                        ctx.issue(
                            v,
                            &p,
                            format!("`{id}` is not a VPC id"),
                            Some("ids look like `vpc-0abc1234`".into()),
                        );
                    }
                }
            }
            "regions" => {
                let regions = check_regions(ctx, v, &p);
                if !settings.regions.is_empty() {
                    for r in &regions {
                        if !settings.regions.contains(r) {
                            ctx.issue(
                                v,
                                &p,
                                format!("region `{r}` is not in settings.regions"),
                                Some(format!(
                                    "settings.regions is [{}]",
                                    settings.regions.join(", ")
                                )),
                            );
                        }
                    }
                }
                g.regions = regions;
            }
            "accounts" => {
                let accounts = account_ids(ctx, v, &p);
                match &settings.accounts {
                    None => ctx.issue(
                        v,
                        &p,
                        "`accounts` narrows settings.accounts, which this policy does not set",
                        Some(
                            "add `settings: {accounts: organization}` or a list of accounts".into(),
                        ),
                    ),
                    Some(Accounts::List(all)) => {
                        if let Some(a) = accounts.iter().find(|a| !all.contains(a)) {
                            ctx.issue(
                                v,
                                &p,
                                format!("account `{a}` is not in settings.accounts"),
                                Some(format!("settings.accounts is [{}]", all.join(", "))),
                            );
                        }
                    }
                    Some(Accounts::Organization) => {}
                }
                g.accounts = accounts;
            }
            "mode" => {
                if let Some(m) = ctx.choice(v, &p, &MODES) {
                    g.mode = m;
                }
            }
            "global" => {
                if let Some(b) = ctx.boolean(v, &p) {
                    g.takes_global = b;
                }
            }
            "description" => g.description = ctx.string(v, &p),
            "create" => {
                if let Some(b) = ctx.boolean(v, &p) {
                    g.create = b;
                }
            }
            "keep_if_traffic" => {
                if let Some(b) = ctx.boolean(v, &p) {
                    if b && settings.flow_logs.is_none() {
                        ctx.issue(
                            v,
                            &p,
                            "keep_if_traffic needs settings.flow_logs, where the traffic is read",
                            Some(
                                "add `settings: {flow_logs: {log_group: NAME, look_back: 1d}}`"
                                    .into(),
                            ),
                        );
                    }
                    g.keep_if_traffic = b;
                }
            }
            "ingress" => own_ingress = Some(check_rules(ctx, vars, v, &p, Direction::Ingress)),
            "egress" => own_egress = Some(check_rules(ctx, vars, v, &p, Direction::Egress)),
            _ => {}
        }
    }
    if g.select.is_some() {
        // settings.create_missing does not reach select entries (check_entry_kind).
        g.create = false;
    }
    let global = inherited.global;
    for (direction, own) in [
        (Direction::Ingress, own_ingress),
        (Direction::Egress, own_egress),
    ] {
        let of = |set: &'i Global| match direction {
            Direction::Ingress => set.ingress.as_ref(),
            Direction::Egress => set.egress.as_ref(),
        };
        // Own rules, then each included template's, then the global ones.
        let mut sources: Vec<(&str, &Vec<DesiredRule>)> = Vec::new();
        for t in &included {
            sources.extend(of(t).map(|r| ("included", r)));
        }
        if g.takes_global {
            sources.extend(of(global).map(|r| ("global", r)));
        }
        let rules = if own.is_none() && sources.is_empty() {
            None
        } else {
            let mut all = own.unwrap_or_default();
            for (what, more) in sources {
                match room(all.len(), more.len(), &mut vars.rules_expanded) {
                    Ok(()) => all.extend(more.iter().cloned()),
                    Err(e) => ctx.issue(
                        at,
                        &join(&path, direction.as_str()),
                        format!("with the {what} {direction} rules, {e}"),
                        Some(ROOM_HELP.into()),
                    ),
                }
            }
            Some(collapse(all))
        };
        match direction {
            Direction::Ingress => g.ingress = rules,
            Direction::Egress => g.egress = rules,
        }
    }
    (ctx.issues.len() == before).then_some(g)
}

/// How an entry names its groups: by `select`, or by `name`/`id`, never both; a select
/// entry is never created, and `priority` orders select entries only.
fn check_entry_kind(ctx: &mut Ctx, path: &str, fields: &[(&str, At<'_>)]) {
    let has = |k: &str| fields.iter().find(|(key, _)| *key == k).map(|(_, a)| *a);
    if has("select").is_some() {
        if let Some(v) = has("name").or(has("id")) {
            ctx.issue(
                v,
                path,
                "`select` with `name` or `id`: an entry names one group or selects many",
                Some("drop `name`/`id`, or write two entries".into()),
            );
        }
        if let Some(v) = has("create")
            && v.node.value == Value::Bool(true)
        {
            ctx.issue(
                v,
                &join(path, "create"),
                "a `select` entry cannot create groups: it has no one name to create",
                Some("set `create: false` on it, or name the group in an entry of its own".into()),
            );
        }
    } else if let Some(v) = has("priority") {
        ctx.issue(
            v,
            &join(path, "priority"),
            "`priority` orders `select` entries; this entry has no `select`",
            Some("an `id` or `name` entry always comes before every select entry".into()),
        );
    }
}

fn check_exception(
    ctx: &mut Ctx,
    vars: &mut Vars<'_, '_>,
    known: &Known<'_>,
    at: At<'_>,
    index: usize,
) -> Option<Exception> {
    let path = format!("exceptions[{index}]");
    if !matches!(at.node.value, Value::Map(_)) {
        ctx.issue(
            at,
            &path,
            format!(
                "expected an exception (a mapping with group, rule, expires, owner), found {}",
                at.node.kind()
            ),
            None,
        );
        return None;
    }
    let fields = ctx.fields(at, &path, &keys().exception)?;
    let get = |k: &str| fields.iter().find(|(key, _)| *key == k).map(|(_, a)| *a);
    let before = ctx.issues.len();
    let for_guardrail = get("guardrail").is_some();
    for required in ["group", "rule", "expires", "owner"] {
        if get(required).is_none() && !(required == "group" && for_guardrail) {
            let help = match required {
                "expires" => {
                    Some("an exception always ends: add `expires: YYYY-MM-DD`".to_string())
                }
                "owner" => {
                    Some("add who answers for it, e.g. `owner: alice@example.com`".to_string())
                }
                _ => None,
            };
            ctx.issue(at, &path, format!("missing `{required}`"), help);
        }
    }
    match (for_guardrail, get("group").is_some(), get("select")) {
        (false, _, Some(v)) => ctx.issue(
            v,
            &join(&path, "select"),
            "`select` is for an exception to a guardrail",
            Some("add `guardrail: ID`, or name the entry with `group:`".into()),
        ),
        (true, true, Some(v)) => ctx.issue(
            v,
            &join(&path, "select"),
            "`group` and `select` together",
            Some("name the groups one way".into()),
        ),
        (true, false, None) => ctx.issue(
            at,
            &path,
            "missing `group` or `select`: which groups the exception holds in",
            Some("add `group: KEY` or `select: {...}`".into()),
        ),
        _ => {}
    }
    let group = get("group").and_then(|g| {
        let p = join(&path, "group");
        let name = ctx.string(g, &p)?;
        if known.group_keys.contains(&name) {
            Some(name)
        } else {
            let help = ctx
                .suggest
                .closest(&name, known.group_keys.iter().map(String::as_str))
                .map(|s| format!("did you mean `{s}`?"));
            ctx.issue(g, &p, format!("`{name}` names no policy group"), help);
            None
        }
    });
    let guardrail = get("guardrail").and_then(|g| {
        let p = join(&path, "guardrail");
        let id = ctx.string(g, &p)?;
        if known.guardrails.iter().any(|r| r.id == id) {
            Some(id)
        } else {
            let help = suggest::closest(&id, known.guardrails.iter().map(|r| r.id.as_str()))
                .map(|s| format!("did you mean `{s}`?"));
            ctx.issue(g, &p, format!("`{id}` names no guardrail"), help);
            None
        }
    });
    let select = get("select").and_then(|v| fleet::check_select(ctx, v, &join(&path, "select")));
    let expires = get("expires").and_then(|e| {
        let p = join(&path, "expires");
        let text = ctx.string(e, &p)?;
        match NaiveDate::parse_from_str(&text, "%Y-%m-%d") {
            Ok(d) => Some(d),
            Err(_) => {
                ctx.issue(
                    e,
                    &p,
                    format!("`{text}` is not a date"),
                    Some("write YYYY-MM-DD, e.g. 2026-12-31".into()),
                );
                None
            }
        }
    });
    let owner = get("owner").and_then(|o| {
        let p = join(&path, "owner");
        let s = ctx.string(o, &p)?;
        if s.trim().is_empty() {
            ctx.issue(o, &p, "empty owner", None);
            return None;
        }
        Some(s)
    });
    let reason = get("reason").and_then(|r| ctx.string(r, &join(&path, "reason")));
    let accounts = get("accounts")
        .map(|a| account_ids(ctx, a, &join(&path, "accounts")))
        .unwrap_or_default();
    let mut text_out = String::new();
    let mut rules = Vec::new();
    let mut patterns = Vec::new();
    if let Some(r) = get("rule") {
        let p = join(&path, "rule");
        if let Some(text) = ctx.string(r, &p) {
            if for_guardrail {
                match crate::guardrail::parse(&text) {
                    Ok(found) => patterns = found,
                    Err(e) => ctx.syntax(r, &p, e),
                }
            } else {
                rules = exception_rules(ctx, vars, r, &p, &text, group.as_ref(), known.groups);
            }
            text_out = text;
        }
    }
    if ctx.issues.len() != before {
        return None;
    }
    Some(Exception {
        group,
        guardrail,
        select,
        accounts,
        text: text_out,
        rules,
        patterns,
        expires: expires?,
        owner: owner?,
        reason,
    })
}

/// The atomic rules of an exception for extra rules, its peers resolved through the
/// variables; the entry it names must manage the rule's direction.
fn exception_rules(
    ctx: &mut Ctx,
    vars: &mut Vars<'_, '_>,
    r: At<'_>,
    p: &str,
    text: &str,
    group: Option<&String>,
    groups: &BTreeMap<String, GroupPolicy>,
) -> Vec<Rule> {
    let c = match rule::parse_compact(text, None) {
        Ok(c) => c,
        Err(e) => {
            ctx.syntax(r, p, e);
            return Vec::new();
        }
    };
    let mut peers = Vec::new();
    for peer in &c.peers {
        vars.peer_into(ctx, peer, r, &|| p.to_string(), &mut peers);
    }
    let mut out = Vec::new();
    let expanded = &mut vars.rules_expanded;
    if let Err(e) = push_product(&mut out, c.direction, &c.protocols, &peers, None, expanded) {
        ctx.issue(r, p, e, Some(ROOM_HELP.into()));
    }
    let mut rules: Vec<Rule> = out.into_iter().map(|d| d.rule).collect();
    rules.sort();
    rules.dedup();
    if let Some(gk) = group
        && let Some(gp) = groups.get(gk)
        && gp.rules(c.direction).is_none()
    {
        ctx.issue(
            r,
            p,
            format!("group `{gk}` does not manage {} rules", c.direction),
            Some(format!(
                "an exception applies to a direction the group lists (add `{}:` to the group)",
                c.direction
            )),
        );
    }
    rules
}
