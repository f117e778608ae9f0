//! Helpers: run the real `sgwarden` binary and capture what it prints.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// The repository root (paths in tests are relative to it).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(rel: &str) -> String {
    root()
        .join("tests/fixtures")
        .join(rel)
        .display()
        .to_string()
}

pub fn example(rel: &str) -> String {
    root().join("examples").join(rel).display().to_string()
}

/// Runs `sgwarden ARGS` with a clean AWS region environment.
pub fn sgwarden(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_sgwarden"))
        .args(args)
        .current_dir(root())
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env_remove("SGWARDEN_POLICY")
        .output()
        .expect("run sgwarden");
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(
        !run.stderr.contains("panicked") && !run.stderr.contains("RUST_BACKTRACE"),
        "sgwarden panicked: {}",
        run.stderr
    );
    run
}

pub fn files_in(dir: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
        .expect("read dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("yaml" | "json")
            )
        })
        .collect();
    v.sort();
    v
}

/// Expected fragments of a malformed fixture: its `# expect:` line, or FILE.expect.
pub fn expectations(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).expect("read fixture");
    let line = match text
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("# expect:"))
    {
        Some(l) => l.to_string(),
        None => std::fs::read_to_string(format!("{}.expect", path.display()))
            .expect("an expectation for each bad fixture"),
    };
    line.split('|')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}
