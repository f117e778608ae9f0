//! Each import round-trips: the policy it prints, planned against a snapshot of what the
//! old tool wrote to EC2, shows no drift; and what the old tool lost shows as drift.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use clap::Parser;
use serde_json::{Value, json};

use super::{current, ini, pysec};
use crate::cli::{self, Cli};
use crate::report::Outcome;

static N: AtomicUsize = AtomicUsize::new(0);

/// A fresh scratch folder.
fn scratch() -> PathBuf {
    let n = N.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("sgwarden-import-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("scratch {}: {e}", dir.display()));
    dir
}

/// One IpPermission of a snapshot: CIDRs (v4 or v6) and group ids as peers.
fn perm(proto: &str, ports: Option<(i32, i32)>, peers: &[&str]) -> Value {
    let mut p = json!({"IpProtocol": proto, "IpRanges": [], "Ipv6Ranges": [], "UserIdGroupPairs": [], "PrefixListIds": []});
    if let Some((from, to)) = ports {
        p["FromPort"] = json!(from);
        p["ToPort"] = json!(to);
    }
    for peer in peers {
        let (list, entry) = if peer.starts_with("sg-") {
            (
                "UserIdGroupPairs",
                json!({"GroupId": peer, "UserId": "111122223333"}),
            )
        } else if peer.contains(':') {
            ("Ipv6Ranges", json!({"CidrIpv6": peer}))
        } else {
            ("IpRanges", json!({"CidrIp": peer}))
        };
        if let Some(a) = p[list].as_array_mut() {
            a.push(entry);
        }
    }
    p
}

fn group(id: &str, name: &str, vpc: &str, ingress: Vec<Value>) -> Value {
    json!({
        "GroupId": id, "GroupName": name, "VpcId": vpc, "OwnerId": "111122223333",
        "Description": format!("{name} group"),
        "IpPermissions": ingress,
        "IpPermissionsEgress": [perm("-1", None, &["0.0.0.0/0"])],
    })
}

/// `sgwarden plan --snapshot` of a policy text against groups: the outcome and the JSON.
fn plan(policy: &str, groups: &[Value]) -> (Outcome, Value) {
    let dir = scratch();
    let p = dir.join("policy.yaml");
    let s = dir.join("snapshot.json");
    std::fs::write(&p, policy).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(&s, json!({"SecurityGroups": groups}).to_string())
        .unwrap_or_else(|e| panic!("{e}"));
    let args = [
        "sgwarden",
        "plan",
        "--policy",
        p.to_str().unwrap_or_default(),
        "--snapshot",
        &format!("us-east-1={}", s.display()),
        "--format",
        "json",
        "--now",
        "2026-11-23T00:00:00Z",
    ];
    let mut out = Vec::new();
    let outcome = cli::run(Cli::parse_from(args), &mut out).unwrap_or_else(|e| panic!("plan: {e}"));
    let v: Value = serde_json::from_slice(&out).unwrap_or_else(|e| panic!("{e}"));
    (outcome, v)
}

const INI: &str = "\
# pysecurity-groups configuration
[CONFIG]
regions = us-east-1
account-id = 111122223333

[VARIABLES]
office = 203.0.113.10, 198.51.100.0/24
office-nat = 192.0.2.1
web-ports = 80, 443
DNS = udp:53

[GLOBAL]
@office: tcp:22

[web]
0.0.0.0/0: tcp:@web-ports
@office-nat: tcp:8080 ; the NAT only
10.0.0.0/8: tcp:22
10.0.0.0/8: udp:53
10.0.0.0/8: tcp:22
lb: tcp:80
*: icmp:*

[app]
web: tcp:8000-8100
@office: @DNS
10.1.0.0/16: tcp:*, udp:*
10.2.0.0/16: icmp:8

[empty]
";

/// What the old tool wrote for [`INI`] (all of it: the duplicated `10.0.0.0/8` source
/// included, which the old tool itself lost).
fn ini_estate(web_udp53: bool) -> Vec<Value> {
    let office = ["203.0.113.10/32", "198.51.100.0/24"];
    let mut web = vec![
        perm("tcp", Some((22, 22)), &office),
        perm("tcp", Some((80, 80)), &["0.0.0.0/0"]),
        perm("tcp", Some((443, 443)), &["0.0.0.0/0"]),
        perm("tcp", Some((8080, 8080)), &["192.0.2.1/32"]),
        perm("tcp", Some((22, 22)), &["10.0.0.0/8"]),
        perm("tcp", Some((80, 80)), &["sg-0009"]),
        perm("icmp", Some((-1, -1)), &["sg-0001", "sg-0002", "sg-0003"]),
    ];
    if web_udp53 {
        web.push(perm("udp", Some((53, 53)), &["10.0.0.0/8"]));
    }
    vec![
        group("sg-0001", "web", "vpc-1", web),
        group(
            "sg-0002",
            "app",
            "vpc-1",
            vec![
                perm("tcp", Some((22, 22)), &office),
                perm("tcp", Some((8000, 8100)), &["sg-0001"]),
                perm("udp", Some((53, 53)), &office),
                perm("tcp", Some((1, 65535)), &["10.1.0.0/16"]),
                perm("udp", Some((1, 65535)), &["10.1.0.0/16"]),
                perm("icmp", Some((8, 8)), &["10.2.0.0/16"]),
            ],
        ),
        group(
            "sg-0003",
            "empty",
            "vpc-1",
            vec![perm("tcp", Some((22, 22)), &office)],
        ),
        // Referenced as a source only: not managed, whatever it holds.
        group(
            "sg-0009",
            "lb",
            "vpc-1",
            vec![perm("tcp", Some((443, 443)), &["0.0.0.0/0"])],
        ),
    ]
}

#[test]
fn ini_import_round_trips_with_no_drift() {
    let imported = ini::import("sg.conf", INI).unwrap_or_else(|e| panic!("{e}"));
    let (outcome, report) = plan(&imported.yaml, &ini_estate(true));
    assert_eq!(outcome, Outcome::Clean, "{}\n{report:#}", imported.yaml);
    assert_eq!(report["summary"]["groups_checked"], 4, "{report:#}");
    assert_eq!(report["summary"]["missing_groups"], 0);
}

#[test]
fn ini_import_keeps_every_line_of_a_repeated_source() {
    // The old tool kept only the last `10.0.0.0/8` line of [web]; the import keeps both, so
    // an estate missing one of them (as the old tool left it) shows that rule missing.
    let imported = ini::import("sg.conf", INI).unwrap_or_else(|e| panic!("{e}"));
    let (outcome, report) = plan(&imported.yaml, &ini_estate(false));
    assert_eq!(outcome, Outcome::Drift);
    assert_eq!(report["summary"]["missing_rules"], 1, "{report:#}");
    assert_eq!(report["summary"]["extra_rules"], 0);
    let text = report.to_string();
    assert!(text.contains("udp/53 from 10.0.0.0/8"), "{report:#}");
    // The line repeated word for word is one rule.
    assert_eq!(
        imported.yaml.matches("tcp/22 from 10.0.0.0/8").count(),
        1,
        "{}",
        imported.yaml
    );
}

#[test]
fn ini_variables_stars_and_references_expand_as_the_old_tool_wrote_them() {
    let imported = ini::import("sg.conf", INI).unwrap_or_else(|e| panic!("{e}"));
    let y = &imported.yaml;
    // A variable as the source, in the ports, and standing for `proto:ports`.
    assert!(
        y.contains("tcp/22 from 203.0.113.10/32, 198.51.100.0/24"),
        "{y}"
    );
    assert!(
        y.contains("tcp/80 from 0.0.0.0/0") && y.contains("tcp/443 from 0.0.0.0/0"),
        "{y}"
    );
    assert!(
        y.contains("udp/53 from 203.0.113.10/32, 198.51.100.0/24"),
        "{y}"
    );
    // `@office-nat` is its own variable, not `@office` followed by text.
    assert!(y.contains("tcp/8080 from 192.0.2.1/32"), "{y}");
    // `*` ports and `*` sources.
    assert!(
        y.contains("tcp/1-65535 from 10.1.0.0/16") && y.contains("udp/1-65535 from 10.1.0.0/16"),
        "{y}"
    );
    assert!(y.contains("icmp from @every-group"), "{y}");
    assert!(
        y.contains("variables:\n  every-group: [sg:web, sg:app, sg:empty]\n"),
        "{y}"
    );
    // icmp:N is type N code N, with a warning.
    assert!(y.contains("icmp/8:8 from 10.2.0.0/16"), "{y}");
    assert!(
        imported
            .warnings
            .iter()
            .any(|w| w.contains("sg.conf:28") && w.contains("no echo request")),
        "{:?}",
        imported.warnings
    );
    // A group named only as a source is referenced, not managed, and takes no globals.
    assert!(y.contains("  lb:\n    global: false\n"), "{y}");
    // A section with no lines still takes the globals, and manages its ingress.
    assert!(y.contains("  empty:\n    ingress: []\n"), "{y}");
    assert!(
        y.contains("global:\n  ingress:\n    - tcp/22 from 203.0.113.10/32, 198.51.100.0/24\n"),
        "{y}"
    );
}

#[test]
fn ini_without_config_governs_us_east_1() {
    let imported =
        ini::import("x.conf", "[web]\n10.0.0.0/8: tcp:22\n").unwrap_or_else(|e| panic!("{e}"));
    assert!(
        imported.yaml.contains("regions: [us-east-1]"),
        "{}",
        imported.yaml
    );
}

#[test]
fn ini_errors_name_the_line_and_the_word() {
    let cases = [
        (
            "[web]\n@offce: tcp:22\n[VARIABLES]\noffice = 10.0.0.1\n",
            2,
            "@offce",
            "did you mean `@office`?",
        ),
        (
            "[web]\n10.0.0.0/8: tcp:80x\n",
            2,
            "80x",
            "not a port number",
        ),
        (
            "[web]\n10.0.0.0/8: sctp:80\n",
            2,
            "sctp:80",
            "not a protocol",
        ),
        (
            "[web]\n10.0.0.300/8: tcp:22\n",
            2,
            "10.0.0.300/8",
            "not a valid address",
        ),
        (
            "[web]\n10.0.0.0/8: tcp:90-80\n",
            2,
            "90-80",
            "did you mean 80-90?",
        ),
        (
            "[web]\n\n10.0.0.0/8 tcp 22\n",
            3,
            "10.0.0.0/8 tcp 22",
            "expected",
        ),
        (
            "10.0.0.0/8: tcp:22\n",
            1,
            "10.0.0.0/8: tcp:22",
            "before the first",
        ),
        (
            "[VARIABLES]\na = 10.0.0.1\nb = @a\n[web]\n@b: tcp:1\n",
            3,
            "@a",
            "refers to another variable",
        ),
    ];
    for (text, line, word, hint) in cases {
        let e = ini::import("sg.conf", text).expect_err(text);
        assert_eq!(e.line, Some(line), "{e}");
        assert_eq!(e.word.as_deref(), Some(word), "{e}");
        let shown = e.to_string();
        assert!(shown.starts_with(&format!("sg.conf:{line}: ")), "{shown}");
        assert!(shown.contains(hint), "{shown}");
    }
}

#[test]
fn pysec_import_of_a_repository_round_trips_with_no_drift() {
    let repo = scratch();
    let write = |name: &str, text: &str| {
        std::fs::write(repo.join(name), text).unwrap_or_else(|e| panic!("{e}"));
    };
    write(
        "rules.pysec",
        "## File:   rules.pysec\n## Syntax: <ip-address>/<cidr>:<portFrom>-<portTo>^<protocol>\n\n  52.35.22.100/32:80-443^tcp  \n52.35.22.101/32:443^udp\n52.35.23.0/21:80^tcp\n",
    );
    write(
        "rules_02.pysec",
        "# second team\n52.33.24.1/32:80^tcp\n52.35.22.100/32:80-443^tcp\n10.0.0.0/8:3-4^icmp\n",
    );
    // pysec's own state files: not rules.
    write(".pysec", "{\"stack\": \"PysecSecurityGroup-DH447K\"}\n");
    write(".hashes", "rules.pysec f6722d7eabfcfb0df9bdbb80b7439fdf\n");
    let files = pysec::read_paths(std::slice::from_ref(&repo)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(files.len(), 2);
    let imported = pysec::import(&files, "MySecurityGroup", Some("vpc-82c92af3"), &[])
        .unwrap_or_else(|e| panic!("{e}"));
    let y = &imported.yaml;
    assert!(y.contains("vpc: vpc-82c92af3"), "{y}");
    // EC2 stores the /21 with its host bits cleared.
    assert!(y.contains("tcp/80 from 52.35.16.0/21"), "{y}");
    assert!(
        imported
            .warnings
            .iter()
            .any(|w| w.contains("52.35.23.0/21") && w.contains("52.35.16.0/21"))
    );
    assert!(
        imported
            .warnings
            .iter()
            .any(|w| w.contains("ICMP type 3 code 4"))
    );
    let estate = vec![
        group(
            "sg-0100",
            "MySecurityGroup",
            "vpc-82c92af3",
            vec![
                perm("tcp", Some((80, 443)), &["52.35.22.100/32"]),
                perm("udp", Some((443, 443)), &["52.35.22.101/32"]),
                perm("tcp", Some((80, 80)), &["52.35.16.0/21", "52.33.24.1/32"]),
                perm("icmp", Some((3, 4)), &["10.0.0.0/8"]),
            ],
        ),
        // The same name in another VPC is not governed when --vpc is given.
        group("sg-0200", "MySecurityGroup", "vpc-other", vec![]),
    ];
    let (outcome, report) = plan(y, &estate);
    assert_eq!(outcome, Outcome::Clean, "{y}\n{report:#}");
    assert_eq!(report["summary"]["groups_checked"], 1, "{report:#}");
    // And a range lost from EC2 shows.
    let mut short = estate.clone();
    if let Some(a) = short[0]["IpPermissions"].as_array_mut() {
        a.remove(0);
    }
    let (outcome, report) = plan(y, &short);
    assert_eq!(outcome, Outcome::Drift);
    assert_eq!(report["summary"]["missing_rules"], 1, "{report:#}");
}

#[test]
fn pysec_errors_name_the_file_the_line_and_the_word() {
    let cases = [
        (
            "52.35.22.100/32:80-443\n",
            "52.35.22.100/32:80-443",
            "no `^PROTO`",
        ),
        (
            "# c\n52.35.22.100/32:http^tcp\n",
            "http",
            "not a port number",
        ),
        (
            "52.35.22.1000/32:80^tcp\n",
            "52.35.22.1000/32",
            "not an address",
        ),
        ("52.35.22.100/32:80^gre\n", "gre", "tcp, udp or icmp"),
    ];
    for (text, word, hint) in cases {
        let files = [pysec::RulesFile {
            name: "prod/rules.pysec".into(),
            text: text.into(),
        }];
        let e = pysec::import(&files, "G", None, &[]).expect_err(text);
        assert_eq!(e.word.as_deref(), Some(word), "{e}");
        let line = text.lines().count();
        assert!(
            e.to_string()
                .starts_with(&format!("prod/rules.pysec:{line}: ")),
            "{e}"
        );
        assert!(e.to_string().contains(hint), "{e}");
    }
}

#[test]
fn current_import_adopts_todays_groups_with_no_drift() {
    let mut web = group(
        "sg-0001",
        "web",
        "vpc-1",
        vec![
            perm("tcp", Some((443, 443)), &["0.0.0.0/0", "::/0"]),
            perm("-1", None, &["sg-0001"]),
            perm("icmp", Some((3, 4)), &["10.0.0.0/8"]),
        ],
    );
    web["IpPermissions"][0]["IpRanges"][0]["Description"] = json!("HTTPS: the world");
    let estate = vec![
        web,
        group(
            "sg-0002",
            "default",
            "vpc-1",
            vec![perm("-1", None, &["sg-0002"])],
        ),
        group(
            "sg-0003",
            "default",
            "vpc-2",
            vec![perm("tcp", Some((22, 22)), &["sg-0001"])],
        ),
    ];
    let dir = scratch();
    let s = dir.join("snapshot.json");
    std::fs::write(&s, json!({"SecurityGroups": estate}).to_string())
        .unwrap_or_else(|e| panic!("{e}"));
    let inv = crate::local::read_snapshots(&[format!("us-east-1={}", s.display())])
        .unwrap_or_else(|e| panic!("{e}"));
    let imported = current::import(&inv, "snapshot.json").unwrap_or_else(|e| panic!("{e}"));
    let y = &imported.yaml;
    assert!(y.contains("all from self"), "{y}");
    assert!(y.contains("description: \"HTTPS: the world\""), "{y}");
    assert!(y.contains("default-sg-0002:\n    id: sg-0002"), "{y}");
    let (outcome, report) = plan(y, &estate);
    assert_eq!(outcome, Outcome::Clean, "{y}\n{report:#}");
    assert_eq!(report["summary"]["groups_checked"], 3);
}
