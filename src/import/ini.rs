//! pysecurity-groups configurations (`sgwarden import ini FILE`).
//!
//! The format: sections are group names; `[CONFIG]` holds `regions` (and `account-id`);
//! `[VARIABLES]` holds `name = value[, value…]`; `[GLOBAL]` holds rules every defined group
//! gets. A rule line is `SOURCE: PROTO:PORTS`, where SOURCE is an address, a CIDR, a group
//! name, `@variable` or `*` (every group the file defines, by name, the group itself
//! included), and PROTO:PORTS is `tcp|udp|icmp` with `N`, `N-M`, a comma list, `@variable`
//! or `*`. What the old tool wrote to EC2 is kept exactly:
//!
//! - `tcp:*` and `udp:*` are ports 1-65535, `icmp:*` is all ICMP;
//! - `icmp:N` is ICMP type N code N (a warning says so: `icmp:8` allows no echo request);
//! - several lines with the same SOURCE in one section are all kept (the old tool's ini
//!   parser kept only the last of them, which its own README calls a fatal flaw).

use std::collections::BTreeMap;

use super::{ImportError, Imported, OutGroup, OutPolicy, cidr, port_pair, protocol_text};

/// The default region of the old tool.
const DEFAULT_REGION: &str = "us-east-1";

/// The variable the printed policy gives `*`: every group the file defines.
const EVERY_GROUP: &str = "every-group";

/// One `key = value` (or `key: value`) line, continuation lines joined.
#[derive(Debug, Clone)]
struct Entry {
    line: usize,
    key: String,
    value: String,
}

/// Reads a configuration's text (`file` names it in errors and warnings).
pub fn import(file: &str, text: &str) -> Result<Imported, ImportError> {
    let err = |line: usize, word: &str, message: String| ImportError {
        file: file.to_string(),
        line: Some(line),
        word: (!word.is_empty()).then(|| word.to_string()),
        message,
    };
    // Sections in file order; a section named twice is merged.
    let mut order: Vec<String> = Vec::new();
    let mut sections: BTreeMap<String, Vec<Entry>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = strip_comment(raw.trim_end_matches('\r'));
        if line.trim().is_empty() {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            // A continuation of the previous value.
            let entry = current
                .as_ref()
                .and_then(|s| sections.get_mut(s))
                .and_then(|s| s.last_mut())
                .ok_or_else(|| err(n, line.trim(), "an indented line continues nothing".into()))?;
            let more = line.trim();
            if !entry.value.trim_end().ends_with(',') && !entry.value.is_empty() {
                entry.value.push(',');
            }
            entry.value.push(' ');
            entry.value.push_str(more);
            continue;
        }
        let line = line.trim();
        if let Some(rest) = line.strip_prefix('[') {
            let name = rest
                .strip_suffix(']')
                .ok_or_else(|| err(n, line, "a section header must end with `]`".into()))?
                .trim()
                .to_string();
            if name.is_empty() {
                return Err(err(n, line, "a section needs a name".into()));
            }
            if !sections.contains_key(&name) {
                order.push(name.clone());
                sections.insert(name.clone(), Vec::new());
            }
            current = Some(name);
            continue;
        }
        let Some(section) = current.as_ref() else {
            return Err(err(n, line, "a line before the first `[section]`".into()));
        };
        // ConfigParser splits at the first `:` or `=`.
        let at = line.find([':', '=']).ok_or_else(|| {
            err(
                n,
                line,
                "expected `SOURCE: PROTO:PORTS` or `name = value`".into(),
            )
        })?;
        let (key, value) = (line[..at].trim(), line[at + 1..].trim());
        if key.is_empty() {
            return Err(err(n, line, "the line has no SOURCE before `:`".into()));
        }
        if let Some(s) = sections.get_mut(section) {
            s.push(Entry {
                line: n,
                key: key.to_string(),
                value: value.to_string(),
            });
        }
    }

    let mut warnings = Vec::new();
    let mut policy = OutPolicy {
        header: vec![
            format!("Imported from the pysecurity-groups configuration {file} by `sgwarden import ini`."),
            "Every rule the old tool wrote to EC2, and nothing else: variables and `*` are expanded.".into(),
        ],
        ..OutPolicy::default()
    };
    let mut regions = vec![DEFAULT_REGION.to_string()];
    if let Some(config) = sections.get("CONFIG") {
        for e in config {
            match e.key.as_str() {
                "regions" => {
                    regions = split(&e.value);
                    if regions.is_empty() {
                        return Err(err(e.line, &e.key, "`regions` lists no region".into()));
                    }
                    if let Some(bad) = regions.iter().find(|r| !crate::policy::is_region(r)) {
                        return Err(err(e.line, bad, "not a region name (e.g. us-east-1)".into()));
                    }
                }
                "account-id" => policy.header.push(format!(
                    "The old configuration named account {}; sgwarden governs the account its credentials are for.",
                    e.value
                )),
                other => warnings.push(format!(
                    "{file}:{}: `{other}` in [CONFIG] has no meaning for sgwarden; left out",
                    e.line
                )),
            }
        }
    }
    policy.regions = regions;

    let mut variables: BTreeMap<String, Vec<String>> = BTreeMap::new();
    if let Some(vars) = sections.get("VARIABLES") {
        for e in vars {
            let values = split(&e.value);
            if let Some(v) = values.iter().find(|v| v.starts_with('@')) {
                return Err(err(
                    e.line,
                    v,
                    format!(
                        "variable `{}` refers to another variable; the old tool never expanded those, so it wrote nothing usable",
                        e.key
                    ),
                ));
            }
            variables.insert(e.key.clone(), values);
        }
    }
    let defined: Vec<String> = order
        .iter()
        .filter(|s| !matches!(s.as_str(), "CONFIG" | "VARIABLES" | "GLOBAL"))
        .cloned()
        .collect();
    let ctx = Ctx {
        file,
        variables: &variables,
        defined: &defined,
    };
    if !defined.is_empty() {
        policy.variables.insert(
            EVERY_GROUP.to_string(),
            defined.iter().map(|g| format!("sg:{g}")).collect(),
        );
    }
    let mut referenced: BTreeMap<String, usize> = BTreeMap::new();
    if let Some(global) = sections.get("GLOBAL") {
        policy.global_ingress = ctx.rules(global, &mut referenced, &mut warnings)?;
    }
    for name in &defined {
        let section = &sections[name];
        let rules = ctx.rules(section, &mut referenced, &mut warnings)?;
        policy.groups.insert(
            name.clone(),
            OutGroup {
                ingress: Some(rules),
                ..OutGroup::default()
            },
        );
    }
    for (name, line) in referenced {
        if policy.groups.contains_key(&name) {
            continue;
        }
        policy.groups.insert(
            name.clone(),
            OutGroup {
                comment: Some(format!(
                    "referenced as a source ({file}:{line}); not managed, as before"
                )),
                no_global: true,
                ..OutGroup::default()
            },
        );
    }
    let yaml = policy.render(file)?;
    Ok(Imported { yaml, warnings })
}

