//! Logging, set up once per process.
//!
//! Lambda functions log one JSON object per line, which CloudWatch Logs Insights can query
//! field by field (`decision`, `reason`, `key_id`, `latency_us`, …). The level comes from
//! `AWS_LAMBDA_LOG_LEVEL` (set by Lambda's advanced logging controls) or `RUST_LOG`, as a
//! plain level name; the default is `info`.
//!
//! That level applies to this project's crates only. Everything else (the AWS SDK, hyper,
//! rustls) is held at `warn` at most, whatever is asked for: the SDK's debug and trace output
//! prints whole requests and responses, stored key digests included, and those must never
//! reach a log.

use tracing::Subscriber;
use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;

/// The crates whose logs follow the configured level: this one and every binary that sets
/// logging up here (a test holds the list to the workspace's members).
const OWN_CRATES: [&str; 6] =
    ["nico_keys", "authorizer", "key_management", "leak_report", "notifier", "nico_local"];

/// The level asked for in the environment, `info` if none.
pub fn level_from_env() -> LevelFilter {
    ["AWS_LAMBDA_LOG_LEVEL", "RUST_LOG"]
        .into_iter()
        .find_map(|name| std::env::var(name).ok()?.trim().parse().ok())
        .unwrap_or(LevelFilter::INFO)
}

/// `level` for this project's crates, at most `warn` for every other.
pub fn filter(level: LevelFilter) -> Targets {
    Targets::new()
        .with_default(level.min(LevelFilter::WARN))
        .with_targets(OWN_CRATES.map(|name| (name, level)))
}

/// The JSON-lines subscriber the functions use, writing to `writer`.
pub fn json_subscriber<W>(writer: W, level: LevelFilter) -> impl Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .with_max_level(LevelFilter::TRACE)
        .with_writer(writer)
        .finish()
        .with(filter(level))
}

/// JSON lines on stdout, for CloudWatch.
pub fn init_json() {
    json_subscriber(std::io::stdout, level_from_env()).init();
}

/// Human-readable lines on stderr, for running locally.
pub fn init_text() {
    tracing_subscriber::fmt()
        .compact()
        .with_target(false)
        .with_writer(std::io::stderr)
        .with_max_level(LevelFilter::TRACE)
        .finish()
        .with(filter(level_from_env()))
        .init();
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;

    /// The value of the first one-line `key = value` of the manifest in `dir`.
    fn manifest_value(dir: &Path, key: &str) -> String {
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).expect("a Cargo.toml");
        let value = manifest
            .lines()
            .find_map(|line| line.trim().strip_prefix(key))
            .and_then(|rest| rest.trim_start().strip_prefix('='))
            .unwrap_or_else(|| panic!("no one-line {key} in {}", dir.display()));
        value.trim().to_owned()
    }

    /// The workspace members (`members = [...]` of the root manifest), as directories.
    fn workspace_members() -> Vec<PathBuf> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace root");
        let list = manifest_value(root, "members");
        let list = list.trim_start_matches('[').trim_end_matches(']');
        list.split(',').map(|member| root.join(member.trim().trim_matches('"'))).collect()
    }

    /// A member's crate name as a tracing target (`leak-report` logs as `leak_report`).
    fn target_of(member: &Path) -> String {
        manifest_value(member, "name").trim_matches('"').replace('-', "_")
    }

    #[test]
    fn every_function_and_every_binary_that_logs_here_logs_at_the_configured_level() {
        let members = workspace_members();
        assert!(members.len() >= 5, "found only {members:?}; is the reading stale?");
        let info = filter(LevelFilter::INFO);
        let mut checked = Vec::new();
        for member in &members {
            let main = std::fs::read_to_string(member.join("src/main.rs")).unwrap_or_default();
            let function = member.parent().is_some_and(|parent| parent.ends_with("functions"));
            if function || main.contains("telemetry::init_") {
                let target = target_of(member);
                assert!(info.would_enable(&target, &tracing::Level::INFO), "{target}: info lines dropped");
                checked.push(target);
            }
        }
        assert!(checked.len() >= 5, "checked only {checked:?}");
        assert!(info.would_enable("nico_keys", &tracing::Level::INFO));
        // Everything else stays at warn, whatever is asked for.
        assert!(!filter(LevelFilter::TRACE).would_enable("aws_sdk_dynamodb", &tracing::Level::INFO));
    }
}
