//! Stage 3, create: the missing groups whose entry says `create: true` (or
//! `settings.create_missing`), in add-only and enforce only (never in audit, a dry run or a
//! plan), within the change cap; each is read back into the inventory and then compared
//! and filled like any other group.

use super::{Enforcer, RunOptions, error};
use crate::drift::Drift;
use crate::inventory::Inventory;
use crate::policy::{Mode, Policy};
use crate::ports::{Ec2, FlowSource, Notifier, PolicySource, RevertLedger};
use crate::report::{CreatedGroupJson, ErrorJson};
use crate::stage::Stage;

impl<E: Ec2, S: PolicySource, N: Notifier, L: RevertLedger, F: FlowSource> Enforcer<E, S, N, L, F> {
    /// Creates the missing groups whose entry says `create` (or `settings.create_missing`)
    /// and whose mode writes, within the change cap, and adds them to the inventory.
    pub(super) async fn create_missing(
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
            let Some(g) = policy.groups.get(&m.key) else {
                continue;
            };
            let description = g.creation_description();
            let vpc = m.vpc_id.as_deref().or(g.vpc.as_deref());
            match self
                .ec2
                .create_group(&m.region, &g.name, &description, vpc)
                .await
            {
                Ok(id) => match self.ec2.describe(&m.region, Some(std::slice::from_ref(&id))).await {
                    Ok(inv) if !inv.groups.is_empty() => {
                        inventory.groups.extend(inv.groups);
                        created.push(CreatedGroupJson {
                            key: m.key.clone(),
                            region: m.region.clone(),
                            group_id: id,
                            vpc_id: vpc.map(str::to_string),
                        });
                    }
                    Ok(_) => errors.push(error(Stage::Create,
                        Some(&id),
                        Some(&m.region),
                        None,
                        format!("created group `{}` but could not read it back; it is filled on the next run", g.name),
                    )),
                    Err(e) => errors.push(error(Stage::Create,
                        Some(&id),
                        Some(&m.region),
                        Some(e.code()),
                        format!("created group `{}` but could not read it back: {e}", g.name),
                    )),
                },
                Err(e) => errors.push(error(Stage::Create,
                    None,
                    Some(&m.region),
                    Some(e.code()),
                    format!("cannot create group `{}` (groups.{}): {e}", g.name, m.key),
                )),
            }
        }
        created
    }
}
