//! The management API (SPEC §3): team owners manage bot users and their keys over HTTP.
//!
//! API Gateway's JWT authorizer has already verified the caller; this handler reads the
//! claims it passes on (subject, team, role), routes the request, validates input into the
//! domain types of `nico_keys`, calls the store, and renders the result. Every failure is an
//! [`ApiError`], and [`ApiError::into_response`] is the one place that turns it into a status
//! and a JSON body; internal causes are logged there and never sent.
//!
//! Choices where the spec is silent:
//! * Members who are not owners may read (list and get); every write needs the `owner` role.
//! * A deleted bot user reads as not found (404) everywhere, while a write to it or its keys
//!   is a conflict (409 `bot_user_deleted`), so a client can tell a typo from a deletion.
//!   Deleting it again succeeds (204) and finishes revoking its keys if an earlier attempt was
//!   cut short.
//! * Rotation takes an optional body: `expires_at` for the new key (default: the old key's
//!   lifetime again, from now, within the maximum) and `grace_seconds` (default and maximum:
//!   `KEY_ROTATION_GRACE_SECONDS`; `0` retires the old key at once).
//! * Lists are in creation order; `limit` is 1–100 (default 20); `cursor` is opaque.
//! * A body is at most 16 KiB, must be `application/json`, and may hold only the documented
//!   fields; each problem names the field.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use nico_keys::model::{Expiry, NewKey, format_time, rotation_deadline};
use nico_keys::store::{Page, Store, StoreError};
use nico_keys::{ApiKey, BotId, BotUser, Clock, Config, KeyId, Name, Scopes, Subject, TeamId, routes, token};
use serde::Serialize;
use serde_json::{Map, Value, json};

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
const DEFAULT_PAGE: usize = 20;
const MAX_PAGE: usize = 100;
/// The role claim value that may write.
pub const OWNER_ROLE: &str = "owner";

/// Every route the router serves, as `(method, path template)`; the OpenAPI document is
/// checked against this list.
pub const ROUTES: [(&str, &str); 9] = [
    ("POST", "/v1/bots"),
    ("GET", "/v1/bots"),
    ("GET", "/v1/bots/{bot_id}"),
    ("DELETE", "/v1/bots/{bot_id}"),
    ("POST", "/v1/bots/{bot_id}/keys"),
    ("GET", "/v1/bots/{bot_id}/keys"),
    ("GET", "/v1/bots/{bot_id}/keys/{key_id}"),
    ("POST", "/v1/bots/{bot_id}/keys/{key_id}/revoke"),
    ("POST", "/v1/bots/{bot_id}/keys/{key_id}/rotate"),
];

/// The management API: a store, the configuration, a clock.
pub struct Api<S> {
    store: S,
    config: Config,
    clock: Arc<dyn Clock>,
}

/// Who is calling, from the JWT authorizer's verified claims.
#[derive(Debug, Clone)]
pub struct Caller {
    pub subject: Subject,
    pub team: TeamId,
    pub is_owner: bool,
}

impl Caller {
    fn owner(&self) -> Result<&Self, ApiError> {
        if self.is_owner { Ok(self) } else { Err(ApiError::NotOwner) }
    }
}

