//! One CloudWatch embedded-metric-format (EMF) line per run: CloudWatch Logs turns it
//! into metrics in the namespace `sgwarden`, with no API call and no permission.
//!
//! Dimensions are few on purpose, since each combination of values is a metric billed
//! by the month: none (the totals, which the stack's alarms watch), then `Trigger`
//! (schedule, cloudtrail, manual) with `Mode` (`declared`: each group in its own mode;
//! `audit`: a dry run). `Account` and `Region` are added as a third dimension set only
//! when [`Metrics::per_place`] says so (`SGWARDEN_METRICS=per-place`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::report::Report;

/// The namespace of every metric.
pub const NAMESPACE: &str = "sgwarden";

/// Each metric: its name, its unit, and its value in a report.
#[allow(clippy::type_complexity)]
pub const METRICS: [(&str, &str, fn(&Report) -> usize); 11] = [
    ("GroupsChecked", "Count", |r| r.summary.groups_checked),
    ("GroupsDrifted", "Count", |r| r.summary.groups_with_drift),
    ("GroupsViolating", "Count", |r| {
        r.summary.groups_with_violations
    }),
    ("RulesMissing", "Count", |r| r.summary.missing_rules),
    ("RulesExtra", "Count", |r| r.summary.extra_rules),
    ("RulesAuthorized", "Count", |r| r.summary.authorized),
    ("RulesRevoked", "Count", |r| r.summary.revoked),
    ("WritesFailed", "Count", |r| r.summary.failed),
    ("GroupsFlapping", "Count", |r| r.summary.groups_flapping),
    ("MissingGroups", "Count", |r| r.summary.missing_groups),
    ("Errors", "Count", |r| r.errors.len()),
];

/// What the metrics line carries beyond the report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Metrics {
    /// Write the line at all (`SGWARDEN_METRICS=off` turns it off).
    pub enabled: bool,
    /// Add `Account` and `Region` as dimensions (a metric per account and region).
    pub per_place: bool,
}

impl Metrics {
    /// From `SGWARDEN_METRICS`: `on` (the default), `off`, or `per-place`; `None` for
    /// anything else.
    pub fn parse(value: Option<&str>) -> Option<Metrics> {
        match value.map(str::trim) {
            None | Some("" | "on") => Some(Metrics {
                enabled: true,
                per_place: false,
            }),
            Some("off") => Some(Metrics::default()),
            Some("per-place") => Some(Metrics {
                enabled: true,
                per_place: true,
            }),
            Some(_) => None,
        }
    }

    /// The EMF object for one run's report, which took `took`, at `now`.
    pub fn line(
        &self,
        report: &Report,
        dry_run: bool,
        took: Duration,
        now: DateTime<Utc>,
    ) -> Value {
        // `[]`: the totals the stack's alarms watch, whatever the trigger.
        let mut dimensions = vec![json!([]), json!(["Trigger", "Mode"])];
        let mut root = Map::new();
        root.insert("Trigger".into(), json!(report.trigger.kind.as_str()));
        root.insert(
            "Mode".into(),
            json!(if dry_run { "audit" } else { "declared" }),
        );
        if self.per_place {
            dimensions.push(json!(["Trigger", "Mode", "Account", "Region"]));
            root.insert(
                "Account".into(),
                json!(report.account.as_deref().unwrap_or("unknown")),
            );
            // A run over several regions (a single-account sweep) is one line: `all`.
            let region = match report.regions.as_slice() {
                [one] => one.as_str(),
                _ => "all",
            };
            root.insert("Region".into(), json!(region));
        }
        let mut defs: Vec<Value> = METRICS
            .iter()
            .map(|(name, unit, _)| json!({"Name": name, "Unit": unit}))
            .collect();
        defs.push(json!({"Name": "Duration", "Unit": "Milliseconds"}));
        for (name, _, value) in METRICS {
            root.insert(name.into(), json!(value(report)));
        }
        root.insert(
            "Duration".into(),
            json!(u64::try_from(took.as_millis()).unwrap_or(u64::MAX)),
        );
        root.insert(
            "_aws".into(),
            json!({
                "Timestamp": now.timestamp_millis(),
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": dimensions,
                    "Metrics": defs,
                }],
            }),
        );
        Value::Object(root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drift::Drift;
    use crate::plan::Plan;
    use crate::trigger::{TriggerInfo, TriggerKind};

    fn report() -> Report {
        let mut r = Report::new(
            TriggerInfo::of(TriggerKind::Cloudtrail),
            None,
            &[crate::place::Place::new("111122223333", "eu-west-1")],
            &Drift::default(),
            &Plan::default(),
        );
        r.summary.revoked = 3;
        r.summary.groups_with_violations = 2;
        r
    }

    #[test]
    fn the_line_names_every_metric_and_its_dimensions_with_values() {
        let m = Metrics::parse(None).unwrap();
        let now: DateTime<Utc> = "2026-11-30T10:00:00Z".parse().unwrap();
        let v = m.line(&report(), false, Duration::from_millis(1234), now);
        let directive = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "sgwarden");
        assert_eq!(directive["Dimensions"], json!([[], ["Trigger", "Mode"]]));
        assert_eq!(v["_aws"]["Timestamp"], now.timestamp_millis());
        let names: Vec<&str> = directive["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        assert_eq!(names.len(), METRICS.len() + 1);
        for name in names {
            assert!(v[name].is_u64(), "{name} has no value");
        }
        assert_eq!(
            (
                &v["Trigger"],
                &v["Mode"],
                &v["RulesRevoked"],
                &v["GroupsViolating"]
            ),
            (
                &json!("cloudtrail"),
                &json!("declared"),
                &json!(3),
                &json!(2)
            )
        );
        assert_eq!(v["Duration"], 1234);
        assert!(v.get("Account").is_none());
    }

    #[test]
    fn per_place_adds_account_and_region_and_off_turns_the_line_off() {
        let m = Metrics::parse(Some("per-place")).unwrap();
        let v = m.line(&report(), true, Duration::ZERO, Utc::now());
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Dimensions"][2],
            json!(["Trigger", "Mode", "Account", "Region"])
        );
        assert_eq!(
            (&v["Account"], &v["Region"]),
            (&json!("111122223333"), &json!("eu-west-1"))
        );
        assert_eq!(v["Mode"], "audit");
        assert!(!Metrics::parse(Some("off")).unwrap().enabled);
        assert_eq!(Metrics::parse(Some("yes")), None);
    }
}
