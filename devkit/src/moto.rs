//! moto's server: started from the project venv (`scripts/setup`) on a free loopback port
//! with its request recorder on, and stopped by its PID when dropped.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ec2::config::Credentials;
use base64::Engine;

use super::DevError;

/// A running moto server.
pub struct Moto {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    child: Child,
    recording: PathBuf,
    log: PathBuf,
}

/// One recorded request: its `Action` (query protocols) and form parameters, or the method
/// and path for REST calls (S3).
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub action: Option<String>,
    pub params: Vec<(String, String)>,
    pub headers: serde_json::Value,
}

impl Recorded {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A free TCP port on loopback (bound, read, released).
pub fn free_port() -> Result<u16, DevError> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(DevError::io("bind a loopback port"))?;
    Ok(l.local_addr()
        .map_err(DevError::io("read the bound port"))?
        .port())
}

/// One HTTP/1.1 request (`Connection: close`) with extra header lines and a body; the raw
/// answer, read to the end.
fn http(
    host: &str,
    method: &str,
    path: &str,
    headers: &str,
    body: &str,
    timeout: Duration,
) -> std::io::Result<Vec<u8>> {
    let mut s = TcpStream::connect(host)?;
    s.set_read_timeout(Some(timeout))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\n{headers}Content-Length: {len}\r\nConnection: close\r\n\r\n{body}",
        len = body.len()
    )?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    Ok(out)
}

/// A moto administration call (no body); the answer, or `None` when nothing answers.
fn admin(host: &str, method: &str, path: &str) -> Option<String> {
    let answer = http(host, method, path, "", "", Duration::from_secs(10)).ok()?;
    Some(String::from_utf8_lossy(&answer).into_owned())
}

