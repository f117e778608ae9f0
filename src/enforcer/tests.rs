//! The enforcer against in-memory ports: every behaviour of the one path.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::budget::{Claim, Verdict};
use crate::inventory::CurrentGroup;
use crate::inventory::{self, Inventory};
use crate::local::MemoryLedger;
use crate::local::{Fault, MemoryEc2, MemoryFlows, MemoryNotifier};
use crate::plan::{Op, Status};
use crate::policy::FlapLimit;
use crate::policy::{self, Mode};
use crate::ports::{Ec2Error, GroupRef};
use crate::ports::{NoFindings, NoFlows};
use crate::report::Outcome;
use crate::rule::{DescribedRule, Direction, Rule};
use crate::trigger;

const POLICY: &str = "version: 1
settings:
  regions: [us-east-1]
  default_mode: enforce
groups:
  web:
    ingress: [tcp/443 from 0.0.0.0/0, tcp/22 from 10.0.0.0/8]
    egress: [all to 0.0.0.0/0]
  app:
    ingress: [tcp/8080 from sg:web]
";

/// A policy from text, counting its loads.
struct TextSource {
    text: String,
    loads: AtomicUsize,
}

impl TextSource {
    fn new(text: &str) -> Self {
        TextSource {
            text: text.to_string(),
            loads: AtomicUsize::new(0),
        }
    }
}

impl PolicySource for TextSource {
    async fn load(&self) -> Result<Policy, SourceError> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        Ok(policy::load_str("policy.yaml", &self.text)?)
    }
}

fn group(id: &str, name: &str, ingress: &[&str], egress: &[&str]) -> CurrentGroup {
    let rules = |list: &[&str]| {
        let mut v: Vec<DescribedRule> = list
            .iter()
            .map(|t| DescribedRule {
                rule: t.parse().unwrap(),
                description: None,
            })
            .collect();
        v.sort();
        v
    };
    CurrentGroup {
        place: crate::place::Place::new("", "us-east-1"),
        group_id: id.into(),
        group_name: name.into(),
        vpc_id: Some("vpc-1".into()),
        owner_id: "111122223333".into(),
        description: String::new(),
        tags: Default::default(),
        ingress: rules(ingress),
        egress: rules(egress),
    }
}

/// web has SSH from the world (extra) and lacks HTTPS (missing); app is clean.
fn estate() -> MemoryEc2 {
    MemoryEc2::new(Inventory {
        groups: vec![
            group(
                "sg-0e1",
                "web",
                &["tcp/22 from 10.0.0.0/8", "tcp/22 from 0.0.0.0/0"],
                &["all to 0.0.0.0/0"],
            ),
            group(
                "sg-0a1",
                "app",
                &["tcp/8080 from sg-0e1"],
                &["all to 0.0.0.0/0"],
            ),
        ],
        unreadable: vec![],
    })
}

fn opts(apply: bool) -> RunOptions {
    RunOptions {
        apply,
        force_audit: false,
        regions: vec![],
        now: "2026-11-23T12:00:00Z".parse().unwrap(),
        home: Place::new("", "us-east-1"),
        notify: true,
    }
}

fn schedule() -> TriggerEvent {
    TriggerEvent {
        trigger: Trigger::Schedule {
            event_id: None,
            region: Some("us-east-1".into()),
        },
        ignored: None,
        account: None,
    }
}

fn sample(name: &str, self_role: Option<&str>) -> TriggerEvent {
    let path = format!("{}/events/{name}", env!("CARGO_MANIFEST_DIR"));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    trigger::parse(&v, self_role).unwrap()
}

fn enforcer<E: Ec2>(
    ec2: E,
    policy: &str,
) -> Enforcer<E, TextSource, MemoryNotifier, MemoryLedger, NoFlows> {
    Enforcer {
        ec2,
        source: TextSource::new(policy),
        notifier: MemoryNotifier::default(),
        ledger: MemoryLedger::new(),
        flows: NoFlows,
        findings: NoFindings,
    }
}

fn texts(g: &CurrentGroup, d: Direction) -> Vec<String> {
    g.rules(d).iter().map(|r| r.rule.to_string()).collect()
}

fn find(ec2: &MemoryEc2, id: &str) -> CurrentGroup {
    ec2.groups().into_iter().find(|g| g.group_id == id).unwrap()
}

#[tokio::test]
async fn enforce_restores_missing_then_revokes_extra_and_the_group_equals_the_policy() {
    let e = enforcer(estate(), POLICY);
    let r = e.run(&schedule(), &opts(true)).await;
    let web = find(&e.ec2, "sg-0e1");
    assert_eq!(
        texts(&web, Direction::Ingress),
        vec!["tcp/22 from 10.0.0.0/8", "tcp/443 from 0.0.0.0/0"]
    );
    assert_eq!(r.summary.authorized, 1);
    assert_eq!(r.summary.revoked, 1);
    assert_eq!(r.outcome(), Outcome::Clean, "{}", r.to_json());
    let g = &r.groups[0];
    let after = g.after.as_ref().expect("re-described");
    assert!(after.missing.is_empty() && after.extra.is_empty());
    // One authorize call, then one revoke call, for the one drifted group.
    let ops: Vec<(Op, &str)> = e
        .ec2
        .writes()
        .iter()
        .map(|w| {
            (
                w.op,
                if w.group_id == "sg-0e1" {
                    "web"
                } else {
                    "other"
                },
            )
        })
        .collect();
    assert_eq!(ops, vec![(Op::Authorize, "web"), (Op::Revoke, "web")]);
}

#[tokio::test]
async fn enforce_never_leaves_a_wanted_rule_absent_not_even_between_calls() {
    // A widened CIDR: the /8 replaces the /24 — the /24's traffic must never be cut.
    let policy = "version: 1\nsettings: {regions: [us-east-1], default_mode: enforce}\ngroups:\n  web: {ingress: [tcp/22 from 10.0.0.0/8, tcp/443 from 0.0.0.0/0]}\n";
    let ec2 = MemoryEc2::new(Inventory {
        groups: vec![group(
            "sg-0e1",
            "web",
            &["tcp/22 from 10.1.0.0/24", "tcp/443 from 0.0.0.0/0"],
            &[],
        )],
        unreadable: vec![],
    });
    let e = enforcer(ec2, policy);
    e.run(&schedule(), &opts(true)).await;
    let history = e.ec2.history();
    assert_eq!(history.len(), 2, "one authorize, one revoke");
    for state in &history {
        let web = state.iter().find(|g| g.group_id == "sg-0e1").unwrap();
        let now = texts(web, Direction::Ingress);
        assert!(
            now.contains(&"tcp/443 from 0.0.0.0/0".to_string()),
            "a wanted rule vanished: {now:?}"
        );
        // 10.1.0.0/24 is only revoked once the /8 that covers it exists.
        assert!(
            now.contains(&"tcp/22 from 10.0.0.0/8".to_string()),
            "{now:?}"
        );
    }
}

