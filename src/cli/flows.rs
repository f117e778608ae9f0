//! `sgwarden flows`: the VPC flow-log digest of a group's interfaces (or one interface)
//! over a look-back window, read from CloudWatch Logs.

use std::io::Write;

use clap::Args;

use super::{CliError, EndpointArgs};
use crate::flows::FlowRecord;
use crate::policy;
use crate::report::{Outcome, render};

/// The longest `flows --look-back`: past this no flow log is kept anyway.
const MAX_LOOK_BACK_DAYS: u64 = 3_653;

#[derive(Debug, Args)]
pub struct FlowsArgs {
    /// The CloudWatch Logs group the VPC flow logs are delivered to.
    #[arg(long)]
    pub log_group: String,
    /// Every interface this security group is attached to.
    #[arg(long, required_unless_present = "eni", conflicts_with = "eni")]
    pub group: Option<String>,
    /// One network interface (`eni-…`).
    #[arg(long)]
    pub eni: Option<String>,
    /// How far back to look: `90s`, `30m`, `1h`, `1d`; at most 3653d (ten years, CloudWatch
    /// Logs' longest retention).
    #[arg(long, default_value = "1h")]
    pub look_back: String,
    /// The region (else the region sgwarden runs in).
    #[arg(long)]
    pub region: Option<String>,
    #[arg(long)]
    pub no_headers: bool,
    #[command(flatten)]
    pub aws: EndpointArgs,
}

/// Prints one row per (from, to, accepted): hits and bytes.
pub(super) fn run(a: &FlowsArgs, out: &mut dyn Write) -> Result<Outcome, CliError> {
    let seconds = policy::parse_window(&a.look_back)
        .filter(|s| (1..=MAX_LOOK_BACK_DAYS * 86_400).contains(s))
        .ok_or_else(|| {
            CliError::Usage(format!(
                "invalid --look-back `{}`: write a number and a unit from 1s to \
                 {MAX_LOOK_BACK_DAYS}d, e.g. 90s, 30m, 1h, 1d",
                a.look_back
            ))
        })?;
    let records = records(a, seconds)?;
    let mut rows = vec![
        ["HITS", "BYTES", "FROM", "TO", "ACCEPT/REJECT"]
            .map(String::from)
            .to_vec(),
    ];
    for r in crate::flows::digest(&records) {
        rows.push(vec![
            r.hits.to_string(),
            r.bytes.to_string(),
            r.src.to_string(),
            r.dst.to_string(),
            if r.accepted { "ACCEPT" } else { "REJECT" }.into(),
        ]);
    }
    out.write_all(render::columns(rows, !a.no_headers).as_bytes())?;
    Ok(Outcome::Clean)
}

#[cfg(not(feature = "aws"))]
fn records(_: &FlowsArgs, _: u64) -> Result<Vec<FlowRecord>, CliError> {
    Err(CliError::NoAws(""))
}

/// The records of the window on the interface asked for, or on every interface of the
/// group asked for.
#[cfg(feature = "aws")]
fn records(a: &FlowsArgs, seconds: u64) -> Result<Vec<FlowRecord>, CliError> {
    use chrono::{DateTime, Utc};

    use crate::aws::{ec2::SdkEc2, flows::SdkFlows, sdk_config};
    use crate::ports::{Ec2, FlowSource};
    let region = a
        .region
        .clone()
        .unwrap_or_else(crate::local::running_region);
    // The account of the caller's credentials.
    let place = crate::place::Place::new("", region.as_str());
    super::block_on(async {
        let sdk = sdk_config(None, a.aws.endpoint_url.as_deref()).await;
        let interfaces: Vec<String> = match (&a.eni, &a.group) {
            (Some(eni), _) => vec![eni.clone()],
            (None, Some(group)) => SdkEc2::new(&sdk)
                .interfaces(&place, std::slice::from_ref(group))
                .await
                .map_err(|e| CliError::Aws(format!("cannot list the interfaces of {group}: {e}")))?
                .into_iter()
                .map(|i| i.id)
                .collect(),
            (None, None) => Vec::new(),
        };
        if interfaces.is_empty() {
            return Err(CliError::Usage(format!(
                "{} is attached to no network interface in {region}: there are no flows to show",
                a.group.as_deref().unwrap_or("the group")
            )));
        }
        let end = Utc::now();
        let start = i64::try_from(seconds)
            .ok()
            .and_then(chrono::Duration::try_seconds)
            .and_then(|d| end.checked_sub_signed(d))
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        SdkFlows::new(&sdk)
            .records(&place, &a.log_group, start, end, &interfaces)
            .await
            .map_err(|e| CliError::Aws(e.to_string()))
    })?
}
