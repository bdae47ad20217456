//! What the API shows: bot users and keys as JSON, lists with their cursor, and the few
//! response builders. A key's view never holds its secret or digest, and its status is
//! derived at the moment of the answer.

use chrono::{DateTime, Utc};
use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};
use nico_keys::audit::ListedEvent;
use nico_keys::model::format_time;
use nico_keys::store::Page;
use nico_keys::{ApiKey, BotUser, KeyStatus, ScopeCatalog};
use serde::Serialize;

/// A page of a list as the API shows it.
#[derive(Serialize)]
pub(crate) struct ListView<T> {
    items: Vec<T>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    next_cursor: Option<String>,
}

impl<T> ListView<T> {
    pub(crate) fn of<I>(page: &Page<I>, view: impl Fn(&I) -> T, cursor: impl Fn(&I) -> String) -> Self {
        Self {
            items: page.items.iter().map(view).collect(),
            next_cursor: if page.more { page.items.last().map(cursor) } else { None },
        }
    }
}

/// A bot user as the API shows it.
#[derive(Serialize)]
pub struct BotView {
    id: String,
    name: String,
    /// The person it is for.
    account: String,
    /// The most its keys may carry.
    scopes: Vec<String>,
    created_at: String,
    created_by: String,
}

impl BotView {
    /// A bot user stored before ceilings existed shows the whole `catalog` as its ceiling.
    pub fn of(bot: &BotUser, catalog: &ScopeCatalog) -> Self {
        let scopes = match &bot.scopes {
            Some(scopes) => scopes.iter().map(|s| s.as_str().to_owned()).collect(),
            None => catalog.iter().map(|s| s.as_str().to_owned()).collect(),
        };
        Self {
            id: bot.id.to_string(),
            name: bot.name.as_str().to_owned(),
            account: bot.account.to_string(),
            scopes,
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
    status: KeyStatus,
    created_at: String,
    created_by: String,
    expires_at: String,
    revoked_at: Option<String>,
    revoked_by: Option<String>,
    /// Why it was revoked: the person's reason, or a system revocation's fixed one.
    revoked_reason: Option<String>,
    replaced_by: Option<String>,
    replaces: Option<String>,
    /// `null`: never used (within what the authorizer records).
    last_used_at: Option<String>,
    last_used_ip: Option<String>,
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
            revoked_reason: key.revoked_reason.clone(),
            replaced_by: key.replaced_by.map(|id| id.to_string()),
            replaces: key.replaces.map(|id| id.to_string()),
            last_used_at: key.last_used_at.map(format_time),
            last_used_ip: key.last_used_ip.map(|ip| ip.to_string()),
        }
    }
}

/// An audit event as the API shows it: who, what, when, from where, why; never a secret.
#[derive(Serialize)]
pub struct EventView {
    id: String,
    at: String,
    action: &'static str,
    actor: String,
    /// The person a system actor acted for.
    on_behalf_of: Option<String>,
    source_ip: Option<String>,
    user_agent: Option<String>,
    team_id: String,
    bot_id: String,
    bot_name: String,
    key_id: Option<String>,
    key_name: Option<String>,
    reason: Option<String>,
    /// For `key.rotated`: the key that replaced it.
    replaced_by: Option<String>,
}

impl EventView {
    pub fn of(listed: &ListedEvent) -> Self {
        let event = &listed.event;
        Self {
            id: listed.id.to_string(),
            at: format_time(listed.at),
            action: event.action.as_str(),
            actor: event.actor.to_string(),
            on_behalf_of: event.on_behalf_of.as_ref().map(ToString::to_string),
            source_ip: listed.source_ip.clone(),
            user_agent: listed.user_agent.clone(),
            team_id: listed.team_id.to_string(),
            bot_id: listed.bot_id.to_string(),
            bot_name: listed.bot_name.clone(),
            key_id: event.key_id.map(|id| id.to_string()),
            key_name: event.key_name.clone(),
            reason: event.reason.clone(),
            replaced_by: event.replaced_by.map(|id| id.to_string()),
        }
    }
}

pub(crate) fn json_response(status: StatusCode, body: &impl Serialize) -> Response<Body> {
    let text =
        serde_json::to_string(body).unwrap_or_else(|_| r#"{"error":{"code":"internal_error"}}"#.into());
    let mut response = Response::new(Body::Text(text));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

pub(crate) fn empty_response(status: StatusCode) -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = status;
    response
}

pub(crate) fn with_header(
    mut response: Response<Body>,
    name: header::HeaderName,
    value: &str,
) -> Response<Body> {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, value);
    }
    response
}

/// A 201 for a created resource at `location`.
pub(crate) fn created(body: &impl Serialize, location: &str) -> Response<Body> {
    with_header(json_response(StatusCode::CREATED, body), header::LOCATION, location)
}

/// The one kind of response that carries a raw key must never be cached anywhere.
pub(crate) fn no_store(response: Response<Body>) -> Response<Body> {
    with_header(response, header::CACHE_CONTROL, "no-store")
}
