//! The demo: a small two-region estate with drift on a local AWS, the real Lambda binary run
//! through the Lambda runtime API with a scheduled event and then a CloudTrail event, and
//! what a user sees: the groups before and after, the report, and the e-mail and Slack
//! messages SNS was given.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use serde_json::Value;

use super::moto::Moto;
use super::runtime_api::{Function, RuntimeApi};
use super::{DevError, estate};
use sgwarden::aws::ec2::SdkEc2;
use sgwarden::ports::Ec2;

const BUCKET: &str = "sgwarden-policy";
const KEY: &str = "sgwarden/policy.yaml";
const WAIT: Duration = Duration::from_secs(120);

/// Where the demo finds what it runs.
pub struct DemoPaths {
    /// The project venv (moto).
    pub venv: PathBuf,
    /// The `sgwarden-lambda` binary.
    pub function: PathBuf,
    /// The example policy.
    pub policy: PathBuf,
    /// The CloudTrail sample the console edit is sent as.
    pub event: PathBuf,
}

/// The ids of the seeded estate that the story refers to.
struct Estate {
    prod_web: String,
    staging_web: String,
    /// The network interface staging web-prod is attached to (10.1.1.10).
    staging_eni: String,
    groups: usize,
}

/// The flow-log group of the demo (in both regions), named by the uploaded policy.
const FLOW_LOGS: &str = "vpc-flow-logs";

fn say(text: &str) {
    println!("\n\x1b[1m== {text}\x1b[0m");
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    {l}\n")).collect()
}

