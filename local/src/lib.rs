//! The local runner: what API Gateway does in front of the two functions, in one process.
//!
//! * `/v1/…` is the management API. The owner's JWT is checked as API Gateway's JWT
//!   authorizer would ([`jwt`]), then the key-management handler is called in-process with
//!   the HTTP API payload 2.0 event API Gateway would send, claims included.
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

pub mod jwt;

use std::sync::Arc;
use std::time::Instant;

use authorizer::{AuthorizerError, AuthorizerResponse};
use aws_lambda_events::iam::IamPolicyEffect;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use key_management::Api;
use nico_keys::routes::glob_matches;
use nico_keys::store::Store;
use nico_keys::{Clock, Config, token};
use serde_json::{Map, Value, json};

use crate::jwt::Jwt;

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
}

/// API Gateway, both functions and the echo backend.
pub struct Gateway<S> {
    api: Api<S>,
    authorizer: authorizer::Authorizer<S>,
    jwt: Jwt,
    mode: Mode,
    clock: Arc<dyn Clock>,
}

impl<S: Store + Clone> Gateway<S> {
    pub fn new(store: S, config: Config, mode: Mode, jwt: Jwt, clock: Arc<dyn Clock>) -> Self {
        let authorizer =
            authorizer::Authorizer::new(store.clone(), config.routes.clone(), Arc::clone(&clock));
        let api = Api::new(store, config, Arc::clone(&clock));
        Self { api, authorizer, jwt, mode, clock }
    }

    pub async fn handle(&self, request: LocalRequest) -> LocalResponse {
        let started = Instant::now();
        let response = if nico_keys::routes::path_refusal(&request.path).is_some() {
            self.denied()
        } else if request.path == "/v1" || request.path.starts_with("/v1/") {
            self.management(&request).await
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
        let claims = request
            .header("authorization")
            .and_then(token::bearer)
            .map(|jwt| self.jwt.verify(jwt, now.timestamp()));
        let Some(Ok(claims)) = claims else {
            return unauthorized();
        };
        let event = management_event(request, claims, now);
        let request = match lambda_http::request::from_str(&event.to_string()) {
            Ok(request) => request,
            Err(error) => {
                tracing::error!(%error, "could not build the HTTP API event");
                return internal_error();
            }
        };
        let response = self.api.handle(request).await;
        LocalResponse {
            status: response.status().as_u16(),
            headers: response
                .headers()
                .iter()
                .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned())))
                .collect(),
            body: response.body().to_vec(),
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

fn headers_object(request: &LocalRequest) -> Map<String, Value> {
    let mut headers = Map::new();
    for (name, value) in &request.headers {
        match headers.get_mut(name) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(value);
            }
            _ => drop(headers.insert(name.clone(), json!(value))),
        }
    }
    headers
}

fn query_object(query: &str) -> Map<String, Value> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (name.to_owned(), json!(value))
        })
        .collect()
}

/// The `requestContext` API Gateway adds to an HTTP API event received at `now`.
fn request_context(request: &LocalRequest, now: DateTime<Utc>) -> Value {
    json!({
        "accountId": "000000000000",
        "apiId": "local",
        "domainName": "localhost",
        "domainPrefix": "localhost",
        "http": {
            "method": request.method,
            "path": request.path,
            "protocol": "HTTP/1.1",
            "sourceIp": "127.0.0.1",
            "userAgent": request.header("user-agent").unwrap_or(""),
        },
        "requestId": nico_keys::KeyId::generate(now).to_string(),
        "routeKey": "$default",
        "stage": "$default",
        "time": now.format("%d/%b/%Y:%H:%M:%S %z").to_string(),
        "timeEpoch": now.timestamp_millis(),
    })
}

/// The HTTP API payload 2.0 event API Gateway sends a Lambda integration behind a JWT
/// authorizer, received at `now`; claim values are strings, as API Gateway passes them.
pub fn management_event(request: &LocalRequest, claims: Map<String, Value>, now: DateTime<Utc>) -> Value {
    let mut context = request_context(request, now);
    context["authorizer"] = json!({ "jwt": { "claims": claims, "scopes": null } });
    let (body, encoded) = match std::str::from_utf8(&request.body) {
        Ok(text) => (text.to_owned(), false),
        Err(_) => (STANDARD.encode(&request.body), true),
    };
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": request.path,
        "rawQueryString": request.query,
        "headers": headers_object(request),
        "queryStringParameters": query_object(&request.query),
        "requestContext": context,
        "isBase64Encoded": encoded,
    });
    if !request.body.is_empty() {
        event["body"] = json!(body);
    }
    event
}

/// The HTTP API payload 2.0 event API Gateway sends a Lambda authorizer for a request received
/// at `now`.
pub fn http_authorizer_event(request: &LocalRequest, authorization: &str, now: DateTime<Utc>) -> Value {
    json!({
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": format!("arn:aws:execute-api:local:000000000000:local/$default/{}{}", request.method, request.path),
        "identitySource": [authorization],
        "routeKey": "$default",
        "rawPath": request.path,
        "rawQueryString": request.query,
        "headers": headers_object(request),
        "queryStringParameters": query_object(&request.query),
        "requestContext": request_context(request, now),
    })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn request() -> LocalRequest {
        LocalRequest {
            method: "GET".into(),
            path: "/projects/42".into(),
            query: String::new(),
            headers: vec![("authorization".into(), "Bearer k".into())],
            body: Vec::new(),
        }
    }

    #[test]
    fn events_carry_the_time_they_are_given_not_the_system_time() {
        let received = Utc.with_ymd_and_hms(2031, 1, 2, 3, 4, 5).unwrap();
        let events = [
            management_event(&request(), Map::new(), received),
            http_authorizer_event(&request(), "Bearer k", received),
        ];
        for event in events {
            let context = &event["requestContext"];
            assert_eq!(context["timeEpoch"], json!(received.timestamp_millis()));
            assert_eq!(context["time"], "02/Jan/2031:03:04:05 +0000");
        }
    }
}
