//! [`Ec2`] on the AWS SDK: describe with pagination, authorize by permission, revoke by
//! security group rule id, description updates; EC2's error codes turned into
//! [`Ec2Error`] variants (EC2 has no modelled errors: `.code()` is the only handle).
//!
//! One client per region, built from one shared configuration; the SDK's standard retry
//! (with backoff on `RequestLimitExceeded` and other throttling codes) applies to every call.

use std::collections::HashMap;
use std::sync::Mutex;

use aws_config::{Region, SdkConfig};
use aws_sdk_ec2::Client;
use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_ec2::types::{
    Filter, IpPermission, IpRange, Ipv6Range, PrefixListId, SecurityGroup, SecurityGroupRule,
    UserIdGroupPair,
};

use crate::inventory::{self, GroupPair, Inventory, Permission};
use crate::ports::{Ec2, Ec2Error, GroupRef};
use crate::rule::{DescribedRule, Direction, Peer, Rule};

#[cfg(test)]
#[cfg(feature = "devkit")]
mod tests;

/// EC2 through the SDK.
pub struct SdkEc2 {
    config: SdkConfig,
    clients: Mutex<HashMap<String, Client>>,
    /// Rule ids read ahead for the groups a run will revoke from: (region, group id) →
    /// (rule, `sgr-…`). Each entry is used once; a revoke without one reads its own.
    rule_ids: Mutex<HashMap<RegionGroup, Vec<(Rule, String)>>>,
}

/// (region, group id).
type RegionGroup = (String, String);

/// Group ids per DescribeSecurityGroupRules filter (EC2 caps the values of one filter).
const GROUPS_PER_FILTER: usize = 100;

impl SdkEc2 {
    /// Every page of DescribeSecurityGroups, optionally with one filter (name, values).
    async fn describe_where(
        &self,
        region: &str,
        filter: Option<(&str, &[String])>,
    ) -> Result<Inventory, Ec2Error> {
        let op = "DescribeSecurityGroups";
        let mut inv = Inventory::default();
        let request = self
            .client(region)
            .describe_security_groups()
            .set_filters(filter.map(|(name, values)| {
                vec![
                    Filter::builder()
                        .name(name)
                        .set_values(Some(values.to_vec()))
                        .build(),
                ]
            }));
        let mut stream = request.into_paginator().items().send();
        while let Some(item) = stream.next().await {
            let g = item.map_err(|e| map_error(op, &e))?;
            add_group(region, &g, &mut inv);
        }
        Ok(inv)
    }

    pub fn new(config: &SdkConfig) -> Self {
        SdkEc2 {
            config: config.clone(),
            clients: Mutex::new(HashMap::new()),
            rule_ids: Mutex::new(HashMap::new()),
        }
    }

    /// The client of a region, built once and reused.
    fn client(&self, region: &str) -> Client {
        let mut clients = self
            .clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        clients
            .entry(region.to_string())
            .or_insert_with(|| {
                let conf = aws_sdk_ec2::config::Builder::from(&self.config)
                    .region(Region::new(region.to_string()))
                    .build();
                Client::from_conf(conf)
            })
            .clone()
    }
}

/// Maps an SDK error to the port's error, keeping EC2's code and message.
pub fn map_error<E>(operation: &str, e: &E) -> Ec2Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match e.code() {
        Some("InvalidPermission.Duplicate") => Ec2Error::AlreadyPresent,
        Some(c @ ("InvalidPermission.NotFound" | "InvalidSecurityGroupRuleId.NotFound")) => {
            Ec2Error::NotFound {
                code: c.to_string(),
            }
        }
        Some(c @ ("InvalidGroup.NotFound" | "InvalidGroupId.NotFound")) => {
            Ec2Error::GroupNotFound {
                code: c.to_string(),
            }
        }
        Some(code) => Ec2Error::api(operation, code, e.message().unwrap_or("")),
        None => Ec2Error::api(
            operation,
            "Unavailable",
            &DisplayErrorContext(e).to_string(),
        ),
    }
}

