//! The atomic rule: direction, protocol with its ports (or ICMP type:code), and exactly one peer.
//!
//! This module owns the canonical rule text (policy-language.md, "Identity of a rule") and
//! its parser, plus the compact rule syntax of the policy (`tcp/80,443 from @web, self`),
//! which may name several port ranges and several peers. It knows nothing of files,
//! variables' values or AWS.

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// Which way traffic flows through the rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    /// Both directions, ingress first.
    pub const BOTH: [Direction; 2] = [Direction::Ingress, Direction::Egress];

    /// `ingress` or `egress`, as in the policy and the JSON report.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        }
    }

    /// The keyword that introduces peers in the compact form: `from` or `to`.
    pub fn keyword(self) -> &'static str {
        match self {
            Direction::Ingress => "from",
            Direction::Egress => "to",
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// ICMP type and code; `None` means all. A code is only ever set with a type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Icmp {
    pub icmp_type: Option<u8>,
    pub code: Option<u8>,
}

impl Icmp {
    pub const ALL: Icmp = Icmp {
        icmp_type: None,
        code: None,
    };
}

/// A protocol together with what narrows it (ports for tcp/udp, type:code for ICMP).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    Tcp {
        from: u16,
        to: u16,
    },
    Udp {
        from: u16,
        to: u16,
    },
    Icmp(Icmp),
    Icmpv6(Icmp),
    /// Every protocol (EC2's `-1`).
    All,
    /// Any other IP protocol number.
    // INVARIANT: never 1, 6, 17 or 58; those are always the named variants.
    Number(u8),
}

impl Protocol {
    /// The protocol's canonical name or number, as the JSON report's `protocol` field.
    pub fn name(&self) -> String {
        match self {
            Protocol::Tcp { .. } => "tcp".into(),
            Protocol::Udp { .. } => "udp".into(),
            Protocol::Icmp(_) => "icmp".into(),
            Protocol::Icmpv6(_) => "icmpv6".into(),
            Protocol::All => "all".into(),
            Protocol::Number(n) => n.to_string(),
        }
    }

    /// The EC2 `IpProtocol` value for this protocol.
    pub fn ec2_name(&self) -> String {
        match self {
            Protocol::All => "-1".into(),
            other => other.name(),
        }
    }

    /// EC2's FromPort/ToPort (for ICMP: type and code, -1 meaning all); `None` where EC2
    /// takes no ports.
    pub fn ec2_ports(&self) -> Option<(i32, i32)> {
        match *self {
            Protocol::Tcp { from, to } | Protocol::Udp { from, to } => {
                Some((i32::from(from), i32::from(to)))
            }
            Protocol::Icmp(i) | Protocol::Icmpv6(i) => Some((
                i.icmp_type.map_or(-1, i32::from),
                i.code.map_or(-1, i32::from),
            )),
            Protocol::All | Protocol::Number(_) => None,
        }
    }