#[tokio::test]
async fn add_only_never_revokes() {
    let e = enforcer(
        estate(),
        &POLICY.replace("default_mode: enforce", "default_mode: add-only"),
    );
    let r = e.run(&schedule(), &opts(true)).await;
    assert!(e.ec2.writes().iter().all(|w| w.op == Op::Authorize));
    assert!(
        texts(&find(&e.ec2, "sg-0e1"), Direction::Ingress)
            .contains(&"tcp/22 from 0.0.0.0/0".to_string())
    );
    assert_eq!(
        r.outcome(),
        Outcome::Drift,
        "the kept extra rule is drift that remains"
    );
}

#[tokio::test]
async fn audit_makes_no_write_call() {
    let e = enforcer(
        estate(),
        &POLICY.replace("default_mode: enforce", "default_mode: audit"),
    );
    let r = e.run(&schedule(), &opts(true)).await;
    assert!(e.ec2.writes().is_empty());
    assert!(
        r.groups[0]
            .actions
            .iter()
            .all(|a| a.status == Status::Planned)
    );
    assert_eq!(r.outcome(), Outcome::Drift);
}

#[tokio::test]
async fn dry_run_forces_audit() {
    let e = enforcer(estate(), POLICY);
    let mut o = opts(true);
    o.force_audit = true;
    let r = e.run(&schedule(), &o).await;
    assert!(e.ec2.writes().is_empty());
    assert_eq!(r.groups[0].mode, Some(Mode::Audit));
}

#[tokio::test]
async fn a_cloudtrail_event_for_one_group_touches_only_that_group() {
    // app drifts too, but the event is about web.
    let ec2 = estate();
    ec2.edit("sg-0a1", |g| g.ingress.clear());
    let e = enforcer(ec2, &POLICY.replace("sg-0e1", "x"));
    let ev = sample("authorize-ingress.json", None);
    let Trigger::CloudTrail { group_ids, .. } = &ev.trigger else {
        panic!()
    };
    assert_eq!(group_ids, &vec!["sg-0e1a000000000001".to_string()]);
    // Point the sample at this estate's web group.
    let ev = TriggerEvent {
        trigger: match ev.trigger {
            Trigger::CloudTrail {
                event_name,
                event_id,
                region,
                actor,
                ..
            } => Trigger::CloudTrail {
                event_name,
                event_id,
                region,
                group_ids: vec!["sg-0e1".into()],
                group_names: vec![],
                actor,
            },
            t => t,
        },
        ignored: None,
        account: None,
    };
    let r = e.run(&ev, &opts(true)).await;
    assert!(
        e.ec2.writes().iter().all(|w| w.group_id == "sg-0e1"),
        "{:?}",
        e.ec2.writes()
    );
    assert!(!e.ec2.writes().is_empty());
    assert_eq!(r.summary.groups_checked, 1);
    assert!(find(&e.ec2, "sg-0a1").ingress.is_empty(), "app untouched");
    assert_eq!(r.trigger.actor.as_ref().unwrap().console, Some(true));
}

#[tokio::test]
async fn the_own_role_and_error_code_events_change_nothing_and_load_nothing() {
    for (file, why) in [
        ("self-role.json", "self"),
        ("error-code.json", "error_code"),
    ] {
        let e = enforcer(estate(), POLICY);
        let ev = sample(
            file,
            Some("arn:aws:iam::111122223333:role/sgwarden-function-role"),
        );
        let r = e.run(&ev, &opts(true)).await;
        assert_eq!(r.trigger.ignored.as_deref(), Some(why));
        assert!(e.ec2.writes().is_empty());
        assert_eq!(e.source.loads.load(Ordering::SeqCst), 0);
        assert!(r.policy.is_none());
        assert!(e.notifier.published().is_empty());
        assert_eq!(r.outcome(), Outcome::Clean);
    }
}

#[tokio::test]
async fn an_invalid_policy_makes_zero_writes_and_publishes_an_error_report() {
    let e = enforcer(
        estate(),
        "version: 1\ngroups:\n  web: {ingress: [tcp/22 from 10.0.0.5/8]}\n",
    );
    let r = e.run(&schedule(), &opts(true)).await;
    assert!(e.ec2.writes().is_empty());
    assert_eq!(r.outcome(), Outcome::Error);
    assert_eq!(r.errors[0].stage, crate::stage::Stage::Policy);
    assert!(
        r.errors[0]
            .message
            .contains("host bits set in `10.0.0.5/8`"),
        "{}",
        r.errors[0].message
    );
    assert_eq!(e.notifier.published().len(), 1);
}

#[tokio::test]
async fn a_run_over_the_cap_writes_nothing_and_says_why() {
    let e = enforcer(
        estate(),
        &POLICY.replace(
            "default_mode: enforce",
            "default_mode: enforce\n  max_changes_per_run: 1",
        ),
    );
    let r = e.run(&schedule(), &opts(true)).await;
    assert!(e.ec2.writes().is_empty());
    assert!(
        r.refused
            .as_deref()
            .unwrap()
            .contains("2 rule changes exceed max_changes_per_run (1)")
    );
    assert!(
        r.groups[0]
            .actions
            .iter()
            .all(|a| a.status == Status::Skipped)
    );
}

/// Another actor's change, made once.
type Race = Mutex<Option<Box<dyn FnOnce(&MemoryEc2) + Send>>>;

/// EC2 that lets another actor change a group right after sgwarden's first describe.
struct Racing {
    inner: MemoryEc2,
    race: Race,
}

impl Ec2 for Racing {
    async fn describe(&self, place: &Place, ids: Option<&[String]>) -> Result<Inventory, Ec2Error> {
        let inv = self.inner.describe(place, ids).await;
        let race = self.race.lock().unwrap().take();
        if let Some(f) = race {
            f(&self.inner);
        }
        inv
    }
    async fn authorize(
        &self,
        g: &GroupRef,
        d: Direction,
        r: &[DescribedRule],
    ) -> Result<(), Ec2Error> {
        self.inner.authorize(g, d, r).await
    }
    async fn revoke(&self, g: &GroupRef, d: Direction, r: &[Rule]) -> Result<(), Ec2Error> {
        self.inner.revoke(g, d, r).await
    }
    async fn update_descriptions(
        &self,
        g: &GroupRef,
        d: Direction,
        r: &[DescribedRule],
    ) -> Result<(), Ec2Error> {
        self.inner.update_descriptions(g, d, r).await
    }
}

fn racing(f: impl FnOnce(&MemoryEc2) + Send + 'static) -> Racing {
    Racing {
        inner: estate(),
        race: Mutex::new(Some(Box::new(f))),
    }
}

