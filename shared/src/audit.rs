//! The audit trail: who changed which bot user or key, when, from where, and why.
//!
//! Owners must be able to answer "who revoked this key, and why?" long after the key is gone,
//! so every change writes its record in the same store transaction as the change itself:
//! there is never a change without its record, nor a record of a change that did not happen.
//!
//! One change writes one [`Entry`]: the target bot user, the time, where the request came from
//! and one [`Event`] per thing that happened. A bot user's deletion is one entry holding the
//! `bot.deleted` event and a `key.revoked` event for each key it revoked, so the whole change
//! stays one transaction (DynamoDB allows 100 actions: the bot user, at most
//! [`crate::store::MAX_WORKING_KEYS`] keys, and this entry). The API lists events, not entries:
//! an event's id is its entry's id and its position in it ([`EventRef`]).
//!
//! Revocations a person did not ask for key by key are done by a **system actor**
//! ([`SystemActor`]), a variant of [`Actor`] as real as a person: the revocations of a bot
//! user's deletion (`system:bot-deleted`), of revoke-keys and re-assignment
//! (`system:revoke-keys`), and of a leak report (`github-secret-scanning`). Their events name
//! the person who set them going (`on_behalf_of`), when there is one, and carry a fixed reason.
//!
//! Nothing secret is ever in an entry: no raw key, secret or digest exists in these types, and
//! the two free texts people send (a revocation's reason and the user agent) are refused or
//! dropped when they hold anything shaped like an API key ([`Reason::parse`], [`Origin::new`]).

use std::fmt;
use std::net::IpAddr;

use chrono::serde::ts_milliseconds;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{BotId, EventId, KeyId};
use crate::model::{ApiKey, BotUser, InvalidIdentity, Subject, TeamId, is_invisible_format};
use crate::store::BotChange;
use crate::token;

/// Longest revocation reason, in characters.
pub const MAX_REASON_CHARS: usize = 200;
/// Longest user agent kept, in characters; a longer one is cut.
pub const MAX_USER_AGENT_CHARS: usize = 256;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    #[serde(rename = "bot.created")]
    BotCreated,
    /// Renamed, re-scoped or re-assigned.
    #[serde(rename = "bot.updated")]
    BotUpdated,
    #[serde(rename = "bot.deleted")]
    BotDeleted,
    #[serde(rename = "key.created")]
    KeyCreated,
    #[serde(rename = "key.rotated")]
    KeyRotated,
    #[serde(rename = "key.revoked")]
    KeyRevoked,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BotCreated => "bot.created",
            Self::BotUpdated => "bot.updated",
            Self::BotDeleted => "bot.deleted",
            Self::KeyCreated => "key.created",
            Self::KeyRotated => "key.rotated",
            Self::KeyRevoked => "key.revoked",
        }
    }
}

/// The service acting on its own, on a person's request or on a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SystemActor {
    /// The revocations a bot user's deletion makes.
    BotDeleted,
    /// The revocations of revoke-keys and of a re-assignment.
    RevokeKeys,
    /// A leak report from GitHub secret scanning.
    SecretScanning,
}

impl SystemActor {
    pub const ALL: [Self; 3] = [Self::BotDeleted, Self::RevokeKeys, Self::SecretScanning];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::BotDeleted => "system:bot-deleted",
            Self::RevokeKeys => "system:revoke-keys",
            Self::SecretScanning => "github-secret-scanning",
        }
    }
}

/// Who did it: a person (their `sub`) or the service itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Actor {
    Person(Subject),
    System(SystemActor),
}

