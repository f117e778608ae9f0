//! Stage 1, inventory: the live groups of every governed place, read at once (a
//! CloudTrail run reads only its groups and the ones their entries name), the guard
//! against a policy written for another account, and (stage 2) the drift of what was
//! read, narrowed to what the trigger touched.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use futures_util::future::join_all;

use super::{Enforcer, error};
use crate::drift::{self, Drift};
use crate::inventory::Inventory;
use crate::place::Place;
use crate::policy::Policy;
use crate::ports::{Ec2, Ec2Error, FindingSink, FlowSource, Notifier, PolicySource, RevertLedger};
use crate::report::{ErrorJson, Report};
use crate::stage::Stage;
use crate::trigger::{Trigger, TriggerEvent};

/// What the inventory stage read.
pub(super) struct Read {
    pub inventory: Inventory,
    /// The places that could be read (a place that could not is an error, and its
    /// groups are never called missing).
    pub places: Vec<Place>,
    pub errors: Vec<ErrorJson>,
}

/// The drift of what was read, narrowed to what the trigger touched.
pub(super) fn drift(
    policy: &Policy,
    inventory: &Inventory,
    places: &[Place],
    today: NaiveDate,
    trigger: &Trigger,
) -> Drift {
    let mut d = drift::drift(policy, inventory, places, today);
    scope(&mut d, trigger);
    d
}

impl Read {
    /// Names the account of places read without one (a CLI run does not know whose
    /// credentials it holds): the owner of the groups read, else the event's account,
    /// else `settings.account`. So one group has one place, and one revert budget,
    /// whichever way a run learns its account.
    fn name_account(&mut self, policy: &Policy, event: &TriggerEvent) {
        if self.places.iter().all(|p| !p.account.is_empty()) {
            return;
        }
        let owner = self.inventory.groups.iter().map(|g| g.owner_id.as_str());
        let Some(account) = owner
            .chain(event.account.as_deref())
            .chain(policy.settings.account.as_deref())
            .find(|a| !a.is_empty())
            .map(str::to_string)
        else {
            return;
        };
        let name = |p: &mut Place| {
            if p.account.is_empty() {
                p.account.clone_from(&account);
            }
        };
        self.places.iter_mut().for_each(name);
        self.inventory
            .groups
            .iter_mut()
            .for_each(|g| name(&mut g.place));
        self.inventory
            .unreadable
            .iter_mut()
            .for_each(|u| name(&mut u.place));
        for e in &mut self.errors {
            e.place.as_mut().map(name);
        }
    }

    /// The account the groups read belong to, when it is not the one the policy is
    /// written for (`settings.account`): such a run governs nothing (fail closed).
    fn foreign_account(&self, policy: &Policy, event: &TriggerEvent) -> Option<String> {
        let want = policy.settings.account.as_ref()?;
        let live = self
            .inventory
            .groups
            .iter()
            .map(|g| g.owner_id.as_str())
            .find(|o| !o.is_empty())
            .or(event.account.as_deref())?;
        (live != want).then(|| live.to_string())
    }
}

