//! The management API over HTTP: one authenticated client, the API's error shape read in one
//! place, and lists followed to their end.

use chrono::Utc;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::config::{Credentials, DEFAULT_ENDPOINT, Paths, Secret};
use crate::error::CliError;

/// Refresh a stored access token this long before it expires.
const REFRESH_MARGIN_SECONDS: i64 = 60;

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(concat!("nico-keys-cli/", env!("CARGO_PKG_VERSION")))
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .expect("the HTTP client's settings are valid")
}

/// The API's base URL: `NICO_ENDPOINT`, else the profile's, else the local runner's.
pub fn endpoint(paths: &Paths, profile: &str) -> Result<String, CliError> {
    let from_env = std::env::var("NICO_ENDPOINT").ok().filter(|e| !e.is_empty());
    let endpoint = match from_env {
        Some(endpoint) => endpoint,
        None => paths.profile(profile)?.endpoint.unwrap_or_else(|| DEFAULT_ENDPOINT.to_owned()),
    };
    Ok(endpoint.trim_end_matches('/').to_owned())
}

/// Where a person's token comes from.
pub enum TokenSource {
    Env,
    Stored(Credentials),
}

/// `NICO_TOKEN` beats the stored sign-in.
pub fn token_source(paths: &Paths, profile: &str) -> Result<Option<TokenSource>, CliError> {
    if std::env::var("NICO_TOKEN").ok().and_then(|t| Secret::new(&t)).is_some() {
        return Ok(Some(TokenSource::Env));
    }
    Ok(paths.credentials(profile)?.map(TokenSource::Stored))
}

pub struct Api {
    http: reqwest::Client,
    pub endpoint: String,
    token: Secret,
}

impl Api {
    pub fn new(endpoint: String, token: Secret) -> Self {
        Self { http: http(), endpoint, token }
    }

    /// A client signed in as the person of `profile`, refreshing a stored token that expired.
    pub async fn signed_in(paths: &Paths, profile: &str) -> Result<Self, CliError> {
        let endpoint = endpoint(paths, profile)?;
        let token = match token_source(paths, profile)? {
            Some(TokenSource::Env) => {
                Secret::new(&std::env::var("NICO_TOKEN").unwrap_or_default()).expect("checked non-empty")
            }
            Some(TokenSource::Stored(credentials)) => fresh(paths, profile, credentials).await?,
            None => {
                return Err(CliError::NotAuthenticated(
                    "not signed in: run `nico-keys login` (or set NICO_TOKEN)".into(),
                ));
            }
        };
        Ok(Self::new(endpoint, token))
    }

    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value, CliError> {
        self.send(Method::GET, path, query, None).await
    }

    pub async fn post(&self, path: &str, body: Option<Value>) -> Result<Value, CliError> {
        self.send(Method::POST, path, &[], body).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Result<Value, CliError> {
        self.send(Method::PATCH, path, &[], Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Result<Value, CliError> {
        self.send(Method::DELETE, path, &[], None).await
    }

    /// Every item of a list, following `next_cursor` until it is null (a page may be short or
    /// empty before the end when the API filters after reading).
    pub async fn list_all(&self, path: &str, query: &[(&str, String)]) -> Result<Vec<Value>, CliError> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut query = query.to_vec();
            if let Some(cursor) = cursor.take() {
                query.push(("cursor", cursor));
            }
            let page = self.get(path, &query).await?;
            if let Some(page_items) = page["items"].as_array() {
                items.extend(page_items.iter().cloned());
            }
            match page["next_cursor"].as_str() {
                Some(next) if !next.is_empty() => cursor = Some(next.to_owned()),
                _ => return Ok(items),
            }
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Value>,
    ) -> Result<Value, CliError> {
        let mut request =
            self.http.request(method, format!("{}{path}", self.endpoint)).bearer_auth(self.token.expose());
        if !query.is_empty() {
            request = request.query(query);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status();
        let bytes = response.bytes().await?;
        let json: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        if status.is_success() {
            return Ok(json);
        }
        if status == StatusCode::UNAUTHORIZED {
            return Err(CliError::NotAuthenticated(
                "the API refused your sign-in (expired or invalid): run `nico-keys login`".into(),
            ));
        }
        Err(api_error(status, &json))
    }
}

/// The API's `{"error": {"code", "message", "field"}}`, or a gateway's `{"message"}`.
pub fn api_error(status: StatusCode, json: &Value) -> CliError {
    let error = &json["error"];
    let message = error["message"]
        .as_str()
        .or_else(|| json["message"].as_str())
        .or_else(|| json["Message"].as_str())
        .map(str::to_owned)
        .unwrap_or_else(|| format!("the API answered {status}"));
    let field = error["field"].as_str().map(str::to_owned);
    CliError::Api { status: status.as_u16(), message, field }
}

/// The stored access token, refreshed first if it has expired (or is about to) and can be.
async fn fresh(paths: &Paths, profile: &str, credentials: Credentials) -> Result<Secret, CliError> {
    let expiring = credentials
        .expires_at
        .is_some_and(|at| at - chrono::TimeDelta::seconds(REFRESH_MARGIN_SECONDS) <= Utc::now());
    let (Some(refresh), Some(token_endpoint), Some(client_id), true) =
        (&credentials.refresh_token, &credentials.token_endpoint, &credentials.client_id, expiring)
    else {
        return Ok(credentials.access_token);
    };
    let form =
        [("grant_type", "refresh_token"), ("refresh_token", refresh.expose()), ("client_id", client_id)];
    let answer = http().post(token_endpoint).form(&form).send().await?;
    if !answer.status().is_success() {
        return Err(CliError::NotAuthenticated("your sign-in has expired: run `nico-keys login`".into()));
    }
    let tokens: crate::login::TokenAnswer = answer.json().await?;
    let renewed =
        tokens.into_credentials(token_endpoint.clone(), client_id.clone(), Some(refresh.clone()))?;
    let access = renewed.access_token.clone();
    paths.save_credentials(profile, renewed)?;
    Ok(access)
}