impl<S: Store> Api<S> {
    pub fn new(store: S, config: Config, clock: Arc<dyn Clock>) -> Self {
        Self { store, config, clock }
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// Answers one request; never fails (errors become responses).
    pub async fn handle(&self, request: Request) -> Response<Body> {
        self.route(&request).await.unwrap_or_else(ApiError::into_response)
    }

    async fn route(&self, request: &Request) -> Result<Response<Body>, ApiError> {
        let stage = match request.request_context_ref() {
            Some(RequestContext::ApiGatewayV2(context)) => context.stage.as_deref(),
            _ => None,
        };
        let path = routes::strip_stage(request.uri().path(), stage);
        let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
        let method = request.method();
        let allowed = match segments.as_slice() {
            ["v1", "bots"] => "GET, POST",
            ["v1", "bots", _] => "GET, DELETE",
            ["v1", "bots", _, "keys"] => "GET, POST",
            ["v1", "bots", _, "keys", _] => "GET",
            ["v1", "bots", _, "keys", _, "revoke" | "rotate"] => "POST",
            _ => return Err(ApiError::RouteNotFound),
        };
        if !allowed.split(", ").any(|m| m == method.as_str()) {
            return Err(ApiError::MethodNotAllowed(allowed));
        }
        let caller = self.caller(request)?;
        let now = self.clock.now();
        match (method, segments.as_slice()) {
            (&Method::POST, ["v1", "bots"]) => self.create_bot(&caller, request, now).await,
            (&Method::GET, ["v1", "bots"]) => self.list_bots(&caller, request).await,
            (&Method::GET, ["v1", "bots", bot]) => self.get_bot(&caller, bot_id(bot)?).await,
            (&Method::DELETE, ["v1", "bots", bot]) => self.delete_bot(&caller, bot_id(bot)?, now).await,
            (&Method::POST, ["v1", "bots", bot, "keys"]) => {
                self.create_key(&caller, bot_id(bot)?, request, now).await
            }
            (&Method::GET, ["v1", "bots", bot, "keys"]) => {
                self.list_keys(&caller, bot_id(bot)?, request, now).await
            }
            (&Method::GET, ["v1", "bots", bot, "keys", key]) => {
                self.get_key(&caller, bot_id(bot)?, key_id(key)?, now).await
            }
            (&Method::POST, ["v1", "bots", bot, "keys", key, "revoke"]) => {
                self.revoke_key(&caller, bot_id(bot)?, key_id(key)?, request, now).await
            }
            (&Method::POST, ["v1", "bots", bot, "keys", key, "rotate"]) => {
                self.rotate_key(&caller, bot_id(bot)?, key_id(key)?, request, now).await
            }
            _ => Err(ApiError::RouteNotFound),
        }
    }

    /// The caller from the JWT claims; a request without them (or with an API key) is 401.
    fn caller(&self, request: &Request) -> Result<Caller, ApiError> {
        let presented = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        if presented.and_then(token::bearer).is_some_and(|key| key.starts_with(token::PREFIX)) {
            return Err(ApiError::ApiKeyNotAccepted);
        }
        let claims = match request.request_context_ref() {
            Some(RequestContext::ApiGatewayV2(context)) => {
                context.authorizer.as_ref().and_then(|a| a.jwt.as_ref()).map(|jwt| &jwt.claims)
            }
            _ => None,
        }
        .ok_or(ApiError::Unauthenticated)?;
        let claim = |name: &str| claims.get(name).map(String::as_str).filter(|v| !v.is_empty());
        let subject = claim("sub").and_then(|s| Subject::parse(s).ok()).ok_or(ApiError::Unauthenticated)?;
        let team = claim(&self.config.claims.team)
            .and_then(|t| TeamId::parse(t).ok())
            .ok_or(ApiError::Unauthenticated)?;
        let is_owner = claim(&self.config.claims.role) == Some(OWNER_ROLE);
        Ok(Caller { subject, team, is_owner })
    }

    async fn create_bot(
        &self,
        caller: &Caller,
        request: &Request,
        now: DateTime<Utc>,
    ) -> Result<Response<Body>, ApiError> {
        let caller = caller.owner()?;
        let body =
            JsonBody::read(request, &["name"])?.ok_or_else(|| ApiError::field("body", "is required"))?;
        let bot = BotUser {
            id: BotId::generate(now),
            team_id: caller.team.clone(),
            name: self.name(&body)?,
            created_at: now,
            created_by: caller.subject.clone(),
            deleted_at: None,
        };
        self.store.create_bot(&bot).await.map_err(ApiError::writing)?;
        let location = format!("/v1/bots/{}", bot.id);
        Ok(with_header(json_response(StatusCode::CREATED, &BotView::from(&bot)), header::LOCATION, &location))
    }

    async fn list_bots(&self, caller: &Caller, request: &Request) -> Result<Response<Body>, ApiError> {
        let (limit, after) = page_request(request, |c| BotId::parse(c).ok())?;
        let page = self.store.list_bots(&caller.team, after, limit).await.map_err(ApiError::reading)?;
        Ok(json_response(StatusCode::OK, &list(&page, |bot| BotView::from(bot), |bot| bot.id.to_string())))
    }

    async fn get_bot(&self, caller: &Caller, bot: BotId) -> Result<Response<Body>, ApiError> {
        let found = self.store.get_bot(&caller.team, bot).await.map_err(ApiError::reading)?;
        if found.deleted_at.is_some() {
            return Err(ApiError::BotNotFound);
        }
        Ok(json_response(StatusCode::OK, &BotView::from(&found)))
    }

    async fn delete_bot(
        &self,
        caller: &Caller,
        bot: BotId,
        now: DateTime<Utc>,
    ) -> Result<Response<Body>, ApiError> {
        let caller = caller.owner()?;
        self.store.delete_bot(&caller.team, bot, &caller.subject, now).await.map_err(ApiError::writing)?;
        Ok(empty_response(StatusCode::NO_CONTENT))
    }

    async fn create_key(
        &self,
        caller: &Caller,
        bot: BotId,
        request: &Request,
        now: DateTime<Utc>,
    ) -> Result<Response<Body>, ApiError> {
        let caller = caller.owner()?;
        let body = JsonBody::read(request, &["name", "expires_at", "scopes"])?
            .ok_or_else(|| ApiError::field("body", "is required"))?;
        let name = self.name(&body)?;
        let expires_at = body.required_str("expires_at")?;
        let expires_at = Expiry::parse(expires_at, now, self.config.limits.max_key_lifetime)
            .map_err(|e| ApiError::field("expires_at", e))?;
        let scopes = Scopes::parse(body.required_str_list("scopes")?, &self.config.catalog)
            .map_err(|e| ApiError::field("scopes", e))?;
        let (new, raw) = NewKey::issue(&caller.team, bot, name, scopes, expires_at, &caller.subject, now);
        self.store
            .create_key(&new, self.config.limits.max_active_keys, now)
            .await
            .map_err(ApiError::writing)?;
        let view = json!({ "token": raw.expose(), "key": KeyView::of(&new.key, now) });
        let location = format!("/v1/bots/{bot}/keys/{}", new.key.id);
        Ok(no_store(with_header(json_response(StatusCode::CREATED, &view), header::LOCATION, &location)))
    }

    async fn list_keys(
        &self,
        caller: &Caller,
        bot: BotId,
        request: &Request,
        now: DateTime<Utc>,
    ) -> Result<Response<Body>, ApiError> {
        let (limit, after) = page_request(request, |c| KeyId::parse(c).ok())?;
        let page = self.store.list_keys(&caller.team, bot, after, limit).await.map_err(ApiError::reading)?;
        Ok(json_response(StatusCode::OK, &list(&page, |key| KeyView::of(key, now), |key| key.id.to_string())))
    }

    async fn get_key(
        &self,
        caller: &Caller,
        bot: BotId,
        key: KeyId,
        now: DateTime<Utc>,
    ) -> Result<Response<Body>, ApiError> {
        let found = self.store.get_key(&caller.team, bot, key).await.map_err(ApiError::reading)?;
        Ok(json_response(StatusCode::OK, &KeyView::of(&found, now)))
    }

    async fn revoke_key(
        &self,
        caller: &Caller,
        bot: BotId,
        key: KeyId,
        request: &Request,
        now: DateTime<Utc>,
    ) -> Result<Response<Body>, ApiError> {
        let caller = caller.owner()?;
        JsonBody::read(request, &[])?;
        let revoked = self
            .store
            .revoke_key(&caller.team, bot, key, &caller.subject, now)
            .await
            .map_err(ApiError::writing)?;
        Ok(json_response(StatusCode::OK, &KeyView::of(&revoked, now)))
    }

    async fn rotate_key(
        &self,
        caller: &Caller,
        bot: BotId,
        key: KeyId,
        request: &Request,
        now: DateTime<Utc>,
    ) -> Result<Response<Body>, ApiError> {
        let caller = caller.owner()?;
        let body = JsonBody::read(request, &["expires_at", "grace_seconds"])?.unwrap_or_default();
        let limits = &self.config.limits;
        let grace = match body.u64("grace_seconds")? {
            Some(seconds) if seconds > limits.rotation_grace.as_secs() => {
                return Err(ApiError::field(
                    "grace_seconds",
                    format!("must be at most {}", limits.rotation_grace.as_secs()),
                ));
            }
            Some(seconds) => std::time::Duration::from_secs(seconds),
            None => limits.rotation_grace,
        };
        let old = self.store.get_key(&caller.team, bot, key).await.map_err(ApiError::writing)?;
        let expires_at = match body.str("expires_at")? {
            Some(text) => Expiry::parse(text, now, limits.max_key_lifetime),
            None => {
                let lifetime = (old.expires_at - old.created_at).max(TimeDelta::milliseconds(1));
                let max = TimeDelta::from_std(limits.max_key_lifetime).unwrap_or(TimeDelta::MAX);
                Expiry::at(now + lifetime.min(max), now, limits.max_key_lifetime)
            }
        }
        .map_err(|e| ApiError::field("expires_at", e))?;
        let (new, raw) = NewKey::issue(
            &caller.team,
            bot,
            old.name.clone(),
            old.scopes.clone(),
            expires_at,
            &caller.subject,
            now,
        );
        let deadline = rotation_deadline(old.expires_at, now, grace);
        let rotation = self
            .store
            .rotate_key(&caller.team, key, &new.replacing(key), deadline, now)
            .await
            .map_err(ApiError::writing)?;
        let view = json!({
            "token": raw.expose(),
            "key": KeyView::of(&rotation.new, now),
            "replaced": KeyView::of(&rotation.old, now),
        });
        let location = format!("/v1/bots/{bot}/keys/{}", rotation.new.id);
        Ok(no_store(with_header(json_response(StatusCode::CREATED, &view), header::LOCATION, &location)))
    }

    fn name(&self, body: &JsonBody) -> Result<Name, ApiError> {
        Name::parse(body.required_str("name")?, self.config.limits.max_name_chars)
            .map_err(|e| ApiError::field("name", e))
    }
}

fn bot_id(segment: &str) -> Result<BotId, ApiError> {
    BotId::parse(segment).map_err(|_| ApiError::BotNotFound)
}

fn key_id(segment: &str) -> Result<KeyId, ApiError> {
    KeyId::parse(segment).map_err(|_| ApiError::KeyNotFound)
}

/// `limit` and `cursor` from the query string.
fn page_request<C>(
    request: &Request,
    cursor: impl Fn(&str) -> Option<C>,
) -> Result<(usize, Option<C>), ApiError> {
    let query = request.query_string_parameters_ref();
    let limit = match query.and_then(|q| q.first("limit")) {
        None => DEFAULT_PAGE,
        Some(text) => text.parse::<usize>().ok().filter(|n| (1..=MAX_PAGE).contains(n)).ok_or_else(|| {
            ApiError::field("limit", format!("must be a whole number from 1 to {MAX_PAGE}"))
        })?,
    };
    let after = match query.and_then(|q| q.first("cursor")) {
        None | Some("") => None,
        Some(text) => {
            Some(cursor(text).ok_or_else(|| ApiError::field("cursor", "is not a cursor this API gave out"))?)
        }
    };
    Ok((limit, after))
}

#[derive(Serialize)]
struct ListView<T> {
    items: Vec<T>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    next_cursor: Option<String>,
}

fn list<T, V>(page: &Page<T>, view: impl Fn(&T) -> V, cursor: impl Fn(&T) -> String) -> ListView<V> {
    ListView {
        items: page.items.iter().map(view).collect(),
        next_cursor: if page.more { page.items.last().map(cursor) } else { None },
    }
}

/// A bot user as the API shows it.
#[derive(Serialize)]
pub struct BotView {
    id: String,
    name: String,
    created_at: String,
    created_by: String,
}

impl From<&BotUser> for BotView {
    fn from(bot: &BotUser) -> Self {
        Self {
            id: bot.id.to_string(),
            name: bot.name.as_str().to_owned(),
            created_at: format_time(bot.created_at),
            created_by: bot.created_by.to_string(),
        }
    }
}

/// A key as the API shows it: never the secret or its digest; status derived now.
#[derive(Serialize)]
pub struct KeyView {
    id: String,
    bot_id: String,
    name: String,
    hint: String,
    scopes: Vec<String>,
    status: nico_keys::KeyStatus,
    created_at: String,
    created_by: String,
    expires_at: String,
    revoked_at: Option<String>,
    revoked_by: Option<String>,
    replaced_by: Option<String>,
    replaces: Option<String>,
}

impl KeyView {
    pub fn of(key: &ApiKey, now: DateTime<Utc>) -> Self {
        Self {
            id: key.id.to_string(),
            bot_id: key.bot_id.to_string(),
            name: key.name.as_str().to_owned(),
            hint: key.hint.clone(),
            scopes: key.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
            status: key.status(now),
            created_at: format_time(key.created_at),
            created_by: key.created_by.to_string(),
            expires_at: format_time(key.expires_at),
            revoked_at: key.revoked_at.map(format_time),
            revoked_by: key.revoked_by.as_ref().map(ToString::to_string),
            replaced_by: key.replaced_by.map(|id| id.to_string()),
            replaces: key.replaces.map(|id| id.to_string()),
        }
    }
}

/// A JSON object body, its fields checked one by one so that every error names its field.
#[derive(Default)]
struct JsonBody(Map<String, Value>);

impl JsonBody {
    /// The body, if there is one: at most [`MAX_BODY_BYTES`], `application/json`, an object
    /// with no field outside `allowed`.
    fn read(request: &Request, allowed: &[&str]) -> Result<Option<Self>, ApiError> {
        let bytes = request.body().as_ref();
        if bytes.len() > MAX_BODY_BYTES {
            return Err(ApiError::PayloadTooLarge);
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        let content_type =
            request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let media_type = content_type.split(';').next().unwrap_or("").trim();
        if !media_type.eq_ignore_ascii_case("application/json") {
            return Err(ApiError::UnsupportedMediaType);
        }
        let value: Value =
            serde_json::from_slice(bytes).map_err(|_| ApiError::field("body", "is not valid JSON"))?;
        let Value::Object(fields) = value else {
            return Err(ApiError::field("body", "must be a JSON object"));
        };
        if let Some(unknown) = fields.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(ApiError::field(unknown, "is not a field of this request"));
        }
        Ok(Some(Self(fields)))
    }