impl Actor {
    /// An actor as written in an event or a filter: a system actor's name, else a `sub`.
    pub fn parse(text: &str) -> Result<Self, InvalidIdentity> {
        match SystemActor::ALL.into_iter().find(|system| system.as_str() == text) {
            Some(system) => Ok(Self::System(system)),
            None => Subject::parse(text).map(Self::Person),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Person(subject) => subject.as_str(),
            Self::System(system) => system.as_str(),
        }
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Actor {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Actor {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::parse(&String::deserialize(d)?).map_err(|_| serde::de::Error::custom("invalid stored actor"))
    }
}

/// Who asks for a change, and from where (the request's source address and user agent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub actor: Subject,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
}

impl Origin {
    /// A person's request as the edge saw it. An address that is not an IP address is left
    /// out; the user agent is cut to [`MAX_USER_AGENT_CHARS`], loses control and invisible
    /// characters, and is left out if it holds anything shaped like an API key.
    pub fn new(actor: Subject, source_ip: Option<&str>, user_agent: Option<&str>) -> Self {
        let source_ip = source_ip.and_then(|ip| ip.trim().parse::<IpAddr>().ok()).map(|ip| ip.to_string());
        let user_agent = user_agent
            .map(|ua| {
                ua.chars()
                    .filter(|c| !c.is_control() && !is_invisible_format(*c))
                    .take(MAX_USER_AGENT_CHARS)
                    .collect::<String>()
                    .trim()
                    .to_owned()
            })
            .filter(|ua| !ua.is_empty() && !holds_key(ua));
        Self { actor, source_ip, user_agent }
    }

    /// A change without a request behind it (tests, tools): only who.
    pub fn person(actor: Subject) -> Self {
        Self { actor, source_ip: None, user_agent: None }
    }
}

impl From<&Subject> for Origin {
    fn from(actor: &Subject) -> Self {
        Self::person(actor.clone())
    }
}

/// Whether `text` holds something that could be an API key (its prefix, in any case).
fn holds_key(text: &str) -> bool {
    text.to_ascii_lowercase().contains(token::PREFIX)
}

/// Why a person revoked a key: trimmed, 1 to [`MAX_REASON_CHARS`] characters, no control or
/// invisible characters, and never an API key (people paste the leaked key; it must not be
/// kept for 400 days).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReasonError {
    #[error("must be at most {MAX_REASON_CHARS} characters")]
    TooLong,
    #[error("must not contain control or invisible formatting characters")]
    Character,
    #[error("must not contain an API key")]
    HoldsKey,
}

