//! In-memory adapters: an EC2 that backs snapshot plans and the enforcer's tests (with
//! fault injection and a history of every write), a notifier that keeps what it was given,
//! flow logs given by the caller, and a revert ledger for one process's runs.

use std::collections::BTreeMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use crate::budget::{Claim, Ledger, Verdict};
use crate::findings::{Existing, Finding, Scope};
use crate::inventory::{self, CurrentGroup, Inventory};
use crate::place::Place;
use crate::plan::Op;
use crate::policy::FlapLimit;
use crate::ports::{
    Active, Ec2, Ec2Error, FindingSink, FindingsError, GroupRef, LedgerError, Notifier,
    NotifyError, RevertLedger,
};
use crate::report::Report;
use crate::rule::{DescribedRule, Direction, Rule};

/// One write the in-memory EC2 was asked to make.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Write {
    pub op: Op,
    pub place: Place,
    pub group_id: String,
    pub direction: Direction,
    pub rules: Vec<String>,
}

/// A fault the in-memory EC2 answers with instead of doing the work.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Every write to this group fails with this error.
    Group { group_id: String, error: Ec2Error },
    /// Describing this region (in any account) fails.
    Region { region: String, error: Ec2Error },
}

#[derive(Default)]
struct MemoryState {
    groups: Vec<CurrentGroup>,
    unreadable: Vec<inventory::UnreadableGroup>,
    writes: Vec<Write>,
    faults: Vec<Fault>,
    /// A snapshot of every group after each write, for tests that watch for gaps.
    history: Vec<Vec<CurrentGroup>>,
    /// Network interfaces (for flow logs), in any region.
    interfaces: Vec<crate::ports::Interface>,
}

/// EC2 in memory. Batches behave as EC2's do: a duplicate (authorize) or absent
/// (revoke, description update) rule rejects the whole batch. With `partial_batches`,
/// the rest of a rejected batch is applied first, as moto does.
///
/// A group is in the place it was stored with; one stored with no account (a snapshot,
/// most tests) is in that region of whatever account the run asks about, and is handed
/// out with the place asked for, as the EC2 of the caller's account would.
#[derive(Default)]
pub struct MemoryEc2 {
    state: Mutex<MemoryState>,
    pub partial_batches: bool,
}

impl MemoryEc2 {
    pub fn new(inventory: Inventory) -> Self {
        MemoryEc2 {
            state: Mutex::new(MemoryState {
                groups: inventory.groups,
                unreadable: inventory.unreadable,
                ..MemoryState::default()
            }),
            partial_batches: false,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut MemoryState) -> T) -> T {
        // A poisoned lock only means another test thread panicked; the data is still usable.
        let mut guard = match self.state.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut guard)
    }

    /// Attaches network interfaces (for flow-log change risk).
    pub fn add_interfaces(&self, interfaces: Vec<crate::ports::Interface>) {
        self.with(|s| s.interfaces.extend(interfaces));
    }

    pub fn add_fault(&self, fault: Fault) {
        self.with(|s| s.faults.push(fault));
    }

    pub fn writes(&self) -> Vec<Write> {
        self.with(|s| s.writes.clone())
    }

    pub fn groups(&self) -> Vec<CurrentGroup> {
        self.with(|s| s.groups.clone())
    }

    /// Every state the groups went through, one per write.
    pub fn history(&self) -> Vec<Vec<CurrentGroup>> {
        self.with(|s| s.history.clone())
    }

    /// Changes a group behind the enforcer's back (another actor, a race).
    pub fn edit(&self, group_id: &str, f: impl FnOnce(&mut CurrentGroup)) {
        self.with(|s| {
            if let Some(g) = s.groups.iter_mut().find(|g| g.group_id == group_id) {
                f(g);
            }
        });
    }

    /// Deletes a group (a race with a person deleting it mid-run).
    pub fn delete(&self, group_id: &str) {
        self.with(|s| s.groups.retain(|g| g.group_id != group_id));
    }

    fn write(
        &self,
        op: Op,
        group: &GroupRef,
        direction: Direction,
        rules: Vec<DescribedRule>,
    ) -> Result<(), Ec2Error> {
        let partial = self.partial_batches;
        self.with(|s| {
            s.writes.push(Write {
                op,
                place: group.place.clone(),
                group_id: group.group_id.clone(),
                direction,
                rules: rules.iter().map(|r| r.rule.to_string()).collect(),
            });
            for f in &s.faults {
                if let Fault::Group { group_id, error } = f
                    && *group_id == group.group_id
                {
                    return Err(error.clone());
                }
            }
            let Some(g) = s
                .groups
                .iter_mut()
                .find(|g| g.group_id == group.group_id && within(&g.place, &group.place))
            else {
                return Err(Ec2Error::GroupNotFound {
                    code: "InvalidGroup.NotFound".into(),
                });
            };
            let held = g.rules_mut(direction);
            let has = |held: &Vec<DescribedRule>, r: &Rule| held.iter().any(|h| h.rule == *r);
            let bad = match op {
                Op::Authorize => rules.iter().any(|r| has(held, &r.rule)),
                Op::Revoke | Op::UpdateDescription => rules.iter().any(|r| !has(held, &r.rule)),
            };
            if bad && !partial {
                return Err(match op {
                    Op::Authorize => Ec2Error::AlreadyPresent,
                    _ => Ec2Error::NotFound {
                        code: "InvalidPermission.NotFound".into(),
                    },
                });
            }
            for r in rules {
                match op {
                    Op::Authorize if !has(held, &r.rule) => held.push(r),
                    Op::Revoke => held.retain(|h| h.rule != r.rule),
                    Op::UpdateDescription => {
                        if let Some(h) = held.iter_mut().find(|h| h.rule == r.rule) {
                            h.description = r.description;
                        }
                    }
                    Op::Authorize => {}
                }
            }
            held.sort();
            let snapshot = s.groups.clone();
            s.history.push(snapshot);
            if bad {
                return Err(match op {
                    Op::Authorize => Ec2Error::AlreadyPresent,
                    _ => Ec2Error::NotFound {
                        code: "InvalidPermission.NotFound".into(),
                    },
                });
            }
            Ok(())
        })
    }
}

