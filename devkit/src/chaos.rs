//! A fault-injecting HTTP proxy on loopback, between the SDK and the local AWS.
//!
//! Every request is forwarded to the upstream server, except that a fixed share of them
//! (the rate) meets a fault instead: EC2's `RequestLimitExceeded` (HTTP 503), an HTTP 500,
//! an HTTP 503, an answer held back for up to a second, or a connection reset (RST, by a
//! zero linger) either before the request is forwarded or after upstream has acted on it
//! (the answer is lost: the hardest case, since the write happened). Which occurrence of
//! which call meets which fault is decided by a seeded hash of the call's name and its
//! occurrence number, so a seed gives the same faults to the same sequence of calls; only
//! the order in which concurrent calls arrive can move a fault between two of them.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

use super::DevError;

/// What a request met.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fault {
    /// HTTP 503 `RequestLimitExceeded` (S3: `SlowDown`), before upstream sees the request.
    Throttle,
    /// HTTP 500 `InternalError`, before upstream sees the request.
    Internal,
    /// HTTP 503 `Unavailable`, before upstream sees the request.
    Unavailable,
    /// Forwarded, answered after 0.3 to 1 s.
    Slow,
    /// The connection is reset before the request is forwarded.
    ResetBefore,
    /// Forwarded and acted on, then the connection is reset instead of the answer.
    ResetAfter,
}

impl Fault {
    const ALL: [Fault; 6] = [
        Fault::Throttle,
        Fault::Internal,
        Fault::Unavailable,
        Fault::Slow,
        Fault::ResetBefore,
        Fault::ResetAfter,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Fault::Throttle => "throttled (RequestLimitExceeded)",
            Fault::Internal => "HTTP 500",
            Fault::Unavailable => "HTTP 503",
            Fault::Slow => "slow answer",
            Fault::ResetBefore => "reset before the call",
            Fault::ResetAfter => "reset after the call (answer lost)",
        }
    }
}

/// One request through the proxy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Passed {
    /// `ec2:AuthorizeSecurityGroupIngress`, `s3:GET /bucket/key`, …
    pub call: String,
    pub fault: Option<Fault>,
}

struct State {
    seed: u64,
    /// Faults per 1,000 requests.
    rate: AtomicU32,
    /// Faults only for calls whose name contains one of these (empty: every call).
    only: Mutex<Vec<String>>,
    /// The one fault every faulted call meets (else one chosen by the seed).
    kind: Mutex<Option<Fault>>,
    seen: Mutex<HashMap<String, u64>>,
    log: Mutex<Vec<Passed>>,
    upstream: String,
}

/// The proxy; stopped when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

/// splitmix64: a well-mixed hash step.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The call's name (the query protocol's `Action`, else the method and path), and whether
/// it speaks the query protocol (EC2, SNS) rather than REST (S3).
fn call_name(method: &str, path: &str, body: &[u8], auth: &str) -> (String, bool) {
    let service = auth
        .split("Credential=")
        .nth(1)
        .and_then(|c| c.split('/').nth(3))
        .unwrap_or("aws");
    let action = form_urlencoded::parse(body)
        .find(|(k, _)| k == "Action")
        .map(|(_, v)| v.into_owned());
    match action {
        Some(a) => (format!("{service}:{a}"), true),
        None => (
            format!(
                "{service}:{method} {}",
                path.split('?').next().unwrap_or(path)
            ),
            false,
        ),
    }
}

fn error_answer(status: StatusCode, code: &str, query_protocol: bool) -> Response<Full<Bytes>> {
    let body = if query_protocol {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code><Message>injected by the fault proxy</Message></Error></Errors><RequestID>fault</RequestID></Response>"
        )
    } else {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>injected by the fault proxy</Message></Error>"
        )
    };
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/xml"),
    );
    r
}

/// A fault as a JSON protocol answers it: throttling is HTTP 429
/// `TooManyRequestsException`, as Security Hub sends it.
fn json_error_answer(fault: Fault) -> Response<Full<Bytes>> {
    let (status, code) = match fault {
        Fault::Throttle => (StatusCode::TOO_MANY_REQUESTS, "TooManyRequestsException"),
        Fault::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "InternalException"),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailableException",
        ),
    };
    let body = format!("{{\"__type\":\"{code}\",\"Message\":\"injected by the fault proxy\"}}");
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = hyper::header::HeaderValue::from_str(code) {
        h.insert("x-amzn-errortype", v);
    }
    r
}

/// Why a connection is cut.
#[derive(Debug)]
struct Reset;

impl std::fmt::Display for Reset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection reset by the fault proxy")
    }
}

impl std::error::Error for Reset {}

