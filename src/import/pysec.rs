//! pysec-aws rules files (`sgwarden import pysec FILE|DIR… --group NAME [--vpc ID]`).
//!
//! One rule a line, `ADDRESS/PREFIX:FROM[-TO]^PROTO`; lines are trimmed, blank lines and
//! `#` lines skipped. A folder means its non-hidden files (a pysec repository also holds
//! its `.pysec` and `.hashes` state files, which are not rules). Every file merges into
//! the one group. pysec-aws handed FROM and TO to CloudFormation unchanged, so for ICMP
//! they are the type and the code, kept as such (with a warning).

use std::path::{Path, PathBuf};

use super::{ImportError, Imported, OutGroup, OutPolicy, cidr, port_pair, protocol_text};

/// One rules file's text, by the name used in messages.
#[derive(Debug, Clone)]
pub struct RulesFile {
    pub name: String,
    pub text: String,
}

/// The files named on the command line, folders opened to their non-hidden files (sorted
/// by name, not recursing).
pub fn read_paths(paths: &[PathBuf]) -> Result<Vec<RulesFile>, ImportError> {
    let io = |p: &Path, e: std::io::Error| ImportError {
        file: p.display().to_string(),
        line: None,
        word: None,
        message: format!("cannot read it: {e}"),
    };
    let read = |p: &Path| {
        crate::limits::read_text(p, "rules file", crate::limits::IMPORT_BYTES).map_err(|message| {
            ImportError {
                file: p.display().to_string(),
                line: None,
                word: None,
                message,
            }
        })
    };
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| io(p, e))?
                .filter_map(Result::ok)
                .map(|d| d.path())
                .filter(|f| {
                    f.is_file()
                        && !f
                            .file_name()
                            .and_then(|n| n.to_str())
                            .is_some_and(|n| n.starts_with('.'))
                })
                .collect();
            files.sort();
            for f in files {
                let text = read(&f)?;
                out.push(RulesFile {
                    name: f.display().to_string(),
                    text,
                });
            }
        } else {
            let text = read(p)?;
            out.push(RulesFile {
                name: p.display().to_string(),
                text,
            });
        }
    }
    Ok(out)
}

/// The rules of every file as one group's ingress.
pub fn import(
    files: &[RulesFile],
    group: &str,
    vpc: Option<&str>,
    regions: &[String],
) -> Result<Imported, ImportError> {
    let mut warnings = Vec::new();
    let mut rules: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for f in files {
        for (i, raw) in f.text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let rule = parse_line(&f.name, i + 1, line, &mut warnings)?;
            if seen.insert(rule.clone()) {
                rules.push(rule);
            }
        }
    }
    if files.is_empty() {
        return Err(ImportError {
            file: "(command line)".into(),
            line: None,
            word: None,
            message: "no rules file: name files or folders of pysec rules".into(),
        });
    }
    let mut policy = OutPolicy {
        header: vec![
            format!(
                "Imported from pysec-aws rules ({}) by `sgwarden import pysec`.",
                files
                    .iter()
                    .map(|f| f.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "Egress is left unmanaged, as pysec-aws left it.".into(),
        ],
        regions: regions.to_vec(),
        ..OutPolicy::default()
    };
    policy.groups.insert(
        group.to_string(),
        OutGroup {
            vpc: vpc.map(str::to_string),
            description: Some(format!("Security group created by PySec-AWS - {group}")),
            ingress: Some(rules),
            ..OutGroup::default()
        },
    );
    let yaml = policy.render(&files[0].name)?;
    Ok(Imported { yaml, warnings })
}

fn parse_line(
    file: &str,
    n: usize,
    line: &str,
    warnings: &mut Vec<String>,
) -> Result<String, ImportError> {
    let err = |word: &str, message: String| ImportError {
        file: file.to_string(),
        line: Some(n),
        word: Some(word.to_string()),
        message,
    };
    let syntax =
        "a pysec rule is `ADDRESS/PREFIX:FROM[-TO]^PROTO`, e.g. 52.35.22.100/32:80-443^tcp";
    let (rest, proto) = line
        .rsplit_once('^')
        .ok_or_else(|| err(line, format!("no `^PROTO`; {syntax}")))?;
    let proto = proto.trim().to_ascii_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "icmp") {
        return Err(err(&proto, "the protocol must be tcp, udp or icmp".into()));
    }
    // The ports follow the last `:` (an IPv6 address holds colons of its own).
    let (address, ports) = rest
        .rsplit_once(':')
        .ok_or_else(|| err(rest, format!("no `:PORTS`; {syntax}")))?;
    let at = format!("{file}:{n}");
    let peer = match cidr(address.trim(), warnings, &at) {
        Some(Ok(c)) => c,
        Some(Err(m)) => return Err(err(address, m)),
        None => return Err(err(address, format!("not an address or CIDR; {syntax}"))),
    };
    let (from, to) = port_pair(ports).ok_or_else(|| {
        err(
            ports,
            format!("`{ports}` is not a port number or range; {syntax}"),
        )
    })?;
    let text = protocol_text(&proto, from, to).map_err(|m| err(ports, m))?;
    if proto == "icmp" {
        warnings.push(format!(
            "{at}: `{ports}^icmp` is kept as pysec-aws wrote it: ICMP type {from} code {to}"
        ));
    }
    Ok(format!("{text} from {peer}"))
}
