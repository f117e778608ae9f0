//! Change risk: the traffic each planned revoke would cut, read from the VPC flow logs
//! when `settings.flow_logs` is set, and `keep_if_traffic`, which holds such revokes.
//!
//! Per place with planned revokes: the interfaces of the groups concerned (and of the
//! groups their rules name), then the window's flow records of those interfaces, read
//! once. A flow counts against a revoke when the rule lets it through and no rule left
//! after the run does, in that group or in another group on the same interface. A group
//! on the interface whose rules are not known (not read in this run) is taken to allow
//! nothing, so the risk errs high. Traffic that cannot be known (a prefix-list peer,
//! unreadable logs) is reported as unknown, and a `keep_if_traffic` group keeps the rule
//! then too: the hold fails closed.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use chrono::{DateTime, Utc};

use super::create::Found;
use super::{Enforcer, error};
use crate::drift::Drift;
use crate::flows::{
    ChangeRisk, FlowRecord, GroupAddresses, cut_traffic, flows_text, matches, measurable,
};
use crate::inventory::Inventory;
use crate::place::Place;
use crate::plan::{Op, Plan, Status};
use crate::policy::{FlowLogs, Policy};
use crate::ports::{Ec2, FindingSink, FlowSource, Interface, Notifier, PolicySource, RevertLedger};
use crate::report::ErrorJson;
use crate::rule::{Peer, Rule};
use crate::stage::Stage;

/// Whether an action is a revoke the run still means to make (or, in audit, would make).
fn pending_revoke(a: &crate::plan::Action) -> bool {
    a.op == Op::Revoke && a.status == Status::Planned
}

/// The plan with each pending revoke's change risk measured and the revokes
/// `keep_if_traffic` keeps held: what the revert budget takes, so the budget is never
/// spent on a write this stage holds back.
pub(super) struct Assessed(Plan);

impl Assessed {
    pub fn into_plan(self) -> Plan {
        self.0
    }
}

impl<E: Ec2, S: PolicySource, N: Notifier, L: RevertLedger, F: FlowSource, H: FindingSink>
    Enforcer<E, S, N, L, F, H>
{
    /// Measures every pending revoke of the plan and holds those `keep_if_traffic` keeps.
    pub(super) async fn assess(
        &self,
        policy: &Policy,
        found: &Found,
        mut plan: Plan,
        now: DateTime<Utc>,
        errors: &mut Vec<ErrorJson>,
    ) -> Assessed {
        let (inventory, d) = (found.inventory(), found.drift());
        measure_all(
            &self.ec2,
            &self.flows,
            policy,
            inventory,
            d,
            &mut plan,
            now,
            errors,
        )
        .await;
        Assessed(plan)
    }
}

/// Measures the pending revokes of `p`, place by place.
#[allow(clippy::too_many_arguments)]
async fn measure_all<E: Ec2, F: FlowSource>(
    ec2: &E,
    flows: &F,
    policy: &Policy,
    inventory: &Inventory,
    d: &Drift,
    p: &mut Plan,
    now: DateTime<Utc>,
    errors: &mut Vec<ErrorJson>,
) {
    let Some(logs) = &policy.settings.flow_logs else {
        return;
    };
    if p.refused.is_some() {
        return;
    }
    let mut by_place: BTreeMap<Place, Vec<usize>> = BTreeMap::new();
    for (i, gp) in p.groups.iter().enumerate() {
        if gp.actions.iter().any(pending_revoke) {
            by_place
                .entry(d.groups[gp.group].place.clone())
                .or_default()
                .push(i);
        }
    }
    if let Some(why) = flows.unavailable() {
        for plans in by_place.values() {
            unknown(policy, logs, d, p, plans, why);
        }
        return;
    }
    for (place, plans) in by_place {
        let after = rules_after(inventory, d, p, &place);
        match read(ec2, flows, logs, &after, d, p, &place, &plans, now).await {
            Ok(seen) => measure(policy, logs, &after, d, p, &plans, &seen),
            Err(e) => {
                errors.push(error(
                    Stage::Flows,
                    None,
                    Some(&place),
                    None,
                    format!("change risk not measured: {e}"),
                ));
                unknown(
                    policy,
                    logs,
                    d,
                    p,
                    &plans,
                    &format!("the flow logs could not be read: {e}"),
                );
            }
        }
    }
}