impl<E: Ec2, S: PolicySource, N: Notifier, L: RevertLedger, F: FlowSource, H: FindingSink>
    Enforcer<E, S, N, L, F, H>
{
    /// Reads every governed place at once, names the account of places read without
    /// one, and refuses (the report of a run that changed nothing) when the groups read
    /// belong to another account than the policy's.
    pub(super) async fn inventory(
        &self,
        policy: &Policy,
        places: &[Place],
        event: &TriggerEvent,
    ) -> Result<Read, Box<Report>> {
        let trigger = &event.trigger;
        let reads = join_all(places.iter().map(|p| self.read_place(policy, p, trigger))).await;
        let mut read = Read {
            inventory: Inventory::default(),
            places: Vec::new(),
            errors: Vec::new(),
        };
        for (place, result) in places.iter().zip(reads) {
            match result {
                Ok(inv) => {
                    read.inventory.groups.extend(inv.groups);
                    read.inventory.unreadable.extend(inv.unreadable);
                    read.places.push(place.clone());
                }
                Err(e) => read.errors.push(error(
                    Stage::Inventory,
                    None,
                    Some(place),
                    Some(e.code()),
                    format!("cannot describe security groups: {e}"),
                )),
            }
        }
        read.name_account(policy, event);
        match read.foreign_account(policy, event) {
            None => Ok(read),
            Some(live) => {
                let want = policy.settings.account.as_deref().unwrap_or_default();
                let why = format!(
                    "the policy is for account {want}, but the groups read belong to {live}"
                );
                let refusal = format!(
                    "the policy is for account {want}, not {live}; nothing was checked or changed"
                );
                Err(Box::new(super::refused(
                    event,
                    policy,
                    &read.places,
                    Some(live),
                    Stage::Policy,
                    why,
                    Some(refusal),
                )))
            }
        }
    }

    /// The groups a run needs from one place. For a CloudTrail event about known group
    /// ids: those groups, plus the groups their policy entries and exceptions name with
    /// `sg:NAME` (so references resolve), a few small reads instead of the whole place.
    /// Otherwise (a sweep, a delete, an event that names groups without ids, or an `sg:`
    /// of a select entry): every group.
    async fn read_place(
        &self,
        policy: &Policy,
        place: &Place,
        trigger: &Trigger,
    ) -> Result<Inventory, Ec2Error> {
        let ids = match trigger {
            Trigger::CloudTrail {
                event_name,
                group_ids,
                group_names,
                ..
            } if event_name != "DeleteSecurityGroup"
                && !group_ids.is_empty()
                && group_names.is_empty() =>
            {
                group_ids
            }
            _ => return self.ec2.describe(place, None).await,
        };
        let mut inv = self.ec2.describe(place, Some(ids)).await?;
        let Some((by_id, by_name)) = referenced(policy, &inv) else {
            return self.ec2.describe(place, None).await;
        };
        let by_id: Vec<String> = by_id
            .into_iter()
            .filter(|id| !inv.groups.iter().any(|g| g.group_id == *id))
            .collect();
        let mut more = Vec::new();
        if !by_id.is_empty() {
            more.push(self.ec2.describe(place, Some(&by_id)).await?);
        }
        if !by_name.is_empty() {
            more.push(self.ec2.describe_named(place, &by_name).await?);
        }
        for m in more {
            for g in m.groups {
                if !inv.groups.iter().any(|h| h.group_id == g.group_id) {
                    inv.groups.push(g);
                }
            }
            inv.unreadable.extend(m.unreadable);
        }
        Ok(inv)
    }
}

/// The groups that the entries governing `inv`'s groups name with `sg:NAME`, in their
/// rules or their exceptions: (ids, names) of the named entries; `None` when one of them
/// is a `select` entry, whose groups only a read of the whole place can find.
fn referenced(policy: &Policy, inv: &Inventory) -> Option<(BTreeSet<String>, Vec<String>)> {
    let mut ids = BTreeSet::new();
    let mut names = BTreeSet::new();
    for g in &inv.groups {
        for e in policy
            .groups
            .values()
            .filter(|e| drift::entry_matches(e, g))
        {
            let rules = e
                .ingress
                .iter()
                .chain(&e.egress)
                .flatten()
                .map(|r| &r.rule)
                .chain(
                    policy
                        .exceptions
                        .iter()
                        .filter(|x| x.group.as_ref() == Some(&e.key))
                        .flat_map(|x| &x.rules),
                );
            for r in rules {
                let crate::rule::Peer::Named(key) = &r.peer else {
                    continue;
                };
                if let Some(t) = policy.groups.get(key) {
                    match (&t.id, &t.select) {
                        (Some(id), _) => ids.insert(id.clone()),
                        (None, Some(_)) => return None,
                        (None, None) => names.insert(t.name.clone()),
                    };
                }
            }
        }
    }
    Some((ids, names.into_iter().collect()))
}

/// Narrows a drift to what a CloudTrail event touched: its groups (by id, or by name
/// where the event gave no id). Other groups are neither reported nor changed. Missing
/// groups stay listed only for a DeleteSecurityGroup event, which may have made them so.
fn scope(d: &mut Drift, trigger: &Trigger) {
    let Trigger::CloudTrail {
        event_name,
        group_ids,
        group_names,
        ..
    } = trigger
    else {
        return;
    };
    d.groups
        .retain(|g| group_ids.contains(&g.group_id) || group_names.contains(&g.group_name));
    d.unmanaged_groups.clear();
    d.errors.retain(|e| group_ids.contains(&e.group_id));
    if event_name != "DeleteSecurityGroup" {
        d.missing_groups.clear();
    }
}
