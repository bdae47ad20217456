//! Wiring only: logging, configuration, one DynamoDB client, then the HTTP runtime loop.

use std::sync::Arc;

use key_management::Api;
use key_management::console::ConsoleSettings;
use lambda_http::{Request, service_fn};
use nico_keys::flush::apigateway::{ApiGatewayFlusher, Endpoints, FLUSH_BUDGET};
use nico_keys::store::dynamodb::{self, CallBudget, DynamoStore};
use nico_keys::{Config, SystemClock};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    nico_keys::telemetry::init_json();
    let config = Config::from_env().inspect_err(|e| tracing::error!(error = %e, "bad configuration"))?;
    let client = dynamodb::lambda_client(CallBudget::MANAGEMENT)
        .inspect_err(|e| tracing::error!(error = %e, "bad configuration"))?;
    let store = DynamoStore::new(client, &config.table_name, config.limits.retention)
        .with_audit_retention(config.limits.audit_retention);
    let stages = config.flush_stages.clone();
    let mut api = Api::new(store, config, Arc::new(SystemClock)).with_console(ConsoleSettings::from_env());
    if !stages.is_empty() {
        let flusher = Endpoints::from_env()
            .and_then(|endpoints| ApiGatewayFlusher::new(stages, endpoints, FLUSH_BUDGET))
            .inspect_err(|e| tracing::error!(error = %e, "bad configuration"))?;
        api = api.with_flusher(Arc::new(flusher));
    }
    let api = &api;
    lambda_http::run(service_fn(move |request: Request| async move {
        Ok::<_, std::convert::Infallible>(api.handle(request).await)
    }))
    .await
}