#[tokio::test]
async fn a_rule_added_or_removed_by_someone_else_meanwhile_is_done_and_verified() {
    // Someone adds the missing HTTPS rule and removes the SSH-from-world rule between
    // sgwarden's describe and its writes: Duplicate and NotFound are "already done".
    let e = enforcer(
        racing(|ec2| {
            ec2.edit("sg-0e1", |g| {
                g.ingress.push(DescribedRule {
                    rule: "tcp/443 from 0.0.0.0/0".parse().unwrap(),
                    description: None,
                });
                g.ingress
                    .retain(|r| r.rule.to_string() != "tcp/22 from 0.0.0.0/0");
                g.ingress.sort();
            })
        }),
        POLICY,
    );
    let r = e.run(&schedule(), &opts(true)).await;
    let web = r
        .groups
        .iter()
        .find(|g| g.key.as_deref() == Some("web"))
        .unwrap();
    assert!(
        web.actions.iter().all(|a| a.status == Status::Done),
        "{}",
        r.to_json()
    );
    assert!(r.errors.is_empty(), "{}", r.to_json());
    assert_eq!(r.outcome(), Outcome::Clean);
}

#[tokio::test]
async fn a_batch_with_one_duplicate_is_retried_with_what_is_left() {
    let policy = "version: 1\nsettings: {regions: [us-east-1], default_mode: enforce}\ngroups:\n  web: {ingress: [tcp/443 from 0.0.0.0/0, tcp/80 from 0.0.0.0/0]}\n";
    let e = enforcer(
        Racing {
            inner: MemoryEc2::new(Inventory {
                groups: vec![group("sg-0e1", "web", &[], &[])],
                unreadable: vec![],
            }),
            race: Mutex::new(Some(Box::new(|ec2: &MemoryEc2| {
                ec2.edit("sg-0e1", |g| {
                    g.ingress.push(DescribedRule {
                        rule: "tcp/80 from 0.0.0.0/0".parse().unwrap(),
                        description: None,
                    })
                })
            }))),
        },
        policy,
    );
    let r = e.run(&schedule(), &opts(true)).await;
    let writes = e.ec2.inner.writes();
    assert_eq!(writes.len(), 2, "{writes:?}");
    assert_eq!(writes[0].rules.len(), 2);
    assert_eq!(writes[1].rules, vec!["tcp/443 from 0.0.0.0/0"]);
    assert_eq!(r.summary.authorized, 2);
    assert_eq!(r.outcome(), Outcome::Clean);
}

#[tokio::test]
async fn partially_applied_batches_converge() {
    // moto applies part of a rejected batch; the retry does the rest.
    let mut ec2 = estate();
    ec2.partial_batches = true;
    ec2.edit("sg-0e1", |g| {
        g.ingress
            .retain(|r| r.rule.to_string() != "tcp/22 from 10.0.0.0/8")
    });
    let e = enforcer(ec2, POLICY);
    let r = e.run(&schedule(), &opts(true)).await;
    assert_eq!(r.outcome(), Outcome::Clean, "{}", r.to_json());
}

#[tokio::test]
async fn a_group_deleted_mid_run_is_reported_and_the_others_still_run() {
    let ec2 = estate();
    ec2.edit("sg-0a1", |g| g.ingress.clear());
    let e = enforcer(
        Racing {
            inner: ec2,
            race: Mutex::new(Some(Box::new(|ec2: &MemoryEc2| ec2.delete("sg-0e1")))),
        },
        POLICY,
    );
    let r = e.run(&schedule(), &opts(true)).await;
    let web = r
        .groups
        .iter()
        .find(|g| g.key.as_deref() == Some("web"))
        .unwrap();
    assert!(web.actions.iter().any(|a| {
        a.status == Status::Failed
            && a.error
                .as_deref()
                .unwrap()
                .contains("InvalidGroup.NotFound")
    }));
    let app = r
        .groups
        .iter()
        .find(|g| g.key.as_deref() == Some("app"))
        .unwrap();
    assert!(
        app.actions.iter().all(|a| a.status == Status::Done),
        "{}",
        r.to_json()
    );
    assert_eq!(r.outcome(), Outcome::Error);
}

#[tokio::test]
async fn one_groups_failure_never_stops_the_others_and_is_reported_failed() {
    let ec2 = estate();
    ec2.edit("sg-0a1", |g| g.ingress.clear());
    ec2.add_fault(Fault::Group {
        group_id: "sg-0e1".into(),
        error: Ec2Error::api(
            "AuthorizeSecurityGroupIngress",
            "UnauthorizedOperation",
            "not allowed",
        ),
    });
    let e = enforcer(ec2, POLICY);
    let r = e.run(&schedule(), &opts(true)).await;
    let web = r
        .groups
        .iter()
        .find(|g| g.key.as_deref() == Some("web"))
        .unwrap();
    let authorize = web.actions.iter().find(|a| a.op == Op::Authorize).unwrap();
    assert_eq!(authorize.status, Status::Failed);
    // The revoke in the same direction is held back, so nothing wanted is cut.
    let revoke = web.actions.iter().find(|a| a.op == Op::Revoke).unwrap();
    assert_eq!(revoke.status, Status::Skipped);
    assert!(revoke.reason.as_deref().unwrap().contains("held back"));
    let app = r
        .groups
        .iter()
        .find(|g| g.key.as_deref() == Some("app"))
        .unwrap();
    assert!(app.actions.iter().all(|a| a.status == Status::Done));
    assert!(
        r.errors
            .iter()
            .any(|e| e.stage == crate::stage::Stage::Apply
                && e.group_id.as_deref() == Some("sg-0e1")
                && e.code.as_deref() == Some("UnauthorizedOperation"))
    );
    assert_eq!(r.summary.failed, 1);
    assert_eq!(r.outcome(), Outcome::Error);
}

#[tokio::test]
async fn an_unreadable_region_is_an_error_and_its_groups_are_not_called_missing() {
    let ec2 = estate();
    ec2.add_fault(Fault::Region {
        region: "eu-west-1".into(),
        error: Ec2Error::api("DescribeSecurityGroups", "AuthFailure", "region disabled"),
    });
    let e = enforcer(
        ec2,
        &POLICY.replace("regions: [us-east-1]", "regions: [us-east-1, eu-west-1]"),
    );
    let r = e.run(&schedule(), &opts(true)).await;
    assert!(
        r.errors
            .iter()
            .any(|e| e.stage == crate::stage::Stage::Inventory
                && e.place.as_ref().is_some_and(|p| p.region == "eu-west-1"))
    );
    assert!(
        r.missing_groups
            .iter()
            .all(|m| m.place.region != "eu-west-1")
    );
    assert_eq!(r.summary.authorized, 1, "us-east-1 was still enforced");
}

