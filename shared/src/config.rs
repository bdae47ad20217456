//! Configuration from the environment, read once at start-up (the variables, their defaults
//! and ranges: `docs/contract.md#configuration`).
//!
//! A function with a bad setting must not start: it would otherwise answer every request
//! wrongly. Each problem is reported as one error naming the variable, which `main` logs
//! before exiting.

use std::time::Duration;

use crate::routes::RouteRules;
use crate::scope::ScopeCatalog;

const DAY: u64 = 86_400;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration variable {name}: {problem}")]
pub struct ConfigError {
    pub name: &'static str,
    pub problem: String,
}

/// The limits on keys, names and rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// `KEY_MAX_LIFETIME_DAYS`: how far in the future an expiry may lie (default 365 days).
    pub max_key_lifetime: Duration,
    /// `KEY_RETENTION_DAYS`: how long an expired or revoked key stays visible before the
    /// table's TTL purges it (default 30 days).
    pub retention: Duration,
    /// `MAX_ACTIVE_KEYS_PER_BOT`: working keys per bot user, rotated-out keys inside their
    /// grace period included (default 50, at most [`crate::store::MAX_WORKING_KEYS`]).
    pub max_active_keys: u32,
    /// `NAME_MAX_CHARS`: longest bot user or key name (default 100).
    pub max_name_chars: usize,
    /// `KEY_ROTATION_GRACE_SECONDS`: how long a rotated-out key keeps working at most
    /// (default 24 hours); a rotate request may ask for less, never for more.
    pub rotation_grace: Duration,
    /// `AUDIT_RETENTION_DAYS`: how long an audit entry is kept after its change before the
    /// table's TTL purges it (default 400 days, 1 to 3650).
    pub audit_retention: Duration,
    /// `LAST_USED_WINDOW_SECONDS`: a key's last use is recorded at most once per this window
    /// (default 15 minutes).
    pub last_used_window: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_key_lifetime: Duration::from_secs(365 * DAY),
            retention: Duration::from_secs(30 * DAY),
            max_active_keys: 50,
            max_name_chars: 100,
            rotation_grace: Duration::from_secs(DAY),
            audit_retention: Duration::from_secs(400 * DAY),
            last_used_window: Duration::from_secs(900),
        }
    }
}

/// Where the caller's team, role and display name are found among the JWT claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimNames {
    /// `OWNER_TEAM_CLAIM` (default `team_id`).
    pub team: String,
    /// `OWNER_ROLE_CLAIM` (default `role`); the value `owner` grants writes.
    pub role: String,
    /// `DISPLAY_NAME_CLAIM` (default `email`): what people are shown as, such as an e-mail
    /// address; a token without it is fine.
    pub display: String,
}

