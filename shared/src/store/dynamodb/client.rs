//! The DynamoDB client: how it is built, what it trusts, and how long a call may take.
//!
//! Start-up time is most of a cold Lambda start's cost that this project controls, so the
//! function's client is built from Lambda's own environment and nothing else (no provider
//! chains, no profile files, no system certificate store), and its HTTP connector is built by
//! the first request. Figures: `bench/README.md`.

use std::time::Duration;

use aws_config::SdkConfig;
use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::SharedCredentialsProvider;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::config::{BehaviorVersion, HttpClient, Region, RuntimeComponents, SharedHttpClient};
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{HttpConnectorSettings, SharedHttpConnector};

use crate::config::ConfigError;

/// A client configured the standard SDK way: region, credentials and endpoint (including
/// `AWS_ENDPOINT_URL_DYNAMODB`) from the environment and the profile files, and the system's
/// root certificates. For tools and tests, not for Lambda (see [`lambda_client`]).
pub async fn client_from_env() -> Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(https_client(TrustStore::default()))
        .load()
        .await;
    Client::new(&config)
}

/// The shared SDK configuration [`client_from_env`] is built from (the standard provider
/// chains, this module's HTTP client), for the clients of other AWS services (the notifier's
/// SNS client), so every client of the workspace speaks TLS the same way.
pub async fn sdk_config_from_env() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(https_client(TrustStore::default()))
        .load()
        .await
}

/// Time limits for every DynamoDB call, so a caller always gets an answer in bounded time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallBudget {
    /// To open a connection (TCP + TLS).
    pub connect: Duration,
    /// For one attempt, from sending the request to reading the whole response.
    pub attempt: Duration,
    /// For the whole call, retries and back-off included.
    pub total: Duration,
    /// Attempts in all, the first one included.
    pub max_attempts: u32,
}

impl CallBudget {
    /// The authorizer's budget. API Gateway gives an authorizer 10 s; this one answers (or
    /// fails) within 2.5 s whatever DynamoDB does. An in-region `GetItem` takes single-digit
    /// milliseconds and a new TLS connection tens, so 400 ms to connect and 700 ms per attempt
    /// leave ample room for a slow moment, and three attempts ride out a throttle or a dropped
    /// connection, while the total cap keeps the worst case far from API Gateway's limit.
    pub const AUTHORIZER: Self = Self {
        connect: Duration::from_millis(400),
        attempt: Duration::from_millis(700),
        total: Duration::from_millis(2_500),
        max_attempts: 3,
    };

    /// The management API's budget: more patient (a bot user's deletion makes many calls),
    /// still well inside API Gateway's 30 s integration timeout.
    pub const MANAGEMENT: Self = Self {
        connect: Duration::from_secs(1),
        attempt: Duration::from_secs(2),
        total: Duration::from_secs(5),
        max_attempts: 3,
    };

    pub(crate) fn timeouts(self) -> TimeoutConfig {
        TimeoutConfig::builder()
            .connect_timeout(self.connect)
            .operation_attempt_timeout(self.attempt)
            .operation_timeout(self.total)
            .build()
    }

    pub(crate) fn retries(self) -> RetryConfig {
        RetryConfig::standard()
            .with_max_attempts(self.max_attempts)
            .with_initial_backoff(Duration::from_millis(20))
            .with_max_backoff(Duration::from_millis(200))
    }
}

