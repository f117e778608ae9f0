//! Selectors: which live groups a guardrail or a group entry governs, by id, name, VPC,
//! region and tags, with an exclusion that wins.
//!
//! Every listed dimension must match (AND); a list inside one dimension matches when any
//! item does (OR). Names and tag values are shell globs over the whole text,
//! case-sensitive (`web-*`, `api-?`, `prod*`), matched by `globset`; a tag value `*` means
//! the key is present with any value. Pure: the group's facts in, yes or no out.

use std::collections::BTreeMap;

use globset::{Glob, GlobMatcher};

/// A selector as written: plain lists of text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SelectorSpec {
    pub ids: Vec<String>,
    pub names: Vec<String>,
    pub vpcs: Vec<String>,
    pub regions: Vec<String>,
    pub accounts: Vec<String>,
    /// Tag key → value glob; every one must match.
    pub tags: BTreeMap<String, String>,
    pub exclude: Option<Box<SelectorSpec>>,
}

/// What a selector looks at in one live group.
#[derive(Clone, Copy, Debug)]
pub struct Candidate<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub vpc: Option<&'a str>,
    pub region: &'a str,
    /// Empty when not known (a single-account run that has not named it).
    pub account: &'a str,
    pub tags: &'a BTreeMap<String, String>,
}

/// A compiled selector. Two selectors are equal when they are written the same.
#[derive(Clone, Debug)]
pub struct Selector {
    spec: SelectorSpec,
    ids: Vec<String>,
    names: Vec<GlobMatcher>,
    vpcs: Vec<String>,
    regions: Vec<String>,
    accounts: Vec<String>,
    tags: Vec<(String, GlobMatcher)>,
    exclude: Option<Box<Selector>>,
}

/// Why a selector cannot be compiled: the glob and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{glob}` is not a valid glob: {message}")]
pub struct SelectorError {
    pub glob: String,
    pub message: String,
}

fn glob(text: &str) -> Result<GlobMatcher, SelectorError> {
    Glob::new(text)
        .map(|g| g.compile_matcher())
        .map_err(|e| SelectorError {
            glob: text.to_string(),
            message: e.kind().to_string(),
        })
}

impl PartialEq for Selector {
    fn eq(&self, other: &Self) -> bool {
        self.spec == other.spec
    }
}

impl Selector {
    pub fn new(spec: &SelectorSpec) -> Result<Selector, SelectorError> {
        Ok(Selector {
            spec: spec.clone(),
            ids: spec.ids.clone(),
            names: spec
                .names
                .iter()
                .map(|n| glob(n))
                .collect::<Result<_, _>>()?,
            vpcs: spec.vpcs.clone(),
            regions: spec.regions.clone(),
            accounts: spec.accounts.clone(),
            tags: spec
                .tags
                .iter()
                .map(|(k, v)| glob(v).map(|g| (k.clone(), g)))
                .collect::<Result<_, _>>()?,
            exclude: match &spec.exclude {
                Some(x) => Some(Box::new(Selector::new(x)?)),
                None => None,
            },
        })
    }

    /// The selector as written.
    pub fn spec(&self) -> &SelectorSpec {
        &self.spec
    }

    /// Whether it takes a group known only by its name and perhaps its id (a group entry,
    /// before any group is read); `None` when that depends on live state (tags, VPC,
    /// region) or on an id not known.
    pub fn decides(&self, id: Option<&str>, name: &str) -> Option<bool> {
        let s = &self.spec;
        let open = |s: &SelectorSpec| {
            !s.tags.is_empty()
                || !s.vpcs.is_empty()
                || !s.regions.is_empty()
                || !s.accounts.is_empty()
                || (!s.ids.is_empty() && id.is_none())
        };
        if open(s) || s.exclude.as_deref().is_some_and(open) {
            return None;
        }
        let none = BTreeMap::new();
        Some(self.matches(&Candidate {
            id: id.unwrap_or_default(),
            name,
            vpc: None,
            region: "",
            account: "",
            tags: &none,
        }))
    }

    /// Whether the selector takes this group: every listed dimension matches, and the
    /// exclusion (when there is one) does not.
    pub fn matches(&self, g: &Candidate<'_>) -> bool {
        self.includes(g) && !self.exclude.as_ref().is_some_and(|x| x.includes(g))
    }

    fn includes(&self, g: &Candidate<'_>) -> bool {
        let any_of = |list: &[String], v: &str| list.is_empty() || list.iter().any(|x| x == v);
        any_of(&self.ids, g.id)
            && (self.names.is_empty() || self.names.iter().any(|n| n.is_match(g.name)))
            && (self.vpcs.is_empty() || g.vpc.is_some_and(|v| any_of(&self.vpcs, v)))
            && any_of(&self.regions, g.region)
            && any_of(&self.accounts, g.account)
            && self
                .tags
                .iter()
                .all(|(k, v)| g.tags.get(k).is_some_and(|value| v.is_match(value)))
    }
}