/// Runs the whole demo, printing as it goes.
pub async fn run(paths: &DemoPaths) -> Result<(), DevError> {
    let started = Instant::now();
    let moto = Moto::start(&paths.venv)?;
    println!(
        "Local AWS: moto on {} (pid {}), stopped by its pid at the end.",
        moto.url,
        moto.pid()
    );
    let sdk = moto.sdk().await;
    let eu = moto.sdk_in("eu-west-1").await;

    say("Seeding the estate");
    let (estate, policy) = seed(&sdk, &eu, &paths.policy).await?;
    estate::versioned_bucket(&sdk, BUCKET).await?;
    let version = estate::put_object(&sdk, BUCKET, KEY, &policy).await?;
    let topic = estate::topic_with_queue(&sdk, "sgwarden-reports").await?;
    println!(
        "{} security groups in 2 regions and 4 VPCs; policy examples/policy.yaml uploaded to \
         s3://{BUCKET}/{KEY} (version {version}) with this estate's VPC and prefix-list ids and \
         the flow-log group `{FLOW_LOGS}`;\nSNS topic {} with an SQS queue subscribed.",
        estate.groups, topic.arn
    );

    say("Groups before (atomic rules, as EC2 has them)");
    let before = groups(&sdk, &eu).await?;
    print!("{}", table(&before));

    let api = RuntimeApi::start().await?;
    let mut env = moto.env();
    env.push(("SGWARDEN_POLICY", format!("s3://{BUCKET}/{KEY}")));
    env.push(("SGWARDEN_TOPIC_ARN", topic.arn.clone()));
    env.push((
        "SGWARDEN_SELF_ROLE_ARN",
        "arn:aws:iam::123456789012:role/sgwarden-function-role".into(),
    ));
    env.push(("SGWARDEN_SECURITY_HUB", "true".into()));
    let log = std::env::temp_dir().join(format!("sgwarden-demo-{}.log", std::process::id()));
    let function = Function::start(&paths.function, &api, &env, Some(&log))?;
    println!(
        "\nFunction: {} (pid {}) polling the Lambda runtime API on {}; its JSON log: {}",
        paths.function.display(),
        function.pid(),
        api.address(),
        log.display()
    );

    say("1. The hourly sweep (EventBridge Scheduled Event)");
    let scheduled = serde_json::json!({
        "version": "0", "id": "d3m0-5ch3-du1e", "detail-type": "Scheduled Event",
        "source": "aws.events", "account": "123456789012", "time": chrono::Utc::now().to_rfc3339(),
        "region": "us-east-1",
        "resources": ["arn:aws:scheduler:us-east-1:123456789012:schedule/default/sgwarden-sweep"],
        "detail": {}
    });
    moto.clear_recording();
    invoke(&api, &scheduled).await?;
    show_published(&moto, &sdk, &topic.queue_url).await?;
    show_findings(&sdk, &eu).await?;
    show_metrics(&log)?;

    say("2. Someone opens SSH to the world on staging web-prod, in the console");
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    estate::authorize(&ec2, &estate.staging_web, &["tcp/22 from 0.0.0.0/0"]).await?;
    // While the port is open, scanners get in: the VPC flow logs record it.
    let now = chrono::Utc::now();
    let flows: Vec<String> = [
        ("192.0.2.44", 4410),
        ("192.0.2.44", 3120),
        ("192.0.2.77", 980),
    ]
    .iter()
    .map(|(src, bytes)| {
        estate::flow_record(
            &estate.staging_eni,
            src,
            "10.1.1.10",
            22,
            *bytes,
            "ACCEPT",
            now,
        )
    })
    .collect();
    estate::flow_logs(
        &sdk,
        FLOW_LOGS,
        &format!("{}-all", estate.staging_eni),
        &flows,
        now,
    )
    .await?;
    println!(
        "    AuthorizeSecurityGroupIngress {} tcp/22 from 0.0.0.0/0; the VPC flow logs record 3 \
         SSH connections from 2 outside addresses to its interface. CloudTrail delivers the event:",
        estate.staging_web
    );
    let sample: Value = serde_json::from_str(
        &std::fs::read_to_string(&paths.event)
            .map_err(DevError::io(format!("read {}", paths.event.display())))?,
    )
    .map_err(|e| DevError::Setup(format!("{}: {e}", paths.event.display())))?;
    let event = estate::event_for_group(&sample, &estate.staging_web);
    moto.clear_recording();
    invoke(&api, &event).await?;
    let writes: Vec<String> = moto
        .requests()
        .into_iter()
        .filter(|r| r.action.as_deref().is_some_and(super::moto::is_ec2_write))
        .map(|r| {
            format!(
                "{} {}",
                r.action.as_deref().unwrap_or_default(),
                r.param("GroupId").unwrap_or_default()
            )
        })
        .collect();
    println!("    EC2 writes of this run: {}", writes.join(", "));
    show_published(&moto, &sdk, &topic.queue_url).await?;

    say("Groups after: what changed since the start");
    print!("{}", changes(&before, &groups(&sdk, &eu).await?));
    let prod = SdkEc2::new(&sdk)
        .describe(
            &sgwarden::place::Place::new("", "us-east-1"),
            Some(std::slice::from_ref(&estate.prod_web)),
        )
        .await
        .map_err(|e| DevError::Setup(e.to_string()))?;
    let restored = prod.groups.first().is_some_and(|g| {
        g.ingress
            .iter()
            .any(|r| r.rule.to_string() == "tcp/443 from ::/0")
    });
    println!(
        "\nprod web-prod has its deleted `tcp/443 from ::/0` back: {}",
        if restored { "yes" } else { "NO" }
    );

    drop(function);
    let _ = std::fs::remove_file(&log);
    println!(
        "\nDone in {:.1} s. Stopped the function and moto (pid {}).",
        started.elapsed().as_secs_f64(),
        moto.pid()
    );
    Ok(())
}

