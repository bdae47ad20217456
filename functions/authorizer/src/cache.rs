//! The micro-cache: inside one container, a positive verification is reused for a few seconds.
//!
//! Why: a busy key is one DynamoDB item, and one item is read from one partition, which serves
//! at most 3,000 strongly consistent reads a second; with a cache of N seconds a container
//! reads a key at most once every N seconds, so a key's reads grow with the number of warm
//! containers, not with its requests (`docs/cost.md`).
//!
//! What keeps it safe (`VERIFY_CACHE_SECONDS`, 0 = off, at most 5):
//! * an entry is found by key id and used only if the presented secret matches its stored
//!   digest, compared in constant time: a wrong secret never hits, it goes to the store and is
//!   refused there;
//! * only allowed keys are cached; refusals, unknown keys and store errors never are;
//! * every hit checks the key's `expires_at` against now, so an expiry (and a rotated-out
//!   key's grace deadline, which is its new expiry) takes effect on the very next request;
//! * only a revocation can lag: by at most N seconds, in a container that verified the key
//!   just before.
//!
//! The map is hand-written rather than a caching crate: entries live at most 5 seconds, so
//! the bound only needs "when full, drop what is stale, and if still full do not cache" (a
//! plain `HashMap` behind a `Mutex`, one lookup per request); a Lambda container runs one
//! request at a time and never comes near [`MAX_ENTRIES`] fresh keys.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use nico_keys::model::Credential;
use nico_keys::store::{CredentialStore, StoreError, VerifyError, check};
use nico_keys::token::{ParsedToken, SecretHash};
use nico_keys::{BotId, KeyId, KeyUse, Principal};

/// Most keys one container keeps at a time (each entry is a few hundred bytes).
pub const MAX_ENTRIES: usize = 4_096;

/// A [`CredentialStore`] that remembers positive verifications for `ttl`.
pub struct VerifyCache<S> {
    inner: S,
    ttl: TimeDelta,
    entries: Mutex<HashMap<KeyId, Entry>>,
}

struct Entry {
    /// The digest the key's secret must match.
    hash: SecretHash,
    principal: Principal,
    expires_at: DateTime<Utc>,
    /// When the store said yes.
    verified_at: DateTime<Utc>,
}

impl<S> VerifyCache<S> {
    /// `ttl` zero: every verification reads the store, as without the cache.
    pub fn new(inner: S, ttl: Duration) -> Self {
        Self {
            inner,
            ttl: TimeDelta::from_std(ttl).unwrap_or(TimeDelta::MAX),
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn is_on(&self) -> bool {
        self.ttl > TimeDelta::zero()
    }

    /// The cached answer for `parsed`, if one is fresh, its secret matches and it has not
    /// expired by `now`.
    fn hit(&self, parsed: &ParsedToken, now: DateTime<Utc>) -> Option<Principal> {
        let entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let entry = entries.get(&parsed.key_id())?;
        let fresh = entry.verified_at <= now && now - entry.verified_at < self.ttl;
        let usable = fresh
            && entry.principal.bot_id == parsed.bot_id()
            && parsed.matches(&entry.hash)
            && now < entry.expires_at;
        usable.then(|| entry.principal.clone())
    }

    fn remember(
        &self,
        hash: SecretHash,
        expires_at: DateTime<Utc>,
        principal: &Principal,
        now: DateTime<Utc>,
    ) {
        let mut entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(&principal.key_id) {
            entries.retain(|_, entry| entry.verified_at <= now && now - entry.verified_at < self.ttl);
            if entries.len() >= MAX_ENTRIES {
                return;
            }
        }
        let entry = Entry { hash, principal: principal.clone(), expires_at, verified_at: now };
        entries.insert(principal.key_id, entry);
    }

    /// Keys held right now (fresh or not yet swept).
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<S: CredentialStore> CredentialStore for VerifyCache<S> {
    async fn credential(&self, bot: BotId, key: KeyId) -> Result<Option<Credential>, StoreError> {
        self.inner.credential(bot, key).await
    }

    /// Records the use, and remembers it in the key's entry: a hit then carries the new
    /// `last_used_at`, so a cached key is not written again in every request of its window.
    /// Remembered whether this write or a concurrent one won (`false`): either way the stored
    /// time is fresh.
    async fn record_use(&self, bot: BotId, key: KeyId, used: &KeyUse) -> Result<bool, StoreError> {
        let written = self.inner.record_use(bot, key, used).await?;
        let mut entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(entry) = entries.get_mut(&key) {
            entry.principal.last_used_at = Some(used.at);
        }
        Ok(written)
    }

    async fn verify_parsed(
        &self,
        parsed: &ParsedToken,
        now: DateTime<Utc>,
    ) -> Result<Principal, VerifyError> {
        if !self.is_on() {
            return self.inner.verify_parsed(parsed, now).await;
        }
        if let Some(principal) = self.hit(parsed, now) {
            return Ok(principal);
        }
        let credential = self.inner.credential(parsed.bot_id(), parsed.key_id()).await?;
        let Some(credential) = credential else {
            return Err(VerifyError::Rejected(nico_keys::store::Rejection::UnknownKey));
        };
        let (hash, expires_at) = (credential.hash.clone(), credential.expires_at);
        let principal = check(parsed, Some(credential), now).map_err(VerifyError::Rejected)?;
        self.remember(hash, expires_at, &principal, now);
        Ok(principal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use nico_keys::{ScopeCatalog, Scopes, TeamId};

    fn principal(now: DateTime<Utc>) -> Principal {
        let catalog = ScopeCatalog::parse("projects:read").unwrap();
        Principal {
            bot_id: BotId::generate(now),
            team_id: TeamId::parse("team-a").unwrap(),
            key_id: KeyId::generate(now),
            scopes: Scopes::parse(["projects:read"], &catalog).unwrap(),
            expires_at: now + TimeDelta::days(1),
            last_used_at: None,
        }
    }

    #[test]
    fn the_cache_never_holds_more_than_its_bound_and_sweeps_stale_entries_when_full() {
        let cache = VerifyCache::new((), Duration::from_secs(1));
        let now = Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap();
        let expires = now + TimeDelta::days(1);
        let hash = || SecretHash::from_bytes([7; 32]);
        for _ in 0..MAX_ENTRIES + 10 {
            cache.remember(hash(), expires, &principal(now), now);
        }
        assert_eq!(cache.len(), MAX_ENTRIES, "full of fresh entries: the newcomers are not cached");
        let later = now + TimeDelta::seconds(1);
        cache.remember(hash(), expires, &principal(later), later);
        assert_eq!(cache.len(), 1, "the stale entries were swept to make room");
    }
}
