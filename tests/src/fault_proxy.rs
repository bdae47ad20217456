//! A TCP proxy between the functions and the DynamoDB-compatible server, failing on demand.
//!
//! It listens on a free loopback port and forwards each HTTP request to the upstream endpoint
//! (moto), unless its fault says otherwise: refuse connections, swallow requests, hold answers,
//! answer DynamoDB's server or throttling errors, or cut an answer short. A fault hits every
//! call or only the writes, every time or a set number of times, and can be switched at any
//! moment. Point a client at [`FaultProxy::endpoint`] with [`client_via`].
//!
//! Like DynamoDB and unlike moto, it answers a repeated `TransactWriteItems` carrying the
//! `ClientRequestToken` of one that succeeded with that first success, without applying it
//! again: the SDK gives every transaction such a token and retries with the same one, so a
//! retried transaction behaves here as it would on DynamoDB.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::retry::RetryPartition;
use nico_keys::store::dynamodb::{self, CallBudget};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// What the proxy does to a call the fault hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Nothing: forward the request and its answer unchanged.
    None,
    /// Nothing listens on the port: every connection is refused. A refused connection carries
    /// no call, so this fault always hits every call.
    Refuse,
    /// Accept the connection and read the request; never forward it, never answer.
    BlackHole,
    /// Forward the request, then hold its answer this long before sending it.
    Stall(Duration),
    /// Answer `500` with DynamoDB's `InternalServerError`, without forwarding.
    ServerError,
    /// Answer `400` with DynamoDB's `ThrottlingException`, without forwarding.
    Throttle,
    /// Forward the request; send the answer's status line, its headers and half its body,
    /// then close the connection.
    Truncate,
}

/// Which calls a fault hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Calls {
    All,
    /// `PutItem`, `UpdateItem`, `DeleteItem`, `TransactWriteItems`, `BatchWriteItem`; reads
    /// pass untouched.
    Writes,
}

impl Calls {
    fn hits(self, operation: &str) -> bool {
        match self {
            Self::All => true,
            Self::Writes => WRITES.contains(&operation),
        }
    }
}

const WRITES: [&str; 5] = ["PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"];

/// One call the proxy saw: its operation (`GetItem`, …), whether the fault hit it, and when
/// its request had arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub operation: String,
    pub faulted: bool,
    pub at: Instant,
}

/// A running proxy; it stops, with every connection it holds, when dropped.
pub struct FaultProxy {
    address: SocketAddr,
    shared: Arc<Shared>,
    setting: watch::Sender<Setting>,
    applied: watch::Receiver<u64>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Debug, Clone, Copy)]
struct Setting {
    generation: u64,
    fault: Fault,
}

struct Shared {
    upstream: String,
    state: Mutex<State>,
    /// Requests forwarded upstream whose answer has not come back yet.
    in_flight: AtomicUsize,
}

struct State {
    fault: Fault,
    calls: Calls,
    /// How many more calls the fault hits; `None`: every one.
    remaining: Option<usize>,
    seen: Vec<Seen>,
    /// Answers of successful transactions, by client request token.
    transactions: HashMap<String, Vec<u8>>,
}