struct Ctx<'a> {
    file: &'a str,
    variables: &'a BTreeMap<String, Vec<String>>,
    defined: &'a [String],
}

impl Ctx<'_> {
    fn err(&self, line: usize, word: &str, message: String) -> ImportError {
        ImportError {
            file: self.file.to_string(),
            line: Some(line),
            word: Some(word.to_string()),
            message,
        }
    }

    /// A variable's values, by whole name.
    fn variable(&self, line: usize, word: &str) -> Result<&[String], ImportError> {
        let name = &word[1..];
        self.variables.get(name).map(Vec::as_slice).ok_or_else(|| {
            let hint = crate::suggest::closest(name, self.variables.keys().map(String::as_str))
                .map(|s| format!("; did you mean `@{s}`?"))
                .unwrap_or_default();
            self.err(
                line,
                word,
                format!("no variable `{name}` in [VARIABLES]{hint}"),
            )
        })
    }

    /// A section's rule lines as compact policy rules, one line per protocol and ports with
    /// the line's peers, in file order, repeats dropped.
    fn rules(
        &self,
        entries: &[Entry],
        referenced: &mut BTreeMap<String, usize>,
        warnings: &mut Vec<String>,
    ) -> Result<Vec<String>, ImportError> {
        let mut out: Vec<String> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for e in entries {
            let peers = self.sources(e, referenced, warnings)?;
            for ports in self.ports(e, warnings)? {
                let line = format!("{ports} from {}", peers.join(", "));
                if seen.insert(line.clone()) {
                    out.push(line);
                }
            }
        }
        Ok(out)
    }

    fn sources(
        &self,
        e: &Entry,
        referenced: &mut BTreeMap<String, usize>,
        warnings: &mut Vec<String>,
    ) -> Result<Vec<String>, ImportError> {
        let words: Vec<String> = if e.key.starts_with('@') {
            self.variable(e.line, &e.key)?.to_vec()
        } else {
            vec![e.key.clone()]
        };
        let mut peers = Vec::new();
        for w in &words {
            if w == "*" {
                if self.defined.is_empty() {
                    return Err(self.err(
                        e.line,
                        w,
                        "`*` means every group the file defines, and it defines none".into(),
                    ));
                }
                // One variable for every group, written once: spelled out in every
                // section, the file's `*` lines would grow with the square of its size.
                peers.push(format!("@{EVERY_GROUP}"));
                continue;
            }
            let at = format!("{}:{}", self.file, e.line);
            match cidr(w, warnings, &at) {
                Some(Ok(c)) => peers.push(c),
                Some(Err(m)) => return Err(self.err(e.line, w, m)),
                None if looks_like_address(w) => {
                    return Err(self.err(e.line, w, "not a valid address or CIDR".into()));
                }
                None if w.contains(char::is_whitespace) || w.contains(',') || w.is_empty() => {
                    return Err(self.err(
                        e.line,
                        w,
                        "a group name cannot hold spaces or commas".into(),
                    ));
                }
                None => {
                    referenced.entry(w.clone()).or_insert(e.line);
                    peers.push(format!("sg:{w}"));
                }
            }
        }
        if peers.is_empty() {
            return Err(self.err(e.line, &e.key, "the source stands for nothing".into()));
        }
        peers.dedup();
        Ok(peers)
    }

    /// PROTO:PORTS (after variables) as compact protocol/ports texts.
    fn ports(&self, e: &Entry, warnings: &mut Vec<String>) -> Result<Vec<String>, ImportError> {
        let mut tokens: Vec<String> = Vec::new();
        for t in split(&e.value) {
            if t.starts_with('@') {
                tokens.extend(self.variable(e.line, &t)?.iter().cloned());
            } else {
                tokens.push(t);
            }
        }
        if tokens.is_empty() {
            return Err(self.err(
                e.line,
                &e.key,
                "the rule has no PROTO:PORTS after `:`".into(),
            ));
        }
        let mut out = Vec::new();
        let mut proto: Option<String> = None;
        let mut warned = false;
        for t in tokens {
            let spec = match t.split_once(':') {
                Some((p, ports)) => {
                    let p = p.trim().to_ascii_lowercase();
                    if !matches!(p.as_str(), "tcp" | "udp" | "icmp") {
                        return Err(self.err(
                            e.line,
                            &t,
                            format!("`{p}` is not a protocol the old tool knew (tcp, udp, icmp)"),
                        ));
                    }
                    proto = Some(p);
                    ports.trim().to_string()
                }
                None => t.clone(),
            };
            let Some(p) = proto.as_deref() else {
                return Err(self.err(
                    e.line,
                    &t,
                    "ports without a protocol: write `tcp:PORTS`".into(),
                ));
            };
            // A port part may itself be a variable of ports.
            let specs: Vec<String> = if spec.starts_with('@') {
                self.variable(e.line, &spec)?.to_vec()
            } else {
                vec![spec]
            };
            for spec in specs {
                out.push(self.port_text(e, p, &spec, &mut warned, warnings)?);
            }
        }
        Ok(out)
    }

    fn port_text(
        &self,
        e: &Entry,
        proto: &str,
        spec: &str,
        warned: &mut bool,
        warnings: &mut Vec<String>,
    ) -> Result<String, ImportError> {
        if spec == "*" {
            return Ok(if proto == "icmp" {
                "icmp".into()
            } else {
                format!("{proto}/1-65535")
            });
        }
        let (from, to) = port_pair(spec).ok_or_else(|| {
            self.err(
                e.line,
                spec,
                "not a port number, a range `N-M`, `*` or `@variable`".into(),
            )
        })?;
        let text = protocol_text(proto, from, to).map_err(|m| self.err(e.line, spec, m))?;
        if proto == "icmp" && !*warned {
            *warned = true;
            warnings.push(format!(
                "{}:{}: `icmp:{spec}` is kept as the old tool wrote it: ICMP type {from} code {to}{}",
                self.file,
                e.line,
                if from == 8 && to == 8 {
                    " (this allows no echo request, whose code is 0; write `icmp/8` for every code)".to_string()
                } else {
                    format!("; write `icmp/{from}` in the policy for every code of type {from}")
                }
            ));
        }
        Ok(text)
    }
}

/// A comma list, trimmed, empty items dropped.
fn split(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// Drops a `;` or `#` comment: a whole line, or after whitespace (ConfigParser's rule).
fn strip_comment(line: &str) -> &str {
    if line.trim_start().starts_with(['#', ';']) {
        return "";
    }
    let mut prev_space = false;
    for (i, c) in line.char_indices() {
        if (c == ';' || c == '#') && prev_space {
            return line[..i].trim_end();
        }
        prev_space = c.is_whitespace();
    }
    line
}

fn looks_like_address(w: &str) -> bool {
    w.starts_with(|c: char| c.is_ascii_digit())
        && w.chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == '/')
        || w.contains("::")
}
