//! Wiring only: logging, configuration, one DynamoDB client, then the runtime loop.

use std::sync::Arc;

use authorizer::Authorizer;
use lambda_runtime::{LambdaEvent, service_fn};
use nico_keys::store::dynamodb::{self, CallBudget, DynamoStore};
use nico_keys::{Config, SystemClock};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    nico_keys::telemetry::init_json();
    let config = Config::from_env().inspect_err(|e| tracing::error!(error = %e, "bad configuration"))?;
    let client = dynamodb::client_with_budget(CallBudget::AUTHORIZER).await;
    let store = DynamoStore::new(client, config.table_name, config.limits.retention);
    let authorizer = Authorizer::new(store, config.routes, Arc::new(SystemClock));
    let authorizer = &authorizer;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| authorizer.handle(event.payload))).await
}
