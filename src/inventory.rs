//! Live security groups, normalised to atomic rules.
//!
//! EC2 returns permissions grouped (one IpPermission holding many ranges, groups and
//! prefix lists); [`split`] turns them into one rule per peer. The snapshot reader takes
//! the JSON that `aws ec2 describe-security-groups` prints. This module holds no AWS SDK
//! types: the EC2 adapter maps the SDK's shapes into [`Permission`] and calls [`split`].

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::place::Place;
use crate::rule::{self, DescribedRule, Direction, Peer, Protocol, Rule};

/// One live group and its rules, split into atomic rules.
#[derive(Clone, Debug, PartialEq)]
pub struct CurrentGroup {
    pub place: Place,
    pub group_id: String,
    pub group_name: String,
    pub vpc_id: Option<String>,
    pub owner_id: String,
    pub description: String,
    /// Its tags, key to value (what `select: {tags: …}` looks at).
    pub tags: BTreeMap<String, String>,
    /// Sorted, without duplicates.
    pub ingress: Vec<DescribedRule>,
    pub egress: Vec<DescribedRule>,
}

impl CurrentGroup {
    pub fn rules(&self, direction: Direction) -> &[DescribedRule] {
        match direction {
            Direction::Ingress => &self.ingress,
            Direction::Egress => &self.egress,
        }
    }

    pub fn rules_mut(&mut self, direction: Direction) -> &mut Vec<DescribedRule> {
        match direction {
            Direction::Ingress => &mut self.ingress,
            Direction::Egress => &mut self.egress,
        }
    }
}

/// A live group that could not be read into atomic rules (left untouched, reported).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnreadableGroup {
    pub place: Place,
    pub group_id: String,
    /// Its name and VPC, which still say which policy entry it is: a group that exists is
    /// never missing, readable or not.
    pub group_name: String,
    pub vpc_id: Option<String>,
    pub message: String,
}

/// Every live group of the governed regions.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Inventory {
    pub groups: Vec<CurrentGroup>,
    pub unreadable: Vec<UnreadableGroup>,
}

/// A referenced group in an EC2 permission.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupPair {
    pub group_id: Option<String>,
    pub user_id: Option<String>,
    pub description: Option<String>,
}

/// One EC2 IpPermission, in plain types.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Permission {
    pub ip_protocol: String,
    pub from_port: Option<i32>,
    pub to_port: Option<i32>,
    /// (CIDR, description)
    pub ipv4: Vec<(String, Option<String>)>,
    pub ipv6: Vec<(String, Option<String>)>,
    pub groups: Vec<GroupPair>,
    /// (prefix list id, description)
    pub prefix_lists: Vec<(String, Option<String>)>,
}

fn non_empty(d: Option<String>) -> Option<String> {
    d.filter(|s| !s.is_empty())
}

/// Splits EC2 permissions into atomic rules: one per CIDR, group pair and prefix list.
///
/// A pair whose UserId differs from `owner_id` (the account of the group holding the
/// rule) becomes `ACCOUNT/sg-…`. Live CIDRs with host bits are masked. The result is
/// sorted and has no duplicates. Errors name the permission that could not be read.
pub fn split(
    permissions: &[Permission],
    direction: Direction,
    owner_id: &str,
) -> Result<Vec<DescribedRule>, String> {
    let mut out = Vec::new();
    for p in permissions {
        let protocol =
            Protocol::from_ec2(&p.ip_protocol, p.from_port, p.to_port).ok_or_else(|| {
                let port = |p: Option<i32>| p.map_or_else(|| "none".to_string(), |n| n.to_string());
                format!(
                    "cannot read {direction} permission IpProtocol `{}` FromPort {} ToPort {}",
                    p.ip_protocol,
                    port(p.from_port),
                    port(p.to_port)
                )
            })?;
        let mut push = |peer: Peer, description: &Option<String>| {
            out.push(DescribedRule {
                rule: Rule {
                    direction,
                    protocol,
                    peer,
                },
                description: non_empty(description.clone()),
            });
        };
        for (cidr, d) in p.ipv4.iter().chain(&p.ipv6) {
            let peer = rule::parse_cidr(cidr, false).map_err(|e| e.to_string())?;
            push(peer, d);
        }
        for pair in &p.groups {
            let id = pair
                .group_id
                .as_deref()
                .ok_or_else(|| format!("a {direction} group pair has no GroupId"))?
                .to_ascii_lowercase();
            let account = pair
                .user_id
                .clone()
                .filter(|u| !u.is_empty() && u != owner_id);
            push(Peer::Group { account, id }, &pair.description);
        }
        for (id, d) in &p.prefix_lists {
            push(Peer::PrefixList(id.to_ascii_lowercase()), d);
        }
    }
    out.sort();
    out.dedup_by(|a, b| a.rule == b.rule);
    Ok(out)
}

