//! sgwarden keeps EC2 security groups equal to a declared policy.
//!
//! Every run takes one path (ARCHITECTURE.md has the map): trigger → policy → inventory →
//! drift → create → plan → change risk → revert budget → apply → report → verify →
//! notify. The pure core lives here, free of AWS types and I/O:
//!
//! - [`rule`]: the atomic rule, its canonical text and the compact syntax;
//! - [`policy`]: load, check and expand a policy into desired rules per group;
//! - [`inventory`]: live groups (from a describe snapshot) split into atomic rules;
//! - [`drift`]: desired vs live, per group and direction (no clock: time is a parameter);
//! - [`plan`]: the writes each group's mode calls for, batched, with the change cap;
//! - [`report`]: one report value rendered as JSON, text, Markdown and a table.
//!
//! ```
//! use sgwarden::Rule;
//!
//! // Canonical rule text is also how rules are parsed back.
//! let rule: Rule = "TCP/22-22 from 2001:DB8::/32".parse().unwrap();
//! assert_eq!(rule.to_string(), "tcp/22 from 2001:db8::/32");
//!
//! // A policy is checked and expanded into atomic rules per group.
//! let policy = sgwarden::policy::load_str(
//!     "policy.yaml",
//!     "version: 1\nvariables: {office: [10.0.0.0/8, 192.0.2.7]}\n\
//!      groups:\n  web: {ingress: ['tcp/80,443 from @office']}\n",
//! )
//! .unwrap();
//! assert_eq!(policy.groups["web"].ingress.as_ref().unwrap().len(), 4);
//! ```

#[cfg(feature = "aws")]
pub mod aws;
pub mod budget;
pub mod cli;
pub mod config;
pub mod drift;
pub mod enforcer;
pub mod export;
pub mod findings;
pub mod flows;
pub mod guardrail;
pub mod handler;
pub mod import;
pub mod inventory;
pub mod limits;
pub mod local;
pub mod metrics;
pub mod place;
pub mod plan;
pub mod policy;
pub mod ports;
#[cfg(test)]
mod properties;
pub mod report;
pub mod rule;
pub mod select;
pub mod stage;
pub mod suggest;
pub mod trigger;
pub mod work;

pub use drift::Drift;
pub use plan::Plan;
pub use policy::{Mode, Policy, PolicyError};
pub use report::Report;
pub use rule::{Direction, Peer, Protocol, Rule};
