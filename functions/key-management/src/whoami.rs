//! `GET /v1/whoami`: the calling API key describes itself (which key, which bot user, when it
//! expires), so a CLI or a skill holding a key can tell its user before the key stops working.
//!
//! This is the one route a key may call. API Gateway runs the Lambda authorizer on it, not the
//! JWT authorizer, and hands its context on (`requestContext.authorizer.lambda`); the ids come
//! from there, never from the request, so a key only ever describes itself.

use lambda_http::http::StatusCode;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use nico_keys::model::format_time;
use nico_keys::store::{Store, StoreError};
use nico_keys::{BotId, KeyId, TeamId};
use serde_json::json;

use crate::views::json_response;
use crate::{Api, ApiError};

impl<S: Store> Api<S> {
    pub(crate) async fn whoami(&self, request: &Request) -> Result<Response<Body>, ApiError> {
        let context = match request.request_context_ref() {
            Some(RequestContext::ApiGatewayV2(context)) => context.authorizer.as_ref().map(|a| &a.fields),
            _ => None,
        }
        .ok_or(ApiError::Unauthenticated)?;
        let field = |name: &str| context.get(name).and_then(|v| v.as_str()).ok_or(ApiError::Unauthenticated);
        let team = TeamId::parse(field("team_id")?).map_err(|_| ApiError::Unauthenticated)?;
        let bot = BotId::parse(field("bot_id")?).map_err(|_| ApiError::Unauthenticated)?;
        let key = KeyId::parse(field("key_id")?).map_err(|_| ApiError::Unauthenticated)?;
        let gone = |e: StoreError| match e {
            StoreError::BotNotFound | StoreError::BotDeleted | StoreError::KeyNotFound => {
                ApiError::Unauthenticated
            }
            other => ApiError::reading(other),
        };
        let (bot, key) =
            tokio::try_join!(self.store.get_bot(&team, bot), self.store.get_key(&team, bot, key))
                .map_err(gone)?;
        let now = self.clock.now();
        let view = json!({
            "bot": { "id": bot.id.to_string(), "name": bot.name.as_str() },
            "team_id": team.as_str(),
            "key": {
                "id": key.id.to_string(),
                "name": key.name.as_str(),
                "hint": key.hint,
                "scopes": key.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
                "expires_at": format_time(key.expires_at),
                "expires_in_seconds": (key.expires_at - now).num_seconds().max(0),
                "created_at": format_time(key.created_at),
            },
        });
        Ok(json_response(StatusCode::OK, &view))
    }
}