/// Whether a group stored at `stored` is in `place` (no account: in every account).
fn within(stored: &Place, place: &Place) -> bool {
    stored.region == place.region && (stored.account.is_empty() || stored.account == place.account)
}

impl Ec2 for MemoryEc2 {
    async fn interfaces(
        &self,
        _place: &Place,
        group_ids: &[String],
    ) -> Result<Vec<crate::ports::Interface>, Ec2Error> {
        self.with(|s| {
            Ok(s.interfaces
                .iter()
                .filter(|i| i.group_ids.iter().any(|g| group_ids.contains(g)))
                .cloned()
                .collect())
        })
    }

    async fn describe(
        &self,
        place: &Place,
        group_ids: Option<&[String]>,
    ) -> Result<Inventory, Ec2Error> {
        self.with(|s| {
            for f in &s.faults {
                if let Fault::Region { region, error } = f
                    && *region == place.region
                {
                    return Err(error.clone());
                }
            }
            let asked = |id: &String| group_ids.is_none_or(|ids| ids.contains(id));
            let groups = s
                .groups
                .iter()
                .filter(|g| within(&g.place, place) && asked(&g.group_id))
                .map(|g| CurrentGroup {
                    place: place.clone(),
                    ..g.clone()
                })
                .collect();
            let unreadable = s
                .unreadable
                .iter()
                .filter(|u| within(&u.place, place) && asked(&u.group_id))
                .map(|u| inventory::UnreadableGroup {
                    place: place.clone(),
                    ..u.clone()
                })
                .collect();
            Ok(Inventory { groups, unreadable })
        })
    }

    async fn create_group(
        &self,
        place: &Place,
        name: &str,
        description: &str,
        vpc: Option<&str>,
    ) -> Result<String, Ec2Error> {
        self.with(|s| {
            let vpc_id = vpc
                .map(str::to_string)
                .or_else(|| Some("vpc-default".into()));
            if s.groups
                .iter()
                .any(|g| within(&g.place, place) && g.group_name == name && g.vpc_id == vpc_id)
            {
                return Err(Ec2Error::api(
                    "CreateSecurityGroup",
                    "InvalidGroup.Duplicate",
                    &format!("the group `{name}` already exists"),
                ));
            }
            let group_id = format!("sg-{:017x}", 0xc0ffee_u64 + s.groups.len() as u64);
            let owner_id = s
                .groups
                .first()
                .map(|g| g.owner_id.clone())
                .unwrap_or_default();
            let all: Rule = "all to 0.0.0.0/0"
                .parse()
                .map_err(|_| Ec2Error::api("CreateSecurityGroup", "Internal", "default egress"))?;
            s.groups.push(CurrentGroup {
                place: place.clone(),
                group_id: group_id.clone(),
                group_name: name.to_string(),
                vpc_id,
                owner_id,
                description: description.to_string(),
                tags: Default::default(),
                ingress: Vec::new(),
                egress: vec![DescribedRule {
                    rule: all,
                    description: None,
                }],
            });
            Ok(group_id)
        })
    }

    async fn authorize(
        &self,
        group: &GroupRef,
        direction: Direction,
        rules: &[DescribedRule],
    ) -> Result<(), Ec2Error> {
        self.write(Op::Authorize, group, direction, rules.to_vec())
    }

