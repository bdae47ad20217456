//! "Last used": the time and source address of a key's most recent use, recorded at most once
//! per key per window, so an owner can tell which keys are safe to revoke.
//!
//! Why it is shaped like this:
//! * **At most one write per key per window.** The read verification already makes carries
//!   the stored `last_used_at`; only when it is older than the window is anything written, and
//!   the write is conditional on it still being older (so concurrent first uses, in any number
//!   of containers, write once) and on the item existing (a purged key never comes back as a
//!   fragment holding only these attributes). Under steady use: at most 3600 / window writes
//!   per key per hour.
//! * **Awaited, within its own budget.** Lambda freezes a container as soon as the handler
//!   returns, so a detached task could run minutes later or never. The write is awaited before
//!   the answer, one attempt, at most [`WRITE_BUDGET`]; past that it is abandoned.
//! * **Never changes the decision.** A failed or slow write is logged and forgotten: the answer
//!   was decided by the read, and a missing "last used" is worth less than a refused caller.

use std::time::Duration;

use chrono::{DateTime, Utc};
use nico_keys::store::CredentialStore;
use nico_keys::{KeyUse, Principal, SourceIp};

/// How long the write may take before it is abandoned.
pub const WRITE_BUDGET: Duration = Duration::from_millis(150);

/// The default `LAST_USED_WINDOW_SECONDS`.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(900);

/// Records this use of a verified key if its stored one is older than `window`; never fails.
pub(crate) async fn record<S: CredentialStore>(
    store: &S,
    principal: &Principal,
    ip: Option<SourceIp>,
    now: DateTime<Utc>,
    window: Duration,
) {
    let used = KeyUse { at: now, ip, window };
    if !used.needs_record(principal.last_used_at) {
        return;
    }
    let key_id = principal.key_id.as_str();
    match tokio::time::timeout(WRITE_BUDGET, store.record_use(principal.bot_id, principal.key_id, &used))
        .await
    {
        Ok(Ok(written)) => tracing::debug!(key_id, written, "last used"),
        Ok(Err(error)) => {
            tracing::warn!(key_id, error = %error, "last-used write failed; decision unchanged")
        }
        Err(_) => tracing::warn!(key_id, budget_ms = 150, "last-used write abandoned; decision unchanged"),
    }
}
