//! `sgwarden export cloudformation`: a policy's groups as a CloudFormation template, for
//! teams that want their groups in a stack.
//!
//! Each policy group is an `AWS::EC2::SecurityGroup` with its rules (variables and globals
//! expanded, one peer per rule). A rule whose peer is a group of the policy (`self`,
//! `sg:NAME`) is a separate `AWS::EC2::SecurityGroupIngress`/`Egress` resource, so that
//! groups referring to each other make no dependency cycle. A group with no `vpc` takes
//! the template's `VpcId` parameter.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::policy::{DesiredRule, Policy};
use crate::rule::{Direction, Peer};

/// The template, and warnings on what CloudFormation cannot say exactly.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub template: Value,
    pub warnings: Vec<String>,
}

/// The CloudFormation logical id of each group key: its letters and digits, capitalised
/// after each separator, `SecurityGroup` appended, made unique.
fn logical_ids(policy: &Policy) -> BTreeMap<String, String> {
    let mut taken: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = BTreeMap::new();
    for key in policy.groups.keys() {
        let mut id = String::new();
        let mut upper = true;
        for c in key.chars() {
            if c.is_ascii_alphanumeric() {
                if upper {
                    id.push(c.to_ascii_uppercase());
                } else {
                    id.push(c);
                }
                upper = false;
            } else {
                upper = true;
            }
        }
        if !id.starts_with(|c: char| c.is_ascii_alphabetic()) {
            id.insert(0, 'G');
        }
        // CloudFormation takes logical ids of up to 255 characters; room is kept for
        // `SecurityGroup`, a uniqueness number and the rule resources' suffixes.
        id.truncate(LOGICAL_ID_BASE);
        id.push_str("SecurityGroup");
        let n = taken.entry(id.clone()).or_insert(0);
        *n += 1;
        if *n > 1 {
            id.push_str(&n.to_string());
        }
        out.insert(key.clone(), id);
    }
    out
}

/// The longest part of a logical id taken from a group key.
const LOGICAL_ID_BASE: usize = 200;

/// Why EC2 would refuse `text` as a group or rule description: at most 255 characters of
/// `a-zA-Z0-9`, space and `._-:/()#,@[]+=&;{}!$*`.
fn description_problem(text: &str) -> Option<String> {
    const ALLOWED: &str = "._-:/()#,@[]+=&;{}!$* ";
    if text.chars().count() > 255 {
        return Some("is longer than the 255 characters EC2 takes".into());
    }
    let bad: String = text
        .chars()
        .filter(|c| !c.is_ascii_alphanumeric() && !ALLOWED.contains(*c))
        .take(5)
        .collect();
    (!bad.is_empty()).then(|| {
        format!(
            "holds characters EC2 refuses ({bad:?}); it takes a-z, A-Z, 0-9, spaces and {ALLOWED}"
        )
    })
}

/// The protocol and ports of a rule as CloudFormation properties.
fn protocol_properties(rule: &DesiredRule, props: &mut Map<String, Value>) {
    props.insert("IpProtocol".into(), json!(rule.rule.protocol.ec2_name()));
    if let Some((from, to)) = rule.rule.protocol.ec2_ports() {
        props.insert("FromPort".into(), json!(from));
        props.insert("ToPort".into(), json!(to));
    }
    if let Some(d) = &rule.description {
        props.insert("Description".into(), json!(d));
    }
}