impl std::fmt::Display for SelectorSpec {
    /// What it selects, as reports say it: `names web-*, tags env=prod* except tags
    /// sgwarden:ignore=*`; `every group` when it lists nothing.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        for (what, list) in [
            ("ids", &self.ids),
            ("names", &self.names),
            ("vpcs", &self.vpcs),
            ("regions", &self.regions),
            ("accounts", &self.accounts),
        ] {
            if !list.is_empty() {
                parts.push(format!("{what} {}", list.join(",")));
            }
        }
        if !self.tags.is_empty() {
            let tags: Vec<String> = self.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
            parts.push(format!("tags {}", tags.join(",")));
        }
        if parts.is_empty() {
            parts.push("every group".into());
        }
        write!(f, "{}", parts.join(", "))?;
        if let Some(x) = &self.exclude {
            write!(f, " except {x}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn spec(names: &[&str], tag_pairs: &[(&str, &str)]) -> SelectorSpec {
        SelectorSpec {
            names: names.iter().map(|s| s.to_string()).collect(),
            tags: tags(tag_pairs),
            ..SelectorSpec::default()
        }
    }

    fn group<'a>(name: &'a str, t: &'a BTreeMap<String, String>) -> Candidate<'a> {
        Candidate {
            id: "sg-0aaa",
            name,
            vpc: Some("vpc-1"),
            region: "eu-west-1",
            account: "111122223333",
            tags: t,
        }
    }

    #[test]
    fn names_are_whole_case_sensitive_globs_and_any_item_matches() {
        let s = Selector::new(&spec(&["web-*", "api-?"], &[])).unwrap();
        let none = BTreeMap::new();
        assert!(s.matches(&group("web-prod", &none)));
        assert!(s.matches(&group("api-1", &none)));
        assert!(!s.matches(&group("api-10", &none)));
        assert!(!s.matches(&group("Web-prod", &none)));
        assert!(!s.matches(&group("old-web-prod", &none)));
    }

    #[test]
    fn every_tag_must_match_and_star_means_present() {
        let s = Selector::new(&spec(&[], &[("team", "payments"), ("env", "prod*")])).unwrap();
        let both = tags(&[("team", "payments"), ("env", "prod-eu")]);
        let one = tags(&[("team", "payments")]);
        assert!(s.matches(&group("x", &both)));
        assert!(!s.matches(&group("x", &one)));
        let present = Selector::new(&spec(&[], &[("owner", "*")])).unwrap();
        assert!(present.matches(&group("x", &tags(&[("owner", "")]))));
        assert!(!present.matches(&group("x", &both)));
    }

    #[test]
    fn every_dimension_must_match_and_the_exclusion_wins() {
        let t = tags(&[("tier", "web"), ("sgwarden:ignore", "yes")]);
        let mut s = SelectorSpec {
            regions: vec!["eu-west-1".into()],
            vpcs: vec!["vpc-1".into()],
            ..spec(&["web-*"], &[("tier", "web")])
        };
        assert!(Selector::new(&s).unwrap().matches(&group("web-a", &t)));
        s.regions = vec!["us-east-1".into()];
        assert!(!Selector::new(&s).unwrap().matches(&group("web-a", &t)));
        s.regions.clear();
        s.exclude = Some(Box::new(spec(&[], &[("sgwarden:ignore", "*")])));
        assert!(!Selector::new(&s).unwrap().matches(&group("web-a", &t)));
        // A group in no VPC never matches a VPC list.
        let s = SelectorSpec {
            vpcs: vec!["vpc-1".into()],
            ..SelectorSpec::default()
        };
        let mut g = group("x", &t);
        g.vpc = None;
        assert!(!Selector::new(&s).unwrap().matches(&g));
        // An empty selector takes every group.
        assert!(Selector::new(&SelectorSpec::default()).unwrap().matches(&g));
    }

    #[test]
    fn names_and_ids_decide_before_any_group_is_read_and_tags_do_not() {
        let by_name = Selector::new(&spec(&["web-*"], &[])).unwrap();
        assert_eq!(by_name.decides(None, "web-a"), Some(true));
        assert_eq!(by_name.decides(None, "db"), Some(false));
        let by_tag = Selector::new(&spec(&["web-*"], &[("env", "prod")])).unwrap();
        assert_eq!(by_tag.decides(None, "web-a"), None);
        let by_id = Selector::new(&SelectorSpec {
            ids: vec!["sg-1".into()],
            ..SelectorSpec::default()
        })
        .unwrap();
        assert_eq!(by_id.decides(None, "web"), None);
        assert_eq!(by_id.decides(Some("sg-1"), "web"), Some(true));
    }

    #[test]
    fn a_bad_glob_is_an_error_naming_it() {
        let e = Selector::new(&spec(&["web-[a"], &[])).unwrap_err();
        assert_eq!(e.glob, "web-[a");
        assert!(e.to_string().contains("web-[a"), "{e}");
    }
}
