//! The Lambda runtime API, served on loopback, so the real `sgwarden-lambda` binary runs
//! here exactly as it runs in AWS: it polls `GET /2018-06-01/runtime/invocation/next`,
//! runs the handler, and posts `…/response` or `…/error`.
//!
//! [`RuntimeApi::invoke`] queues one event and waits for the function's answer;
//! [`Function`] starts the binary pointed at the API and stops it by PID when dropped.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use tokio::sync::{Notify, oneshot};

use super::DevError;
use super::server::LoopbackServer;

const PREFIX: &str = "/2018-06-01/runtime/";

/// What the function answered to one invocation.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub request_id: String,
    /// The response body, or the error the function posted (`errorType`, `errorMessage`).
    pub outcome: Result<serde_json::Value, FunctionError>,
    /// From queueing the event to receiving the answer.
    pub elapsed: Duration,
}

/// An error the function reported through `…/error` or `…/init/error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionError {
    pub error_type: String,
    pub message: String,
}

struct Pending {
    id: String,
    event: Bytes,
    reply: oneshot::Sender<Result<serde_json::Value, FunctionError>>,
}

struct State {
    /// `lambda-runtime-invoked-function-arn`: the account the function runs in.
    function_arn: String,
    queue: Mutex<VecDeque<Pending>>,
    in_flight: Mutex<HashMap<String, Pending>>,
    init_error: Mutex<Option<FunctionError>>,
    arrived: Notify,
    init_failed: Notify,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A runtime API on `127.0.0.1`, served by a task of the current tokio runtime.
pub struct RuntimeApi {
    state: Arc<State>,
    next_id: Mutex<u64>,
    server: LoopbackServer,
}

impl RuntimeApi {
    /// Binds a free loopback port and starts serving a function of moto's default account.
    pub async fn start() -> Result<RuntimeApi, DevError> {
        RuntimeApi::start_in("123456789012").await
    }

    /// Binds a free loopback port and starts serving a function of `account`: its
    /// invocations carry that account in the function's ARN.
    pub async fn start_in(account: &str) -> Result<RuntimeApi, DevError> {
        let state = Arc::new(State {
            function_arn: format!("arn:aws:lambda:us-east-1:{account}:function:sgwarden"),
            queue: Mutex::default(),
            in_flight: Mutex::default(),
            init_error: Mutex::default(),
            arrived: Notify::new(),
            init_failed: Notify::new(),
        });
        let served = state.clone();
        let server =
            LoopbackServer::start("the runtime API", move |req| route(served.clone(), req)).await?;
        Ok(RuntimeApi {
            state,
            next_id: Mutex::new(0),
            server,
        })
    }

    /// `127.0.0.1:PORT`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.server.addr.to_string()
    }

    /// Hands `event` to the function and waits (at most `timeout`) for its answer.
    pub async fn invoke(
        &self,
        event: &serde_json::Value,
        timeout: Duration,
    ) -> Result<Invocation, DevError> {
        let id = {
            let mut n = lock(&self.next_id);
            *n += 1;
            format!("sgwarden-local-{:04}", *n)
        };
        let (reply, answer) = oneshot::channel();
        let started = Instant::now();
        lock(&self.state.queue).push_back(Pending {
            id: id.clone(),
            event: Bytes::from(event.to_string()),
            reply,
        });
        self.state.arrived.notify_one();
        let init_failed = self.state.init_failed.notified();
        let outcome = tokio::select! {
            answer = tokio::time::timeout(timeout, answer) => match answer {
                Ok(Ok(outcome)) => outcome,
                Ok(Err(_)) => return Err(DevError::Setup("the runtime API dropped the invocation".into())),
                Err(_) => return Err(DevError::Timeout(format!(
                    "the function did not answer {id} within {} s", timeout.as_secs()
                ))),
            },
            () = init_failed => Err(lock(&self.state.init_error).clone().unwrap_or(FunctionError {
                error_type: "InitError".into(),
                message: "the function failed to start".into(),
            })),
        };
        Ok(Invocation {
            request_id: id,
            outcome,
            elapsed: started.elapsed(),
        })
    }

    /// The error the function posted to `/init/error`, if it did.
    pub fn init_error(&self) -> Option<FunctionError> {
        lock(&self.state.init_error).clone()
    }
}

fn reply(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r
}

fn function_error(body: &[u8]) -> FunctionError {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    FunctionError {
        error_type: v["errorType"].as_str().unwrap_or("Unknown").to_string(),
        message: v["errorMessage"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned()),
    }
}

async fn route(state: Arc<State>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    let Some(rest) = path.strip_prefix(PREFIX) else {
        return reply(StatusCode::NOT_FOUND, "unknown path");
    };
    let method = req.method().clone();
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return reply(StatusCode::BAD_REQUEST, "unreadable body"),
    };
    if method == Method::GET && rest == "invocation/next" {
        return next(&state).await;
    }
    if method != Method::POST {
        return reply(StatusCode::METHOD_NOT_ALLOWED, "");
    }
    if rest == "init/error" {
        *lock(&state.init_error) = Some(function_error(&body));
        state.init_failed.notify_waiters();
        return reply(StatusCode::ACCEPTED, "{}");
    }
    let Some((id, what)) = rest
        .strip_prefix("invocation/")
        .and_then(|r| r.rsplit_once('/'))
    else {
        return reply(StatusCode::NOT_FOUND, "unknown path");
    };
    let Some(pending) = lock(&state.in_flight).remove(id) else {
        return reply(StatusCode::BAD_REQUEST, "unknown request id");
    };
    let outcome = match what {
        "response" => Ok(serde_json::from_slice(&body)
            .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&body).into()))),
        "error" => Err(function_error(&body)),
        _ => return reply(StatusCode::NOT_FOUND, "unknown path"),
    };
    let _ = pending.reply.send(outcome);
    reply(StatusCode::ACCEPTED, "{}")
}

