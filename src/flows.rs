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

use crate::rule::{Direction, Peer, Protocol, Rule};

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
        e.0 = e.0.saturating_add(1);
        e.1 = e.1.saturating_add(r.bytes);
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

/// The accepted traffic a rule carried in the window that no remaining rule allows: what
/// revoking it would cut.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleTraffic {
    pub flows: u64,
    pub bytes: u64,
    /// The peer addresses with the most flows (at most five), the most first: sources
    /// for an ingress rule, destinations for an egress rule.
    pub top_peers: Vec<(IpAddr, u64)>,
}

/// `2 flows, 1000 bytes`.
pub fn flows_text(flows: u64, bytes: u64) -> String {
    format!(
        "{flows} {}, {bytes} {}",
        if flows == 1 { "flow" } else { "flows" },
        if bytes == 1 { "byte" } else { "bytes" }
    )
}

/// A revoke's change risk, as a run reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeRisk {
    /// The look-back window, in seconds.
    pub window_seconds: u64,
    /// The group's network interfaces the records were read on.
    pub interfaces: usize,
    /// The traffic, or why it is not known.
    pub traffic: Result<RuleTraffic, String>,
}

/// The addresses of each group's network interfaces, by group id (for group peers).
pub type GroupAddresses = BTreeMap<String, BTreeSet<IpAddr>>;

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

/// Whether `rule` of group `group` lets the accepted record `r` through, on an interface
/// whose addresses are `local`. Ingress: to a local address, from inside the peer, to a
/// port of the rule. Egress: from a local address, to inside the peer, to a port of the
/// rule. A group peer (`sg-…`, `self`) is the addresses of that group's interfaces; a
/// prefix list matches nothing here (see [`measurable`]).
pub fn matches(
    rule: &Rule,
    group: &str,
    r: &FlowRecord,
    local: &[IpAddr],
    groups: &GroupAddresses,
) -> bool {
    let (here, there) = match rule.direction {
        Direction::Ingress => (&r.dst, &r.src),
        Direction::Egress => (&r.src, &r.dst),
    };
    let inside = match (&rule.peer, there) {
        (Peer::V4(net), IpAddr::V4(a)) => net.contains(a),
        (Peer::V6(net), IpAddr::V6(a)) => net.contains(a),
        (Peer::Group { id, .. }, a) => groups.get(id).is_some_and(|s| s.contains(a)),
        (Peer::SelfGroup, a) => groups.get(group).is_some_and(|s| s.contains(a)),
        _ => false,
    };
    r.accepted
        && local.contains(here)
        && protocol_matches(&rule.protocol, r.protocol, r.dst_port)
        && inside
}

/// Why a rule's traffic cannot be measured from flow records, if it cannot.
pub fn measurable(rule: &Rule) -> Result<(), String> {
    match &rule.peer {
        Peer::PrefixList(id) => Err(format!(
            "the addresses of prefix list {id} are not read, so its traffic is not known"
        )),
        _ => Ok(()),
    }
}