impl Moto {
    /// Starts `VENV/bin/moto_server` on a free loopback port and waits until it answers.
    pub fn start(venv: &Path) -> Result<Moto, DevError> {
        let bin = venv.join("bin/moto_server");
        if !bin.exists() {
            return Err(DevError::Setup(format!(
                "moto is not installed at {} (help: run ./scripts/setup)",
                bin.display()
            )));
        }
        let port = free_port()?;
        let tag = format!("sgwarden-moto-{port}-{}", std::process::id());
        let recording = std::env::temp_dir().join(format!("{tag}.jsonl"));
        let log = std::env::temp_dir().join(format!("{tag}.log"));
        let _ = std::fs::remove_file(&recording);
        let log_file = std::fs::File::create(&log).map_err(DevError::io("create moto's log"))?;
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_ENABLE_RECORDING", "True")
            // No AMI catalogue to load: a faster start, and sgwarden reads no images.
            .env("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
            .env("MOTO_RECORDER_FILEPATH", &recording)
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .map_err(DevError::io(format!("start {}", bin.display())))?;
        let host = format!("127.0.0.1:{port}");
        let mut moto = Moto {
            url: format!("http://{host}"),
            child,
            recording,
            log,
        };
        let started = Instant::now();
        while admin(&host, "GET", "/moto-api/").is_none() {
            if let Ok(Some(status)) = moto.child.try_wait() {
                return Err(DevError::Setup(format!(
                    "moto exited with {status} before answering (its log: {})",
                    moto.log.display()
                )));
            }
            if started.elapsed() > Duration::from_secs(60) {
                return Err(DevError::Timeout(format!(
                    "moto did not answer on {host} within 60 s"
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(moto)
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> &str {
        self.url.trim_start_matches("http://")
    }

    /// SDK configuration for this server: its endpoint, dummy credentials, `region`.
    pub async fn sdk_in(&self, region: &str) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(region.to_string()))
            .endpoint_url(&self.url)
            .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
            .load()
            .await
    }

    /// SDK configuration for this server in us-east-1.
    pub async fn sdk(&self) -> SdkConfig {
        self.sdk_in("us-east-1").await
    }

    /// Environment variables that point a child process (the CLI, the Lambda binary) at
    /// this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.url.clone()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ]
    }

    /// Session credentials in `account`, from `AssumeRole` with the default account's
    /// dummy credentials: moto lands every later call made with them in that account's own
    /// backend. Returned as SDK configuration and as a child process's environment.
    pub async fn account(
        &self,
        account: &str,
    ) -> Result<(SdkConfig, Vec<(&'static str, String)>), DevError> {
        let answer = aws_sdk_sts::Client::new(&self.sdk().await)
            .assume_role()
            .role_arn(format!("arn:aws:iam::{account}:role/sgwarden-function"))
            .role_session_name("sgwarden-function")
            .send()
            .await
            .map_err(DevError::aws("AssumeRole"))?;
        let c = answer
            .credentials()
            .ok_or_else(|| DevError::Setup("AssumeRole returned no credentials".into()))?;
        let sdk = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(&self.url)
            .credentials_provider(Credentials::new(
                c.access_key_id(),
                c.secret_access_key(),
                Some(c.session_token().to_string()),
                None,
                "moto-assumed",
            ))
            .load()
            .await;
        let mut env = self.env();
        for (k, v) in env.iter_mut() {
            match *k {
                "AWS_ACCESS_KEY_ID" => *v = c.access_key_id().to_string(),
                "AWS_SECRET_ACCESS_KEY" => *v = c.secret_access_key().to_string(),
                _ => {}
            }
        }
        env.push(("AWS_SESSION_TOKEN", c.session_token().to_string()));
        Ok((sdk, env))
    }

    /// Clears every resource (`POST /moto-api/reset`).
    pub fn reset(&self) -> Result<(), DevError> {
        match admin(self.host(), "POST", "/moto-api/reset") {
            Some(answer) if answer.starts_with("HTTP/1.1 200") => Ok(()),
            other => Err(DevError::Setup(format!(
                "moto did not reset: {}",
                other
                    .unwrap_or_default()
                    .lines()
                    .next()
                    .unwrap_or("no answer")
            ))),
        }
    }

    /// Forgets every request recorded so far.
    pub fn clear_recording(&self) {
        let _ = std::fs::write(&self.recording, "");
    }

    /// The requests recorded since the last clear.
    pub fn requests(&self) -> Vec<Recorded> {
        let text = std::fs::read_to_string(&self.recording).unwrap_or_default();
        text.lines().filter_map(recorded).collect()
    }

    /// The actions of the recorded query-protocol calls (EC2, SNS, SQS), in order.
    pub fn actions(&self) -> Vec<String> {
        self.requests()
            .into_iter()
            .filter_map(|r| r.action)
            .collect()
    }

    /// One query-protocol call over plain HTTP, no client library (the floor every client
    /// pays): the time to the last byte of the answer, and the answer's size. moto reads
    /// the service from the credential scope and does not check the signature.
    pub fn raw_query(&self, service: &str, body: &str) -> Result<(Duration, usize), DevError> {
        let started = Instant::now();
        let headers = format!(
            "Content-Type: application/x-www-form-urlencoded\r\n\
             Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0\r\n"
        );
        let out = http(
            self.host(),
            "POST",
            "/",
            &headers,
            body,
            Duration::from_secs(300),
        )
        .map_err(DevError::io(format!("a raw {service} call")))?;
        let elapsed = started.elapsed();
        if !out.starts_with(b"HTTP/1.1 200") && !out.starts_with(b"HTTP/1.0 200") {
            let head = String::from_utf8_lossy(&out[..out.len().min(200)]).into_owned();
            return Err(DevError::Setup(format!(
                "raw {service} call failed: {head}"
            )));
        }
        Ok((elapsed, out.len()))
    }

    /// CPU time (user + system) the server has used so far, from `/proc` (Linux).
    pub fn cpu_time(&self) -> Option<Duration> {
        super::process_cpu_time(self.pid())
    }
}

fn recorded(line: &str) -> Option<Recorded> {
    if line.trim().is_empty() {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    let body = v["body"].as_str().unwrap_or("");
    let body = if v["body_encoded"].as_bool() == Some(true) {
        String::from_utf8_lossy(
            &base64::engine::general_purpose::STANDARD
                .decode(body)
                .unwrap_or_default(),
        )
        .into_owned()
    } else {
        body.to_string()
    };
    let params: Vec<(String, String)> = form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let url = v["url"].as_str().unwrap_or("");
    let path = url
        .split_once("//")
        .map(|(_, r)| r)
        .and_then(|r| r.find('/').map(|i| r[i..].to_string()))
        .unwrap_or_default();
    Some(Recorded {
        method: v["method"].as_str().unwrap_or("").to_string(),
        action: params
            .iter()
            .find(|(k, _)| k == "Action")
            .map(|(_, a)| a.clone()),
        params,
        path,
        headers: v["headers"].clone(),
    })
}

impl Drop for Moto {
    fn drop(&mut self) {
        // Stopped by its own PID, never by name.
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.recording);
        let _ = std::fs::remove_file(&self.log);
    }
}

/// The EC2 calls that write.
pub fn is_ec2_write(action: &str) -> bool {
    action.starts_with("Authorize")
        || action.starts_with("Revoke")
        || action.starts_with("UpdateSecurityGroupRuleDescriptions")
        || action == "ModifySecurityGroupRules"
}