async fn forward(
    upstream: &str,
    parts: hyper::http::request::Parts,
    body: Bytes,
) -> Result<Response<Full<Bytes>>, Reset> {
    let stream = TcpStream::connect(upstream).await.map_err(|_| Reset)?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|_| Reset)?;
    tokio::spawn(conn);
    let req = Request::from_parts(parts, Full::new(body));
    let answer = sender.send_request(req).await.map_err(|_| Reset)?;
    let (mut parts, body) = answer.into_parts();
    let bytes = body.collect().await.map_err(|_| Reset)?.to_bytes();
    // The body is re-framed with a length.
    parts.headers.remove("transfer-encoding");
    parts.headers.remove("content-length");
    Ok(Response::from_parts(parts, Full::new(bytes)))
}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Reset> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map_err(|_| Reset)?.to_bytes();
    let auth = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let (call, query_protocol) = call_name(parts.method.as_str(), &path, &body, &auth);
    // The JSON protocols read their errors from JSON: awsJson (SQS, …, which name their
    // operation in `X-Amz-Target`) and Security Hub's REST-JSON. (S3's bodies may be JSON
    // too, its errors never are.)
    let json = parts.headers.contains_key("x-amz-target") || call.starts_with("securityhub:");
    let n = {
        let mut seen = state
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = seen.entry(call.clone()).or_insert(0);
        *n += 1;
        *n
    };
    let roll = mix(state.seed ^ mix(fnv(&call) ^ mix(n)));
    let targeted = {
        let only = state
            .only
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        only.is_empty() || only.iter().any(|o| call.contains(o.as_str()))
    };
    let kind = *state
        .kind
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let fault = (targeted && roll % 1000 < u64::from(state.rate.load(Ordering::SeqCst)))
        .then(|| kind.unwrap_or(Fault::ALL[((roll >> 32) % Fault::ALL.len() as u64) as usize]));
    state
        .log
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(Passed {
            call: call.clone(),
            fault,
        });
    match fault {
        None => forward(&state.upstream, parts, body).await,
        Some(f @ (Fault::Throttle | Fault::Internal | Fault::Unavailable)) => {
            // (status, the query protocol's code, S3's code)
            let (status, query, rest) = match f {
                Fault::Throttle => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "RequestLimitExceeded",
                    "SlowDown",
                ),
                Fault::Internal => (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalError",
                    "InternalError",
                ),
                _ => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Unavailable",
                    "ServiceUnavailable",
                ),
            };
            if json {
                return Ok(json_error_answer(f));
            }
            let code = if query_protocol { query } else { rest };
            Ok(error_answer(status, code, query_protocol))
        }
        Some(Fault::Slow) => {
            tokio::time::sleep(Duration::from_millis(300 + (roll >> 40) % 700)).await;
            forward(&state.upstream, parts, body).await
        }
        Some(Fault::ResetBefore) => Err(Reset),
        Some(Fault::ResetAfter) => {
            forward(&state.upstream, parts, body).await?;
            Err(Reset)
        }
    }
}

impl FaultProxy {
    /// Starts the proxy in front of `upstream` (`host:port`) on a free loopback port, with
    /// `rate` of the requests (0.0 to 1.0) meeting a fault chosen by `seed`.
    pub async fn start(upstream: &str, seed: u64, rate: f64) -> Result<FaultProxy, DevError> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(DevError::io("bind the fault proxy"))?;
        let addr = listener
            .local_addr()
            .map_err(DevError::io("read the fault proxy's port"))?;
        let state = Arc::new(State {
            seed,
            rate: AtomicU32::new(per_mille(rate)),
            only: Mutex::new(Vec::new()),
            kind: Mutex::new(None),
            seen: Mutex::new(HashMap::new()),
            log: Mutex::new(Vec::new()),
            upstream: upstream.to_string(),
        });
        let shared = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                // A close by the proxy is then a reset (RST), not an orderly FIN.
                let _ = stream.set_zero_linger();
                let state = shared.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| handle(state.clone(), req));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(FaultProxy { addr, state, task })
    }

    /// `http://127.0.0.1:PORT`, for `AWS_ENDPOINT_URL`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Changes the share of requests that meet a fault (0.0 to 1.0).
    pub fn set_rate(&self, rate: f64) {
        self.state.rate.store(per_mille(rate), Ordering::SeqCst);
    }

    /// Injects faults only into calls whose name (`ec2:RevokeSecurityGroupIngress`)
    /// contains one of `parts`; empty: into every call.
    pub fn only(&self, parts: &[&str]) {
        *self
            .state
            .only
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            parts.iter().map(|p| p.to_string()).collect();
    }

    /// Makes every faulted call meet `fault` (`None`: one chosen by the seed).
    pub fn kind(&self, fault: Option<Fault>) {
        *self
            .state
            .kind
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = fault;
    }

    /// Every request so far, in arrival order.
    pub fn log(&self) -> Vec<Passed> {
        self.state
            .log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// SDK configuration that sends every client through the proxy (dummy credentials).
    pub async fn sdk(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(self.url())
            .credentials_provider(aws_sdk_ec2::config::Credentials::new(
                "testing",
                "testing",
                None,
                None,
                "fault-proxy",
            ))
            .load()
            .await
    }
}

fn per_mille(rate: f64) -> u32 {
    (rate.clamp(0.0, 1.0) * 1000.0).round() as u32
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_named_by_service_and_action() {
        let auth = "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/ec2/aws4_request, SignedHeaders=host";
        assert_eq!(
            call_name(
                "POST",
                "/",
                b"Action=DescribeSecurityGroups&Version=2016-11-15",
                auth
            ),
            ("ec2:DescribeSecurityGroups".to_string(), true)
        );
        let s3 = auth.replace("/ec2/", "/s3/");
        assert_eq!(
            call_name("GET", "/policy/p.yaml?x-id=GetObject", b"", &s3),
            ("s3:GET /policy/p.yaml".to_string(), false)
        );
    }

    #[test]
    fn the_same_seed_gives_the_same_faults_and_the_rate_holds() {
        let decide = |seed: u64, n: u64| {
            let roll = mix(seed ^ mix(fnv("ec2:RevokeSecurityGroupIngress") ^ mix(n)));
            (roll % 1000 < 200).then_some((roll >> 32) % 6)
        };
        let a: Vec<_> = (1..=1000).map(|n| decide(7, n)).collect();
        let b: Vec<_> = (1..=1000).map(|n| decide(7, n)).collect();
        let c: Vec<_> = (1..=1000).map(|n| decide(8, n)).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        let faults = a.iter().flatten().count();
        assert!(
            (150..=250).contains(&faults),
            "{faults} faults in 1,000 at 20 %"
        );
        // Every kind occurs.
        for k in 0..6 {
            assert!(a.iter().flatten().any(|x| *x == k), "kind {k} never chosen");
        }
    }
}