// The shape `aws ec2 describe-security-groups` prints. Unknown fields (Tags, …) are ignored.

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SnapshotJson {
    security_groups: Vec<GroupJson>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GroupJson {
    group_id: String,
    group_name: String,
    #[serde(default)]
    owner_id: Option<String>,
    #[serde(default)]
    vpc_id: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    ip_permissions: Vec<PermissionJson>,
    #[serde(default)]
    ip_permissions_egress: Vec<PermissionJson>,
    #[serde(default)]
    tags: Vec<TagJson>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TagJson {
    key: String,
    #[serde(default)]
    value: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PermissionJson {
    ip_protocol: String,
    #[serde(default)]
    from_port: Option<i32>,
    #[serde(default)]
    to_port: Option<i32>,
    #[serde(default)]
    ip_ranges: Vec<RangeJson>,
    #[serde(default)]
    ipv6_ranges: Vec<RangeV6Json>,
    #[serde(default)]
    user_id_group_pairs: Vec<PairJson>,
    #[serde(default)]
    prefix_list_ids: Vec<PrefixJson>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RangeJson {
    cidr_ip: String,
    #[serde(default)]
    description: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RangeV6Json {
    cidr_ipv6: String,
    #[serde(default)]
    description: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PairJson {
    #[serde(default)]
    group_id: Option<String>,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    description: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PrefixJson {
    prefix_list_id: String,
    #[serde(default)]
    description: Option<String>,
}

impl From<PermissionJson> for Permission {
    fn from(p: PermissionJson) -> Self {
        Permission {
            ip_protocol: p.ip_protocol,
            from_port: p.from_port,
            to_port: p.to_port,
            ipv4: p
                .ip_ranges
                .into_iter()
                .map(|r| (r.cidr_ip, r.description))
                .collect(),
            ipv6: p
                .ipv6_ranges
                .into_iter()
                .map(|r| (r.cidr_ipv6, r.description))
                .collect(),
            groups: p
                .user_id_group_pairs
                .into_iter()
                .map(|g| GroupPair {
                    group_id: g.group_id,
                    user_id: g.user_id,
                    description: g.description,
                })
                .collect(),
            prefix_lists: p
                .prefix_list_ids
                .into_iter()
                .map(|r| (r.prefix_list_id, r.description))
                .collect(),
        }
    }
}

/// Adds one group to `inventory` from plain fields and EC2-shaped permissions: a
/// [`CurrentGroup`], or an [`UnreadableGroup`] when its permissions cannot be read.
#[expect(
    clippy::too_many_arguments,
    reason = "a plain constructor over EC2's fields"
)]
pub fn add_group(
    inventory: &mut Inventory,
    place: &Place,
    group_id: String,
    group_name: String,
    vpc_id: Option<String>,
    owner_id: String,
    description: String,
    tags: BTreeMap<String, String>,
    ingress: &[Permission],
    egress: &[Permission],
) {
    let read = |perms: &[Permission], d: Direction| split(perms, d, &owner_id);
    match (
        read(ingress, Direction::Ingress),
        read(egress, Direction::Egress),
    ) {
        (Ok(ingress), Ok(egress)) => inventory.groups.push(CurrentGroup {
            place: place.clone(),
            group_id,
            group_name,
            vpc_id: vpc_id.filter(|v| !v.is_empty()),
            owner_id,
            description,
            tags,
            ingress,
            egress,
        }),
        (Err(message), _) | (_, Err(message)) => inventory.unreadable.push(UnreadableGroup {
            place: place.clone(),
            group_id,
            group_name,
            vpc_id: vpc_id.filter(|v| !v.is_empty()),
            message,
        }),
    }
}

/// Reads one place's `describe-security-groups` JSON into `inventory`.
/// `file` names the snapshot in errors.
pub fn read_snapshot(
    file: &str,
    place: &Place,
    text: &str,
    inventory: &mut Inventory,
) -> Result<(), String> {
    let snap: SnapshotJson = serde_json::from_str(text).map_err(|e| {
        format!(
            "{file}:{}:{}: not a describe-security-groups snapshot: {e}",
            e.line(),
            e.column()
        )
    })?;
    for g in snap.security_groups {
        let ingress: Vec<Permission> = g.ip_permissions.into_iter().map(Permission::from).collect();
        let egress: Vec<Permission> = g
            .ip_permissions_egress
            .into_iter()
            .map(Permission::from)
            .collect();
        add_group(
            inventory,
            place,
            g.group_id,
            g.group_name,
            g.vpc_id,
            g.owner_id.unwrap_or_default(),
            g.description.unwrap_or_default(),
            g.tags.into_iter().map(|t| (t.key, t.value)).collect(),
            &ingress,
            &egress,
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(rules: &[DescribedRule]) -> Vec<String> {
        rules.iter().map(|r| r.rule.to_string()).collect()
    }

    fn snapshot(json: &str) -> Inventory {
        let mut inv = Inventory::default();
        read_snapshot(
            "snap.json",
            &crate::place::Place::new("", "us-east-1"),
            json,
            &mut inv,
        )
        .unwrap();
        inv
    }

    #[test]
    fn a_snapshot_carries_each_groups_tags() {
        let inv = snapshot(
            r#"{"SecurityGroups": [
                {"GroupId": "sg-1", "GroupName": "web", "Tags": [
                    {"Key": "tier", "Value": "web"}, {"Key": "sgwarden:ignore", "Value": ""}]},
                {"GroupId": "sg-2", "GroupName": "db"}]}"#,
        );
        let tags = &inv.groups[0].tags;
        assert_eq!(tags.get("tier").map(String::as_str), Some("web"));
        assert_eq!(tags.get("sgwarden:ignore").map(String::as_str), Some(""));
        assert!(inv.groups[1].tags.is_empty());
    }

    #[test]
    fn several_cidrs_groups_and_prefix_lists_in_one_permission_split_into_atomic_rules() {
        let inv = snapshot(
            r#"{"SecurityGroups":[{"GroupId":"sg-1","GroupName":"web","OwnerId":"111111111111","VpcId":"vpc-1",
            "IpPermissions":[{"IpProtocol":"tcp","FromPort":443,"ToPort":443,
              "IpRanges":[{"CidrIp":"10.0.0.0/8"},{"CidrIp":"192.168.0.0/16","Description":"lan"}],
              "Ipv6Ranges":[{"CidrIpv6":"2001:DB8::/32"}],
              "UserIdGroupPairs":[{"GroupId":"sg-2","UserId":"111111111111"},{"GroupId":"sg-3","UserId":"222222222222"}],
              "PrefixListIds":[{"PrefixListId":"pl-1a2b"}]}],
            "IpPermissionsEgress":[{"IpProtocol":"-1","IpRanges":[{"CidrIp":"0.0.0.0/0"}]}]}]}"#,
        );
        let g = &inv.groups[0];
        assert_eq!(
            texts(&g.ingress),
            vec![
                "tcp/443 from 10.0.0.0/8",
                "tcp/443 from 192.168.0.0/16",
                "tcp/443 from 2001:db8::/32",
                "tcp/443 from sg-2",
                "tcp/443 from 222222222222/sg-3",
                "tcp/443 from pl-1a2b",
            ]
        );
        assert_eq!(g.ingress[1].description.as_deref(), Some("lan"));
        assert_eq!(texts(&g.egress), vec!["all to 0.0.0.0/0"]);
    }

    #[test]
    fn numeric_protocols_icmp_and_all_follow_ec2() {
        let inv = snapshot(
            r#"{"SecurityGroups":[{"GroupId":"sg-1","GroupName":"x","OwnerId":"1",
            "IpPermissions":[
              {"IpProtocol":"6","FromPort":22,"ToPort":22,"IpRanges":[{"CidrIp":"10.0.0.0/8"}]},
              {"IpProtocol":"1","FromPort":3,"ToPort":4,"IpRanges":[{"CidrIp":"10.0.0.0/8"}]},
              {"IpProtocol":"icmp","FromPort":-1,"ToPort":-1,"IpRanges":[{"CidrIp":"10.0.0.0/8"}]},
              {"IpProtocol":"58","FromPort":128,"ToPort":-1,"Ipv6Ranges":[{"CidrIpv6":"::/0"}]},
              {"IpProtocol":"50","FromPort":0,"ToPort":0,"IpRanges":[{"CidrIp":"10.0.0.0/8"}]},
              {"IpProtocol":"-1","FromPort":0,"ToPort":65535,"IpRanges":[{"CidrIp":"10.0.0.5/8"}]}]}]}"#,
        );
        assert_eq!(
            texts(&inv.groups[0].ingress),
            vec![
                "tcp/22 from 10.0.0.0/8",
                "icmp from 10.0.0.0/8",
                "icmp/3:4 from 10.0.0.0/8",
                "icmpv6/128 from ::/0",
                "all from 10.0.0.0/8",
                "50 from 10.0.0.0/8",
            ]
        );
    }

    #[test]
    fn an_unreadable_permission_makes_the_group_unreadable_not_the_run() {
        let inv = snapshot(
            r#"{"SecurityGroups":[
              {"GroupId":"sg-1","GroupName":"bad","IpPermissions":[{"IpProtocol":"tcp","FromPort":1,"ToPort":99999}]},
              {"GroupId":"sg-2","GroupName":"ok"}]}"#,
        );
        assert_eq!(inv.groups.len(), 1);
        assert_eq!(inv.unreadable[0].group_id, "sg-1");
    }

    #[test]
    fn a_snapshot_that_is_not_json_names_file_and_position() {
        let mut inv = Inventory::default();
        let e = read_snapshot(
            "s.json",
            &crate::place::Place::new("", "us-east-1"),
            "{\n \"SecurityGroups\": [}",
            &mut inv,
        )
        .unwrap_err();
        assert!(e.starts_with("s.json:2:"), "{e}");
    }
}
