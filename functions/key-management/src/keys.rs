//! Keys of a bot user: create, list, read, revoke, rotate.

use std::time::Duration;

use chrono::TimeDelta;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use nico_keys::KeyId;
use nico_keys::audit::{Reason, Revocation};
use nico_keys::model::{Expiry, NewKey, rotation_deadline};
use nico_keys::store::Store;
use serde::Deserialize;
use serde_json::json;

use crate::extract::{json_body, page_request, required, required_body};
use crate::propagation::with_propagation;
use crate::views::{KeyView, ListView, created, json_response, no_store};
use crate::{Api, ApiError, Ctx};

/// `POST /v1/bots/{bot_id}/keys`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateKey {
    name: Option<String>,
    expires_at: Option<String>,
    scopes: Option<Vec<String>>,
}

/// `POST .../revoke`: an empty body, `{}`, or why.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RevokeKey {
    /// Free text for the audit trail and the key's view, at most 200 characters.
    reason: Option<String>,
}

/// `POST .../rotate`, every field optional.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RotateKey {
    /// The new key's expiry; default: the old key's lifetime again, from now.
    expires_at: Option<String>,
    /// How long the old key keeps working; default and maximum `KEY_ROTATION_GRACE_SECONDS`.
    grace_seconds: Option<u64>,
}

impl<S: Store> Api<S> {
    pub(crate) async fn create_key(&self, ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
        let bot = self.bot_with_key_rights(ctx).await?.id;
        let caller = &ctx.caller;
        let body: CreateKey = required_body(ctx.request)?;
        let name = self.name("name", body.name)?;
        let expires_at = Expiry::parse(
            &required("expires_at", body.expires_at)?,
            ctx.now,
            self.config.limits.max_key_lifetime,
        )
        .map_err(|e| ApiError::field("expires_at", e))?;
        // Within the bot user's ceiling: checked by the store, on the bot user it counts keys at.
        let scopes = self.scopes(required("scopes", body.scopes)?)?;
        let (new, raw) = NewKey::issue(&caller.team, bot, name, scopes, expires_at, &caller.subject, ctx.now);
        self.store
            .create_key_by(&new, self.config.limits.max_active_keys, &caller.origin, ctx.now)
            .await
            .map_err(ApiError::writing)?;
        let view = json!({ "token": raw.expose(), "key": KeyView::of(&new.key, ctx.now) });
        Ok(no_store(created(&view, &format!("/v1/bots/{bot}/keys/{}", new.key.id))))
    }

    pub(crate) async fn list_keys(&self, ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
        let bot = self.bot_with_key_rights(ctx).await?.id;
        let (limit, after) = page_request(ctx.request, |c| KeyId::parse(c).ok())?;
        let page =
            self.store.list_keys(&ctx.caller.team, bot, after, limit).await.map_err(ApiError::reading)?;
        let list = ListView::of(&page, |key| KeyView::of(key, ctx.now), |key| key.id.to_string());
        Ok(json_response(StatusCode::OK, &list))
    }

    pub(crate) async fn get_key(&self, ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
        let (bot, key) = (self.bot_with_key_rights(ctx).await?.id, ctx.key()?);
        let found = self.store.get_key(&ctx.caller.team, bot, key).await.map_err(ApiError::reading)?;
        Ok(json_response(StatusCode::OK, &KeyView::of(&found, ctx.now)))
    }

    pub(crate) async fn revoke_key(&self, ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
        let (bot, key) = (self.bot_with_key_rights(ctx).await?.id, ctx.key()?);
        let caller = &ctx.caller;
        let body: RevokeKey = json_body(ctx.request)?.unwrap_or_default();
        let reason = body.reason.as_deref().map(Reason::parse).transpose();
        let reason = reason.map_err(|e| ApiError::field("reason", e))?.flatten();
        let revocation = Revocation { origin: caller.origin.clone(), reason, system: None };
        let revoked = self
            .store
            .revoke_key_by(&caller.team, bot, key, &revocation, ctx.now)
            .await
            .map_err(ApiError::writing)?;
        let propagation = self.propagate().await;
        let response = json_response(StatusCode::OK, &KeyView::of(&revoked, ctx.now));
        Ok(with_propagation(response, propagation))
    }

    pub(crate) async fn rotate_key(&self, ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
        let (bot, key) = (self.bot_with_key_rights(ctx).await?.id, ctx.key()?);
        let caller = &ctx.caller;
        let now = ctx.now;
        let body: RotateKey = json_body(ctx.request)?.unwrap_or_default();
        let limits = &self.config.limits;
        let grace = match body.grace_seconds {
            Some(seconds) if seconds > limits.rotation_grace.as_secs() => {
                let most = limits.rotation_grace.as_secs();
                return Err(ApiError::field("grace_seconds", format!("must be at most {most}")));
            }
            Some(seconds) => Duration::from_secs(seconds),
            None => limits.rotation_grace,
        };
        let old = self.store.get_key(&caller.team, bot, key).await.map_err(ApiError::writing)?;
        let expires_at = match body.expires_at {
            Some(text) => Expiry::parse(&text, now, limits.max_key_lifetime),
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
            .rotate_key_by(
                &caller.team,
                key,
                &new.replacing(key),
                deadline,
                limits.max_active_keys,
                &caller.origin,
                now,
            )
            .await
            .map_err(ApiError::writing)?;
        let view = json!({
            "token": raw.expose(),
            "key": KeyView::of(&rotation.new, now),
            "replaced": KeyView::of(&rotation.old, now),
        });
        Ok(no_store(created(&view, &format!("/v1/bots/{bot}/keys/{}", rotation.new.id))))
    }
}
