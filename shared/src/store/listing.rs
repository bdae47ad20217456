//! "All my keys": one newest-first list across the bot users a person may see, with filters.
//!
//! # Why this shape
//!
//! Who may see a key is decided by its bot user item (the team's owners; the person it is
//! for), and that item can change at any moment (re-assignment). So every page reads the bot
//! users again, strongly consistent, and walks their key partitions; nothing about rights is
//! copied onto key items (a re-assignment would have to rewrite all of them, not atomically)
//! and no secondary index is read (it would be eventually consistent: a key created a moment
//! ago could be missing). The price is reads per page: one query of the team's bot user
//! partition (100 small bot user items fit in one page) plus one query per visible bot user of
//! its key partition, newest first, at most `limit` keys each; for an owner with 100 bot users,
//! 101 strongly consistent queries per page, made 8 at a time. A person sees only their own
//! bot users, so a member pays one query per bot user they hold.
//!
//! The partitions' newest-first pages are merged by [`merge_newest_first`]: a key is only
//! emitted once every partition has been read down to it, so no key is skipped or repeated
//! across pages. Key ids start with their creation time, so "newest first" is key id order,
//! descending, and the cursor is the last key id the page covered.
//!
//! Status and time filters can only be applied after the read (status is derived from the
//! clock, never stored), so a page may come back short, even empty, with a `next_cursor`:
//! clients follow the cursor until it is null.

use chrono::{DateTime, Utc};

use crate::duration::Span;
use crate::ids::{BotId, KeyId};
use crate::model::{ApiKey, BotUser, KeyStatus, Subject};

/// How many bot users' key partitions are read at the same time.
pub const PARTITIONS_IN_FLIGHT: usize = 8;

/// What `GET /v1/keys` asks for, parsed; who may see what is decided before (`account`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyQuery {
    /// Only bot users for this account (members: always their own; owners: when asked).
    pub account: Option<Subject>,
    /// Only this bot user (if the caller may see it at all).
    pub bot: Option<BotId>,
    pub filter: KeyFilter,
}

/// The filters applied to each key after it is read; all given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyFilter {
    /// The key's status, derived now, is one of these (empty: any).
    pub statuses: Vec<KeyStatus>,
    /// Active, and expires within this span from now.
    pub expiring_within: Option<Span>,
    /// Not used for at least this span (never-used keys match).
    pub unused_for: Option<Span>,
}

impl KeyFilter {
    pub fn matches(&self, key: &ApiKey, now: DateTime<Utc>) -> bool {
        let status = key.status(now);
        (self.statuses.is_empty() || self.statuses.contains(&status))
            && self
                .expiring_within
                .is_none_or(|span| status == KeyStatus::Active && key.expires_at <= now + span.get())
            && self.unused_for.is_none_or(|span| key.last_used_at.is_none_or(|at| at <= now - span.get()))
    }
}

/// One row of the list: the key and the bot user it belongs to (for its name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRow {
    pub key: ApiKey,
    pub bot: BotUser,
}

/// One page of the list, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyListing {
    pub rows: Vec<KeyRow>,
    /// Where the next page starts (strictly older keys); `None` on the last page. A page may
    /// be short, even empty, while this is set.
    pub next: Option<KeyId>,
}

/// What a store read of one bot user's key partition: keys older than the cursor, newest
/// first, and whether the partition holds older ones it did not read.
#[derive(Debug, Clone)]
pub(crate) struct PartitionRead {
    pub bot: BotUser,
    pub keys: Vec<ApiKey>,
    pub more: bool,
}

