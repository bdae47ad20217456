//! API Gateway events for the tests: the AWS documentation's example payloads (under
//! `tests/fixtures/apigw/`), aimed at a route and carrying a given `Authorization` value; and
//! what API Gateway makes of the authorizer's answer.

use authorizer::{AuthorizerError, AuthorizerResponse};
use lambda_runtime::Diagnostic;
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

/// What API Gateway makes of an authorizer's answer: a REST policy, an HTTP API simple
/// response either way, the REST error `Unauthorized` (401), or any other error (500).
#[derive(Debug)]
pub enum Outcome {
    /// REST: a policy (with context); whether it covers the route is API Gateway's business.
    Policy(Value),
    /// HTTP API: `isAuthorized: true` and the context.
    Authorized(Value),
    /// HTTP API: `isAuthorized: false`.
    NotAuthorized(Value),
    /// REST: the error `Unauthorized` (401).
    Unauthorized,
    /// Any other error (500).
    Failed,
}

impl Outcome {
    pub fn of(result: Result<AuthorizerResponse, AuthorizerError>) -> Self {
        match result {
            Ok(response) => {
                let json = serde_json::to_value(&response).unwrap();
                match &response {
                    AuthorizerResponse::Policy(_) => Self::Policy(json),
                    AuthorizerResponse::Allowed(_) => Self::Authorized(json),
                    AuthorizerResponse::Refused(_) => Self::NotAuthorized(json),
                }
            }
            Err(error) => {
                let diagnostic = Diagnostic::from(error);
                if diagnostic.error_message == "Unauthorized" { Self::Unauthorized } else { Self::Failed }
            }
        }
    }

    /// Whether the client is let through to the backend for the route asked.
    pub fn lets_through(&self, method: &str, path: &str) -> bool {
        match self {
            Self::Policy(policy) => policy_allows(policy, &method_arn(method, path)),
            Self::Authorized(_) => true,
            _ => false,
        }
    }

    /// A refusal in the form of its shape: REST `Unauthorized`, HTTP `isAuthorized: false`.
    pub fn is_refusal(&self, shape: Shape) -> bool {
        match self {
            Self::Unauthorized => shape.is_rest(),
            Self::NotAuthorized(json) => {
                !shape.is_rest() && json == &json!({"isAuthorized": false, "context": {}})
            }
            _ => false,
        }
    }
}

/// IAM's evaluation of an authorizer policy for one method ARN, written independently of the
/// crate: a resource pattern with `*` (any run, `/` included) and `?` (one character).
pub fn policy_allows(policy: &Value, arn: &str) -> bool {
    let matches = |pattern: &str| {
        let mut re = String::from("^");
        for c in pattern.chars() {
            match c {
                '*' => re.push_str(".*"),
                '?' => re.push('.'),
                c => re.push_str(&regex::escape(&c.to_string())),
            }
        }
        re.push('$');
        regex::Regex::new(&re).unwrap().is_match(arn)
    };
    let statements = policy["policyDocument"]["Statement"].as_array().unwrap();
    let hits = |effect: &str| {
        statements
            .iter()
            .filter(|s| s["Effect"] == effect)
            .any(|s| s["Resource"].as_array().unwrap().iter().any(|r| matches(r.as_str().unwrap())))
    };
    hits("Allow") && !hits("Deny")
}
