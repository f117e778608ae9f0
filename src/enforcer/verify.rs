//! Stage 9, verify: the changed groups read again, and what is still missing or extra in
//! them recorded in the report (`groups[].after`).

use chrono::NaiveDate;

use super::{Enforcer, error};
use crate::drift::{self, Drift};
use crate::inventory::{CurrentGroup, Inventory};
use crate::policy::Policy;
use crate::ports::{Ec2, FlowSource, Notifier, PolicySource, RevertLedger};
use crate::report::{AfterJson, Report, RuleJson};
use crate::rule::DescribedRule;
use crate::stage::Stage;

impl<E: Ec2, S: PolicySource, N: Notifier, L: RevertLedger, F: FlowSource> Enforcer<E, S, N, L, F> {
    /// Re-describes the changed groups and records their state after the run.
    #[expect(
        clippy::too_many_arguments,
        reason = "the verify step needs the run's whole context"
    )]
    pub(super) async fn verify(
        &self,
        policy: &Policy,
        before: &Inventory,
        regions: &[String],
        today: NaiveDate,
        d: &Drift,
        changed: &[usize],
        report: &mut Report,
    ) {
        let (fresh, verified) = self.reread(regions, d, changed, report).await;
        // The rest of the estate as it was, so that `sg:NAME` still resolves.
        let mut after = Inventory {
            groups: before
                .groups
                .iter()
                .filter(|g| !verified.contains(&g.group_id))
                .cloned()
                .collect(),
            unreadable: Vec::new(),
        };
        after.groups.extend(fresh);
        let again = drift::drift(policy, &after, regions, today);
        for g in report.groups.iter_mut() {
            let Some(id) = g.group_id.as_deref() else {
                continue;
            };
            if !verified.iter().any(|v| v == id) {
                continue;
            }
            let rules = |list: &[DescribedRule]| -> Vec<RuleJson> {
                let mut v: Vec<RuleJson> = list
                    .iter()
                    .map(|r| RuleJson::new(&r.rule, r.description.as_deref()))
                    .collect();
                v.sort_by(|a, b| a.text.cmp(&b.text));
                v
            };
            g.after = Some(match again.groups.iter().find(|x| x.group_id == id) {
                Some(now) => AfterJson {
                    missing: rules(&now.missing),
                    extra: rules(&now.extra),
                },
                None => {
                    report.errors.push(error(
                        Stage::Verify,
                        Some(id),
                        Some(&g.region),
                        None,
                        "the group is gone after the run".into(),
                    ));
                    AfterJson {
                        missing: Vec::new(),
                        extra: Vec::new(),
                    }
                }
            });
        }
    }

    /// The changed groups read again, region by region, and their ids; a region that
    /// cannot be read is an error, and its groups are not verified.
    async fn reread(
        &self,
        regions: &[String],
        d: &Drift,
        changed: &[usize],
        report: &mut Report,
    ) -> (Vec<CurrentGroup>, Vec<String>) {
        let mut fresh = Vec::new();
        let mut verified = Vec::new();
        for region in regions {
            let ids: Vec<String> = changed
                .iter()
                .map(|i| &d.groups[*i])
                .filter(|g| g.region == *region)
                .map(|g| g.group_id.clone())
                .collect();
            if ids.is_empty() {
                continue;
            }
            match self.ec2.describe(region, Some(&ids)).await {
                Ok(inv) => fresh.extend(inv.groups),
                Err(e) => {
                    report.errors.push(error(
                        Stage::Verify,
                        None,
                        Some(region),
                        Some(e.code()),
                        format!("cannot re-describe the changed groups: {e}"),
                    ));
                    continue;
                }
            }
            verified.extend(ids);
        }
        (fresh, verified)
    }
}