impl FaultProxy {
    /// A proxy to `upstream` (`http://host:port`), forwarding everything until told otherwise.
    pub async fn start(upstream: &str) -> Self {
        let upstream = upstream.strip_prefix("http://").unwrap_or(upstream).trim_end_matches('/').to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free loopback port");
        let address = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            upstream,
            state: Mutex::new(State {
                fault: Fault::None,
                calls: Calls::All,
                remaining: None,
                seen: Vec::new(),
                transactions: HashMap::new(),
            }),
            in_flight: AtomicUsize::new(0),
        });
        let (setting, settings) = watch::channel(Setting { generation: 0, fault: Fault::None });
        let (acknowledge, applied) = watch::channel(0);
        let task = tokio::spawn(serve(listener, address, Arc::clone(&shared), settings, acknowledge));
        Self { address, shared, setting, applied, task }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    /// From now on, `fault` hits `calls`, every time. When this returns, the next connection
    /// already meets the new fault.
    pub async fn set(&self, fault: Fault, calls: Calls) {
        self.configure(fault, calls, None).await;
    }

    /// From now on, `fault` hits the next `times` calls among `calls`; then everything passes.
    pub async fn set_times(&self, fault: Fault, calls: Calls, times: usize) {
        self.configure(fault, calls, Some(times)).await;
    }

    async fn configure(&self, fault: Fault, calls: Calls, remaining: Option<usize>) {
        assert!(
            fault != Fault::Refuse || (calls == Calls::All && remaining.is_none()),
            "a refused connection carries no call: Refuse hits every call, until switched off"
        );
        {
            let mut state = self.shared.state.lock().unwrap();
            state.fault = fault;
            state.calls = calls;
            state.remaining = remaining;
        }
        let generation = self.setting.borrow().generation + 1;
        self.setting.send_replace(Setting { generation, fault });
        let mut applied = self.applied.clone();
        applied.wait_for(|done| *done >= generation).await.expect("the proxy is running");
    }

    /// Every call seen so far, in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.shared.state.lock().unwrap().seen.clone()
    }

    /// Waits until no forwarded request is still waiting for upstream, so what the proxy let
    /// through has all reached the server.
    pub async fn settled(&self) {
        while self.shared.in_flight.load(Ordering::SeqCst) > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The Lambda functions' own DynamoDB client for `budget` (configured from the environment as
/// in Lambda), pointed at `endpoint`.
///
/// It gets a retry token bucket of its own, as a fresh Lambda process has: the SDK shares one
/// bucket among every client of a process (per service and region), so the many clients of a
/// concurrent test would otherwise spend each other's retries.
pub fn client_via(budget: CallBudget, endpoint: &str) -> dynamodb::Client {
    let client = dynamodb::lambda_client(budget).expect("the test environment has AWS_REGION and keys");
    let config = client
        .config()
        .to_builder()
        .endpoint_url(endpoint)
        .retry_partition(RetryPartition::new(format!("fault-proxy {endpoint}")))
        .build();
    dynamodb::Client::from_conf(config)
}

/// Accepts connections while the fault lets anyone connect; closes the port while it refuses.
async fn serve(
    listener: TcpListener,
    address: SocketAddr,
    shared: Arc<Shared>,
    mut settings: watch::Receiver<Setting>,
    acknowledge: watch::Sender<u64>,
) {
    let mut listener = Some(listener);
    let mut connections = JoinSet::new();
    loop {
        let setting = *settings.borrow_and_update();
        if setting.fault == Fault::Refuse {
            listener = None;
        } else if listener.is_none() {
            listener = Some(TcpListener::bind(address).await.expect("the proxy's port is free again"));
        }
        acknowledge.send_replace(setting.generation);
        while connections.try_join_next().is_some() {}
        match &listener {
            Some(open) => tokio::select! {
                accepted = open.accept() => {
                    if let Ok((client, _)) = accepted {
                        connections.spawn(connection(client, Arc::clone(&shared)));
                    }
                }
                changed = settings.changed() => if changed.is_err() { return },
            },
            None => {
                if settings.changed().await.is_err() {
                    return;
                }
            }
        }
    }
}

/// One client connection: request after request, as long as both sides keep it open.
async fn connection(mut client: TcpStream, shared: Arc<Shared>) {
    let mut buffer = Vec::new();
    while let Ok(Some(request)) = read_request(&mut client, &mut buffer).await {
        let fault = shared.decide(&request.operation);
        let answer = match fault {
            Fault::Refuse => return,
            Fault::BlackHole => {
                // Hold the connection until the client gives up on it.
                let mut sink = [0u8; 1024];
                while matches!(client.read(&mut sink).await, Ok(n) if n > 0) {}
                return;
            }
            Fault::ServerError => dynamodb_error(
                "500 Internal Server Error",
                "InternalServerError",
                "Internal server error (injected by the test's fault proxy)",
            ),
            Fault::Throttle => dynamodb_error(
                "400 Bad Request",
                "ThrottlingException",
                "Rate of requests exceeds the allowed throughput (injected by the test's fault proxy).",
            ),
            Fault::None | Fault::Stall(_) | Fault::Truncate => match shared.forward(&request).await {
                Ok(answer) => answer,
                Err(_) => return,
            },
        };
        match fault {
            Fault::Stall(delay) => tokio::time::sleep(delay).await,
            Fault::Truncate => {
                let body_at = head_end(&answer).expect("an HTTP answer");
                let body = answer.len() - body_at;
                assert!(body > 0, "every DynamoDB answer has a body");
                let _ = client.write_all(&answer[..body_at + body / 2]).await;
                return;
            }
            _ => {}
        }
        if client.write_all(&answer).await.is_err() || closes(&answer) {
            return;
        }
    }
}

impl Shared {
    /// What to do with a call of `operation`; records it.
    fn decide(&self, operation: &str) -> Fault {
        let mut state = self.state.lock().unwrap();
        let hit = state.fault != Fault::None
            && state.calls.hits(operation)
            && state.remaining.is_none_or(|remaining| remaining > 0);
        if hit && let Some(remaining) = &mut state.remaining {
            *remaining -= 1;
        }
        state.seen.push(Seen { operation: operation.to_owned(), faulted: hit, at: Instant::now() });
        if hit { state.fault } else { Fault::None }
    }

    /// Sends `request` upstream on a connection of its own and returns the whole answer; a
    /// transaction already answered with success under the same token gets that answer again.
    async fn forward(&self, request: &Request) -> std::io::Result<Vec<u8>> {
        let token = request.transaction_token();
        if let Some(token) = &token
            && let Some(answer) = self.state.lock().unwrap().transactions.get(token)
        {
            return Ok(answer.clone());
        }
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        let answer = async {
            let mut upstream = TcpStream::connect(&self.upstream).await?;
            upstream.write_all(&request.closing()).await?;
            let mut answer = Vec::new();
            upstream.read_to_end(&mut answer).await?;
            Ok::<_, std::io::Error>(answer)
        }
        .await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        let answer = answer?;
        if let Some(token) = token
            && answer.starts_with(b"HTTP/1.1 200 ")
        {
            self.state.lock().unwrap().transactions.insert(token, answer.clone());
        }
        Ok(answer)
    }
}

/// An HTTP request as it came, with what the proxy needs to know about it.
struct Request {
    /// Request line and headers, without the blank line.
    head: String,
    body: Vec<u8>,
    /// The DynamoDB operation, from `X-Amz-Target: DynamoDB_20120810.<operation>`.
    operation: String,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }

    /// The request, asking the upstream server to close the connection after answering, so
    /// its answer ends where the connection does.
    fn closing(&self) -> Vec<u8> {
        let mut head: Vec<&str> =
            self.head.lines().filter(|line| !line.to_ascii_lowercase().starts_with("connection:")).collect();
        head.push("connection: close");
        let mut bytes = head.join("\r\n").into_bytes();
        bytes.extend_from_slice(b"\r\n\r\n");
        bytes.extend_from_slice(&self.body);
        bytes
    }

    /// A transaction's client request token, if this is one.
    fn transaction_token(&self) -> Option<String> {
        if self.operation != "TransactWriteItems" {
            return None;
        }
        let body: serde_json::Value = serde_json::from_slice(&self.body).ok()?;
        body["ClientRequestToken"].as_str().map(str::to_owned)
    }
}

