//! API Gateway events for the tests: the AWS documentation's example payloads (under
//! `tests/fixtures/apigw/`), aimed at a route and carrying a given `Authorization` value.

use serde_json::{Value, json};

pub const API_ARN: &str = "arn:aws:execute-api:us-east-1:123456789012:abcdef123";
pub const STAGE: &str = "prod";

/// The three event shapes an API Gateway authorizer receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Token,
    Request,
    Http,
}

pub const SHAPES: [Shape; 3] = [Shape::Token, Shape::Request, Shape::Http];

impl Shape {
    pub fn is_rest(self) -> bool {
        self != Self::Http
    }
}

/// A fixture file, parsed.
pub fn fixture(name: &str) -> Value {
    let path = format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The method ARN API Gateway would send for `method path` on the test API.
pub fn method_arn(method: &str, path: &str) -> String {
    format!("{API_ARN}/{STAGE}/{method}{path}")
}

/// The documentation's example event of `shape`, for `method path`, with `authorization` as
/// the `Authorization` value (absent when `None`).
pub fn event(shape: Shape, authorization: Option<&str>, method: &str, path: &str) -> Value {
    match shape {
        Shape::Token => {
            let mut event = fixture("apigw/rest-token-authorizer.json");
            event["methodArn"] = json!(method_arn(method, path));
            match authorization {
                Some(value) => event["authorizationToken"] = json!(value),
                None => drop(event.as_object_mut().unwrap().remove("authorizationToken")),
            }
            event
        }
        Shape::Request => {
            let mut event = fixture("apigw/rest-request-authorizer.json");
            event["methodArn"] = json!(method_arn(method, path));
            event["httpMethod"] = json!(method);
            event["path"] = json!(path);
            event["resource"] = json!(path);
            set_header(&mut event["headers"], "Authorization", authorization.map(|v| json!(v)));
            set_header(&mut event["multiValueHeaders"], "Authorization", authorization.map(|v| json!([v])));
            event
        }
        Shape::Http => {
            let mut event = fixture("apigw/http-api-authorizer-v2.json");
            event["routeArn"] = json!(method_arn(method, path));
            event["rawPath"] = json!(path);
            event["requestContext"]["http"]["method"] = json!(method);
            event["requestContext"]["http"]["path"] = json!(path);
            set_header(&mut event["headers"], "authorization", authorization.map(|v| json!(v)));
            match authorization {
                Some(value) => event["identitySource"] = json!([value]),
                None => drop(event.as_object_mut().unwrap().remove("identitySource")),
            }
            event
        }
    }
}

fn set_header(headers: &mut Value, name: &str, value: Option<Value>) {
    let headers = headers.as_object_mut().expect("headers object");
    match value {
        Some(value) => drop(headers.insert(name.to_owned(), value)),
        None => drop(headers.remove(name)),
    }
}

/// `Authorization: Bearer <key>`.
pub fn bearer(raw: &str) -> String {
    format!("Bearer {raw}")
}

/// An event as the authorizer receives it: serialised, then read by `lambda_runtime` into the
/// handler's input type.
pub fn delivered(event: &Value) -> authorizer::AuthorizerEvent {
    serde_json::from_slice(&serde_json::to_vec(event).unwrap()).expect("the authorizer reads the event")
}
