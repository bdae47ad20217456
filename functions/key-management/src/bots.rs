//! Bot users: create (for a person's account, within a scope ceiling), list, read, delete;
//! and who may do what with a bot user's keys.

use lambda_http::http::StatusCode;
use lambda_http::{Body, RequestExt, Response};
use nico_keys::store::{BotChange, Store, StoreError};
use nico_keys::{BotId, BotUser, Name, Scopes, Subject};
use serde::Deserialize;
use serde_json::json;

use crate::extract::{json_body, page_request, required, required_body};
use crate::propagation::with_propagation;
use crate::views::{BotView, ListView, created, empty_response, json_response};
use crate::{Api, ApiError, Ctx};

/// `PATCH /v1/bots/{bot_id}`: each field given is changed.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateBot {
    name: Option<String>,
    /// Re-assignment to another person's account.
    account: Option<String>,
    /// A new ceiling; narrowing it below a working key's scopes is refused.
    scopes: Option<Vec<String>>,
    /// With `account`: revoke every working key with the re-assignment (default: yes).
    revoke_keys: Option<bool>,
}

/// `POST /v1/bots/{bot_id}/revoke-keys`: no fields; an empty body or `{}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RevokeKeys {}

/// `POST /v1/bots`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateBot {
    name: Option<String>,
    /// The person (their `sub`) the bot user is for; default: the owner creating it.
    account: Option<String>,
    /// The most any of its keys may carry, from the catalogue.
    scopes: Option<Vec<String>>,
}

impl<S: Store> Api<S> {
    pub(crate) async fn create_bot(&self, ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
        let caller = ctx.caller.owner()?;
        let body: CreateBot = required_body(ctx.request)?;
        let name = self.name("name", body.name)?;
        let account = match body.account {
            Some(account) => account_field(&account)?,
            None => caller.subject.clone(),
        };
        let scopes = self.scopes(required("scopes", body.scopes)?)?;
        let bot = BotUser {
            id: BotId::generate(ctx.now),
            team_id: caller.team.clone(),
            name,
            account,
            scopes: Some(scopes),
            created_at: ctx.now,
            created_by: caller.subject.clone(),
            deleted_at: None,
        };
        self.store.create_bot_by(&bot, &caller.origin).await.map_err(ApiError::writing)?;
        Ok(created(&self.bot_view(&bot), &format!("/v1/bots/{}", bot.id)))
    }

    /// Owners: every bot user of the team (`?account=` narrows it); members: their own.
    pub(crate) async fn list_bots(&self, ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
        let (limit, after) = page_request(ctx.request, |c| BotId::parse(c).ok())?;
        let asked = ctx.request.query_string_parameters_ref().and_then(|q| q.first("account"));
        let account = account_filter(ctx, asked)?;
        let page = self
            .store
            .list_bots(&ctx.caller.team, account.as_ref(), after, limit)
            .await
            .map_err(ApiError::reading)?;
        let list = ListView::of(&page, |bot| self.bot_view(bot), |bot| bot.id.to_string());
        Ok(json_response(StatusCode::OK, &list))
    }

    pub(crate) async fn get_bot(&self, ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
        let bot = self.bot_with_key_rights(ctx).await?;
        if bot.deleted_at.is_some() {
            return Err(ApiError::BotNotFound);
        }
        Ok(json_response(StatusCode::OK, &self.bot_view(&bot)))
    }

    /// Rename, re-scope, re-assign (owners). People leave: a re-assignment revokes the bot
    /// user's working keys unless `revoke_keys: false` says otherwise.
    pub(crate) async fn update_bot(&self, ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
        let bot = self.bot_with_key_rights(ctx).await?;
        let caller = ctx.caller.owner()?;
        let body: UpdateBot = required_body(ctx.request)?;
        if body.revoke_keys.is_some() && body.account.is_none() {
            return Err(ApiError::field("revoke_keys", "goes with account"));
        }
        if body.name.is_none() && body.account.is_none() && body.scopes.is_none() {
            return Err(ApiError::field("body", "must change name, account or scopes"));
        }
        let name = body.name.map(|name| self.name("name", Some(name))).transpose()?;
        let account = body.account.map(|account| account_field(&account)).transpose()?;
        let scopes = body.scopes.map(|scopes| self.scopes(scopes)).transpose()?;
        let reassigned = account.as_ref().is_some_and(|account| account != &bot.account);
        let change =
            BotChange { name, account, scopes, revoke_keys: reassigned && body.revoke_keys.unwrap_or(true) };
        let (changed, revoked) = self
            .store
            .update_bot_by(&caller.team, bot.id, &change, &caller.origin, ctx.now)
            .await
            .map_err(ApiError::writing)?;
        let propagation = if change.revoke_keys { self.propagate().await } else { None };
        let view = json!({ "bot": self.bot_view(&changed), "revoked_keys": revoked });
        Ok(with_propagation(json_response(StatusCode::OK, &view), propagation))
    }