/// What one place's reads found.
struct Seen {
    /// The interfaces of the groups with pending revokes.
    interfaces: Vec<Interface>,
    /// Addresses by group id, for group peers.
    addresses: GroupAddresses,
    records: Vec<FlowRecord>,
}

async fn interfaces_of<E: Ec2>(
    ec2: &E,
    place: &Place,
    ids: &[String],
) -> Result<Vec<Interface>, String> {
    ec2.interfaces(place, ids)
        .await
        .map_err(|e| format!("cannot list network interfaces: {e}"))
}

#[allow(clippy::too_many_arguments)]
async fn read<E: Ec2, F: FlowSource>(
    ec2: &E,
    flows: &F,
    logs: &FlowLogs,
    after: &BTreeMap<String, Vec<Rule>>,
    d: &Drift,
    p: &Plan,
    place: &Place,
    plans: &[usize],
    now: DateTime<Utc>,
) -> Result<Seen, String> {
    let own: BTreeSet<String> = plans
        .iter()
        .map(|i| d.groups[p.groups[*i].group].group_id.clone())
        .collect();
    let own_list: Vec<String> = own.iter().cloned().collect();
    let interfaces = interfaces_of(ec2, place, &own_list).await?;

    // Group peers of the revoked rules and of the rules left after the run on those
    // interfaces: their addresses decide what a flow's peer is.
    let on_interfaces: BTreeSet<&str> = interfaces
        .iter()
        .flat_map(|i| i.group_ids.iter().map(String::as_str))
        .collect();
    let staying = on_interfaces.iter().filter_map(|g| after.get(*g)).flatten();
    let revoked = plans
        .iter()
        .flat_map(|i| p.groups[*i].actions.iter().filter(|a| pending_revoke(a)))
        .map(|a| &a.rule.rule);
    let peers: BTreeSet<String> = staying
        .chain(revoked)
        .filter_map(|r| match &r.peer {
            Peer::Group { id, .. } => Some(id.clone()),
            _ => None,
        })
        .collect();
    let more: Vec<String> = peers.difference(&own).cloned().collect();
    let peer_interfaces = interfaces_of(ec2, place, &more).await?;

    let mut addresses = GroupAddresses::new();
    let mut seen_ids = BTreeSet::new();
    for i in interfaces.iter().chain(&peer_interfaces) {
        if !seen_ids.insert(i.id.as_str()) {
            continue;
        }
        for g in &i.group_ids {
            addresses
                .entry(g.clone())
                .or_default()
                .extend(i.addresses.iter().copied());
        }
    }
    let records = if interfaces.is_empty() {
        Vec::new()
    } else {
        let ids: Vec<String> = interfaces.iter().map(|i| i.id.clone()).collect();
        // The policy bounds the window to 30 days; the fallback only stops an overflow.
        let start = i64::try_from(logs.look_back_seconds)
            .ok()
            .and_then(chrono::Duration::try_seconds)
            .and_then(|d| now.checked_sub_signed(d))
            .unwrap_or(now);
        flows
            .records(place, &logs.log_group, start, now, &ids)
            .await
            .map_err(|e| e.to_string())?
    };
    Ok(Seen {
        interfaces,
        addresses,
        records,
    })
}

/// The rules each known group of the place has after the run: live, without its
/// pending revokes, with its pending authorizations.
fn rules_after(
    inventory: &Inventory,
    d: &Drift,
    p: &Plan,
    place: &Place,
) -> BTreeMap<String, Vec<Rule>> {
    let mut out: BTreeMap<String, Vec<Rule>> = inventory
        .groups
        .iter()
        .filter(|g| g.place == *place)
        .map(|g| {
            let rules = g.ingress.iter().chain(&g.egress).map(|r| r.rule.clone());
            (g.group_id.clone(), rules.collect())
        })
        .collect();
    for gp in &p.groups {
        let g = &d.groups[gp.group];
        if g.place != *place {
            continue;
        }
        let Some(rules) = out.get_mut(&g.group_id) else {
            continue;
        };
        for a in gp.actions.iter().filter(|a| a.status == Status::Planned) {
            match a.op {
                Op::Revoke => rules.retain(|r| *r != a.rule.rule),
                Op::Authorize => rules.push(a.rule.rule.clone()),
                Op::UpdateDescription => {}
            }
        }
    }
    out
}

