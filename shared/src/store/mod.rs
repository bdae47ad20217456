//! What the two functions need from storage, as narrow traits, and the one verification path.
//!
//! The authorizer needs a single read ([`CredentialStore`]); the management API needs bot users
//! ([`BotStore`]) and keys ([`KeyStore`]). [`Store`] is all three. Two implementations keep the
//! same contract, checked by one test suite run against both: [`dynamodb::DynamoStore`] (the
//! product) and, behind the `embedded` feature, [`embedded::EmbeddedStore`] (a SQLite file for
//! local runs).
//!
//! The rules every implementation keeps:
//! * a key is never created for a missing or deleted bot user; deleting a bot user marks it
//!   and revokes every working key it has in one atomic step, so once it returns no key of the
//!   bot user verifies, and a deletion that fails changes nothing;
//! * a bot user never has more than `max_active` working keys ([`ApiKey::is_working`]:
//!   rotated-out keys inside their grace period count), however many creates and rotations
//!   race, and never more than [`MAX_WORKING_KEYS`];
//! * revocation is irreversible and idempotent; after `revoke_key` returns, verification of
//!   that key fails;
//! * a team only ever sees its own bot users and keys: another team's ids read as not found;
//! * every change writes its audit entry ([`crate::audit::Entry`]) in the same atomic step as
//!   the change: no change without its entry, no entry without its change. The methods that
//!   take an [`Origin`] (`create_bot_by`, ...) are the ones that write; the shorter ones are
//!   the same change with only a person as its origin.

#[cfg(feature = "dynamodb")]
pub mod dynamodb;
#[cfg(feature = "embedded")]
pub mod embedded;
pub mod listing;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};

use crate::audit::{AuditPage, AuditQuery, EventRef, Origin, Revocation};
use crate::expiry::{ExpiringKey, Warning};
use crate::ids::{BotId, KeyId};
use crate::model::{
    ApiKey, BotUser, Credential, KeyStatus, KeyUse, Name, NewKey, Principal, Subject, TeamId,
};
use crate::scope::Scopes;
use crate::token::{self, TokenError};

pub use self::listing::{KeyFilter, KeyListing, KeyQuery, KeyRow};

/// Expected outcomes a caller acts on, and the one unexpected kind ([`StoreError::Unavailable`]).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("bot user not found")]
    BotNotFound,
    #[error("bot user has been deleted")]
    BotDeleted,
    #[error("key not found")]
    KeyNotFound,
    #[error("the bot user already has {limit} active keys")]
    ActiveKeyLimit { limit: u32 },
    #[error("scope {scope} is outside the bot user's scopes")]
    OutsideCeiling { scope: String },
    #[error(
        "key {key} has scopes outside the new scopes; revoke it first, or revoke the keys with the change"
    )]
    KeysOutsideScopes { key: KeyId },
    #[error("key has been revoked")]
    KeyRevoked,
    #[error("key has expired")]
    KeyExpired,
    #[error("key has already been rotated")]
    KeyAlreadyRotated,
    #[error("too many concurrent changes to this bot user; try again")]
    Contention,
    /// The store could not be reached or answered something unexpected. Never shown to clients.
    #[error("store unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    pub fn unavailable(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Unavailable(error.into())
    }
}

/// One page of a listing, in id (= creation) order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Whether more items may follow the last one; ask again with it as the cursor.
    pub more: bool,
}

impl<T> Page<T> {
    /// The page for items read with a limit of `limit + 1`: the extra one only proves more.
    pub(crate) fn from_overfetch(mut items: Vec<T>, limit: usize) -> Self {
        let more = items.len() > limit;
        items.truncate(limit);
        Self { items, more }
    }
}

/// A finished rotation: the old key (now on its grace deadline) and its replacement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    pub old: ApiKey,
    pub new: ApiKey,
}

