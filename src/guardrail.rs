//! Guardrails, the matcher: which live atomic rules of a group violate a deny pattern
//! (`tcp/22,3389 from world`) or a `world_only` list. Pure: rules in, rule indices out.
//!
//! A live rule violates a deny pattern when it has the pattern's direction, its protocol
//! overlaps the pattern's (equal or either is `all`; tcp/udp port ranges intersect; ICMP
//! type and code equal or either is "all"; another protocol number only itself or `all`),
//! and its peer matches the pattern's peer:
//!
//! - `world`: `0.0.0.0/0` or `::/0`, **or** a rule among those of the group and direction
//!   that together let one single port (ICMP type and code, protocol) of the pattern in from
//!   every IPv4 or every IPv6 address: `0.0.0.0/1` and `128.0.0.0/1` on port 22 are the
//!   world. Then the violating rules are those covering CIDRs not inside another covering
//!   CIDR (a `10.0.0.0/8` inside `0.0.0.0/1` is not one of them);
//! - `any`: every peer;
//! - a CIDR: the rule's CIDR overlaps it;
//! - `sg-…`, `pl-…`, `self`: that exact peer.
//!
//! CIDRs are compared as networks, never as text, and a rule's whole port range counts,
//! never only its first port.
//!
//! A [`Guardrail`] is the policy's: its id, severity, mode, the groups it selects, and
//! its patterns; [`Guardrail::violations`] is what it finds in one live group.

use std::collections::BTreeSet;

use ipnet::IpNet;
use serde::Serialize;

use crate::rule::{self, DescribedRule, Direction, Icmp, Peer, Protocol, SyntaxError};
use crate::select::Selector;

/// How serious a violation is: Security Hub's severity labels, most serious first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Critical,
    High,
    Medium,
    Low,
    Informational,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Informational,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
            Severity::Informational => "informational",
        }
    }
}

/// A guardrail's mode: `audit` reports its violations; `enforce` also revokes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GuardrailMode {
    Audit,
    Enforce,
}

/// One guardrail of the policy, checked and compiled.
#[derive(Clone, Debug, PartialEq)]
pub struct Guardrail {
    pub id: String,
    pub severity: Severity,
    pub mode: GuardrailMode,
    /// `None`: every group of the governed places.
    pub select: Option<Selector>,
    /// Each deny pattern as written, with what it parsed into.
    pub deny: Vec<(String, Vec<Pattern>)>,
    /// `world_only`: as written, and the tcp/udp ranges that may face the world (`None`:
    /// no such list).
    pub world_only: Option<(Vec<String>, Vec<Protocol>)>,
}

impl Guardrail {
    /// Whether it holds in a group (its selector takes it, or it has none).
    pub fn selects(&self, group: &crate::select::Candidate<'_>) -> bool {
        self.select.as_ref().is_none_or(|s| s.matches(group))
    }

    /// The rules of a group (its `ingress` and `egress`, as `group_id`) that violate this
    /// guardrail, as (direction, index into that direction's rules), sorted.
    pub fn violations(
        &self,
        group_id: &str,
        ingress: &[DescribedRule],
        egress: &[DescribedRule],
    ) -> BTreeSet<(Direction, usize)> {
        let mut out = BTreeSet::new();
        let of = |d: Direction| match d {
            Direction::Ingress => ingress,
            Direction::Egress => egress,
        };
        // Most groups are open to no one: then no `world` pattern needs a look.
        let open = |d: Direction| {
            let rules = of(d);
            rules
                .iter()
                .any(|r| cidr_of(&r.rule.peer).is_some_and(|c| c.prefix_len() == 0))
                || could_cover(rules)
        };
        let open = [open(Direction::Ingress), open(Direction::Egress)];
        let may_match = |p: &&Pattern| {
            p.peer != PeerClass::World || open[usize::from(p.direction == Direction::Egress)]
        };
        for pattern in self.deny.iter().flat_map(|(_, p)| p).filter(may_match) {
            let d = pattern.direction;
            out.extend(
                violations(pattern, group_id, of(d))
                    .into_iter()
                    .map(|i| (d, i)),
            );
        }
        if let Some((_, allowed)) = self.world_only.as_ref().filter(|_| open[0]) {
            out.extend(
                world_only(allowed, group_id, ingress)
                    .into_iter()
                    .map(|i| (Direction::Ingress, i)),
            );
        }
        out
    }