    /// A protocol from an EC2-style name or number (`tcp`, `6`, `-1`), without its ports.
    /// Returns the variant with full ranges; callers narrow it.
    pub fn from_name(name: &str) -> Option<Protocol> {
        let lower: Cow<'_, str> = if name.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(name.to_ascii_lowercase())
        } else {
            Cow::Borrowed(name)
        };
        match lower.as_ref() {
            "tcp" | "6" => Some(Protocol::Tcp { from: 0, to: 65535 }),
            "udp" | "17" => Some(Protocol::Udp { from: 0, to: 65535 }),
            "icmp" | "1" => Some(Protocol::Icmp(Icmp::ALL)),
            "icmpv6" | "58" => Some(Protocol::Icmpv6(Icmp::ALL)),
            "all" | "-1" => Some(Protocol::All),
            _ => lower.parse::<u8>().ok().map(Protocol::Number),
        }
    }

    /// Builds a protocol from live EC2 data: `IpProtocol`, `FromPort`, `ToPort`.
    ///
    /// Live `-1` and other protocol numbers ignore the ports whatever they hold; for ICMP
    /// FromPort is the type and ToPort the code, -1 or absent meaning all (and a type of -1
    /// means all types whatever the code says). Returns `None` for a protocol that is not a
    /// name EC2 uses nor a number 0-255, or for tcp/udp ports outside 0-65535.
    pub fn from_ec2(ip_protocol: &str, from: Option<i32>, to: Option<i32>) -> Option<Protocol> {
        let base = Protocol::from_name(ip_protocol)?;
        let port = |p: Option<i32>, default: u16| -> Option<u16> {
            match p {
                None | Some(-1) => Some(default),
                Some(v) => u16::try_from(v).ok(),
            }
        };
        let icmp_part = |p: Option<i32>| -> Option<Option<u8>> {
            match p {
                None => Some(None),
                Some(v) if v < 0 => Some(None),
                Some(v) => u8::try_from(v).ok().map(Some),
            }
        };
        Some(match base {
            Protocol::Tcp { .. } => Protocol::Tcp {
                from: port(from, 0)?,
                to: port(to, 65535)?,
            },
            Protocol::Udp { .. } => Protocol::Udp {
                from: port(from, 0)?,
                to: port(to, 65535)?,
            },
            Protocol::Icmp(_) | Protocol::Icmpv6(_) => {
                let t = icmp_part(from)?;
                let c = if t.is_none() { None } else { icmp_part(to)? };
                let icmp = Icmp {
                    icmp_type: t,
                    code: c,
                };
                if matches!(base, Protocol::Icmp(_)) {
                    Protocol::Icmp(icmp)
                } else {
                    Protocol::Icmpv6(icmp)
                }
            }
            other => other,
        })
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Protocol::Tcp { from, to } | Protocol::Udp { from, to } => {
                f.write_str(if matches!(self, Protocol::Tcp { .. }) {
                    "tcp/"
                } else {
                    "udp/"
                })?;
                if from == to {
                    write!(f, "{from}")
                } else {
                    write!(f, "{from}-{to}")
                }
            }
            Protocol::Icmp(i) | Protocol::Icmpv6(i) => {
                f.write_str(if matches!(self, Protocol::Icmp(_)) {
                    "icmp"
                } else {
                    "icmpv6"
                })?;
                match (i.icmp_type, i.code) {
                    (None, _) => Ok(()),
                    (Some(t), None) => write!(f, "/{t}"),
                    (Some(t), Some(c)) => write!(f, "/{t}:{c}"),
                }
            }
            Protocol::All => f.write_str("all"),
            Protocol::Number(n) => write!(f, "{n}"),
        }
    }
}

/// The other end of a rule.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Peer {
    V4(Ipv4Net),
    V6(Ipv6Net),
    /// A security group; `account` is set only when it differs from the owner of the
    /// group holding the rule.
    Group {
        account: Option<String>,
        id: String,
    },
    PrefixList(String),
    /// `self` in the policy, before it is resolved against a live group.
    SelfGroup,
    /// `sg:NAME` in the policy, before (or when it cannot be) resolved to a live group.
    Named(String),
}

impl Peer {
    /// True for the policy-only forms (`self`, `sg:NAME`) that need a live group to resolve.
    pub fn is_unresolved(&self) -> bool {
        matches!(self, Peer::SelfGroup | Peer::Named(_))
    }
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Peer::V4(n) => write!(f, "{n}"),
            Peer::V6(n) => write!(f, "{n}"),
            Peer::Group {
                account: Some(a),
                id,
            } => write!(f, "{a}/{id}"),
            Peer::Group { account: None, id } => f.write_str(id),
            Peer::PrefixList(id) => f.write_str(id),
            Peer::SelfGroup => f.write_str("self"),
            Peer::Named(n) => write!(f, "sg:{n}"),
        }
    }
}

/// Why a piece of rule text is not valid, with a suggestion where one exists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    pub message: String,
    pub help: Option<String>,
}

impl SyntaxError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        SyntaxError {
            message: message.into(),
            help: None,
        }
    }

    pub(crate) fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(h) = &self.help {
            write!(f, " ({h})")?;
        }
        Ok(())
    }
}

impl std::error::Error for SyntaxError {}

