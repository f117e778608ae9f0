//! Imports from the tools sgwarden replaces: each prints an sgwarden policy (YAML) that
//! means exactly the rules the old tool wrote to EC2, so an estate it managed shows no
//! drift on day one.
//!
//! - [`ini`]: a pysecurity-groups configuration (`sgwarden import ini FILE`);
//! - [`pysec`]: pysec-aws rules files (`sgwarden import pysec FILE|DIR… --group NAME`);
//! - [`current`]: today's groups, live or from a snapshot (`sgwarden import current`).
//!
//! The printed policy is parsed back by sgwarden's own checker before it is returned, so
//! an import never prints a policy sgwarden would reject.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;

use crate::policy::print::{quoted, scalar};
use ipnet::IpNet;

pub mod current;
pub mod ini;
pub mod pysec;

#[cfg(test)]
mod tests;

/// Why an import failed: the file, the line (1-based, when known), the offending word and
/// what was wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {message}{}", line.map(|l| format!(":{l}")).unwrap_or_default(), word.as_ref().map(|w| format!(" (at `{w}`)")).unwrap_or_default())]
pub struct ImportError {
    pub file: String,
    pub line: Option<usize>,
    pub word: Option<String>,
    pub message: String,
}

/// A printed policy and the warnings met on the way (for stderr).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    pub yaml: String,
    pub warnings: Vec<String>,
}

/// One group of the printed policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct OutGroup {
    /// The EC2 GroupName, when it differs from the key.
    pub name: Option<String>,
    pub id: Option<String>,
    pub vpc: Option<String>,
    pub regions: Vec<String>,
    pub description: Option<String>,
    /// `global: false` (a group only referenced, or one that must not take the globals).
    pub no_global: bool,
    /// A comment line above the entry.
    pub comment: Option<String>,
    /// Ingress rules (compact or flow-style structured text); `None` leaves it unmanaged.
    pub ingress: Option<Vec<String>>,
    pub egress: Option<Vec<String>>,
}

/// The whole printed policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct OutPolicy {
    pub header: Vec<String>,
    pub regions: Vec<String>,
    /// Variables (name → peers); printed only when some rule uses them.
    pub variables: BTreeMap<String, Vec<String>>,
    pub global_ingress: Vec<String>,
    pub groups: BTreeMap<String, OutGroup>,
}

