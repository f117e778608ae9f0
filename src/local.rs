//! Local inputs: policy files and directories on disk, and describe-security-groups
//! snapshots (`--snapshot [REGION=]FILE`). The only place the CLI's core path reads files.

use std::path::{Path, PathBuf};

use crate::inventory::{self, Inventory};
use crate::policy::{Document, PolicyError};

fn is_policy_file(p: &Path) -> bool {
    matches!(
        p.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "json")
    )
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        if path.is_dir() {
            walk(&path, out)?;
        } else if is_policy_file(&path) {
            out.push(path);
        }
    }
    Ok(())
}

/// Reads a local policy location: one file, or every `*.yaml|*.yml|*.json` under a
/// directory (hidden entries skipped), in path order.
pub fn read_policy(location: &str) -> Result<Vec<Document>, PolicyError> {
    let path = Path::new(location);
    let read_err = |source| PolicyError::Read {
        location: location.to_string(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(read_err)?;
    let files = if meta.is_dir() {
        let mut files = Vec::new();
        walk(path, &mut files).map_err(read_err)?;
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
    files
        .into_iter()
        .map(|f| {
            let name = f.display().to_string();
            let text = std::fs::read_to_string(&f).map_err(|source| PolicyError::Read {
                location: name.clone(),
                source,
            })?;
            Ok(Document::new(name, text))
        })
        .collect()
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

/// Reads every `--snapshot` into one inventory. Errors name the file.
pub fn read_snapshots(args: &[String]) -> Result<Inventory, String> {
    let mut inv = Inventory::default();
    for arg in args {
        let (region, file) = snapshot_arg(arg);
        let text = std::fs::read_to_string(&file)
            .map_err(|e| format!("cannot read snapshot `{file}`: {e}"))?;
        inventory::read_snapshot(&file, &region, &text, &mut inv)?;
    }
    Ok(inv)
}
