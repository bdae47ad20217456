//! The API Gateway Lambda authorizer: one strongly consistent read per request, fail-closed.
//!
//! It answers the three event shapes API Gateway sends, each in the form that shape expects:
//!
//! | decision                              | REST `TOKEN` / `REQUEST`                          | HTTP API payload 2.0 (simple response)  |
//! |---------------------------------------|---------------------------------------------------|-----------------------------------------|
//! | no key, malformed, unknown, expired, revoked | error `Unauthorized` (client: 401)         | `isAuthorized: false` (client: 403)     |
//! | valid key, route outside its scopes   | the key's policy, which does not cover it (403)   | `isAuthorized: false` (403)             |
//! | valid key, route within its scopes    | the key's policy + context                        | `isAuthorized: true` + context          |
//! | store failure or timeout              | another error (client: 500), never cached          | an error (500)                          |
//!
//! A REST policy depends on the key alone, never on the route asked for: it allows exactly
//! the method ARNs the key's scopes open (see `nico_keys::routes`), so a cached policy is right
//! for every route. An HTTP API answer is about one route, so with caching on the route must
//! be part of the cache key; the SAM template does that.
//!
//! An HTTP API payload 1.0 event is refused (an error, client 500) with a fixed message: this
//! authorizer answers payload 2.0 with simple responses.
//!
//! Before any rule is matched, an HTTP API request whose path a backend could read as another
//! path (`..`, `%2F`, `\`, `//`, …; see `nico_keys::routes::path_refusal`) is denied with the
//! reason `unsafe_path`. A REST policy cannot know the path it will be applied to, so it denies
//! the method ARNs of such paths explicitly (`nico_keys::routes::REFUSED_PATH_PATTERNS`).
//!
//! Every decision is one structured log line (decision, reason, key id, shape, latency). The
//! bearer value, the secret and its digest are never logged: the key id is read from the
//! parsed token, and errors carry no input. Reading the event cannot fail on any JSON value
//! ([`AuthorizerEvent`]), so `lambda_runtime` never logs or returns a deserialisation error,
//! which would quote the value it choked on.

mod last_used;

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lambda_events::apigw::{
    ApiGatewayCustomAuthorizerPolicy, ApiGatewayCustomAuthorizerResponse,
    ApiGatewayV2CustomAuthorizerSimpleResponse,
};
use aws_lambda_events::iam::{IamPolicyEffect, IamPolicyStatement};
use lambda_runtime::Diagnostic;
use nico_keys::model::format_time;
use nico_keys::routes::{self, RouteRules};
use nico_keys::store::{CredentialStore, Rejection, StoreError, VerifyError};
use nico_keys::{Clock, Principal, SourceIp, token};

pub use crate::last_used::{
    DEFAULT_WINDOW as DEFAULT_LAST_USED_WINDOW, WRITE_BUDGET as LAST_USED_WRITE_BUDGET,
};
use serde::{Deserialize, Serialize};

/// Which of the three event shapes API Gateway sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// REST API, `TOKEN` authorizer.
    Token,
    /// REST API, `REQUEST` authorizer.
    Request,
    /// HTTP API, payload format 2.0.
    Http,
}

impl Shape {
    fn name(self) -> &'static str {
        match self {
            Self::Token => "rest_token",
            Self::Request => "rest_request",
            Self::Http => "http_v2",
        }
    }
}

/// Why a decision went the way it did: the `reason` of the decision's log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Let through.
    Ok,
    /// No `Authorization: Bearer` value.
    MissingBearer,
    /// The key is refused: malformed, wrong checksum, unknown, wrong secret, expired, revoked.
    Rejected(Rejection),
    /// A valid key whose scopes do not open the route.
    RouteNotInScopes,
    /// An HTTP API path a backend could read as another path: refused before any rule.
    UnsafePath,
    /// The store did not answer: fail closed.
    StoreUnavailable,
    /// Not an event this authorizer understands.
    BadEvent,
}