/// Long-polls for the next queued event and hands it out with the runtime's headers.
async fn next(state: &State) -> Response<Full<Bytes>> {
    loop {
        let arrived = state.arrived.notified();
        let popped = lock(&state.queue).pop_front();
        if let Some(p) = popped {
            let deadline = chrono::Utc::now().timestamp_millis() + 900_000;
            let mut r = reply(StatusCode::OK, p.event.clone());
            let h = r.headers_mut();
            let header = |v: &str| {
                v.parse()
                    .unwrap_or(hyper::header::HeaderValue::from_static(""))
            };
            h.insert("lambda-runtime-aws-request-id", header(&p.id));
            h.insert("lambda-runtime-deadline-ms", header(&deadline.to_string()));
            h.insert(
                "lambda-runtime-invoked-function-arn",
                header(&state.function_arn),
            );
            h.insert(
                "lambda-runtime-trace-id",
                header("Root=1-00000000-000000000000000000000000;Sampled=0"),
            );
            h.insert("content-type", header("application/json"));
            lock(&state.in_flight).insert(p.id.clone(), p);
            return r;
        }
        arrived.await;
    }
}

/// The function binary, started against a runtime API, stopped by its PID when dropped.
pub struct Function {
    child: Child,
}

impl Function {
    /// Starts `binary` with the Lambda environment (`AWS_LAMBDA_*`) for `api` plus `env`.
    /// Its stdout and stderr (the JSON log) go to `log` when given.
    pub fn start(
        binary: &Path,
        api: &RuntimeApi,
        env: &[(&str, String)],
        log: Option<&Path>,
    ) -> Result<Function, DevError> {
        let mut cmd = Command::new(binary);
        cmd.env("AWS_LAMBDA_RUNTIME_API", api.address())
            .env("AWS_LAMBDA_FUNCTION_NAME", "sgwarden")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/sgwarden")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "local")
            .stdin(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        match log {
            Some(path) => {
                let f = std::fs::File::create(path).map_err(DevError::io(format!(
                    "create the function log {}",
                    path.display()
                )))?;
                let f2 = f
                    .try_clone()
                    .map_err(DevError::io("share the function log"))?;
                cmd.stdout(f).stderr(f2);
            }
            None => {
                cmd.stdout(Stdio::null()).stderr(Stdio::null());
            }
        }
        let child = cmd
            .spawn()
            .map_err(DevError::io(format!("start {}", binary.display())))?;
        Ok(Function { child })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The SQS event Lambda's event source mapping would hand a function for these messages.
pub fn sqs_batch(messages: &[aws_sdk_sqs::types::Message]) -> serde_json::Value {
    let records: Vec<serde_json::Value> = messages
        .iter()
        .map(|m| {
            serde_json::json!({
                "messageId": m.message_id(),
                "receiptHandle": m.receipt_handle(),
                "body": m.body(),
                "attributes": {},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:sgwarden-work",
                "awsRegion": "us-east-1"
            })
        })
        .collect();
    serde_json::json!({ "Records": records })
}

/// What one delivery of a queue came to: how many messages it took, and the bodies of
/// those the function answered as failed (left on the queue for SQS to deliver again).
#[derive(Debug, Default)]
pub struct Pumped {
    pub received: usize,
    pub failed: Vec<String>,
}

impl RuntimeApi {
    /// One delivery of a work queue as Lambda's SQS event source mapping makes it (moto
    /// never invokes a function from a queue): up to ten messages received (waiting up
    /// to two seconds for some), handed to the function as one batch, and deleted unless
    /// its answer names them in `batchItemFailures`.
    pub async fn pump(
        &self,
        sdk: &aws_config::SdkConfig,
        queue_url: &str,
        timeout: Duration,
    ) -> Result<Pumped, DevError> {
        let sqs = aws_sdk_sqs::Client::new(sdk);
        let got = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(2)
            .send()
            .await
            .map_err(DevError::aws("ReceiveMessage"))?;
        let messages = got.messages();
        if messages.is_empty() {
            return Ok(Pumped::default());
        }
        let answer = self
            .invoke(&sqs_batch(messages), timeout)
            .await?
            .outcome
            .map_err(|e| DevError::Setup(format!("the batch failed: {e:?}")))?;
        let failed: Vec<&str> = answer["batchItemFailures"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|f| f["itemIdentifier"].as_str())
                    .collect()
            })
            .unwrap_or_default();
        let mut out = Pumped {
            received: messages.len(),
            failed: Vec::new(),
        };
        for m in messages {
            if m.message_id().is_some_and(|id| failed.contains(&id)) {
                out.failed.push(m.body().unwrap_or_default().to_string());
            } else if let Some(handle) = m.receipt_handle() {
                super::estate::delete_message(&sqs, queue_url, handle).await?;
            }
        }
        Ok(out)
    }
}
