use chrono::{DateTime, Duration, Utc};

use super::*;
use crate::enforcer::{Enforcer, RunOptions};
use crate::inventory::{CurrentGroup, Inventory};
use crate::local::{LoadedPolicy, MemoryEc2, MemoryFindings, MemoryLedger, MemoryNotifier};
use crate::ports::{Ec2, GroupRef, NoFlows};
use crate::rule::{DescribedRule, Direction};
use crate::trigger::{Actor, Trigger, TriggerEvent};

const ACCOUNT: &str = "111122223333";

/// web (audit) has SSH from the world, which the audit guardrail also reports, and lacks
/// HTTPS; app (enforce) has an extra port that the run revokes; db does not exist.
const POLICY: &str = "version: 1
settings:
  regions: [us-east-1]
  default_mode: audit
guardrails:
  - preset: world-admin-ports
    mode: audit
groups:
  web:
    ingress: [tcp/443 from 0.0.0.0/0]
  app:
    mode: enforce
    ingress: [tcp/8080 from 10.0.0.0/8]
  db:
    ingress: []
";

fn place() -> Place {
    Place::new(ACCOUNT, "us-east-1")
}

fn rules(list: &[&str]) -> Vec<DescribedRule> {
    let mut v: Vec<DescribedRule> = list
        .iter()
        .map(|t| DescribedRule {
            rule: t.parse().unwrap(),
            description: None,
        })
        .collect();
    v.sort();
    v
}

fn group(id: &str, name: &str, ingress: &[&str]) -> CurrentGroup {
    CurrentGroup {
        place: place(),
        group_id: id.into(),
        group_name: name.into(),
        vpc_id: Some("vpc-1".into()),
        owner_id: ACCOUNT.into(),
        description: String::new(),
        tags: Default::default(),
        ingress: rules(ingress),
        egress: Vec::new(),
    }
}

type Hub = Enforcer<MemoryEc2, LoadedPolicy, MemoryNotifier, MemoryLedger, NoFlows, MemoryFindings>;

fn enforcer(findings: MemoryFindings) -> Hub {
    Enforcer {
        ec2: MemoryEc2::new(Inventory {
            groups: vec![
                group("sg-0e1", "web", &["tcp/22 from 0.0.0.0/0"]),
                group(
                    "sg-0a1",
                    "app",
                    &["tcp/8080 from 10.0.0.0/8", "tcp/9000 from 10.0.0.0/8"],
                ),
            ],
            unreadable: vec![],
        }),
        source: LoadedPolicy(crate::policy::load_str("policy.yaml", POLICY).unwrap()),
        notifier: MemoryNotifier::default(),
        ledger: MemoryLedger::new(),
        flows: NoFlows,
        findings,
    }
}

fn at(hours: i64) -> DateTime<Utc> {
    "2026-11-23T12:00:00Z".parse::<DateTime<Utc>>().unwrap() + Duration::hours(hours)
}

fn opts(now: DateTime<Utc>) -> RunOptions {
    RunOptions {
        apply: true,
        force_audit: false,
        regions: vec![],
        now,
        home: place(),
        notify: false,
    }
}

fn sweep() -> TriggerEvent {
    TriggerEvent {
        trigger: Trigger::Schedule {
            event_id: None,
            region: Some("us-east-1".into()),
        },
        ignored: None,
        account: Some(ACCOUNT.into()),
    }
}

fn event(group_id: &str) -> TriggerEvent {
    TriggerEvent {
        trigger: Trigger::CloudTrail {
            event_name: "AuthorizeSecurityGroupIngress".into(),
            event_id: Some("e-1".into()),
            region: "us-east-1".into(),
            group_ids: vec![group_id.into()],
            group_names: vec![],
            actor: Actor {
                arn: "arn:aws:iam::111122223333:user/alice".into(),
                kind: "IAMUser".into(),
                console: None,
                invoked_by: None,
                source_ip: None,
                user_agent: None,
            },
        },
        ignored: None,
        account: Some(ACCOUNT.into()),
    }
}

const WEB_DRIFT: &str = "sgwarden/aws/111122223333/us-east-1/sg-0e1/drift";
const WEB_SSH: &str = "sgwarden/aws/111122223333/us-east-1/sg-0e1/violation/world-admin-ports";
const DB_MISSING: &str = "sgwarden/aws/111122223333/us-east-1/db/missing";