/// The active sgwarden findings in Security Hub, both regions: what stays open.
async fn show_findings(sdk: &SdkConfig, eu: &SdkConfig) -> Result<(), DevError> {
    let mut lines = Vec::new();
    for conf in [sdk, eu] {
        let out = aws_sdk_securityhub::Client::new(conf)
            .get_findings()
            .max_results(100)
            .send()
            .await
            .map_err(DevError::aws("GetFindings"))?;
        for f in out.findings() {
            let id = f.id().unwrap_or_default();
            if !id.starts_with("sgwarden/")
                || f.record_state().map(|s| s.as_str()) != Some("ACTIVE")
            {
                continue;
            }
            let label = f
                .severity()
                .and_then(|s| s.label())
                .map_or("", |l| l.as_str());
            let rank = ["CRITICAL", "HIGH", "MEDIUM", "LOW"]
                .iter()
                .position(|l| *l == label)
                .unwrap_or(4);
            lines.push((
                rank,
                format!(
                    "{label:<8} {}\n             {id}",
                    f.title().unwrap_or_default()
                ),
            ));
        }
    }
    lines.sort();
    println!(
        "\n  --- Security Hub: {} active findings (what stays open after the sweep) ---",
        lines.len()
    );
    for (_, l) in &lines {
        println!("    {l}");
    }
    Ok(())
}

/// The metrics line of the last run, as CloudWatch reads it from the function's log.
fn show_metrics(log: &std::path::Path) -> Result<(), DevError> {
    let text =
        std::fs::read_to_string(log).map_err(DevError::io(format!("read {}", log.display())))?;
    let Some(line) = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .rfind(|v| v.get("_aws").is_some())
    else {
        println!("\n  --- CloudWatch metrics: no metrics line in the log ---");
        return Ok(());
    };
    let shown: Vec<String> = [
        "GroupsChecked",
        "GroupsDrifted",
        "GroupsViolating",
        "RulesAuthorized",
        "RulesRevoked",
        "WritesFailed",
        "Errors",
        "Duration",
    ]
    .iter()
    .map(|m| format!("{m}={}", line[*m]))
    .collect();
    println!(
        "\n  --- CloudWatch metrics (namespace sgwarden, Trigger={}, from the log's EMF line) ---\n    {}",
        line["Trigger"].as_str().unwrap_or_default(),
        shown.join(" ")
    );
    Ok(())
}

async fn invoke(api: &RuntimeApi, event: &Value) -> Result<(), DevError> {
    let inv = api.invoke(event, WAIT).await?;
    match &inv.outcome {
        Ok(summary) => println!(
            "    The function answered in {:.0} ms: {}",
            inv.elapsed.as_secs_f64() * 1000.0,
            summary
        ),
        Err(e) => println!(
            "    The function failed in {:.0} ms: {}: {}",
            inv.elapsed.as_secs_f64() * 1000.0,
            e.error_type,
            e.message
        ),
    }
    Ok(())
}

/// What SNS was given (the Publish moto recorded: subject, attributes, the e-mail and chat
/// variants) and what the SQS subscriber received (the JSON report).
async fn show_published(moto: &Moto, sdk: &SdkConfig, queue: &str) -> Result<(), DevError> {
    let Some(publish) = moto
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.action.as_deref() == Some("Publish"))
    else {
        println!("    (nothing published)");
        return Ok(());
    };
    let message: Value = serde_json::from_str(publish.param("Message").unwrap_or("{}"))
        .map_err(|e| DevError::Setup(format!("the published message is not JSON: {e}")))?;
    let mut attributes = Vec::new();
    for i in 1..=8 {
        if let (Some(k), Some(v)) = (
            publish.param(&format!("MessageAttributes.entry.{i}.Name")),
            publish.param(&format!("MessageAttributes.entry.{i}.Value.StringValue")),
        ) {
            attributes.push(format!("{k}={v}"));
        }
    }
    println!(
        "\n  SNS subject:    {}\n  SNS attributes: {}",
        publish.param("Subject").unwrap_or(""),
        attributes.join(" ")
    );
    println!("\n  --- e-mail (the `email` part) ---");
    print!("{}", indent(message["email"].as_str().unwrap_or("")));
    println!("\n  --- Slack, through AWS Chatbot (the `https` part) ---");
    let chat: Value = serde_json::from_str(message["https"].as_str().unwrap_or("{}"))
        .map_err(|e| DevError::Setup(format!("the chat part is not JSON: {e}")))?;
    print!("{}", indent(&slack(&chat)));
    let received = estate::receive(sdk, queue).await?;
    for (_, report) in &received {
        println!(
            "\n  --- JSON report received by the SQS subscriber ({} bytes) ---\n    trigger: {}\n    policy:  {}\n    summary: {}",
            report.to_string().len(),
            report["trigger"],
            report["policy"]["location"],
            report["summary"]
        );
    }
    Ok(())
}

