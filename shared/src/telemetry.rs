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

/// The crates whose logs follow the configured level.
const OWN_CRATES: [&str; 4] = ["nico_keys", "authorizer", "key_management", "nico_local"];

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
