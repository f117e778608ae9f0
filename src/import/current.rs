//! Today's groups as a starting policy (`sgwarden import current`): every group's ingress
//! and egress exactly as they are, so a team can adopt sgwarden in audit mode with zero
//! drift on day one and then tighten the policy.
//!
//! A group's key is its name when the name is unique in what was read; groups that share a
//! name (`default` in every VPC, a name replicated across regions) are keyed
//! `NAME-sg-…` and matched by `id`. A rule naming the group itself reads `self`; rule
//! descriptions are kept (structured form).

use std::collections::BTreeMap;

use super::{ImportError, Imported, OutGroup, OutPolicy};
use crate::inventory::{CurrentGroup, Inventory};
use crate::policy::print::{quoted, scalar};
use crate::rule::{DescribedRule, Peer};

/// The groups of an inventory as a policy (`source` names where they were read from).
pub fn import(inventory: &Inventory, source: &str) -> Result<Imported, ImportError> {
    let mut warnings: Vec<String> = inventory
        .unreadable
        .iter()
        .map(|u| {
            format!(
                "group {} in {} could not be read and is left out: {}",
                u.group_id, u.place.region, u.message
            )
        })
        .collect();
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    for g in &inventory.groups {
        *names.entry(g.group_name.as_str()).or_default() += 1;
    }
    let mut regions: Vec<String> = inventory
        .groups
        .iter()
        .map(|g| g.place.region.clone())
        .collect();
    regions.sort();
    regions.dedup();
    let mut policy = OutPolicy {
        header: vec![
            format!("The security groups of {source} as they were, by `sgwarden import current`."),
            "Every group in audit mode: no drift on day one. Tighten the rules, then pick modes."
                .into(),
        ],
        regions: regions.clone(),
        ..OutPolicy::default()
    };
    for g in &inventory.groups {
        let unique = names[g.group_name.as_str()] == 1;
        let key = if unique {
            g.group_name.clone()
        } else {
            format!("{}-{}", g.group_name, g.group_id)
        };
        let entry = OutGroup {
            name: None,
            id: (!unique).then(|| g.group_id.clone()),
            vpc: g.vpc_id.clone(),
            regions: if regions.len() > 1 {
                vec![g.place.region.clone()]
            } else {
                Vec::new()
            },
            description: (!g.description.is_empty()).then(|| g.description.clone()),
            no_global: false,
            comment: Some(format!("{} in {}", g.group_id, g.place.region)),
            ingress: Some(rules(g, &g.ingress)),
            egress: Some(rules(g, &g.egress)),
        };
        policy.groups.insert(key, entry);
    }
    warnings.extend(names.iter().filter(|(_, n)| **n > 1).map(|(name, n)| {
        format!("{n} groups are named `{name}`: each is keyed `{name}-sg-…` and matched by id")
    }));
    let yaml = policy.render(source)?;
    Ok(Imported { yaml, warnings })
}

/// A group's rules as policy text: `self` for the group itself, descriptions kept.
fn rules(group: &CurrentGroup, rules: &[DescribedRule]) -> Vec<String> {
    rules
        .iter()
        .map(|r| {
            let mut rule = r.rule.clone();
            if matches!(&rule.peer, Peer::Group { account: None, id } if *id == group.group_id) {
                rule.peer = Peer::SelfGroup;
            }
            match &r.description {
                None => rule.to_string(),
                Some(d) => {
                    let protocol = rule.protocol.to_string();
                    let (proto, ports) = match protocol.split_once('/') {
                        Some((p, ports)) => (p.to_string(), Some(ports.to_string())),
                        None => (protocol, None),
                    };
                    let ports = ports
                        .map(|p| format!(", ports: {}", quoted(&p)))
                        .unwrap_or_default();
                    format!(
                        "{{proto: {proto}{ports}, {}: [{}], description: {}}}",
                        rule.direction.keyword(),
                        scalar(&rule.peer.to_string()),
                        quoted(d)
                    )
                }
            }
        })
        .collect()
}
