//! The domain: bot users, API keys and the values they are made of.
//!
//! Every value that can be invalid has a type whose constructor is the only way in, so a
//! `Name` or an `Expiry` further in is valid by construction and nothing re-checks it. Key
//! status is never stored: it is derived from `revoked_at`, `expires_at` and a clock each time
//! it is needed, so it can never be stale.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde::Serialize;

use crate::ids::{BotId, KeyId};
use crate::scope::Scopes;
use crate::token::{IssuedKey, RawKey, SecretHash};

/// Longest team id or owner subject accepted from the identity provider's claims.
const MAX_IDENTITY_CHARS: usize = 256;

/// A display name (of a bot user or of a key): trimmed, not blank, no control characters,
/// at most the configured number of characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Name(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("must not be blank")]
    Blank,
    #[error("must be at most {max} characters")]
    TooLong { max: usize },
    #[error("must not contain control characters")]
    ControlCharacter,
}

impl Name {
    pub fn parse(input: &str, max_chars: usize) -> Result<Self, NameError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(NameError::Blank);
        }
        if trimmed.chars().count() > max_chars {
            return Err(NameError::TooLong { max: max_chars });
        }
        if trimmed.chars().any(char::is_control) {
            return Err(NameError::ControlCharacter);
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// Rebuilds a name read back from a store, which only ever holds parsed names. The length
    /// limit is not applied again: a name stays readable after `NAME_MAX_CHARS` is lowered.
    pub fn from_stored(stored: String) -> Result<Self, NameError> {
        Self::parse(&stored, usize::MAX)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why an identity value from a claim was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be 1 to {MAX_IDENTITY_CHARS} printable characters")]
pub struct InvalidIdentity;

fn parse_identity(input: &str) -> Result<String, InvalidIdentity> {
    let ok = !input.is_empty()
        && input.chars().count() <= MAX_IDENTITY_CHARS
        && !input.chars().any(char::is_control);
    ok.then(|| input.to_owned()).ok_or(InvalidIdentity)
}

macro_rules! identity_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl TryFrom<String> for $name {
            type Error = InvalidIdentity;

            fn try_from(input: String) -> Result<Self, InvalidIdentity> {
                Self::parse(&input)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl $name {
            pub fn parse(input: &str) -> Result<Self, InvalidIdentity> {
                parse_identity(input).map(Self)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

identity_type!(
    /// The team that owns bot users, from the owner's verified JWT claims.
    TeamId
);
identity_type!(
    /// Who did something: the `sub` claim of the owner's JWT, kept for the audit trail.
    Subject
);

/// A key's expiry: in the future and within the maximum lifetime when it was set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expiry(DateTime<Utc>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpiryError {
    #[error("must be an RFC 3339 date-time, like 2027-01-31T00:00:00Z")]
    Unparseable,
    #[error("must be in the future")]
    NotInFuture,
    #[error("must be at most {max_days} days from now")]
    TooFar { max_days: u32 },
}

impl Expiry {
    pub fn parse(input: &str, now: DateTime<Utc>, max_lifetime: Duration) -> Result<Self, ExpiryError> {
        let at =
            DateTime::parse_from_rfc3339(input).map_err(|_| ExpiryError::Unparseable)?.with_timezone(&Utc);
        Self::at(at, now, max_lifetime)
    }

    /// Checks an instant against `now`; times are kept to the millisecond, as stored.
    pub fn at(at: DateTime<Utc>, now: DateTime<Utc>, max_lifetime: Duration) -> Result<Self, ExpiryError> {
        let at = truncate_to_millis(at);
        if at <= now {
            return Err(ExpiryError::NotInFuture);
        }
        let max = TimeDelta::from_std(max_lifetime).unwrap_or(TimeDelta::MAX);
        if now.checked_add_signed(max).is_some_and(|limit| at > limit) {
            let max_days = u32::try_from(max_lifetime.as_secs() / 86_400).unwrap_or(u32::MAX);
            return Err(ExpiryError::TooFar { max_days });
        }
        Ok(Self(at))
    }

    pub fn get(self) -> DateTime<Utc> {
        self.0
    }
}

/// Drops sub-millisecond precision, the precision the stores keep.
pub fn truncate_to_millis(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(at.timestamp_millis()).unwrap_or(at)
}

/// RFC 3339 in UTC with milliseconds, the one format times leave the service in.
pub fn format_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Where a key is in its life, derived and never stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    Active,
    Expired,
    Revoked,
}

impl KeyStatus {
    /// `revoked` if revoked at all, else `expired` once `expires_at <= now`, else `active`.
    pub fn at(revoked_at: Option<DateTime<Utc>>, expires_at: DateTime<Utc>, now: DateTime<Utc>) -> Self {
        if revoked_at.is_some() {
            Self::Revoked
        } else if expires_at <= now {
            Self::Expired
        } else {
            Self::Active
        }
    }
}

/// A bot user: the identity API keys act as, for one person's account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotUser {
    pub id: BotId,
    pub team_id: TeamId,
    pub name: Name,
    /// The account (a person's `sub`) the bot user is for: that person manages its keys.
    pub account: Subject,
    /// The most any of its keys may carry; `None` for a bot user stored before ceilings
    /// existed, which may have any scope of the catalogue.
    pub scopes: Option<Scopes>,
    pub created_at: DateTime<Utc>,
    pub created_by: Subject,
    /// Set once, by deletion; a deleted bot user's keys are all revoked.
    pub deleted_at: Option<DateTime<Utc>>,
}

/// An API key as owners see it: everything but the secret and its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: KeyId,
    pub bot_id: BotId,
    pub team_id: TeamId,
    pub name: Name,
    pub hint: String,
    pub scopes: Scopes,
    pub created_at: DateTime<Utc>,
    pub created_by: Subject,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoked_by: Option<Subject>,
    /// The key that replaced this one by rotation; this key then expires at the grace deadline.
    pub replaced_by: Option<KeyId>,
    /// The key this one replaced by rotation.
    pub replaces: Option<KeyId>,
}

impl ApiKey {
    pub fn status(&self, now: DateTime<Utc>) -> KeyStatus {
        KeyStatus::at(self.revoked_at, self.expires_at, now)
    }

    /// Whether this key still opens doors: active, a rotated-out key inside its grace period
    /// included. Working keys are what the active-key cap counts and what a bot user's
    /// deletion must revoke.
    pub fn is_working(&self, now: DateTime<Utc>) -> bool {
        self.status(now) == KeyStatus::Active
    }
}

/// A key about to be stored: the owner's view plus the digest of its secret.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub key: ApiKey,
    pub hash: SecretHash,
}

impl NewKey {
    /// Generates a key for `bot`: the record to store and the raw key to show once.
    pub fn issue(
        team: &TeamId,
        bot: BotId,
        name: Name,
        scopes: Scopes,
        expires_at: Expiry,
        by: &Subject,
        now: DateTime<Utc>,
    ) -> (Self, RawKey) {
        let issued = IssuedKey::generate(bot, now);
        let key = ApiKey {
            id: issued.key_id,
            bot_id: bot,
            team_id: team.clone(),
            name,
            hint: issued.hint,
            scopes,
            created_at: now,
            created_by: by.clone(),
            expires_at: expires_at.get(),
            revoked_at: None,
            revoked_by: None,
            replaced_by: None,
            replaces: None,
        };
        (Self { key, hash: issued.hash }, issued.raw)
    }

    /// Marks this key as the replacement of `old` in a rotation.
    pub fn replacing(mut self, old: KeyId) -> Self {
        self.key.replaces = Some(old);
        self
    }
}

/// The few fields verification reads, in the one `GetItem` it makes.
#[derive(Debug, Clone)]
pub struct Credential {
    pub team_id: TeamId,
    pub scopes: Scopes,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub hash: SecretHash,
}

/// Who a verified key acts as; what the authorizer hands to the backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub bot_id: BotId,
    pub team_id: TeamId,
    pub key_id: KeyId,
    pub scopes: Scopes,
}