/// A chat client's view of a Chatbot custom notification.
fn slack(chat: &Value) -> String {
    let c = &chat["content"];
    let mut out = format!(
        "┃ {}\n",
        c["title"].as_str().unwrap_or("").replace(":shield:", "🛡")
    );
    for l in c["description"].as_str().unwrap_or("").lines() {
        let _ = writeln!(out, "┃ {l}");
    }
    if let Some(steps) = c["nextSteps"].as_array().filter(|s| !s.is_empty()) {
        let _ = writeln!(out, "┃ Next steps:");
        for s in steps {
            let _ = writeln!(out, "┃  • {}", s.as_str().unwrap_or(""));
        }
    }
    out
}

/// One group as the demo shows it: a title line and its rules' canonical text, sorted.
type Shown = Vec<(String, Vec<String>)>;

/// Every group of both regions with its rules.
async fn groups(sdk: &SdkConfig, eu: &SdkConfig) -> Result<Shown, DevError> {
    let mut out = Vec::new();
    for (region, config) in [("us-east-1", sdk), ("eu-west-1", eu)] {
        let inv = SdkEc2::new(config)
            .describe(&sgwarden::place::Place::new("", region), None)
            .await
            .map_err(|e| DevError::Setup(e.to_string()))?;
        let mut groups = inv.groups;
        groups.sort_by(|a, b| (&a.vpc_id, &a.group_name).cmp(&(&b.vpc_id, &b.group_name)));
        for g in groups {
            let title = format!(
                "{region} {} {} ({})",
                g.vpc_id.as_deref().unwrap_or("-"),
                g.group_name,
                g.group_id
            );
            let mut rules: Vec<String> = g
                .ingress
                .iter()
                .chain(&g.egress)
                .map(|r| r.rule.to_string())
                .collect();
            rules.sort();
            out.push((title, rules));
        }
    }
    Ok(out)
}

fn table(groups: &Shown) -> String {
    let mut out = String::new();
    for (title, rules) in groups {
        let _ = writeln!(out, "  {title}");
        for r in rules {
            let _ = writeln!(out, "      {r}");
        }
    }
    out
}

/// The rules added (+) and removed (-) per group between two readings.
fn changes(before: &Shown, after: &Shown) -> String {
    let mut out = String::new();
    for (title, now) in after {
        let was = before
            .iter()
            .find(|(t, _)| t == title)
            .map(|(_, r)| r.as_slice())
            .unwrap_or_default();
        let added: Vec<&String> = now.iter().filter(|r| !was.contains(r)).collect();
        let removed: Vec<&String> = was.iter().filter(|r| !now.contains(r)).collect();
        if added.is_empty() && removed.is_empty() {
            continue;
        }
        let _ = writeln!(out, "  {title}");
        for r in removed {
            let _ = writeln!(out, "    - {r}");
        }
        for r in added {
            let _ = writeln!(out, "    + {r}");
        }
    }
    if out.is_empty() {
        out.push_str("  (nothing changed)\n");
    }
    out
}