fn permission(p: &IpPermission) -> Permission {
    Permission {
        ip_protocol: p.ip_protocol().unwrap_or("-1").to_string(),
        from_port: p.from_port(),
        to_port: p.to_port(),
        ipv4: p
            .ip_ranges()
            .iter()
            .filter_map(|r| {
                Some((
                    r.cidr_ip()?.to_string(),
                    r.description().map(str::to_string),
                ))
            })
            .collect(),
        ipv6: p
            .ipv6_ranges()
            .iter()
            .filter_map(|r| {
                Some((
                    r.cidr_ipv6()?.to_string(),
                    r.description().map(str::to_string),
                ))
            })
            .collect(),
        groups: p
            .user_id_group_pairs()
            .iter()
            .map(|g| GroupPair {
                group_id: g.group_id().map(str::to_string),
                user_id: g.user_id().map(str::to_string),
                description: g.description().map(str::to_string),
            })
            .collect(),
        prefix_lists: p
            .prefix_list_ids()
            .iter()
            .filter_map(|r| {
                Some((
                    r.prefix_list_id()?.to_string(),
                    r.description().map(str::to_string),
                ))
            })
            .collect(),
    }
}

fn add_group(region: &str, g: &SecurityGroup, inv: &mut Inventory) {
    let ingress: Vec<Permission> = g.ip_permissions().iter().map(permission).collect();
    let egress: Vec<Permission> = g.ip_permissions_egress().iter().map(permission).collect();
    match inventory::group_from_permissions(
        region,
        g.group_id().unwrap_or_default().to_string(),
        g.group_name().unwrap_or_default().to_string(),
        g.vpc_id().map(str::to_string),
        g.owner_id().unwrap_or_default().to_string(),
        g.description().unwrap_or_default().to_string(),
        &ingress,
        &egress,
    ) {
        Ok(group) => inv.groups.push(group),
        Err(u) => inv.unreadable.push(u),
    }
}

/// The EC2 permission that writes one atomic rule.
pub fn rule_permission(rule: &Rule, description: Option<&str>) -> Result<IpPermission, Ec2Error> {
    let mut b = IpPermission::builder().ip_protocol(rule.protocol.ec2_name());
    if let Some((from, to)) = rule.protocol.ec2_ports() {
        b = b.from_port(from).to_port(to);
    }
    let d = description.map(str::to_string);
    b = match &rule.peer {
        Peer::V4(net) => b.ip_ranges(
            IpRange::builder()
                .cidr_ip(net.to_string())
                .set_description(d)
                .build(),
        ),
        Peer::V6(net) => b.ipv6_ranges(
            Ipv6Range::builder()
                .cidr_ipv6(net.to_string())
                .set_description(d)
                .build(),
        ),
        Peer::Group { account, id } => b.user_id_group_pairs(
            UserIdGroupPair::builder()
                .group_id(id)
                .set_user_id(account.clone())
                .set_description(d)
                .build(),
        ),
        Peer::PrefixList(id) => b.prefix_list_ids(
            PrefixListId::builder()
                .prefix_list_id(id)
                .set_description(d)
                .build(),
        ),
        Peer::SelfGroup | Peer::Named(_) => {
            // INVARIANT: the planner never writes an unresolved peer (it skips `sg:NAME`
            // with no live group); reaching here is a bug, reported as an error.
            return Err(Ec2Error::api(
                "BuildPermission",
                "UnresolvedPeer",
                &format!("`{rule}` has no group id"),
            ));
        }
    };
    Ok(b.build())
}

/// The atomic rule an EC2 security group rule stands for (`None` when it cannot be read):
/// the rule as one permission with one peer, split by the inventory like every other.
pub fn rule_of(r: &SecurityGroupRule) -> Option<Rule> {
    let direction = if r.is_egress()? {
        Direction::Egress
    } else {
        Direction::Ingress
    };
    let mut p = Permission {
        ip_protocol: r.ip_protocol()?.to_string(),
        from_port: r.from_port(),
        to_port: r.to_port(),
        ..Permission::default()
    };
    if let Some(c) = r.cidr_ipv4() {
        p.ipv4.push((c.to_string(), None));
    } else if let Some(c) = r.cidr_ipv6() {
        p.ipv6.push((c.to_string(), None));
    } else if let Some(pl) = r.prefix_list_id() {
        p.prefix_lists.push((pl.to_string(), None));
    } else {
        let g = r.referenced_group_info()?;
        p.groups.push(GroupPair {
            group_id: Some(g.group_id()?.to_string()),
            user_id: g.user_id().map(str::to_string),
            description: None,
        });
    }
    let rules = inventory::split(&[p], direction, r.group_owner_id().unwrap_or("")).ok()?;
    rules.into_iter().next().map(|d| d.rule)
}

