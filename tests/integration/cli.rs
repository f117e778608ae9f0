//! The CLI end to end on fixtures and examples, with no AWS at all.

use crate::support::{example, expectations, files_in, fixture, sgwarden};

fn example_plan(extra: &[&str]) -> crate::support::Run {
    let policy = example("policy.yaml");
    let us = format!("us-east-1={}", example("snapshots/us-east-1.json"));
    let eu = format!("eu-west-1={}", example("snapshots/eu-west-1.json"));
    let mut args = vec![
        "plan",
        "--policy",
        &policy,
        "--snapshot",
        &us,
        "--snapshot",
        &eu,
        "--now",
        "2026-11-23T00:00:00Z",
    ];
    args.extend_from_slice(extra);
    sgwarden(&args)
}

#[test]
fn every_malformed_policy_exits_1_naming_the_field_path_and_position() {
    let files = files_in("tests/fixtures/bad");
    assert!(files.len() >= 15, "the corpus has {} files", files.len());
    for f in files {
        let path = f.display().to_string();
        let r = sgwarden(&["validate", "--policy", &path]);
        assert_eq!(r.code, 1, "{path}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "{path}: nothing on stdout");
        for want in expectations(&f) {
            assert!(
                r.stderr.contains(&want),
                "{path}: expected `{want}` in:\n{}",
                r.stderr
            );
        }
        // Every problem line names file:line:col; the last line counts the problems.
        let lines: Vec<&str> = r.stderr.lines().collect();
        let last = lines.last().copied().unwrap_or_default();
        assert!(last.starts_with("error: policy has "), "{path}: {last}");
        for l in &lines[..lines.len() - 1] {
            let rest = l
                .strip_prefix(&path)
                .unwrap_or_else(|| panic!("{path}: line does not name the file: {l}"));
            let mut parts = rest.splitn(4, ':');
            assert_eq!(parts.next(), Some(""));
            assert!(
                parts.next().is_some_and(|n| n.parse::<u32>().is_ok()),
                "{path}: no line in {l}"
            );
            assert!(
                parts.next().is_some_and(|n| n.parse::<u32>().is_ok()),
                "{path}: no column in {l}"
            );
        }
    }
}

#[test]
fn all_problems_of_a_file_are_reported_in_one_run() {
    let r = sgwarden(&["validate", "--policy", &fixture("bad/many-problems.yaml")]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.ends_with("error: policy has 5 problems\n"),
        "{}",
        r.stderr
    );
}

#[test]
fn validate_accepts_the_example() {
    let r = sgwarden(&["validate", "--policy", &example("policy.yaml")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("valid (5 groups"), "{}", r.stdout);
}

#[test]
fn plan_on_the_example_estate_reports_its_drift_and_exits_2() {
    let r = example_plan(&["--format", "text"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let out = &r.stdout;
    assert!(
        out.starts_with(
            "sgwarden: drift in 3 of 12 groups: 1 missing, 3 extra rules, 1 missing group; 8 guardrail violations in 5 groups"
        ),
        "{out}"
    );
    for want in [
        "web (web-prod, sg-0e1a000000000001, vpc-0a1b2c3d4e5f60001, us-east-1) mode enforce",
        "  missing   tcp/443 from ::/0",
        "  extra     tcp/22 from 0.0.0.0/0",
        "  excepted  tcp/8443 from 198.51.100.0/24",
        "    planned  authorize tcp/443 from ::/0",
        "    planned  revoke    tcp/22 from 0.0.0.0/0",
        "  expired   tcp/9000 from 10.9.0.0/16 (exception owned by bob@example.com expired after 2026-06-30)",
        "  (add-only: extra rules are reported, never revoked)",
        "  extra     all to 0.0.0.0/0",
        "  reporting in eu-west-1",
        "  sg-0e1a000000000005 legacy-ftp in us-east-1",
    ] {
        assert!(out.contains(want), "missing `{want}` in:\n{out}");
    }
    // The add-only group's extra rule is reported but no revoke is planned for it.
    assert!(!out.contains("revoke    tcp/9000"), "{out}");
}

#[test]
fn plan_json_follows_the_contract() {
    let r = example_plan(&["--format", "json"]);
    assert_eq!(r.code, 2);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
    assert_eq!(v["trigger"]["kind"], "manual");
    assert_eq!(v["policy"]["sha256"].as_str().map(str::len), Some(64));
    // The 8 groups entries govern and the 4 no entry names, all of which a guardrail
    // finds open: FTP to the world on legacy-ftp, the rules of 3 default groups.
    assert_eq!(v["summary"]["groups_checked"], 12);
    assert_eq!(v["summary"]["violations"], 8);
    assert_eq!(v["summary"]["groups_with_violations"], 5);
    let ftp = v["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["group_name"] == "legacy-ftp")
        .unwrap();
    assert!(ftp["key"].is_null() && ftp["mode"].is_null(), "{ftp}");
    assert_eq!(ftp["violations"][0]["guardrail"], "world-high-risk-ports");
    assert_eq!(ftp["violations"][0]["severity"], "critical");
    assert_eq!(ftp["actions"][0]["guardrail"], "world-high-risk-ports");
    assert_eq!(v["summary"]["missing_rules"], 1);
    assert_eq!(v["summary"]["extra_rules"], 3);
    let web = v["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["key"] == "web")
        .unwrap();
    assert_eq!(web["missing"][0]["text"], "tcp/443 from ::/0");
    assert_eq!(web["missing"][0]["from_port"], 443);
    assert_eq!(web["missing"][0]["peer"], "::/0");
    assert_eq!(web["actions"][0]["op"], "authorize");
    assert_eq!(web["actions"][0]["status"], "planned");
    assert_eq!(web["actions"][1]["op"], "revoke");
    assert_eq!(v["missing_groups"][0]["key"], "reporting");
    assert_eq!(v["unmanaged_groups"].as_array().unwrap().len(), 4);
    assert!(v["errors"].as_array().unwrap().is_empty());
}

#[test]
fn plan_output_is_deterministic() {
    let a = example_plan(&["--format", "json"]).stdout;
    let b = example_plan(&["--format", "json"]).stdout;
    assert_eq!(a, b);
}

#[test]
fn plan_markdown_and_table_render() {
    let md = example_plan(&["--format", "markdown"]).stdout;
    assert!(
        md.starts_with("### sgwarden: drift in 3 of 12 groups"),
        "{md}"
    );
    assert!(
        md.contains("| missing | `tcp/443 from ::/0` | authorize (planned) |"),
        "{md}"
    );
    let table = example_plan(&["--format", "table"]).stdout;
    assert!(table.starts_with("REGION "), "{table}");
    let bare = example_plan(&["--format", "table", "--no-headers"]).stdout;
    assert!(
        !bare.contains("REGION") && bare.contains("tcp/22 from 0.0.0.0/0"),
        "{bare}"
    );
}

#[test]
fn a_later_clock_turns_an_exception_into_drift() {
    let r = sgwarden(&[
        "plan",
        "--policy",
        &example("policy.yaml"),
        "--snapshot",
        &format!("us-east-1={}", example("snapshots/us-east-1.json")),
        "--region",
        "us-east-1",
        "--now",
        "2027-01-01T00:00:00Z",
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let web = v["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["key"] == "web")
        .unwrap();
    assert_eq!(web["expired_exceptions"][0]["owner"], "alice@example.com");
    assert!(
        web["extra"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["text"] == "tcp/8443 from 198.51.100.0/24")
    );
}

#[test]
fn a_clean_estate_exits_0() {
    let r = sgwarden(&[
        "plan",
        "--policy",
        &fixture("clean-policy.yaml"),
        "--snapshot",
        &fixture("clean-snapshot.json"),
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.starts_with("sgwarden: no drift in 1 group"),
        "{}",
        r.stdout
    );
}

#[test]
fn the_snapshot_region_defaults_to_the_environment() {
    // Without REGION=, the snapshot is the running region (us-east-1 here), which the
    // clean policy governs.
    let r = sgwarden(&[
        "plan",
        "--policy",
        &fixture("clean-policy.yaml"),
        "--snapshot",
        &fixture("clean-snapshot.json"),
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["regions"][0], "us-east-1");
    assert_eq!(v["summary"]["groups_checked"], 1);
}

#[test]
fn bad_inputs_are_one_clear_line_and_exit_1() {
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "validate".into(),
                "--policy".into(),
                "no/such/policy.yaml".into(),
            ],
            "error: cannot read policy `no/such/policy.yaml`: ",
        ),
        (
            vec![
                "plan".into(),
                "--policy".into(),
                example("policy.yaml"),
                "--snapshot".into(),
                "nope.json".into(),
            ],
            "error: cannot read snapshot `nope.json`",
        ),
        (
            vec![
                "plan".into(),
                "--policy".into(),
                example("policy.yaml"),
                "--snapshot".into(),
                example("policy.yaml"),
            ],
            "not a describe-security-groups snapshot",
        ),
        (
            vec![
                "plan".into(),
                "--policy".into(),
                example("policy.yaml"),
                "--snapshot".into(),
                fixture("clean-snapshot.json"),
                "--now".into(),
                "yesterday".into(),
            ],
            "error: invalid --now `yesterday`",
        ),
        (
            vec![
                "plan".into(),
                "--policy".into(),
                example("policy.yaml"),
                "--snapshot".into(),
                fixture("clean-snapshot.json"),
                "--region".into(),
                "ap-south-1".into(),
            ],
            "error: --region `ap-south-1` is not governed by the policy",
        ),
    ];
    for (args, want) in cases {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = sgwarden(&a);
        assert_eq!(r.code, 1, "{a:?}: {}", r.stderr);
        assert!(r.stderr.contains(want), "{a:?}: {}", r.stderr);
        assert_eq!(r.stderr.lines().count(), 1, "{a:?}: {}", r.stderr);
    }
}

#[test]
fn show_policy_yaml_reads_back_as_the_same_policy() {
    let r = sgwarden(&[
        "show",
        "policy",
        "--policy",
        &example("policy.yaml"),
        "--format",
        "yaml",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let dir = std::env::temp_dir().join(format!("sgwarden-show-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("expanded.yaml");
    std::fs::write(&file, &r.stdout).unwrap();
    let again = sgwarden(&[
        "show",
        "policy",
        "--policy",
        &file.display().to_string(),
        "--format",
        "json",
    ]);
    assert_eq!(again.code, 0, "{}\n{}", again.stderr, r.stdout);
    let first = sgwarden(&[
        "show",
        "policy",
        "--policy",
        &example("policy.yaml"),
        "--format",
        "json",
    ]);
    let a: serde_json::Value = serde_json::from_str(&first.stdout).unwrap();
    let b: serde_json::Value = serde_json::from_str(&again.stdout).unwrap();
    assert_eq!(a["groups"], b["groups"]);
    assert_eq!(
        a["groups"]["bastion"]["ingress"].as_array().unwrap().len(),
        2
    );
    // And the expanded policy plans exactly like the original.
    let p1 = example_plan(&["--format", "json"]).stdout;
    let p2 = sgwarden(&[
        "plan",
        "--policy",
        &file.display().to_string(),
        "--snapshot",
        &format!("us-east-1={}", example("snapshots/us-east-1.json")),
        "--snapshot",
        &format!("eu-west-1={}", example("snapshots/eu-west-1.json")),
        "--now",
        "2026-11-23T00:00:00Z",
        "--format",
        "json",
    ]);
    let mut v1: serde_json::Value = serde_json::from_str(&p1).unwrap();
    let mut v2: serde_json::Value = serde_json::from_str(&p2.stdout).unwrap();
    v1["policy"] = serde_json::Value::Null;
    v2["policy"] = serde_json::Value::Null;
    // Exceptions are carried over too; only provenance differs.
    assert_eq!(v1, v2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn show_current_lists_atomic_rules() {
    let r = sgwarden(&[
        "show",
        "current",
        "--snapshot",
        &format!("us-east-1={}", example("snapshots/us-east-1.json")),
        "--format",
        "table",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.lines().next().unwrap().starts_with("REGION"));
    assert!(
        r.stdout.lines().any(|l| l.contains(" sg-0e1a000000000001 ")
            && l.contains(" tcp/22 from 0.0.0.0/0 ")
            && l.ends_with(" temp debug")),
        "{}",
        r.stdout
    );
    let j = sgwarden(&[
        "show",
        "current",
        "--snapshot",
        &format!("us-east-1={}", example("snapshots/us-east-1.json")),
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&j.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 9);
}

#[test]
fn schema_is_a_draft_2020_12_json_schema() {
    let r = sgwarden(&["schema"]);
    assert_eq!(r.code, 0);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["$schema"], "https://json-schema.org/draft/2020-12/schema");
    assert!(v["properties"]["groups"].is_object());
}

#[test]
fn a_directory_policy_merges_its_files() {
    let dir = std::env::temp_dir().join(format!("sgwarden-dir-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("teams")).unwrap();
    std::fs::write(
        dir.join("base.yaml"),
        "version: 1\nsettings: {regions: [us-east-1]}\nvariables: {world: [0.0.0.0/0, '::/0']}\n",
    )
    .unwrap();
    std::fs::write(dir.join("teams/web.yml"), "version: 1\ngroups:\n  web: {mode: enforce, ingress: [tcp/443 from @world], egress: [all to 0.0.0.0/0]}\n").unwrap();
    std::fs::write(dir.join(".hidden.yaml"), "not: a policy").unwrap();
    std::fs::write(dir.join("README.md"), "ignored").unwrap();
    let d = dir.display().to_string();
    let r = sgwarden(&[
        "plan",
        "--policy",
        &d,
        "--snapshot",
        &fixture("clean-snapshot.json"),
        "--format",
        "json",
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["policy"]["files"].as_array().unwrap().len(), 2);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The example plan in every format, compared byte for byte with tests/fixtures/golden/.
/// `SGWARDEN_BLESS=1 cargo test` rewrites the golden files after an intended change.
#[test]
fn rendered_reports_match_the_golden_files() {
    let bless = std::env::var_os("SGWARDEN_BLESS").is_some();
    for (format, file) in [
        ("text", "plan.txt"),
        ("markdown", "plan.md"),
        ("json", "plan.json"),
        ("table", "plan.table"),
    ] {
        let r = example_plan(&["--format", format]);
        // Paths in the report are machine-specific; make them relative.
        let root = crate::support::root().display().to_string();
        let got = r.stdout.replace(&format!("{root}/"), "");
        let path = crate::support::root()
            .join("tests/fixtures/golden")
            .join(file);
        if bless {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (run with SGWARDEN_BLESS=1)", path.display()));
        assert_eq!(got, want, "{format} output differs from {}", path.display());
    }
}

/// `plan --snapshot ACCOUNT/REGION=FILE` plans several accounts with no AWS: one report,
/// `accounts` at the top, every group and missing group naming its account.
#[test]
fn plan_over_several_accounts_from_snapshots_is_one_report_naming_each_account() {
    let dir = std::env::temp_dir().join(format!("sgwarden-accounts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let policy = dir.join("policy.yaml");
    std::fs::write(
        &policy,
        "version: 1
settings: {regions: [us-east-1], default_mode: enforce, accounts: [\"222222222222\", \"333333333333\"]}
groups:
  web: {name: web-prod, ingress: [tcp/443 from 0.0.0.0/0]}
  db: {name: db-prod, accounts: [\"333333333333\"], ingress: []}
",
    )
    .unwrap();
    let snap = example("snapshots/us-east-1.json");
    let a = format!("222222222222/us-east-1={snap}");
    let b = format!("333333333333/us-east-1={snap}");
    let r = sgwarden(&[
        "plan",
        "--policy",
        policy.to_str().unwrap(),
        "--snapshot",
        &a,
        "--snapshot",
        &b,
        "--format",
        "json",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        v["accounts"],
        serde_json::json!(["222222222222", "333333333333"])
    );
    assert!(v.get("account").is_none());
    let keys: Vec<String> = v["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            format!(
                "{} {}",
                g["account"].as_str().unwrap(),
                g["key"].as_str().unwrap_or("-")
            )
        })
        .collect();
    // web in both accounts; db only where its entry narrows it to.
    assert!(keys.contains(&"222222222222 web".to_string()), "{keys:?}");
    assert!(keys.contains(&"333333333333 web".to_string()), "{keys:?}");
    assert!(keys.contains(&"333333333333 db".to_string()), "{keys:?}");
    assert!(!keys.contains(&"222222222222 db".to_string()), "{keys:?}");
    // The text names the account of every group, since the report has no single one.
    let text = sgwarden(&[
        "plan",
        "--policy",
        policy.to_str().unwrap(),
        "--snapshot",
        &a,
        "--snapshot",
        &b,
    ]);
    assert!(
        text.stdout.contains("333333333333/us-east-1"),
        "{}",
        text.stdout
    );
    let _ = std::fs::remove_dir_all(&dir);
}