impl Reason {
    /// `None` for a blank reason (the same as none).
    pub fn parse(input: &str) -> Result<Option<Self>, ReasonError> {
        let trimmed = input.trim();
        if trimmed.chars().count() > MAX_REASON_CHARS {
            return Err(ReasonError::TooLong);
        }
        if trimmed.chars().any(|c| c.is_control() || is_invisible_format(c)) {
            return Err(ReasonError::Character);
        }
        if holds_key(trimmed) {
            return Err(ReasonError::HoldsKey);
        }
        Ok((!trimmed.is_empty()).then(|| Self(trimmed.to_owned())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A revocation of one key: who, from where, and why. `system` is set when the service
/// revokes on its own (a leak report); the key's `revoked_by` is then `origin.actor`, the
/// system actor's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    pub origin: Origin,
    pub reason: Option<Reason>,
    pub system: Option<SystemActor>,
}

impl Revocation {
    /// The service's own revocation, with a fixed `reason`.
    pub fn system(system: SystemActor, reason: Option<Reason>) -> Self {
        let actor = Subject::parse(system.as_str()).expect("system actor names are valid subjects");
        Self { origin: Origin::person(actor), reason, system: Some(system) }
    }
}

impl From<&Subject> for Revocation {
    fn from(actor: &Subject) -> Self {
        Self { origin: Origin::from(actor), reason: None, system: None }
    }
}

impl From<Origin> for Revocation {
    fn from(origin: Origin) -> Self {
        Self { origin, reason: None, system: None }
    }
}

/// The fixed reasons of system revocations.
pub mod reasons {
    pub const BOT_DELETED: &str = "bot user deleted";
    pub const REVOKE_KEYS: &str = "all keys of the bot user revoked";
    pub const REASSIGNED: &str = "bot user re-assigned to another account";
}

/// One thing that happened, within an [`Entry`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub action: Action,
    pub actor: Actor,
    /// The person a system actor acted for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_behalf_of: Option<Subject>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<KeyId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// For `key.rotated`: the key that replaced this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaced_by: Option<KeyId>,
}

impl Event {
    fn by(action: Action, actor: Subject) -> Self {
        Self {
            action,
            actor: Actor::Person(actor),
            on_behalf_of: None,
            key_id: None,
            key_name: None,
            reason: None,
            replaced_by: None,
        }
    }

    fn about(mut self, key: &ApiKey) -> Self {
        self.key_id = Some(key.id);
        self.key_name = Some(key.name.as_str().to_owned());
        self
    }

    fn system_revocation(system: SystemActor, person: &Subject, key: &ApiKey, reason: &str) -> Self {
        Self {
            action: Action::KeyRevoked,
            actor: Actor::System(system),
            on_behalf_of: Some(person.clone()),
            key_id: Some(key.id),
            key_name: Some(key.name.as_str().to_owned()),
            reason: Some(reason.to_owned()),
            replaced_by: None,
        }
    }
}

/// The record of one change: stored in the change's own transaction, never updated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub id: EventId,
    #[serde(with = "ts_milliseconds")]
    pub at: DateTime<Utc>,
    pub team_id: TeamId,
    pub bot_id: BotId,
    /// The bot user's name when the change was made (after it, for a rename).
    pub bot_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    pub events: Vec<Event>,
}

impl Entry {
    fn new(bot: &BotUser, origin: &Origin, now: DateTime<Utc>, events: Vec<Event>) -> Self {
        Self {
            id: EventId::generate(now),
            at: now,
            team_id: bot.team_id.clone(),
            bot_id: bot.id,
            bot_name: bot.name.as_str().to_owned(),
            source_ip: origin.source_ip.clone(),
            user_agent: origin.user_agent.clone(),
            events,
        }
    }

    pub fn bot_created(bot: &BotUser, origin: &Origin) -> Self {
        Self::new(bot, origin, bot.created_at, vec![Event::by(Action::BotCreated, origin.actor.clone())])
    }

    /// `before` is the bot user as read; `revoked` the keys revoked with the change. `None`
    /// when nothing changes (revoke-keys on a bot user without working keys).
    pub fn bot_updated(
        before: &BotUser,
        change: &BotChange,
        revoked: &[&ApiKey],
        origin: &Origin,
        now: DateTime<Utc>,
    ) -> Option<Self> {
        let mut after = before.clone();
        if let Some(name) = &change.name {
            after.name = name.clone();
        }
        let updated = change.name.is_some() || change.account.is_some() || change.scopes.is_some();
        let mut events = Vec::new();
        if updated {
            events.push(Event::by(Action::BotUpdated, origin.actor.clone()));
        }
        let reassigned = change.account.as_ref().is_some_and(|account| account != &before.account);
        let reason = if reassigned { reasons::REASSIGNED } else { reasons::REVOKE_KEYS };
        events.extend(
            revoked
                .iter()
                .map(|key| Event::system_revocation(SystemActor::RevokeKeys, &origin.actor, key, reason)),
        );
        (!events.is_empty()).then(|| Self::new(&after, origin, now, events))
    }

    pub fn bot_deleted(bot: &BotUser, revoked: &[&ApiKey], origin: &Origin, now: DateTime<Utc>) -> Self {
        let mut events = vec![Event::by(Action::BotDeleted, origin.actor.clone())];
        events.extend(revoked.iter().map(|key| {
            Event::system_revocation(SystemActor::BotDeleted, &origin.actor, key, reasons::BOT_DELETED)
        }));
        Self::new(bot, origin, now, events)
    }

