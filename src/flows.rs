//! VPC flow-log records, read by sgwarden itself: the digest `sgwarden flows` prints and
//! the traffic one ingress rule carried (the change-risk of revoking it).
//!
//! Records are the default (version 2) format, space-separated:
//! `version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes
//! start end action log-status`. sgwarden parses and matches every record itself rather
//! than trusting a server-side filter pattern to have selected them (CloudWatch Logs
//! filter patterns are not applied the same everywhere, and a pattern cannot express "the
//! source is inside this CIDR").

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use crate::rule::{Peer, Protocol, Rule};

/// One flow-log record (the fields sgwarden uses).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowRecord {
    pub interface_id: String,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    /// The IANA protocol number (6 tcp, 17 udp, 1 icmp, 58 icmpv6).
    pub protocol: u8,
    pub packets: u64,
    pub bytes: u64,
    /// Unix seconds.
    pub start: i64,
    pub accepted: bool,
}

/// A record of the default format, or `None` for a line that is not one (a header, a
/// `NODATA`/`SKIPDATA` record, a custom format).
pub fn parse_record(line: &str) -> Option<FlowRecord> {
    let f: Vec<&str> = line.split_whitespace().collect();
    if f.len() < 14 || f[0] != "2" || f[13] != "OK" {
        return None;
    }
    Some(FlowRecord {
        interface_id: f[2].to_string(),
        src: f[3].parse().ok()?,
        dst: f[4].parse().ok()?,
        src_port: f[5].parse().ok()?,
        dst_port: f[6].parse().ok()?,
        protocol: f[7].parse().ok()?,
        packets: f[8].parse().ok()?,
        bytes: f[9].parse().ok()?,
        start: f[10].parse().ok()?,
        accepted: match f[12] {
            "ACCEPT" => true,
            "REJECT" => false,
            _ => return None,
        },
    })
}

/// One line of the digest: the records between two addresses with one action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DigestRow {
    pub hits: u64,
    pub bytes: u64,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub accepted: bool,
}

/// Records grouped by (source, destination, action), the most hits first (pysec-aws's
/// "flow digest").
pub fn digest<'a>(records: impl IntoIterator<Item = &'a FlowRecord>) -> Vec<DigestRow> {
    let mut rows: BTreeMap<(IpAddr, IpAddr, bool), (u64, u64)> = BTreeMap::new();
    for r in records {
        let e = rows.entry((r.src, r.dst, r.accepted)).or_default();
        e.0 += 1;
        e.1 += r.bytes;
    }
    let mut out: Vec<DigestRow> = rows
        .into_iter()
        .map(|((src, dst, accepted), (hits, bytes))| DigestRow {
            hits,
            bytes,
            src,
            dst,
            accepted,
        })
        .collect();
    out.sort_by(|a, b| b.hits.cmp(&a.hits).then(a.src.cmp(&b.src)));
    out
}

/// The accepted traffic one ingress rule let in during the window.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleTraffic {
    pub flows: u64,
    pub bytes: u64,
    /// The sources with the most flows (at most five): (address, flows).
    pub top_sources: Vec<(IpAddr, u64)>,
}

/// Whether a protocol number and destination port fall inside a rule's protocol.
fn protocol_matches(p: &Protocol, protocol: u8, port: u16) -> bool {
    match p {
        Protocol::Tcp { from, to } => protocol == 6 && (*from..=*to).contains(&port),
        Protocol::Udp { from, to } => protocol == 17 && (*from..=*to).contains(&port),
        // Flow logs carry no ICMP type in the default format: any ICMP record counts.
        Protocol::Icmp(_) => protocol == 1,
        Protocol::Icmpv6(_) => protocol == 58,
        Protocol::All => true,
        Protocol::Number(n) => protocol == *n,
    }
}

