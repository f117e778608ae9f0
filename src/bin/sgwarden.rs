//! The `sgwarden` binary: parse arguments, run, print, exit. All logic is in the library.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use sgwarden::cli::{self, Cli, CliError};

// The core allocates many small rule values; mimalloc halves drift and expansion time
// against the system allocator (docs/benchmarks.md).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = Cli::parse();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match cli::run(args, &mut out) {
        Ok(outcome) => {
            let _ = out.flush();
            ExitCode::from(outcome.code())
        }
        Err(e) => {
            let _ = out.flush();
            eprint!("{}", error_text(&e));
            ExitCode::from(1)
        }
    }
}

/// Policy problems one per line, then `error: ` and the cause chain joined by `: `.
fn error_text(e: &CliError) -> String {
    let mut text = String::new();
    if let CliError::Policy(p) = e {
        for issue in p.issues() {
            text.push_str(&format!("{issue}\n"));
        }
    }
    let mut line = format!("error: {e}");
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        line.push_str(&format!(": {s}"));
        source = s.source();
    }
    text.push_str(&line);
    text.push('\n');
    text
}