/// The traffic `rule` of `group` carried in `records` (each with its interface's local
/// addresses) that `still_allowed` does not let through: the flows revoking it would cut.
pub fn cut_traffic<'a>(
    rule: &Rule,
    group: &str,
    records: impl IntoIterator<Item = (&'a FlowRecord, &'a [IpAddr])>,
    groups: &GroupAddresses,
    still_allowed: impl Fn(&FlowRecord, &[IpAddr]) -> bool,
) -> RuleTraffic {
    let mut t = RuleTraffic::default();
    let mut peers: BTreeMap<IpAddr, u64> = BTreeMap::new();
    for (r, local) in records {
        if matches(rule, group, r, local, groups) && !still_allowed(r, local) {
            t.flows = t.flows.saturating_add(1);
            t.bytes = t.bytes.saturating_add(r.bytes);
            let peer = match rule.direction {
                Direction::Ingress => r.src,
                Direction::Egress => r.dst,
            };
            let n = peers.entry(peer).or_default();
            *n = n.saturating_add(1);
        }
    }
    let mut top: Vec<(IpAddr, u64)> = peers.into_iter().collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    top.truncate(5);
    t.top_peers = top;
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
    fn byte_totals_from_outside_saturate_instead_of_overflowing() {
        let huge = rec(
            "eni-1",
            "203.0.113.9",
            "10.0.0.5",
            22,
            6,
            u64::MAX,
            "ACCEPT",
        );
        let lines = [huge.clone(), huge];
        let rs = records(&lines);
        assert_eq!(digest(&rs)[0].bytes, u64::MAX);
        let local: Vec<IpAddr> = vec!["10.0.0.5".parse().unwrap()];
        let world: Rule = "tcp/22 from 0.0.0.0/0".parse().unwrap();
        let on = rs.iter().map(|r| (r, local.as_slice()));
        let t = cut_traffic(&world, "sg-1", on, &BTreeMap::new(), |_, _| false);
        assert_eq!((t.flows, t.bytes), (2, u64::MAX));
    }

    #[test]
    fn a_rule_counts_only_accepted_traffic_it_lets_through_that_nothing_else_allows() {
        let lines = [
            rec("eni-1", "203.0.113.9", "10.0.0.5", 22, 6, 800, "ACCEPT"),
            rec("eni-1", "203.0.113.9", "10.0.0.5", 22, 6, 200, "ACCEPT"),
            rec("eni-1", "198.51.100.1", "10.0.0.5", 22, 6, 100, "ACCEPT"),
            // Rejected, another port, another protocol, outbound.
            rec("eni-1", "203.0.113.9", "10.0.0.5", 22, 6, 999, "REJECT"),
            rec("eni-1", "203.0.113.9", "10.0.0.5", 23, 6, 999, "ACCEPT"),
            rec("eni-1", "203.0.113.9", "10.0.0.5", 22, 17, 999, "ACCEPT"),
            rec("eni-1", "10.0.0.5", "203.0.113.9", 22, 6, 999, "ACCEPT"),
        ];
        let rs = records(&lines);
        let local: Vec<IpAddr> = vec!["10.0.0.5".parse().unwrap()];
        let on = || rs.iter().map(|r| (r, local.as_slice()));
        let nothing = |_: &FlowRecord, _: &[IpAddr]| false;
        let world: Rule = "tcp/22 from 0.0.0.0/0".parse().unwrap();
        let t = cut_traffic(&world, "sg-1", on(), &BTreeMap::new(), nothing);
        assert_eq!((t.flows, t.bytes), (3, 1100));
        assert_eq!(t.top_peers[0], ("203.0.113.9".parse().unwrap(), 2));
        // A rule whose peer saw nothing carried nothing.
        let office: Rule = "tcp/22 from 192.0.2.0/24".parse().unwrap();
        let none = cut_traffic(&office, "sg-1", on(), &BTreeMap::new(), nothing);
        assert_eq!(none, RuleTraffic::default());
        // A group peer matches its interfaces' addresses.
        let from_app: Rule = "tcp/22 from sg-0a0b".parse().unwrap();
        let groups = BTreeMap::from([(
            "sg-0a0b".to_string(),
            BTreeSet::from(["198.51.100.1".parse().unwrap()]),
        )]);
        let t = cut_traffic(&from_app, "sg-1", on(), &groups, nothing);
        assert_eq!((t.flows, t.bytes), (1, 100));
        // Flows a remaining rule also allows are not cut by the revoke.
        let stays: Rule = "tcp/22 from 198.51.100.0/24".parse().unwrap();
        let t = cut_traffic(&world, "sg-1", on(), &groups, |r, l| {
            matches(&stays, "sg-1", r, l, &groups)
        });
        assert_eq!((t.flows, t.bytes), (2, 1000));
        // Egress: outbound from a local address to the peer.
        let out: Rule = "tcp/22 to 203.0.113.0/24".parse().unwrap();
        let t = cut_traffic(&out, "sg-1", on(), &groups, nothing);
        assert_eq!((t.flows, t.bytes), (1, 999));
        assert_eq!(t.top_peers, vec![("203.0.113.9".parse().unwrap(), 1)]);
        // Prefix lists are not measurable.
        let pl: Rule = "tcp/22 from pl-0123abcd".parse().unwrap();
        assert!(measurable(&pl).unwrap_err().contains("pl-0123abcd"));
        assert_eq!(measurable(&world), Ok(()));
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