    pub fn key_created(bot: &BotUser, key: &ApiKey, origin: &Origin) -> Self {
        Self::new(
            bot,
            origin,
            key.created_at,
            vec![Event::by(Action::KeyCreated, origin.actor.clone()).about(key)],
        )
    }

    /// `old` is the key rotated out, `new` its replacement.
    pub fn key_rotated(bot: &BotUser, old: &ApiKey, new: &ApiKey, origin: &Origin) -> Self {
        let mut event = Event::by(Action::KeyRotated, origin.actor.clone()).about(old);
        event.replaced_by = Some(new.id);
        Self::new(bot, origin, new.created_at, vec![event])
    }

    pub fn key_revoked(bot: &BotUser, key: &ApiKey, revocation: &Revocation, now: DateTime<Utc>) -> Self {
        let mut event = Event::by(Action::KeyRevoked, revocation.origin.actor.clone()).about(key);
        if let Some(system) = revocation.system {
            event.actor = Actor::System(system);
        }
        event.reason = revocation.reason.as_ref().map(|reason| reason.as_str().to_owned());
        Self::new(bot, &revocation.origin, now, vec![event])
    }
}

/// Where an event sits: its entry and its position there. Written `<entry id>.<position>`;
/// the API's event id and cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct EventRef {
    pub entry: EventId,
    pub index: u32,
}

impl EventRef {
    pub fn parse(text: &str) -> Option<Self> {
        let (entry, index) = text.split_once('.')?;
        let index = if index.len() <= 3 && index.bytes().all(|b| b.is_ascii_digit()) {
            index.parse().ok()?
        } else {
            return None;
        };
        Some(Self { entry: EventId::parse(entry).ok()?, index })
    }
}

impl fmt::Display for EventRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.entry, self.index)
    }
}

/// One event as listed: the event with its entry's context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedEvent {
    pub id: EventRef,
    pub at: DateTime<Utc>,
    pub team_id: TeamId,
    pub bot_id: BotId,
    pub bot_name: String,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub event: Event,
}

/// Which events a listing wants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    pub bot: Option<BotId>,
    pub actor: Option<Actor>,
    pub since: Option<DateTime<Utc>>,
    /// Only events about these bot users (a member's own); `None`: the whole team.
    pub only_bots: Option<Vec<BotId>>,
}

impl AuditQuery {
    fn matches(&self, entry: &Entry, event: &Event) -> bool {
        self.bot.is_none_or(|bot| bot == entry.bot_id)
            && self.only_bots.as_ref().is_none_or(|bots| bots.contains(&entry.bot_id))
            && self.actor.as_ref().is_none_or(|actor| actor == &event.actor)
            && self.since.is_none_or(|since| entry.at >= since)
    }

    /// The oldest entry id a listing can need (`since`, to the millisecond).
    pub fn lowest_entry(&self) -> Option<EventId> {
        self.since.map(EventId::first_at)
    }
}

/// A page of events, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditPage {
    pub items: Vec<ListedEvent>,
    /// Where the next page starts; `None` on the last page. A page may be short, even empty,
    /// with a cursor: the read budget ran out before the filters found a full page.
    pub next: Option<EventRef>,
}

/// Most entries one page reads, whatever the filters: a listing's cost is bounded.
pub const MAX_ENTRIES_PER_PAGE: usize = 200;

/// Builds one page from entries offered newest first (by a store, from the cursor's entry
/// inclusive, or from the newest). The decisions of listing, taken once for both stores.
#[derive(Debug)]
pub struct PageBuilder<'q> {
    query: &'q AuditQuery,
    after: Option<EventRef>,
    limit: usize,
    items: Vec<ListedEvent>,
    last_seen: Option<EventRef>,
    entries: usize,
    full: bool,
}

impl<'q> PageBuilder<'q> {
    pub fn new(query: &'q AuditQuery, after: Option<EventRef>, limit: usize) -> Self {
        Self { query, after, limit, items: Vec::new(), last_seen: None, entries: 0, full: false }
    }