/// The accepted inbound records a rule matches: on one of the group's interfaces, to that
/// interface (the destination is one of `local`), with the rule's protocol and ports, from
/// inside its peer. A group peer (`sg-…`, `self`) matches the addresses of that group's
/// interfaces, given in `group_addresses` by group id; a prefix list matches nothing here
/// (its CIDRs are not known to this function).
pub fn rule_traffic<'a>(
    rule: &Rule,
    own_group: &str,
    interfaces: &BTreeSet<String>,
    local: &BTreeSet<IpAddr>,
    group_addresses: &BTreeMap<String, BTreeSet<IpAddr>>,
    records: impl IntoIterator<Item = &'a FlowRecord>,
) -> RuleTraffic {
    let from = |src: &IpAddr| match (&rule.peer, src) {
        (Peer::V4(net), IpAddr::V4(a)) => net.contains(a),
        (Peer::V6(net), IpAddr::V6(a)) => net.contains(a),
        (Peer::Group { id, .. }, a) => group_addresses.get(id).is_some_and(|s| s.contains(a)),
        (Peer::SelfGroup, a) => group_addresses
            .get(own_group)
            .is_some_and(|s| s.contains(a)),
        _ => false,
    };
    let mut t = RuleTraffic::default();
    let mut sources: BTreeMap<IpAddr, u64> = BTreeMap::new();
    for r in records {
        if r.accepted
            && interfaces.contains(&r.interface_id)
            && local.contains(&r.dst)
            && protocol_matches(&rule.protocol, r.protocol, r.dst_port)
            && from(&r.src)
        {
            t.flows += 1;
            t.bytes += r.bytes;
            *sources.entry(r.src).or_default() += 1;
        }
    }
    let mut top: Vec<(IpAddr, u64)> = sources.into_iter().collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    top.truncate(5);
    t.top_sources = top;
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(
        eni: &str,
        src: &str,
        dst: &str,
        dport: u16,
        proto: u8,
        bytes: u64,
        action: &str,
    ) -> String {
        format!(
            "2 123456789012 {eni} {src} {dst} 49152 {dport} {proto} 10 {bytes} 1700000000 1700000060 {action} OK"
        )
    }

    fn records(lines: &[String]) -> Vec<FlowRecord> {
        lines.iter().filter_map(|l| parse_record(l)).collect()
    }

    #[test]
    fn default_format_records_parse_and_others_are_skipped() {
        let r = parse_record(&rec(
            "eni-1",
            "203.0.113.9",
            "10.0.0.5",
            22,
            6,
            840,
            "ACCEPT",
        ))
        .unwrap();
        assert_eq!(r.interface_id, "eni-1");
        assert_eq!(
            (r.dst_port, r.protocol, r.bytes, r.accepted),
            (22, 6, 840, true)
        );
        for other in [
            "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status",
            "2 123456789012 eni-1 - - - - - - - 1700000000 1700000060 - NODATA",
            "3 vpc-1 eni-1 203.0.113.9",
            "",
        ] {
            assert_eq!(parse_record(other), None, "{other}");
        }
    }

    #[test]
    fn a_rule_counts_only_accepted_inbound_traffic_it_lets_in() {
        let lines = [
            rec("eni-1", "203.0.113.9", "10.0.0.5", 22, 6, 800, "ACCEPT"),
            rec("eni-1", "203.0.113.9", "10.0.0.5", 22, 6, 200, "ACCEPT"),
            rec("eni-1", "198.51.100.1", "10.0.0.5", 22, 6, 100, "ACCEPT"),
            // Rejected, another port, another protocol, outbound, another interface.
            rec("eni-1", "203.0.113.9", "10.0.0.5", 22, 6, 999, "REJECT"),
            rec("eni-1", "203.0.113.9", "10.0.0.5", 23, 6, 999, "ACCEPT"),
            rec("eni-1", "203.0.113.9", "10.0.0.5", 22, 17, 999, "ACCEPT"),
            rec("eni-1", "10.0.0.5", "203.0.113.9", 22, 6, 999, "ACCEPT"),
            rec("eni-2", "203.0.113.9", "10.0.0.6", 22, 6, 999, "ACCEPT"),
        ];
        let rs = records(&lines);
        let enis: BTreeSet<String> = ["eni-1".to_string()].into();
        let local: BTreeSet<IpAddr> = ["10.0.0.5".parse().unwrap()].into();
        let world: Rule = "tcp/22 from 0.0.0.0/0".parse().unwrap();
        let t = rule_traffic(&world, "sg-1", &enis, &local, &BTreeMap::new(), &rs);
        assert_eq!((t.flows, t.bytes), (3, 1100));
        assert_eq!(t.top_sources[0], ("203.0.113.9".parse().unwrap(), 2));
        // A rule whose peer saw nothing carried nothing.
        let office: Rule = "tcp/22 from 192.0.2.0/24".parse().unwrap();
        let none = rule_traffic(&office, "sg-1", &enis, &local, &BTreeMap::new(), &rs);
        assert_eq!(none, RuleTraffic::default());
        // A group peer matches its interfaces' addresses.
        let from_app: Rule = "tcp/22 from sg-0a0b".parse().unwrap();
        let groups = BTreeMap::from([(
            "sg-0a0b".to_string(),
            BTreeSet::from(["198.51.100.1".parse().unwrap()]),
        )]);
        let t = rule_traffic(&from_app, "sg-1", &enis, &local, &groups, &rs);
        assert_eq!((t.flows, t.bytes), (1, 100));
    }

    #[test]
    fn the_digest_groups_by_addresses_and_action_most_hits_first() {
        let lines = [
            rec("eni-1", "46.23.161.189", "10.0.0.5", 22, 6, 60, "REJECT"),
            rec(
                "eni-1",
                "172.31.42.101",
                "191.88.99.255",
                443,
                6,
                900,
                "ACCEPT",
            ),
            rec(
                "eni-1",
                "172.31.42.101",
                "191.88.99.255",
                443,
                6,
                100,
                "ACCEPT",
            ),
        ];
        let d = digest(&records(&lines));
        assert_eq!(d.len(), 2);
        assert_eq!((d[0].hits, d[0].bytes, d[0].accepted), (2, 1000, true));
        assert_eq!(d[1].src, "46.23.161.189".parse::<IpAddr>().unwrap());
        assert!(!d[1].accepted);
    }
}
