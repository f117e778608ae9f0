//! Hostile and careless input through the real binary: every bad input is one clear line,
//! exit 1, and no work past its bounds (docs/security.md, "Limits").

use std::path::{Path, PathBuf};

use crate::support::{fixture, sgwarden};

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sgwarden-hostile-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Exit 1 and one line of stderr holding `want`.
fn refused(args: &[&str], want: &str) {
    let r = sgwarden(args);
    assert_eq!(r.code, 1, "{args:?}: {}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains(want), "{args:?}: {}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{args:?}: {}", r.stderr);
}

#[test]
fn a_policy_directory_is_walked_once_whatever_its_links() {
    let dir = scratch("links");
    let sub = dir.join("teams");
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::write(dir.join("main.YAML"), "version: 1\ngroups: {web: {}}\n").unwrap();
    std::fs::write(sub.join("db.yml"), "version: 1\ngroups: {db: {}}\n").unwrap();
    // Two links back to parents: walked naively, the tree is infinite and exponential.
    std::os::unix::fs::symlink(&dir, sub.join("up")).unwrap();
    std::os::unix::fs::symlink(&dir, sub.join("again")).unwrap();
    let r = sgwarden(&["validate", "--policy", path(&dir)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // Upper-case extensions are policy files too.
    assert!(
        r.stdout
            .contains("valid (2 groups, 0 atomic rules, 0 exceptions, 2 files)"),
        "{}",
        r.stdout
    );
}

#[test]
fn fifos_and_devices_are_refused_without_reading() {
    let dir = scratch("fifo");
    let fifo = dir.join("policy.yaml");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    refused(
        &["validate", "--policy", path(&fifo)],
        "is not a regular file (a FIFO)",
    );
    // In a directory too: a FIFO among the files blocks nothing.
    refused(
        &["validate", "--policy", path(&dir)],
        "is not a regular file (a FIFO)",
    );
    refused(&["validate", "--policy", "/dev/zero"], "(a device)");
    refused(
        &[
            "plan",
            "--policy",
            &fixture("clean-policy.yaml"),
            "--snapshot",
            "/dev/zero",
        ],
        "snapshot `/dev/zero` is not a regular file (a device)",
    );
    refused(
        &["invoke", "--event", "/dev/zero"],
        "event `/dev/zero` is not a regular file (a device)",
    );
}

#[test]
fn oversized_inputs_are_refused_naming_the_limit() {
    let dir = scratch("big");
    let big = dir.join("snap.json");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(sgwarden::limits::SNAPSHOT_BYTES + 1).unwrap();
    refused(
        &[
            "plan",
            "--policy",
            &fixture("clean-policy.yaml"),
            "--snapshot",
            path(&big),
        ],
        "is larger than the limit of 256 MiB",
    );
    let policy = dir.join("policy.yaml");
    let f = std::fs::File::create(&policy).unwrap();
    f.set_len(sgwarden::limits::POLICY_FILE_BYTES + 1).unwrap();
    refused(
        &["validate", "--policy", path(&policy)],
        "is larger than the limit of 8 MiB",
    );
}

#[test]
fn a_nul_byte_is_a_problem_at_its_position_and_nothing_is_planned() {
    let dir = scratch("nul");
    let policy = dir.join("policy.yaml");
    std::fs::write(
        &policy,
        b"version: 1\ngroups:\n  web:\n    mode: enforce\n    ingress:\n      - tcp/443 from 0.0.0.0/0\n\0      - tcp/22 from 10.0.0.0/8\n",
    )
    .unwrap();
    let r = sgwarden(&["validate", "--policy", path(&policy)]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("policy.yaml:7:1: not valid YAML or JSON: a NUL byte"),
        "{}",
        r.stderr
    );
    let r = sgwarden(&[
        "plan",
        "--policy",
        path(&policy),
        "--snapshot",
        &fixture("clean-snapshot.json"),
    ]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
}

#[test]
fn snapshots_of_misspelled_or_ungoverned_regions_are_errors() {
    let snap = fixture("clean-snapshot.json");
    refused(
        &[
            "plan",
            "--policy",
            &fixture("clean-policy.yaml"),
            "--snapshot",
            &format!("us-east-l={snap}"),
        ],
        "`us-east-l` is not a region name",
    );
    refused(
        &[
            "plan",
            "--policy",
            &fixture("clean-policy.yaml"),
            "--snapshot",
            &format!("eu-west-3={snap}"),
        ],
        "region `eu-west-3` is not governed by the policy",
    );
}

#[test]
fn flow_look_back_past_its_bound_is_an_error_not_a_panic() {
    refused(
        &[
            "flows",
            "--log-group",
            "/vpc/flows",
            "--eni",
            "eni-1",
            "--look-back",
            "100000000d",
        ],
        "invalid --look-back `100000000d`",
    );
}

/// `sgwarden plan --format json` of a policy file against one snapshot argument.
fn plan_json(policy: &Path, snapshot: &str) -> crate::support::Run {
    sgwarden(&[
        "plan",
        "--policy",
        path(policy),
        "--snapshot",
        snapshot,
        "--format",
        "json",
    ])
}

#[test]
fn groups_named_like_numbers_or_booleans_import_with_no_drift() {
    let dir = scratch("names");
    let names = [
        "0x1F", "True", "FALSE", ".inf", ".NaN", "NULL", "010", "1e3",
    ];
    let groups: Vec<String> = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            format!(
                r#"{{"GroupId": "sg-0000000000000000{i}", "GroupName": "{n}", "OwnerId": "111122223333",
                  "VpcId": "vpc-1", "Description": "d", "IpPermissions": [
                  {{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{{"CidrIp": "10.0.0.0/8"}}]}}],
                  "IpPermissionsEgress": []}}"#
            )
        })
        .collect();
    let snap = dir.join("snap.json");
    std::fs::write(
        &snap,
        format!("{{\"SecurityGroups\": [{}]}}", groups.join(",")),
    )
    .unwrap();
    let snap_arg = format!("us-east-1={}", path(&snap));
    let imported = sgwarden(&["import", "current", "--snapshot", &snap_arg]);
    assert_eq!(imported.code, 0, "{}", imported.stderr);
    let policy = dir.join("imported.yaml");
    std::fs::write(&policy, &imported.stdout).unwrap();
    let r = plan_json(&policy, &snap_arg);
    assert_eq!(r.code, 0, "{}\n{}", imported.stdout, r.stdout);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["summary"]["groups_checked"], names.len());

    // The old ini format: sections named the same way mean those same groups.
    let ini = dir.join("sg.conf");
    let sections: String = names
        .iter()
        .map(|n| format!("[{n}]\n10.0.0.0/8: tcp:22\n"))
        .collect();
    std::fs::write(&ini, sections).unwrap();
    let imported = sgwarden(&["import", "ini", path(&ini)]);
    assert_eq!(imported.code, 0, "{}", imported.stderr);
    std::fs::write(&policy, &imported.stdout).unwrap();
    let r = plan_json(&policy, &snap_arg);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        v["summary"]["groups_checked"],
        names.len(),
        "{}",
        imported.stdout
    );
    assert_eq!(v["summary"]["missing_groups"], 0, "{}", imported.stdout);
}

#[test]
fn imports_that_would_break_ec2_limits_say_why_quickly() {
    // 2,000 sections each allowing `*` (every group): 4 million rules spelled out before;
    // now one variable, and the policy reader names the limit the input goes past.
    let dir = scratch("ini");
    let ini = dir.join("sg.conf");
    let sections: String = (0..2000).map(|i| format!("[g{i}]\n*: tcp:22\n")).collect();
    std::fs::write(&ini, sections).unwrap();
    let r = sgwarden(&["import", "ini", path(&ini)]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("the policy it makes would not be valid"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("atomic rules"), "{}", r.stderr);
    assert!(!r.stderr.contains("please report"), "{}", r.stderr);
    // pysec: 80,000 distinct lines in one group, past what one group may hold.
    let rules = dir.join("rules.txt");
    let lines: String = (0..80_000)
        .map(|i| {
            format!(
                "10.{}.{}.{}/32:22^tcp\n",
                i / 65536,
                (i / 256) % 256,
                i % 256
            )
        })
        .collect();
    std::fs::write(&rules, lines).unwrap();
    let r = sgwarden(&["import", "pysec", path(&rules), "--group", "web"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("more than 10000 atomic rules"),
        "{}",
        r.stderr
    );
}