impl OutPolicy {
    /// The YAML text, checked by sgwarden's own policy reader.
    pub(crate) fn render(&self, source: &str) -> Result<String, ImportError> {
        let mut out = String::new();
        for h in &self.header {
            let _ = writeln!(out, "# {h}");
        }
        out.push_str("version: 1\nsettings:\n");
        if !self.regions.is_empty() {
            let _ = writeln!(out, "  regions: [{}]", self.regions.join(", "));
        }
        out.push_str(
            "  # audit reports drift and changes nothing; add-only restores missing rules;\n  \
             # enforce also revokes extra ones.\n  default_mode: audit\n",
        );
        let used = |name: &str| {
            let reference = format!("@{name}");
            let uses = |rules: &[String]| rules.iter().any(|r| r.contains(&reference));
            uses(&self.global_ingress)
                || self.groups.values().any(|g| {
                    [&g.ingress, &g.egress]
                        .into_iter()
                        .flatten()
                        .any(|r| uses(r))
                })
        };
        let variables: Vec<_> = self.variables.iter().filter(|(k, _)| used(k)).collect();
        if !variables.is_empty() {
            out.push_str("variables:\n");
            for (name, peers) in variables {
                // Inside `[…]` a comma or bracket would end the item: those are quoted.
                let list: Vec<String> = peers
                    .iter()
                    .map(|p| match p.contains([',', '[', ']', '{', '}']) {
                        true => quoted(p),
                        false => scalar(p),
                    })
                    .collect();
                let _ = writeln!(out, "  {}: [{}]", scalar(name), list.join(", "));
            }
        }
        if !self.global_ingress.is_empty() {
            out.push_str("global:\n  ingress:\n");
            for r in &self.global_ingress {
                let _ = writeln!(out, "    - {}", scalar(r));
            }
        }
        if self.groups.is_empty() {
            out.push_str("groups: {}\n");
        } else {
            out.push_str("groups:\n");
        }
        for (key, g) in &self.groups {
            if let Some(c) = &g.comment {
                let _ = writeln!(out, "  # {c}");
            }
            let _ = writeln!(out, "  {}:", scalar(key));
            let fields = [
                ("name", g.name.as_deref()),
                ("id", g.id.as_deref()),
                ("vpc", g.vpc.as_deref()),
                ("description", g.description.as_deref()),
            ];
            let mut any = false;
            for (k, v) in fields {
                if let Some(v) = v {
                    let _ = writeln!(out, "    {k}: {}", scalar(v));
                    any = true;
                }
            }
            if !g.regions.is_empty() {
                let _ = writeln!(out, "    regions: [{}]", g.regions.join(", "));
                any = true;
            }
            if g.no_global {
                out.push_str("    global: false\n");
                any = true;
            }
            for (k, rules) in [("ingress", &g.ingress), ("egress", &g.egress)] {
                let Some(rules) = rules else { continue };
                any = true;
                if rules.is_empty() {
                    let _ = writeln!(out, "    {k}: []");
                    continue;
                }
                let _ = writeln!(out, "    {k}:");
                for r in rules {
                    let _ = writeln!(
                        out,
                        "      - {}",
                        if r.starts_with('{') {
                            r.clone()
                        } else {
                            scalar(r)
                        }
                    );
                }
            }
            if !any {
                out.push_str("    {}\n");
            }
        }
        let docs = [crate::policy::Document::new(source, out.clone())];
        crate::policy::load(source, &docs).map_err(|e| {
            // Say what the problem is: most often a limit the input went past (a group
            // with more rules than EC2 holds), not a fault of the import.
            let issues = e.issues();
            let mut problems: Vec<String> = issues
                .iter()
                .take(3)
                .map(|i| match i.path.as_str() {
                    "" => i.message.clone(),
                    path => format!("{path}: {}", i.message),
                })
                .collect();
            if issues.len() > 3 {
                problems.push(format!("and {} more", issues.len() - 3));
            }
            if problems.is_empty() {
                problems.push(e.to_string());
            }
            ImportError {
                file: source.to_string(),
                line: None,
                word: None,
                message: format!(
                    "the policy it makes would not be valid: {}",
                    problems.join("; ")
                ),
            }
        })?;
        Ok(out)
    }
}

/// An address or CIDR as EC2 stores it: a bare address is /32 (/128), host bits are
/// cleared (EC2 masks them; a note says so). `None` when the text is not an address.
pub(crate) fn cidr(
    text: &str,
    warnings: &mut Vec<String>,
    at: &str,
) -> Option<Result<String, String>> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(Ok(IpNet::from(ip).to_string()));
    }
    let (addr, prefix) = text.split_once('/')?;
    if addr.parse::<IpAddr>().is_err() {
        return None;
    }
    let net: IpNet = match text.parse() {
        Ok(n) => n,
        Err(_) => {
            return Some(Err(format!(
                "`/{prefix}` is not a valid prefix length for {addr}"
            )));
        }
    };
    let masked = net.trunc();
    if masked != net {
        warnings.push(format!(
            "{at}: `{text}` has host bits set; EC2 stores it as {masked}, and so does the policy"
        ));
    }
    Some(Ok(masked.to_string()))
}

/// `N` or `N-M` as (from, to); `None` when either side is not a number 0-65535.
pub(crate) fn port_pair(spec: &str) -> Option<(u16, u16)> {
    let number = |s: &str| s.trim().parse::<u16>().ok();
    match spec.split_once('-') {
        Some((a, b)) => Some((number(a)?, number(b)?)),
        None => number(spec).map(|n| (n, n)),
    }
}

/// What an old tool wrote for a protocol with FromPort/ToPort, as compact policy text:
/// for ICMP the pair is the type and the code, kept as written; for tcp/udp a port range.
pub(crate) fn protocol_text(proto: &str, from: u16, to: u16) -> Result<String, String> {
    if proto == "icmp" {
        if from > 255 || to > 255 {
            return Err("an ICMP type and code are 0-255".into());
        }
        return Ok(format!("icmp/{from}:{to}"));
    }
    if from > to {
        return Err(format!(
            "the range runs backwards; did you mean {to}-{from}?"
        ));
    }
    Ok(if from == to {
        format!("{proto}/{from}")
    } else {
        format!("{proto}/{from}-{to}")
    })
}
