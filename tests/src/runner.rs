//! The local runner as a real process on a free port, and a minimal HTTP client for it.
//!
//! Its stdout and stderr (its log) go to files of the run's log folder, scanned for keys with
//! every other log ([`crate::leaks`]); every key it hands out is recorded; and when a `Runner`
//! is dropped, no log of the run may hold one.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Where the runner's binary is: `NICO_LOCAL_BIN`, or the workspace's debug build.
fn binary() -> PathBuf {
    let path = std::env::var_os("NICO_LOCAL_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/debug/nico-local")));
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build -p nico-local`, or run ./scripts/test, which does",
        path.display()
    );
    path
}

/// The time a runner started with `--clock-file` reads: the test moves it, so expiry is tested
/// at the exact instant and never by sleeping.
pub struct TestClock {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl TestClock {
    /// A clock file holding the current time, to the millisecond.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("now");
        nico_keys::FileClock::set(&path, nico_keys::model::truncate_to_millis(chrono::Utc::now())).unwrap();
        Self { _dir: dir, path }
    }

    /// The runner's flag for this clock.
    pub fn args(&self) -> [&str; 2] {
        ["--clock-file", self.path.to_str().unwrap()]
    }

    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        nico_keys::Clock::now(&nico_keys::FileClock::new(&self.path))
    }

    pub fn advance(&self, by: chrono::TimeDelta) {
        nico_keys::FileClock::set(&self.path, self.now() + by).unwrap();
    }
}

impl Default for TestClock {
    fn default() -> Self {
        Self::new()
    }
}

/// Runs `nico-local` with `args` to its end (for what refuses to start) and returns its exit
/// code and standard error.
pub async fn run_to_end(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut command = Command::new(binary());
    command.args(args).stdin(Stdio::null()).kill_on_drop(true);
    for (name, value) in env {
        command.env(name, value);
    }
    let output = tokio::time::timeout(Duration::from_secs(30), command.output())
        .await
        .expect("nico-local ends in time")
        .expect("nico-local runs");
    (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
}

/// A running `nico-local`; killed when dropped, after checking that no log holds a key.
pub struct Runner {
    child: Child,
    pub base: String,
    /// The owner token it printed at start (empty when it checks another issuer's tokens).
    pub owner: String,
    data_dir: PathBuf,
    /// The data directory made for it when `args` named none, deleted with the runner.
    _temporary: Option<tempfile::TempDir>,
    env: Vec<(String, String)>,
}

impl Drop for Runner {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            crate::leaks::assert_clean();
        }
    }
}

/// An answer, as received.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    /// Names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON (`Null` when empty).
    pub fn json(&self) -> Value {
        if self.body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
        }
    }
}

impl Runner {
    /// Starts the runner with `args` (plus `--port 0` unless they name a port, and a fresh
    /// `--data-dir` unless they name one) and waits until it listens.
    pub async fn start(args: &[&str], env: &[(&str, &str)]) -> Self {
        let named = |flag: &str| args.iter().position(|arg| *arg == flag).map(|i| args[i + 1]);
        let temporary = named("--data-dir").is_none().then(|| tempfile::tempdir().unwrap());
        let data_dir = match &temporary {
            Some(dir) => dir.path().to_path_buf(),
            None => PathBuf::from(named("--data-dir").unwrap()),
        };
        crate::leaks::install();
        let (_, stderr) = crate::leaks::log_file("nico-local-stderr");
        let (_, mut stdout_file) = crate::leaks::log_file("nico-local-stdout");
        let mut command = Command::new(binary());
        if named("--port").is_none() {
            command.args(["--port", "0"]);
        }
        if temporary.is_some() {
            command.arg("--data-dir").arg(&data_dir);
        }
        command.args(args).stdout(Stdio::piped()).stderr(Stdio::from(stderr)).kill_on_drop(true);
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("nico-local starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let (mut base, mut owner) = (None, None);
        let read = async {
            while let Some(line) = lines.next_line().await.unwrap() {
                writeln!(stdout_file, "{line}").unwrap();
                if let Some(rest) = line.strip_prefix("nico-keys local: listening on ") {
                    base = Some(rest.trim().to_owned());
                }
                if let Some(token) = line.strip_prefix("export OWNER=") {
                    owner = Some(token.trim().to_owned());
                    break;
                }
                if line.starts_with("Owner token: none") {
                    owner = Some(String::new());
                    break;
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(30), read)
            .await
            .expect("nico-local printed its banner in time");
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let _ = writeln!(stdout_file, "{line}");
            }
        });
        Self {
            child,
            base: base.expect("listening line"),
            owner: owner.expect("owner token line"),
            data_dir,
            _temporary: temporary,
            env: env.iter().map(|(name, value)| ((*name).to_owned(), (*value).to_owned())).collect(),
        }
    }

    /// Its data directory (where its signing key is).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.base.rsplit(':').next().and_then(|port| port.parse().ok()).expect("a port in the base URL")
    }

    /// `nico-local mint-token --data-dir <its data dir> <args>`, with its environment: the
    /// token printed, checked to be alone on stdout.
    pub async fn mint_token(&self, args: &[&str]) -> String {
        let output = Command::new(binary())
            .arg("mint-token")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(args)
            .envs(self.env.iter().map(|(name, value)| (name, value)))
            .output()
            .await
            .expect("mint-token runs");
        let stdout = String::from_utf8(output.stdout).expect("UTF-8");
        assert!(output.status.success(), "mint-token {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        assert_eq!(stdout.lines().count(), 1, "the token alone on stdout: {stdout:?}");
        assert!(stdout.ends_with('\n'));
        stdout.trim_end().to_owned()
    }

    /// Stops the process as a crash would (no clean shutdown).
    pub async fn kill(mut self) {
        self.child.kill().await.unwrap();
    }

    /// One request; returns the status and the JSON body (`Null` when empty).
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        authorization: Option<&str>,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut headers = Vec::new();
        if let Some(value) = authorization {
            headers.push(("authorization", value));
        }
        let payload = match body {
            Some(body) => {
                headers.push(("content-type", "application/json"));
                body.to_string().into_bytes()
            }
            None => Vec::new(),
        };
        let answer = self.request(method, path, &headers, payload).await;
        let json = answer.json();
        crate::leaks::record_tokens_in(&json);
        (answer.status, json)
    }

    /// One request with any path and headers (names in lower case), as raw HTTP/1.1 bytes, so
    /// a path reaches the runner exactly as written; returns the status and the JSON body.
    pub async fn send_raw(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> (u16, Value) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let authority = self.base.trim_start_matches("http://").to_owned();
        let mut stream = tokio::net::TcpStream::connect(&authority).await.unwrap();
        let mut request = format!("{method} {path} HTTP/1.1\r\nhost: {authority}\r\nconnection: close\r\n");
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.unwrap();
        let answer = String::from_utf8_lossy(&answer).into_owned();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
        let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let json = serde_json::from_str(body).unwrap_or(Value::Null);
        crate::leaks::record_tokens_in(&json);
        (status, json)
    }

    /// One request with any headers and body (`path` may hold a query string).
    pub async fn request(&self, method: &str, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Answer {
        let authority = self.base.trim_start_matches("http://").to_owned();
        let stream = tokio::net::TcpStream::connect(&authority).await.unwrap();
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
        tokio::spawn(connection);
        let mut request = hyper::Request::builder().method(method).uri(path);
        if !headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("host")) {
            request = request.header("host", authority);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response =
            sender.send_request(request.body(Full::new(Bytes::from(body))).unwrap()).await.unwrap();
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| (name.as_str().to_owned(), value.to_str().unwrap_or_default().to_owned()))
            .collect();
        let body = response.into_body().collect().await.unwrap().to_bytes().to_vec();
        Answer { status, headers, body }
    }
}
