//! Wiring only: logging, configuration, one DynamoDB client, then the runtime loop.

use std::sync::Arc;

use authorizer::{Authorizer, AuthorizerEvent, VerifyCache};
use lambda_runtime::{LambdaEvent, service_fn};
use nico_keys::store::dynamodb::{self, CallBudget, DynamoStore};
use nico_keys::{Config, SystemClock};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    nico_keys::telemetry::init_json();
    let config = Config::from_env().inspect_err(|e| tracing::error!(error = %e, "bad configuration"))?;
    let client = dynamodb::lambda_client(CallBudget::AUTHORIZER)
        .inspect_err(|e| tracing::error!(error = %e, "bad configuration"))?;
    let store = DynamoStore::new(client, config.table_name, config.limits.retention);
    let store = VerifyCache::new(store, config.verify_cache);
    let authorizer = Authorizer::new(store, config.routes, Arc::new(SystemClock))
        .with_last_used_window(config.limits.last_used_window);
    let authorizer = &authorizer;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<AuthorizerEvent>| {
        authorizer.handle(event.payload)
    }))
    .await
}
