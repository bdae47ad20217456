//! The notifier on a timer, as EventBridge runs it hourly in AWS: each run's warnings are
//! printed on stdout as one JSON line each (`{"would_publish": …}`), or published to the
//! topic `EXPIRY_TOPIC_ARN` names when it is set (with `AWS_ENDPOINT_URL_SNS` for a local
//! SNS such as moto).

use std::sync::Arc;
use std::time::Duration;

use nico_keys::Clock;
use nico_keys::store::{BotStore, ExpiryStore};
use notifier::{Notifier, Publisher, SnsPublisher, StdoutPublisher};

/// Runs the notifier now and then every `every`, for as long as the process lives.
pub async fn spawn<S: ExpiryStore + BotStore + 'static>(store: S, clock: Arc<dyn Clock>, every: Duration) {
    match std::env::var("EXPIRY_TOPIC_ARN").ok().filter(|arn| !arn.trim().is_empty()) {
        Some(topic) => {
            tracing::info!(topic, "expiry warnings: published to the topic");
            tokio::spawn(repeat(Notifier::new(store, SnsPublisher::from_env(topic).await, clock), every));
        }
        None => {
            tracing::info!("expiry warnings: printed on stdout (set EXPIRY_TOPIC_ARN to publish)");
            tokio::spawn(repeat(Notifier::new(store, StdoutPublisher, clock), every));
        }
    }
}

async fn repeat<S: ExpiryStore + BotStore, P: Publisher>(notifier: Notifier<S, P>, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match notifier.handle().await {
            Ok(report) if report.sent > 0 => tracing::info!(?report, "expiry warnings sent"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "expiry warnings run failed; the next run retries"),
        }
    }
}