    /// Whether one rule on its own (without the group's other rules) violates this
    /// guardrail: a desired rule that does is never authorized.
    pub fn denies(&self, group_id: &str, rule: &DescribedRule) -> bool {
        let one = std::slice::from_ref(rule);
        let (ingress, egress): (&[DescribedRule], &[DescribedRule]) = match rule.rule.direction {
            Direction::Ingress => (one, &[]),
            Direction::Egress => (&[], one),
        };
        !self.violations(group_id, ingress, egress).is_empty()
    }
}

/// What a deny pattern's peer stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerClass {
    /// Every address: `0.0.0.0/0`, `::/0`, or CIDRs that together cover one of them.
    World,
    /// Every peer: CIDRs, prefix lists, groups.
    Any,
    /// CIDRs that overlap this one.
    Cidr(IpNet),
    /// This exact peer: a group (`sg-…`), a prefix list (`pl-…`) or `self`.
    Exact(Peer),
}

/// One deny pattern: one direction, one protocol (with its ports), one peer class.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    pub direction: Direction,
    pub protocol: Protocol,
    pub peer: PeerClass,
}

/// Parses a deny pattern written as a compact rule whose peers may be `world` or `any`
/// (`tcp/22,3389 from world`, `all to any`): one [`Pattern`] per port range and peer.
pub fn parse(text: &str) -> Result<Vec<Pattern>, SyntaxError> {
    let compact = rule::parse_compact(text, None)?;
    let mut out = Vec::new();
    for peer in &compact.peers {
        let class = peer_class(peer)?;
        for protocol in &compact.protocols {
            out.push(Pattern {
                direction: compact.direction,
                protocol: *protocol,
                peer: class.clone(),
            });
        }
    }
    Ok(out)
}

fn peer_class(text: &str) -> Result<PeerClass, SyntaxError> {
    if text.eq_ignore_ascii_case("world") {
        return Ok(PeerClass::World);
    }
    if text.eq_ignore_ascii_case("any") {
        return Ok(PeerClass::Any);
    }
    match rule::parse_peer(text)? {
        Peer::V4(n) if n.prefix_len() == 0 => Err(everything(text)),
        Peer::V6(n) if n.prefix_len() == 0 => Err(everything(text)),
        Peer::V4(n) => Ok(PeerClass::Cidr(IpNet::V4(n))),
        Peer::V6(n) => Ok(PeerClass::Cidr(IpNet::V6(n))),
        Peer::Named(_) => Err(SyntaxError::new(format!(
            "`{text}` names a policy group; a guardrail pattern names a peer as it is live"
        ))
        .help("write the group id (`sg-…`), `self`, `any` or `world`")),
        other => Ok(PeerClass::Exact(other)),
    }
}

fn everything(text: &str) -> SyntaxError {
    SyntaxError::new(format!(
        "`{text}` in a guardrail pattern would match every rule of its address family"
    ))
    .help("write `world` (open to the internet, also when split into smaller CIDRs) or `any` (every peer)")
}

/// Whether two protocols share some traffic.
pub fn overlaps(a: &Protocol, b: &Protocol) -> bool {
    let icmp = |x: &Icmp, y: &Icmp| {
        let same = |p: Option<u8>, q: Option<u8>| p.is_none() || q.is_none() || p == q;
        same(x.icmp_type, y.icmp_type) && same(x.code, y.code)
    };
    match (a, b) {
        (Protocol::All, _) | (_, Protocol::All) => true,
        (Protocol::Tcp { from: f1, to: t1 }, Protocol::Tcp { from: f2, to: t2 })
        | (Protocol::Udp { from: f1, to: t1 }, Protocol::Udp { from: f2, to: t2 }) => {
            f1 <= t2 && f2 <= t1
        }
        (Protocol::Icmp(x), Protocol::Icmp(y)) | (Protocol::Icmpv6(x), Protocol::Icmpv6(y)) => {
            icmp(x, y)
        }
        (Protocol::Number(x), Protocol::Number(y)) => x == y,
        _ => false,
    }
}

