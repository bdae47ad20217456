//! The flush through the AWS SDK: REST `FlushStageAuthorizersCache` and HTTP API
//! `ResetAuthorizersCache`, one call per listed stage, each retried by the SDK within
//! [`FLUSH_BUDGET`].
//!
//! The clients are built like the DynamoDB client (`store::dynamodb::lambda_client`): from
//! Lambda's environment, with the same HTTP client. Endpoints: `AWS_ENDPOINT_URL_API_GATEWAY`
//! (REST) and `AWS_ENDPOINT_URL_APIGATEWAYV2` (HTTP API), the SDK's own names for them, else
//! `AWS_ENDPOINT_URL`, else AWS.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use super::{FLUSH_FAILED, Flusher, Kind, Propagation, Stage};
use crate::config::ConfigError;
use crate::store::dynamodb::CallBudget;
use crate::store::dynamodb::client::LambdaEnv;

/// Each stage's flush: three attempts (a throttle or a 5xx is retried by the SDK) within 3 s,
/// so a revocation answers within a few seconds even when API Gateway does not. A stage that
/// still failed makes the answer `pending`; it never undoes the revocation.
pub const FLUSH_BUDGET: CallBudget = CallBudget {
    connect: Duration::from_secs(1),
    attempt: Duration::from_millis(1_500),
    total: Duration::from_secs(3),
    max_attempts: 3,
};

/// Where the two APIs are: AWS's endpoints unless overridden (tests: a local stub).
#[derive(Debug, Clone, Default)]
pub struct Endpoints {
    pub rest: Option<String>,
    pub http: Option<String>,
}

impl Endpoints {
    /// `AWS_ENDPOINT_URL_API_GATEWAY`, `AWS_ENDPOINT_URL_APIGATEWAYV2`, else `AWS_ENDPOINT_URL`.
    pub fn from_env() -> Result<Self, ConfigError> {
        let env = LambdaEnv::read()?;
        Ok(Self {
            rest: env.endpoint("AWS_ENDPOINT_URL_API_GATEWAY"),
            http: env.endpoint("AWS_ENDPOINT_URL_APIGATEWAYV2"),
        })
    }
}

/// Flushes the listed stages through the AWS SDK.
pub struct ApiGatewayFlusher {
    stages: Vec<Stage>,
    rest: aws_sdk_apigateway::Client,
    http: aws_sdk_apigatewayv2::Client,
}

impl ApiGatewayFlusher {
    /// Clients built from Lambda's environment (region, credentials), within `budget`.
    pub fn new(stages: Vec<Stage>, endpoints: Endpoints, budget: CallBudget) -> Result<Self, ConfigError> {
        let env = LambdaEnv::read()?;
        let shared = env.sdk_config(budget);
        let mut rest = aws_sdk_apigateway::config::Builder::from(&shared);
        if let Some(endpoint) = endpoints.rest {
            rest = rest.endpoint_url(endpoint);
        }
        let mut http = aws_sdk_apigatewayv2::config::Builder::from(&shared);
        if let Some(endpoint) = endpoints.http {
            http = http.endpoint_url(endpoint);
        }
        Ok(Self {
            stages,
            rest: aws_sdk_apigateway::Client::from_conf(rest.build()),
            http: aws_sdk_apigatewayv2::Client::from_conf(http.build()),
        })
    }

    async fn flush_stage(&self, stage: &Stage) -> Result<(), String> {
        match stage.kind {
            Kind::Rest => self
                .rest
                .flush_stage_authorizers_cache()
                .rest_api_id(&stage.api_id)
                .stage_name(&stage.stage)
                .send()
                .await
                .map(drop)
                .map_err(|e| aws_sdk_apigateway::error::DisplayErrorContext(e).to_string()),
            Kind::Http => self
                .http
                .reset_authorizers_cache()
                .api_id(&stage.api_id)
                .stage_name(&stage.stage)
                .send()
                .await
                .map(drop)
                .map_err(|e| aws_sdk_apigatewayv2::error::DisplayErrorContext(e).to_string()),
        }
    }
}

impl Flusher for ApiGatewayFlusher {
    /// One stage after the other (there are few, and API Gateway throttles these calls per
    /// account, so firing them all at once buys little).
    fn flush(&self) -> Pin<Box<dyn Future<Output = Propagation> + Send + '_>> {
        Box::pin(async move {
            let mut propagation = Propagation::Flushed;
            for stage in &self.stages {
                match self.flush_stage(stage).await {
                    Ok(()) => tracing::info!(stage = %stage, "authorizer cache flushed"),
                    Err(error) => {
                        tracing::error!(stage = %stage, error = %error, "{}", FLUSH_FAILED);
                        propagation = Propagation::Pending;
                    }
                }
            }
            propagation
        })
    }
}