/// Builds the template of a loaded policy (`location` names it in the description).
pub fn cloudformation(policy: &Policy, location: &str) -> Template {
    let ids = logical_ids(policy);
    let mut warnings = Vec::new();
    let mut resources = Map::new();
    let mut outputs = Map::new();
    let mut needs_vpc_parameter = false;
    for (key, g) in &policy.groups {
        let me = &ids[key];
        let mut props = Map::new();
        props.insert("GroupName".into(), json!(g.name));
        let description = g.creation_description();
        if let Some(problem) = description_problem(&description) {
            warnings.push(format!(
                "groups.{key}: the description {problem}; the stack would fail to create the group"
            ));
        }
        props.insert("GroupDescription".into(), json!(description));
        match &g.vpc {
            Some(vpc) => props.insert("VpcId".into(), json!(vpc)),
            None => {
                needs_vpc_parameter = true;
                props.insert("VpcId".into(), json!({"Ref": "VpcId"}))
            }
        };
        if g.id.is_some() {
            warnings.push(format!(
                "groups.{key} matches an existing group by id; the template creates a new group named `{}`",
                g.name
            ));
        }
        for (direction, rules) in [
            (Direction::Ingress, &g.ingress),
            (Direction::Egress, &g.egress),
        ] {
            let Some(rules) = rules else { continue };
            let (inline_key, peer_prefix, standalone_type) = match direction {
                Direction::Ingress => (
                    "SecurityGroupIngress",
                    "Source",
                    "AWS::EC2::SecurityGroupIngress",
                ),
                Direction::Egress => (
                    "SecurityGroupEgress",
                    "Destination",
                    "AWS::EC2::SecurityGroupEgress",
                ),
            };
            let mut inline = Vec::new();
            let mut standalone = 0usize;
            for rule in rules {
                let mut p = Map::new();
                protocol_properties(rule, &mut p);
                if let Some(problem) = rule.description.as_deref().and_then(description_problem) {
                    warnings.push(format!(
                        "groups.{key}: the description of `{}` {problem}; the stack would fail",
                        rule.rule
                    ));
                }
                let group_peer = match &rule.rule.peer {
                    Peer::V4(net) => {
                        p.insert("CidrIp".into(), json!(net.to_string()));
                        None
                    }
                    Peer::V6(net) => {
                        p.insert("CidrIpv6".into(), json!(net.to_string()));
                        None
                    }
                    Peer::PrefixList(pl) => {
                        p.insert(format!("{peer_prefix}PrefixListId"), json!(pl));
                        None
                    }
                    Peer::Group { account, id } => {
                        let k = match direction {
                            Direction::Ingress => "SourceSecurityGroupId",
                            Direction::Egress => "DestinationSecurityGroupId",
                        };
                        p.insert(k.into(), json!(id));
                        if let (Some(a), Direction::Ingress) = (account, direction) {
                            p.insert("SourceSecurityGroupOwnerId".into(), json!(a));
                        }
                        None
                    }
                    Peer::SelfGroup => Some(me.clone()),
                    Peer::Named(name) => {
                        Some(ids.get(name).cloned().unwrap_or_else(|| name.clone()))
                    }
                };
                match group_peer {
                    None => inline.push(Value::Object(p)),
                    Some(peer) => {
                        standalone += 1;
                        let k = match direction {
                            Direction::Ingress => "SourceSecurityGroupId",
                            Direction::Egress => "DestinationSecurityGroupId",
                        };
                        p.insert(k.into(), json!({"Fn::GetAtt": [peer, "GroupId"]}));
                        p.insert("GroupId".into(), json!({"Fn::GetAtt": [me, "GroupId"]}));
                        let suffix = if direction == Direction::Ingress {
                            "Ingress"
                        } else {
                            "Egress"
                        };
                        let mut name = format!("{me}{suffix}{standalone}");
                        while resources.contains_key(&name) {
                            name.push('X');
                        }
                        resources.insert(name, json!({"Type": standalone_type, "Properties": p}));
                    }
                }
            }
            if direction == Direction::Egress && inline.is_empty() {
                warnings.push(format!(
                    "groups.{key}: CloudFormation gives a group with no inline egress rule EC2's default `all to 0.0.0.0/0`; the policy wants {}",
                    if rules.is_empty() { "no egress at all".to_string() } else { format!("only its {standalone} group-referencing egress rules") }
                ));
            }
            if !inline.is_empty() {
                props.insert(inline_key.into(), Value::Array(inline));
            }
        }
        resources.insert(
            me.clone(),
            json!({"Type": "AWS::EC2::SecurityGroup", "Properties": props}),
        );
        outputs.insert(
            format!("{me}Id"),
            json!({"Description": format!("The id of groups.{key} ({})", g.name), "Value": {"Fn::GetAtt": [me, "GroupId"]}}),
        );
    }
    let mut template = Map::new();
    template.insert("AWSTemplateFormatVersion".into(), json!("2010-09-09"));
    template.insert(
        "Description".into(),
        json!(format!("Security groups of the sgwarden policy {location}")),
    );
    if needs_vpc_parameter {
        template.insert(
            "Parameters".into(),
            json!({"VpcId": {"Type": "AWS::EC2::VPC::Id", "Description": "The VPC of the groups whose policy entry names none"}}),
        );
    }
    template.insert("Resources".into(), Value::Object(resources));
    if !outputs.is_empty() {
        template.insert("Outputs".into(), Value::Object(outputs));
    }
    Template {
        template: Value::Object(template),
        warnings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_keys_make_valid_logical_ids_and_bad_descriptions_are_warned_of() {
        let long = "a".repeat(300);
        let policy = crate::policy::load_str(
            "p.yaml",
            &format!(
                "version: 1\ngroups:\n  {long}: {{vpc: vpc-1, ingress: []}}\n  \
                 {long}-b: {{vpc: vpc-1, description: \"Café <web>\", \
                 ingress: [{{proto: tcp, ports: 22, from: [10.0.0.0/8], description: \"ssh → bastion\"}}]}}\n"
            ),
        )
        .unwrap();
        let t = cloudformation(&policy, "p.yaml");
        let resources = t.template["Resources"].as_object().unwrap();
        assert_eq!(resources.len(), 2);
        for id in resources.keys() {
            assert!(id.len() <= 255, "{}", id.len());
            assert!(id.chars().all(|c| c.is_ascii_alphanumeric()), "{id}");
        }
        let w = t.warnings.join("\n");
        assert!(
            w.contains("the description holds characters EC2 refuses"),
            "{w}"
        );
        assert!(
            w.contains("the description of `tcp/22 from 10.0.0.0/8` holds"),
            "{w}"
        );
    }
}