impl Reason {
    /// The stable name logs and metrics use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::MissingBearer => "missing_bearer",
            Self::Rejected(rejection) => rejection.reason(),
            Self::RouteNotInScopes => "route_not_in_scopes",
            Self::UnsafePath => "unsafe_path",
            Self::StoreUnavailable => "store_unavailable",
            Self::BadEvent => "bad_event",
        }
    }
}

/// What the backend receives about the caller; values are scalars, as API Gateway requires.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthContext {
    pub bot_id: String,
    pub team_id: String,
    pub key_id: String,
    /// The key's scopes, sorted and separated by single spaces.
    pub scopes: String,
    /// When the key expires (RFC 3339, UTC), so a backend can warn its caller in time.
    pub expires_at: String,
}

impl From<&Principal> for AuthContext {
    fn from(principal: &Principal) -> Self {
        Self {
            bot_id: principal.bot_id.to_string(),
            team_id: principal.team_id.to_string(),
            key_id: principal.key_id.to_string(),
            scopes: principal.scopes.joined(),
            expires_at: format_time(principal.expires_at),
        }
    }
}

/// The empty context of a refusal: serialised as `{}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoContext {}

/// What the function returns to API Gateway when it does not fail.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum AuthorizerResponse {
    Policy(ApiGatewayCustomAuthorizerResponse<AuthContext>),
    Allowed(ApiGatewayV2CustomAuthorizerSimpleResponse<AuthContext>),
    Refused(ApiGatewayV2CustomAuthorizerSimpleResponse<NoContext>),
}

