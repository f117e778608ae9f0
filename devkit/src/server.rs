//! An HTTP/1.1 server on a free loopback port, for the local endpoints of the devkit (the
//! Lambda runtime API, the scripted EC2). Stopped when dropped.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use super::DevError;

pub(crate) struct LoopbackServer {
    pub(crate) addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl LoopbackServer {
    /// Binds `127.0.0.1:0` and answers every request with `handle`, on tasks of the
    /// current tokio runtime. `what` names the server in errors.
    pub(crate) async fn start<H, F>(what: &str, handle: H) -> Result<LoopbackServer, DevError>
    where
        H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
        F: Future<Output = Response<Full<Bytes>>> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(DevError::io(format!("bind {what}")))?;
        let addr = listener
            .local_addr()
            .map_err(DevError::io(format!("read the port of {what}")))?;
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let handle = handle.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let answer = handle(req);
                        async move { Ok::<_, Infallible>(answer.await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(LoopbackServer { addr, task })
    }
}

impl Drop for LoopbackServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
