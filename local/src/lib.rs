//! The local runner: what API Gateway does in front of the two functions, in one process.
//!
//! * `/v1/…` is the management API. The owner's JWT is checked as API Gateway's JWT
//!   authorizer would ([`jwt`]), then the key-management handler is called in-process with
//!   the HTTP API payload 2.0 event API Gateway would send, claims included.
//! * `/oidc/…` is the dev OIDC issuer whose tokens it accepts ([`oidc`]), unless the runner
//!   checks a real identity provider's tokens instead ([`discovery`]).
//! * `/console/…` is the web console, served as the management function serves it
//!   (`key_management::console`), signing in with the dev issuer's console client.
//! * `POST /v1/secret-scanning/github` is GitHub's leak reports, public as in AWS (their
//!   signature is the check), served by the leak-report handler when a key set is configured.
//! * `/echo/…` is an unprotected echo, the baseline for load comparisons.
//! * Every other path is the example protected API: the authorizer handler is called with the
//!   event API Gateway would send (HTTP API 2.0 by default, REST `TOKEN` in
//!   [`Mode::RestToken`]), and its answer is enforced the way API Gateway enforces it. On
//!   success a tiny echo backend answers with the authorizer context it received; otherwise
//!   the client gets exactly what API Gateway would answer:
//!
//! | situation                         | REST `TOKEN`                                   | HTTP API 2.0               |
//! |-----------------------------------|------------------------------------------------|----------------------------|
//! | no `Authorization` header         | 401 `{"message":"Unauthorized"}`               | 401 `{"message":"Unauthorized"}` |
//! | bad, expired or revoked key       | 401 `{"message":"Unauthorized"}`               | 403 `{"message":"Forbidden"}` |
//! | valid key, route outside scopes   | 403 `{"Message":"User is not authorized to access this resource"}` | 403 `{"message":"Forbidden"}` |
//! | authorizer error                  | 500 `{"message":"Internal Server Error"}`      | 500 `{"message":"Internal Server Error"}` |
//!
//! Before routing, a path a backend could read as another path (`..`, `%2F`, `\`, `//`, …;
//! `nico_keys::routes::path_refusal`) is refused on every route with the deny answer of the
//! emulated mode: HTTP API 403 `{"message":"Forbidden"}`, REST 403 `{"Message":"User is not
//! authorized to access this resource with an explicit deny"}` (what the authorizer's answers
//! lead to on the protected routes; the runner gives it on `/v1/` and `/echo/` too, since it
//! routes on the raw path).
//!
//! The gateway works on plain [`LocalRequest`]s so the HTTP server in `main.rs` stays a thin
//! adapter and the emulation can be tested without sockets.

pub mod discovery;
pub mod events;
pub mod jwt;
pub mod keys;
pub mod notify;
pub mod oidc;

use std::sync::Arc;
use std::time::Instant;

use authorizer::{AuthorizerError, AuthorizerResponse};
use aws_lambda_events::iam::IamPolicyEffect;
use key_management::Api;
use key_management::console::{self, ConsoleSettings};
use key_management::routes::SignedBy;
use leak_report::LeakReport;
use leak_report::fetch::HttpsSource;
use nico_keys::routes::glob_matches;
use nico_keys::store::Store;
use nico_keys::{Clock, Config, token};
use serde_json::{Value, json};

use crate::events::{http_authorizer_event, http_event, management_event};
use crate::jwt::Verifier;
use crate::oidc::DevIssuer;

/// The API id and stage the emulated REST API's method ARNs carry.
const API_ARN: &str = "arn:aws:execute-api:local:000000000000:localapi";
const REST_STAGE: &str = "local";
/// A REST API's answer when a policy denies the method explicitly.
const EXPLICIT_DENY: &str = "User is not authorized to access this resource with an explicit deny";

/// Which authorizer integration to emulate for the protected routes (`--authorizer http` or
/// `--authorizer rest-token`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// HTTP API, payload format 2.0, simple responses
    Http,
    /// REST API, TOKEN authorizer, IAM policy responses
    RestToken,
}

/// A request as the HTTP server received it.
#[derive(Debug, Clone)]
pub struct LocalRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl LocalRequest {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// A response to send back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl LocalResponse {
    fn json(status: u16, body: &Value) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        }
    }

    fn message(status: u16, key: &str, message: &str) -> Self {
        Self::json(status, &json!({ key: message }))
    }

    /// A function's answer, as API Gateway passes it on.
    fn of(response: &lambda_http::Response<lambda_http::Body>) -> Self {
        Self {
            status: response.status().as_u16(),
            headers: response
                .headers()
                .iter()
                .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned())))
                .collect(),
            body: response.body().to_vec(),
        }
    }
}

