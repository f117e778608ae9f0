//! `sgwarden import ini|pysec|current`: print an sgwarden policy from an older tool's
//! files, or from today's groups, that means exactly what they did.

use std::io::Write;

use clap::{Args, Subcommand};

use super::{CliError, EndpointArgs};
use crate::import;
use crate::inventory::Inventory;
use crate::limits;
use crate::local;
use crate::report::Outcome;

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// A pysecurity-groups configuration (ini): its groups, variables and global rules.
    Ini(ImportIniArgs),
    /// pysec-aws rules files (`ADDRESS/PREFIX:FROM[-TO]^PROTO`) as one group.
    Pysec(ImportPysecArgs),
    /// Today's groups (live, or `--snapshot`) as a starting policy with no drift.
    Current(ImportCurrentArgs),
}

#[derive(Debug, Args)]
pub struct ImportIniArgs {
    /// The pysecurity-groups configuration file.
    pub file: std::path::PathBuf,
}

#[derive(Debug, Args)]
pub struct ImportPysecArgs {
    /// Rules files, or folders of them (their non-hidden files).
    #[arg(required = true)]
    pub paths: Vec<std::path::PathBuf>,
    /// The group the rules belong to (pysec's --group-name).
    #[arg(long)]
    pub group: String,
    /// Only the group of that name in this VPC (else every group of that name).
    #[arg(long)]
    pub vpc: Option<String>,
    /// The policy's regions (repeatable; else the region sgwarden runs in).
    #[arg(long)]
    pub region: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ImportCurrentArgs {
    /// `aws ec2 describe-security-groups` output for one region, as [REGION=]FILE
    /// (repeatable). Without it, the groups are read from EC2.
    #[arg(long, value_name = "[REGION=]FILE")]
    pub snapshot: Vec<String>,
    /// Regions to read (repeatable; else the region sgwarden runs in).
    #[arg(long)]
    pub region: Vec<String>,
    #[command(flatten)]
    pub aws: EndpointArgs,
}

/// Prints the policy; warnings (what the old tool meant that is now said differently) go to
/// stderr.
pub(super) fn run(c: ImportCommand, out: &mut dyn Write) -> Result<Outcome, CliError> {
    let imported = match c {
        ImportCommand::Ini(a) => {
            let name = a.file.display().to_string();
            let text = limits::read_text(&a.file, "ini file", limits::IMPORT_BYTES)
                .map_err(CliError::Input)?;
            import::ini::import(&name, &text)?
        }
        ImportCommand::Pysec(a) => {
            let files = import::pysec::read_paths(&a.paths)?;
            import::pysec::import(&files, &a.group, a.vpc.as_deref(), &a.region)?
        }
        ImportCommand::Current(a) => {
            let (inventory, source) = if a.snapshot.is_empty() {
                let regions = if a.region.is_empty() {
                    vec![local::running_region()]
                } else {
                    a.region.clone()
                };
                let inv = live_inventory(a.aws.endpoint_url.as_deref(), &regions)?;
                (inv, format!("EC2 ({})", regions.join(", ")))
            } else {
                let mut inv = local::read_snapshots(&a.snapshot).map_err(CliError::Input)?;
                if !a.region.is_empty() {
                    inv.groups.retain(|g| a.region.contains(&g.place.region));
                }
                (inv, a.snapshot.join(", "))
            };
            import::current::import(&inventory, &source)?
        }
    };
    for w in &imported.warnings {
        eprintln!("warning: {w}");
    }
    out.write_all(imported.yaml.as_bytes())?;
    Ok(Outcome::Clean)
}

#[cfg(not(feature = "aws"))]
fn live_inventory(_: Option<&str>, _: &[String]) -> Result<Inventory, CliError> {
    Err(CliError::NoAws(": pass --snapshot"))
}

/// Every group of the regions, read from EC2 (or the endpoint given).
#[cfg(feature = "aws")]
fn live_inventory(endpoint: Option<&str>, regions: &[String]) -> Result<Inventory, CliError> {
    use crate::aws::{ec2::SdkEc2, sdk_config};
    use crate::ports::Ec2;
    super::block_on(async {
        let sdk = sdk_config(None, endpoint).await;
        let ec2 = SdkEc2::new(&sdk);
        let mut all = Inventory::default();
        for region in regions {
            let inv = ec2
                .describe(&crate::place::Place::new("", region.as_str()), None)
                .await
                .map_err(|e| CliError::Aws(format!("cannot read the groups of {region}: {e}")))?;
            all.groups.extend(inv.groups);
            all.unreadable.extend(inv.unreadable);
        }
        Ok(all)
    })?
}
