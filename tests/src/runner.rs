//! The local runner as a real process on a free port, and a minimal HTTP client for it.
//!
//! Its stdout and stderr (its log) go to files of the run's log folder, scanned for keys with
//! every other log ([`crate::leaks`]); every key it hands out is recorded; and when a `Runner`
//! is dropped, no log of the run may hold one.

use std::io::Write;
use std::path::PathBuf;
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

/// A running `nico-local`; killed when dropped, after checking that no log holds a key.
pub struct Runner {
    child: Child,
    pub base: String,
    /// The owner token it printed at start.
    pub owner: String,
}

impl Drop for Runner {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            crate::leaks::assert_clean();
        }
    }
}

impl Runner {
    /// Starts the runner with `args` (plus `--port 0`) and waits until it listens.
    pub async fn start(args: &[&str], env: &[(&str, &str)]) -> Self {
        crate::leaks::install();
        let (_, stderr) = crate::leaks::log_file("nico-local-stderr");
        let (_, mut stdout_file) = crate::leaks::log_file("nico-local-stdout");
        let mut command = Command::new(binary());
        command
            .args(["--port", "0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .kill_on_drop(true);
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
        Self { child, base: base.expect("listening line"), owner: owner.expect("owner token line") }
    }

    /// Stops the process as a crash would (no clean shutdown).
    pub async fn kill(mut self) {
        self.child.kill().await.unwrap();
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

    /// One request; returns the status and the JSON body (`Null` when empty).
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        authorization: Option<&str>,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let authority = self.base.trim_start_matches("http://").to_owned();
        let stream = tokio::net::TcpStream::connect(&authority).await.unwrap();
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
        tokio::spawn(connection);
        let mut request = hyper::Request::builder().method(method).uri(path).header("host", authority);
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let payload = match body {
            Some(body) => {
                request = request.header("content-type", "application/json");
                Bytes::from(body.to_string())
            }
            None => Bytes::new(),
        };
        let response = sender.send_request(request.body(Full::new(payload)).unwrap()).await.unwrap();
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let json = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap() };
        crate::leaks::record_tokens_in(&json);
        (status, json)
    }
}
