//! `sgwarden show policy|current`: the policy as sgwarden reads it, and the current groups
//! split into atomic rules.

use std::io::{IsTerminal, Write};

use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};

use super::{CliError, load_policy, pretty};
use crate::local;
use crate::policy::Policy;
use crate::policy::print::{policy_value, rule_value, to_yaml};
use crate::report::{Outcome, render};
use crate::rule::Direction;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ShowFormat {
    Table,
    Yaml,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum ShowCommand {
    /// The policy as sgwarden reads it: every group's atomic rules, variables and globals expanded.
    Policy(ShowPolicyArgs),
    /// The current groups, split into atomic rules.
    Current(ShowCurrentArgs),
}

#[derive(Debug, Args)]
pub struct ShowPolicyArgs {
    #[arg(long, env = "SGWARDEN_POLICY")]
    pub policy: String,
    #[arg(long, value_enum)]
    pub format: Option<ShowFormat>,
    #[arg(long)]
    pub no_headers: bool,
}

#[derive(Debug, Args)]
pub struct ShowCurrentArgs {
    /// `aws ec2 describe-security-groups` output for one region, as [REGION=]FILE (repeatable).
    #[arg(long, value_name = "[REGION=]FILE", required = true)]
    pub snapshot: Vec<String>,
    #[arg(long)]
    pub region: Vec<String>,
    #[arg(long, value_enum)]
    pub format: Option<ShowFormat>,
    #[arg(long)]
    pub no_headers: bool,
}

fn show_format(f: Option<ShowFormat>) -> ShowFormat {
    f.unwrap_or(if std::io::stdout().is_terminal() {
        ShowFormat::Table
    } else {
        ShowFormat::Yaml
    })
}

/// The expanded policy: a table of every atomic rule, or a policy document (YAML, JSON)
/// that reads back the same.
pub(super) fn policy(a: &ShowPolicyArgs, out: &mut dyn Write) -> Result<Outcome, CliError> {
    let policy = load_policy(&a.policy)?;
    let text = match show_format(a.format) {
        ShowFormat::Table => policy_table(&policy, !a.no_headers),
        ShowFormat::Json => pretty(&policy_value(&policy)),
        ShowFormat::Yaml => to_yaml(&policy_value(&policy)),
    };
    out.write_all(text.as_bytes())?;
    Ok(Outcome::Clean)
}

/// The groups of snapshots, one row per atomic rule; unreadable groups are errors.
pub(super) fn current(a: &ShowCurrentArgs, out: &mut dyn Write) -> Result<Outcome, CliError> {
    let inventory = local::read_snapshots(&a.snapshot).map_err(CliError::Input)?;
    let mut groups: Vec<_> = inventory
        .groups
        .iter()
        .filter(|g| a.region.is_empty() || a.region.contains(&g.place.region))
        .collect();
    groups.sort_by(|x, y| {
        (&x.place.region, &x.vpc_id, &x.group_name, &x.group_id).cmp(&(
            &y.place.region,
            &y.vpc_id,
            &y.group_name,
            &y.group_id,
        ))
    });
    let text = match show_format(a.format) {
        ShowFormat::Table => {
            let mut rows = vec![
                ["REGION", "VPC", "GROUP", "ID", "RULE", "DESCRIPTION"]
                    .map(String::from)
                    .to_vec(),
            ];
            for g in &groups {
                for r in g.ingress.iter().chain(&g.egress) {
                    rows.push(vec![
                        g.place.region.clone(),
                        g.vpc_id.clone().unwrap_or_else(|| "-".into()),
                        g.group_name.clone(),
                        g.group_id.clone(),
                        r.rule.to_string(),
                        r.description.clone().unwrap_or_default(),
                    ]);
                }
            }
            render::columns(rows, !a.no_headers)
        }
        f => {
            let v = Value::Array(
                    groups
                        .iter()
                        .map(|g| {
                            json!({
                                "region": g.place.region, "group_id": g.group_id, "group_name": g.group_name,
                                "vpc_id": g.vpc_id, "owner_id": g.owner_id, "description": g.description,
                                "ingress": g.ingress.iter().map(rule_value).collect::<Vec<_>>(),
                                "egress": g.egress.iter().map(rule_value).collect::<Vec<_>>(),
                            })
                        })
                        .collect(),
                );
            if f == ShowFormat::Json {
                pretty(&v)
            } else {
                to_yaml(&v)
            }
        }
    };
    out.write_all(text.as_bytes())?;
    for u in &inventory.unreadable {
        writeln!(
            out,
            "error: cannot read group {} in {}: {}",
            u.group_id, u.place.region, u.message
        )?;
    }
    Ok(if inventory.unreadable.is_empty() {
        Outcome::Clean
    } else {
        Outcome::Error
    })
}

fn policy_table(p: &Policy, headers: bool) -> String {
    let mut rows = vec![
        [
            "GROUP",
            "MATCHES",
            "VPC",
            "REGIONS",
            "MODE",
            "RULE",
            "DESCRIPTION",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for g in p.groups.values() {
        let matches = g.id.clone().unwrap_or_else(|| g.name.clone());
        let regions = if g.regions.is_empty() {
            "*".to_string()
        } else {
            g.regions.join(",")
        };
        for direction in Direction::BOTH {
            for r in g.rules(direction).unwrap_or_default() {
                rows.push(vec![
                    g.key.clone(),
                    matches.clone(),
                    g.vpc.clone().unwrap_or_else(|| "*".into()),
                    regions.clone(),
                    g.mode.as_str().into(),
                    r.rule.to_string(),
                    r.description.clone().unwrap_or_default(),
                ]);
            }
        }
    }
    render::columns(rows, headers)
}