impl Default for ClaimNames {
    fn default() -> Self {
        Self { team: "team_id".into(), role: "role".into(), display: "email".into() }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `TABLE_NAME`.
    pub table_name: String,
    /// `ALLOWED_SCOPES`, with `SCOPE_DESCRIPTIONS`.
    pub catalog: ScopeCatalog,
    /// `ROUTE_SCOPES`; see [`crate::routes`] for the grammar.
    pub routes: RouteRules,
    pub limits: Limits,
    pub claims: ClaimNames,
    // Scale (issue 22): the authorizer's micro-cache and the caches flushed on revocation.
    /// `VERIFY_CACHE_SECONDS`: how long one authorizer container reuses a positive
    /// verification (default 0: never; at most [`MAX_VERIFY_CACHE_SECONDS`]).
    pub verify_cache: Duration,
    /// `FLUSH_AUTHORIZER_CACHES`: the API Gateway stages whose authorizer caches every
    /// revocation flushes (default: none).
    pub flush_stages: Vec<crate::flush::Stage>,
}

/// The longest `VERIFY_CACHE_SECONDS`: a revoked key may keep working that long in a container
/// that verified it just before, so it stays a matter of seconds.
pub const MAX_VERIFY_CACHE_SECONDS: u64 = 5;

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let vars = Vars(&lookup);
        let catalog_text = vars.required("ALLOWED_SCOPES")?;
        let catalog = ScopeCatalog::parse(&catalog_text).map_err(|e| invalid("ALLOWED_SCOPES", e))?;
        let catalog = match vars.optional("SCOPE_DESCRIPTIONS") {
            Some(json) => catalog.with_descriptions(&json).map_err(|e| invalid("SCOPE_DESCRIPTIONS", e))?,
            None => catalog,
        };
        let routes = RouteRules::parse(&vars.required("ROUTE_SCOPES")?, &catalog)
            .map_err(|e| invalid("ROUTE_SCOPES", e))?;
        let defaults = Limits::default();
        let limits = Limits {
            max_key_lifetime: vars.days("KEY_MAX_LIFETIME_DAYS", defaults.max_key_lifetime, 1)?,
            retention: vars.days("KEY_RETENTION_DAYS", defaults.retention, 0)?,
            max_active_keys: vars.number(
                "MAX_ACTIVE_KEYS_PER_BOT",
                defaults.max_active_keys,
                1,
                crate::store::MAX_WORKING_KEYS,
            )?,
            max_name_chars: vars.number("NAME_MAX_CHARS", defaults.max_name_chars, 1, 10_000)?,
            rotation_grace: Duration::from_secs(vars.number(
                "KEY_ROTATION_GRACE_SECONDS",
                defaults.rotation_grace.as_secs(),
                0,
                30 * DAY,
            )?),
            audit_retention: vars.days("AUDIT_RETENTION_DAYS", defaults.audit_retention, 1)?,
            last_used_window: Duration::from_secs(vars.number(
                "LAST_USED_WINDOW_SECONDS",
                defaults.last_used_window.as_secs(),
                1,
                DAY,
            )?),
        };
        let claims = ClaimNames {
            team: vars.optional("OWNER_TEAM_CLAIM").unwrap_or(ClaimNames::default().team),
            role: vars.optional("OWNER_ROLE_CLAIM").unwrap_or(ClaimNames::default().role),
            display: vars.optional("DISPLAY_NAME_CLAIM").unwrap_or(ClaimNames::default().display),
        };
        let verify_cache =
            Duration::from_secs(vars.number("VERIFY_CACHE_SECONDS", 0, 0, MAX_VERIFY_CACHE_SECONDS)?);
        let flush_stages =
            crate::flush::Stage::parse_list(&vars.optional("FLUSH_AUTHORIZER_CACHES").unwrap_or_default())
                .map_err(|e| invalid("FLUSH_AUTHORIZER_CACHES", e))?;
        Ok(Self {
            table_name: vars.required("TABLE_NAME")?,
            catalog,
            routes,
            limits,
            claims,
            verify_cache,
            flush_stages,
        })
    }
}

fn invalid(name: &'static str, problem: impl ToString) -> ConfigError {
    ConfigError { name, problem: problem.to_string() }
}

