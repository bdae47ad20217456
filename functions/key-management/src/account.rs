//! Who am I, and what may I ask for: the signed-in person's identity (so they can hand their
//! account id to an owner) and the deployment's scope catalogue and limits (so the console and
//! the CLI never hard-code them).

use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use nico_keys::store::Store;
use serde::Serialize;

use crate::views::json_response;
use crate::{Api, Ctx};

const DAY: u64 = 86_400;

#[derive(Serialize)]
struct Me<'a> {
    /// The account id (`sub`) an owner creates a bot user for.
    sub: &'a str,
    team_id: &'a str,
    role: Option<&'a str>,
    is_owner: bool,
    display_name: Option<&'a str>,
}

#[derive(Serialize)]
struct Catalog<'a> {
    scopes: Vec<ScopeEntry<'a>>,
    limits: Limits,
}

#[derive(Serialize)]
struct ScopeEntry<'a> {
    scope: &'a str,
    /// What it allows, if the deployment says (`SCOPE_DESCRIPTIONS`); else `null`.
    description: Option<&'a str>,
}

#[derive(Serialize)]
struct Limits {
    max_key_lifetime_days: u64,
    key_retention_days: u64,
    max_active_keys_per_bot: u32,
    name_max_chars: usize,
    rotation_grace_seconds: u64,
}

impl<S: Store> Api<S> {
    pub(crate) fn me(&self, ctx: &Ctx<'_>) -> Response<Body> {
        let caller = &ctx.caller;
        json_response(
            StatusCode::OK,
            &Me {
                sub: caller.subject.as_str(),
                team_id: caller.team.as_str(),
                role: caller.role.as_deref(),
                is_owner: caller.is_owner,
                display_name: caller.display_name.as_deref(),
            },
        )
    }

    pub(crate) fn catalog(&self) -> Response<Body> {
        let limits = &self.config.limits;
        json_response(
            StatusCode::OK,
            &Catalog {
                scopes: self
                    .config
                    .catalog
                    .iter()
                    .map(|scope| ScopeEntry {
                        scope: scope.as_str(),
                        description: self.config.catalog.description(scope),
                    })
                    .collect(),
                limits: Limits {
                    max_key_lifetime_days: limits.max_key_lifetime.as_secs() / DAY,
                    key_retention_days: limits.retention.as_secs() / DAY,
                    max_active_keys_per_bot: limits.max_active_keys,
                    name_max_chars: limits.max_name_chars,
                    rotation_grace_seconds: limits.rotation_grace.as_secs(),
                },
            },
        )
    }
}
