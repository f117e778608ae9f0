//! Bursts of edits, as Lambda sees them when many console or Terraform edits land at once:
//! one `sgwarden invoke --event FILE` process per event, all started together and sharing
//! `SGWARDEN_STATE`, as Lambda scales out to one invocation per event. Used by the burst
//! tests and the burst benchmark.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use serde_json::Value;

use crate::DevError;
use crate::estate;
use crate::moto::Moto;

/// Where the burst's policy and revert budget live.
pub const POLICY: &str = "s3://policy/sgwarden/policy.yaml";
/// The bucket of the revert budget (`SGWARDEN_STATE` is under it).
pub const STATE_BUCKET: &str = "state";

/// The edit every event reports and every run reverts.
pub const OPENED: &str = "tcp/22 from 0.0.0.0/0";

/// `n` enforce groups (`g000`, `g001`, …) in one VPC, each holding what the policy wants
/// (`tcp/443 from 10.0.0.0/8`), a revert budget of `budget` per hour, the policy in S3 and
/// the state bucket. Returns the group ids.
pub async fn seed(
    moto: &Moto,
    sdk: &SdkConfig,
    n: usize,
    budget: u32,
) -> Result<Vec<String>, DevError> {
    let ec2 = aws_sdk_ec2::Client::new(sdk);
    let vpc = estate::create_vpc(&ec2, "10.0.0.0/16").await?;
    let mut policy = format!(
        "version: 1\nsettings: {{regions: [us-east-1], default_mode: enforce, notify: drift, \
         max_changes_per_run: 1000, flap_limit: {{reverts: {budget}, per: 1h}}}}\ngroups:\n"
    );
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let name = format!("g{i:03}");
        let id = estate::create_group(&ec2, &vpc, &name, &name).await?;
        estate::authorize(&ec2, &id, &["tcp/443 from 10.0.0.0/8"]).await?;
        policy.push_str(&format!(
            "  {name}: {{ingress: ['tcp/443 from 10.0.0.0/8']}}\n"
        ));
        ids.push(id);
    }
    estate::versioned_bucket(sdk, "policy").await?;
    estate::put_object(sdk, "policy", "sgwarden/policy.yaml", &policy).await?;
    estate::versioned_bucket(sdk, STATE_BUCKET).await?;
    moto.clear_recording();
    Ok(ids)
}

/// Opens [`OPENED`] on each group, as the console would.
pub async fn open(sdk: &SdkConfig, groups: &[String]) -> Result<(), DevError> {
    let ec2 = aws_sdk_ec2::Client::new(sdk);
    for g in groups {
        estate::authorize(&ec2, g, &[OPENED]).await?;
    }
    Ok(())
}

/// One invocation's end.
#[derive(Debug)]
pub struct Invocation {
    pub code: Option<i32>,
    /// The JSON report it printed (`--format json`), when it printed one.
    pub report: Option<Value>,
    pub stderr: String,
}

impl Invocation {
    /// Whether it failed closed because the revert budget could not be kept.
    pub fn failed_closed(&self) -> bool {
        self.stderr.contains("budget")
            || self.report.as_ref().is_some_and(|r| {
                r["errors"]
                    .as_array()
                    .is_some_and(|e| e.iter().any(|e| e["stage"] == "budget"))
            })
    }

    /// Whether it revoked a rule (its report counts a revoke done).
    pub fn reverted(&self) -> bool {
        self.report
            .as_ref()
            .is_some_and(|r| r["summary"]["revoked"].as_u64().unwrap_or(0) > 0)
    }

    /// Whether it held its group back as flapping.
    pub fn flapping(&self) -> bool {
        self.report
            .as_ref()
            .is_some_and(|r| r["summary"]["groups_flapping"].as_u64().unwrap_or(0) > 0)
    }
}

/// What a burst did.
#[derive(Debug)]
pub struct Burst {
    pub invocations: Vec<Invocation>,
    /// From the first start to the last exit.
    pub wall: Duration,
    /// Requests to the state bucket (reads and writes of the revert budget).
    pub state_calls: usize,
}

/// Runs one `sgwarden invoke` process per event, all at once, with `state` as
/// `SGWARDEN_STATE`, and waits for every one. `sgwarden` is the binary, `dir` a scratch
/// directory for the event files.
pub fn run(
    moto: &Moto,
    sgwarden: &Path,
    dir: &Path,
    state: &str,
    events: &[Value],
) -> Result<Burst, DevError> {
    std::fs::create_dir_all(dir).map_err(DevError::io(dir.display().to_string()))?;
    let files: Vec<PathBuf> = events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let f = dir.join(format!("event-{i}.json"));
            std::fs::write(&f, e.to_string())
                .map(|()| f.clone())
                .map_err(DevError::io(f.display().to_string()))
        })
        .collect::<Result<_, _>>()?;
    moto.clear_recording();
    let start = Instant::now();
    let children = files
        .iter()
        .map(|f| {
            Command::new(sgwarden)
                .args(["invoke", "--format", "json", "--event"])
                .arg(f)
                .envs(moto.env())
                .env("SGWARDEN_POLICY", POLICY)
                .env("SGWARDEN_STATE", state)
                .env_remove("SGWARDEN_TOPIC_ARN")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(DevError::io("start sgwarden invoke"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut invocations = Vec::with_capacity(children.len());
    for child in children {
        let out = child
            .wait_with_output()
            .map_err(DevError::io("wait for sgwarden invoke"))?;
        invocations.push(Invocation {
            code: out.status.code(),
            report: serde_json::from_slice(&out.stdout).ok(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    let wall = start.elapsed();
    let bucket = format!("/{STATE_BUCKET}/");
    let state_calls = moto
        .requests()
        .iter()
        .filter(|r| r.path.starts_with(&bucket))
        .count();
    Ok(Burst {
        invocations,
        wall,
        state_calls,
    })
}