#[tokio::test]
async fn an_unreadable_group_is_never_created_a_second_time() {
    // The group exists but one of its permissions cannot be read: an inventory error,
    // never a missing group, so `create: true` makes no second group of its name.
    let ec2 = MemoryEc2::new(Inventory {
        groups: vec![],
        unreadable: vec![crate::inventory::UnreadableGroup {
            place: crate::place::Place::new("", "us-east-1"),
            group_id: "sg-0e1".into(),
            group_name: "web".into(),
            vpc_id: Some("vpc-1".into()),
            message: "cannot read ingress permission IpProtocol `gre` FromPort none ToPort none"
                .into(),
        }],
    });
    let e = enforcer(
        ec2,
        "version: 1\nsettings: {regions: [us-east-1], default_mode: enforce}\n\
         groups:\n  web: {create: true, vpc: vpc-1, ingress: [tcp/443 from 0.0.0.0/0]}\n",
    );
    let r = e.run(&schedule(), &opts(true)).await;
    assert!(r.missing_groups.is_empty(), "{:?}", r.missing_groups);
    assert!(r.created_groups.is_empty());
    assert!(e.ec2.groups().is_empty(), "no group was created");
    assert!(e.ec2.writes().is_empty());
    assert_eq!(r.errors[0].stage, crate::stage::Stage::Inventory);
    assert_eq!(r.outcome(), Outcome::Error);
}

#[tokio::test]
async fn reports_are_published_as_settings_notify_says() {
    // A clean estate under `notify: drift` publishes nothing; `always` publishes.
    let clean = "version: 1\nsettings: {regions: [us-east-1]}\ngroups:\n  app: {ingress: [tcp/8080 from sg:web]}\n  web: null\n";
    let e = enforcer(estate(), clean);
    e.run(&schedule(), &opts(true)).await;
    assert!(e.notifier.published().is_empty());
    let e = enforcer(
        estate(),
        &clean.replace(
            "regions: [us-east-1]",
            "regions: [us-east-1], notify: always",
        ),
    );
    e.run(&schedule(), &opts(true)).await;
    assert_eq!(e.notifier.published().len(), 1);
    // `drift`: drift found and repaired is published (a revert is news).
    let e = enforcer(estate(), POLICY);
    let r = e.run(&schedule(), &opts(true)).await;
    assert_eq!(r.outcome(), Outcome::Clean);
    assert_eq!(e.notifier.published().len(), 1);
    // `changes`: a run that changed something publishes.
    let e = enforcer(
        estate(),
        &POLICY.replace(
            "default_mode: enforce",
            "default_mode: enforce\n  notify: changes",
        ),
    );
    e.run(&schedule(), &opts(true)).await;
    assert_eq!(e.notifier.published().len(), 1);
}

#[tokio::test]
async fn an_unreachable_notifier_is_an_error_in_the_report() {
    // `notify: changes`: this run changes something, so it must publish, and cannot.
    let mut e = enforcer(
        estate(),
        &POLICY.replace(
            "default_mode: enforce",
            "default_mode: enforce\n  notify: changes",
        ),
    );
    e.notifier.fail_with = Some("connection refused".into());
    let r = e.run(&schedule(), &opts(true)).await;
    assert!(r.errors.iter().any(
        |x| x.stage == crate::stage::Stage::Notify && x.message.contains("connection refused")
    ));
    assert_eq!(r.outcome(), Outcome::Error);
    assert_eq!(
        r.summary.authorized, 1,
        "the writes were still made and reported"
    );
}

#[tokio::test]
async fn plan_only_runs_write_nothing_and_leave_actions_planned() {
    let e = enforcer(estate(), POLICY);
    let r = e.run(&schedule(), &opts(false)).await;
    assert!(e.ec2.writes().is_empty());
    assert!(
        r.groups[0]
            .actions
            .iter()
            .all(|a| a.status == Status::Planned)
    );
    assert!(r.groups[0].after.is_none());
}

#[tokio::test]
async fn a_delete_event_reports_the_group_missing() {
    let ec2 = estate();
    ec2.delete("sg-0a1");
    let e = enforcer(ec2, POLICY);
    let mut ev = sample("delete-security-group.json", None);
    if let Trigger::CloudTrail { group_ids, .. } = &mut ev.trigger {
        *group_ids = vec!["sg-0a1".into()];
    }
    let r = e.run(&ev, &opts(true)).await;
    assert_eq!(r.missing_groups.len(), 1);
    assert_eq!(r.missing_groups[0].key, "app");
}

