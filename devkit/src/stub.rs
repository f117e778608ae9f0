//! A scripted HTTP server on loopback for what the local AWS does not model (pagination,
//! throttling, `UnknownIpPermissions`, `RevokedSecurityGroupRules`): the real SDK talks to
//! it over real HTTP, and every request it receives is kept for assertions.

use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};

use super::DevError;
use super::server::LoopbackServer;

/// One request the stub received.
#[derive(Debug, Clone)]
pub struct StubRequest {
    pub method: String,
    pub path: String,
    pub body: String,
}

impl StubRequest {
    /// The form parameters of a query-protocol body (EC2, SNS, SQS).
    pub fn params(&self) -> Vec<(String, String)> {
        form_urlencoded::parse(self.body.as_bytes())
            .into_owned()
            .collect()
    }

    pub fn param(&self, name: &str) -> Option<String> {
        self.params()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// The query protocol's `Action`.
    pub fn action(&self) -> String {
        self.param("Action").unwrap_or_default()
    }
}

/// The answer to one request.
#[derive(Debug, Clone)]
pub struct StubResponse {
    pub status: u16,
    pub body: String,
}

impl StubResponse {
    pub fn ok(body: impl Into<String>) -> Self {
        StubResponse {
            status: 200,
            body: body.into(),
        }
    }

    /// An EC2 error document (`Response/Errors/Error/Code`).
    pub fn ec2_error(status: u16, code: &str, message: &str) -> Self {
        StubResponse {
            status,
            body: format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>stub</RequestID></Response>"
            ),
        }
    }
}

type Script = dyn Fn(&StubRequest, usize) -> StubResponse + Send + Sync;

/// The stub: answers each request with `script(request, index)`, `index` counting from 0.
pub struct Stub {
    requests: Arc<Mutex<Vec<StubRequest>>>,
    server: LoopbackServer,
}

impl Stub {
    pub async fn start(
        script: impl Fn(&StubRequest, usize) -> StubResponse + Send + Sync + 'static,
    ) -> Result<Stub, DevError> {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let script: Arc<Script> = Arc::new(script);
        let seen = requests.clone();
        let server = LoopbackServer::start("the stub", move |req: Request<Incoming>| {
            let (seen, script) = (seen.clone(), script.clone());
            async move {
                let method = req.method().to_string();
                let path = req.uri().to_string();
                let body = req
                    .into_body()
                    .collect()
                    .await
                    .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
                    .unwrap_or_default();
                let request = StubRequest { method, path, body };
                let index = {
                    let mut all = seen.lock().unwrap_or_else(PoisonError::into_inner);
                    all.push(request.clone());
                    all.len() - 1
                };
                let answer = script(&request, index);
                let mut r = Response::new(Full::new(Bytes::from(answer.body)));
                *r.status_mut() = hyper::StatusCode::from_u16(answer.status)
                    .unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
                r.headers_mut().insert(
                    "content-type",
                    hyper::header::HeaderValue::from_static("text/xml;charset=UTF-8"),
                );
                r
            }
        })
        .await?;
        Ok(Stub { requests, server })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.server.addr)
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<StubRequest> {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}
