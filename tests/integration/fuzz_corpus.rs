//! The fuzz targets' seed corpora and every crash input ever found (fuzz/regressions/),
//! replayed through the same parsers on every test run: never a panic, and every policy
//! problem has a position.

use std::path::Path;

use crate::support::root;

fn inputs(dir: &Path, prefix: Option<&str>) -> Vec<(String, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<(String, Vec<u8>)> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name != "README.md" && prefix.is_none_or(|pre| name.starts_with(pre))
        })
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect();
    out.sort();
    out
}

#[test]
fn policy_fuzz_inputs_never_panic_and_every_problem_has_a_position() {
    let fuzz = root().join("fuzz");
    let mut all = inputs(&fuzz.join("corpus/policy"), None);
    all.extend(inputs(&fuzz.join("regressions"), Some("policy-")));
    assert!(all.len() >= 15, "the seed corpus is missing");
    for (name, bytes) in all {
        let loaded = sgwarden::policy::Document::from_bytes("fuzz.yaml", bytes)
            .and_then(|doc| sgwarden::policy::load("fuzz.yaml", &[doc]));
        if let Err(e) = loaded {
            assert!(!e.issues().is_empty(), "{name}: {e} without its problems");
            for issue in e.issues() {
                assert!(issue.line.is_some(), "{name}: no position in {issue}");
            }
        }
    }
}

#[test]
fn event_fuzz_inputs_never_panic() {
    let fuzz = root().join("fuzz");
    let mut all = inputs(&fuzz.join("corpus/event"), None);
    all.extend(inputs(&fuzz.join("regressions"), Some("event-")));
    assert!(all.len() >= 15, "the seed corpus is missing");
    let mut parsed = 0;
    for (_, bytes) in all {
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes)
            && sgwarden::trigger::parse(&v, Some("arn:aws:iam::111122223333:role/x")).is_ok()
        {
            parsed += 1;
        }
    }
    assert!(parsed >= 10, "the samples of events/ should parse");
}