fn is_hex_id(text: &str, prefix: &str) -> bool {
    text.strip_prefix(prefix).is_some_and(|rest| {
        !rest.is_empty() && rest.len() <= 32 && rest.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

/// Parses a CIDR or a bare address (a /32 or /128), canonicalising it. With `strict`, host
/// bits are an error that suggests the network; otherwise they are masked (live data).
pub fn parse_cidr(text: &str, strict: bool) -> Result<Peer, SyntaxError> {
    let net: IpNet = match text.parse::<IpNet>() {
        Ok(n) => n,
        Err(_) => match text.parse::<IpAddr>() {
            Ok(a) => IpNet::from(a),
            Err(_) => return Err(SyntaxError::new(format!("`{text}` is not a valid CIDR"))),
        },
    };
    if strict && net.trunc() != net {
        return Err(SyntaxError::new(format!("host bits set in `{text}`"))
            .help(format!("did you mean `{}`?", net.trunc())));
    }
    Ok(match net.trunc() {
        IpNet::V4(n) => Peer::V4(n),
        IpNet::V6(n) => Peer::V6(n),
    })
}

/// Parses one peer as written in a policy or in canonical text (no variables: `@name` is
/// the policy's business). CIDRs with host bits are errors.
pub fn parse_peer(text: &str) -> Result<Peer, SyntaxError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(SyntaxError::new("empty peer"));
    }
    if text.eq_ignore_ascii_case("self") {
        return Ok(Peer::SelfGroup);
    }
    if let Some(name) = text.strip_prefix("sg:") {
        if name.is_empty() {
            return Err(SyntaxError::new("`sg:` needs a policy group name after it"));
        }
        return Ok(Peer::Named(name.to_string()));
    }
    if text.starts_with("sg-") {
        let id = text.to_ascii_lowercase();
        if is_hex_id(&id, "sg-") {
            return Ok(Peer::Group { account: None, id });
        }
        return Err(SyntaxError::new(format!(
            "`{text}` is not a security group id (sg- and hex digits)"
        )));
    }
    if text.starts_with("pl-") {
        let id = text.to_ascii_lowercase();
        if is_hex_id(&id, "pl-") {
            return Ok(Peer::PrefixList(id));
        }
        return Err(SyntaxError::new(format!(
            "`{text}` is not a prefix list id (pl- and hex digits)"
        )));
    }
    if let Some((account, id)) = text.split_once('/')
        && id.starts_with("sg-")
    {
        if !crate::place::is_account(account) {
            return Err(SyntaxError::new(format!(
                "`{account}` in `{text}` is not a 12-digit account id"
            )));
        }
        return match parse_peer(id)? {
            Peer::Group { id, .. } => Ok(Peer::Group {
                account: Some(account.to_string()),
                id,
            }),
            _ => Err(SyntaxError::new(format!(
                "`{text}` is not a security group reference"
            ))),
        };
    }
    if text.contains('.') || text.contains(':') {
        return parse_cidr(text, true);
    }
    Err(SyntaxError::new(format!("`{text}` is not a peer")).help(
        "a peer is a CIDR, an address, `self`, `sg:NAME`, `sg-…`, `ACCOUNT/sg-…`, `pl-…` or `@variable`",
    ))
}

/// A rule in the compact form, parsed but with its peers still as text (they may be
/// variables): `PROTOCOL[/PORTS] from|to PEER[, PEER...]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompactRule<'a> {
    pub direction: Direction,
    /// One entry per port range (or ICMP type:code) the rule names.
    pub protocols: Vec<Protocol>,
    /// The peers as written (trimmed), borrowed from the rule text.
    pub peers: Vec<&'a str>,
}

const PROTOCOL_NAMES: [&str; 5] = ["tcp", "udp", "icmp", "icmpv6", "all"];

