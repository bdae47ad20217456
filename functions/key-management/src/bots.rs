//! Bot users: create, list, read, delete.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use nico_keys::store::Store;
use nico_keys::{BotId, BotUser, Name};
use serde::Deserialize;

use crate::extract::{page_request, required, required_body};
use crate::views::{BotView, ListView, created, empty_response, json_response};
use crate::{Api, ApiError, Ctx};

/// `POST /v1/bots`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBot {
    name: Option<String>,
}

impl<S: Store> Api<S> {
    pub(crate) async fn create_bot(&self, ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
        let caller = ctx.caller.owner()?;
        let body: CreateBot = required_body(ctx.request)?;
        let bot = BotUser {
            id: BotId::generate(ctx.now),
            team_id: caller.team.clone(),
            name: self.name("name", body.name)?,
            created_at: ctx.now,
            created_by: caller.subject.clone(),
            deleted_at: None,
        };
        self.store.create_bot(&bot).await.map_err(ApiError::writing)?;
        Ok(created(&BotView::from(&bot), &format!("/v1/bots/{}", bot.id)))
    }

    pub(crate) async fn list_bots(&self, ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
        let (limit, after) = page_request(ctx.request, |c| BotId::parse(c).ok())?;
        let page = self.store.list_bots(&ctx.caller.team, after, limit).await.map_err(ApiError::reading)?;
        Ok(json_response(
            StatusCode::OK,
            &ListView::of(&page, |bot| BotView::from(bot), |bot| bot.id.to_string()),
        ))
    }

    pub(crate) async fn get_bot(&self, ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
        let found = self.store.get_bot(&ctx.caller.team, ctx.bot()?).await.map_err(ApiError::reading)?;
        if found.deleted_at.is_some() {
            return Err(ApiError::BotNotFound);
        }
        Ok(json_response(StatusCode::OK, &BotView::from(&found)))
    }

    pub(crate) async fn delete_bot(&self, ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
        let caller = ctx.caller.owner()?;
        let bot = ctx.bot()?;
        self.store
            .delete_bot(&caller.team, bot, &caller.subject, ctx.now)
            .await
            .map_err(ApiError::writing)?;
        Ok(empty_response(StatusCode::NO_CONTENT))
    }

    /// A bot user's or key's name, from the body field `field`.
    pub(crate) fn name(&self, field: &'static str, value: Option<String>) -> Result<Name, ApiError> {
        Name::parse(&required(field, value)?, self.config.limits.max_name_chars)
            .map_err(|e| ApiError::field(field, e))
    }
}
