//! Stage 9, verify: the changed groups read again, and what is still missing or extra in
//! them recorded in the report (`groups[].after`).

use chrono::NaiveDate;

use super::apply::Applied;
use super::create::Found;
use super::{Enforcer, error};
use crate::drift::{self, Drift};
use crate::inventory::{CurrentGroup, Inventory};
use crate::place::Place;
use crate::policy::Policy;
use crate::ports::{Ec2, FindingSink, FlowSource, GroupRef, Notifier, PolicySource, RevertLedger};
use crate::report::{AfterJson, Report};
use crate::stage::Stage;

impl<E: Ec2, S: PolicySource, N: Notifier, L: RevertLedger, F: FlowSource, H: FindingSink>
    Enforcer<E, S, N, L, F, H>
{
    /// Re-describes the changed groups and records their state after the run.
    pub(super) async fn verify(
        &self,
        policy: &Policy,
        found: &Found,
        today: NaiveDate,
        applied: &Applied,
        report: &mut Report,
    ) {
        if applied.changed().is_empty() {
            return;
        }
        let (before, places) = (found.inventory(), found.places());
        let (fresh, verified) = self
            .reread(places, found.drift(), applied.changed(), report)
            .await;
        // The rest of the estate as it was, so that `sg:NAME` still resolves.
        let mut after = Inventory {
            groups: before
                .groups
                .iter()
                .filter(|g| !verified.iter().any(|v| v.is(g)))
                .cloned()
                .collect(),
            unreadable: Vec::new(),
        };
        after.groups.extend(fresh);
        let again = drift::drift(policy, &after, places, today);
        for g in report.groups.iter_mut() {
            let Some(id) = g.group_id.as_deref() else {
                continue;
            };
            if !verified
                .iter()
                .any(|v| v.place == g.place && v.group_id == id)
            {
                continue;
            }
            let now = again
                .groups
                .iter()
                .find(|x| x.place == g.place && x.group_id == id);
            // A group no entry governs is in the drift only while it violates a guardrail.
            let exists = after
                .groups
                .iter()
                .any(|x| x.place == g.place && x.group_id == id);
            if now.is_none() && !exists {
                report.errors.push(error(
                    Stage::Verify,
                    Some(id),
                    Some(&g.place),
                    None,
                    "the group is gone after the run".into(),
                ));
            }
            g.after = Some(AfterJson::of(now));
        }
    }

    /// The changed groups read again, place by place, and which they are; a place that
    /// cannot be read is an error, and its groups are not verified.
    async fn reread(
        &self,
        places: &[Place],
        d: &Drift,
        changed: &[usize],
        report: &mut Report,
    ) -> (Vec<CurrentGroup>, Vec<GroupRef>) {
        let mut fresh = Vec::new();
        let mut verified = Vec::new();
        for place in places {
            let ids: Vec<String> = changed
                .iter()
                .map(|i| &d.groups[*i])
                .filter(|g| g.place == *place)
                .map(|g| g.group_id.clone())
                .collect();
            if ids.is_empty() {
                continue;
            }
            match self.ec2.describe(place, Some(&ids)).await {
                Ok(inv) => fresh.extend(inv.groups),
                Err(e) => {
                    report.errors.push(error(
                        Stage::Verify,
                        None,
                        Some(place),
                        Some(e.code()),
                        format!("cannot re-describe the changed groups: {e}"),
                    ));
                    continue;
                }
            }
            verified.extend(ids.into_iter().map(|group_id| GroupRef {
                place: place.clone(),
                group_id,
            }));
        }
        (fresh, verified)
    }
}