/// When a rotated-out key stops working: `min(its expiry, now + grace)`.
pub fn rotation_deadline(expires_at: DateTime<Utc>, now: DateTime<Utc>, grace: Duration) -> DateTime<Utc> {
    let grace = TimeDelta::from_std(grace).unwrap_or(TimeDelta::MAX);
    now.checked_add_signed(grace).map_or(expires_at, |deadline| expires_at.min(truncate_to_millis(deadline)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    const YEAR: Duration = Duration::from_secs(365 * 86_400);

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap()
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(Name::parse("  ci bot ", 100).unwrap().as_str(), "ci bot");
        assert_eq!(Name::parse("   ", 100), Err(NameError::Blank));
        assert_eq!(Name::parse(&"é".repeat(100), 100).unwrap().as_str().chars().count(), 100);
        assert_eq!(Name::parse(&"é".repeat(101), 100), Err(NameError::TooLong { max: 100 }));
        assert_eq!(Name::parse("tab\there", 100), Err(NameError::ControlCharacter));
    }

    #[test]
    fn identities_must_be_printable_and_bounded() {
        assert!(TeamId::parse("team-1").is_ok());
        assert!(TeamId::parse("").is_err());
        assert!(Subject::parse("a\nb").is_err());
        assert!(Subject::parse(&"s".repeat(257)).is_err());
    }

    #[test]
    fn expiry_must_be_in_the_future_and_within_the_lifetime() {
        let parse = |s: &str| Expiry::parse(s, now(), YEAR);
        assert_eq!(parse("2026-11-28T12:00:00Z").unwrap().get(), now() + TimeDelta::days(1));
        assert_eq!(parse("2026-11-27T13:00:00+01:00"), Err(ExpiryError::NotInFuture));
        assert_eq!(parse("2026-11-27T11:59:59Z"), Err(ExpiryError::NotInFuture));
        assert!(parse("2027-11-27T12:00:00Z").is_ok());
        assert_eq!(parse("2027-11-27T12:00:00.001Z"), Err(ExpiryError::TooFar { max_days: 365 }));
        assert_eq!(parse("next tuesday"), Err(ExpiryError::Unparseable));
        assert_eq!(parse("2027-01-01"), Err(ExpiryError::Unparseable));
    }

    #[test]
    fn status_is_revoked_then_expired_then_active() {
        let t = now();
        assert_eq!(KeyStatus::at(None, t + TimeDelta::milliseconds(1), t), KeyStatus::Active);
        assert_eq!(KeyStatus::at(None, t, t), KeyStatus::Expired);
        assert_eq!(KeyStatus::at(Some(t), t + TimeDelta::days(1), t), KeyStatus::Revoked);
        assert_eq!(KeyStatus::at(Some(t), t - TimeDelta::days(1), t), KeyStatus::Revoked);
    }

    #[test]
    fn rotation_deadline_is_the_earlier_of_expiry_and_grace() {
        let t = now();
        let hour = Duration::from_secs(3600);
        assert_eq!(rotation_deadline(t + TimeDelta::days(1), t, hour), t + TimeDelta::hours(1));
        assert_eq!(rotation_deadline(t + TimeDelta::minutes(5), t, hour), t + TimeDelta::minutes(5));
        assert_eq!(rotation_deadline(t + TimeDelta::days(1), t, Duration::ZERO), t);
    }

    proptest! {
        #[test]
        fn status_follows_the_rule_at_every_instant(
            expires in -10_000i64..10_000, at in -10_000i64..10_000, revoked in any::<bool>()
        ) {
            let base = now();
            let expires_at = base + TimeDelta::milliseconds(expires);
            let now = base + TimeDelta::milliseconds(at);
            let status = KeyStatus::at(revoked.then_some(base), expires_at, now);
            let expected = if revoked {
                KeyStatus::Revoked
            } else if expires <= at {
                KeyStatus::Expired
            } else {
                KeyStatus::Active
            };
            prop_assert_eq!(status, expected);
        }

        #[test]
        fn accepted_expiries_are_in_the_window(offset_ms in -1_000_000_000i64..40_000_000_000) {
            let at = now() + TimeDelta::milliseconds(offset_ms);
            let accepted = Expiry::at(at, now(), YEAR).is_ok();
            prop_assert_eq!(accepted, offset_ms > 0 && offset_ms <= 365 * 86_400_000);
        }
    }
}