/// Who signs owners in: the token check API Gateway's JWT authorizer would make, and the dev
/// issuer when the runner is its own identity provider.
pub struct SignIn {
    pub verifier: Verifier,
    pub issuer: Option<DevIssuer>,
}

/// The leak-report function as the runner runs it: notices printed on standard output.
pub type LocalLeakReport<S> = LeakReport<S, Option<HttpsSource>, notifier::StdoutPublisher>;

/// API Gateway, the functions, the dev issuer and the echo backend.
pub struct Gateway<S> {
    api: Api<S>,
    leak_report: Option<LocalLeakReport<S>>,
    authorizer: authorizer::Authorizer<authorizer::VerifyCache<S>>,
    sign_in: SignIn,
    mode: Mode,
    clock: Arc<dyn Clock>,
    console: ConsoleSettings,
}

impl<S: Store + Clone> Gateway<S> {
    pub fn new(store: S, config: Config, mode: Mode, sign_in: SignIn, clock: Arc<dyn Clock>) -> Self {
        // VERIFY_CACHE_SECONDS as in Lambda (the runner's one process is one warm container).
        let cached = authorizer::VerifyCache::new(store.clone(), config.verify_cache);
        let authorizer = authorizer::Authorizer::new(cached, config.routes.clone(), Arc::clone(&clock))
            .with_last_used_window(config.limits.last_used_window);
        let api = Api::new(store, config, Arc::clone(&clock));
        // The console signs in where the management API's tokens come from; with the dev
        // issuer, as its registered console client.
        let console = ConsoleSettings {
            issuer: Some(sign_in.verifier.issuer().to_owned()),
            client_id: sign_in.issuer.as_ref().map(|_| oidc::CONSOLE_CLIENT_ID.to_owned()),
            sign_in_origins: Vec::new(),
        };
        Self { api, leak_report: None, authorizer, sign_in, mode, clock, console }
    }

    /// Where the console signs in, instead of the default (the dev issuer's console client).
    pub fn with_console(mut self, settings: ConsoleSettings) -> Self {
        self.console = settings;
        self
    }

    /// Serves GitHub's leak reports with `keys` (off until given).
    pub fn with_leak_report(mut self, store: S, keys: leak_report::config::LeakConfig) -> Self {
        let ring = leak_report::keyring::KeyRing::new(keys.source, keys.configured);
        self.leak_report =
            Some(LeakReport::new(store, ring, notifier::StdoutPublisher, Arc::clone(&self.clock)));
        self
    }

    /// Answers one request. The log line holds the path, never the query or a header.
    pub async fn handle(&self, request: LocalRequest) -> LocalResponse {
        let started = Instant::now();
        // A web page can make a browser send requests here (DNS rebinding: a name of theirs
        // that resolves to 127.0.0.1); such a request names their host, never a loopback one.
        let response = if !request.header("host").is_some_and(is_loopback_host) {
            let message = "nico-local answers only requests addressed to localhost, 127.0.0.1 or [::1]";
            LocalResponse::message(421, "message", message)
        } else if request.path == "/console/" {
            // The one path with an empty segment answered: the console's address, redirected.
            self.console(&request)
        } else if nico_keys::routes::path_refusal(&request.path).is_some() {
            self.denied()
        } else if request.method == "POST" && request.path == leak_report::PATH {
            self.leak(&request).await
        } else if key_management::routes::signed_by(&request.path) == Some(SignedBy::ApiKey) {
            self.whoami(&request).await
        } else if request.path == "/v1" || request.path.starts_with("/v1/") {
            self.management(&request).await
        } else if request.path == oidc::PATH || request.path.starts_with(&format!("{}/", oidc::PATH)) {
            match &self.sign_in.issuer {
                Some(issuer) => issuer.handle(&request, self.clock.now().timestamp()),
                None => LocalResponse::message(404, "message", "Not Found"),
            }
        } else if console::is_console_path(&request.path) {
            self.console(&request)
        } else if request.path == "/echo" || request.path.starts_with("/echo/") {
            echo(&request, Value::Null)
        } else {
            self.protected(&request).await
        };
        tracing::info!(
            method = %request.method,
            path = %request.path,
            status = response.status,
            latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            "request"
        );
        response
    }