/// Parses the protocol part of a rule: a name or number, and the ports text if any.
pub fn parse_protocols(proto: &str, ports: Option<&str>) -> Result<Vec<Protocol>, SyntaxError> {
    let trimmed = proto.trim();
    let lower: Cow<'_, str> = if trimmed.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(trimmed.to_ascii_lowercase())
    } else {
        Cow::Borrowed(trimmed)
    };
    if lower.is_empty() {
        return Err(SyntaxError::new("missing protocol"));
    }
    let numeric = lower.parse::<i64>().ok();
    let base = match numeric {
        Some(n) if !(0..=255).contains(&n) => {
            let e = SyntaxError::new(format!("protocol number `{n}` is not in 0-255"));
            return Err(if n == -1 {
                e.help("write `all` for every protocol")
            } else {
                e
            });
        }
        _ => match Protocol::from_name(&lower).filter(|_| lower != "-1") {
            Some(p) => p,
            None => {
                let mut e = SyntaxError::new(format!("unknown protocol `{}`", proto.trim()));
                if let Some(s) = crate::suggest::closest(&lower, PROTOCOL_NAMES.iter().copied()) {
                    e = e.help(format!("did you mean `{s}`?"));
                } else {
                    e = e.help("use tcp, udp, icmp, icmpv6, all or a protocol number 0-255");
                }
                return Err(e);
            }
        },
    };
    let Some(ports) = ports else {
        return Ok(vec![base]);
    };
    let ports = ports.trim();
    if numeric.is_some() {
        let mut e = SyntaxError::new(format!(
            "protocol number `{lower}` takes no ports part (`{lower}/{ports}`)"
        ));
        if matches!(
            base,
            Protocol::Tcp { .. } | Protocol::Udp { .. } | Protocol::Icmp(_) | Protocol::Icmpv6(_)
        ) {
            e = e.help(format!("did you mean `{}/{ports}`?", base.name()));
        }
        return Err(e);
    }
    if ports.is_empty() {
        return Err(SyntaxError::new(format!(
            "empty ports after `{}/`",
            proto.trim()
        )));
    }
    let mut out = Vec::new();
    for part in ports.split(',') {
        let part = part.trim();
        out.push(match base {
            Protocol::Tcp { .. } | Protocol::Udp { .. } => {
                let (from, to) = parse_port_range(part)?;
                if matches!(base, Protocol::Tcp { .. }) {
                    Protocol::Tcp { from, to }
                } else {
                    Protocol::Udp { from, to }
                }
            }
            Protocol::Icmp(_) | Protocol::Icmpv6(_) => {
                let icmp = parse_icmp(part)?;
                if matches!(base, Protocol::Icmp(_)) {
                    Protocol::Icmp(icmp)
                } else {
                    Protocol::Icmpv6(icmp)
                }
            }
            Protocol::All | Protocol::Number(_) => {
                return Err(
                    SyntaxError::new(format!("`{}` takes no ports part", proto.trim()))
                        .help(format!("write `{}` alone", base.name())),
                );
            }
        });
    }
    Ok(out)
}

fn parse_port(text: &str) -> Result<u16, SyntaxError> {
    let t = text.trim();
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SyntaxError::new(format!("`{t}` is not a port number")));
    }
    t.parse::<u16>()
        .map_err(|_| SyntaxError::new(format!("port `{t}` is not in 0-65535")))
}

fn parse_port_range(text: &str) -> Result<(u16, u16), SyntaxError> {
    if text.is_empty() {
        return Err(SyntaxError::new("empty port in a port list"));
    }
    match text.split_once('-') {
        None => {
            let p = parse_port(text)?;
            Ok((p, p))
        }
        Some((a, b)) => {
            if a.trim().is_empty() || b.trim().is_empty() {
                let help = if a.trim().is_empty() {
                    "ports are 0-65535, never negative; a range is written `FROM-TO`, e.g. `20-22`"
                } else {
                    "a range is written `FROM-TO`, e.g. `20-22`"
                };
                return Err(SyntaxError::new(format!(
                    "`{}` is not a port or a port range",
                    text.trim()
                ))
                .help(help));
            }
            let (from, to) = (parse_port(a)?, parse_port(b)?);
            if from > to {
                return Err(
                    SyntaxError::new(format!("port range `{text}` runs backwards"))
                        .help(format!("did you mean `{to}-{from}`?")),
                );
            }
            Ok((from, to))
        }
    }
}