struct Vars<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Vars<'_> {
    /// A set, non-blank value.
    fn optional(&self, name: &str) -> Option<String> {
        (self.0)(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
    }

    fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.optional(name).ok_or_else(|| invalid(name, "is required and not set"))
    }

    fn number<T>(&self, name: &'static str, default: T, min: T, max: T) -> Result<T, ConfigError>
    where
        T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
    {
        let Some(text) = self.optional(name) else {
            return Ok(default);
        };
        match text.parse::<T>() {
            Ok(n) if n >= min && n <= max => Ok(n),
            _ => Err(invalid(name, format!("must be a whole number from {min} to {max}, got {text:?}"))),
        }
    }

    fn days(&self, name: &'static str, default: Duration, min: u64) -> Result<Duration, ConfigError> {
        let days = self.number(name, default.as_secs() / DAY, min, 3650)?;
        Ok(Duration::from_secs(days * DAY))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut env: HashMap<String, String> = [
            ("TABLE_NAME", "keys"),
            ("ALLOWED_SCOPES", "projects:read,projects:write"),
            ("ROUTE_SCOPES", "GET /projects/*=projects:read"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        for (k, v) in pairs {
            env.insert((*k).to_owned(), (*v).to_owned());
        }
        Config::from_lookup(|name| env.get(name).cloned())
    }

    #[test]
    fn defaults_apply_when_only_the_required_variables_are_set() {
        let config = load(&[]).unwrap();
        assert_eq!(config.table_name, "keys");
        assert_eq!(config.limits, Limits::default());
        assert_eq!(config.claims, ClaimNames::default());
    }

    #[test]
    fn limits_and_claim_names_are_read() {
        let config = load(&[
            ("KEY_MAX_LIFETIME_DAYS", "90"),
            ("KEY_RETENTION_DAYS", "0"),
            ("MAX_ACTIVE_KEYS_PER_BOT", "5"),
            ("OWNER_TEAM_CLAIM", "custom:team"),
        ])
        .unwrap();
        assert_eq!(config.limits.max_key_lifetime, Duration::from_secs(90 * DAY));
        assert_eq!(config.limits.retention, Duration::ZERO);
        assert_eq!(config.limits.max_active_keys, 5);
        assert_eq!(
            load(&[("AUDIT_RETENTION_DAYS", "30")]).unwrap().limits.audit_retention,
            Duration::from_secs(30 * DAY)
        );
        assert_eq!(config.claims.team, "custom:team");
    }

    #[test]
    fn at_most_98_working_keys_per_bot_user_are_accepted() {
        // A deletion revokes them all in one transaction of at most 100 actions, two of them
        // the bot user item and the audit entry.
        assert_eq!(load(&[("MAX_ACTIVE_KEYS_PER_BOT", "98")]).unwrap().limits.max_active_keys, 98);
        let refused = load(&[("MAX_ACTIVE_KEYS_PER_BOT", "99")]).unwrap_err();
        assert_eq!(refused.name, "MAX_ACTIVE_KEYS_PER_BOT");
    }

    #[test]
    fn the_display_name_claim_defaults_to_email_and_is_read() {
        assert_eq!(load(&[]).unwrap().claims.display, "email");
        assert_eq!(load(&[("DISPLAY_NAME_CLAIM", " ")]).unwrap().claims.display, "email", "blank = default");
        let config = load(&[("DISPLAY_NAME_CLAIM", " name ")]).unwrap();
        assert_eq!(config.claims.display, "name");
        assert_eq!((config.claims.team.as_str(), config.claims.role.as_str()), ("team_id", "role"));
    }

    #[test]
    fn each_bad_variable_is_named() {
        let cases = [
            ("TABLE_NAME", " "),
            ("ALLOWED_SCOPES", "projects"),
            ("ROUTE_SCOPES", "GET /x=billing:read"),
            ("KEY_MAX_LIFETIME_DAYS", "0"),
            ("KEY_RETENTION_DAYS", "-1"),
            ("MAX_ACTIVE_KEYS_PER_BOT", "lots"),
            ("MAX_ACTIVE_KEYS_PER_BOT", "99"),
            ("KEY_ROTATION_GRACE_SECONDS", "99999999"),
            ("VERIFY_CACHE_SECONDS", "6"),
            ("VERIFY_CACHE_SECONDS", "0.5"),
            ("FLUSH_AUTHORIZER_CACHES", "rest:abc"),
            ("FLUSH_AUTHORIZER_CACHES", "websocket:abc/prod"),
            ("AUDIT_RETENTION_DAYS", "0"),
            ("AUDIT_RETENTION_DAYS", "3651"),
        ];
        for (name, value) in cases {
            let err = load(&[(name, value)]).unwrap_err();
            assert_eq!(err.name, name, "{err}");
            assert!(err.to_string().starts_with(&format!("configuration variable {name}: ")));
        }
    }

    #[test]
    fn the_verify_cache_is_off_by_default_and_read_in_seconds() {
        assert_eq!(load(&[]).unwrap().verify_cache, Duration::ZERO);
        assert_eq!(load(&[("VERIFY_CACHE_SECONDS", "5")]).unwrap().verify_cache, Duration::from_secs(5));
        assert!(load(&[]).unwrap().flush_stages.is_empty());
        let config = load(&[("FLUSH_AUTHORIZER_CACHES", " rest:a1/prod , http:b2/$default ")]).unwrap();
        let stages: Vec<String> = config.flush_stages.iter().map(ToString::to_string).collect();
        assert_eq!(stages, ["rest:a1/prod", "http:b2/$default"]);
    }
}
