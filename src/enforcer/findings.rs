//! Stage 10: the run's findings into Security Hub, after verify and before the report is
//! published, so that an import that fails is in the report. It runs after every write:
//! it can never hold back a revert.

use chrono::{DateTime, Utc};

use super::{Enforcer, error};
use crate::findings;
use crate::ports::{Ec2, FindingSink, FlowSource, Notifier, PolicySource, RevertLedger};
use crate::report::Report;
use crate::stage::Stage;

impl<E: Ec2, S: PolicySource, N: Notifier, L: RevertLedger, F: FlowSource, H: FindingSink>
    Enforcer<E, S, N, L, F, H>
{
    /// Imports each place's open findings and resolves what the run no longer finds;
    /// every failure is an error of the findings stage in the report.
    pub(super) async fn import_findings(&self, report: &mut Report, now: DateTime<Utc>) {
        if !self.findings.enabled() {
            return;
        }
        let mut errors = Vec::new();
        for scope in findings::scopes(report) {
            let open = findings::open(report, &scope, now);
            let active = match self.findings.active(&scope).await {
                Ok(a) => a,
                Err(e) => {
                    errors.push(error(
                        Stage::Findings,
                        None,
                        Some(&scope.place),
                        None,
                        format!("{e}; no finding of {} was imported", scope.place),
                    ));
                    continue;
                }
            };
            let mut batch = findings::sync(&scope, open, &active.findings, now);
            if !active.complete {
                batch.retain(|f| f.open);
                errors.push(error(
                    Stage::Findings,
                    None,
                    Some(&scope.place),
                    None,
                    format!(
                        "{} has more than {} active sgwarden findings: this run imported its own and resolved none",
                        scope.place,
                        findings::ACTIVE_LIMIT
                    ),
                ));
            }
            if batch.is_empty() {
                continue;
            }
            if let Err(e) = self.findings.import(&scope.place, &batch).await {
                errors.push(error(
                    Stage::Findings,
                    None,
                    Some(&scope.place),
                    None,
                    e.to_string(),
                ));
            }
        }
        report.errors.extend(errors);
    }
}
