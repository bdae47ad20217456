//! Management API requests as API Gateway delivers them: the AWS documentation's HTTP API
//! payload 2.0 example (with JWT authorizer claims), aimed at a method, path and body.

use serde_json::{Value, json};

/// A management API request under construction.
pub struct ApiRequest {
    event: Value,
}

impl ApiRequest {
    /// `path` may carry a query string (`/v1/bots?limit=2`).
    pub fn new(method: &str, path: &str) -> Self {
        let mut event = crate::apigw::fixture("apigw/http-api-v2-jwt-request.json");
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        event["rawPath"] = json!(path);
        event["requestContext"]["http"]["path"] = json!(path);
        event["requestContext"]["http"]["method"] = json!(method);
        event["routeKey"] = json!(format!("{method} {path}"));
        event["requestContext"]["routeKey"] = event["routeKey"].clone();
        event["rawQueryString"] = json!(query);
        let mut parameters = serde_json::Map::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            parameters.insert(name.to_owned(), json!(value));
        }
        event["queryStringParameters"] = Value::Object(parameters);
        event["headers"] = json!({});
        event.as_object_mut().unwrap().remove("pathParameters");
        event.as_object_mut().unwrap().remove("body");
        let mut request = Self { event };
        request.claims(&[("sub", "owner-1"), ("team_id", "team-a"), ("role", "owner")]);
        request
    }

    /// Replaces the verified JWT claims.
    pub fn claims(&mut self, claims: &[(&str, &str)]) -> &mut Self {
        let claims: serde_json::Map<String, Value> =
            claims.iter().map(|(name, value)| ((*name).to_owned(), json!(value))).collect();
        self.event["requestContext"]["authorizer"] = json!({ "jwt": { "claims": claims, "scopes": null } });
        self
    }

    /// No JWT authorizer context at all.
    pub fn without_claims(&mut self) -> &mut Self {
        self.event["requestContext"].as_object_mut().unwrap().remove("authorizer");
        self
    }

    /// Where the request comes from, as API Gateway reports it.
    pub fn source(&mut self, ip: &str, user_agent: &str) -> &mut Self {
        self.event["requestContext"]["http"]["sourceIp"] = json!(ip);
        self.event["requestContext"]["http"]["userAgent"] = json!(user_agent);
        self
    }

    pub fn header(&mut self, name: &str, value: &str) -> &mut Self {
        self.event["headers"][name] = json!(value);
        self
    }

    pub fn json(&mut self, body: &Value) -> &mut Self {
        self.body(&body.to_string(), Some("application/json"))
    }

    pub fn body(&mut self, body: &str, content_type: Option<&str>) -> &mut Self {
        self.event["body"] = json!(body);
        if let Some(content_type) = content_type {
            self.header("content-type", content_type);
        }
        self
    }

    pub fn stage(&mut self, stage: &str) -> &mut Self {
        self.event["requestContext"]["stage"] = json!(stage);
        self
    }

    pub fn event(&self) -> &Value {
        &self.event
    }

    /// The request as `lambda_http` hands it to the handler.
    pub fn build(&self) -> lambda_http::Request {
        lambda_http::request::from_str(&self.event.to_string()).expect("a valid HTTP API event")
    }
}
