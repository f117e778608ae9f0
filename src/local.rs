//! Local adapters: policy files and directories on disk and describe-security-groups
//! snapshots (`--snapshot [REGION=]FILE`); the in-memory adapters are in `local/memory.rs`.

mod memory;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

pub use memory::{
    Fault, MemoryEc2, MemoryFindings, MemoryFlows, MemoryLedger, MemoryNotifier, Write,
};

use crate::inventory::{self, Inventory};
use crate::limits;
use crate::place::Place;
use crate::policy::{self, Document, Policy, PolicyError};
use crate::ports::{PolicySource, SourceError};

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
                return Err(PolicyError::too_many_files(dir.display().to_string()));
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
            return Err(PolicyError::too_large_in_all(location.to_string()));
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

/// Splits `[[ACCOUNT/]REGION=]FILE` into its place (the running region and no account
/// when absent) and file.
pub fn snapshot_arg(arg: &str) -> (Place, String) {
    if let Some((at, file)) = arg.split_once('=') {
        let (account, region) = match at.split_once('/') {
            Some((a, r)) if crate::place::is_account(a) => (a, r),
            _ => ("", at),
        };
        if !region.is_empty() && !region.contains('/') {
            return (Place::new(account, region), file.to_string());
        }
    }
    (Place::new("", running_region()), arg.to_string())
}

/// Reads every `--snapshot` into one inventory. Errors name the file; a region that is not
/// a region name (`us-east-l`) is an error, never a snapshot silently left out.
pub fn read_snapshots(args: &[String]) -> Result<Inventory, String> {
    let mut inv = Inventory::default();
    for arg in args {
        let (place, file) = snapshot_arg(arg);
        if !policy::is_region(&place.region) {
            return Err(format!(
                "--snapshot `{arg}`: `{}` is not a region name (write [ACCOUNT/]REGION=FILE, \
                 e.g. us-east-1=snap.json or 111122223333/us-east-1=snap.json)",
                place.region
            ));
        }
        let text = limits::read_text(Path::new(&file), "snapshot", limits::SNAPSHOT_BYTES)?;
        inventory::read_snapshot(&file, &place, &text, &mut inv)?;
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
