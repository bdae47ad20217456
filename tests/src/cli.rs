//! The `nico-keys` CLI as a person runs it: a process with its own home (XDG config and state
//! directories in a temporary folder), pointed at a runner, with stdin, stdout, stderr and the
//! exit code as the test's view of it.
//!
//! Every run's stdout and stderr go to files of the run's log folder, so the scan for keys
//! ([`crate::leaks`]) covers them, except the stdout of [`Cli::issue`] (create, rotate), the one
//! output allowed to hold a key: the key read there is recorded instead, so from then on it may
//! appear nowhere else, in no other output of the whole run.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::runner::Runner;

/// What a run printed and how it ended.
#[derive(Debug)]
pub struct Output {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// Panics with both outputs unless the exit code is `code`.
    #[track_caller]
    pub fn expect(self, code: i32) -> Self {
        assert_eq!(self.code, Some(code), "exit code\nstdout: {}\nstderr: {}", self.stdout, self.stderr);
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }
}

/// One person's CLI: a home of its own and a runner to talk to.
pub struct Cli {
    home: tempfile::TempDir,
    endpoint: String,
}

impl Cli {
    pub fn new(runner: &Runner) -> Self {
        Self { home: tempfile::tempdir().unwrap(), endpoint: runner.base.clone() }
    }

    pub fn config_dir(&self) -> PathBuf {
        self.home.path().join("config")
    }

    pub fn state_dir(&self) -> PathBuf {
        self.home.path().join("state")
    }

    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// `nico-keys args` with `NICO_ENDPOINT` set to the runner, no stdin.
    pub async fn run(&self, args: &[&str]) -> Output {
        self.run_with(args, None, &[]).await
    }

    /// `nico-keys args` with `stdin` and extra environment; stdout and stderr logged for the scan.
    pub async fn run_with(&self, args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Output {
        let output = self.spawn(args, stdin, env).await;
        log(&format!("cli-{}-stdout", label(args)), &output.stdout);
        log(&format!("cli-{}-stderr", label(args)), &output.stderr);
        output
    }

    /// `keys create` or `keys rotate`: stdout (the key, or `--json` with its `token`) is not
    /// logged; the key is recorded so that no other output may hold it. stderr is logged.
    pub async fn issue(&self, args: &[&str]) -> Output {
        let output = self.spawn(args, None, &[]).await;
        log(&format!("cli-{}-stderr", label(args)), &output.stderr);
        match serde_json::from_str::<serde_json::Value>(&output.stdout) {
            Ok(json) => crate::leaks::record_tokens_in(&json),
            Err(_) => {
                for line in output.stdout.lines().filter(|l| l.starts_with(nico_keys::token::PREFIX)) {
                    crate::leaks::record(line);
                }
            }
        }
        output
    }

    /// `nico-keys args` on a terminal (a pseudo-terminal made by util-linux's `script`), with
    /// `typed` typed on it; what the terminal showed (stdout and stderr together) is logged.
    pub async fn run_on_terminal(&self, args: &[&str], typed: &str) -> Output {
        let quote = |arg: &str| format!("'{}'", arg.replace('\'', r"'\''"));
        let line = std::iter::once(binary().to_string_lossy().into_owned())
            .chain(args.iter().map(|a| (*a).to_owned()))
            .map(|a| quote(&a))
            .collect::<Vec<_>>()
            .join(" ");
        let mut command = Command::new("script");
        command.args(["--quiet", "--return", "--command", &line, "/dev/null"]);
        self.environment(&mut command, &[]);
        command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = command.spawn().expect("script (util-linux) starts");
        let mut pipe = child.stdin.take().unwrap();
        // Typed once the question is on the screen; the terminal keeps it until it is read.
        pipe.write_all(typed.as_bytes()).await.unwrap();
        drop(pipe);
        let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
            .await
            .expect("ends within 60 s")
            .expect("script runs");
        let screen = String::from_utf8_lossy(&output.stdout).into_owned();
        log(&format!("cli-terminal-{}", label(args)), &screen);
        Output {
            code: output.status.code(),
            stdout: screen,
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// The command for `args` in this home, not yet started (for a test that talks to it).
    pub fn command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut command = Command::new(binary());
        command.args(args);
        self.environment(&mut command, env);
        command
    }

    /// A clean environment: this home, the runner as the endpoint, no colour, and `env`.
    fn environment(&self, command: &mut Command, env: &[(&str, &str)]) {
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home.path())
            .env("XDG_CONFIG_HOME", self.config_dir())
            .env("XDG_STATE_HOME", self.state_dir())
            .env("NICO_ENDPOINT", &self.endpoint)
            .env("NO_COLOR", "1")
            .envs(env.iter().copied())
            .kill_on_drop(true);
    }

    async fn spawn(&self, args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Output {
        crate::leaks::install();
        let mut command = self.command(args, env);
        command.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = command.spawn().expect("nico-keys starts");
        if let Some(text) = stdin {
            let mut pipe = child.stdin.take().unwrap();
            pipe.write_all(text.as_bytes()).await.unwrap();
            drop(pipe);
        }
        let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("nico-keys {args:?} ends within 60 s"))
            .expect("nico-keys runs");
        Output {
            code: output.status.code(),
            stdout: String::from_utf8(output.stdout).expect("UTF-8 stdout"),
            stderr: String::from_utf8(output.stderr).expect("UTF-8 stderr"),
        }
    }
}

/// `NICO_BIN_DIR/nico-keys`, or the workspace's debug build (package `nico-keys-cli`).
fn binary() -> PathBuf {
    let dir = std::env::var_os("NICO_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/debug")));
    let path = dir.join("nico-keys");
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build -p nico-keys-cli`, or run ./scripts/test, which does",
        path.display()
    );
    path
}

fn label(args: &[&str]) -> String {
    args.iter().take(2).filter(|a| !a.starts_with('-')).copied().collect::<Vec<_>>().join("-")
}

fn log(name: &str, text: &str) {
    let (_, mut file) = crate::leaks::log_file(name);
    file.write_all(text.as_bytes()).unwrap();
}