fn parse_icmp_number(text: &str, what: &str) -> Result<u8, SyntaxError> {
    let t = text.trim();
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SyntaxError::new(format!("`{t}` is not an ICMP {what}")));
    }
    t.parse::<u8>()
        .map_err(|_| SyntaxError::new(format!("ICMP {what} `{t}` is not in 0-255")))
}

fn parse_icmp(text: &str) -> Result<Icmp, SyntaxError> {
    if text.contains('-') {
        return Err(
            SyntaxError::new(format!("`{text}` is a range; ICMP takes TYPE or TYPE:CODE"))
                .help("list several types with commas, e.g. `icmp/0,8`"),
        );
    }
    match text.split_once(':') {
        None => Ok(Icmp {
            icmp_type: Some(parse_icmp_number(text, "type")?),
            code: None,
        }),
        Some((t, c)) => Ok(Icmp {
            icmp_type: Some(parse_icmp_number(t, "type")?),
            code: Some(parse_icmp_number(c, "code")?),
        }),
    }
}

/// Parses a compact rule. `expected` is the direction the rule's position requires, if
/// any; the wrong keyword is then an error.
pub fn parse_compact(
    text: &str,
    expected: Option<Direction>,
) -> Result<CompactRule<'_>, SyntaxError> {
    // Find the `from`/`to` token without allocating: this runs once per rule line.
    let offset = |tok: &str| tok.as_ptr() as usize - text.as_ptr() as usize;
    let kw = text
        .split_whitespace()
        .find(|t| t.eq_ignore_ascii_case("from") || t.eq_ignore_ascii_case("to"));
    let Some(kw) = kw else {
        let hint = expected.map_or("from` or `to", Direction::keyword);
        return Err(
            SyntaxError::new(format!("`{text}` has no `{hint}`")).help(format!(
                "write e.g. `tcp/443 {} 10.0.0.0/8`",
                expected.unwrap_or(Direction::Ingress).keyword()
            )),
        );
    };
    let direction = if kw.eq_ignore_ascii_case("from") {
        Direction::Ingress
    } else {
        Direction::Egress
    };
    if let Some(exp) = expected
        && exp != direction
    {
        return Err(
            SyntaxError::new(format!("`{}` in an {} rule", kw.to_ascii_lowercase(), exp))
                .help(format!("{} rules use `{}`", exp, exp.keyword())),
        );
    }
    let start = offset(kw);
    let raw_head = &text[..start];
    // `tcp/80, 443` is read as `tcp/80,443`: whitespace inside the head is dropped.
    let head: Cow<'_, str> = if raw_head.trim().contains(char::is_whitespace) {
        Cow::Owned(raw_head.split_whitespace().collect())
    } else {
        Cow::Borrowed(raw_head.trim())
    };
    if head.is_empty() {
        return Err(SyntaxError::new(format!(
            "`{text}` has no protocol before `{kw}`"
        )));
    }
    let (proto, ports) = match head.split_once('/') {
        Some((p, rest)) => (p, Some(rest)),
        None => (head.as_ref(), None),
    };
    let protocols = parse_protocols(proto, ports)?;
    let rest = &text[start + kw.len()..];
    let mut peers = Vec::new();
    for p in rest.split(',') {
        let p = p.trim();
        if p.is_empty() {
            return Err(SyntaxError::new(format!("`{text}` has an empty peer"))
                .help("peers are separated by single commas"));
        }
        peers.push(p);
    }
    Ok(CompactRule {
        direction,
        protocols,
        peers,
    })
}

/// An atomic rule with its description (which never takes part in identity).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct DescribedRule {
    pub rule: Rule,
    pub description: Option<String>,
}

/// One atomic rule: the unit of comparison, reporting and remediation.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Rule {
    pub direction: Direction,
    pub protocol: Protocol,
    pub peer: Peer,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {}",
            self.protocol,
            self.direction.keyword(),
            self.peer
        )
    }
}

impl FromStr for Rule {
    type Err = SyntaxError;