    /// The web console's files, as the management function serves them.
    fn console(&self, request: &LocalRequest) -> LocalResponse {
        match request.method.parse() {
            Ok(method) => LocalResponse::of(&console::answer(&method, &request.path, &self.console)),
            Err(_) => LocalResponse::message(400, "message", "Bad Request"),
        }
    }

    /// API Gateway's answer when the authorizer denies the route.
    fn denied(&self) -> LocalResponse {
        match self.mode {
            Mode::Http => LocalResponse::message(403, "message", "Forbidden"),
            Mode::RestToken => LocalResponse::message(403, "Message", EXPLICIT_DENY),
        }
    }

    /// The management API behind the JWT authorizer.
    async fn management(&self, request: &LocalRequest) -> LocalResponse {
        let now = self.clock.now();
        let Some(authorization) = request.header("authorization") else {
            return unauthorized();
        };
        // API Gateway takes the token alone or after `Bearer`, and says why it refused it.
        let jwt = token::bearer(authorization).unwrap_or(authorization.trim());
        let claims = match self.sign_in.verifier.verify(jwt, now.timestamp()) {
            Ok(claims) => claims,
            Err(error) => {
                let mut response = unauthorized();
                let challenge =
                    format!(r#"Bearer scope="" error="invalid_token" error_description="{error}""#);
                response.headers.push(("www-authenticate".into(), challenge));
                return response;
            }
        };
        let event = management_event(request, claims, now);
        let response = match lambda_request(&event) {
            Ok(request) => self.api.handle(request).await,
            Err(response) => return response,
        };
        LocalResponse::of(&response)
    }

    /// GitHub's leak reports: no authorizer in front, the handler checks GitHub's signature.
    async fn leak(&self, request: &LocalRequest) -> LocalResponse {
        let Some(leak_report) = &self.leak_report else {
            let message = "leak reports are off: set GITHUB_SECRET_SCANNING_KEYS (or GITHUB_KEYS_URL)";
            return LocalResponse::message(404, "message", message);
        };
        match lambda_request(&http_event(request, None, self.clock.now())) {
            Ok(request) => LocalResponse::of(&leak_report.handle(request).await),
            Err(response) => response,
        }
    }

    /// `GET /v1/whoami`, as the management HTTP API serves it: behind the Lambda authorizer
    /// (whatever `--authorizer` says for the example API), its context handed to the function.
    async fn whoami(&self, request: &LocalRequest) -> LocalResponse {
        let Some(authorization) = request.header("authorization") else {
            return unauthorized();
        };
        let now = self.clock.now();
        let context = match self.authorize(http_authorizer_event(request, authorization, now)).await {
            Ok(AuthorizerResponse::Allowed(allowed)) => json!(allowed.context),
            Ok(_) => return LocalResponse::message(403, "message", "Forbidden"),
            Err(_) => return internal_error(),
        };
        match lambda_request(&http_event(request, Some(json!({ "lambda": context })), now)) {
            Ok(request) => LocalResponse::of(&self.api.handle(request).await),
            Err(response) => response,
        }
    }

    /// Calls the authorizer with an event as `lambda_runtime` would deliver it.
    async fn authorize(&self, event: Value) -> Result<AuthorizerResponse, AuthorizerError> {
        let event =
            serde_json::from_value(event).map_err(|_| AuthorizerError::BadEvent("unreadable event"))?;
        self.authorizer.handle(event).await
    }

    /// The example protected API behind the Lambda authorizer.
    async fn protected(&self, request: &LocalRequest) -> LocalResponse {
        let Some(authorization) = request.header("authorization") else {
            return unauthorized(); // API Gateway answers this itself, without the authorizer
        };
        match self.mode {
            Mode::Http => {
                let event = http_authorizer_event(request, authorization, self.clock.now());
                match self.authorize(event).await {
                    Ok(AuthorizerResponse::Allowed(allowed)) => echo(request, json!(allowed.context)),
                    Ok(_) => LocalResponse::message(403, "message", "Forbidden"),
                    Err(_) => internal_error(),
                }
            }
            Mode::RestToken => {
                let method_arn = format!("{API_ARN}/{REST_STAGE}/{}{}", request.method, request.path);
                let event =
                    json!({"type": "TOKEN", "authorizationToken": authorization, "methodArn": method_arn});
                match self.authorize(event).await {
                    Ok(AuthorizerResponse::Policy(policy)) => {
                        let statements = &policy.policy_document.statement;
                        let hits = |effect: IamPolicyEffect| {
                            statements.iter().filter(|s| s.effect == effect).any(|s| {
                                s.resource.iter().any(|resource| glob_matches(resource, &method_arn))
                            })
                        };
                        if hits(IamPolicyEffect::Deny) {
                            LocalResponse::message(403, "Message", EXPLICIT_DENY)
                        } else if hits(IamPolicyEffect::Allow) {
                            echo(request, json!(policy.context))
                        } else {
                            LocalResponse::message(
                                403,
                                "Message",
                                "User is not authorized to access this resource",
                            )
                        }
                    }
                    Ok(_) => internal_error(),
                    Err(AuthorizerError::Unauthorized) => unauthorized(),
                    Err(_) => internal_error(),
                }
            }
        }
    }
}

/// The request `lambda_http` would hand a function for `event`, or the gateway's 500.
fn lambda_request(event: &Value) -> Result<lambda_http::Request, LocalResponse> {
    lambda_http::request::from_str(&event.to_string()).map_err(|error| {
        tracing::error!(%error, "could not build the HTTP API event");
        internal_error()
    })
}

/// Whether a `Host` value names this machine: `localhost` or a loopback address, any port.
pub fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(bracketed) => bracketed.split_once(']').map_or("", |(address, _)| address),
        None => host
            .rsplit_once(':')
            .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
            .map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Whether a URL's host is this machine (for the DynamoDB endpoint the runner may use).
pub fn is_loopback_url(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    is_loopback_host(host)
}

/// A function's response as the runner sends it.
fn unauthorized() -> LocalResponse {
    LocalResponse::message(401, "message", "Unauthorized")
}

fn internal_error() -> LocalResponse {
    LocalResponse::message(500, "message", "Internal Server Error")
}

/// The example backend: says who called, as the authorizer told it.
fn echo(request: &LocalRequest, authorizer: Value) -> LocalResponse {
    LocalResponse::json(
        200,
        &json!({ "method": request.method, "path": request.path, "authorizer": authorizer }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_hosts_and_urls_are_this_machine() {
        for host in [
            "localhost",
            "LOCALHOST:3000",
            "127.0.0.1",
            "127.0.0.1:3000",
            "127.1.2.3:80",
            "[::1]",
            "[::1]:3000",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "",
            "evil.example",
            "localhost.evil.example",
            "10.0.0.1:3000",
            "[::2]:3000",
            "0.0.0.0",
            "localhost:x",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
        assert!(is_loopback_url("http://127.0.0.1:8000"));
        assert!(is_loopback_url("http://localhost:8000/"));
        assert!(!is_loopback_url("https://dynamodb.us-east-1.amazonaws.com"));
        assert!(!is_loopback_url("http://user@evil.example:80"));
        assert!(!is_loopback_url(""));
    }
}

#[cfg(test)]
mod sign_in_tests {
    use std::sync::Arc;

    use chrono::DateTime;
    use nico_keys::ManualClock;
    use nico_keys::config::ClaimNames;
    use nico_keys::store::embedded::EmbeddedStore;
    use serde_json::Value;

    use super::*;
    use crate::jwt::tests::{NOW, key};
    use crate::oidc::{self, DevIssuer, Identity};

    const BASE: &str = "http://127.0.0.1:3000";

    fn build(dir: &std::path::Path) -> (Gateway<EmbeddedStore>, oidc::Minter) {
        let env = |name: &str| match name {
            "TABLE_NAME" => Some("local".to_owned()),
            "ALLOWED_SCOPES" => Some("projects:read".to_owned()),
            "ROUTE_SCOPES" => Some("GET /projects/*=projects:read".to_owned()),
            _ => None,
        };
        let config = Config::from_lookup(env).unwrap();
        let now = DateTime::from_timestamp(NOW, 0).unwrap();
        let store = EmbeddedStore::open(&dir.join("keys.sqlite3"), config.limits.retention, now).unwrap();
        let issuer = DevIssuer::new(BASE, Arc::clone(key()), ClaimNames::default());
        let minter = issuer.minter().clone();
        let sign_in = SignIn { verifier: minter.verifier(oidc::client_ids()).unwrap(), issuer: Some(issuer) };
        let gateway = Gateway::new(store, config, Mode::Http, sign_in, Arc::new(ManualClock::at(now)));
        (gateway, minter)
    }

    fn list_bots(token: &str) -> LocalRequest {
        LocalRequest {
            method: "GET".into(),
            path: "/v1/bots".into(),
            query: String::new(),
            headers: vec![
                ("host".into(), "127.0.0.1:3000".into()),
                ("authorization".into(), format!("Bearer {token}")),
            ],
            body: Vec::new(),
        }
    }

    #[tokio::test]
    async fn the_management_api_takes_the_issuers_tokens_with_a_team_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let (gateway, minter) = build(dir.path());
        let owner = Identity::default_owner();
        let token = minter.access_token(&owner, oidc::CLI_CLIENT_ID, "openid", NOW, 60);
        let answer = gateway.handle(list_bots(&token)).await;
        assert_eq!(answer.status, 200, "{}", String::from_utf8_lossy(&answer.body));

        let id_token = minter.id_token(&owner, oidc::CONSOLE_CLIENT_ID, None, NOW, 60);
        assert_eq!(gateway.handle(list_bots(&id_token)).await.status, 200, "aud = a registered client");

        let elsewhere = minter.access_token(&owner, "another-client", "openid", NOW, 60);
        assert_eq!(gateway.handle(list_bots(&elsewhere)).await.status, 401);
        let expired = minter.access_token(&owner, oidc::CLI_CLIENT_ID, "openid", NOW - 120, 60);
        assert_eq!(gateway.handle(list_bots(&expired)).await.status, 401);

        // API Gateway lets a token without a team through; the function then refuses it.
        let no_team = oidc::Minter::new(
            minter.issuer().to_owned(),
            Arc::clone(key()),
            ClaimNames { team: "not_team_id".into(), ..ClaimNames::default() },
        )
        .access_token(&owner, oidc::CLI_CLIENT_ID, "openid", NOW, 60);
        let mut bare = list_bots(&token);
        bare.headers.retain(|(name, _)| name == "host");
        bare.headers.push(("authorization".into(), token.clone()));
        assert_eq!(gateway.handle(bare).await.status, 200, "the token alone, as API Gateway takes it");
        let refused = gateway.handle(list_bots(&expired)).await;
        let challenge = refused.headers.iter().find(|(name, _)| name == "www-authenticate").unwrap();
        assert!(
            challenge.1.contains(r#"error="invalid_token""#) && challenge.1.contains("expired"),
            "{challenge:?}"
        );

        let answer = gateway.handle(list_bots(&no_team)).await;
        let body: Value = serde_json::from_slice(&answer.body).unwrap();
        assert_eq!((answer.status, body["error"]["code"].as_str()), (401, Some("unauthenticated")));
    }

    #[tokio::test]
    async fn a_backslash_path_is_denied_before_routing_in_both_modes() {
        for (mode, denied) in [
            (Mode::Http, json!({"message": "Forbidden"})),
            (
                Mode::RestToken,
                json!({"Message": "User is not authorized to access this resource with an explicit deny"}),
            ),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let (mut gateway, _) = build(dir.path());
            gateway.mode = mode;
            for path in ["/projects/..\\billing", "/echo\\..\\projects\\1", "/v1\\bots"] {
                let mut request = list_bots("nico_x");
                request.path = path.into();
                let response = gateway.handle(request).await;
                let body: Value = serde_json::from_slice(&response.body).unwrap();
                assert_eq!((response.status, body), (403, denied.clone()), "{mode:?} {path}");
            }
        }
    }

    #[tokio::test]
    async fn the_issuer_answers_under_oidc_only_when_it_is_the_runners() {
        let dir = tempfile::tempdir().unwrap();
        let (gateway, minter) = build(dir.path());
        let mut request = list_bots("");
        request.path = "/oidc/.well-known/openid-configuration".into();
        request.headers.retain(|(name, _)| name == "host");
        let answer = gateway.handle(request.clone()).await;
        assert_eq!(answer.status, 200);
        let discovery: Value = serde_json::from_slice(&answer.body).unwrap();
        assert_eq!(discovery["issuer"], minter.issuer());

        let other_dir = tempfile::tempdir().unwrap();
        let (mut external, _) = build(other_dir.path());
        external.sign_in.issuer = None;
        assert_eq!(external.handle(request).await.status, 404);
    }
}
