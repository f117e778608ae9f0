//! `sgwarden-demo`: the README's first command runs this (through `scripts/demo`). A local
//! AWS with a drifted two-region estate, the real `sgwarden-lambda` binary run through the
//! Lambda runtime API, and what a user sees. Run from the project root.

use std::path::PathBuf;
use std::process::ExitCode;

use sgwarden_devkit::demo::{DemoPaths, run};

#[tokio::main]
async fn main() -> ExitCode {
    let root = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let function = match sgwarden_devkit::binary("sgwarden-lambda") {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: the demo failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    let paths = DemoPaths {
        venv: root.join(".venv"),
        function,
        policy: root.join("examples/policy.yaml"),
        event: root.join("events/authorize-ingress.json"),
    };
    match run(&paths).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: the demo failed: {e}");
            ExitCode::FAILURE
        }
    }
}
