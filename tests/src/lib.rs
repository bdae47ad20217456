//! Test support for the integration tests (`tests/tests/it/`): a fresh world per test, on either
//! store, API Gateway events from the AWS documentation's examples, log capture, the check that
//! no key reaches any log of the run ([`leaks`]), a function's bootstrap as a process behind a
//! stub Lambda Runtime API ([`lambda`]), the `nico-keys` CLI as a process ([`cli`]), the SAM
//! template read in long form, a proxy that puts faults between the functions and DynamoDB,
//! and the one way to reach the DynamoDB-protocol server the test command starts.

pub mod apigw;
pub mod cli;
pub mod contract;
pub mod counting;
pub mod fault_proxy;
pub mod flush_stub;
pub mod github;
pub mod http;
pub mod lambda;
pub mod leaks;
pub mod logs;
pub mod openapi;
pub mod runner;
pub mod sns;
pub mod template;
pub mod world;

/// The endpoint of the DynamoDB-compatible server (moto) the README test command starts.
///
/// Panics with instructions when it is not set: a test that needs the server must fail,
/// never pass by skipping. It also refuses anything but a loopback address, so a developer
/// with AWS credentials in the environment can never run the suite against a real account.
pub fn dynamodb_endpoint() -> String {
    let endpoint = std::env::var("AWS_ENDPOINT_URL_DYNAMODB").unwrap_or_default();
    assert!(
        !endpoint.is_empty(),
        "AWS_ENDPOINT_URL_DYNAMODB is not set: these tests need a DynamoDB-compatible server. \
         Run them with ./scripts/test, which starts moto for them (see README.md)."
    );
    let host = endpoint.trim_start_matches("http://");
    assert!(
        host.starts_with("127.0.0.1:") || host.starts_with("localhost:") || host.starts_with("[::1]:"),
        "AWS_ENDPOINT_URL_DYNAMODB={endpoint} is not a loopback address; refusing to run tests against it"
    );
    endpoint
}
