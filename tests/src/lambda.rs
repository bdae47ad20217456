//! A function's Lambda bootstrap as a real process, fed events through a stub of the Lambda
//! Runtime API (the HTTP interface a custom runtime polls for events and posts answers to).
//!
//! So a test sees what Lambda would: the answer or the error (`{errorType, errorMessage}`, the
//! `Diagnostic`) the function posts for each event, including what `lambda_runtime` itself
//! does with an event the handler's input type cannot read, and everything the process writes
//! to stdout and stderr, which go to files of the run's log folder ([`crate::leaks`]).

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::process::Command;
use tokio::sync::Notify;

const PREFIX: &str = "/2018-06-01/runtime/invocation/";

/// What the function posted for one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `POST …/response`: the answer's body.
    Response(String),
    /// `POST …/error`: the error's body, `{"errorType": …, "errorMessage": …}`.
    Error(String),
}

impl Outcome {
    /// The body posted, answer or error.
    pub fn body(&self) -> &str {
        match self {
            Self::Response(body) | Self::Error(body) => body,
        }
    }
}

/// A workspace binary of the debug build: `NICO_BIN_DIR/<name>`, or `target/debug/<name>`.
pub fn binary(name: &str) -> PathBuf {
    let dir = std::env::var_os("NICO_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/debug")));
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build -p {name}`, or run ./scripts/test, which does",
        path.display()
    );
    path
}

#[derive(Default)]
struct State {
    queue: Mutex<VecDeque<(String, Bytes)>>,
    outcomes: Mutex<HashMap<String, Outcome>>,
    /// What the function posted to `/runtime/init/error`, if it could not start.
    init_error: Mutex<Option<String>>,
    posted: Notify,
}

/// Starts `binary` with `env` against a stub Runtime API, hands it `events` one at a time, and
/// returns what it posted for each, in order. The process is killed at the end.
pub async fn invoke(binary: PathBuf, env: &[(&str, &str)], events: &[Vec<u8>]) -> Vec<Outcome> {
    crate::leaks::install();
    let state = Arc::new(State::default());
    let ids: Vec<String> = (0..events.len()).map(|i| format!("request-{i:04}")).collect();
    state
        .queue
        .lock()
        .unwrap()
        .extend(ids.iter().cloned().zip(events.iter().map(|e| Bytes::from(e.clone()))));

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server_state = Arc::clone(&state);
    let server = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let state = Arc::clone(&server_state);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let state = Arc::clone(&state);
                    async move { Ok::<_, std::convert::Infallible>(answer(&state, request).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });

    let name = binary.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let (_, stdout) = crate::leaks::log_file(&format!("{name}-stdout"));
    let (_, stderr) = crate::leaks::log_file(&format!("{name}-stderr"));
    let mut command = Command::new(&binary);
    command
        .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", &name)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::from(stdout))
        .stderr(Stdio::from(stderr))
        .kill_on_drop(true);
    let mut child = command.spawn().unwrap_or_else(|e| panic!("{}: {e}", binary.display()));

    let all_posted = async {
        loop {
            let posted = state.posted.notified();
            if state.outcomes.lock().unwrap().len() == ids.len() || state.init_error.lock().unwrap().is_some()
            {
                return;
            }
            posted.await;
        }
    };
    let finished = tokio::time::timeout(Duration::from_secs(60), all_posted).await;
    child.kill().await.ok();
    server.abort();
    if let Some(error) = state.init_error.lock().unwrap().take() {
        panic!("{name} could not start: {error}");
    }
    assert!(finished.is_ok(), "{name} did not answer every event within 60 s");
    let mut outcomes = state.outcomes.lock().unwrap();
    ids.iter().map(|id| outcomes.remove(id).expect("an outcome per event")).collect()
}

async fn answer(state: &State, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
    let body = request.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let text = String::from_utf8_lossy(&body).into_owned();
    match (method, path.strip_prefix(PREFIX)) {
        (Method::GET, Some("next")) => loop {
            let next = state.queue.lock().unwrap().pop_front();
            match next {
                Some((id, event)) => {
                    let deadline = chrono::Utc::now().timestamp_millis() + 30_000;
                    return Response::builder()
                        .header("content-type", "application/json")
                        .header("lambda-runtime-aws-request-id", &id)
                        .header("lambda-runtime-deadline-ms", deadline.to_string())
                        .header(
                            "lambda-runtime-invoked-function-arn",
                            "arn:aws:lambda:us-east-1:123456789012:function:under-test",
                        )
                        .header("lambda-runtime-trace-id", "Root=1-00000000-000000000000000000000000")
                        .body(Full::new(event))
                        .unwrap();
                }
                // As Lambda does, hold the poll until there is an event; the process is killed
                // once every event has its outcome.
                None => tokio::time::sleep(Duration::from_secs(3600)).await,
            }
        },
        (Method::POST, Some(rest)) => {
            let outcome = match rest.rsplit_once('/') {
                Some((id, "response")) => Some((id.to_owned(), Outcome::Response(text))),
                Some((id, "error")) => Some((id.to_owned(), Outcome::Error(text))),
                _ => None,
            };
            if let Some((id, outcome)) = outcome {
                state.outcomes.lock().unwrap().insert(id, outcome);
                state.posted.notify_waiters();
            }
            status(StatusCode::ACCEPTED)
        }
        _ => {
            // `POST /2018-06-01/runtime/init/error`: the function could not start.
            *state.init_error.lock().unwrap() = Some(format!("{path}: {text}"));
            state.posted.notify_waiters();
            status(StatusCode::ACCEPTED)
        }
    }
}

fn status(code: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(b"{}")));
    *response.status_mut() = code;
    response
}