#[tokio::test]
async fn snapshots_back_the_in_memory_ec2() {
    let mut inv = Inventory::default();
    let text = std::fs::read_to_string(format!(
        "{}/examples/snapshots/us-east-1.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    inventory::read_snapshot(
        "s.json",
        &crate::place::Place::new("", "us-east-1"),
        &text,
        &mut inv,
    )
    .unwrap();
    let policy = std::fs::read_to_string(format!(
        "{}/examples/policy.yaml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let e = enforcer(MemoryEc2::new(inv), &policy);
    let mut o = opts(true);
    o.regions = vec!["us-east-1".into()];
    let r = e.run(&schedule(), &o).await;
    // web (enforce) and db (enforce) are repaired; app (add-only) keeps its expired extra;
    // the enforce guardrail revokes FTP from the world on legacy-ftp, which no entry names.
    assert_eq!(r.summary.authorized, 1);
    assert_eq!(r.summary.revoked, 3);
    let ftp = find(&e.ec2, "sg-0e1a000000000005");
    assert!(texts(&ftp, Direction::Ingress).is_empty(), "{ftp:?}");
    let web = find(&e.ec2, "sg-0e1a000000000001");
    assert!(!texts(&web, Direction::Ingress).contains(&"tcp/22 from 0.0.0.0/0".to_string()));
    assert!(
        texts(&web, Direction::Ingress).contains(&"tcp/8443 from 198.51.100.0/24".to_string()),
        "excepted rule kept"
    );
}

#[tokio::test]
async fn a_policy_for_another_account_changes_nothing_and_reports_why() {
    let e = enforcer(
        estate(),
        &POLICY.replace(
            "default_mode: enforce",
            "default_mode: enforce\n  account: \"999999999999\"",
        ),
    );
    let r = e.run(&schedule(), &opts(true)).await;
    assert!(e.ec2.writes().is_empty(), "{:?}", e.ec2.writes());
    assert_eq!(r.errors.len(), 1);
    assert_eq!(r.errors[0].stage, crate::stage::Stage::Policy);
    assert!(
        r.errors[0].message.contains("999999999999"),
        "{:?}",
        r.errors
    );
    assert!(
        r.refused
            .as_deref()
            .is_some_and(|w| w.contains("111122223333"))
    );
    assert!(r.groups.is_empty());
    // The error is published whatever `notify` says.
    assert_eq!(e.notifier.published().len(), 1);

    // The same policy for this account runs as usual.
    let e = enforcer(
        estate(),
        &POLICY.replace(
            "default_mode: enforce",
            "default_mode: enforce\n  account: \"111122223333\"",
        ),
    );
    let r = e.run(&schedule(), &opts(true)).await;
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert!(!e.ec2.writes().is_empty());
}

/// A CloudTrail event about `group` made by `who`.
fn console_edit(group: &str, who: &str) -> TriggerEvent {
    let mut ev = sample("authorize-ingress.json", None);
    if let Trigger::CloudTrail {
        group_ids, actor, ..
    } = &mut ev.trigger
    {
        *group_ids = vec![group.to_string()];
        actor.arn = who.to_string();
    }
    ev
}

const FLAPPY: &str = "version: 1
settings:
  regions: [us-east-1]
  default_mode: enforce
  flap_limit: {reverts: 2, per: 1h}
groups:
  web:
    ingress: [tcp/443 from 0.0.0.0/0, tcp/22 from 10.0.0.0/8]
    egress: [all to 0.0.0.0/0]
";

/// Someone opens RDP to the world on web.
fn open_rdp(ec2: &MemoryEc2) {
    ec2.edit("sg-0e1", |g| {
        g.ingress.push(DescribedRule {
            rule: "tcp/3389 from 0.0.0.0/0".parse().unwrap(),
            description: None,
        });
        g.ingress.sort();
    });
}

fn rdp_open(ec2: &MemoryEc2) -> bool {
    find(ec2, "sg-0e1")
        .ingress
        .iter()
        .any(|r| r.rule.to_string() == "tcp/3389 from 0.0.0.0/0")
}

const BOT: &str = "arn:aws:sts::123456789012:assumed-role/other-tool/bot";

#[tokio::test]
async fn a_group_reverted_k_times_in_the_window_is_left_alone_and_reported_flapping() {
    let e = enforcer(estate(), FLAPPY);
    let mut o = opts(true);
    for minute in [0, 10] {
        open_rdp(&e.ec2);
        o.now = "2026-11-23T12:00:00Z".parse::<DateTime<Utc>>().unwrap()
            + chrono::Duration::minutes(minute);
        let r = e.run(&console_edit("sg-0e1", BOT), &o).await;
        assert!(r.summary.revoked >= 1, "revert at minute {minute}");
        assert!(!rdp_open(&e.ec2));
        assert_eq!(r.summary.groups_flapping, 0);
    }
    // The third edit within the hour stands: no write, the group is flapping, the other
    // actor is named, and the report is published.
    let writes = e.ec2.writes().len();
    open_rdp(&e.ec2);
    o.now = "2026-11-23T12:20:00Z".parse().unwrap();
    let r = e.run(&console_edit("sg-0e1", BOT), &o).await;
    assert_eq!(e.ec2.writes().len(), writes, "no write while flapping");
    assert!(rdp_open(&e.ec2));
    assert_eq!(r.summary.groups_flapping, 1);
    assert_eq!(r.summary.revoked, 0);
    let f = r.groups[0].flapping.as_ref().expect("flapping");
    assert_eq!(f.reverts, 2);
    assert_eq!(f.limit, "2 per 1h");
    assert_eq!(f.until, "2026-11-23T13:00:00Z");
    assert_eq!(f.actors, [BOT]);
    assert!(
        r.groups[0].actions[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("flapping")
    );
    assert!(r.errors.is_empty());
    assert_eq!(e.notifier.published().len(), 3);
    let text = crate::report::render::text(&r);
    assert!(text.contains("flapping") && text.contains(BOT), "{text}");

    // A sweep within the window holds back too; once the first revert is an hour old,
    // the group is reverted again.
    o.now = "2026-11-23T12:59:00Z".parse().unwrap();
    assert_eq!(e.run(&schedule(), &o).await.summary.groups_flapping, 1);
    o.now = "2026-11-23T13:00:01Z".parse().unwrap();
    let r = e.run(&schedule(), &o).await;
    assert_eq!((r.summary.groups_flapping, r.summary.revoked), (0, 1));
    assert!(
        find(&e.ec2, "sg-0e1")
            .ingress
            .iter()
            .all(|r| r.rule.to_string() != "tcp/3389 from 0.0.0.0/0")
    );
    // Only web was written to; only web is in the ledger.
    assert_eq!(
        e.ledger.snapshot().groups.keys().collect::<Vec<_>>(),
        ["111122223333/us-east-1/sg-0e1"]
    );
}

#[tokio::test]
async fn audit_runs_and_plans_spend_no_budget_and_off_turns_it_off() {
    let e = enforcer(
        estate(),
        &FLAPPY.replace("default_mode: enforce", "default_mode: audit"),
    );
    open_rdp(&e.ec2);
    for _ in 0..3 {
        e.run(&schedule(), &opts(true)).await;
        e.run(&schedule(), &opts(false)).await;
    }
    assert!(e.ledger.snapshot().groups.is_empty());

    let e = enforcer(estate(), &FLAPPY.replace("{reverts: 2, per: 1h}", "off"));
    for _ in 0..4 {
        open_rdp(&e.ec2);
        let r = e.run(&console_edit("sg-0e1", BOT), &opts(true)).await;
        assert_eq!(r.summary.groups_flapping, 0);
        assert!(!rdp_open(&e.ec2));
    }
}

/// A ledger that cannot be reached.
struct DownLedger;

impl RevertLedger for DownLedger {
    async fn reserve(
        &self,
        _: DateTime<Utc>,
        _: FlapLimit,
        _: &[Claim],
    ) -> Result<Vec<Verdict>, crate::ports::LedgerError> {
        Err(crate::ports::LedgerError {
            location: "s3://state/ledger.json".into(),
            message: "cannot read it: AccessDenied".into(),
        })
    }
}

#[tokio::test]
async fn an_unreachable_ledger_holds_every_write_back_and_is_an_error() {
    let ec2 = estate();
    open_rdp(&ec2);
    let e = Enforcer {
        ec2,
        source: TextSource::new(FLAPPY),
        notifier: MemoryNotifier::default(),
        ledger: DownLedger,
        flows: NoFlows,
        findings: NoFindings,
    };
    let r = e.run(&schedule(), &opts(true)).await;
    assert!(
        e.ec2.writes().is_empty(),
        "fail closed: {:?}",
        e.ec2.writes()
    );
    assert_eq!(r.errors[0].stage, crate::stage::Stage::Budget);
    assert!(
        r.errors[0].message.contains("s3://state/ledger.json"),
        "{:?}",
        r.errors
    );
    assert!(r.summary.skipped > 0);
    assert_eq!(r.outcome(), Outcome::Error);
    // Nothing to write, nothing to ask: an audit run never reads the ledger.
    let e = Enforcer {
        ec2: estate(),
        source: TextSource::new(&FLAPPY.replace("default_mode: enforce", "default_mode: audit")),
        notifier: MemoryNotifier::default(),
        ledger: DownLedger,
        flows: NoFlows,
        findings: NoFindings,
    };
    assert!(e.run(&schedule(), &opts(true)).await.errors.is_empty());
}

#[tokio::test]
async fn an_event_run_reads_the_groups_an_exception_names_so_the_exception_still_holds() {
    // web carries a temporary rule from app, allowed by an exception written with sg:app.
    let ec2 = estate();
    ec2.edit("sg-0e1", |g| {
        g.ingress.push(DescribedRule {
            rule: "tcp/5432 from sg-0a1".parse().unwrap(),
            description: None,
        });
        g.ingress.sort();
    });
    let policy = format!(
        "{POLICY}exceptions:\n  - {{group: web, rule: tcp/5432 from sg:app, expires: 2027-01-31, owner: dba@example.com}}\n"
    );
    let e = enforcer(ec2, &policy);
    let r = e.run(&console_edit("sg-0e1", BOT), &opts(true)).await;
    let web = &r.groups[0];
    let excepted: Vec<&str> = web.excepted.iter().map(|x| x.text.as_str()).collect();
    assert_eq!(excepted, ["tcp/5432 from sg-0a1"], "{:?}", web.extra);
    assert!(
        find(&e.ec2, "sg-0e1")
            .ingress
            .iter()
            .any(|r| r.rule.to_string() == "tcp/5432 from sg-0a1"),
        "the excepted rule stays"
    );
}

mod change_risk {
    use super::*;
    use crate::flows::parse_record;
    use crate::ports::Interface;
    use crate::report::ActionJson;

    const FLOW_POLICY: &str = "version: 1
settings:
  regions: [us-east-1]
  default_mode: enforce
  flow_logs: {log_group: vpc-flows, look_back: 1h}
groups:
  web:
    keep_if_traffic: KEEP
    ingress: [tcp/443 from 0.0.0.0/0, tcp/22 from 10.0.0.0/8]
  app:
    ingress: [tcp/8080 from sg:web]
";

    fn policy(keep: bool) -> String {
        FLOW_POLICY.replace("KEEP", &keep.to_string())
    }

    /// An accepted (or rejected) record to 10.0.0.5:`port` on eni-web.
    fn rec(src: &str, port: u16, bytes: u64) -> crate::flows::FlowRecord {
        parse_record(&format!(
            "2 111122223333 eni-web {src} 10.0.0.5 49152 {port} 6 10 {bytes} 1700000000 1700000060 ACCEPT OK"
        ))
        .unwrap()
    }

    /// web (sg-0e1) on eni-web at 10.0.0.5, together with `also` (ids); app on eni-app
    /// at 10.0.0.9.
    fn ec2_with(groups: Vec<CurrentGroup>, also: &[&str]) -> MemoryEc2 {
        let ec2 = MemoryEc2::new(Inventory {
            groups,
            unreadable: vec![],
        });
        let mut on_web = vec!["sg-0e1".to_string()];
        on_web.extend(also.iter().map(|s| s.to_string()));
        ec2.add_interfaces(vec![
            Interface {
                id: "eni-web".into(),
                group_ids: on_web,
                addresses: vec!["10.0.0.5".parse().unwrap()],
            },
            Interface {
                id: "eni-app".into(),
                group_ids: vec!["sg-0a1".into()],
                addresses: vec!["10.0.0.9".parse().unwrap()],
            },
        ]);
        ec2
    }

    fn with_flows<E: Ec2>(
        ec2: E,
        policy: &str,
        flows: MemoryFlows,
    ) -> Enforcer<E, TextSource, MemoryNotifier, MemoryLedger, MemoryFlows> {
        Enforcer {
            ec2,
            source: TextSource::new(policy),
            notifier: MemoryNotifier::default(),
            ledger: MemoryLedger::new(),
            flows,
            findings: NoFindings,
        }
    }

    fn revoke<'a>(r: &'a Report, group: &str, text: &str) -> &'a ActionJson {
        r.groups
            .iter()
            .find(|g| g.group_id.as_deref() == Some(group))
            .and_then(|g| {
                g.actions
                    .iter()
                    .find(|a| a.op == Op::Revoke && a.rule.text == text)
            })
            .unwrap_or_else(|| panic!("no revoke of {text} in {}", r.to_json()))
    }

    fn web(ingress: &[&str]) -> CurrentGroup {
        group("sg-0e1", "web", ingress, &[])
    }

    /// web with its wanted rules and SSH open to the world (the one extra rule).
    fn web_open_to_ssh() -> CurrentGroup {
        web(&[
            "tcp/22 from 10.0.0.0/8",
            "tcp/22 from 0.0.0.0/0",
            "tcp/443 from 0.0.0.0/0",
        ])
    }

    #[tokio::test]
    async fn flows_a_remaining_rule_still_allows_are_not_counted_against_a_revoke() {
        let ec2 = ec2_with(vec![web_open_to_ssh()], &[]);
        let flows = MemoryFlows {
            records: vec![
                rec("10.1.2.3", 22, 500),   // still allowed by the /8
                rec("203.0.113.9", 22, 70), // only the world rule lets it in
                rec("203.0.113.9", 443, 9), // another port
            ],
            ..MemoryFlows::default()
        };
        let e = with_flows(ec2, &policy(true), flows);
        let r = e.run(&schedule(), &opts(true)).await;
        let a = revoke(&r, "sg-0e1", "tcp/22 from 0.0.0.0/0");
        let t = a.traffic.as_ref().expect("measured");
        assert_eq!((t.flows, t.bytes, t.interfaces), (Some(1), Some(70), 1));
        assert_eq!(t.top_sources[0].address, "203.0.113.9");
        assert_eq!(a.status, Status::Skipped, "kept: it still carries traffic");
        assert!(
            find(&e.ec2, "sg-0e1")
                .ingress
                .iter()
                .any(|d| d.rule.to_string() == "tcp/22 from 0.0.0.0/0")
        );
        assert_eq!(e.flows.reads.load(Ordering::SeqCst), 1, "one read a region");
        assert_eq!(r.outcome(), Outcome::Drift);
    }

    #[tokio::test]
    async fn a_group_whose_only_write_is_kept_spends_no_revert_budget() {
        let ec2 = ec2_with(vec![web_open_to_ssh()], &[]);
        let flows = MemoryFlows {
            records: vec![rec("203.0.113.9", 22, 70)],
            ..MemoryFlows::default()
        };
        let e = with_flows(ec2, &policy(true), flows);
        let r = e.run(&schedule(), &opts(true)).await;
        assert_eq!(r.summary.skipped, 1, "{}", r.to_json());
        assert!(e.ec2.writes().is_empty());
        assert!(
            e.ledger.snapshot().groups.is_empty(),
            "{:?}",
            e.ledger.snapshot()
        );
    }

    #[tokio::test]
    async fn another_group_on_the_same_interface_that_allows_the_flow_means_nothing_is_cut() {
        // sg-0b1 (not in the policy) is on web's interface and lets SSH in from anywhere.
        let ec2 = ec2_with(
            vec![
                web_open_to_ssh(),
                group("sg-0b1", "bastion-access", &["tcp/22 from 0.0.0.0/0"], &[]),
            ],
            &["sg-0b1"],
        );
        let flows = MemoryFlows {
            records: vec![rec("203.0.113.9", 22, 70)],
            ..MemoryFlows::default()
        };
        let e = with_flows(ec2, &policy(true), flows);
        let r = e.run(&schedule(), &opts(true)).await;
        let a = revoke(&r, "sg-0e1", "tcp/22 from 0.0.0.0/0");
        assert_eq!(a.traffic.as_ref().unwrap().flows, Some(0));
        assert_eq!(a.status, Status::Done, "{}", r.to_json());
    }

    #[tokio::test]
    async fn a_group_peer_is_matched_by_its_interfaces_addresses() {
        // web lets app's instances in on 9000 (extra); app's interface sent two flows.
        let ec2 = ec2_with(
            vec![
                web(&[
                    "tcp/22 from 10.0.0.0/8",
                    "tcp/443 from 0.0.0.0/0",
                    "tcp/9000 from sg-0a1",
                ]),
                group("sg-0a1", "app", &["tcp/8080 from sg-0e1"], &[]),
            ],
            &[],
        );
        let flows = MemoryFlows {
            records: vec![rec("10.0.0.9", 9000, 10), rec("10.0.0.9", 9000, 20)],
            ..MemoryFlows::default()
        };
        let e = with_flows(ec2, &policy(false), flows);
        let r = e.run(&schedule(), &opts(false)).await;
        let t = revoke(&r, "sg-0e1", "tcp/9000 from sg-0a1")
            .traffic
            .clone()
            .unwrap();
        // The /8 rule is tcp/22 only, so nothing else allows these flows.
        assert_eq!((t.flows, t.bytes), (Some(2), Some(30)));
    }

    #[tokio::test]
    async fn a_rule_the_run_authorizes_counts_as_staying_with_its_group_peer_resolved() {
        // web trades `tcp/9000 from 0.0.0.0/0` for `tcp/9000 from sg:app`: app's flows
        // are still let in after the run, anyone else's are cut.
        let policy = FLOW_POLICY.replace("KEEP", "false").replace(
            "tcp/22 from 10.0.0.0/8]",
            "tcp/22 from 10.0.0.0/8, tcp/9000 from sg:app]",
        );
        let ec2 = ec2_with(
            vec![
                web(&[
                    "tcp/22 from 10.0.0.0/8",
                    "tcp/443 from 0.0.0.0/0",
                    "tcp/9000 from 0.0.0.0/0",
                ]),
                group("sg-0a1", "app", &["tcp/8080 from sg-0e1"], &[]),
            ],
            &[],
        );
        let flows = MemoryFlows {
            records: vec![rec("10.0.0.9", 9000, 10), rec("203.0.113.9", 9000, 20)],
            ..MemoryFlows::default()
        };
        let e = with_flows(ec2, &policy, flows);
        let r = e.run(&schedule(), &opts(false)).await;
        let t = revoke(&r, "sg-0e1", "tcp/9000 from 0.0.0.0/0")
            .traffic
            .clone()
            .unwrap();
        assert_eq!((t.flows, t.bytes), (Some(1), Some(20)), "{}", r.to_json());
        assert_eq!(t.top_sources[0].address, "203.0.113.9");
    }

    #[tokio::test]
    async fn unreadable_flow_logs_are_an_error_and_hold_only_keep_if_traffic_revokes() {
        let inventory = || vec![web_open_to_ssh()];
        for keep in [true, false] {
            let flows = MemoryFlows {
                fail: Some("ResourceNotFoundException: log group vpc-flows".into()),
                ..MemoryFlows::default()
            };
            let e = with_flows(ec2_with(inventory(), &[]), &policy(keep), flows);
            let r = e.run(&schedule(), &opts(true)).await;
            let err = r
                .errors
                .iter()
                .find(|x| x.stage == crate::stage::Stage::Flows)
                .expect("an error");
            assert!(err.message.contains("vpc-flows"), "{}", err.message);
            let a = revoke(&r, "sg-0e1", "tcp/22 from 0.0.0.0/0");
            assert!(a.traffic.as_ref().unwrap().unknown.is_some());
            if keep {
                assert_eq!(a.status, Status::Skipped);
                assert!(
                    a.reason.as_deref().unwrap().contains("not known"),
                    "{:?}",
                    a.reason
                );
            } else {
                assert_eq!(a.status, Status::Done, "without keep_if_traffic it goes");
            }
            assert_eq!(r.outcome(), Outcome::Error);
        }
    }

    #[tokio::test]
    async fn a_snapshot_plan_says_the_traffic_is_unknown_without_an_error() {
        let ec2 = ec2_with(
            vec![web(&["tcp/22 from 10.0.0.0/8", "tcp/22 from 0.0.0.0/0"])],
            &[],
        );
        let e = Enforcer {
            ec2,
            source: TextSource::new(&policy(true)),
            notifier: MemoryNotifier::default(),
            ledger: MemoryLedger::new(),
            flows: NoFlows,
            findings: NoFindings,
        };
        let r = e.run(&schedule(), &opts(false)).await;
        assert!(r.errors.is_empty(), "{}", r.to_json());
        let a = revoke(&r, "sg-0e1", "tcp/22 from 0.0.0.0/0");
        let t = a.traffic.as_ref().unwrap();
        assert!(t.unknown.as_deref().unwrap().contains("snapshots"), "{t:?}");
        assert_eq!(a.status, Status::Skipped, "keep_if_traffic fails closed");
    }

    #[tokio::test]
    async fn a_prefix_list_peer_is_unknown_and_kept() {
        let ec2 = ec2_with(
            vec![web(&[
                "tcp/22 from 10.0.0.0/8",
                "tcp/443 from 0.0.0.0/0",
                "tcp/22 from pl-0123abcd",
            ])],
            &[],
        );
        let e = with_flows(ec2, &policy(true), MemoryFlows::default());
        let r = e.run(&schedule(), &opts(true)).await;
        let a = revoke(&r, "sg-0e1", "tcp/22 from pl-0123abcd");
        assert!(
            a.traffic
                .as_ref()
                .unwrap()
                .unknown
                .as_deref()
                .unwrap()
                .contains("pl-0123abcd")
        );
        assert_eq!(a.status, Status::Skipped);
    }

    #[tokio::test]
    async fn without_flow_logs_or_revokes_nothing_is_read() {
        let inventory = vec![web(&["tcp/22 from 10.0.0.0/8", "tcp/22 from 0.0.0.0/0"])];
        // No settings.flow_logs.
        let e = with_flows(
            ec2_with(inventory.clone(), &[]),
            POLICY,
            MemoryFlows::default(),
        );
        let r = e.run(&schedule(), &opts(false)).await;
        assert!(
            revoke(&r, "sg-0e1", "tcp/22 from 0.0.0.0/0")
                .traffic
                .is_none()
        );
        assert_eq!(e.flows.reads.load(Ordering::SeqCst), 0);
        // Add-only plans no revoke: nothing to measure.
        let add_only = policy(false).replace("default_mode: enforce", "default_mode: add-only");
        let e = with_flows(ec2_with(inventory, &[]), &add_only, MemoryFlows::default());
        e.run(&schedule(), &opts(false)).await;
        assert_eq!(e.flows.reads.load(Ordering::SeqCst), 0);
    }
}

/// The same group id in another account of the same region: a run in one account reads,
/// writes and budgets only its own.
#[tokio::test]
async fn a_run_in_one_account_never_touches_the_same_group_id_in_another() {
    let twin = CurrentGroup {
        place: Place::new("444455556666", "us-east-1"),
        owner_id: "444455556666".into(),
        ..group("sg-0e1", "web", &["tcp/22 from 0.0.0.0/0"], &[])
    };
    let mut groups = estate().groups();
    groups.push(twin.clone());
    let ec2 = MemoryEc2::new(Inventory {
        groups,
        unreadable: vec![],
    });
    let e = enforcer(ec2, FLAPPY);
    let mut o = opts(true);
    o.home = Place::new("111122223333", "us-east-1");
    let r = e.run(&schedule(), &o).await;
    assert!(r.summary.revoked >= 1);
    assert!(
        r.groups
            .iter()
            .all(|g| g.place == Place::new("111122223333", "us-east-1"))
    );
    let json = r.to_json();
    assert!(json.contains("\"account\": \"111122223333\""), "{json}");
    assert!(
        e.ec2
            .writes()
            .iter()
            .all(|w| w.place.account == "111122223333")
    );
    let kept = e
        .ec2
        .groups()
        .into_iter()
        .find(|g| g.place.account == "444455556666");
    assert_eq!(kept, Some(twin), "the other account's group is untouched");
    assert_eq!(
        e.ledger.snapshot().groups.keys().collect::<Vec<_>>(),
        ["111122223333/us-east-1/sg-0e1"]
    );
}

/// A CloudTrail event for `group_id`, as the AuthorizeSecurityGroupIngress sample.
fn event_on(group_id: &str) -> TriggerEvent {
    let mut ev = sample("authorize-ingress.json", None);
    if let Trigger::CloudTrail { group_ids, .. } = &mut ev.trigger {
        *group_ids = vec![group_id.to_string()];
    }
    ev
}

#[tokio::test]
async fn an_event_whose_entry_names_a_select_entry_reads_the_region_so_sg_resolves() {
    let mut web = group("sg-0e1", "web-1", &[], &[]);
    web.tags.insert("tier".into(), "web".into());
    let ec2 = MemoryEc2::new(Inventory {
        groups: vec![web, group("sg-0d1", "db", &[], &[])],
        unreadable: vec![],
    });
    let e = enforcer(
        ec2,
        "version: 1
settings: {regions: [us-east-1], default_mode: enforce}
groups:
  web: {select: {tags: {tier: web}}}
  db: {ingress: [tcp/5432 from sg:web]}
",
    );
    let r = e.run(&event_on("sg-0d1"), &opts(true)).await;
    // Only the event's group is reported and written, and its `sg:web` resolved to the
    // tagged group: the region was read, not the event's group alone.
    assert_eq!(r.groups.len(), 1, "{:?}", r.groups);
    assert_eq!(r.summary.authorized, 1, "{:?}", r.groups[0].actions);
    assert_eq!(
        texts(&find(&e.ec2, "sg-0d1"), Direction::Ingress),
        ["tcp/5432 from sg-0e1"]
    );
}

#[tokio::test]
async fn a_work_batch_runs_each_item_in_its_account_and_fails_only_the_bad_ones() {
    let in_account = |account: &str| {
        let mut g = group("sg-0e1", "web", &["tcp/22 from 0.0.0.0/0"], &[]);
        g.place = Place::new(account, "us-east-1");
        g
    };
    let ec2 = MemoryEc2::new(Inventory {
        groups: vec![in_account("222222222222"), in_account("333333333333")],
        unreadable: vec![],
    });
    let e = enforcer(
        ec2,
        "version: 1
settings: {regions: [us-east-1], default_mode: enforce, accounts: [\"222222222222\", \"333333333333\"]}
groups:
  web: {ingress: []}
",
    );
    let mut bodies = crate::work::plan_sweep(
        &["222222222222".to_string(), "444444444444".to_string()],
        &["us-east-1".to_string()],
        Some("sweep"),
    );
    bodies.push("not json".into());
    let records: Vec<serde_json::Value> = bodies
        .iter()
        .enumerate()
        .map(|(i, b)| serde_json::json!({"messageId": format!("m{i}"), "body": b, "eventSource": "aws:sqs"}))
        .collect();
    let config = crate::config::LambdaConfig::from_vars(|k| {
        (k == "SGWARDEN_POLICY").then(|| "s3://b/p.yaml".to_string())
    })
    .unwrap();
    let hub = Place::new("111111111111", "us-east-1");
    let now = "2026-11-23T12:00:00Z".parse().unwrap();
    let answer = crate::handler::handle_batch(
        &e,
        &config,
        &hub,
        now,
        &serde_json::json!({"Records": records}),
    )
    .await
    .unwrap();
    // 444444444444 is not governed, and the last message does not read: both fail, alone.
    assert_eq!(
        answer,
        serde_json::json!({"batchItemFailures": [{"itemIdentifier": "m1"}, {"itemIdentifier": "m2"}]})
    );
    let web_in = |account: &str| {
        e.ec2
            .groups()
            .into_iter()
            .find(|g| g.place.account == account)
            .unwrap()
    };
    assert!(
        web_in("222222222222").ingress.is_empty(),
        "repaired in its account"
    );
    assert_eq!(
        texts(&web_in("333333333333"), Direction::Ingress),
        ["tcp/22 from 0.0.0.0/0"],
        "no item for it: untouched"
    );
    // Every write named its account; the revert budget key carries it.
    assert!(
        e.ec2
            .writes()
            .iter()
            .all(|w| w.place.account == "222222222222")
    );
    let keys: Vec<String> = e.ledger.snapshot().groups.keys().cloned().collect();
    assert_eq!(keys, ["222222222222/us-east-1/sg-0e1"]);
}