impl SdkEc2 {
    /// Every rule of the groups (one paginated DescribeSecurityGroupRules per chunk of
    /// groups), as (group id, rule, `sgr-…`).
    async fn read_rule_ids(
        &self,
        region: &str,
        group_ids: &[String],
    ) -> Result<Vec<(String, Rule, String)>, Ec2Error> {
        let op = "DescribeSecurityGroupRules";
        let mut out = Vec::new();
        for chunk in group_ids.chunks(GROUPS_PER_FILTER) {
            let mut stream = self
                .client(region)
                .describe_security_group_rules()
                .filters(
                    Filter::builder()
                        .name("group-id")
                        .set_values(Some(chunk.to_vec()))
                        .build(),
                )
                .into_paginator()
                .items()
                .send();
            while let Some(item) = stream.next().await {
                let r = item.map_err(|e| map_error(op, &e))?;
                if let (Some(group), Some(id), Some(rule)) =
                    (r.group_id(), r.security_group_rule_id(), rule_of(&r))
                {
                    out.push((group.to_string(), rule, id.to_string()));
                }
            }
        }
        Ok(out)
    }

    /// The ids (`sgr-…`) of a group's rules, for the rules asked for: from the read-ahead
    /// when it has them all, else read now.
    async fn rule_ids(&self, group: &GroupRef, rules: &[Rule]) -> Result<Vec<String>, Ec2Error> {
        let ahead = self
            .rule_ids
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&(group.region.clone(), group.group_id.clone()));
        let known: Vec<(Rule, String)> = match ahead {
            Some(known) => known,
            None => self
                .read_rule_ids(&group.region, std::slice::from_ref(&group.group_id))
                .await?
                .into_iter()
                .filter(|(g, _, _)| *g == group.group_id)
                .map(|(_, rule, id)| (rule, id))
                .collect(),
        };
        let ids: Option<Vec<String>> = rules
            .iter()
            .map(|want| {
                known
                    .iter()
                    .find(|(rule, _)| rule == want)
                    .map(|(_, id)| id.clone())
            })
            .collect();
        // A rule with no id is not there: EC2 would answer NotFound for the batch.
        ids.ok_or(Ec2Error::NotFound {
            code: "InvalidPermission.NotFound".into(),
        })
    }
}

/// One call taking a group id and IP permissions, to the ingress or the egress operation
/// (the SDK has a distinct builder type for each, so a function cannot take both).
macro_rules! ip_permission_call {
    ($client:expr, $direction:expr, $group:expr, $perms:expr,
     $ingress:ident / $ingress_name:literal, $egress:ident / $egress_name:literal) => {
        match $direction {
            Direction::Ingress => $client
                .$ingress()
                .group_id(&$group.group_id)
                .set_ip_permissions(Some($perms))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| map_error($ingress_name, &e)),
            Direction::Egress => $client
                .$egress()
                .group_id(&$group.group_id)
                .set_ip_permissions(Some($perms))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| map_error($egress_name, &e)),
        }
    };
}

/// What a revoke answered. EC2 reports a revoke it could not match as a success with
/// `UnknownIpPermissions` (or `Return: false`), not as an error; when it lists the rules it
/// revoked (`RevokedSecurityGroupRules`), every id asked for must be among them. Some
/// endpoints (local emulators) leave that list out: then it is not checked.
#[derive(Debug, Default)]
struct RevokeAnswer {
    returned: Option<bool>,
    unknown: usize,
    revoked: Vec<String>,
}

fn revoked_ids(rules: &[aws_sdk_ec2::types::RevokedSecurityGroupRule]) -> Vec<String> {
    rules
        .iter()
        .filter_map(|r| r.security_group_rule_id().map(str::to_string))
        .collect()
}

impl RevokeAnswer {
    fn check(&self, asked: &[String]) -> Result<(), Ec2Error> {
        if self.returned == Some(false) || self.unknown > 0 {
            return Err(Ec2Error::NotFound {
                code: "UnknownIpPermissions".into(),
            });
        }
        if !self.revoked.is_empty() && asked.iter().any(|id| !self.revoked.contains(id)) {
            return Err(Ec2Error::NotFound {
                code: "RevokedSecurityGroupRules".into(),
            });
        }
        Ok(())
    }
}