/// The indices (into `rules`) of the rules of group `group_id` that violate `pattern`,
/// sorted.
pub fn violations(pattern: &Pattern, group_id: &str, rules: &[DescribedRule]) -> BTreeSet<usize> {
    let candidates = (0..rules.len()).filter(|&i| {
        let r = &rules[i].rule;
        r.direction == pattern.direction && overlaps(&pattern.protocol, &r.protocol)
    });
    match &pattern.peer {
        PeerClass::Any => candidates.collect(),
        PeerClass::Cidr(net) => candidates
            .filter(|&i| cidr_of(&rules[i].rule.peer).is_some_and(|c| cidrs_overlap(&c, net)))
            .collect(),
        PeerClass::Exact(peer) => candidates
            .filter(|&i| same_peer(&rules[i].rule.peer, peer, group_id))
            .collect(),
        PeerClass::World => {
            // Only CIDRs can be the world; most patterns find none (and allocate nothing).
            let cidrs: Vec<usize> = candidates
                .filter(|&i| cidr_of(&rules[i].rule.peer).is_some())
                .collect();
            if cidrs.is_empty() {
                BTreeSet::new()
            } else {
                world(&pattern.protocol, rules, &cidrs)
            }
        }
    }
}

fn cidr_of(peer: &Peer) -> Option<IpNet> {
    match peer {
        Peer::V4(n) => Some(IpNet::V4(*n)),
        Peer::V6(n) => Some(IpNet::V6(*n)),
        _ => None,
    }
}

fn cidrs_overlap(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

fn same_peer(live: &Peer, wanted: &Peer, group_id: &str) -> bool {
    match (live, wanted) {
        (Peer::Group { id, .. }, Peer::SelfGroup) => id == group_id,
        (Peer::Group { id: a, .. }, Peer::Group { id: b, .. }) => a == b,
        (Peer::PrefixList(a), Peer::PrefixList(b)) => a == b,
        _ => false,
    }
}

/// The candidate rules open to the world: `0.0.0.0/0` and `::/0` themselves, and, for
/// every single point of the pattern's protocol, the outermost of the other CIDR rules
/// that together cover a whole address family there.
fn world(pattern: &Protocol, rules: &[DescribedRule], candidates: &[usize]) -> BTreeSet<usize> {
    let mut out: BTreeSet<usize> = candidates
        .iter()
        .copied()
        .filter(|&i| cidr_of(&rules[i].rule.peer).is_some_and(|c| c.prefix_len() == 0))
        .collect();
    // The split world without the rules already found: revoking those must not leave
    // the world open through the others (all of them go in one run).
    let split: Vec<usize> = candidates
        .iter()
        .copied()
        .filter(|i| !out.contains(i))
        .collect();
    if !could_cover(split.iter().map(|&i| &rules[i])) {
        return out;
    }
    for point in points(pattern, rules, &split) {
        let at: Vec<usize> = split
            .iter()
            .copied()
            .filter(|&i| overlaps(&rules[i].rule.protocol, &point))
            .collect();
        out.extend(split_world(rules, &at));
    }
    out
}

/// Whether the CIDRs of `rules` are, all ports aside, large enough together to
/// cover every IPv4 or every IPv6 address: their sizes add up to a whole family. A cheap
/// test without allocation that spares the search of [`points`] in almost every group;
/// it may say yes wrongly (overlaps count twice), never no wrongly.
fn could_cover<'a>(rules: impl IntoIterator<Item = &'a DescribedRule>) -> bool {
    // IPv4: a /p holds 2^(32-p) addresses. IPv6: counted in pairs of addresses, 2^(127-p)
    // (a /128 rounded up to one pair), so that a whole family, 2^127 pairs, fits in a u128.
    // A /0 counts as a whole family.
    let (mut v4, mut v6) = (0u128, 0u128);
    for r in rules {
        match cidr_of(&r.rule.peer) {
            Some(IpNet::V4(n)) => {
                v4 = v4.saturating_add(1u128 << (32 - u32::from(n.prefix_len()).min(32)));
            }
            Some(IpNet::V6(n)) => {
                let pairs = match n.prefix_len() {
                    0 => 1u128 << 127,
                    p => 1u128 << (127 - u32::from(p).min(127)),
                };
                v6 = v6.saturating_add(pairs);
            }
            None => {}
        }
    }
    v4 >= 1u128 << 32 || v6 >= 1u128 << 127
}

