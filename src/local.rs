//! Local adapters: policy files and directories on disk, describe-security-groups
//! snapshots (`--snapshot [REGION=]FILE`), an in-memory EC2 that backs snapshots and the
//! enforcer's tests, and a notifier that keeps what it was given.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::inventory::{self, CurrentGroup, Inventory};
use crate::limits;
use crate::plan::Op;
use crate::policy::{self, Document, Policy, PolicyError};
use crate::ports::{Ec2, Ec2Error, GroupRef, Notifier, NotifyError, PolicySource, SourceError};
use crate::report::Report;
use crate::rule::{DescribedRule, Direction, Rule};

/// A policy file by its name: `*.yaml`, `*.yml` or `*.json`, in any case.
pub fn is_policy_file(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [".yaml", ".yml", ".json"]
        .iter()
        .any(|e| lower.ends_with(e))
}

/// The policy files under `dir`: each directory followed once (a symlink back to a parent
/// is not walked again), at most [`limits::POLICY_DIR_DEPTH`] levels, hidden entries skipped,
/// only regular files (a FIFO or a device among them is an error when read).
fn walk(
    dir: &Path,
    depth: usize,
    seen: &mut HashSet<PathBuf>,
    out: &mut Vec<PathBuf>,
) -> Result<(), PolicyError> {
    let read_err = |source| PolicyError::Read {
        location: dir.display().to_string(),
        source,
    };
    if !seen.insert(std::fs::canonicalize(dir).map_err(read_err)?) {
        return Ok(());
    }
    if depth > limits::POLICY_DIR_DEPTH {
        return Err(PolicyError::TooLarge {
            location: dir.display().to_string(),
            what: format!("is more than {} directories deep", limits::POLICY_DIR_DEPTH),
        });
    }
    for entry in std::fs::read_dir(dir).map_err(read_err)? {
        let path = entry.map_err(read_err)?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            walk(&path, depth + 1, seen, out)?;
        } else if is_policy_file(name) {
            out.push(path);
            if out.len() > limits::POLICY_FILES {
                return Err(PolicyError::TooLarge {
                    location: dir.display().to_string(),
                    what: format!("holds more than {} policy files", limits::POLICY_FILES),
                });
            }
        }
    }
    Ok(())
}

/// Reads a local policy location: one file, or every `*.yaml|*.yml|*.json` under a
/// directory (hidden entries skipped), in path order. Every file and the whole are
/// bounded (docs/security.md, "Limits").
pub fn read_policy(location: &str) -> Result<Vec<Document>, PolicyError> {
    let path = Path::new(location);
    let meta = std::fs::metadata(path).map_err(|source| PolicyError::Read {
        location: location.to_string(),
        source,
    })?;
    let files = if meta.is_dir() {
        let mut files = Vec::new();
        walk(path, 0, &mut HashSet::new(), &mut files)?;
        files.sort();
        if files.is_empty() {
            return Err(PolicyError::NoFiles {
                location: location.to_string(),
            });
        }
        files
    } else {
        vec![path.to_path_buf()]
    };
    let mut total = 0u64;
    let mut documents = Vec::with_capacity(files.len());
    for f in files {
        let bytes = limits::read_file(&f, "policy file", limits::POLICY_FILE_BYTES)?;
        total = total.saturating_add(bytes.len() as u64);
        if total > limits::POLICY_TOTAL_BYTES {
            return Err(PolicyError::TooLarge {
                location: location.to_string(),
                what: format!(
                    "is larger than {} in all",
                    limits::bytes_text(limits::POLICY_TOTAL_BYTES)
                ),
            });
        }
        documents.push(Document::from_bytes(f.display().to_string(), bytes)?);
    }
    Ok(documents)
}

/// The region the program runs in: `$AWS_REGION`, else `$AWS_DEFAULT_REGION`, else
/// `us-east-1`.
pub fn running_region() -> String {
    ["AWS_REGION", "AWS_DEFAULT_REGION"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .find(|v| !v.is_empty())
        .unwrap_or_else(|| "us-east-1".to_string())
}

/// Splits `[REGION=]FILE` into its region (the running region when absent) and file.
pub fn snapshot_arg(arg: &str) -> (String, String) {
    match arg.split_once('=') {
        Some((region, file)) if !region.is_empty() && !region.contains('/') => {
            (region.to_string(), file.to_string())
        }
        _ => (running_region(), arg.to_string()),
    }
}

/// Reads every `--snapshot` into one inventory. Errors name the file; a region that is not
/// a region name (`us-east-l`) is an error, never a snapshot silently left out.
pub fn read_snapshots(args: &[String]) -> Result<Inventory, String> {
    let mut inv = Inventory::default();
    for arg in args {
        let (region, file) = snapshot_arg(arg);
        if !policy::is_region(&region) {
            return Err(format!(
                "--snapshot `{arg}`: `{region}` is not a region name (write REGION=FILE, \
                 e.g. us-east-1=snap.json)"
            ));
        }
        let text = limits::read_text(Path::new(&file), "snapshot", limits::SNAPSHOT_BYTES)?;
        inventory::read_snapshot(&file, &region, &text, &mut inv)?;
    }
    Ok(inv)
}

/// A policy read from a local file or directory on every load.
pub struct FilePolicySource {
    pub location: String,
}

impl PolicySource for FilePolicySource {
    async fn load(&self) -> Result<Policy, SourceError> {
        let docs = read_policy(&self.location)?;
        Ok(policy::load(&self.location, &docs)?)
    }
}

/// A policy already loaded (the CLI loads it first, to print its problems one a line).
pub struct LoadedPolicy(pub Policy);

impl PolicySource for LoadedPolicy {
    async fn load(&self) -> Result<Policy, SourceError> {
        Ok(self.0.clone())
    }
}

/// One write the in-memory EC2 was asked to make.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Write {
    pub op: Op,
    pub group_id: String,
    pub direction: Direction,
    pub rules: Vec<String>,
}

/// A fault the in-memory EC2 answers with instead of doing the work.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Every write to this group fails with this error.
    Group { group_id: String, error: Ec2Error },
    /// Describing this region fails.
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
                .find(|g| g.group_id == group.group_id && g.region == group.region)
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

impl Ec2 for MemoryEc2 {
    async fn interfaces(
        &self,
        _region: &str,
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
        region: &str,
        group_ids: Option<&[String]>,
    ) -> Result<Inventory, Ec2Error> {
        self.with(|s| {
            for f in &s.faults {
                if let Fault::Region { region: r, error } = f
                    && r == region
                {
                    return Err(error.clone());
                }
            }
            let groups = s
                .groups
                .iter()
                .filter(|g| g.region == region)
                .filter(|g| group_ids.is_none_or(|ids| ids.contains(&g.group_id)))
                .cloned()
                .collect();
            let unreadable = s
                .unreadable
                .iter()
                .filter(|u| u.region == region)
                .filter(|u| group_ids.is_none_or(|ids| ids.contains(&u.group_id)))
                .cloned()
                .collect();
            Ok(Inventory { groups, unreadable })
        })
    }

    async fn create_group(
        &self,
        region: &str,
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
                .any(|g| g.region == region && g.group_name == name && g.vpc_id == vpc_id)
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
                region: region.to_string(),
                group_id: group_id.clone(),
                group_name: name.to_string(),
                vpc_id,
                owner_id,
                description: description.to_string(),
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
        _region: &str,
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