    /// Parses canonical text (and any compact rule naming one port range and one peer).
    fn from_str(text: &str) -> Result<Rule, SyntaxError> {
        let c = parse_compact(text, None)?;
        if c.protocols.len() != 1 || c.peers.len() != 1 {
            return Err(SyntaxError::new(format!(
                "`{text}` names several rules; an atomic rule has one port range and one peer"
            )));
        }
        if c.peers[0].starts_with('@') {
            return Err(SyntaxError::new(format!(
                "`{text}` uses a variable; an atomic rule names its peer"
            )));
        }
        Ok(Rule {
            direction: c.direction,
            protocol: c.protocols[0],
            peer: parse_peer(c.peers[0])?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(text: &str) -> Rule {
        text.parse().unwrap()
    }

    #[test]
    fn canonical_texts_of_the_contract_round_trip() {
        for text in [
            "tcp/22 from 10.0.0.0/8",
            "tcp/0-65535 from sg-0abc",
            "udp/53 to 10.0.0.2/32",
            "icmp/3:4 from 0.0.0.0/0",
            "icmp from ::/0",
            "all to 0.0.0.0/0",
            "50 from 10.0.0.0/8",
            "icmpv6/128 from 2001:db8::/32",
            "tcp/443 from 123456789012/sg-0abc",
            "tcp/443 from pl-0abc123",
        ] {
            assert_eq!(rule(text).to_string(), text);
        }
    }

    #[test]
    fn tcp_without_ports_is_the_full_range_and_single_ports_are_written_once() {
        assert_eq!(
            rule("tcp from 10.0.0.0/8").to_string(),
            "tcp/0-65535 from 10.0.0.0/8"
        );
        assert_eq!(
            rule("tcp/22-22 from 10.0.0.0/8").to_string(),
            "tcp/22 from 10.0.0.0/8"
        );
    }

    #[test]
    fn protocol_names_are_case_insensitive_and_aliases_are_named() {
        assert_eq!(
            rule("TCP/22 FROM 10.0.0.0/8").to_string(),
            "tcp/22 from 10.0.0.0/8"
        );
        assert_eq!(
            rule("6 from 10.0.0.0/8").to_string(),
            "tcp/0-65535 from 10.0.0.0/8"
        );
        assert_eq!(
            rule("17 from 10.0.0.0/8").to_string(),
            "udp/0-65535 from 10.0.0.0/8"
        );
        assert_eq!(
            rule("1 from 10.0.0.0/8").to_string(),
            "icmp from 10.0.0.0/8"
        );
        assert_eq!(rule("58 from ::/0").to_string(), "icmpv6 from ::/0");
        assert_eq!(
            rule("050 from 10.0.0.0/8").to_string(),
            "50 from 10.0.0.0/8"
        );
    }

    #[test]
    fn numeric_protocol_with_ports_suggests_the_name() {
        let e = "6/22 from 10.0.0.0/8".parse::<Rule>().unwrap_err();
        assert_eq!(e.help.as_deref(), Some("did you mean `tcp/22`?"));
        let e = "50/22 from 10.0.0.0/8".parse::<Rule>().unwrap_err();
        assert!(e.message.contains("takes no ports"), "{e}");
    }

    #[test]
    fn all_takes_no_ports_and_unknown_protocols_get_a_suggestion() {
        assert!("all/22 from 10.0.0.0/8".parse::<Rule>().is_err());
        let e = "tpc/22 from 10.0.0.0/8".parse::<Rule>().unwrap_err();
        assert_eq!(e.help.as_deref(), Some("did you mean `tcp`?"));
    }

    #[test]
    fn ipv6_is_compressed_and_lower_case_and_bare_addresses_are_hosts() {
        assert_eq!(
            rule("tcp/22 from 2001:DB8:0:0:0:0:0:0/32").to_string(),
            "tcp/22 from 2001:db8::/32"
        );
        assert_eq!(
            rule("tcp/22 from 10.1.2.3").to_string(),
            "tcp/22 from 10.1.2.3/32"
        );
        assert_eq!(
            rule("tcp/22 from 2001:db8::1").to_string(),
            "tcp/22 from 2001:db8::1/128"
        );
    }

    #[test]
    fn host_bits_are_an_error_with_the_network_suggested() {
        let e = parse_peer("10.0.0.5/24").unwrap_err();
        assert_eq!(e.message, "host bits set in `10.0.0.5/24`");
        assert_eq!(e.help.as_deref(), Some("did you mean `10.0.0.0/24`?"));
        let e = parse_peer("2001:db8::1/32").unwrap_err();
        assert_eq!(e.help.as_deref(), Some("did you mean `2001:db8::/32`?"));
    }

    #[test]
    fn live_cidrs_with_host_bits_are_masked() {
        assert_eq!(
            parse_cidr("10.0.0.5/24", false).unwrap().to_string(),
            "10.0.0.0/24"
        );
    }

    #[test]
    fn icmp_type_and_code() {
        assert_eq!(
            rule("icmp/8 from 0.0.0.0/0").to_string(),
            "icmp/8 from 0.0.0.0/0"
        );
        assert_eq!(
            rule("icmp/3:4 from 0.0.0.0/0").protocol.ec2_ports(),
            Some((3, 4))
        );
        assert_eq!(
            rule("icmp from 0.0.0.0/0").protocol.ec2_ports(),
            Some((-1, -1))
        );
        assert!("icmp/3-4 from 0.0.0.0/0".parse::<Rule>().is_err());
        assert!("icmp/256 from 0.0.0.0/0".parse::<Rule>().is_err());
    }

    #[test]
    fn live_protocols_follow_ec2_semantics() {
        assert_eq!(
            Protocol::from_ec2("-1", Some(22), Some(22)),
            Some(Protocol::All)
        );
        assert_eq!(
            Protocol::from_ec2("50", Some(0), Some(9)),
            Some(Protocol::Number(50))
        );
        assert_eq!(
            Protocol::from_ec2("6", Some(22), Some(22)),
            Some(Protocol::Tcp { from: 22, to: 22 })
        );
        assert_eq!(
            Protocol::from_ec2("icmp", Some(-1), Some(4)),
            Some(Protocol::Icmp(Icmp::ALL))
        );
        assert_eq!(
            Protocol::from_ec2("1", Some(8), Some(-1)),
            Some(Protocol::Icmp(Icmp {
                icmp_type: Some(8),
                code: None
            }))
        );
        assert_eq!(
            Protocol::from_ec2("58", None, None),
            Some(Protocol::Icmpv6(Icmp::ALL))
        );
        assert_eq!(Protocol::from_ec2("tcp", Some(70000), Some(1)), None);
        assert_eq!(Protocol::from_ec2("gre", None, None), None);
    }

    #[test]
    fn wrong_keyword_for_the_direction_is_an_error() {
        let e = parse_compact("tcp/22 to 10.0.0.0/8", Some(Direction::Ingress)).unwrap_err();
        assert!(e.message.contains("`to` in an ingress rule"), "{e}");
    }

    #[test]
    fn compact_rules_carry_several_ports_and_peers() {
        let c = parse_compact("tcp/80,443,8000-8100 from @web, self, sg:app", None).unwrap();
        assert_eq!(c.protocols.len(), 3);
        assert_eq!(c.peers, vec!["@web", "self", "sg:app"]);
        let c = parse_compact("tcp/80, 443 from 10.0.0.0/8", None).unwrap();
        assert_eq!(c.protocols.len(), 2);
    }

    #[test]
    fn backwards_port_ranges_suggest_the_right_order() {
        let e = "tcp/100-10 from 10.0.0.0/8".parse::<Rule>().unwrap_err();
        assert_eq!(e.help.as_deref(), Some("did you mean `10-100`?"));
    }

    #[test]
    fn group_references_and_prefix_lists() {
        assert_eq!(
            parse_peer("123456789012/sg-0ABC").unwrap(),
            Peer::Group {
                account: Some("123456789012".into()),
                id: "sg-0abc".into()
            }
        );
        assert!(parse_peer("12345/sg-0abc").is_err());
        assert!(parse_peer("sg-xyz").is_err());
        assert_eq!(
            parse_peer("pl-63a5400a").unwrap(),
            Peer::PrefixList("pl-63a5400a".into())
        );
        assert_eq!(parse_peer("sg:app").unwrap(), Peer::Named("app".into()));
        assert_eq!(parse_peer("self").unwrap(), Peer::SelfGroup);
    }
}