    fn str(&self, field: &'static str) -> Result<Option<&str>, ApiError> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => Ok(Some(text)),
            Some(_) => Err(ApiError::field(field, "must be a string")),
        }
    }

    fn required_str(&self, field: &'static str) -> Result<&str, ApiError> {
        self.str(field)?.ok_or_else(|| ApiError::field(field, "is required"))
    }

    fn required_str_list(&self, field: &'static str) -> Result<Vec<&str>, ApiError> {
        match self.0.get(field) {
            None | Some(Value::Null) => Err(ApiError::field(field, "is required")),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| item.as_str().ok_or_else(|| ApiError::field(field, "must be a list of strings")))
                .collect(),
            Some(_) => Err(ApiError::field(field, "must be a list of strings")),
        }
    }

    fn u64(&self, field: &'static str) -> Result<Option<u64>, ApiError> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => {
                value.as_u64().map(Some).ok_or_else(|| ApiError::field(field, "must be a whole number"))
            }
        }
    }
}

/// Everything that can go wrong, as the client will be told.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{field} {message}")]
    Validation { field: String, message: String },
    #[error("sign in as a team member: this API needs the identity provider's token")]
    Unauthenticated,
    #[error("API keys cannot call the management API; sign in as a team owner")]
    ApiKeyNotAccepted,
    #[error("only team owners may do this")]
    NotOwner,
    #[error("no such route")]
    RouteNotFound,
    #[error("method not allowed; allowed: {0}")]
    MethodNotAllowed(&'static str),
    #[error("bot user not found")]
    BotNotFound,
    #[error("key not found")]
    KeyNotFound,
    #[error("{1}")]
    Conflict(&'static str, String),
    #[error("request body is larger than {MAX_BODY_BYTES} bytes")]
    PayloadTooLarge,
    #[error("request body must be application/json")]
    UnsupportedMediaType,
    /// Logged with its cause; the client only learns that something went wrong.
    #[error("internal error")]
    Internal(#[source] StoreError),
}

impl ApiError {
    fn field(field: &str, problem: impl ToString) -> Self {
        Self::Validation { field: field.to_owned(), message: problem.to_string() }
    }

    /// A store outcome on a read: a deleted bot user is simply not there.
    fn reading(error: StoreError) -> Self {
        match error {
            StoreError::BotDeleted => Self::BotNotFound,
            other => Self::writing(other),
        }
    }

    /// A store outcome on a write: a deleted bot user is a conflict, so the client knows.
    fn writing(error: StoreError) -> Self {
        let conflict = |code, error: StoreError| Self::Conflict(code, error.to_string());
        match error {
            StoreError::BotNotFound => Self::BotNotFound,
            StoreError::KeyNotFound => Self::KeyNotFound,
            e @ StoreError::BotDeleted => conflict("bot_user_deleted", e),
            e @ StoreError::ActiveKeyLimit { .. } => conflict("active_key_limit", e),
            e @ StoreError::KeyRevoked => conflict("key_revoked", e),
            e @ StoreError::KeyExpired => conflict("key_expired", e),
            e @ StoreError::KeyAlreadyRotated => conflict("key_already_rotated", e),
            e @ StoreError::Contention => conflict("concurrent_change", e),
            e @ StoreError::Unavailable(_) => Self::Internal(e),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Validation { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthenticated | Self::ApiKeyNotAccepted => StatusCode::UNAUTHORIZED,
            Self::NotOwner => StatusCode::FORBIDDEN,
            Self::RouteNotFound | Self::BotNotFound | Self::KeyNotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(..) => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Validation { .. } => "validation_failed",
            Self::Unauthenticated => "unauthenticated",
            Self::ApiKeyNotAccepted => "api_key_not_accepted",
            Self::NotOwner => "not_owner",
            Self::RouteNotFound => "route_not_found",
            Self::MethodNotAllowed(_) => "method_not_allowed",
            Self::BotNotFound => "bot_user_not_found",
            Self::KeyNotFound => "key_not_found",
            Self::Conflict(code, _) => code,
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::Internal(_) => "internal_error",
        }
    }

    /// The one place an error becomes a response.
    pub fn into_response(self) -> Response<Body> {
        if let Self::Internal(cause) = &self {
            tracing::error!(error = %cause, "internal error");
        }
        let mut error = json!({ "code": self.code(), "message": self.to_string() });
        if let Self::Validation { field, .. } = &self {
            error["field"] = json!(field);
        }
        let response = json_response(self.status(), &json!({ "error": error }));
        match self {
            Self::MethodNotAllowed(allowed) => with_header(response, header::ALLOW, allowed),
            _ => response,
        }
    }
}

fn json_response(status: StatusCode, body: &impl Serialize) -> Response<Body> {
    let text =
        serde_json::to_string(body).unwrap_or_else(|_| r#"{"error":{"code":"internal_error"}}"#.into());
    let mut response = Response::new(Body::Text(text));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn empty_response(status: StatusCode) -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = status;
    response
}

fn with_header(mut response: Response<Body>, name: header::HeaderName, value: &str) -> Response<Body> {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, value);
    }
    response
}

/// The one response that carries a raw key must never be cached anywhere.
fn no_store(response: Response<Body>) -> Response<Body> {
    with_header(response, header::CACHE_CONTROL, "no-store")
}
