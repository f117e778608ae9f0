//! [`Ec2`] on the AWS SDK: describe with pagination, authorize and revoke by permission
//! (one atomic rule is one exact permission), description updates; EC2's error codes turned into
//! [`Ec2Error`] variants (EC2 has no modelled errors: `.code()` is the only handle).
//!
//! One client per account and region, built from one shared configuration; the SDK's
//! standard retry (with backoff on `RequestLimitExceeded` and other throttling codes)
//! applies to every call. Without members it acts in the account of its credentials;
//! with them (a hub deployment), a place's account picks the member role's credentials.
//! The groups it reads are named with the place asked about.

use std::collections::HashMap;
use std::sync::Mutex;

use aws_config::SdkConfig;
use aws_sdk_ec2::Client;
use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::types::{
    Filter, IpPermission, IpRange, Ipv6Range, PrefixListId, SecurityGroup, UserIdGroupPair,
};

use super::member::{Members, place_config};
use crate::inventory::{self, GroupPair, Inventory, Permission};
use crate::place::Place;
use crate::ports::{Ec2, Ec2Error, GroupRef, Interface};
use crate::rule::{DescribedRule, Direction, Peer, Rule};

/// The most values EC2 takes in one filter.
pub const FILTER_VALUES: usize = 200;

/// The most clients (one per account and region) kept at once.
const CLIENTS: usize = 32;

/// EC2 through the SDK.
pub struct SdkEc2 {
    config: SdkConfig,
    /// In a hub deployment, the member role of each governed account.
    members: Option<std::sync::Arc<Members>>,
    /// By (account, region).
    clients: Mutex<HashMap<(String, String), Client>>,
}

impl SdkEc2 {
    /// Every page of DescribeSecurityGroups, optionally with one filter (name, values).
    /// EC2 takes at most [`FILTER_VALUES`] values per filter: more values are asked for in
    /// as many calls as they need (an event can name thousands of groups).
    async fn describe_where(
        &self,
        place: &Place,
        filter: Option<(&str, &[String])>,
    ) -> Result<Inventory, Ec2Error> {
        let mut inv = Inventory::default();
        match filter {
            None => self.describe_page(place, None, &mut inv).await?,
            Some((name, values)) => {
                for chunk in values.chunks(FILTER_VALUES) {
                    self.describe_page(place, Some((name, chunk)), &mut inv)
                        .await?;
                }
            }
        }
        Ok(inv)
    }