/// Of the rules `at` (indices into `rules`), the outermost CIDR rules of each address
/// family whose CIDRs there together cover every address of it; none of a family that
/// they do not cover.
fn split_world(rules: &[DescribedRule], at: &[usize]) -> Vec<usize> {
    let nets: Vec<(usize, IpNet)> = at
        .iter()
        .filter_map(|&i| cidr_of(&rules[i].rule.peer).map(|n| (i, n)))
        .collect();
    let joined = IpNet::aggregate(&nets.iter().map(|(_, n)| *n).collect());
    joined
        .iter()
        .filter(|whole| whole.prefix_len() == 0)
        .flat_map(|whole| {
            // The family's networks: `0.0.0.0/0` holds every IPv4 one, `::/0` every IPv6 one.
            let family: Vec<(usize, IpNet)> = nets
                .iter()
                .copied()
                .filter(|(_, n)| whole.contains(n))
                .collect();
            outermost(&family)
        })
        .collect()
}

/// The rules whose network is inside no other rule's network (of two equal networks, the
/// first).
fn outermost(nets: &[(usize, IpNet)]) -> Vec<usize> {
    nets.iter()
        .enumerate()
        .filter(|(k, (_, n))| {
            !nets
                .iter()
                .enumerate()
                .any(|(j, (_, m))| j != *k && m.contains(n) && (m != n || j < *k))
        })
        .map(|(_, (i, _))| *i)
        .collect()
}

/// Single points of traffic (one port, one ICMP type and code, one protocol) inside
/// `pattern`, one in each stretch where the set of candidate rules that let it through
/// stays the same: enough to find every point where the candidates cover the world.
fn points(pattern: &Protocol, rules: &[DescribedRule], candidates: &[usize]) -> Vec<Protocol> {
    let live: Vec<Protocol> = candidates.iter().map(|&i| rules[i].rule.protocol).collect();
    let mut out = Vec::new();
    let ranges = |proto_of: fn(&Protocol) -> Option<(u16, u16)>| -> Vec<u16> {
        let (lo, hi) = proto_of(pattern).unwrap_or((0, u16::MAX));
        let mut cuts: BTreeSet<u16> = BTreeSet::from([lo]);
        for p in &live {
            if let Some((f, t)) = proto_of(p) {
                for c in [Some(f), t.checked_add(1)].into_iter().flatten() {
                    if (lo..=hi).contains(&c) {
                        cuts.insert(c);
                    }
                }
            }
        }
        cuts.into_iter().collect()
    };
    let tcp = |p: &Protocol| match p {
        Protocol::Tcp { from, to } => Some((*from, *to)),
        _ => None,
    };
    let udp = |p: &Protocol| match p {
        Protocol::Udp { from, to } => Some((*from, *to)),
        _ => None,
    };
    let wants = |probe: &Protocol| overlaps(pattern, probe);
    for port in ranges(tcp) {
        let probe = Protocol::Tcp {
            from: port,
            to: port,
        };
        if wants(&probe) {
            out.push(probe);
        }
    }
    for port in ranges(udp) {
        let probe = Protocol::Udp {
            from: port,
            to: port,
        };
        if wants(&probe) {
            out.push(probe);
        }
    }
    // ICMP: every type and code a rule names, and one that none names.
    let icmps: Vec<Icmp> = live
        .iter()
        .chain(std::iter::once(pattern))
        .filter_map(|p| match p {
            Protocol::Icmp(i) | Protocol::Icmpv6(i) => Some(*i),
            _ => None,
        })
        .collect();
    let fresh = |used: &[Option<u8>]| (0..=u8::MAX).find(|v| !used.contains(&Some(*v)));
    let types: Vec<Option<u8>> = icmps.iter().map(|i| i.icmp_type).collect();
    let codes: Vec<Option<u8>> = icmps.iter().map(|i| i.code).collect();
    let mut type_points: BTreeSet<u8> = types.iter().flatten().copied().collect();
    type_points.extend(fresh(&types));
    let mut code_points: BTreeSet<u8> = codes.iter().flatten().copied().collect();
    code_points.extend(fresh(&codes));
    for t in &type_points {
        for c in &code_points {
            let icmp = Icmp {
                icmp_type: Some(*t),
                code: Some(*c),
            };
            for probe in [Protocol::Icmp(icmp), Protocol::Icmpv6(icmp)] {
                if wants(&probe) {
                    out.push(probe);
                }
            }
        }
    }
    // Other protocol numbers: each one a rule or the pattern names, and one none names.
    let mut numbers: BTreeSet<u8> = live
        .iter()
        .chain(std::iter::once(pattern))
        .filter_map(|p| match p {
            Protocol::Number(n) => Some(*n),
            _ => None,
        })
        .collect();
    if let Some(n) = (0..=u8::MAX).find(|n| ![1, 6, 17, 58].contains(n) && !numbers.contains(n)) {
        numbers.insert(n);
    }
    for n in numbers {
        let probe = Protocol::Number(n);
        if wants(&probe) {
            out.push(probe);
        }
    }
    out
}