/// The estate the example policy governs, with drift: a deleted wanted rule on prod
/// web-prod, EC2's default egress on db-prod (whose policy wants none), an expired
/// exception's rule on app-prod (add-only keeps it), RDP open on the audit-mode bastion, a
/// live exception on prod web-prod, and groups no policy entry names.
async fn seed(
    sdk: &SdkConfig,
    eu: &SdkConfig,
    policy: &Path,
) -> Result<(Estate, String), DevError> {
    let ec2 = aws_sdk_ec2::Client::new(sdk);
    let ec2_eu = aws_sdk_ec2::Client::new(eu);
    let prod = estate::create_vpc(&ec2, "10.0.0.0/16").await?;
    let staging = estate::create_vpc(&ec2, "10.1.0.0/16").await?;
    let eu_vpc = estate::create_vpc(&ec2_eu, "10.2.0.0/16").await?;
    let monitoring = ec2
        .create_managed_prefix_list()
        .prefix_list_name("monitoring")
        .max_entries(5)
        .address_family("IPv4")
        .send()
        .await
        .map_err(DevError::aws("CreateManagedPrefixList"))?
        .prefix_list()
        .and_then(|p| p.prefix_list_id())
        .map(str::to_string)
        .ok_or_else(|| DevError::Setup("CreateManagedPrefixList returned no id".into()))?;

    let ssh = [
        "tcp/22 from 203.0.113.0/24",
        "tcp/22 from 198.51.100.7/32",
        "tcp/22 from 10.8.0.0/16",
    ];
    let mut count = 0;
    let mut group = |client: &aws_sdk_ec2::Client, vpc: &str, name: &str| {
        count += 1;
        let (client, vpc, name) = (client.clone(), vpc.to_string(), name.to_string());
        async move { estate::create_group(&client, &vpc, &name, &format!("{name} tier")).await }
    };
    // us-east-1, prod VPC.
    let web = group(&ec2, &prod, "web-prod").await?;
    let app = group(&ec2, &prod, "app-prod").await?;
    let db = group(&ec2, &prod, "db-prod").await?;
    let bastion = group(&ec2, &prod, "bastion").await?;
    let ftp = group(&ec2, &prod, "legacy-ftp").await?;
    // us-east-1, staging VPC.
    let s_web = group(&ec2, &staging, "web-prod").await?;
    let s_app = group(&ec2, &staging, "app-prod").await?;
    let ci = group(&ec2, &staging, "ci-runners").await?;
    // eu-west-1.
    let e_web = group(&ec2_eu, &eu_vpc, "web-prod").await?;
    let e_app = group(&ec2_eu, &eu_vpc, "app-prod").await?;
    let batch = group(&ec2_eu, &eu_vpc, "batch").await?;

    let web_rules = |app: &str| -> Vec<String> {
        let mut r: Vec<String> = ssh.iter().map(|s| s.to_string()).collect();
        r.extend(
            [
                "tcp/80 from 0.0.0.0/0",
                "tcp/80 from ::/0",
                "tcp/443 from 0.0.0.0/0",
                "tcp/443 from ::/0",
                "icmp/3:4 from 0.0.0.0/0",
                "udp/53 to 10.0.0.2/32",
            ]
            .map(String::from),
        );
        r.push(format!("tcp/8080 to {app}"));
        r
    };
    let app_rules = |web: &str, me: &str| -> Vec<String> {
        let mut r: Vec<String> = ssh.iter().map(|s| s.to_string()).collect();
        r.push(format!("tcp/8080 from {web}"));
        r.push(format!("tcp/8080 from {me}"));
        r.push(format!("tcp/9100 from {monitoring}"));
        r
    };
    let drop_rule = |mut rules: Vec<String>, gone: &str| {
        rules.retain(|r| r != gone);
        rules
    };
    let seeded: Vec<(&aws_sdk_ec2::Client, &String, Vec<String>)> = vec![
        // Drift: the wanted `tcp/443 from ::/0` deleted; a live exception's rule present.
        (
            &ec2,
            &web,
            [
                drop_rule(web_rules(&app), "tcp/443 from ::/0"),
                vec!["tcp/8443 from 198.51.100.0/24".into()],
            ]
            .concat(),
        ),
        // Drift: a load-test rule whose exception expired (add-only reports, never revokes).
        (
            &ec2,
            &app,
            [
                app_rules(&web, &app),
                vec!["tcp/9000 from 10.9.0.0/16".into()],
            ]
            .concat(),
        ),
        // Clean ingress; EC2's default egress is drift (the policy says `egress: []`).
        (
            &ec2,
            &db,
            [
                ssh.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                vec![format!("tcp/5432 from {app}")],
            ]
            .concat(),
        ),
        // Drift in an audit group: reported, not changed; but RDP open to the world breaks
        // the enforce guardrail `world-high-risk-ports`, which revokes it whatever the mode.
        (
            &ec2,
            &bastion,
            vec![
                "tcp/22 from 203.0.113.0/24".into(),
                "tcp/22 from 198.51.100.7/32".into(),
                "tcp/3389 from 0.0.0.0/0".into(),
            ],
        ),
        // No entry names it: only the guardrail sees FTP open to the world, and revokes it.
        (&ec2, &ftp, vec!["tcp/21 from 0.0.0.0/0".into()]),
        (&ec2, &s_web, web_rules(&s_app)),
        (&ec2, &s_app, app_rules(&s_web, &s_app)),
        (&ec2, &ci, vec!["tcp/443 from 10.1.0.0/16".into()]),
        (&ec2_eu, &e_web, web_rules(&e_app)),
        (&ec2_eu, &e_app, app_rules(&e_web, &e_app)),
        (&ec2_eu, &batch, vec![]),
    ];
    for (client, id, rules) in &seeded {
        // Groups whose policy manages egress lose EC2's default rule, as a tidy estate would.
        let rules: Vec<&str> = rules.iter().map(String::as_str).collect();
        estate::authorize(client, id, &rules).await?;
    }
    for (client, id) in [(&ec2, &web), (&ec2, &s_web), (&ec2_eu, &e_web)] {
        revoke_default_egress(client, id).await?;
    }

    // Staging web-prod serves from one interface; both regions have a flow-log group
    // (the policy's settings.flow_logs), so revokes carry their change risk.
    let staging_eni = estate::interface(&ec2, &staging, "10.1.1.0/24", &s_web, "10.1.1.10").await?;
    let now = chrono::Utc::now();
    estate::flow_logs(sdk, FLOW_LOGS, "unused", &[], now).await?;
    estate::flow_logs(eu, FLOW_LOGS, "unused", &[], now).await?;

    let settings = "  notify: drift\n";
    let text = std::fs::read_to_string(policy)
        .map_err(DevError::io(format!("read {}", policy.display())))?;
    if !text.contains(settings) {
        return Err(DevError::Setup(format!(
            "{} has no `{}` line to add the demo's flow logs after",
            policy.display(),
            settings.trim()
        )));
    }
    let text = text
        .replace("vpc-0a1b2c3d4e5f60001", &prod)
        .replace("pl-0a1b2c3d4e5f60001", &monitoring)
        .replacen(
            settings,
            &format!("{settings}  flow_logs: {{log_group: {FLOW_LOGS}, look_back: 1h}}\n"),
            1,
        );
    // moto gives every VPC a `default` group, and each region a default VPC with one.
    let defaults = 3 + 2;
    Ok((
        Estate {
            prod_web: web,
            staging_web: s_web,
            staging_eni,
            groups: count + defaults,
        },
        text,
    ))
}

async fn revoke_default_egress(ec2: &aws_sdk_ec2::Client, group: &str) -> Result<(), DevError> {
    let all: sgwarden::rule::Rule = "all to 0.0.0.0/0"
        .parse()
        .map_err(|e| DevError::Setup(format!("the default egress rule: {e}")))?;
    let permission = sgwarden::aws::ec2::rule_permission(&all, None)
        .map_err(|e| DevError::Setup(e.to_string()))?;
    ec2.revoke_security_group_egress()
        .group_id(group)
        .ip_permissions(permission)
        .send()
        .await
        .map_err(DevError::aws("RevokeSecurityGroupEgress"))?;
    Ok(())
}