    /// Every page of one DescribeSecurityGroups request, into `inv`.
    async fn describe_page(
        &self,
        place: &Place,
        filter: Option<(&str, &[String])>,
        inv: &mut Inventory,
    ) -> Result<(), Ec2Error> {
        let request = self
            .client(place)
            .await
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
            let g = item.map_err(|e| map_error("DescribeSecurityGroups", &e))?;
            add_group(place, &g, inv);
        }
        Ok(())
    }

    pub fn new(config: &SdkConfig) -> Self {
        SdkEc2 {
            config: config.clone(),
            members: None,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// EC2 in every account of a hub deployment: calls in a member account are made with
    /// its member role.
    pub fn with_members(mut self, members: std::sync::Arc<Members>) -> Self {
        self.members = Some(members);
        self
    }

    /// The member roles it calls member accounts with, in a hub deployment.
    pub fn members(&self) -> Option<&std::sync::Arc<Members>> {
        self.members.as_ref()
    }

    /// The client of a place (its account's credentials, its region), built once and
    /// reused, so its credentials are cached and refreshed by the SDK.
    async fn client(&self, place: &Place) -> Client {
        let key = (place.account.clone(), place.region.clone());
        let lock = || {
            self.clients
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        if let Some(c) = lock().get(&key) {
            return c.clone();
        }
        let conf = place_config(self.members.as_deref(), &self.config, place).await;
        let mut clients = lock();
        // A hub meets every account and region of an organization in one container:
        // the cache is bounded, so its memory is (clients are rebuilt when needed).
        if clients.len() >= CLIENTS {
            clients.clear();
        }
        clients
            .entry(key)
            .or_insert_with(|| Client::new(&conf))
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
        Some(code) => Ec2Error::api(
            operation,
            &super::one_line(code, 100),
            &super::one_line(e.message().unwrap_or(""), 500),
        ),
        None => Ec2Error::api(operation, "Unavailable", &super::error_text(e)),
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

fn add_group(place: &Place, g: &SecurityGroup, inv: &mut Inventory) {
    let ingress: Vec<Permission> = g.ip_permissions().iter().map(permission).collect();
    let egress: Vec<Permission> = g.ip_permissions_egress().iter().map(permission).collect();
    inventory::add_group(
        inv,
        place,
        g.group_id().unwrap_or_default().to_string(),
        g.group_name().unwrap_or_default().to_string(),
        g.vpc_id().map(str::to_string),
        g.owner_id().unwrap_or_default().to_string(),
        g.description().unwrap_or_default().to_string(),
        g.tags()
            .iter()
            .filter_map(|t| {
                Some((
                    t.key()?.to_string(),
                    t.value().unwrap_or_default().to_string(),
                ))
            })
            .collect(),
        &ingress,
        &egress,
    );
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
/// revoked (`RevokedSecurityGroupRules`), there must be one for every rule asked for. Some
/// endpoints (local emulators) leave that list out: then it is not checked.
#[derive(Debug, Default)]
struct RevokeAnswer {
    returned: Option<bool>,
    unknown: usize,
    revoked: usize,
}

impl RevokeAnswer {
    fn check(&self, asked: usize) -> Result<(), Ec2Error> {
        if self.returned == Some(false) || self.unknown > 0 {
            return Err(Ec2Error::NotFound {
                code: "UnknownIpPermissions".into(),
            });
        }
        if self.revoked > 0 && self.revoked < asked {
            return Err(Ec2Error::NotFound {
                code: "RevokedSecurityGroupRules".into(),
            });
        }
        Ok(())
    }
}

impl Ec2 for SdkEc2 {
    async fn describe(
        &self,
        place: &Place,
        group_ids: Option<&[String]>,
    ) -> Result<Inventory, Ec2Error> {
        // A filter, not GroupIds: an id that no longer exists is then simply absent
        // instead of failing the whole call.
        self.describe_where(place, group_ids.map(|ids| ("group-id", ids)))
            .await
    }

    async fn interfaces(
        &self,
        place: &Place,
        group_ids: &[String],
    ) -> Result<Vec<Interface>, Ec2Error> {
        let op = "DescribeNetworkInterfaces";
        let mut out = Vec::new();
        for chunk in group_ids.chunks(FILTER_VALUES) {
            let mut stream = self
                .client(place)
                .await
                .describe_network_interfaces()
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
                let ni = item.map_err(|e| map_error(op, &e))?;
                let Some(id) = ni.network_interface_id() else {
                    continue;
                };
                let v4 = ni
                    .private_ip_addresses()
                    .iter()
                    .filter_map(|a| a.private_ip_address());
                let v6 = ni.ipv6_addresses().iter().filter_map(|a| a.ipv6_address());
                out.push(Interface {
                    id: id.to_string(),
                    group_ids: ni
                        .groups()
                        .iter()
                        .filter_map(|g| g.group_id().map(str::to_string))
                        .collect(),
                    addresses: v4.chain(v6).filter_map(|a| a.parse().ok()).collect(),
                });
            }
        }
        Ok(out)
    }

    async fn describe_named(&self, place: &Place, names: &[String]) -> Result<Inventory, Ec2Error> {
        self.describe_where(place, Some(("group-name", names)))
            .await
    }

    async fn create_group(
        &self,
        place: &Place,
        name: &str,
        description: &str,
        vpc: Option<&str>,
    ) -> Result<String, Ec2Error> {
        let out = self
            .client(place)
            .await
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
        let client = self.client(&group.place).await;
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
        // By permission, not by rule id: an atomic rule is exactly one permission with one
        // peer, and EC2 matches it exactly (descriptions aside). This needs no read of the
        // rule ids first; what was really revoked is checked below and by the re-read.
        let perms = rules
            .iter()
            .map(|r| rule_permission(r, None))
            .collect::<Result<Vec<_>, _>>()?;
        let client = self.client(&group.place).await;
        let answer = match direction {
            Direction::Ingress => {
                let out = client
                    .revoke_security_group_ingress()
                    .group_id(&group.group_id)
                    .set_ip_permissions(Some(perms))
                    .send()
                    .await
                    .map_err(|e| map_error("RevokeSecurityGroupIngress", &e))?;
                RevokeAnswer {
                    returned: out.r#return(),
                    unknown: out.unknown_ip_permissions().len(),
                    revoked: out.revoked_security_group_rules().len(),
                }
            }
            Direction::Egress => {
                let out = client
                    .revoke_security_group_egress()
                    .group_id(&group.group_id)
                    .set_ip_permissions(Some(perms))
                    .send()
                    .await
                    .map_err(|e| map_error("RevokeSecurityGroupEgress", &e))?;
                RevokeAnswer {
                    returned: out.r#return(),
                    unknown: out.unknown_ip_permissions().len(),
                    revoked: out.revoked_security_group_rules().len(),
                }
            }
        };
        answer.check(rules.len())
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
        let client = self.client(&group.place).await;
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
