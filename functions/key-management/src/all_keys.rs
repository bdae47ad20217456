//! `GET /v1/keys`: every key the caller may see, across bot users, newest first, filtered.
//!
//! Who sees what is the bot users' rule (owners: the team's; anyone else: the bot users for
//! their own account), applied by the store to the bot user items it reads on every page. The
//! query parameters are parsed here, once, into the store's [`KeyQuery`]; durations follow the
//! API's one grammar ([`Span`]).

use lambda_http::http::StatusCode;
use lambda_http::{Body, RequestExt, Response};
use nico_keys::duration::SpanError;
use nico_keys::store::{KeyFilter, KeyQuery, KeyRow, Store};
use nico_keys::{BotId, KeyId, KeyStatus, Span};
use serde::Serialize;

use crate::bots::account_filter;
use crate::extract::page_request;
use crate::views::{KeyView, json_response};
use crate::{Api, ApiError, Ctx};

/// One row of the list: the key as everywhere else, and its bot user's name.
#[derive(Serialize)]
struct KeyRowView {
    #[serde(flatten)]
    key: KeyView,
    bot_name: String,
}

#[derive(Serialize)]
struct KeyRowList {
    items: Vec<KeyRowView>,
    /// Set whenever older keys may remain, even after a short or empty page.
    next_cursor: Option<String>,
}

impl<S: Store> Api<S> {
    pub(crate) async fn list_all_keys(&self, ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
        let (limit, before) = page_request(ctx.request, |c| KeyId::parse(c).ok())?;
        let query = self.key_query(ctx)?;
        let listing = self
            .store
            .list_team_keys(&ctx.caller.team, &query, before, limit, ctx.now)
            .await
            .map_err(ApiError::reading)?;
        let items = listing
            .rows
            .iter()
            .map(|KeyRow { key, bot }| KeyRowView {
                key: KeyView::of(key, ctx.now),
                bot_name: bot.name.as_str().to_owned(),
            })
            .collect();
        let list = KeyRowList { items, next_cursor: listing.next.map(|id| id.to_string()) };
        Ok(json_response(StatusCode::OK, &list))
    }

    /// The query parameters as the store's query; the caller's rights decide `account`.
    fn key_query(&self, ctx: &Ctx<'_>) -> Result<KeyQuery, ApiError> {
        let parameters = ctx.request.query_string_parameters_ref();
        let given = |name: &str| parameters.and_then(|q| q.first(name)).filter(|v| !v.is_empty());
        let account = account_filter(ctx, given("account"))?;
        let bot = given("bot").map(BotId::parse).transpose().map_err(|e| ApiError::field("bot", e))?;
        let statuses = match given("status") {
            None => Vec::new(),
            Some(list) => list.split(',').map(status).collect::<Result<_, _>>()?,
        };
        let span = |name: &'static str| {
            given(name).map(Span::parse).transpose().map_err(|e: SpanError| ApiError::field(name, e))
        };
        let filter = KeyFilter {
            statuses,
            expiring_within: span("expiring_within")?,
            unused_for: span("unused_for")?,
        };
        Ok(KeyQuery { account, bot, filter })
    }
}

fn status(name: &str) -> Result<KeyStatus, ApiError> {
    match name.trim() {
        "active" => Ok(KeyStatus::Active),
        "expired" => Ok(KeyStatus::Expired),
        "revoked" => Ok(KeyStatus::Revoked),
        _ => Err(ApiError::field("status", "must be active, expired or revoked, comma-separated")),
    }
}
