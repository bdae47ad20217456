//! The local runner as a real process on a free port, and a minimal HTTP client for it.

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

/// A running `nico-local`; killed when dropped.
pub struct Runner {
    child: Child,
    pub base: String,
    /// The owner token it printed at start.
    pub owner: String,
}

impl Runner {
    /// Starts the runner with `args` (plus `--port 0`) and waits until it listens.
    pub async fn start(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(binary());
        command
            .args(["--port", "0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("nico-local starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let (mut base, mut owner) = (None, None);
        let read = async {
            while let Some(line) = lines.next_line().await.unwrap() {
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
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self { child, base: base.expect("listening line"), owner: owner.expect("owner token line") }
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
        (status, json)
    }
}