/// Merges partitions read newest first into one page of at most `limit` rows.
///
/// A partition that has more than it returned has been read only down to its oldest key
/// returned; the highest such key id is the boundary, and only keys at or above it are
/// complete across every partition. Those are filtered and emitted; if more than `limit`
/// pass, the page ends at the `limit`th, else at the boundary (or at the end, if every
/// partition was read to its end).
pub(crate) fn merge_newest_first(
    reads: Vec<PartitionRead>,
    filter: &KeyFilter,
    limit: usize,
    now: DateTime<Utc>,
) -> KeyListing {
    let boundary = reads
        .iter()
        .filter(|read| read.more)
        .filter_map(|read| read.keys.iter().map(|key| key.id).min())
        .max();
    let mut rows: Vec<KeyRow> = reads
        .into_iter()
        .flat_map(|read| {
            let bot = read.bot;
            read.keys.into_iter().map(move |key| KeyRow { key, bot: bot.clone() })
        })
        .filter(|row| boundary.is_none_or(|boundary| row.key.id >= boundary))
        .filter(|row| filter.matches(&row.key, now))
        .collect();
    rows.sort_by_key(|row| std::cmp::Reverse(row.key.id));
    if rows.len() > limit {
        rows.truncate(limit);
        let next = rows.last().map(|row| row.key.id);
        KeyListing { rows, next }
    } else {
        KeyListing { rows, next: boundary }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Name, TeamId};
    use crate::scope::Scopes;
    use chrono::{TimeDelta, TimeZone};
    use proptest::prelude::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap()
    }

    fn bot(n: i64) -> BotUser {
        BotUser {
            id: BotId::generate(now() + TimeDelta::milliseconds(n)),
            team_id: TeamId::parse("team").unwrap(),
            name: Name::parse("bot", 100).unwrap(),
            account: Subject::parse("alice").unwrap(),
            scopes: None,
            created_at: now(),
            created_by: Subject::parse("owner").unwrap(),
            deleted_at: None,
        }
    }

    fn key(bot: &BotUser, created_ms: i64, lifetime: TimeDelta, revoked: bool) -> ApiKey {
        let created_at = now() + TimeDelta::milliseconds(created_ms);
        ApiKey {
            id: KeyId::generate(created_at),
            bot_id: bot.id,
            team_id: bot.team_id.clone(),
            name: Name::parse("k", 100).unwrap(),
            hint: "nico_…abcd".into(),
            scopes: Scopes::from_stored(["projects:read".to_owned()]).unwrap(),
            created_at,
            created_by: Subject::parse("owner").unwrap(),
            expires_at: now() + lifetime,
            revoked_at: revoked.then(now),
            revoked_by: None,
            revoked_reason: None,
            replaced_by: None,
            replaces: None,
            last_used_at: None,
            last_used_ip: None,
        }
    }

    #[test]
    fn expiring_within_means_active_and_ending_inside_the_span() {
        let b = bot(0);
        let filter = KeyFilter { expiring_within: Some(Span::parse("7d").unwrap()), ..KeyFilter::default() };
        assert!(filter.matches(&key(&b, 0, TimeDelta::days(7), false), now()));
        assert!(!filter.matches(&key(&b, 0, TimeDelta::days(7) + TimeDelta::milliseconds(1), false), now()));
        assert!(!filter.matches(&key(&b, 0, TimeDelta::days(1), true), now()), "revoked");
        assert!(!filter.matches(&key(&b, 0, TimeDelta::zero(), false), now()), "expired");
    }

    #[test]
    fn statuses_are_alternatives_and_filters_combine() {
        let b = bot(0);
        let (active, revoked, expired) = (
            key(&b, 0, TimeDelta::days(1), false),
            key(&b, 1, TimeDelta::days(1), true),
            key(&b, 2, -TimeDelta::days(1), false),
        );
        let filter =
            KeyFilter { statuses: vec![KeyStatus::Revoked, KeyStatus::Expired], ..KeyFilter::default() };
        assert_eq!([&active, &revoked, &expired].map(|k| filter.matches(k, now())), [false, true, true]);
        let both = KeyFilter { expiring_within: Some(Span::parse("2d").unwrap()), ..filter };
        assert!(![&active, &revoked, &expired].iter().any(|k| both.matches(k, now())));
    }

    /// Pages through `partitions` as a store would (each partition read newest first, at most
    /// `per_read` keys older than the cursor) and returns every row emitted.
    fn page_through(
        partitions: &[(BotUser, Vec<ApiKey>)],
        filter: &KeyFilter,
        limit: usize,
        per_read: usize,
    ) -> Vec<KeyId> {
        let mut cursor: Option<KeyId> = None;
        let mut seen = Vec::new();
        for _ in 0..10_000 {
            let reads = partitions
                .iter()
                .map(|(bot, keys)| {
                    let mut older: Vec<ApiKey> =
                        keys.iter().filter(|k| cursor.is_none_or(|c| k.id < c)).cloned().collect();
                    older.sort_by_key(|k| std::cmp::Reverse(k.id));
                    let more = older.len() > per_read;
                    older.truncate(per_read);
                    PartitionRead { bot: bot.clone(), keys: older, more }
                })
                .collect();
            let page = merge_newest_first(reads, filter, limit, now());
            assert!(page.rows.len() <= limit);
            seen.extend(page.rows.iter().map(|row| row.key.id));
            match page.next {
                Some(next) => {
                    assert!(cursor.is_none_or(|c| next < c), "the cursor moves on");
                    cursor = Some(next);
                }
                None => return seen,
            }
        }
        panic!("paging did not end");
    }

    proptest! {
        #[test]
        fn paging_emits_every_matching_key_once_newest_first(
            layout in prop::collection::vec(prop::collection::vec((0i64..5_000, -3i64..3, any::<bool>()), 0..25), 1..7),
            limit in 1usize..12,
            only_revoked in any::<bool>(),
        ) {
            let partitions: Vec<(BotUser, Vec<ApiKey>)> = layout
                .iter()
                .enumerate()
                .map(|(i, keys)| {
                    let b = bot(i as i64);
                    let keys = keys.iter().map(|&(ms, days, revoked)| key(&b, ms, TimeDelta::days(days), revoked)).collect();
                    (b, keys)
                })
                .collect();
            let filter = KeyFilter {
                statuses: if only_revoked { vec![KeyStatus::Revoked] } else { Vec::new() },
                ..KeyFilter::default()
            };
            let seen = page_through(&partitions, &filter, limit, limit);
            let mut expected: Vec<KeyId> = partitions
                .iter()
                .flat_map(|(_, keys)| keys.iter().filter(|k| filter.matches(k, now())).map(|k| k.id))
                .collect();
            expected.sort_by(|a, b| b.cmp(a));
            prop_assert_eq!(seen, expected);
        }
    }
}