/// Why the function answers with an error instead of a response.
#[derive(Debug, thiserror::Error)]
pub enum AuthorizerError {
    /// The REST answer to a bad key: API Gateway turns exactly this message into a 401.
    #[error("Unauthorized")]
    Unauthorized,
    /// The store did not answer: API Gateway answers 500, and caches nothing.
    #[error("key store unavailable: {0}")]
    Store(#[source] StoreError),
    /// Not an event this authorizer understands (a wiring mistake, not a client's).
    #[error("unsupported event: {0}")]
    BadEvent(&'static str),
}

impl From<AuthorizerError> for Diagnostic {
    /// The only place errors become answers. Causes stay in the log; API Gateway only needs
    /// to tell `Unauthorized` from anything else.
    fn from(error: AuthorizerError) -> Self {
        let (error_type, error_message) = match error {
            AuthorizerError::Unauthorized => ("Unauthorized", "Unauthorized"),
            AuthorizerError::Store(_) | AuthorizerError::BadEvent(_) => {
                ("AuthorizerError", "authorizer unavailable")
            }
        };
        Diagnostic { error_type: error_type.into(), error_message: error_message.into() }
    }
}

/// The request being authorised, reduced to what the decision needs.
struct Call {
    shape: Shape,
    bearer: Option<String>,
    target: Target,
    /// The caller's address (REST `REQUEST`, HTTP API 2.0; a `TOKEN` event has none).
    source_ip: Option<SourceIp>,
}

enum Target {
    /// A REST method ARN, split into `arn:…:{api id}`, the stage and `{METHOD}/{path}`.
    Rest {
        api_arn: String,
        stage: String,
        method: String,
        path: String,
    },
    Http {
        method: String,
        path: String,
    },
}

impl Target {
    fn method_and_path(&self) -> (&str, &str) {
        match self {
            Self::Rest { method, path, .. } | Self::Http { method, path } => (method, path),
        }
    }
}

/// The authorizer: the store to ask, the route rules, and the clock.
pub struct Authorizer<S> {
    store: S,
    rules: RouteRules,
    clock: Arc<dyn Clock>,
    last_used_window: Duration,
}

impl<S: CredentialStore> Authorizer<S> {
    pub fn new(store: S, rules: RouteRules, clock: Arc<dyn Clock>) -> Self {
        Self { store, rules, clock, last_used_window: DEFAULT_LAST_USED_WINDOW }
    }

    /// Records a key's use at most once per `window` (`LAST_USED_WINDOW_SECONDS`).
    pub fn with_last_used_window(mut self, window: Duration) -> Self {
        self.last_used_window = window;
        self
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// Answers one event. Logs exactly one line about the decision.
    pub async fn handle(&self, event: AuthorizerEvent) -> Result<AuthorizerResponse, AuthorizerError> {
        let started = Instant::now();
        let call = match read_event(event) {
            Ok(call) => call,
            Err(error) => {
                let reason = Reason::BadEvent.as_str();
                tracing::error!(decision = "error", reason, error = %error, "authorizer decision");
                return Err(error);
            }
        };
        let parsed = call.bearer.as_deref().and_then(token::bearer).map(token::parse);
        let key_id = parsed.as_ref().and_then(|p| p.as_ref().ok()).map(|p| p.key_id().to_string());
        let unsafe_path = match &call.target {
            Target::Http { path, .. } => routes::path_refusal(path).is_some(),
            Target::Rest { .. } => false,
        };
        let verdict = match parsed {
            _ if unsafe_path => Err(Verdict::Denied(Reason::UnsafePath)),
            None => Err(Verdict::Denied(Reason::MissingBearer)),
            Some(Err(e)) => Err(Verdict::Denied(Reason::Rejected(Rejection::Format(e)))),
            Some(Ok(parsed)) => {
                let now = self.clock.now();
                match self.store.verify_parsed(&parsed, now).await {
                    Ok(principal) => {
                        let window = self.last_used_window;
                        last_used::record(&self.store, &principal, call.source_ip, now, window).await;
                        Ok(principal)
                    }
                    Err(VerifyError::Rejected(rejection)) => {
                        Err(Verdict::Denied(Reason::Rejected(rejection)))
                    }
                    Err(VerifyError::Store(error)) => Err(Verdict::Failed(error)),
                }
            }
        };
        let answer = self.answer(&call, verdict);
        let (decision, reason) = match &answer {
            Answer::Allow(_) => ("allow", Reason::Ok),
            Answer::Deny(_, reason) => ("deny", *reason),
            Answer::Error(_) => ("error", Reason::StoreUnavailable),
        };
        let reason = reason.as_str();
        let latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        let key_id = key_id.as_deref().unwrap_or("-");
        match &answer {
            Answer::Error(AuthorizerError::Store(cause)) => tracing::error!(
                decision, reason, key_id, shape = call.shape.name(), latency_us, error = %cause,
                "authorizer decision"
            ),
            _ => tracing::info!(
                decision,
                reason,
                key_id,
                shape = call.shape.name(),
                latency_us,
                "authorizer decision"
            ),
        }
        answer.into_result()
    }

    fn answer(&self, call: &Call, verdict: Result<Principal, Verdict>) -> Answer {
        let principal = match verdict {
            Ok(principal) => principal,
            Err(Verdict::Failed(error)) => return Answer::Error(AuthorizerError::Store(error)),
            Err(Verdict::Denied(reason)) => return deny(call.shape, reason),
        };
        let (method, path) = call.target.method_and_path();
        let permitted = self.rules.permits(&principal.scopes, method, path);
        match &call.target {
            Target::Rest { api_arn, stage, .. } => {
                let response = policy_response(&principal, &self.rules, api_arn, stage);
                if permitted {
                    Answer::Allow(response)
                } else {
                    Answer::Deny(Some(response), Reason::RouteNotInScopes)
                }
            }
            Target::Http { .. } if permitted => {
                let mut response = ApiGatewayV2CustomAuthorizerSimpleResponse::default();
                response.is_authorized = true;
                response.context = AuthContext::from(&principal);
                Answer::Allow(AuthorizerResponse::Allowed(response))
            }
            Target::Http { .. } => deny(Shape::Http, Reason::RouteNotInScopes),
        }
    }
}

enum Verdict {
    Denied(Reason),
    Failed(StoreError),
}

enum Answer {
    Allow(AuthorizerResponse),
    /// A refusal: the response to send, or none for REST's `Unauthorized` error.
    Deny(Option<AuthorizerResponse>, Reason),
    Error(AuthorizerError),
}

impl Answer {
    fn into_result(self) -> Result<AuthorizerResponse, AuthorizerError> {
        match self {
            Self::Allow(response) | Self::Deny(Some(response), _) => Ok(response),
            Self::Deny(None, _) => Err(AuthorizerError::Unauthorized),
            Self::Error(error) => Err(error),
        }
    }
}

fn deny(shape: Shape, reason: Reason) -> Answer {
    match shape {
        Shape::Token | Shape::Request => Answer::Deny(None, reason),
        Shape::Http => Answer::Deny(
            Some(AuthorizerResponse::Refused(ApiGatewayV2CustomAuthorizerSimpleResponse::default())),
            reason,
        ),
    }
}

/// The REST answer for a valid key: allow exactly the ARNs its scopes open, whatever route was
/// asked for, and deny the ARNs of refused paths; if they open none, an explicit Deny of the
/// whole API (an empty policy is invalid).
fn policy_response(
    principal: &Principal,
    rules: &RouteRules,
    api_arn: &str,
    stage: &str,
) -> AuthorizerResponse {
    let resources: Vec<String> = rules
        .permitted_patterns(&principal.scopes)
        .into_iter()
        .map(|pattern| format!("{api_arn}/{stage}/{pattern}"))
        .collect();
    let statement = |effect, resource| {
        let mut statement = IamPolicyStatement::default();
        statement.action = vec!["execute-api:Invoke".to_owned()];
        statement.effect = effect;
        statement.resource = resource;
        statement
    };
    let statements = if resources.is_empty() {
        vec![statement(IamPolicyEffect::Deny, vec![format!("{api_arn}/*")])]
    } else {
        // Whatever the key may call, never a path a backend could read as another path: an
        // explicit Deny wins over any Allow, and depends on nothing but the API and stage.
        let refused =
            routes::REFUSED_PATH_PATTERNS.iter().map(|p| format!("{api_arn}/{stage}/{p}")).collect();
        vec![statement(IamPolicyEffect::Allow, resources), statement(IamPolicyEffect::Deny, refused)]
    };
    let mut policy = ApiGatewayCustomAuthorizerPolicy::default();
    policy.version = Some("2012-10-17".to_owned());
    policy.statement = statements;
    let mut response = ApiGatewayCustomAuthorizerResponse::default();
    response.principal_id = Some(principal.bot_id.to_string());
    response.policy_document = policy;
    response.context = AuthContext::from(principal);
    AuthorizerResponse::Policy(response)
}

/// The authorizer's input: the fields of the event shapes that decisions need, and nothing
/// else.
///
/// API Gateway sends much more (every header, query parameters, the request context); the
/// `aws_lambda_events` request types build all of it into owned maps only for it to be
/// dropped, which was most of the hot path (the benchmark measured 5.9 µs of 8 µs for a REST
/// `REQUEST` event). Here `lambda_runtime` deserialises the payload straight into this struct:
/// unknown fields are skipped without being built, and of the headers only `Authorization`
/// (in any case) is kept. The fixtures under `tests/fixtures/apigw/` are the AWS
/// documentation's examples of each shape, and the tests read them through this type.
///
/// **Reading it cannot fail on any JSON value.** A field of an unexpected type counts as
/// absent (an HTTP API payload 1.0 event's `identitySource` is a string, not a list), and
/// anything that is not an object is an event without fields; [`read_event`] then refuses what
/// it cannot use, with a fixed message. A deserialisation error would be logged and returned
/// by `lambda_runtime`, and serde's messages quote the value they choked on, which may be the
/// `Authorization` header. What `serde_json` still refuses is input that is not JSON (Lambda's
/// Invoke API refuses that before the function runs) or nested deeper than 128 levels; those
/// messages hold a fixed text, a position and a path of `?` and list indexes, never a part of
/// the input: field names are read as bytes, which `serde_path_to_error` does not record.
///
/// Its `Debug` shows only the event's type and version, and which fields were given.
#[derive(Default)]
pub struct AuthorizerEvent {
    kind: Option<String>,
    version: Option<String>,
    /// REST `TOKEN`.
    authorization_token: Option<String>,
    /// REST `TOKEN` and `REQUEST`.
    method_arn: Option<String>,
    /// REST `REQUEST` and HTTP API 2.0: the `Authorization` header, in any case.
    authorization: Option<String>,
    /// HTTP API 2.0.
    raw_path: Option<String>,
    /// HTTP API 2.0: the first identity source.
    identity_source: Option<String>,
    /// HTTP API 2.0: `requestContext.stage`.
    stage: Option<String>,
    /// HTTP API 2.0: `requestContext.http.method`.
    http_method: Option<String>,
    /// `requestContext.http.sourceIp` (HTTP API 2.0) or `requestContext.identity.sourceIp`
    /// (REST `REQUEST`).
    source_ip: Option<String>,
}

impl std::fmt::Debug for AuthorizerEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        /// Known values as they are; anything else, which may be anything, is not shown.
        fn known(value: Option<&str>, known: &[&'static str]) -> &'static str {
            match value {
                None => "absent",
                Some(v) => known.iter().find(|k| **k == v).copied().unwrap_or("<other>"),
            }
        }
        let given = |field: &Option<String>| if field.is_some() { "<given>" } else { "absent" };
        f.debug_struct("AuthorizerEvent")
            .field("type", &known(self.kind.as_deref(), &["TOKEN", "REQUEST"]))
            .field("version", &known(self.version.as_deref(), &["1.0", "2.0"]))
            .field("authorizationToken", &given(&self.authorization_token))
            .field("methodArn", &given(&self.method_arn))
            .field("authorization", &given(&self.authorization))
            .field("rawPath", &given(&self.raw_path))
            .field("identitySource", &given(&self.identity_source))
            .field("stage", &given(&self.stage))
            .field("method", &given(&self.http_method))
            .field("source_ip", &given(&self.source_ip))
            .finish()
    }
}

impl<'de> Deserialize<'de> for AuthorizerEvent {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(lenient::Event)
    }
}

mod lenient;

// Scale (issue 22): the in-container cache of positive verifications.
pub mod cache;
pub use cache::VerifyCache;

fn read_event(event: AuthorizerEvent) -> Result<Call, AuthorizerError> {
    match (event.kind.as_deref(), event.version.as_deref()) {
        (Some("REQUEST"), Some("2.0")) => {
            let method =
                event.http_method.ok_or(AuthorizerError::BadEvent("HTTP API event without a method"))?;
            let raw_path = event.raw_path.as_deref().unwrap_or("/");
            let path = routes::strip_stage(raw_path, event.stage.as_deref()).to_owned();
            let bearer = event.authorization.or(event.identity_source);
            let source_ip = event.source_ip.as_deref().and_then(SourceIp::parse);
            Ok(Call { shape: Shape::Http, bearer, target: Target::Http { method, path }, source_ip })
        }
        (Some("REQUEST"), Some("1.0")) => Err(AuthorizerError::BadEvent(
            "HTTP API payload format 1.0 is not supported: set the authorizer's payload format version to 2.0",
        )),
        (Some("TOKEN"), _) => Ok(Call {
            shape: Shape::Token,
            bearer: event.authorization_token,
            target: rest_target(event.method_arn.as_deref())?,
            source_ip: None,
        }),
        (Some("REQUEST"), None) => Ok(Call {
            shape: Shape::Request,
            bearer: event.authorization,
            target: rest_target(event.method_arn.as_deref())?,
            source_ip: event.source_ip.as_deref().and_then(SourceIp::parse),
        }),
        _ => Err(AuthorizerError::BadEvent("neither TOKEN, REQUEST nor HTTP API 2.0")),
    }
}

/// Splits `arn:aws:execute-api:{region}:{account}:{api}/{stage}/{METHOD}/{path}`.
fn rest_target(method_arn: Option<&str>) -> Result<Target, AuthorizerError> {
    let bad = || AuthorizerError::BadEvent("methodArn is not an execute-api method ARN");
    let arn = method_arn.ok_or_else(bad)?;
    let (api_arn, rest) = arn.split_once('/').ok_or_else(bad)?;
    let (stage, rest) = rest.split_once('/').ok_or_else(bad)?;
    let (method, path) = rest.split_once('/').ok_or_else(bad)?;
    if !api_arn.starts_with("arn:") || stage.is_empty() || method.is_empty() {
        return Err(bad());
    }
    Ok(Target::Rest {
        api_arn: api_arn.to_owned(),
        stage: stage.to_owned(),
        method: method.to_owned(),
        path: format!("/{path}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads `input` as `lambda_runtime` does.
    fn as_the_runtime_reads(input: &str) -> Result<AuthorizerEvent, String> {
        let mut json = serde_json::Deserializer::from_slice(input.as_bytes());
        serde_path_to_error::deserialize(&mut json).map_err(|e| format!("{e} | {e:?}"))
    }

    #[test]
    fn any_json_value_is_read_and_fields_of_the_wrong_type_are_absent() {
        for input in
            ["null", "7", "\"SECRET\"", "[\"SECRET\"]", "{}", r#"{"type": ["SECRET"], "headers": "SECRET"}"#]
        {
            let event = as_the_runtime_reads(input).unwrap();
            assert!(!format!("{event:?}").contains("SECRET"), "{input}");
        }
        let event = as_the_runtime_reads(
            r#"{"type": "REQUEST", "version": "2.0", "identitySource": "Bearer SECRET",
                "headers": {"AUTHORIZATION": 1, "x": {"authorization": "SECRET"}}, "rawPath": "/a",
                "requestContext": {"http": {"method": "GET"}, "stage": ["SECRET"]}}"#,
        )
        .unwrap();
        assert_eq!((event.identity_source, event.authorization, event.stage), (None, None, None));
        assert_eq!((event.raw_path.as_deref(), event.http_method.as_deref()), (Some("/a"), Some("GET")));
        let event = as_the_runtime_reads(
            r#"{"headers": {"Authorization": "Bearer a", "authorization": "Bearer b"}}"#,
        )
        .unwrap();
        assert_eq!(event.authorization.as_deref(), Some("Bearer b"), "of several, the last");
        let debug = format!("{event:?}");
        assert!(debug.contains("authorization: \"<given>\"") && !debug.contains("Bearer"), "{debug}");
    }

    #[test]
    fn an_error_on_input_that_is_not_json_names_no_part_of_it() {
        let deep = format!(r#"{{"SECRET": {}"#, "[".repeat(200));
        for input in [
            r#"{"metSECRET": tru"#,
            r#"{"headers": {"SECRET": "x", "authSECRET": tr"#,
            r#"{"requestContext": {"http": {"SECRET": }}}"#,
            r#"{"SECRET": {"SECRET": [1, {"SECRET": nul"#,
            r#"{"type": "SEC\qRET"}"#,
            r#"{"identitySource": {"SECRET": 1, "x": tr"#,
            r#"{"headers": 1, "requestContext": {"http": [{"SECRET": 1}], "stage": {"SECRET": }}}"#,
            deep.as_str(),
        ] {
            let error = as_the_runtime_reads(input).expect_err("not JSON");
            assert!(!error.contains("SECRET"), "{input}");
        }
    }

    #[test]
    fn method_arns_split_into_api_stage_method_and_path() {
        let Ok(Target::Rest { api_arn, stage, method, path }) =
            rest_target(Some("arn:aws:execute-api:us-east-1:123456789012:abcdef123/test/GET/projects/1"))
        else {
            panic!("not a REST target");
        };
        assert_eq!(api_arn, "arn:aws:execute-api:us-east-1:123456789012:abcdef123");
        assert_eq!((stage.as_str(), method.as_str(), path.as_str()), ("test", "GET", "/projects/1"));
        let Ok(Target::Rest { path, .. }) = rest_target(Some("arn:aws:execute-api:r:a:api/*/GET/")) else {
            panic!("root path");
        };
        assert_eq!(path, "/");
        for bad in [None, Some(""), Some("arn:aws:execute-api:r:a:api"), Some("nope/a/GET/x")] {
            assert!(rest_target(bad).is_err(), "{bad:?}");
        }
    }
}