    /// Takes the next entry; `false` when the page is done (full, budget spent, or older
    /// than `since`) and no more entries are wanted.
    pub fn offer(&mut self, entry: &Entry) -> bool {
        if self.full || self.entries >= MAX_ENTRIES_PER_PAGE {
            return false;
        }
        if self.query.since.is_some_and(|since| entry.at < since) {
            self.entries = usize::MAX; // nothing older can match: the listing ends here
            self.last_seen = None;
            return false;
        }
        self.entries += 1;
        for (index, event) in entry.events.iter().enumerate() {
            let id = EventRef { entry: entry.id, index: u32::try_from(index).unwrap_or(u32::MAX) };
            if self.after.is_some_and(|after| {
                id.entry > after.entry || (id.entry == after.entry && id.index <= after.index)
            }) {
                continue;
            }
            if self.query.matches(entry, event) {
                if self.items.len() == self.limit {
                    self.full = true;
                    return false;
                }
                self.items.push(ListedEvent {
                    id,
                    at: entry.at,
                    team_id: entry.team_id.clone(),
                    bot_id: entry.bot_id,
                    bot_name: entry.bot_name.clone(),
                    source_ip: entry.source_ip.clone(),
                    user_agent: entry.user_agent.clone(),
                    event: event.clone(),
                });
            }
            self.last_seen = Some(id);
        }
        self.entries < MAX_ENTRIES_PER_PAGE
    }

    /// How many more entries are wanted at most (a store's read size).
    pub fn wanted(&self) -> usize {
        MAX_ENTRIES_PER_PAGE.saturating_sub(self.entries).min(self.limit.saturating_add(1)).max(1)
    }

    /// The page; `exhausted` says the store has no older entries.
    pub fn finish(self, exhausted: bool) -> AuditPage {
        let next = if self.full {
            self.items.last().map(|item| item.id)
        } else if exhausted || self.entries == usize::MAX {
            None
        } else if self.entries >= MAX_ENTRIES_PER_PAGE {
            self.last_seen.or(self.after)
        } else {
            None
        };
        AuditPage { items: self.items, next }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Name;
    use chrono::TimeZone;

    fn at(ms: i64) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(1_800_000_000_000 + ms).unwrap()
    }

    fn bot(id: BotId) -> BotUser {
        BotUser {
            id,
            team_id: TeamId::parse("t").unwrap(),
            name: Name::parse("ci", 100).unwrap(),
            account: Subject::parse("alice").unwrap(),
            scopes: None,
            created_at: at(0),
            created_by: Subject::parse("owner").unwrap(),
            deleted_at: None,
        }
    }

    #[test]
    fn system_actors_are_their_own_variant_and_round_trip_as_text() {
        for system in SystemActor::ALL {
            assert_eq!(Actor::parse(system.as_str()), Ok(Actor::System(system)));
        }
        assert_eq!(Actor::parse("alice"), Ok(Actor::Person(Subject::parse("alice").unwrap())));
        let json = serde_json::to_string(&Actor::System(SystemActor::RevokeKeys)).unwrap();
        assert_eq!(json, "\"system:revoke-keys\"");
    }

    #[test]
    fn reasons_are_bounded_plain_text_without_keys() {
        assert_eq!(Reason::parse("  leaked in CI logs ").unwrap().unwrap().as_str(), "leaked in CI logs");
        assert_eq!(Reason::parse("   "), Ok(None));
        assert!(Reason::parse(&"é".repeat(200)).unwrap().is_some());
        assert_eq!(Reason::parse(&"é".repeat(201)), Err(ReasonError::TooLong));
        assert_eq!(Reason::parse("a\nb"), Err(ReasonError::Character));
        assert_eq!(Reason::parse("a\u{202E}b"), Err(ReasonError::Character));
        assert_eq!(Reason::parse("pasted NICO_abc by mistake"), Err(ReasonError::HoldsKey));
    }

