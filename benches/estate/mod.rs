//! The benchmark estate: 10,000 groups × 20 atomic rules as a policy and as a
//! describe-security-groups snapshot with drift in every tenth group.

use std::fmt::Write;

use sgwarden::inventory::{self, Inventory};
use sgwarden::policy::{self, Policy};

pub const GROUPS: usize = 10_000;

/// A policy of GROUPS entries, 20 atomic rules each: 5 office CIDRs × 2 ports (variable),
/// 2 ports from the group's own /16, 4 single-port rules, a range, an ICMP rule, `self`,
/// and a global SSH rule from the VPN.
pub fn policy_text() -> String {
    let mut t = String::from(
        "version: 1\nsettings:\n  regions: [us-east-1]\n  default_mode: enforce\n  max_changes_per_run: 100000\n\
         variables:\n  office: [203.0.113.0/24, 198.51.100.0/24, 192.0.2.0/24, 100.64.0.0/16, 172.16.0.0/12]\n  vpn: 10.8.0.0/16\n\
         global:\n  ingress: [tcp/22 from @vpn]\ngroups:\n",
    );
    for i in 0..GROUPS {
        let (a, b) = (i / 256, i % 256);
        let _ = write!(
            t,
            "  g{i:05}:\n    ingress:\n      - tcp/80,443 from @office\n      - tcp/8080,8443 from 10.{a}.{b}.0/24\n      - tcp/5432 from 10.{a}.{b}.0/25\n      - tcp/6379 from 10.{a}.{b}.128/25\n      - udp/53 from 10.{a}.{b}.2\n      - udp/123 from 10.{a}.{b}.3\n      - tcp/9000-9100 from 10.{a}.{b}.0/24\n      - 'icmp/3:4 from 0.0.0.0/0'\n      - all from self\n"
        );
    }
    t
}

pub fn group_id(i: usize) -> String {
    format!("sg-{i:017x}")
}

/// The same estate as describe-security-groups JSON, with drift in every tenth group.
pub fn snapshot_text() -> String {
    let office = r#"[{"CidrIp":"203.0.113.0/24"},{"CidrIp":"198.51.100.0/24"},{"CidrIp":"192.0.2.0/24"},{"CidrIp":"100.64.0.0/16"},{"CidrIp":"172.16.0.0/12"}]"#;
    let mut t = String::from("{\"SecurityGroups\":[");
    for i in 0..GROUPS {
        let (a, b) = (i / 256, i % 256);
        let id = group_id(i);
        if i > 0 {
            t.push(',');
        }
        let drifted = i % 10 == 0;
        // Drift: udp/123 deleted, tcp/22 from the world added.
        let ntp = if drifted {
            String::new()
        } else {
            format!(
                r#",{{"IpProtocol":"udp","FromPort":123,"ToPort":123,"IpRanges":[{{"CidrIp":"10.{a}.{b}.3/32"}}]}}"#
            )
        };
        let ssh_world = if drifted {
            r#",{"CidrIp":"0.0.0.0/0"}"#
        } else {
            ""
        };
        let _ = write!(
            t,
            r#"{{"GroupId":"{id}","GroupName":"g{i:05}","OwnerId":"111122223333","VpcId":"vpc-0123456789abcdef0","Description":"g",
"IpPermissions":[
{{"IpProtocol":"tcp","FromPort":80,"ToPort":80,"IpRanges":{office}}},
{{"IpProtocol":"tcp","FromPort":443,"ToPort":443,"IpRanges":{office}}},
{{"IpProtocol":"tcp","FromPort":8080,"ToPort":8080,"IpRanges":[{{"CidrIp":"10.{a}.{b}.0/24"}}]}},
{{"IpProtocol":"tcp","FromPort":8443,"ToPort":8443,"IpRanges":[{{"CidrIp":"10.{a}.{b}.0/24"}}]}},
{{"IpProtocol":"tcp","FromPort":5432,"ToPort":5432,"IpRanges":[{{"CidrIp":"10.{a}.{b}.0/25"}}]}},
{{"IpProtocol":"tcp","FromPort":6379,"ToPort":6379,"IpRanges":[{{"CidrIp":"10.{a}.{b}.128/25"}}]}},
{{"IpProtocol":"udp","FromPort":53,"ToPort":53,"IpRanges":[{{"CidrIp":"10.{a}.{b}.2/32"}}]}}{ntp},
{{"IpProtocol":"tcp","FromPort":9000,"ToPort":9100,"IpRanges":[{{"CidrIp":"10.{a}.{b}.0/24"}}]}},
{{"IpProtocol":"icmp","FromPort":3,"ToPort":4,"IpRanges":[{{"CidrIp":"0.0.0.0/0"}}]}},
{{"IpProtocol":"-1","UserIdGroupPairs":[{{"GroupId":"{id}","UserId":"111122223333"}}]}},
{{"IpProtocol":"tcp","FromPort":22,"ToPort":22,"IpRanges":[{{"CidrIp":"10.8.0.0/16"}}{ssh_world}]}}]}}"#
        );
    }
    t.push_str("]}");
    t
}

#[allow(dead_code, reason = "used by one of the two bench targets")]
pub fn load(text: &str) -> Policy {
    policy::load_str("bench.yaml", text).expect("bench policy is valid")
}

pub fn inventory_of(text: &str) -> Inventory {
    let mut inv = Inventory::default();
    inventory::read_snapshot(
        "bench.json",
        &sgwarden::place::Place::new("", "us-east-1"),
        text,
        &mut inv,
    )
    .expect("bench snapshot");
    inv
}
