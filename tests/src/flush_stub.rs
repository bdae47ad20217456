//! A stand-in for API Gateway's two cache-flush endpoints, for the AWS SDK clients pointed at
//! it through their endpoint override: REST `FlushStageAuthorizersCache`
//! (`DELETE /restapis/{id}/stages/{stage}/cache/authorizers`, 202) and HTTP API
//! `ResetAuthorizersCache` (`DELETE /v2/apis/{id}/stages/{stage}/cache/authorizers`, 204).
//!
//! It records every call it receives and can answer the first N with a 503, so a test sees the
//! SDK's retries and a flush that never succeeds.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

#[derive(Default)]
struct Shared {
    /// `METHOD path` of each call, in order (the path as sent, percent-encoding included).
    calls: Mutex<Vec<String>>,
    /// Calls still to be answered 503.
    failing: AtomicUsize,
}

pub struct FlushStub {
    pub url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl FlushStub {
    /// A stub whose first `failures` calls get a 503 (`usize::MAX`: every call).
    pub async fn start(failures: usize) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free loopback port");
        let url = format!("http://{}", listener.local_addr().expect("bound"));
        let shared = Arc::new(Shared { failing: AtomicUsize::new(failures), ..Shared::default() });
        let serving = Arc::clone(&shared);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let shared = Arc::clone(&serving);
                tokio::spawn(async move {
                    let service = service_fn(move |request| answer(Arc::clone(&shared), request));
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
        });
        Self { url, shared, task }
    }

    /// Every call so far, as `METHOD path`.
    pub fn calls(&self) -> Vec<String> {
        self.shared.calls.lock().expect("not poisoned").clone()
    }

    /// Forgets the calls so far.
    pub fn clear(&self) {
        self.shared.calls.lock().expect("not poisoned").clear();
    }
}

impl Drop for FlushStub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(
    shared: Arc<Shared>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let call = format!("{} {}", request.method(), request.uri().path());
    shared.calls.lock().expect("not poisoned").push(call);
    let failing = shared.failing.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| match n {
        0 => None,
        usize::MAX => Some(usize::MAX),
        n => Some(n - 1),
    });
    let status = if failing.is_ok() {
        StatusCode::SERVICE_UNAVAILABLE
    } else if request.uri().path().starts_with("/v2/") {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::ACCEPTED
    };
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    Ok(response)
}
