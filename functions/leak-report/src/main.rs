//! Wiring only: logging, configuration, one DynamoDB and one SNS client, then the HTTP loop.

use std::sync::Arc;

use lambda_http::{Request, service_fn};
use leak_report::LeakReport;
use leak_report::config::LeakConfig;
use leak_report::keyring::KeyRing;
use nico_keys::flush::apigateway::{ApiGatewayFlusher, Endpoints, FLUSH_BUDGET};
use nico_keys::store::dynamodb::{self, CallBudget, DynamoStore};
use nico_keys::{Config, SystemClock};
use notifier::SnsPublisher;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    nico_keys::telemetry::init_json();
    let bad = |e: &dyn std::fmt::Display| tracing::error!(error = %e, "bad configuration");
    let config = Config::from_env().inspect_err(|e| bad(e))?;
    let leak = LeakConfig::from_env(|name| std::env::var(name).ok()).inspect_err(|e| bad(e))?;
    let topic =
        std::env::var("EXPIRY_TOPIC_ARN").map_err(|_| "EXPIRY_TOPIC_ARN: not set").inspect_err(|e| bad(e))?;
    let client = dynamodb::lambda_client(CallBudget::MANAGEMENT).inspect_err(|e| bad(e))?;
    let store = DynamoStore::new(client, &config.table_name, config.limits.retention);
    let stages = config.flush_stages.clone();
    let mut report = LeakReport::new(
        store,
        KeyRing::new(leak.source, leak.configured),
        SnsPublisher::from_env(topic).await,
        Arc::new(SystemClock),
    );
    if !stages.is_empty() {
        let flusher = Endpoints::from_env()
            .and_then(|endpoints| ApiGatewayFlusher::new(stages, endpoints, FLUSH_BUDGET))
            .inspect_err(|e| bad(e))?;
        report = report.with_flusher(Arc::new(flusher));
    }
    let report = &report;
    lambda_http::run(service_fn(move |request: Request| async move {
        Ok::<_, std::convert::Infallible>(report.handle(request).await)
    }))
    .await
}
