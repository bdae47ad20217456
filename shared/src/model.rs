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

/// A display name (of a bot user or of a key): trimmed, not blank, at most the configured
/// number of characters, without control characters (Unicode `Cc`) and without the invisible
/// ones that make a name read other than it is ([`is_invisible_format`]: bidi overrides,
/// zero-width characters, line and paragraph separators).
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
    #[error(
        "must not contain invisible formatting characters (bidi controls, zero-width characters, line or paragraph separators)"
    )]
    FormatCharacter,
}

impl Name {
    pub fn parse(input: &str, max_chars: usize) -> Result<Self, NameError> {
        let name = Self::checked(input, max_chars)?;
        if name.0.chars().any(is_invisible_format) {
            return Err(NameError::FormatCharacter);
        }
        Ok(name)
    }

    /// Rebuilds a name read back from a store, which only ever holds parsed names. Neither the
    /// length limit nor the rule on invisible formatting characters is applied again, so a
    /// name stays readable after `NAME_MAX_CHARS` is lowered, and a name stored before that
    /// rule existed stays readable too.
    pub fn from_stored(stored: String) -> Result<Self, NameError> {
        Self::checked(&stored, usize::MAX)
    }

    fn checked(input: &str, max_chars: usize) -> Result<Self, NameError> {
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

/// Whether `c` is invisible yet changes how text around it reads: a format character (Unicode
/// general category `Cf`: bidi embeddings, overrides and isolates, zero-width space, joiners,
/// word joiner, byte order mark, soft hyphen, tag characters, …), a line separator (`Zl`,
/// U+2028) or a paragraph separator (`Zp`, U+2029).
///
/// The ranges are every `Cf`, `Zl` and `Zp` code point of Unicode 17.0; a unit test checks
/// them against the ones a bidi attack or a log-splitting name would use.
pub fn is_invisible_format(c: char) -> bool {
    const RANGES: [(u32, u32); 21] = [
        (0x00AD, 0x00AD),
        (0x0600, 0x0605),
        (0x061C, 0x061C),
        (0x06DD, 0x06DD),
        (0x070F, 0x070F),
        (0x0890, 0x0891),
        (0x08E2, 0x08E2),
        (0x180E, 0x180E),
        (0x200B, 0x200F),
        (0x2028, 0x202E),
        (0x2060, 0x2064),
        (0x2066, 0x206F),
        (0xFEFF, 0xFEFF),
        (0xFFF9, 0xFFFB),
        (0x110BD, 0x110BD),
        (0x110CD, 0x110CD),
        (0x13430, 0x1343F),
        (0x1BCA0, 0x1BCA3),
        (0x1D173, 0x1D17A),
        (0xE0001, 0xE0001),
        (0xE0020, 0xE007F),
    ];
    let c = u32::from(c);
    if c < 0xAD {
        return false;
    }
    RANGES.iter().any(|&(first, last)| (first..=last).contains(&c))
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

            /// Reads a value given from outside (an identity provider's claim, the `account`
            /// of a request): [`Self::parse`]'s rule, and no invisible formatting characters
            /// ([`is_invisible_format`]), since the value is shown to people in lists and
            /// audit fields. Stored values are read back with `parse`, so what was stored
            /// before this rule stays readable.
            pub fn parse_given(input: &str) -> Result<Self, InvalidIdentity> {
                if input.chars().any(is_invisible_format) {
                    return Err(InvalidIdentity);
                }
                Self::parse(input)
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
    /// Why a person revoked it, if they said; the fixed reason of a system revocation.
    pub revoked_reason: Option<String>,
    /// The key that replaced this one by rotation; this key then expires at the grace deadline.
    pub replaced_by: Option<KeyId>,
    /// The key this one replaced by rotation.
    pub replaces: Option<KeyId>,
    /// When the authorizer last let it through, to within the last-used window; `None`: never.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Where that use came from (absent for REST `TOKEN` events, which carry no address).
    pub last_used_ip: Option<SourceIp>,
}

impl ApiKey {
    /// This key once rotation has replaced it by `new`: it works until `deadline` (never later
    /// than it would have), then expires.
    pub fn rotated_out(&self, new: KeyId, deadline: DateTime<Utc>) -> Self {
        Self { expires_at: deadline.min(self.expires_at), replaced_by: Some(new), ..self.clone() }
    }
}

/// A caller's source address as API Gateway reports it, parsed (so only an address is ever
/// stored or shown).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceIp(std::net::IpAddr);

impl SourceIp {
    pub fn parse(text: &str) -> Option<Self> {
        text.parse().ok().map(Self)
    }
}

impl fmt::Display for SourceIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// One use of a key the authorizer records: when, from where, and the window inside which an
/// earlier record is recent enough not to write again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyUse {
    pub at: DateTime<Utc>,
    pub ip: Option<SourceIp>,
    pub window: Duration,
}

impl KeyUse {
    /// A stored `last_used_at` older than this is stale: the use is recorded.
    pub fn stale_before(&self) -> DateTime<Utc> {
        self.at - TimeDelta::from_std(self.window).unwrap_or(TimeDelta::MAX)
    }

    /// Whether a key last used at `last_used_at` needs this use recorded.
    pub fn needs_record(&self, last_used_at: Option<DateTime<Utc>>) -> bool {
        last_used_at.is_none_or(|last| last < self.stale_before())
    }
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
            revoked_reason: None,
            replaced_by: None,
            replaces: None,
            last_used_at: None,
            last_used_ip: None,
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
    pub last_used_at: Option<DateTime<Utc>>,
}

/// Who a verified key acts as; what the authorizer hands to the backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub bot_id: BotId,
    pub team_id: TeamId,
    pub key_id: KeyId,
    pub scopes: Scopes,
    pub expires_at: DateTime<Utc>,
    /// As stored when verified: whether this use must be recorded ([`KeyUse::needs_record`]).
    pub last_used_at: Option<DateTime<Utc>>,
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

    /// The characters the rule is about: bidi override, zero-width space, line separator,
    /// paragraph separator, byte order mark (zero-width no-break space), soft hyphen.
    const INVISIBLE: [char; 6] = ['\u{202E}', '\u{200B}', '\u{2028}', '\u{2029}', '\u{FEFF}', '\u{00AD}'];

    #[test]
    fn names_refuse_bidi_zero_width_and_separator_characters() {
        for c in INVISIBLE {
            let inside = format!("ci{c}bot");
            assert_eq!(Name::parse(&inside, 100), Err(NameError::FormatCharacter), "U+{:04X}", c as u32);
            // At either end it is refused, or trimmed away (U+2028 and U+2029 are white space).
            for name in [format!("{c}ci bot"), format!("ci bot{c}")] {
                match Name::parse(&name, 100) {
                    Ok(name) => assert_eq!(name.as_str(), "ci bot", "U+{:04X}", c as u32),
                    Err(e) => assert_eq!(e, NameError::FormatCharacter, "U+{:04X}", c as u32),
                }
            }
        }
        for c in ['\u{200C}', '\u{200D}', '\u{2066}', '\u{2069}', '\u{061C}', '\u{E0041}', '\u{1D173}'] {
            assert_eq!(
                Name::parse(&format!("a{c}b"), 100),
                Err(NameError::FormatCharacter),
                "U+{:04X}",
                c as u32
            );
        }
        for fine in ["ci bot", "Zoë’s bot", "机器人", "bot\u{00A0}one", "emoji 🤖", "a\u{0301}"] {
            assert!(Name::parse(fine, 100).is_ok(), "{fine:?}");
        }
    }

    #[test]
    fn a_stored_name_stays_readable_whatever_the_rules_became() {
        let stored = format!("old{}name", '\u{200B}');
        assert_eq!(Name::from_stored(stored.clone()).unwrap().as_str(), stored);
        assert_eq!(Name::from_stored("x".repeat(500)).unwrap().as_str().len(), 500);
        assert_eq!(Name::from_stored("a\u{7}b".into()), Err(NameError::ControlCharacter));
    }

    #[test]
    fn invisible_format_covers_exactly_the_listed_categories_at_their_edges() {
        for c in INVISIBLE {
            assert!(is_invisible_format(c), "U+{:04X}", c as u32);
        }
        let edges = [
            ('\u{AC}', false),
            ('\u{AE}', false),
            ('\u{5FF}', false),
            ('\u{600}', true),
            ('\u{605}', true),
            ('\u{606}', false),
            ('\u{200A}', false),
            ('\u{2010}', false),
            ('\u{2027}', false),
            ('\u{202F}', false),
            ('\u{2065}', false),
            ('\u{2070}', false),
            ('\u{FFFC}', false),
            ('\u{E0000}', false),
            ('\u{E007F}', true),
            ('\u{E0080}', false),
            (' ', false),
            ('a', false),
        ];
        for (c, expected) in edges {
            assert_eq!(is_invisible_format(c), expected, "U+{:04X}", c as u32);
        }
    }

    #[test]
    fn identities_must_be_printable_and_bounded() {
        assert!(TeamId::parse("team-1").is_ok());
        assert!(TeamId::parse("").is_err());
        assert!(Subject::parse("a\nb").is_err());
        assert!(Subject::parse(&"s".repeat(257)).is_err());
    }

    #[test]
    fn identities_from_claims_refuse_invisible_formatting_but_stored_ones_are_read_as_before() {
        for c in INVISIBLE {
            let value = format!("owner{c}1");
            assert_eq!(Subject::parse_given(&value), Err(InvalidIdentity), "U+{:04X}", c as u32);
            assert_eq!(TeamId::parse_given(&value), Err(InvalidIdentity), "U+{:04X}", c as u32);
            assert!(Subject::parse(&value).is_ok(), "stored values stay readable");
        }
        assert!(Subject::parse_given("owner-1").is_ok());
        assert!(TeamId::parse_given("a\nb").is_err());
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
        fn a_name_with_any_invisible_character_inside_is_refused(
            before in "[a-z ]{0,10}",
            after in "[a-z ]{0,10}",
            c in prop::sample::select(INVISIBLE.to_vec()),
        ) {
            let name = format!("x{before}{c}{after}x");
            prop_assert_eq!(Name::parse(&name, 100), Err(NameError::FormatCharacter));
        }

        #[test]
        fn accepted_expiries_are_in_the_window(offset_ms in -1_000_000_000i64..40_000_000_000) {
            let at = now() + TimeDelta::milliseconds(offset_ms);
            let accepted = Expiry::at(at, now(), YEAR).is_ok();
            prop_assert_eq!(accepted, offset_ms > 0 && offset_ms <= 365 * 86_400_000);
        }
    }
}
