//! The benchmark estate: one VPC and N groups with a dozen ingress rules of mixed shapes
//! each, 10 % of them (chosen with a fixed seed) drifted with `tcp/22 from 0.0.0.0/0`, and
//! the policy that declares each group's baseline.

use std::fmt::Write as _;

use futures_util::{StreamExt, TryStreamExt, stream};

use super::DevError;
use super::estate;

/// The drift a console user adds.
pub const DRIFT: &str = "tcp/22 from 0.0.0.0/0";

/// The name of group `i`.
pub fn group_name(i: usize) -> String {
    format!("bench-{i:05}")
}

/// Group `i`'s baseline, as policy text: single ports and ranges, udp 53, a udp range over
/// IPv6, ICMP echo, all ICMPv6, a reference to the next group, everything from itself, and
/// near misses for "SSH from the world".
pub fn baseline(i: usize, n: usize) -> Vec<String> {
    vec![
        "tcp/443 from 0.0.0.0/0".into(),
        "tcp/8000-8080 from 10.0.0.0/8".into(),
        "udp/53 from 10.0.0.0/16".into(),
        "udp/33434-33534 from 2001:db8::/32".into(),
        "icmp/8 from 10.0.0.0/8".into(),
        "icmpv6 from ::/0".into(),
        format!("tcp/5432 from sg:{}", group_name((i + 1) % n)),
        "all from self".into(),
        "tcp/22 from 10.0.0.0/8".into(),
        "tcp/20-21 from 0.0.0.0/0".into(),
        "tcp/23-25 from 0.0.0.0/0".into(),
        "tcp/80 from ::/0".into(),
    ]
}

/// The baseline with group names and `self` replaced by the live ids.
pub fn live_rules(i: usize, ids: &[String]) -> Vec<String> {
    let n = ids.len();
    baseline(i, n)
        .into_iter()
        .map(|r| {
            r.replace(
                &format!("sg:{}", group_name((i + 1) % n)),
                &ids[(i + 1) % n],
            )
            .replace("from self", &format!("from {}", ids[i]))
        })
        .collect()
}

/// The policy declaring every group's baseline (EC2's default egress is left unmanaged).
pub fn policy_text(n: usize, mode: &str, notify: &str) -> String {
    let mut out = format!(
        "version: 1\nsettings: {{regions: [us-east-1], default_mode: {mode}, notify: {notify}, max_changes_per_run: {}}}\ngroups:\n",
        n * 20
    );
    for i in 0..n {
        let name = group_name(i);
        let _ = writeln!(out, "  {name}:\n    name: {name}\n    ingress:");
        for r in baseline(i, n) {
            let _ = writeln!(out, "      - \"{r}\"");
        }
    }
    out
}

/// `count` distinct indices below `n`, the same for the same `seed`.
pub fn chosen(n: usize, count: usize, seed: u64) -> Vec<usize> {
    let mut state = seed.max(1);
    let mut picked = std::collections::BTreeSet::new();
    while picked.len() < count.min(n) {
        // xorshift64
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        picked.insert((state % n as u64) as usize);
    }
    picked.into_iter().collect()
}

/// The groups that get [`DRIFT`]: 10 %, fixed seed.
pub fn drifted(n: usize) -> Vec<usize> {
    chosen(n, n / 10, 0x5eed)
}

/// Creates the VPC and the N groups, authorizes each group's baseline in one call, and adds
/// the drift. Returns the group ids, index by index.
pub async fn seed(ec2: &aws_sdk_ec2::Client, n: usize) -> Result<Vec<String>, DevError> {
    let vpc = estate::create_vpc(ec2, "10.0.0.0/16").await?;
    let ids: Vec<String> = stream::iter(0..n)
        .map(|i| {
            let vpc = vpc.clone();
            async move { estate::create_group(ec2, &vpc, &group_name(i), "benchmark group").await }
        })
        .buffered(8)
        .try_collect()
        .await?;
    let drifted = drifted(n);
    stream::iter(0..n)
        .map(|i| {
            let mut rules = live_rules(i, &ids);
            if drifted.binary_search(&i).is_ok() {
                rules.push(DRIFT.into());
            }
            let ids = &ids;
            async move {
                let rules: Vec<&str> = rules.iter().map(String::as_str).collect();
                estate::authorize(ec2, &ids[i], &rules).await
            }
        })
        .buffer_unordered(8)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(ids)
}