impl Ec2 for SdkEc2 {
    async fn prepare_revokes(&self, region: &str, group_ids: &[String]) {
        // A failed read-ahead costs nothing but speed: each revoke then reads its own ids.
        let Ok(rules) = self.read_rule_ids(region, group_ids).await else {
            return;
        };
        let mut ahead = self
            .rule_ids
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for id in group_ids {
            ahead.insert((region.to_string(), id.clone()), Vec::new());
        }
        for (group, rule, id) in rules {
            ahead
                .entry((region.to_string(), group))
                .or_default()
                .push((rule, id));
        }
    }

    async fn describe(
        &self,
        region: &str,
        group_ids: Option<&[String]>,
    ) -> Result<Inventory, Ec2Error> {
        // A filter, not GroupIds: an id that no longer exists is then simply absent
        // instead of failing the whole call.
        self.describe_where(region, group_ids.map(|ids| ("group-id", ids)))
            .await
    }

    async fn describe_named(&self, region: &str, names: &[String]) -> Result<Inventory, Ec2Error> {
        self.describe_where(region, Some(("group-name", names)))
            .await
    }

    async fn create_group(
        &self,
        region: &str,
        name: &str,
        description: &str,
        vpc: Option<&str>,
    ) -> Result<String, Ec2Error> {
        let out = self
            .client(region)
            .create_security_group()
            .group_name(name)
            .description(description)
            .set_vpc_id(vpc.map(str::to_string))
            .send()
            .await
            .map_err(|e| map_error("CreateSecurityGroup", &e))?;
        out.group_id().map(str::to_string).ok_or_else(|| {
            Ec2Error::api(
                "CreateSecurityGroup",
                "NoGroupId",
                "EC2 returned no group id",
            )
        })
    }

    async fn authorize(
        &self,
        group: &GroupRef,
        direction: Direction,
        rules: &[DescribedRule],
    ) -> Result<(), Ec2Error> {
        let perms = rules
            .iter()
            .map(|r| rule_permission(&r.rule, r.description.as_deref()))
            .collect::<Result<Vec<_>, _>>()?;
        let client = self.client(&group.region);
        ip_permission_call!(
            client,
            direction,
            group,
            perms,
            authorize_security_group_ingress / "AuthorizeSecurityGroupIngress",
            authorize_security_group_egress / "AuthorizeSecurityGroupEgress"
        )
    }

    async fn revoke(
        &self,
        group: &GroupRef,
        direction: Direction,
        rules: &[Rule],
    ) -> Result<(), Ec2Error> {
        let ids = self.rule_ids(group, rules).await?;
        let client = self.client(&group.region);
        let answer = match direction {
            Direction::Ingress => {
                let out = client
                    .revoke_security_group_ingress()
                    .group_id(&group.group_id)
                    .set_security_group_rule_ids(Some(ids.clone()))
                    .send()
                    .await
                    .map_err(|e| map_error("RevokeSecurityGroupIngress", &e))?;
                RevokeAnswer {
                    returned: out.r#return(),
                    unknown: out.unknown_ip_permissions().len(),
                    revoked: revoked_ids(out.revoked_security_group_rules()),
                }
            }
            Direction::Egress => {
                let out = client
                    .revoke_security_group_egress()
                    .group_id(&group.group_id)
                    .set_security_group_rule_ids(Some(ids.clone()))
                    .send()
                    .await
                    .map_err(|e| map_error("RevokeSecurityGroupEgress", &e))?;
                RevokeAnswer {
                    returned: out.r#return(),
                    unknown: out.unknown_ip_permissions().len(),
                    revoked: revoked_ids(out.revoked_security_group_rules()),
                }
            }
        };
        answer.check(&ids)
    }

    async fn update_descriptions(
        &self,
        group: &GroupRef,
        direction: Direction,
        rules: &[DescribedRule],
    ) -> Result<(), Ec2Error> {
        let perms = rules
            .iter()
            .map(|r| rule_permission(&r.rule, Some(r.description.as_deref().unwrap_or(""))))
            .collect::<Result<Vec<_>, _>>()?;
        let client = self.client(&group.region);
        ip_permission_call!(
            client,
            direction,
            group,
            perms,
            update_security_group_rule_descriptions_ingress
                / "UpdateSecurityGroupRuleDescriptionsIngress",
            update_security_group_rule_descriptions_egress
                / "UpdateSecurityGroupRuleDescriptionsEgress"
        )
    }
}