pub trait BotStore: Send + Sync {
    /// Stores a new bot user (its id is fresh; an existing id is never overwritten).
    fn create_bot_by(
        &self,
        bot: &BotUser,
        origin: &Origin,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// [`BotStore::create_bot_by`] its creator, without a request's context.
    fn create_bot(&self, bot: &BotUser) -> impl Future<Output = Result<(), StoreError>> + Send {
        async move { self.create_bot_by(bot, &Origin::from(&bot.created_by)).await }
    }

    /// One bot user of `team`, deleted ones included (with `deleted_at` set).
    fn get_bot(&self, team: &TeamId, bot: BotId) -> impl Future<Output = Result<BotUser, StoreError>> + Send;

    /// The team's bot users that are not deleted (only those for `account`, if given),
    /// after `after`, at most `limit`.
    fn list_bots(
        &self,
        team: &TeamId,
        account: Option<&Subject>,
        after: Option<BotId>,
        limit: usize,
    ) -> impl Future<Output = Result<Page<BotUser>, StoreError>> + Send;

    /// Changes a bot user in one atomic step: the fields `change` gives, and with
    /// `change.revoke_keys` the revocation of every working key. A deleted bot user is
    /// [`StoreError::BotDeleted`]; new `scopes` that a working key exceeds are refused
    /// ([`StoreError::KeysOutsideScopes`]) unless the keys are revoked with the change. Returns
    /// the bot user as changed and how many keys were revoked.
    fn update_bot_by(
        &self,
        team: &TeamId,
        bot: BotId,
        change: &BotChange,
        origin: &Origin,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(BotUser, usize), StoreError>> + Send;

    fn update_bot(
        &self,
        team: &TeamId,
        bot: BotId,
        change: &BotChange,
        by: &Subject,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(BotUser, usize), StoreError>> + Send {
        async move { self.update_bot_by(team, bot, change, &Origin::from(by), now).await }
    }

    /// Marks the bot user deleted and revokes every working key it has, in one atomic step.
    /// Deleting a deleted bot user changes nothing and succeeds.
    fn delete_bot_by(
        &self,
        team: &TeamId,
        bot: BotId,
        origin: &Origin,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<BotUser, StoreError>> + Send;

    fn delete_bot(
        &self,
        team: &TeamId,
        bot: BotId,
        by: &Subject,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<BotUser, StoreError>> + Send {
        async move { self.delete_bot_by(team, bot, &Origin::from(by), now).await }
    }
}

pub trait KeyStore: Send + Sync {
    /// Stores a new key for an existing, not deleted bot user of the key's team, unless that
    /// would give the bot user more than `max_active` working keys, or its scopes lie outside
    /// the bot user's ceiling.
    fn create_key_by(
        &self,
        key: &NewKey,
        max_active: u32,
        origin: &Origin,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn create_key(
        &self,
        key: &NewKey,
        max_active: u32,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        async move { self.create_key_by(key, max_active, &Origin::from(&key.key.created_by), now).await }
    }

    fn get_key(
        &self,
        team: &TeamId,
        bot: BotId,
        key: KeyId,
    ) -> impl Future<Output = Result<ApiKey, StoreError>> + Send;

    /// The bot user's keys in creation order, whatever their status.
    fn list_keys(
        &self,
        team: &TeamId,
        bot: BotId,
        after: Option<KeyId>,
        limit: usize,
    ) -> impl Future<Output = Result<Page<ApiKey>, StoreError>> + Send;

    /// Revokes a key now. Revoking a revoked key changes nothing and returns it as it is;
    /// a key of a deleted bot user is [`StoreError::BotDeleted`]. Only a revocation that
    /// happens writes an audit entry.
    fn revoke_key_by(
        &self,
        team: &TeamId,
        bot: BotId,
        key: KeyId,
        revocation: &Revocation,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<ApiKey, StoreError>> + Send;

    fn revoke_key(
        &self,
        team: &TeamId,
        bot: BotId,
        key: KeyId,
        by: &Subject,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<ApiKey, StoreError>> + Send {
        async move { self.revoke_key_by(team, bot, key, &Revocation::from(by), now).await }
    }

    /// In one step: stores `replacement` (same bot user) and moves the old key's expiry to
    /// `deadline` (never later than it was), marking it replaced. Only an active key that was
    /// not rotated before can be rotated, and only while the bot user has room for one more
    /// working key (the old one keeps working until `deadline`), under `max_active`.
    #[allow(clippy::too_many_arguments)]
    fn rotate_key_by(
        &self,
        team: &TeamId,
        old: KeyId,
        replacement: &NewKey,
        deadline: DateTime<Utc>,
        max_active: u32,
        origin: &Origin,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Rotation, StoreError>> + Send;

    fn rotate_key(
        &self,
        team: &TeamId,
        old: KeyId,
        replacement: &NewKey,
        deadline: DateTime<Utc>,
        max_active: u32,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Rotation, StoreError>> + Send {
        async move {
            let origin = Origin::from(&replacement.key.created_by);
            self.rotate_key_by(team, old, replacement, deadline, max_active, &origin, now).await
        }
    }

    /// "All my keys": the keys of the team's live bot users that `query` selects (its
    /// `account` decides which bot users are visible), newest first, older than `before`, at
    /// most `limit`. Rights come from the bot user items as read now. Filters apply after the
    /// read, so a page may be short or empty while [`KeyListing::next`] is set
    /// ([`listing`] says why, and what it costs).
    fn list_team_keys(
        &self,
        team: &TeamId,
        query: &KeyQuery,
        before: Option<KeyId>,
        limit: usize,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<KeyListing, StoreError>> + Send;
}

/// The audit trail, read back.
pub trait AuditStore: Send + Sync {
    /// The team's events matching `query`, newest first, after `after`, at most `limit`
    /// (a page may be short with a cursor: see [`AuditPage::next`]). Strongly consistent: an
    /// event is listed the moment its change has returned.
    fn list_events(
        &self,
        team: &TeamId,
        query: &AuditQuery,
        after: Option<EventRef>,
        limit: usize,
    ) -> impl Future<Output = Result<AuditPage, StoreError>> + Send;
}

/// What the notifier needs: the keys that may be due a warning, and the markers that make
/// each warning go out at least once and, barring a crash between publishing and marking,
/// exactly once. The rules of who is due what are [`crate::expiry`]'s.
///
/// A warning is *claimed* before it is published: a conditional write that succeeds for one
/// run only, and only while the key still works and the warning is unmarked. The claim lapses
/// at `until`, so a run that crashed after publishing leaves a warning that the next run sends
/// again (at least once) while two overlapping runs never both send it.
pub trait ExpiryStore: Send + Sync {
    /// Keys expiring in `(now, now + horizon]` that are not revoked or rotated out and not
    /// yet warned a day ahead, read from the expiry index (which may lag writes by a moment;
    /// the claim re-checks).
    fn expiring_keys(
        &self,
        now: DateTime<Utc>,
        horizon: TimeDelta,
    ) -> impl Future<Output = Result<Vec<ExpiringKey>, StoreError>> + Send;

    /// Claims `warning` of a key for the run `claim` until `until`. `false`: the key was
    /// revoked, rotated or warned meanwhile, or another run holds an unexpired claim.
    fn claim_warning(
        &self,
        key: &ExpiringKey,
        warning: Warning,
        claim: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Records `warning` as sent at `now` and drops the claim, if `claim` still holds it
    /// (`false`: it lapsed and another run took it over). The 1-day warning is the last one:
    /// marking it also takes the key out of the expiry index.
    fn mark_warned(
        &self,
        key: &ExpiringKey,
        warning: Warning,
        claim: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Drops `claim` without marking (the message could not be published), so the next run
    /// sends it.
    fn release_warning(
        &self,
        key: &ExpiringKey,
        claim: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Puts working keys written before the expiry index existed into it. Idempotent: a key
    /// already indexed, revoked, rotated out, expired or warned a day ahead is left alone.
    /// Returns how many keys it indexed.
    fn backfill_expiry_index(
        &self,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send;
}

/// Why a presented key is refused; the stable names go to the decision log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("{0}")]
    Format(TokenError),
    #[error("no such key")]
    UnknownKey,
    #[error("wrong secret")]
    WrongSecret,
    #[error("key expired")]
    Expired,
    #[error("key revoked")]
    Revoked,
}

impl Rejection {
    pub fn reason(self) -> &'static str {
        match self {
            Self::Format(e) => e.reason(),
            Self::UnknownKey => "unknown_key",
            Self::WrongSecret => "wrong_secret",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The key is not good: answer "no".
    #[error("rejected: {0}")]
    Rejected(Rejection),
    /// The answer is unknown: fail closed, and do not let anyone cache it.
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub trait CredentialStore: Send + Sync {
    /// What verification needs of one key, in exactly one strongly consistent read.
    fn credential(
        &self,
        bot: BotId,
        key: KeyId,
    ) -> impl Future<Output = Result<Option<Credential>, StoreError>> + Send;

    /// Records a use of a verified key ([`KeyUse`]) with one conditional write: only if its
    /// stored `last_used_at` is still older than the window (so concurrent first uses write
    /// once) and the key still exists (a purged key never comes back as a fragment). Returns
    /// whether it wrote.
    fn record_use(
        &self,
        bot: BotId,
        key: KeyId,
        used: &KeyUse,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Checks a presented key: offline checks first (no read for a malformed key), then one
    /// read, then the pure decision of [`check`].
    fn verify(
        &self,
        presented: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Principal, VerifyError>> + Send {
        let parsed = token::parse(presented);
        async move {
            let parsed = parsed.map_err(|e| VerifyError::Rejected(Rejection::Format(e)))?;
            self.verify_parsed(&parsed, now).await
        }
    }

    /// [`CredentialStore::verify`] for a key already through the offline checks.
    fn verify_parsed(
        &self,
        parsed: &token::ParsedToken,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Principal, VerifyError>> + Send {
        async move {
            let credential = self.credential(parsed.bot_id(), parsed.key_id()).await?;
            check(parsed, credential, now).map_err(VerifyError::Rejected)
        }
    }
}

/// The decision on a well-formed key, given what the store holds for its id.
///
/// The secret is compared first, in constant time, so a caller without the secret learns
/// nothing about the key's state.
pub fn check(
    parsed: &token::ParsedToken,
    stored: Option<Credential>,
    now: DateTime<Utc>,
) -> Result<Principal, Rejection> {
    let credential = stored.ok_or(Rejection::UnknownKey)?;
    if !parsed.matches(&credential.hash) {
        return Err(Rejection::WrongSecret);
    }
    match KeyStatus::at(credential.revoked_at, credential.expires_at, now) {
        KeyStatus::Revoked => Err(Rejection::Revoked),
        KeyStatus::Expired => Err(Rejection::Expired),
        KeyStatus::Active => Ok(Principal {
            bot_id: parsed.bot_id(),
            team_id: credential.team_id,
            key_id: parsed.key_id(),
            scopes: credential.scopes,
            expires_at: credential.expires_at,
            last_used_at: credential.last_used_at,
        }),
    }
}

/// Everything the management API and the authorizer use.
pub trait Store: BotStore + KeyStore + CredentialStore + AuditStore {}

impl<T: BotStore + KeyStore + CredentialStore + AuditStore> Store for T {}

// The decisions every store takes the same way. A store only reads and writes; what a read
// means (refuse, repeat, retry) is decided here, once, for both implementations.

/// A key as stored: the owner's view plus the one store-side fact decisions need.
#[derive(Debug, Clone)]
pub(crate) struct KeyRecord {
    pub key: ApiKey,
    /// Its bot user was deleted (and this key revoked by that deletion).
    pub bot_deleted: bool,
}

/// A change to a bot user: each field given is set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BotChange {
    pub name: Option<Name>,
    /// A new account holder (re-assignment).
    pub account: Option<Subject>,
    /// A new scope ceiling.
    pub scopes: Option<Scopes>,
    /// Revoke every working key with the change.
    pub revoke_keys: bool,
}

impl BotChange {
    /// `bot` with this change made: what both stores answer once it is written.
    pub fn applied_to(&self, bot: BotUser) -> BotUser {
        BotUser {
            name: self.name.clone().unwrap_or(bot.name),
            account: self.account.clone().unwrap_or(bot.account),
            scopes: self.scopes.clone().or(bot.scopes),
            ..bot
        }
    }
}

/// Where a store's write can lose a race: after it read what it decides on, before it writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RacePoint {
    /// A deletion has read the bot user and its keys.
    Delete,
    /// A create has counted the bot user's keys.
    Create,
    /// A rotation has read the bot user and its keys.
    Rotate,
    /// A change to a bot user has read it and its keys.
    Update,
    /// A revocation has read the key.
    Revoke,
}

/// Runs at a [`RacePoint`], so a test can make another writer commit exactly there and the
/// race the store must survive happens every time instead of by luck. Stores have none
/// unless a test gives them one.
pub type RaceHook = Arc<dyn Fn(RacePoint) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// The most working keys a bot user can ever have, whatever `MAX_ACTIVE_KEYS_PER_BOT` says:
/// deleting a bot user revokes them all in one DynamoDB transaction, which holds at most 100
/// actions, two of them the bot user item and the change's audit entry. The template's
/// `MaxActiveKeysPerBot` allows no more (the infra test holds its `MaxValue` to this).
pub const MAX_WORKING_KEYS: u32 = 98;

/// Whether one more working key fits under the cap, given the bot user's keys. A rotation
/// that retires its old key at once (no grace) passes that key as `retiring_now`: it stops
/// working as the new one starts.
pub(crate) fn check_cap<'a>(
    keys: impl IntoIterator<Item = &'a ApiKey>,
    max_active: u32,
    now: DateTime<Utc>,
    retiring_now: Option<KeyId>,
) -> Result<(), StoreError> {
    let working = keys.into_iter().filter(|key| key.is_working(now) && Some(key.id) != retiring_now).count();
    if working >= max_active.min(MAX_WORKING_KEYS) as usize {
        return Err(StoreError::ActiveKeyLimit { limit: max_active });
    }
    Ok(())
}

/// Whether a key's scopes lie within its bot user's ceiling (none: the whole catalogue).
pub(crate) fn check_ceiling(ceiling: Option<&Scopes>, requested: &Scopes) -> Result<(), StoreError> {
    match ceiling.and_then(|ceiling| requested.first_outside(ceiling)) {
        Some(scope) => Err(StoreError::OutsideCeiling { scope: scope.to_string() }),
        None => Ok(()),
    }
}

/// Whether `change` may be made to `current`, given its keys.
pub(crate) fn check_change(
    current: &BotUser,
    change: &BotChange,
    keys: &[ApiKey],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if current.deleted_at.is_some() {
        return Err(StoreError::BotDeleted);
    }
    if let (Some(ceiling), false) = (&change.scopes, change.revoke_keys)
        && let Some(key) = keys.iter().find(|key| key.is_working(now) && !key.scopes.is_within(ceiling))
    {
        return Err(StoreError::KeysOutsideScopes { key: key.id });
    }
    Ok(())
}

/// Whether a bot user is listed for `account` (`None`: for everyone).
pub(crate) fn listed_for(bot: &BotUser, account: Option<&Subject>) -> bool {
    bot.deleted_at.is_none() && account.is_none_or(|account| &bot.account == account)
}

/// What a revocation request finds.
#[derive(Debug)]
pub(crate) enum Revocable {
    /// Not revoked yet: revoke it.
    Yes,
    /// Revoked before: the request changes nothing and answers with the key as it is.
    AlreadyRevoked(Box<ApiKey>),
}

/// Whether `team` may revoke the key found (`None`: no such key).
pub(crate) fn revocable(found: Option<KeyRecord>, team: &TeamId) -> Result<Revocable, StoreError> {
    let record = found.filter(|record| &record.key.team_id == team).ok_or(StoreError::KeyNotFound)?;
    if record.bot_deleted {
        return Err(StoreError::BotDeleted);
    }
    match record.key.revoked_at {
        Some(_) => Ok(Revocable::AlreadyRevoked(Box::new(record.key))),
        None => Ok(Revocable::Yes),
    }
}

/// Whether `team` may rotate the key found now, retiring it at `deadline`. `Ok` means it may;
/// a store whose conditional write failed although this says `Ok` lost a race
/// ([`StoreError::Contention`]).
pub(crate) fn rotatable(
    found: Option<KeyRecord>,
    team: &TeamId,
    deadline: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let record = found.filter(|record| &record.key.team_id == team).ok_or(StoreError::KeyNotFound)?;
    let key = &record.key;
    if record.bot_deleted {
        Err(StoreError::BotDeleted)
    } else if key.revoked_at.is_some() {
        Err(StoreError::KeyRevoked)
    } else if key.replaced_by.is_some() {
        Err(StoreError::KeyAlreadyRotated)
    } else if key.expires_at <= now {
        Err(StoreError::KeyExpired)
    } else if deadline > key.expires_at {
        // A deadline computed from a stale read would extend the key's life: refuse it.
        Err(StoreError::Contention)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::{ScopeCatalog, Scopes};
    use crate::token::IssuedKey;
    use chrono::TimeDelta;

    fn credential(issued: &IssuedKey, now: DateTime<Utc>) -> Credential {
        let catalog = ScopeCatalog::parse("projects:read").unwrap();
        Credential {
            team_id: TeamId::parse("team").unwrap(),
            scopes: Scopes::parse(["projects:read"], &catalog).unwrap(),
            expires_at: now + TimeDelta::hours(1),
            revoked_at: None,
            hash: issued.hash.clone(),
            last_used_at: None,
        }
    }

    #[test]
    fn check_allows_only_a_known_matching_active_key() {
        let now = Utc::now();
        let issued = IssuedKey::generate(BotId::generate(now), now);
        let parsed = token::parse(issued.raw.expose()).unwrap();
        let good = credential(&issued, now);

        let principal = check(&parsed, Some(good.clone()), now).unwrap();
        assert_eq!(principal.key_id, issued.key_id);
        assert_eq!(check(&parsed, None, now), Err(Rejection::UnknownKey));

        let other = IssuedKey::generate(parsed.bot_id(), now);
        let wrong = Credential { hash: other.hash, ..good.clone() };
        assert_eq!(check(&parsed, Some(wrong), now), Err(Rejection::WrongSecret));

        let expired_now = Credential { expires_at: now, ..good.clone() };
        assert_eq!(check(&parsed, Some(expired_now), now), Err(Rejection::Expired));

        let revoked = Credential { revoked_at: Some(now), ..good };
        assert_eq!(check(&parsed, Some(revoked), now), Err(Rejection::Revoked));
    }
}
