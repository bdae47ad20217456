//! `GET /v1/audit`: the audit trail, newest first. Owners read the team's; members read the
//! events about the bot users that are theirs now, found by a strongly consistent read of the
//! bot users, so a re-assignment moves the history with the bot user at once.

use lambda_http::http::StatusCode;
use lambda_http::{Body, RequestExt, Response};
use nico_keys::audit::{Actor, AuditQuery, EventRef};
use nico_keys::duration::parse_since;
use nico_keys::store::Store;
use nico_keys::{BotId, BotUser};
use serde::Serialize;

use crate::extract::page_request;
use crate::views::{EventView, json_response};
use crate::{Api, ApiError, Ctx};

#[derive(Serialize)]
struct EventList {
    items: Vec<EventView>,
    next_cursor: Option<String>,
}

impl<S: Store> Api<S> {
    pub(crate) async fn list_audit(&self, ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
        let (limit, after) = page_request(ctx.request, EventRef::parse)?;
        let params = ctx.request.query_string_parameters_ref();
        let param = |name: &str| params.and_then(|q| q.first(name)).filter(|value| !value.is_empty());
        let bot = param("bot").map(BotId::parse).transpose().map_err(|e| ApiError::field("bot", e))?;
        let actor = param("actor").map(Actor::parse).transpose().map_err(|e| ApiError::field("actor", e))?;
        let since = param("since")
            .map(|text| parse_since(text, ctx.now))
            .transpose()
            .map_err(|e| ApiError::field("since", e))?;
        let only_bots = if ctx.caller.is_owner { None } else { Some(self.own_bots(ctx).await?) };
        let query = AuditQuery { bot, actor, since, only_bots };
        let page = self
            .store
            .list_events(&ctx.caller.team, &query, after, limit)
            .await
            .map_err(ApiError::reading)?;
        let list = EventList {
            items: page.items.iter().map(EventView::of).collect(),
            next_cursor: page.next.map(|next| next.to_string()),
        };
        Ok(json_response(StatusCode::OK, &list))
    }

    /// Every bot user that is the caller's now (strongly consistent), all pages.
    async fn own_bots(&self, ctx: &Ctx<'_>) -> Result<Vec<BotId>, ApiError> {
        let mut ids = Vec::new();
        let mut after = None;
        loop {
            let page = self
                .store
                .list_bots(&ctx.caller.team, Some(&ctx.caller.subject), after, 100)
                .await
                .map_err(ApiError::reading)?;
            ids.extend(page.items.iter().map(|bot: &BotUser| bot.id));
            match (page.more, page.items.last()) {
                (true, Some(last)) => after = Some(last.id),
                _ => return Ok(ids),
            }
        }
    }
}