    /// Incident response: revoke every working key of a bot user now, without deleting it.
    pub(crate) async fn revoke_keys(&self, ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
        let bot = self.bot_with_key_rights(ctx).await?;
        json_body::<RevokeKeys>(ctx.request)?;
        let change = BotChange { revoke_keys: true, ..BotChange::default() };
        let (_, revoked) = self
            .store
            .update_bot_by(&ctx.caller.team, bot.id, &change, &ctx.caller.origin, ctx.now)
            .await
            .map_err(ApiError::writing)?;
        let propagation = self.propagate().await;
        let response = json_response(StatusCode::OK, &json!({ "revoked_keys": revoked }));
        Ok(with_propagation(response, propagation))
    }

    pub(crate) async fn delete_bot(&self, ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
        let bot = self.bot_with_key_rights(ctx).await?;
        let caller = ctx.caller.owner()?;
        self.store
            .delete_bot_by(&caller.team, bot.id, &caller.origin, ctx.now)
            .await
            .map_err(ApiError::writing)?;
        let propagation = self.propagate().await;
        Ok(with_propagation(empty_response(StatusCode::NO_CONTENT), propagation))
    }

    /// The bot user of the path, if the caller has key rights on it: a team owner, or the
    /// person it is for. Anyone else gets exactly what a missing id gets (404). A deleted bot
    /// user is returned as such: reads treat it as gone, writes answer 409.
    pub(crate) async fn bot_with_key_rights(&self, ctx: &Ctx<'_>) -> Result<BotUser, ApiError> {
        let bot = match self.store.get_bot(&ctx.caller.team, ctx.bot()?).await {
            Err(StoreError::BotNotFound) => return Err(ApiError::BotNotFound),
            other => other.map_err(ApiError::reading)?,
        };
        if ctx.caller.is_owner || bot.account == ctx.caller.subject {
            Ok(bot)
        } else {
            Err(ApiError::BotNotFound)
        }
    }

    /// A bot user's or key's name, from the body field `field`.
    pub(crate) fn name(&self, field: &'static str, value: Option<String>) -> Result<Name, ApiError> {
        Name::parse(&required(field, value)?, self.config.limits.max_name_chars)
            .map_err(|e| ApiError::field(field, e))
    }

    /// Scopes from the body field `scopes`, each in the catalogue.
    pub(crate) fn scopes(&self, requested: Vec<String>) -> Result<Scopes, ApiError> {
        Scopes::parse(requested.iter().map(String::as_str), &self.config.catalog)
            .map_err(|e| ApiError::field("scopes", e))
    }

    /// A bot user as shown; one stored before ceilings existed shows the whole catalogue.
    pub(crate) fn bot_view(&self, bot: &BotUser) -> BotView {
        BotView::of(bot, &self.config.catalog)
    }
}

/// A person's account (their `sub`) named in a request, as the identity provider's claims are
/// read: opaque, but printable and without invisible formatting characters.
fn account_field(value: &str) -> Result<Subject, ApiError> {
    Subject::parse_given(value).map_err(|e| ApiError::field("account", e))
}

/// A list's `?account=`: owners may name any account (none: the whole team); members see
/// their own bot users only, and naming another account is 403, as a team-wide read is.
pub(crate) fn account_filter(ctx: &Ctx<'_>, asked: Option<&str>) -> Result<Option<Subject>, ApiError> {
    let asked = asked.filter(|a| !a.is_empty()).map(account_field).transpose()?;
    match (ctx.caller.is_owner, asked) {
        (true, asked) => Ok(asked),
        (false, Some(asked)) if asked != ctx.caller.subject => Err(ApiError::NotOwner),
        (false, _) => Ok(Some(ctx.caller.subject.clone())),
    }
}
