//! Stage 3, create: the missing groups whose entry says `create: true` (or
//! `settings.create_missing`), in add-only and enforce only (never in audit, a dry run or a
//! plan), within the change cap; each is read back into the inventory and then compared
//! and filled like any other group.

use super::inventory::Read;
use super::{Enforcer, RunOptions, error};
use crate::drift::{Drift, MissingGroup};
use crate::inventory::Inventory;
use crate::place::Place;
use crate::policy::{GroupPolicy, Mode, Policy};
use crate::ports::{Ec2, FindingSink, FlowSource, Notifier, PolicySource, RevertLedger};
use crate::report::{CreatedGroupJson, ErrorJson};
use crate::stage::Stage;
use crate::trigger::Trigger;

/// What the run found, once missing groups are created: the estate as read (the created
/// groups included), the places read, and its drift narrowed to the trigger. Only this
/// stage makes one; every later stage reads it.
pub(super) struct Found {
    inventory: Inventory,
    places: Vec<Place>,
    drift: Drift,
    created: Vec<CreatedGroupJson>,
}

impl Found {
    pub fn inventory(&self) -> &Inventory {
        &self.inventory
    }

    pub fn places(&self) -> &[Place] {
        &self.places
    }

    pub fn drift(&self) -> &Drift {
        &self.drift
    }

    /// The groups created in this run.
    pub fn created(&self) -> &[CreatedGroupJson] {
        &self.created
    }
}

impl<E: Ec2, S: PolicySource, N: Notifier, L: RevertLedger, F: FlowSource, H: FindingSink>
    Enforcer<E, S, N, L, F, H>
{
    /// The drift of what was read; then the missing groups whose entry says `create` (or
    /// `settings.create_missing`) and whose mode writes are created within the change
    /// cap, read back, and the drift taken again. Returns what was found and the errors
    /// so far (the inventory's among them).
    pub(super) async fn create_missing(
        &self,
        policy: &Policy,
        opts: &RunOptions,
        trigger: &Trigger,
        read: Read,
    ) -> (Found, Vec<ErrorJson>) {
        let today = opts.now.date_naive();
        let Read {
            mut inventory,
            places,
            mut errors,
        } = read;
        let drift = super::inventory::drift(policy, &inventory, &places, today, trigger);
        let created = self
            .create_wanted(policy, &drift, opts, &mut inventory, &mut errors)
            .await;
        let drift = if created.is_empty() {
            drift
        } else {
            super::inventory::drift(policy, &inventory, &places, today, trigger)
        };
        let found = Found {
            inventory,
            places,
            drift,
            created,
        };
        (found, errors)
    }

    /// Creates the wanted missing groups and adds them to the inventory.
    async fn create_wanted(
        &self,
        policy: &Policy,
        d: &Drift,
        opts: &RunOptions,
        inventory: &mut Inventory,
        errors: &mut Vec<ErrorJson>,
    ) -> Vec<CreatedGroupJson> {
        if !opts.apply || opts.force_audit {
            return Vec::new();
        }
        let wanted: Vec<_> = d
            .missing_groups
            .iter()
            .filter(|m| {
                policy
                    .groups
                    .get(&m.key)
                    .is_some_and(|g| g.create && g.mode != Mode::Audit)
            })
            .collect();
        if wanted.is_empty() {
            return Vec::new();
        }
        if wanted.len() as u64 > policy.settings.max_changes_per_run {
            errors.push(error(
                Stage::Create,
                None,
                None,
                None,
                format!(
                    "{} groups to create is over max_changes_per_run ({}): none created",
                    wanted.len(),
                    policy.settings.max_changes_per_run
                ),
            ));
            return Vec::new();
        }
        let mut created = Vec::new();
        for m in wanted {
            if let Some(g) = policy.groups.get(&m.key) {
                match self.create_one(m, g).await {
                    Ok((json, inv)) => {
                        inventory.groups.extend(inv.groups);
                        created.push(json);
                    }
                    Err(e) => errors.push(e),
                }
            }
        }
        created
    }

    /// Creates one group and reads it back.
    async fn create_one(
        &self,
        m: &MissingGroup,
        g: &GroupPolicy,
    ) -> Result<(CreatedGroupJson, Inventory), ErrorJson> {
        let vpc = m.vpc_id.as_deref().or(g.vpc.as_deref());
        let place = Some(&m.place);
        let id = self
            .ec2
            .create_group(&m.place, &g.name, &g.creation_description(), vpc)
            .await
            .map_err(|e| {
                let why = format!("cannot create group `{}` (groups.{}): {e}", g.name, m.key);
                error(Stage::Create, None, place, Some(e.code()), why)
            })?;
        let unread = |code: Option<&str>, why: String| {
            let message = format!("created group `{}` but could not read it back{why}", g.name);
            error(Stage::Create, Some(&id), place, code, message)
        };
        match self
            .ec2
            .describe(&m.place, Some(std::slice::from_ref(&id)))
            .await
        {
            Ok(inv) if !inv.groups.is_empty() => {
                let json = CreatedGroupJson {
                    key: m.key.clone(),
                    place: m.place.clone(),
                    group_id: id.clone(),
                    vpc_id: vpc.map(str::to_string),
                };
                Ok((json, inv))
            }
            Ok(_) => Err(unread(None, "; it is filled on the next run".into())),
            Err(e) => Err(unread(Some(e.code()), format!(": {e}"))),
        }
    }
}