/// The indices of the ingress rules open to the world (as for `world` above) that are not
/// tcp or udp with their whole port range inside one `allowed` range of the same protocol
/// (`world_only`: Security Hub EC2.18).
pub fn world_only(
    allowed: &[Protocol],
    group_id: &str,
    rules: &[DescribedRule],
) -> BTreeSet<usize> {
    let open = violations(
        &Pattern {
            direction: Direction::Ingress,
            protocol: Protocol::All,
            peer: PeerClass::World,
        },
        group_id,
        rules,
    );
    open.into_iter()
        .filter(|&i| {
            let inside = |(f, t): (u16, u16), (af, at): (u16, u16)| af <= f && t <= at;
            !allowed.iter().any(|a| match (&rules[i].rule.protocol, a) {
                (Protocol::Tcp { from, to }, Protocol::Tcp { from: af, to: at })
                | (Protocol::Udp { from, to }, Protocol::Udp { from: af, to: at }) => {
                    inside((*from, *to), (*af, *at))
                }
                _ => false,
            })
        })
        .collect()
}

/// A built-in guardrail: its name, severity, the groups it selects by name (none: every
/// group), and its deny patterns (docs/policy.md lists the sources).
pub struct Preset {
    pub name: &'static str,
    pub severity: Severity,
    pub names: &'static [&'static str],
    pub deny: &'static [&'static str],
}

/// The presets: `world-admin-ports` (CIS 5.2/5.3, Security Hub EC2.13/14/53/54),
/// `world-high-risk-ports` (Security Hub EC2.19), `default-group-closed` (Security Hub
/// EC2.2, CIS 5.4).
pub const PRESETS: [Preset; 3] = [
    Preset {
        name: "world-admin-ports",
        severity: Severity::High,
        names: &[],
        deny: &["tcp/22,3389 from world", "udp/22,3389 from world"],
    },
    Preset {
        name: "world-high-risk-ports",
        severity: Severity::Critical,
        names: &[],
        deny: &[
            "tcp/20,21,22,23,25,110,135,143,445,1433,1434,3000,3306,3389,4333,5000,5432,5500,5601,8080,8088,8888,9200,9300 from world",
        ],
    },
    Preset {
        name: "default-group-closed",
        severity: Severity::High,
        names: &["default"],
        deny: &["all from any", "all to any"],
    },
];

#[cfg(test)]
mod tests;
