//! `sgwarden-demo`: the README's first command runs this (through `scripts/demo`). A local
//! AWS with a drifted two-region estate, the real `sgwarden-lambda` binary run through the
//! Lambda runtime API, and what a user sees. Run from the project root.

use std::path::PathBuf;
use std::process::ExitCode;

use sgwarden_devkit::demo::{DemoPaths, run};

fn main() -> ExitCode {
    // It reads Security Hub findings back, whose SDK types are large: the stack
    // sgwarden's own threads have.
    let demo = || {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map(|rt| rt.block_on(demo()))
    };
    match sgwarden::limits::on_large_stack(demo) {
        Ok(Ok(code)) => code,
        Ok(Err(e)) | Err(e) => {
            eprintln!("error: the demo could not start: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn demo() -> ExitCode {
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