    #[test]
    fn the_origin_keeps_a_clean_address_and_user_agent_only() {
        let who = Subject::parse("alice").unwrap();
        let origin = Origin::new(who.clone(), Some(" 203.0.113.9 "), Some("curl/8.5\u{7}.0"));
        assert_eq!(origin.source_ip.as_deref(), Some("203.0.113.9"));
        assert_eq!(origin.user_agent.as_deref(), Some("curl/8.5.0"));
        let origin = Origin::new(who.clone(), Some("not-an-ip"), Some("x nico_abc"));
        assert_eq!((origin.source_ip, origin.user_agent), (None, None));
        let long = Origin::new(who, None, Some(&"a".repeat(1000)));
        assert_eq!(long.user_agent.unwrap().len(), MAX_USER_AGENT_CHARS);
    }

    #[test]
    fn event_refs_round_trip_and_refuse_anything_else() {
        let id = EventRef { entry: EventId::generate(at(0)), index: 7 };
        assert_eq!(EventRef::parse(&id.to_string()), Some(id));
        for bad in [
            "",
            "x.1",
            "0123456789abcdef",
            "0123456789abcdef.",
            "0123456789abcdef.1234",
            "0123456789abcdef.-1",
        ] {
            assert_eq!(EventRef::parse(bad), None, "{bad:?}");
        }
    }

    /// Entries newest first, as a store offers them.
    fn entries(count: usize, events_each: usize) -> Vec<Entry> {
        let b = bot(BotId::generate(at(0)));
        let origin = Origin::from(&Subject::parse("owner").unwrap());
        let mut list: Vec<Entry> = (0..count)
            .map(|i| {
                let mut entry = Entry::bot_deleted(&b, &[], &origin, at(i as i64 * 10));
                entry.events = (0..events_each).map(|_| entry.events[0].clone()).collect();
                entry
            })
            .collect();
        list.reverse();
        list
    }

    fn page(all: &[Entry], query: &AuditQuery, after: Option<EventRef>, limit: usize) -> AuditPage {
        let start =
            after.map_or(0, |after| all.iter().position(|e| e.id <= after.entry).unwrap_or(all.len()));
        let mut builder = PageBuilder::new(query, after, limit);
        let mut rest = all[start..].iter();
        loop {
            match rest.next() {
                Some(entry) if builder.offer(entry) => {}
                Some(_) => return builder.finish(false),
                None => return builder.finish(true),
            }
        }
    }

    #[test]
    fn paging_visits_every_event_once_newest_first_across_entries_of_several_events() {
        let all = entries(7, 3);
        let query = AuditQuery::default();
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let p = page(&all, &query, after, 4);
            seen.extend(p.items.iter().map(|item| item.id));
            match p.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        assert_eq!(seen.len(), 21);
        let expected: Vec<EventRef> =
            all.iter().flat_map(|e| (0..3).map(move |index| EventRef { entry: e.id, index })).collect();
        assert_eq!(seen, expected);
    }

    #[test]
    fn since_ends_the_listing_and_a_filter_that_matches_nothing_ends_with_the_budget() {
        let all = entries(5, 1);
        let query = AuditQuery { since: Some(at(20)), ..AuditQuery::default() };
        let p = page(&all, &query, None, 10);
        assert_eq!(p.items.len(), 3);
        assert_eq!(p.next, None);

        let all = entries(MAX_ENTRIES_PER_PAGE + 5, 1);
        let nobody = AuditQuery { actor: Some(Actor::parse("nobody").unwrap()), ..AuditQuery::default() };
        let first = page(&all, &nobody, None, 10);
        assert!(first.items.is_empty());
        let next = first.next.expect("an empty page with a cursor: the budget ran out");
        let second = page(&all, &nobody, Some(next), 10);
        assert_eq!((second.items.len(), second.next), (0, None));
    }
}