fn keeps(policy: &Policy, d: &Drift, p: &Plan, plan: usize) -> bool {
    policy
        .groups
        .get(
            d.groups[p.groups[plan].group]
                .key
                .as_deref()
                .unwrap_or_default(),
        )
        .is_some_and(|g| g.keep_if_traffic)
}

fn measure(
    policy: &Policy,
    logs: &FlowLogs,
    after: &BTreeMap<String, Vec<Rule>>,
    d: &Drift,
    p: &mut Plan,
    plans: &[usize],
    seen: &Seen,
) {
    let by_id: BTreeMap<&str, &Interface> =
        seen.interfaces.iter().map(|i| (i.id.as_str(), i)).collect();
    let window = logs.look_back_text();
    for &i in plans {
        let keep = keeps(policy, d, p, i);
        let group_id = d.groups[p.groups[i].group].group_id.clone();
        let mine: BTreeMap<&str, &[IpAddr]> = seen
            .interfaces
            .iter()
            .filter(|n| n.group_ids.contains(&group_id))
            .map(|n| (n.id.as_str(), n.addresses.as_slice()))
            .collect();
        let on_mine: Vec<(&FlowRecord, &[IpAddr])> = seen
            .records
            .iter()
            .filter_map(|r| mine.get(r.interface_id.as_str()).map(|l| (r, *l)))
            .collect();
        for a in p.groups[i].actions.iter_mut().filter(|a| pending_revoke(a)) {
            let rule = &a.rule.rule;
            let traffic = measurable(rule).map(|()| {
                cut_traffic(
                    rule,
                    &group_id,
                    on_mine.iter().copied(),
                    &seen.addresses,
                    |r, local| {
                        let Some(n) = by_id.get(r.interface_id.as_str()) else {
                            return false;
                        };
                        n.group_ids.iter().any(|g| {
                            after.get(g).is_some_and(|rules| {
                                rules.iter().any(|q| {
                                    q.direction == rule.direction
                                        && matches(q, g, r, local, &seen.addresses)
                                })
                            })
                        })
                    },
                )
            });
            // Guardrails win: keep_if_traffic holds extra rules, never a guardrail's revoke.
            if keep && a.guardrail.is_none() {
                match &traffic {
                    Ok(t) if t.flows > 0 => {
                        a.status = Status::Skipped;
                        a.reason = Some(format!(
                            "kept (keep_if_traffic): it carried {} in the last {window} that no remaining rule allows",
                            flows_text(t.flows, t.bytes)
                        ));
                    }
                    Ok(_) => {}
                    Err(why) => hold_unknown(a, why),
                }
            }
            a.risk = Some(ChangeRisk {
                window_seconds: logs.look_back_seconds,
                interfaces: mine.len(),
                traffic,
            });
        }
    }
}

fn hold_unknown(a: &mut crate::plan::Action, why: &str) {
    a.status = Status::Skipped;
    a.reason = Some(format!(
        "held back (keep_if_traffic): its traffic is not known: {why}"
    ));
}

/// Every pending revoke of these plans gets an unknown risk; `keep_if_traffic` holds it.
fn unknown(policy: &Policy, logs: &FlowLogs, d: &Drift, p: &mut Plan, plans: &[usize], why: &str) {
    for &i in plans {
        let keep = keeps(policy, d, p, i);
        for a in p.groups[i].actions.iter_mut().filter(|a| pending_revoke(a)) {
            if keep && a.guardrail.is_none() {
                hold_unknown(a, why);
            }
            a.risk = Some(ChangeRisk {
                window_seconds: logs.look_back_seconds,
                interfaces: 0,
                traffic: Err(why.to_string()),
            });
        }
    }
}
