//! The management API: team owners manage bot users and their keys over HTTP.
//!
//! API Gateway's JWT authorizer has already verified the caller; this function reads the
//! claims it passes on, finds the route ([`routes`]), reads the request into domain values
//! ([`extract`]), calls the store and renders the result ([`views`]). Every failure is an
//! [`ApiError`], turned into a response in one place. The behaviour it promises, and the
//! choices made where the product brief was silent, are in `docs/contract.md`.
//!
//! * [`routes`]: the route table, declared once;
//! * `account`, `bots`, `keys`, `all_keys`, `audit`, `whoami`: one handler per operation;
//! * [`extract`]: caller, bodies, paging;
//! * [`bodies`]: every request body, in one list;
//! * [`views`]: what the API shows;
//! * [`error`]: what goes wrong, and the one place it becomes a response.

mod account;
mod all_keys;
mod audit;
pub mod bodies;
mod bots;
pub mod console;
pub mod error;
pub mod extract;
mod keys;
pub mod propagation;
pub mod routes;
pub mod views;
mod whoami;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use nico_keys::store::Store;
use nico_keys::{BotId, Clock, Config, KeyId};

use crate::console::ConsoleSettings;
pub use crate::error::ApiError;
pub use crate::extract::{Caller, MAX_BODY_BYTES, OWNER_ROLE};
use crate::routes::{Matched, Operation};
pub use crate::views::{BotView, KeyView};

/// The management API: a store, the configuration, a clock.
pub struct Api<S> {
    store: S,
    config: Config,
    clock: Arc<dyn Clock>,
    console: ConsoleSettings,
    /// Flushes API Gateway's authorizer caches after a revocation ([`propagation`]).
    flusher: Option<Arc<dyn nico_keys::flush::Flusher>>,
}

/// One request on its way through a handler: who asks, for what, and when.
pub(crate) struct Ctx<'r> {
    pub request: &'r Request,
    pub caller: Caller,
    pub now: DateTime<Utc>,
    matched: Matched,
}

impl Ctx<'_> {
    /// The bot user id of the path; one that cannot be an id is simply not found.
    pub fn bot(&self) -> Result<BotId, ApiError> {
        self.matched.bot.as_deref().and_then(|id| BotId::parse(id).ok()).ok_or(ApiError::BotNotFound)
    }

    pub fn key(&self) -> Result<KeyId, ApiError> {
        self.matched.key.as_deref().and_then(|id| KeyId::parse(id).ok()).ok_or(ApiError::KeyNotFound)
    }
}

impl<S: Store> Api<S> {
    pub fn new(store: S, config: Config, clock: Arc<dyn Clock>) -> Self {
        Self { store, config, clock, console: ConsoleSettings::default(), flusher: None }
    }

    /// Where the console served under `/console/` signs people in.
    pub fn with_console(mut self, settings: ConsoleSettings) -> Self {
        self.console = settings;
        self
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
        let path = nico_keys::routes::strip_stage(request.uri().path(), stage);
        // The console's files are public (API Gateway routes them with no authorizer).
        if console::is_console_path(path) {
            return Ok(console::answer(request.method(), path, &self.console));
        }
        let matched = routes::find(request.method(), path)?;
        if matched.operation == Operation::Whoami {
            // An API key, checked by the Lambda authorizer: no person, no JWT claims.
            return self.whoami(request).await;
        }
        let caller = Caller::of(request, &self.config.claims)?;
        let ctx = Ctx { request, caller, now: self.clock.now(), matched };
        self.dispatch(&ctx).await
    }

    /// Binds each operation to its handler.
    async fn dispatch(&self, ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
        match ctx.matched.operation {
            Operation::Me => Ok(self.me(ctx)),
            Operation::Catalog => Ok(self.catalog()),
            Operation::CreateBot => self.create_bot(ctx).await,
            Operation::ListBots => self.list_bots(ctx).await,
            Operation::GetBot => self.get_bot(ctx).await,
            Operation::UpdateBot => self.update_bot(ctx).await,
            Operation::DeleteBot => self.delete_bot(ctx).await,
            Operation::RevokeKeys => self.revoke_keys(ctx).await,
            Operation::CreateKey => self.create_key(ctx).await,
            Operation::ListKeys => self.list_keys(ctx).await,
            Operation::GetKey => self.get_key(ctx).await,
            Operation::RevokeKey => self.revoke_key(ctx).await,
            Operation::RotateKey => self.rotate_key(ctx).await,
            Operation::ListAudit => self.list_audit(ctx).await,
            Operation::ListAllKeys => self.list_all_keys(ctx).await,
            Operation::Whoami => self.whoami(ctx.request).await,
        }
    }
}
