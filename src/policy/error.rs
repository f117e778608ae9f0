//! Policy problems: each names the file, the position, the field path, what is wrong and,
//! where one exists, a suggestion. All problems of a run are collected, never only the first.

use std::fmt;

/// One problem in a policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issue {
    pub file: String,
    pub line: Option<u32>,
    pub column: Option<u32>,
    /// Field path with zero-based indices: `groups.web.ingress[2].from[1]`.
    pub path: String,
    pub message: String,
    pub help: Option<String>,
}

impl fmt::Display for Issue {
    /// `policy.yaml:12:9: groups.web.ingress[2]: host bits set in `10.0.0.5/24` (help: did you mean `10.0.0.0/24`?)`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
            if let Some(c) = self.column {
                write!(f, ":{c}")?;
            }
        }
        if !self.path.is_empty() {
            write!(f, ": {}", self.path)?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(h) = &self.help {
            write!(f, " (help: {h})")?;
        }
        Ok(())
    }
}

/// Why a policy could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot read policy `{location}`")]
    Read {
        location: String,
        #[source]
        source: std::io::Error,
    },
    #[error("no policy files (*.yaml, *.yml, *.json) in `{location}`")]
    NoFiles { location: String },
    #[error(transparent)]
    Input(#[from] crate::limits::InputError),
    /// A bound of docs/security.md ("Limits") that the policy as a whole exceeds.
    #[error("policy `{location}` {what} (see docs/security.md, \"Limits\")")]
    TooLarge { location: String, what: String },
    #[error("policy has {} problem{}", .0.len(), if .0.len() == 1 { "" } else { "s" })]
    Invalid(Vec<Issue>),
}

impl PolicyError {
    /// A directory or S3 prefix with more than [`crate::limits::POLICY_FILES`] files.
    pub fn too_many_files(location: String) -> Self {
        PolicyError::TooLarge {
            location,
            what: format!(
                "holds more than {} policy files",
                crate::limits::POLICY_FILES
            ),
        }
    }

    /// A policy larger than [`crate::limits::POLICY_TOTAL_BYTES`] in all its files.
    pub fn too_large_in_all(location: String) -> Self {
        PolicyError::TooLarge {
            location,
            what: format!(
                "is larger than {} in all",
                crate::limits::bytes_text(crate::limits::POLICY_TOTAL_BYTES)
            ),
        }
    }

    /// The individual problems, for printing one per line before the summary.
    pub fn issues(&self) -> &[Issue] {
        match self {
            PolicyError::Invalid(issues) => issues,
            _ => &[],
        }
    }
}