async fn fix_web_by_hand(e: &Hub) {
    let web = GroupRef {
        place: place(),
        group_id: "sg-0e1".into(),
    };
    e.ec2
        .revoke(
            &web,
            Direction::Ingress,
            &["tcp/22 from 0.0.0.0/0".parse().unwrap()],
        )
        .await
        .unwrap();
    e.ec2
        .authorize(
            &web,
            Direction::Ingress,
            &rules(&["tcp/443 from 0.0.0.0/0"]),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_sweep_imports_what_stays_open_one_finding_per_group_and_kind() {
    let e = enforcer(MemoryFindings::default());
    let report = e.run(&sweep(), &opts(at(0))).await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let held = e.findings.held();
    let ids: Vec<&str> = held.keys().map(String::as_str).collect();
    // app was repaired in the run (enforce): nothing of it stays open.
    assert_eq!(ids, [DB_MISSING, WEB_DRIFT, WEB_SSH]);
    assert!(held.values().all(|f| f.open && f.created_at == at(0)));

    let ssh = &held[WEB_SSH];
    assert_eq!(ssh.severity, Severity::High);
    assert_eq!(ssh.types, [NETWORK_REACHABILITY, CIS, FSBP]);
    assert_eq!(ssh.fields["sgwarden/rules"], "tcp/22 from 0.0.0.0/0");
    assert_eq!(ssh.fields["sgwarden/guardrail"], "world-admin-ports");
    assert_eq!(ssh.fields["sgwarden/mode"], "audit");
    assert!(ssh.recommendation.contains("guardrail exception"));

    let drift = &held[WEB_DRIFT];
    // Drift in an audit group is low; the group and its place are named.
    assert_eq!(drift.severity, Severity::Low);
    assert_eq!(
        drift.fields["sgwarden/rules"],
        "missing tcp/443 from 0.0.0.0/0; extra tcp/22 from 0.0.0.0/0"
    );
    assert!(
        drift
            .description
            .contains("web (sg-0e1) in 111122223333/us-east-1")
    );
    assert!(drift.recommendation.contains("mode: enforce"));
    assert_eq!(
        held[DB_MISSING].subject,
        Subject::Entry { key: "db".into() }
    );
}

#[tokio::test]
async fn a_later_run_leaves_unchanged_findings_refreshes_old_ones_and_resolves_the_repaired() {
    let e = enforcer(MemoryFindings::default());
    e.run(&sweep(), &opts(at(0))).await;
    // An hour later nothing changed: nothing is imported again.
    e.run(&sweep(), &opts(at(1))).await;
    assert!(e.findings.held().values().all(|f| f.updated_at == at(0)));

    // Fixed by hand: the next sweep resolves web's findings, keeping when they were found.
    fix_web_by_hand(&e).await;
    let report = e.run(&sweep(), &opts(at(2))).await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let held = e.findings.held();
    for id in [WEB_DRIFT, WEB_SSH] {
        let f = &held[id];
        assert!(!f.open, "{id}");
        assert_eq!(f.severity, Severity::Informational);
        assert_eq!((f.created_at, f.updated_at), (at(0), at(2)));
    }
    assert!(held[DB_MISSING].open);
    assert_eq!(held[DB_MISSING].updated_at, at(0));

    // Still open after REFRESH_DAYS: imported again, so Security Hub never expires it.
    e.run(&sweep(), &opts(at(24 * REFRESH_DAYS + 1))).await;
    let db = &e.findings.held()[DB_MISSING];
    assert_eq!(
        (db.created_at, db.updated_at),
        (at(0), at(24 * REFRESH_DAYS + 1))
    );
}

#[tokio::test]
async fn a_cloudtrail_run_touches_only_the_findings_of_its_groups() {
    let e = enforcer(MemoryFindings::default());
    e.run(&sweep(), &opts(at(0))).await;
    fix_web_by_hand(&e).await;
    // An event on app: web's findings stay open until a run that checks web.
    e.run(&event("sg-0a1"), &opts(at(1))).await;
    let held = e.findings.held();
    assert!(held[WEB_DRIFT].open && held[WEB_SSH].open && held[DB_MISSING].open);
    e.run(&event("sg-0e1"), &opts(at(2))).await;
    let held = e.findings.held();
    assert!(!held[WEB_DRIFT].open && !held[WEB_SSH].open);
    // A CloudTrail run never resolves a missing group: only a sweep sees that.
    assert!(held[DB_MISSING].open);
}

#[tokio::test]
async fn an_import_that_fails_is_a_findings_error_after_the_writes() {
    let e = enforcer(MemoryFindings::failing("Rate exceeded"));
    let report = e.run(&sweep(), &opts(at(0))).await;
    let errors: Vec<String> = report
        .errors
        .iter()
        .map(|x| format!("{} {}", x.stage, x.message))
        .collect();
    assert_eq!(
        errors,
        ["findings BatchImportFindings in 111122223333/us-east-1: Rate exceeded"]
    );
    // The revert happened all the same.
    let app = e
        .ec2
        .groups()
        .into_iter()
        .find(|g| g.group_id == "sg-0a1")
        .unwrap();
    assert_eq!(app.ingress, rules(&["tcp/8080 from 10.0.0.0/8"]));
}

#[tokio::test]
async fn a_refused_run_touches_no_finding() {
    // app needs two changes, one more than the cap allows: nothing is written, and what
    // the run saw is not a basis for any finding.
    let capped = POLICY
        .replace(
            "default_mode: audit",
            "default_mode: audit\n  max_changes_per_run: 1",
        )
        .replace(
            "ingress: [tcp/8080 from 10.0.0.0/8]",
            "ingress: [tcp/8080 from 10.0.0.0/8, tcp/8443 from 10.0.0.0/8]",
        );
    let mut e = enforcer(MemoryFindings::default());
    e.source = LoadedPolicy(crate::policy::load_str("policy.yaml", &capped).unwrap());
    let report = e.run(&sweep(), &opts(at(0))).await;
    assert!(report.refused.is_some(), "{report:?}");
    assert!(scopes(&report).is_empty());
    assert!(e.findings.held().is_empty());
}

#[test]
fn ids_are_stable_and_parse_back_into_their_resolution() {
    let p = Place::new(ACCOUNT, "cn-north-1");
    let id = id(&p, "sg-1", Kind::Violation, Some("no-ssh"));
    assert_eq!(
        id,
        "sgwarden/aws-cn/111122223333/cn-north-1/sg-1/violation/no-ssh"
    );
    let e = Existing {
        id: id.clone(),
        created_at: Some(at(0)),
        updated_at: Some(at(5)),
        fingerprint: None,
    };
    // A clock behind the last import still makes a newer one.
    let r = resolution(&e, at(3)).unwrap();
    assert_eq!(r.place, p);
    assert_eq!(r.guardrail.as_deref(), Some("no-ssh"));
    assert_eq!(r.updated_at, at(5) + Duration::milliseconds(1));
    assert!(!r.open);
    for foreign in [
        "other/aws/1/r/sg-1/drift",
        "sgwarden/aws/1/r/sg-1/bogus",
        "sgwarden/aws",
    ] {
        let e = Existing {
            id: foreign.into(),
            ..e.clone()
        };
        assert_eq!(resolution(&e, at(0)), None, "{foreign}");
    }
}

#[test]
fn a_scope_holds_its_places_groups_but_not_unread_ones() {
    let scope = Scope {
        place: place(),
        groups: Some(["sg-1".to_string(), "sg-2".to_string()].into()),
        unread: ["sg-2".to_string()].into(),
    };
    assert!(scope.holds(&id(&place(), "sg-1", Kind::Drift, None)));
    assert!(!scope.holds(&id(&place(), "sg-2", Kind::Drift, None)));
    assert!(!scope.holds(&id(&place(), "sg-3", Kind::Drift, None)));
    let elsewhere = Place::new(ACCOUNT, "eu-west-1");
    assert!(!scope.holds(&id(&elsewhere, "sg-1", Kind::Drift, None)));
}

#[test]
fn lists_and_texts_stay_within_security_hubs_limits() {
    let rules: Vec<String> = (0..500)
        .map(|p| format!("tcp/{p} from 0.0.0.0/0"))
        .collect();
    let list = bounded_list(&rules, FIELD_CHARS);
    assert!(list.chars().count() <= FIELD_CHARS);
    assert!(list.ends_with(" more"), "{list}");
    let shown = list.matches(" from ").count();
    assert!(
        list.ends_with(&format!("; and {} more", 500 - shown)),
        "{list}"
    );
    let long = "é".repeat(5000);
    let cut = bounded(&long, DESCRIPTION_CHARS);
    assert_eq!(cut.chars().count(), DESCRIPTION_CHARS);
    assert!(cut.ends_with('…'));
    assert_eq!(bounded_list(&["a".into(), "b".into()], 100), "a; b");
}