/// A client for a Lambda function, within `budget`, configured from what Lambda puts in every
/// function's environment and nothing else, so it is ready in microseconds:
///
/// * region: `AWS_REGION` (or `AWS_DEFAULT_REGION`);
/// * credentials: the execution role's, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
///   `AWS_SESSION_TOKEN` (read by the SDK's own environment provider);
/// * endpoint: `AWS_ENDPOINT_URL_DYNAMODB`, else `AWS_ENDPOINT_URL`, else DynamoDB's regional
///   endpoint;
/// * trust: the roots of Amazon Trust Services, which every AWS endpoint's certificate chains
///   to, built in; with `SSL_CERT_FILE` set, that bundle instead.
///
/// Unlike [`client_from_env`] it builds no provider chain and reads no profile file (in
/// Lambda the chains settle on these same variables, after about 0.3 ms of setting up), and it
/// does not read the system's root certificates (2 ms or more).
pub fn lambda_client(budget: CallBudget) -> Result<Client, ConfigError> {
    let env = LambdaEnv::read()?;
    let mut config = aws_sdk_dynamodb::config::Builder::from(&env.sdk_config(budget));
    if let Some(endpoint) = env.endpoint("AWS_ENDPOINT_URL_DYNAMODB") {
        config = config.endpoint_url(endpoint);
    }
    Ok(Client::from_conf(config.build()))
}

/// What every SDK client of a Lambda function is built from (see [`lambda_client`]); the
/// API Gateway clients that flush authorizer caches (`crate::flush::apigateway`) share it.
pub(crate) struct LambdaEnv {
    pub region: String,
    trust: fn() -> TrustStore,
}

impl LambdaEnv {
    pub(crate) fn read() -> Result<Self, ConfigError> {
        let region = var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")).ok_or_else(|| ConfigError {
            name: "AWS_REGION",
            problem: "not set (Lambda always sets it)".into(),
        })?;
        for name in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
            if var(name).is_none() {
                return Err(ConfigError { name, problem: "not set (Lambda always sets it)".into() });
            }
        }
        let trust: fn() -> TrustStore = match var("SSL_CERT_FILE") {
            Some(_) => TrustStore::default,
            None => || TrustStore::empty().with_pem_certificate(AMAZON_TRUST_SERVICES_ROOTS),
        };
        Ok(Self { region, trust })
    }

    pub(crate) fn http_client(&self) -> impl HttpClient + 'static {
        OnFirstUse(https_client((self.trust)()))
    }

    /// What every client shares: region, the environment's credentials, the HTTP client and
    /// `budget`; each service adds its own endpoint override.
    pub(crate) fn sdk_config(&self, budget: CallBudget) -> SdkConfig {
        SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(self.region.clone()))
            .credentials_provider(SharedCredentialsProvider::new(
                EnvironmentVariableCredentialsProvider::new(),
            ))
            .http_client(self.http_client())
            .timeout_config(budget.timeouts())
            .retry_config(budget.retries())
            .build()
    }

    /// The service's endpoint override (`name`), else `AWS_ENDPOINT_URL`, else none (AWS).
    pub(crate) fn endpoint(&self, name: &str) -> Option<String> {
        var(name).or_else(|| var("AWS_ENDPOINT_URL"))
    }
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.trim().is_empty())
}

/// Amazon Root CA 1 to 4 and Starfield Services Root CA G2 (as in Mozilla's list): the roots
/// of every AWS service endpoint's certificate.
const AMAZON_TRUST_SERVICES_ROOTS: &[u8] = include_bytes!("amazon-trust-services-roots.pem");

/// The SDK's hyper client over rustls with *ring* rather than its default aws-lc: 2 MB smaller
/// and as quick, with the same TLS versions and cipher suites (the SDK restricts both), but
/// without aws-lc's post-quantum key exchange.
fn https_client(trust: TrustStore) -> SharedHttpClient {
    let tls =
        TlsContext::builder().with_trust_store(trust).build().expect("a TLS context with no custom names");
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring))
        .tls_context(tls)
        .build_https()
}

/// An HTTP client that builds its connector (and its TLS configuration) when the first request
/// needs it. The SDK's own client builds one when the SDK client is created only to check it
/// can, throws it away, and builds the one it uses on the first request: twice the work, once
/// at start-up.
#[derive(Debug)]
struct OnFirstUse(SharedHttpClient);

impl HttpClient for OnFirstUse {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.connector_metadata()
    }
}
