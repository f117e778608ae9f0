//! `sgwarden export cloudformation`: the policy's groups as a CloudFormation template.

use std::io::Write;

use clap::{Args, Subcommand, ValueEnum};

use super::{CliError, load_policy, pretty};
use crate::policy::print::to_yaml;
use crate::report::Outcome;

#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// `AWS::EC2::SecurityGroup` resources with their ingress and egress.
    Cloudformation(ExportCloudFormationArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TemplateFormat {
    Yaml,
    Json,
}

#[derive(Debug, Args)]
pub struct ExportCloudFormationArgs {
    /// Policy: a file, a directory, s3://bucket/key or s3://bucket/prefix/.
    #[arg(long, env = "SGWARDEN_POLICY")]
    pub policy: String,
    #[arg(long, value_enum, default_value = "yaml")]
    pub format: TemplateFormat,
}

/// Prints the template; what CloudFormation cannot say exactly goes to stderr as warnings.
pub(super) fn cloudformation(
    a: &ExportCloudFormationArgs,
    out: &mut dyn Write,
) -> Result<Outcome, CliError> {
    let policy = load_policy(&a.policy)?;
    let t = crate::export::cloudformation(&policy, &a.policy);
    for w in &t.warnings {
        eprintln!("warning: {w}");
    }
    let text = match a.format {
        TemplateFormat::Yaml => to_yaml(&t.template),
        TemplateFormat::Json => pretty(&t.template),
    };
    out.write_all(text.as_bytes())?;
    Ok(Outcome::Clean)
}
