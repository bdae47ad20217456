//! Wiring only: logging, configuration, one DynamoDB and one SNS client, then the runtime loop.

use std::sync::Arc;

use lambda_runtime::{LambdaEvent, service_fn};
use nico_keys::store::dynamodb::{self, CallBudget, DynamoStore};
use nico_keys::{ConfigError, SystemClock};
use notifier::{Notifier, SnsPublisher};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    nico_keys::telemetry::init_json();
    let required = |name: &'static str| {
        std::env::var(name)
            .ok()
            .filter(|value| !value.trim().is_empty())
            .ok_or_else(|| ConfigError { name, problem: "not set".into() })
            .inspect_err(|e| tracing::error!(error = %e, "bad configuration"))
    };
    let table = required("TABLE_NAME")?;
    let topic = required("EXPIRY_TOPIC_ARN")?;
    let client = dynamodb::lambda_client(CallBudget::MANAGEMENT)
        .inspect_err(|e| tracing::error!(error = %e, "bad configuration"))?;
    // The notifier writes no TTL, so the retention it is given does not matter.
    let store = DynamoStore::new(client, table, std::time::Duration::ZERO);
    let notifier = Notifier::new(store, SnsPublisher::from_env(topic).await, Arc::new(SystemClock));
    let notifier = &notifier;
    lambda_runtime::run(service_fn(move |_: LambdaEvent<serde_json::Value>| async move {
        notifier.handle().await.map_err(lambda_runtime::Error::from)
    }))
    .await
}
