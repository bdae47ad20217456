//! Expiry warnings: which key is due which warning, decided once for both stores and the
//! notifier.
//!
//! Mandatory expiry turns into an outage when nobody sees it coming, so the notifier warns
//! twice, 7 days and 1 day ahead. The rules live here, pure, so they are unit-tested without a
//! store:
//!
//! * only keys that still work and will keep working until they expire: a revoked key is dead
//!   already, and a rotated-out key's expiry is its grace deadline, which the person chose by
//!   rotating (its replacement gets warnings of its own);
//! * a warning is sent only for keys that lived longer than its lead time: a key made to last
//!   12 hours gets none, a 3-day key no 7-day warning (it would arrive with the key itself);
//! * a key first found inside the last day gets the 1-day warning only, never both at once;
//! * a warning marked as sent is never due again.
//!
//! Due keys are found through an index keyed by the UTC day a key expires (its *expiry
//! bucket*), so a run reads the eight days from today to seven days ahead and nothing else.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

use crate::ids::{BotId, KeyId};
use crate::model::{Name, TeamId};

/// One of the two warnings a key gets before it expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Warning {
    SevenDays,
    OneDay,
}

impl Warning {
    /// Every warning, earliest first.
    pub const ALL: [Self; 2] = [Self::SevenDays, Self::OneDay];

    /// How long before expiry the warning is due.
    pub fn lead(self) -> TimeDelta {
        match self {
            Self::SevenDays => TimeDelta::days(7),
            Self::OneDay => TimeDelta::days(1),
        }
    }

    /// Its name in messages and filter policies.
    pub fn label(self) -> &'static str {
        match self {
            Self::SevenDays => "7d",
            Self::OneDay => "1d",
        }
    }

    /// The stored marker attribute (column) recording when it was sent.
    pub fn marker(self) -> &'static str {
        match self {
            Self::SevenDays => "warned_7d_at",
            Self::OneDay => "warned_1d_at",
        }
    }

    /// The message subject: fixed text, never a name, so it is always one short line (SNS
    /// refuses subjects of 100 characters or more, and mail clients show them to anyone).
    pub fn subject(self) -> &'static str {
        match self {
            Self::SevenDays => "A Nico API key expires within 7 days",
            Self::OneDay => "A Nico API key expires within 24 hours",
        }
    }
}

/// How far ahead a run looks: the earliest warning's lead.
pub const HORIZON: TimeDelta = TimeDelta::days(7);

/// A key as the expiry index holds it: what deciding and writing a warning needs, and no
/// secret digest (the index does not project it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiringKey {
    pub id: KeyId,
    pub bot_id: BotId,
    pub team_id: TeamId,
    pub name: Name,
    pub hint: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub replaced_by: Option<KeyId>,
    pub warned_7d_at: Option<DateTime<Utc>>,
    pub warned_1d_at: Option<DateTime<Utc>>,
}

impl ExpiringKey {
    fn warned(&self, warning: Warning) -> bool {
        match warning {
            Warning::SevenDays => self.warned_7d_at.is_some(),
            Warning::OneDay => self.warned_1d_at.is_some(),
        }
    }
}

/// The warning `key` is due at `now`, if any (the rules are the module's).
pub fn due(key: &ExpiringKey, now: DateTime<Utc>) -> Option<Warning> {
    if key.revoked_at.is_some() || key.replaced_by.is_some() || key.expires_at <= now {
        return None;
    }
    let left = key.expires_at - now;
    let lifetime = key.expires_at - key.created_at;
    // The most urgent warning whose window the key is in; a later one supersedes an earlier.
    let warning = Warning::ALL.into_iter().rev().find(|warning| left <= warning.lead())?;
    let superseded = Warning::ALL.into_iter().any(|later| later > warning && key.warned(later));
    (lifetime > warning.lead() && !key.warned(warning) && !superseded).then_some(warning)
}

/// The expiry bucket of a key expiring at `at`: its UTC day, `YYYY-MM-DD`.
pub fn bucket(at: DateTime<Utc>) -> String {
    at.date_naive().format("%Y-%m-%d").to_string()
}