/// Reads the next request from `stream` (bytes past it stay in `buffer`); `None` when the
/// client closed the connection between requests.
async fn read_request(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> std::io::Result<Option<Request>> {
    let mut chunk = [0u8; 8192];
    let head_len = loop {
        if let Some(end) = head_end(buffer) {
            break end;
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_len - 4]).into_owned();
    let mut request = Request { head, body: Vec::new(), operation: String::new() };
    if request.header("transfer-encoding").is_some() {
        return Err(std::io::Error::other("the proxy reads only requests with a Content-Length"));
    }
    let length = request.header("content-length").and_then(|v| v.parse::<usize>().ok()).unwrap_or(0);
    while buffer.len() < head_len + length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    request.body = buffer[head_len..head_len + length].to_vec();
    buffer.drain(..head_len + length);
    request.operation = request
        .header("x-amz-target")
        .and_then(|target| target.rsplit_once('.'))
        .map(|(_, operation)| operation.to_owned())
        .unwrap_or_default();
    Ok(Some(request))
}

/// Where the body starts: just past the blank line ending the head.
fn head_end(bytes: &[u8]) -> Option<usize> {
    bytes.windows(4).position(|w| w == b"\r\n\r\n").map(|at| at + 4)
}

/// Whether an answer ends its connection: it says so, or has no length to end it otherwise.
fn closes(answer: &[u8]) -> bool {
    let head =
        String::from_utf8_lossy(&answer[..head_end(answer).unwrap_or(answer.len())]).to_ascii_lowercase();
    let said = |name: &str| head.lines().any(|line| line.starts_with(name));
    said("connection: close") || !said("content-length:")
}

/// An error answer in DynamoDB's JSON protocol.
fn dynamodb_error(status: &str, kind: &str, message: &str) -> Vec<u8> {
    let body = serde_json::json!({
        "__type": format!("com.amazonaws.dynamodb.v20120810#{kind}"),
        "message": message,
    })
    .to_string();
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/x-amz-json-1.0\r\nx-amzn-requestid: fault-proxy\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}
