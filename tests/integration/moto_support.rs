//! A local AWS for tests: moto's server from the project venv (`scripts/setup`), one per
//! test on a free loopback port, with its request recorder on, stopped by its PID.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ec2::config::Credentials;
use base64::Engine;

use crate::support::root;

pub struct Moto {
    pub url: String,
    child: Child,
    recording: PathBuf,
}

/// One recorded request: its `Action` (query protocols) and form parameters, or the
/// method and path for REST calls (S3).
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

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a free loopback port");
    l.local_addr().expect("local addr").port()
}

fn http(url_host: &str, method: &str, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(url_host).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "{method} {path} HTTP/1.1\r\nHost: {url_host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

impl Moto {
    /// Starts moto on a free loopback port and waits until it answers.
    pub fn start() -> Moto {
        let bin = root().join(".venv/bin/moto_server");
        assert!(
            bin.exists(),
            "moto is not installed at {}: run ./scripts/setup first",
            bin.display()
        );
        let port = free_port();
        let recording =
            std::env::temp_dir().join(format!("sgwarden-moto-{port}-{}.jsonl", std::process::id()));
        let _ = std::fs::remove_file(&recording);
        let log =
            std::fs::File::create(std::env::temp_dir().join(format!("sgwarden-moto-{port}.log")))
                .expect("moto log");
        let child = Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_ENABLE_RECORDING", "True")
            .env("MOTO_RECORDER_FILEPATH", &recording)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start moto_server");
        let host = format!("127.0.0.1:{port}");
        let started = Instant::now();
        while http(&host, "GET", "/moto-api/").is_none() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "moto did not start on {host}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto {
            url: format!("http://{host}"),
            child,
            recording,
        }
    }

    /// The SDK configuration of a test: this endpoint, dummy credentials, us-east-1.
    pub async fn sdk(&self) -> SdkConfig {
        // INVARIANT: tests only ever talk to loopback.
        assert!(self.url.starts_with("http://127.0.0.1:"));
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(&self.url)
            .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
            .load()
            .await
    }

    /// Forgets every request recorded so far.
    pub fn clear_recording(&self) {
        let _ = std::fs::write(&self.recording, "");
    }

    /// The requests recorded since the last clear.
    pub fn requests(&self) -> Vec<Recorded> {
        let text = std::fs::read_to_string(&self.recording).unwrap_or_default();
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("recording line");
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
                Recorded {
                    method: v["method"].as_str().unwrap_or("").to_string(),
                    action: params
                        .iter()
                        .find(|(k, _)| k == "Action")
                        .map(|(_, a)| a.clone()),
                    params,
                    path,
                    headers: v["headers"].clone(),
                }
            })
            .collect()
    }

    /// The actions of the recorded query-protocol calls (EC2, SNS, SQS), in order.
    pub fn actions(&self) -> Vec<String> {
        self.requests()
            .into_iter()
            .filter_map(|r| r.action)
            .collect()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        // Stopped by its own PID, never by name.
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.recording);
    }
}

/// The EC2 calls that write.
pub fn is_ec2_write(action: &str) -> bool {
    action.starts_with("Authorize")
        || action.starts_with("Revoke")
        || action.starts_with("UpdateSecurityGroupRuleDescriptions")
        || action == "ModifySecurityGroupRules"
}
