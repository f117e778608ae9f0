//! A local AWS for the demo, the integration tests and the benchmarks: moto's server from
//! the project venv, a Lambda runtime API that drives the real `sgwarden-lambda` binary,
//! and estates seeded over the SDK. Everything listens on 127.0.0.1 only, and every
//! process started here is stopped by its own PID.
//!
//! A workspace package of its own (`devkit/`): the product never links it, and the
//! Lambda's build (`scripts/package`) compiles neither it nor the SQS client it uses.

pub mod burst;
pub mod chaos;
pub mod demo;
pub mod estate;
pub mod moto;
pub mod runtime_api;
pub mod scale;
mod server;
pub mod stub;

/// What went wrong while setting up or driving the local AWS.
#[derive(Debug, thiserror::Error)]
pub enum DevError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Setup(String),
    #[error("{call} failed: {message}")]
    Aws { call: &'static str, message: String },
    #[error("{0}")]
    Timeout(String),
}

impl DevError {
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> DevError {
        let what = what.into();
        move |source| DevError::Io { what, source }
    }

    /// An SDK error with its full context (code, message, cause).
    pub(crate) fn aws<E: std::error::Error>(call: &'static str) -> impl FnOnce(E) -> DevError {
        move |e| DevError::Aws {
            call,
            message: crate::error_text(&e),
        }
    }
}

/// An error and its causes on one line.
pub(crate) fn error_text(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The repository root (the devkit is its `devkit/` folder).
pub fn root() -> std::path::PathBuf {
    let devkit = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    devkit.parent().unwrap_or(devkit).to_path_buf()
}

/// One of sgwarden's binaries (`sgwarden`, `sgwarden-lambda`), built into the same target
/// directory as the running program (`cargo build --workspace` puts them all there): the
/// directory of the running program, or the one above it for a test or benchmark, which
/// runs from `deps/`.
pub fn binary(name: &str) -> Result<std::path::PathBuf, DevError> {
    let exe = std::env::current_exe().map_err(DevError::io("the running program's path"))?;
    let dirs = exe.ancestors().skip(1).take(2);
    dirs.map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            DevError::Setup(format!(
                "`{name}` is not built beside {}: run `cargo build --workspace --bins` (with \
                 `--release` for the benchmarks)",
                exe.display()
            ))
        })
}

/// A benchmark's size from the environment (`SGWARDEN_BENCH_*`), or `default` when it is
/// unset or not a number.
pub fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// User + system CPU time of a live process, from `/proc/PID/stat` (Linux only).
pub fn process_cpu_time(pid: u32) -> Option<std::time::Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // The kernel's USER_HZ is 100 on every Linux this runs on.
    Some(std::time::Duration::from_millis(ticks * 10))
}

/// Peak resident set size of a live process in KiB (`VmHWM` in `/proc/PID/status`).
pub fn process_peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// Replaces the text between the `<!-- NAME:begin -->` and `<!-- NAME:end -->` markers of
/// docs/benchmarks.md with `text` (a benchmark's results).
pub fn write_doc(name: &str, text: &str) {
    let path = root().join("docs/benchmarks.md");
    let Ok(doc) = std::fs::read_to_string(&path) else {
        eprintln!("cannot read {}; not written", path.display());
        return;
    };
    let (begin, end) = (
        format!("<!-- {name}:begin -->"),
        format!("<!-- {name}:end -->"),
    );
    let (Some(b), Some(e)) = (doc.find(&begin), doc.find(&end)) else {
        eprintln!("docs/benchmarks.md has no {name} markers; not written");
        return;
    };
    let out = format!("{}{begin}\n{text}{}", &doc[..b], &doc[e..]);
    match std::fs::write(&path, out) {
        Ok(()) => eprintln!("wrote {}", path.display()),
        Err(e) => eprintln!("cannot write {}: {e}", path.display()),
    }
}
