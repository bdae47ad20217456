//! The events API Gateway would send, built from a plain request: the payload 2.0 event of a
//! Lambda integration (with a JWT authorizer's claims on the management API) and of a Lambda
//! authorizer. Each takes the time the gateway received the request, so a test's clock moves
//! them too.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::LocalRequest;

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
    http_event(request, Some(json!({ "jwt": { "claims": claims, "scopes": null } })), now)
}

/// The HTTP API payload 2.0 event of a Lambda integration, with the `authorizer` context
/// (none on a public route), received at `now`.
pub(crate) fn http_event(request: &LocalRequest, authorizer: Option<Value>, now: DateTime<Utc>) -> Value {
    let mut context = request_context(request, now);
    if let Some(authorizer) = authorizer {
        context["authorizer"] = authorizer;
    }
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