    async fn revoke(
        &self,
        group: &GroupRef,
        direction: Direction,
        rules: &[Rule],
    ) -> Result<(), Ec2Error> {
        let rules = rules
            .iter()
            .map(|r| DescribedRule {
                rule: r.clone(),
                description: None,
            })
            .collect();
        self.write(Op::Revoke, group, direction, rules)
    }

    async fn update_descriptions(
        &self,
        group: &GroupRef,
        direction: Direction,
        rules: &[DescribedRule],
    ) -> Result<(), Ec2Error> {
        self.write(Op::UpdateDescription, group, direction, rules.to_vec())
    }
}

/// A notifier that keeps every report it is given (and can be told to fail).
#[derive(Default)]
pub struct MemoryNotifier {
    published: Mutex<Vec<Report>>,
    pub fail_with: Option<String>,
}

impl MemoryNotifier {
    pub fn published(&self) -> Vec<Report> {
        match self.published.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }
}

impl Notifier for MemoryNotifier {
    async fn publish(&self, report: &Report) -> Result<(), NotifyError> {
        if let Some(message) = &self.fail_with {
            return Err(NotifyError {
                message: message.clone(),
            });
        }
        match self.published.lock() {
            Ok(mut g) => g.push(report.clone()),
            Err(p) => p.into_inner().push(report.clone()),
        }
        Ok(())
    }
}

/// Security Hub in memory: findings by id, upserted as Security Hub does; `fail_with`
/// makes every import fail.
#[derive(Default)]
pub struct MemoryFindings {
    held: Mutex<BTreeMap<String, Finding>>,
    pub fail_with: Option<String>,
}

impl MemoryFindings {
    /// A Security Hub whose every import fails with `message`.
    pub fn failing(message: &str) -> Self {
        MemoryFindings {
            held: Mutex::default(),
            fail_with: Some(message.to_string()),
        }
    }

    /// Every finding held, by id.
    pub fn held(&self) -> BTreeMap<String, Finding> {
        match self.held.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }
}

impl FindingSink for MemoryFindings {
    async fn active(&self, scope: &Scope) -> Result<Active, FindingsError> {
        let findings = self
            .held()
            .into_values()
            .filter(|f| f.open && scope.holds(&f.id))
            .map(|f| Existing {
                id: f.id.clone(),
                created_at: Some(f.created_at),
                updated_at: Some(f.updated_at),
                fingerprint: f.fields.get("sgwarden/fingerprint").cloned(),
            })
            .collect();
        Ok(Active {
            findings,
            complete: true,
        })
    }

    async fn import(&self, place: &Place, findings: &[Finding]) -> Result<(), FindingsError> {
        if let Some(message) = &self.fail_with {
            return Err(FindingsError {
                operation: "BatchImportFindings",
                place: place.clone(),
                message: message.clone(),
            });
        }
        let mut held = match self.held.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        for f in findings {
            held.insert(f.id.clone(), f.clone());
        }
        Ok(())
    }
}

/// Flow-log records in memory: every record whose interface is asked for, whatever the
/// window (the records are the test's own). `fail` makes every read fail.
#[derive(Default)]
pub struct MemoryFlows {
    pub records: Vec<crate::flows::FlowRecord>,
    pub fail: Option<String>,
    /// How many reads were made.
    pub reads: std::sync::atomic::AtomicUsize,
}

impl crate::ports::FlowSource for MemoryFlows {
    async fn records(
        &self,
        _place: &Place,
        log_group: &str,
        _start: chrono::DateTime<chrono::Utc>,
        _end: chrono::DateTime<chrono::Utc>,
        interfaces: &[String],
    ) -> Result<Vec<crate::flows::FlowRecord>, crate::ports::FlowError> {
        self.reads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Some(message) = &self.fail {
            return Err(crate::ports::FlowError {
                log_group: log_group.to_string(),
                message: message.clone(),
            });
        }
        Ok(self
            .records
            .iter()
            .filter(|r| interfaces.contains(&r.interface_id))
            .cloned()
            .collect())
    }
}

/// A ledger in memory: one process's runs only. The CLI uses it (an `apply` is a
/// person's decision, counted within its own run only) and so does a Lambda started
/// without `SGWARDEN_STATE` (one warm container's runs).
#[derive(Debug, Default)]
pub struct MemoryLedger {
    ledger: Mutex<Ledger>,
}

impl MemoryLedger {
    pub fn new() -> Self {
        Self::default()
    }

    /// The ledger as it stands.
    pub fn snapshot(&self) -> Ledger {
        self.ledger
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

impl RevertLedger for MemoryLedger {
    async fn reserve(
        &self,
        now: DateTime<Utc>,
        limit: FlapLimit,
        claims: &[Claim],
    ) -> Result<Vec<Verdict>, LedgerError> {
        Ok(self
            .ledger
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .admit(now, limit, claims))
    }
}
