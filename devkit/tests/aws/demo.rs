//! The demo (the README's first command) end to end: it must tell the story it promises and
//! stop everything it started.

use std::process::Command;

use crate::support::root;

#[test]
fn the_demo_reverts_the_console_edit_restores_the_deleted_rule_and_stops_its_processes() {
    let out = Command::new(env!("CARGO_BIN_EXE_sgwarden-demo"))
        .current_dir(root())
        .env_remove("AWS_ENDPOINT_URL")
        .output()
        .expect("run sgwarden-demo");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for want in [
        "== 1. The hourly sweep (EventBridge Scheduled Event)",
        "SNS subject:    sgwarden 123456789012 2 regions: fixed 4 rules",
        "done     authorize tcp/443 from ::/0",
        "done     revoke    all to 0.0.0.0/0",
        // The enforce guardrail: FTP open to the world on a group no entry names, and RDP
        // on an audit group, revoked; the default groups' rules reported.
        "done     revoke    tcp/21 from 0.0.0.0/0 — guardrail world-high-risk-ports",
        "done     revoke    tcp/3389 from 0.0.0.0/0 — guardrail world-high-risk-ports",
        "VIOLATION all to 0.0.0.0/0 (high default-group-closed)",
        "reporting in eu-west-1",
        // What stays open is in Security Hub; the run's metrics line is in the log.
        "active findings (what stays open after the sweep)",
        "violates guardrail default-group-closed",
        "(namespace sgwarden, Trigger=schedule, from the log's EMF line)",
        "--- Slack, through AWS Chatbot (the `https` part) ---",
        "EC2 writes of this run: RevokeSecurityGroupIngress sg-",
        "sgwarden 123456789012 us-east-1: fixed 1 rules (1 extra, 1 violation)",
        "done revoke `tcp/22 from 0.0.0.0/0`",
        // The revert's change risk, from the flow logs the demo wrote.
        "traffic in the last 1h: 3 flows, 8510 bytes on 1 interface; top sources 192.0.2.44 (2), 192.0.2.77 (1)",
        "in the console from 203.0.113.50",
        "+ tcp/443 from ::/0",
        "- all to 0.0.0.0/0",
        "prod web-prod has its deleted `tcp/443 from ::/0` back: yes",
    ] {
        assert!(text.contains(want), "missing `{want}` in:\n{text}");
    }
    // Every process it started is gone: moto and the function, by the pids it printed.
    for line in text.lines() {
        for marker in ["(pid ", "moto (pid "] {
            if let Some(rest) = line.split(marker).nth(1) {
                let pid: String = rest.chars().take_while(char::is_ascii_digit).collect();
                if !pid.is_empty() {
                    let stat =
                        std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                    // Gone, or a zombie about to be reaped, never running.
                    assert!(
                        stat.is_empty() || stat.contains(") Z "),
                        "pid {pid} is still running: {stat}"
                    );
                }
            }
        }
    }
}