/// The buckets that can hold a key expiring in `(now, now + horizon]`, in order.
pub fn buckets(now: DateTime<Utc>, horizon: TimeDelta) -> Vec<String> {
    let last = (now + horizon).date_naive();
    let mut day: NaiveDate = now.date_naive();
    let mut days = Vec::new();
    while day <= last {
        days.push(day.format("%Y-%m-%d").to_string());
        day = day.succ_opt().unwrap_or(NaiveDate::MAX);
        if day == NaiveDate::MAX {
            break;
        }
    }
    days
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap()
    }

    /// A key made `age` ago that expires `left` from now.
    fn key(age: TimeDelta, left: TimeDelta) -> ExpiringKey {
        ExpiringKey {
            id: KeyId::generate(now()),
            bot_id: BotId::generate(now()),
            team_id: TeamId::parse("team-a").unwrap(),
            name: Name::parse("deploy", 100).unwrap(),
            hint: "nico_…abcd".into(),
            created_at: now() - age,
            expires_at: now() + left,
            revoked_at: None,
            replaced_by: None,
            warned_7d_at: None,
            warned_1d_at: None,
        }
    }

    #[test]
    fn keys_get_the_warning_of_the_window_they_are_in() {
        let month = TimeDelta::days(30);
        assert_eq!(due(&key(month, TimeDelta::days(8)), now()), None);
        assert_eq!(due(&key(month, TimeDelta::days(7)), now()), Some(Warning::SevenDays));
        assert_eq!(due(&key(month, TimeDelta::days(6)), now()), Some(Warning::SevenDays));
        assert_eq!(due(&key(month, TimeDelta::hours(20)), now()), Some(Warning::OneDay));
        assert_eq!(due(&key(month, TimeDelta::zero()), now()), None, "expired");
        assert_eq!(due(&key(month, -TimeDelta::hours(1)), now()), None, "expired");
    }

    #[test]
    fn a_key_shorter_lived_than_a_warnings_lead_does_not_get_it() {
        // 12 hours in all: no warning; 3 days: the 1-day one but not the 7-day one.
        assert_eq!(due(&key(TimeDelta::hours(2), TimeDelta::hours(10)), now()), None);
        assert_eq!(due(&key(TimeDelta::days(1), TimeDelta::days(2)), now()), None);
        assert_eq!(due(&key(TimeDelta::days(2), TimeDelta::hours(20)), now()), Some(Warning::OneDay));
        // Exactly the lead: it would arrive with the key, so none.
        assert_eq!(due(&key(TimeDelta::zero(), TimeDelta::days(1)), now()), None);
    }

    #[test]
    fn revoked_rotated_out_and_warned_keys_are_not_due() {
        let month = TimeDelta::days(30);
        let revoked = ExpiringKey { revoked_at: Some(now()), ..key(month, TimeDelta::days(6)) };
        assert_eq!(due(&revoked, now()), None);
        let rotated =
            ExpiringKey { replaced_by: Some(KeyId::generate(now())), ..key(month, TimeDelta::hours(5)) };
        assert_eq!(due(&rotated, now()), None);
        let warned = ExpiringKey { warned_7d_at: Some(now()), ..key(month, TimeDelta::days(6)) };
        assert_eq!(due(&warned, now()), None);
        // Warned 7 days ahead, now inside the last day: the 1-day warning is due.
        let later = ExpiringKey { warned_7d_at: Some(now()), ..key(month, TimeDelta::hours(20)) };
        assert_eq!(due(&later, now()), Some(Warning::OneDay));
        let done = ExpiringKey { warned_1d_at: Some(now()), ..key(month, TimeDelta::hours(20)) };
        assert_eq!(due(&done, now()), None);
    }

    #[test]
    fn subjects_are_one_short_line() {
        for warning in Warning::ALL {
            let subject = warning.subject();
            assert!(subject.len() < 100 && !subject.contains(['\n', '\r']), "{subject}");
        }
    }

    #[test]
    fn buckets_cover_every_day_a_due_key_can_expire_on() {
        let at = Utc.with_ymd_and_hms(2026, 12, 30, 23, 0, 0).unwrap();
        assert_eq!(bucket(at), "2026-12-30");
        let days = buckets(at, HORIZON);
        assert_eq!(days.first().map(String::as_str), Some("2026-12-30"));
        assert_eq!(days.last().map(String::as_str), Some("2027-01-06"));
        assert_eq!(days.len(), 8);
        for hours in 1..=(7 * 24) {
            assert!(days.contains(&bucket(at + TimeDelta::hours(hours))), "{hours} h ahead");
        }
    }
}
