//! The embedded store: one SQLite file, for running the whole service on a laptop.
//!
//! It keeps the DynamoDB store's contract (the same test suite runs against both), with
//! SQLite's serialised transactions doing what conditional writes do there. One connection
//! behind a mutex is plenty for a local run and makes every operation trivially atomic.
//! Rows whose retention ran out are purged when the file is opened, as DynamoDB's TTL would.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

use super::listing::{KeyListing, KeyQuery, PartitionRead, merge_newest_first};
use super::{
    AuditStore, BotChange, BotStore, CredentialStore, ExpiryStore, KeyRecord, KeyStore, Page, Revocable,
    Rotation, StoreError, check_cap, check_ceiling, check_change, listed_for, revocable, rotatable,
};
use crate::audit::{AuditPage, AuditQuery, Entry, EventRef, Origin, PageBuilder, Revocation, reasons};
use crate::expiry::{ExpiringKey, Warning};
use crate::ids::{BotId, KeyId};
use crate::model::{ApiKey, BotUser, Credential, KeyUse, Name, NewKey, SourceIp, Subject, TeamId};
use crate::scope::Scopes;
use crate::token::SecretHash;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS bots (
    team_id     TEXT NOT NULL,
    bot_id      TEXT NOT NULL,
    name        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    created_by  TEXT NOT NULL,
    deleted_at  INTEGER,
    deleted_by  TEXT,
    purge_at    INTEGER,
    account     TEXT,
    scopes      TEXT,
    PRIMARY KEY (team_id, bot_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS keys (
    bot_id          TEXT NOT NULL,
    key_id          TEXT NOT NULL,
    team_id         TEXT NOT NULL,
    name            TEXT NOT NULL,
    hint            TEXT NOT NULL,
    scopes          TEXT NOT NULL,
    secret_hash     BLOB NOT NULL,
    created_at      INTEGER NOT NULL,
    created_by      TEXT NOT NULL,
    expires_at      INTEGER NOT NULL,
    revoked_at      INTEGER,
    revoked_by      TEXT,
    replaced_by     TEXT,
    replaces        TEXT,
    bot_deleted_at  INTEGER,
    purge_at        INTEGER NOT NULL,
    last_used_at    INTEGER,
    last_used_ip    TEXT,
    PRIMARY KEY (bot_id, key_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS audit (
    team_id     TEXT NOT NULL,
    entry_id    TEXT NOT NULL,
    entry       TEXT NOT NULL,
    purge_at    INTEGER NOT NULL,
    PRIMARY KEY (team_id, entry_id)
) WITHOUT ROWID;
";

/// The columns each reader selects, declared once.
const KEY_COLUMNS: &str = "key_id, bot_id, team_id, name, hint, scopes, created_at, created_by, expires_at, \
                           revoked_at, revoked_by, revoked_reason, replaced_by, replaces, bot_deleted_at, \
                           last_used_at, last_used_ip";
const BOT_COLUMNS: &str = "bot_id, team_id, name, account, scopes, created_at, created_by, deleted_at";
const CREDENTIAL_COLUMNS: &str = "team_id, scopes, expires_at, revoked_at, secret_hash, last_used_at";

/// The file-backed implementation of [`super::Store`]; clones share one connection.
#[derive(Debug, Clone)]
pub struct EmbeddedStore {
    db: Arc<Mutex<Connection>>,
    retention_ms: i64,
    audit_retention_ms: i64,
}

impl EmbeddedStore {
    /// Opens (or creates) the store at `path`, purging rows whose retention ended before `now`.
    pub fn open(path: &Path, retention: Duration, now: DateTime<Utc>) -> Result<Self, StoreError> {
        let db = Connection::open(path).map_err(sql)?;
        db.pragma_update(None, "journal_mode", "WAL").map_err(sql)?;
        db.pragma_update(None, "synchronous", "NORMAL").map_err(sql)?;
        db.busy_timeout(Duration::from_secs(5)).map_err(sql)?;
        db.execute_batch(SCHEMA).map_err(sql)?;
        add_missing_columns(&db)?;
        add_expiry_columns(&db)?;
        let now_ms = now.timestamp_millis();
        db.execute("DELETE FROM keys WHERE purge_at <= ?1", [now_ms]).map_err(sql)?;
        db.execute("DELETE FROM bots WHERE purge_at <= ?1", [now_ms]).map_err(sql)?;
        db.execute("DELETE FROM audit WHERE purge_at <= ?1", [now_ms]).map_err(sql)?;
        let retention_ms = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
        let audit_retention_ms = 400 * 86_400_000;
        Ok(Self { db: Arc::new(Mutex::new(db)), retention_ms, audit_retention_ms })
    }

    /// The same store, keeping audit entries `retention` after their change (default 400 days;
    /// entries already stored keep the retention they were written with).
    pub fn with_audit_retention(mut self, retention: Duration) -> Self {
        self.audit_retention_ms = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
        self
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a half-done change: every change is
        // one SQLite transaction, rolled back when dropped.
        self.db.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn purge_at(&self, from: DateTime<Utc>) -> i64 {
        from.timestamp_millis().saturating_add(self.retention_ms)
    }
}

fn sql(error: rusqlite::Error) -> StoreError {
    StoreError::unavailable(error)
}

fn corrupt(column: &str) -> rusqlite::Error {
    rusqlite::Error::InvalidColumnName(format!("stored {column} is invalid"))
}

fn time(ms: i64) -> rusqlite::Result<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms).ok_or_else(|| corrupt("time"))
}

fn parsed<T, E>(
    row: &Row<'_>,
    column: &str,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> rusqlite::Result<T> {
    let text: String = row.get(column)?;
    parse(&text).map_err(|_| corrupt(column))
}

fn parsed_opt<T, E>(
    row: &Row<'_>,
    column: &str,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> rusqlite::Result<Option<T>> {
    let text: Option<String> = row.get(column)?;
    text.map(|t| parse(&t).map_err(|_| corrupt(column))).transpose()
}

/// Scopes are stored in their canonical space-separated form.
fn scopes(stored: &str) -> Result<Scopes, crate::scope::ScopeError> {
    Scopes::from_stored(stored.split(' ').map(str::to_owned))
}

/// An insert whose primary key is taken: an id collision, answered like a lost race.
fn inserted(result: rusqlite::Result<usize>) -> Result<(), StoreError> {
    match result {
        Ok(_) => Ok(()),
        Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation) => {
            Err(StoreError::Contention)
        }
        Err(e) => Err(sql(e)),
    }
}

/// Columns later versions added to a table, for files an earlier version created: added
/// empty, and read with the same defaults as a DynamoDB item that lacks them.
fn add_missing_columns(db: &Connection) -> Result<(), StoreError> {
    for (table, column, kind) in [
        ("bots", "account", "TEXT"),
        ("bots", "scopes", "TEXT"),
        ("keys", "revoked_reason", "TEXT"),
        ("keys", "last_used_at", "INTEGER"),
        ("keys", "last_used_ip", "TEXT"),
    ] {
        let present: bool = db
            .query_row(
                &format!("SELECT COUNT(*) > 0 FROM pragma_table_info('{table}') WHERE name = ?1"),
                [column],
                |r| r.get(0),
            )
            .map_err(sql)?;
        if !present {
            db.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {kind}")).map_err(sql)?;
        }
    }
    Ok(())
}

fn bot_from_row(row: &Row<'_>) -> rusqlite::Result<BotUser> {
    let created_by = parsed(row, "created_by", Subject::parse)?;
    Ok(BotUser {
        id: parsed(row, "bot_id", BotId::parse)?,
        team_id: parsed(row, "team_id", TeamId::parse)?,
        name: parsed(row, "name", |s| Name::from_stored(s.to_owned()))?,
        // Bot users stored before accounts existed are their creator's.
        account: parsed_opt(row, "account", Subject::parse)?.unwrap_or_else(|| created_by.clone()),
        scopes: parsed_opt(row, "scopes", scopes)?,
        created_at: time(row.get("created_at")?)?,
        created_by,
        deleted_at: row.get::<_, Option<i64>>("deleted_at")?.map(time).transpose()?,
    })
}

fn key_from_row(row: &Row<'_>) -> rusqlite::Result<KeyRecord> {
    let key = ApiKey {
        id: parsed(row, "key_id", KeyId::parse)?,
        bot_id: parsed(row, "bot_id", BotId::parse)?,
        team_id: parsed(row, "team_id", TeamId::parse)?,
        name: parsed(row, "name", |s| Name::from_stored(s.to_owned()))?,
        hint: row.get("hint")?,
        scopes: parsed(row, "scopes", scopes)?,
        created_at: time(row.get("created_at")?)?,
        created_by: parsed(row, "created_by", Subject::parse)?,
        expires_at: time(row.get("expires_at")?)?,
        revoked_at: row.get::<_, Option<i64>>("revoked_at")?.map(time).transpose()?,
        revoked_by: parsed_opt(row, "revoked_by", Subject::parse)?,
        revoked_reason: row.get("revoked_reason")?,
        replaced_by: parsed_opt(row, "replaced_by", KeyId::parse)?,
        replaces: parsed_opt(row, "replaces", KeyId::parse)?,
        last_used_at: row.get::<_, Option<i64>>("last_used_at")?.map(time).transpose()?,
        last_used_ip: row.get::<_, Option<String>>("last_used_ip")?.as_deref().and_then(SourceIp::parse),
    };
    Ok(KeyRecord { key, bot_deleted: row.get::<_, Option<i64>>("bot_deleted_at")?.is_some() })
}

/// The bot user of `team`, deleted or not.
fn bot_row(db: &Connection, team: &TeamId, bot: BotId) -> Result<BotUser, StoreError> {
    db.query_row(
        &format!("SELECT {BOT_COLUMNS} FROM bots WHERE team_id = ?1 AND bot_id = ?2"),
        params![team.as_str(), bot.as_str()],
        bot_from_row,
    )
    .optional()
    .map_err(sql)?
    .ok_or(StoreError::BotNotFound)
}

/// The bot user as a live one must be: present in `team` and not deleted.
fn live_bot(db: &Connection, team: &TeamId, bot: BotId) -> Result<BotUser, StoreError> {
    let found = bot_row(db, team, bot)?;
    if found.deleted_at.is_some() {
        return Err(StoreError::BotDeleted);
    }
    Ok(found)
}

/// A key as stored, whatever its team (the decisions check the team).
fn key_row(db: &Connection, bot: BotId, key: KeyId) -> Result<Option<KeyRecord>, StoreError> {
    db.query_row(
        &format!("SELECT {KEY_COLUMNS} FROM keys WHERE bot_id = ?1 AND key_id = ?2"),
        params![bot.as_str(), key.as_str()],
        key_from_row,
    )
    .optional()
    .map_err(sql)
}

fn all_keys(db: &Connection, bot: BotId) -> Result<Vec<KeyRecord>, StoreError> {
    let mut statement = db
        .prepare_cached(&format!("SELECT {KEY_COLUMNS} FROM keys WHERE bot_id = ?1 ORDER BY key_id"))
        .map_err(sql)?;
    statement.query_map([bot.as_str()], key_from_row).map_err(sql)?.collect::<Result<_, _>>().map_err(sql)
}

fn insert_key(db: &Connection, new: &NewKey, purge_at: i64) -> Result<(), StoreError> {
    let key = &new.key;
    inserted(db.execute(
        "INSERT INTO keys (bot_id, key_id, team_id, name, hint, scopes, secret_hash, created_at, created_by, \
         expires_at, replaces, purge_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        params![
            key.bot_id.as_str(),
            key.id.as_str(),
            key.team_id.as_str(),
            key.name.as_str(),
            key.hint,
            key.scopes.joined(),
            new.hash.as_bytes().as_slice(),
            key.created_at.timestamp_millis(),
            key.created_by.as_str(),
            key.expires_at.timestamp_millis(),
            key.replaces.map(|id| id.to_string()),
            purge_at,
        ],
    ))
}

/// Stores `entry` in the transaction `db` is part of.
fn insert_entry(db: &Connection, entry: &Entry, audit_retention_ms: i64) -> Result<(), StoreError> {
    let text = serde_json::to_string(entry).map_err(StoreError::unavailable)?;
    let purge_at = entry.at.timestamp_millis().saturating_add(audit_retention_ms);
    inserted(db.execute(
        "INSERT INTO audit (team_id, entry_id, entry, purge_at) VALUES (?1, ?2, ?3, ?4)",
        params![entry.team_id.as_str(), entry.id.as_str(), text, purge_at],
    ))
}

impl BotStore for EmbeddedStore {
    async fn create_bot_by(&self, bot: &BotUser, origin: &Origin) -> Result<(), StoreError> {
        let mut db = self.lock();
        let tx = db.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sql)?;
        inserted(tx.execute(
            "INSERT INTO bots (team_id, bot_id, name, account, scopes, created_at, created_by) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                bot.team_id.as_str(),
                bot.id.as_str(),
                bot.name.as_str(),
                bot.account.as_str(),
                bot.scopes.as_ref().map(Scopes::joined),
                bot.created_at.timestamp_millis(),
                bot.created_by.as_str()
            ],
        ))?;
        insert_entry(&tx, &Entry::bot_created(bot, origin), self.audit_retention_ms)?;
        tx.commit().map_err(sql)
    }

    async fn get_bot(&self, team: &TeamId, bot: BotId) -> Result<BotUser, StoreError> {
        bot_row(&self.lock(), team, bot)
    }

    async fn list_bots(
        &self,
        team: &TeamId,
        account: Option<&Subject>,
        after: Option<BotId>,
        limit: usize,
    ) -> Result<Page<BotUser>, StoreError> {
        let db = self.lock();
        let mut statement = db
            .prepare_cached(&format!(
                "SELECT {BOT_COLUMNS} FROM bots WHERE team_id = ?1 AND bot_id > ?2 ORDER BY bot_id"
            ))
            .map_err(sql)?;
        let after = after.map(|id| id.to_string()).unwrap_or_default();
        // Which bot users are listed is decided once (`listed_for`), for both stores: read in
        // order and stop one past the page.
        let items = statement
            .query_map(params![team.as_str(), after], bot_from_row)
            .map_err(sql)?
            .filter(|row| row.as_ref().map_or(true, |bot| listed_for(bot, account)))
            .take(limit.saturating_add(1))
            .collect::<Result<_, _>>()
            .map_err(sql)?;
        Ok(Page::from_overfetch(items, limit))
    }

    async fn update_bot_by(
        &self,
        team: &TeamId,
        bot: BotId,
        change: &BotChange,
        origin: &Origin,
        now: DateTime<Utc>,
    ) -> Result<(BotUser, usize), StoreError> {
        let by = &origin.actor;
        let mut db = self.lock();
        let tx = db.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sql)?;
        let current = bot_row(&tx, team, bot)?;
        let keys: Vec<ApiKey> = all_keys(&tx, bot)?.into_iter().map(|record| record.key).collect();
        check_change(&current, change, &keys, now)?;
        tx.execute(
            "UPDATE bots SET name = COALESCE(?3, name), account = COALESCE(?4, account), \
             scopes = COALESCE(?5, scopes) WHERE team_id = ?1 AND bot_id = ?2",
            params![
                team.as_str(),
                bot.as_str(),
                change.name.as_ref().map(Name::as_str),
                change.account.as_ref().map(Subject::as_str),
                change.scopes.as_ref().map(Scopes::joined),
            ],
        )
        .map_err(sql)?;
        let working: Vec<&ApiKey> = keys.iter().filter(|key| key.is_working(now)).collect();
        let revoked: &[&ApiKey] = if change.revoke_keys { &working } else { &[] };
        let reassigned = change.account.as_ref().is_some_and(|account| account != &current.account);
        let reason = if reassigned { reasons::REASSIGNED } else { reasons::REVOKE_KEYS };
        for key in revoked {
            tx.execute(
                "UPDATE keys SET revoked_at = ?3, revoked_by = ?4, revoked_reason = ?5, purge_at = ?6 \
                 WHERE bot_id = ?1 AND key_id = ?2",
                params![
                    bot.as_str(),
                    key.id.as_str(),
                    now.timestamp_millis(),
                    by.as_str(),
                    reason,
                    self.purge_at(now)
                ],
            )
            .map_err(sql)?;
        }
        if let Some(entry) = Entry::bot_updated(&current, change, revoked, origin, now) {
            insert_entry(&tx, &entry, self.audit_retention_ms)?;
        }
        let changed = bot_row(&tx, team, bot)?;
        tx.commit().map_err(sql)?;
        Ok((changed, revoked.len()))
    }

    async fn delete_bot_by(
        &self,
        team: &TeamId,
        bot: BotId,
        origin: &Origin,
        now: DateTime<Utc>,
    ) -> Result<BotUser, StoreError> {
        let by = &origin.actor;
        let mut db = self.lock();
        let tx = db.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sql)?;
        let now_ms = now.timestamp_millis();
        let purge_at = self.purge_at(now);
        let found = bot_row(&tx, team, bot)?;
        if found.deleted_at.is_some() {
            return Ok(found); // deleted before, all at once: nothing left to do
        }
        // As in DynamoDB: the mark and the revocation of every working key, in one step.
        tx.execute(
            "UPDATE bots SET deleted_at = ?3, deleted_by = ?4, purge_at = ?5 WHERE team_id = ?1 AND bot_id = ?2",
            params![team.as_str(), bot.as_str(), now_ms, by.as_str(), purge_at],
        )
        .map_err(sql)?;
        let keys: Vec<ApiKey> = all_keys(&tx, bot)?.into_iter().map(|record| record.key).collect();
        let working: Vec<&ApiKey> = keys.iter().filter(|key| key.is_working(now)).collect();
        tx.execute(
            "UPDATE keys SET revoked_at = ?2, revoked_by = ?3, revoked_reason = ?5, bot_deleted_at = ?2, \
             purge_at = ?4 WHERE bot_id = ?1 AND revoked_at IS NULL AND expires_at > ?2",
            params![bot.as_str(), now_ms, by.as_str(), purge_at, reasons::BOT_DELETED],
        )
        .map_err(sql)?;
        insert_entry(&tx, &Entry::bot_deleted(&found, &working, origin, now), self.audit_retention_ms)?;
        let deleted = bot_row(&tx, team, bot)?;
        tx.commit().map_err(sql)?;
        Ok(deleted)
    }
}

impl KeyStore for EmbeddedStore {
    async fn create_key_by(
        &self,
        new: &NewKey,
        max_active: u32,
        origin: &Origin,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let key = &new.key;
        let mut db = self.lock();
        let tx = db.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sql)?;
        let bot = live_bot(&tx, &key.team_id, key.bot_id)?;
        check_ceiling(bot.scopes.as_ref(), &key.scopes)?;
        check_cap(all_keys(&tx, key.bot_id)?.iter().map(|record| &record.key), max_active, now, None)?;
        insert_key(&tx, new, self.purge_at(key.expires_at))?;
        insert_entry(&tx, &Entry::key_created(&bot, key, origin), self.audit_retention_ms)?;
        tx.commit().map_err(sql)
    }

    async fn get_key(&self, team: &TeamId, bot: BotId, key: KeyId) -> Result<ApiKey, StoreError> {
        let db = self.lock();
        live_bot(&db, team, bot)?;
        let found = key_row(&db, bot, key)?.map(|record| record.key);
        found.filter(|key| &key.team_id == team).ok_or(StoreError::KeyNotFound)
    }

    async fn list_keys(
        &self,
        team: &TeamId,
        bot: BotId,
        after: Option<KeyId>,
        limit: usize,
    ) -> Result<Page<ApiKey>, StoreError> {
        let db = self.lock();
        live_bot(&db, team, bot)?;
        let mut statement = db
            .prepare_cached(&format!(
                "SELECT {KEY_COLUMNS} FROM keys WHERE bot_id = ?1 AND key_id > ?2 ORDER BY key_id LIMIT ?3"
            ))
            .map_err(sql)?;
        let after = after.map(|id| id.to_string()).unwrap_or_default();
        let fetch = i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX);
        let items = statement
            .query_map(params![bot.as_str(), after, fetch], key_from_row)
            .map_err(sql)?
            .map(|row| row.map(|record| record.key))
            .collect::<Result<_, _>>()
            .map_err(sql)?;
        Ok(Page::from_overfetch(items, limit))
    }

    async fn revoke_key_by(
        &self,
        team: &TeamId,
        bot: BotId,
        key: KeyId,
        revocation: &Revocation,
        now: DateTime<Utc>,
    ) -> Result<ApiKey, StoreError> {
        let by = &revocation.origin.actor;
        let reason = revocation.reason.as_ref().map(|reason| reason.as_str());
        let mut db = self.lock();
        let tx = db.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sql)?;
        let owner = live_bot(&tx, team, bot)?;
        if let Revocable::AlreadyRevoked(key) = revocable(key_row(&tx, bot, key)?, team)? {
            return Ok(*key);
        }
        tx.execute(
            "UPDATE keys SET revoked_at = ?3, revoked_by = ?4, revoked_reason = ?5, purge_at = ?6 \
             WHERE bot_id = ?1 AND key_id = ?2",
            params![
                bot.as_str(),
                key.as_str(),
                now.timestamp_millis(),
                by.as_str(),
                reason,
                self.purge_at(now)
            ],
        )
        .map_err(sql)?;
        let revoked = key_row(&tx, bot, key)?.ok_or(StoreError::KeyNotFound)?;
        insert_entry(
            &tx,
            &Entry::key_revoked(&owner, &revoked.key, revocation, now),
            self.audit_retention_ms,
        )?;
        tx.commit().map_err(sql)?;
        Ok(revoked.key)
    }

    async fn rotate_key_by(
        &self,
        team: &TeamId,
        old: KeyId,
        replacement: &NewKey,
        deadline: DateTime<Utc>,
        max_active: u32,
        origin: &Origin,
        now: DateTime<Utc>,
    ) -> Result<Rotation, StoreError> {
        let bot = replacement.key.bot_id;
        let mut db = self.lock();
        let tx = db.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sql)?;
        let owner = live_bot(&tx, team, bot)?;
        let before = key_row(&tx, bot, old)?;
        let old_key = before.as_ref().map(|record| record.key.clone());
        rotatable(before, team, deadline, now)?;
        let retiring_now = (deadline <= now).then_some(old);
        check_cap(all_keys(&tx, bot)?.iter().map(|record| &record.key), max_active, now, retiring_now)?;
        tx.execute(
            "UPDATE keys SET expires_at = ?3, replaced_by = ?4, purge_at = ?5 WHERE bot_id = ?1 AND key_id = ?2",
            params![
                bot.as_str(),
                old.as_str(),
                deadline.timestamp_millis(),
                replacement.key.id.as_str(),
                self.purge_at(deadline)
            ],
        )
        .map_err(sql)?;
        insert_key(&tx, replacement, self.purge_at(replacement.key.expires_at))?;
        let old_key = old_key.ok_or(StoreError::KeyNotFound)?;
        let entry = Entry::key_rotated(&owner, &old_key, &replacement.key, origin);
        insert_entry(&tx, &entry, self.audit_retention_ms)?;
        let old = key_row(&tx, bot, old)?.ok_or(StoreError::KeyNotFound)?;
        tx.commit().map_err(sql)?;
        Ok(Rotation { old: old.key, new: replacement.key.clone() })
    }

    /// The same walk as DynamoDB's (bot users, then each one's keys newest first, `limit` at
    /// a time, merged), so both stores page alike.
    async fn list_team_keys(
        &self,
        team: &TeamId,
        query: &KeyQuery,
        before: Option<KeyId>,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<KeyListing, StoreError> {
        let db = self.lock();
        let account = query.account.as_ref();
        let mut bots_statement = db
            .prepare_cached(&format!(
                "SELECT {BOT_COLUMNS} FROM bots WHERE team_id = ?1 AND (?2 IS NULL OR bot_id = ?2) ORDER BY bot_id"
            ))
            .map_err(sql)?;
        let bots: Vec<BotUser> = bots_statement
            .query_map(params![team.as_str(), query.bot.map(|id| id.to_string())], bot_from_row)
            .map_err(sql)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(sql)?
            .into_iter()
            .filter(|bot| listed_for(bot, account))
            .collect();
        let mut keys_statement = db
            .prepare_cached(&format!(
                "SELECT {KEY_COLUMNS} FROM keys WHERE bot_id = ?1 AND key_id < ?2 ORDER BY key_id DESC LIMIT ?3"
            ))
            .map_err(sql)?;
        let before = before.map_or_else(|| "~".to_owned(), |id| id.to_string());
        let fetch = i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX);
        let mut reads = Vec::with_capacity(bots.len());
        for bot in bots {
            let keys: Vec<ApiKey> = keys_statement
                .query_map(params![bot.id.as_str(), before, fetch], key_from_row)
                .map_err(sql)?
                .map(|row| row.map(|record| record.key))
                .collect::<Result<_, _>>()
                .map_err(sql)?;
            let Page { items: keys, more } = Page::from_overfetch(keys, limit);
            reads.push(PartitionRead { bot, keys, more });
        }
        Ok(merge_newest_first(reads, &query.filter, limit, now))
    }
}

impl CredentialStore for EmbeddedStore {
    async fn credential(&self, bot: BotId, key: KeyId) -> Result<Option<Credential>, StoreError> {
        self.lock()
            .query_row(
                &format!("SELECT {CREDENTIAL_COLUMNS} FROM keys WHERE bot_id = ?1 AND key_id = ?2"),
                params![bot.as_str(), key.as_str()],
                |row| {
                    let hash: Vec<u8> = row.get("secret_hash")?;
                    Ok(Credential {
                        team_id: parsed(row, "team_id", TeamId::parse)?,
                        scopes: parsed(row, "scopes", scopes)?,
                        expires_at: time(row.get("expires_at")?)?,
                        revoked_at: row.get::<_, Option<i64>>("revoked_at")?.map(time).transpose()?,
                        hash: SecretHash::from_slice(&hash).ok_or_else(|| corrupt("secret_hash"))?,
                        last_used_at: row.get::<_, Option<i64>>("last_used_at")?.map(time).transpose()?,
                    })
                },
            )
            .optional()
            .map_err(sql)
    }

    async fn record_use(&self, bot: BotId, key: KeyId, used: &KeyUse) -> Result<bool, StoreError> {
        let written = self
            .lock()
            .execute(
                "UPDATE keys SET last_used_at = ?3, last_used_ip = ?4 WHERE bot_id = ?1 AND key_id = ?2 \
                 AND (last_used_at IS NULL OR last_used_at < ?5)",
                params![
                    bot.as_str(),
                    key.as_str(),
                    used.at.timestamp_millis(),
                    used.ip.map(|ip| ip.to_string()),
                    used.stale_before().timestamp_millis(),
                ],
            )
            .map_err(sql)?;
        Ok(written == 1)
    }
}

impl AuditStore for EmbeddedStore {
    async fn list_events(
        &self,
        team: &TeamId,
        query: &AuditQuery,
        after: Option<EventRef>,
        limit: usize,
    ) -> Result<AuditPage, StoreError> {
        let db = self.lock();
        // From the cursor's entry, inclusive (the rest of its events may follow), down to `since`.
        let high = after.map_or_else(|| "~".to_owned(), |after| after.entry.to_string());
        let low = query.lowest_entry().map(|id| id.to_string()).unwrap_or_default();
        let mut statement = db
            .prepare_cached(
                "SELECT entry FROM audit WHERE team_id = ?1 AND entry_id >= ?2 AND entry_id <= ?3 \
                 ORDER BY entry_id DESC",
            )
            .map_err(sql)?;
        let mut rows = statement.query(params![team.as_str(), low, high]).map_err(sql)?;
        let mut builder = PageBuilder::new(query, after, limit);
        while let Some(row) = rows.next().map_err(sql)? {
            let text: String = row.get(0).map_err(sql)?;
            let entry: Entry = serde_json::from_str(&text)
                .map_err(|_| StoreError::unavailable("stored audit entry is invalid"))?;
            if !builder.offer(&entry) {
                return Ok(builder.finish(false));
            }
        }
        Ok(builder.finish(true))
    }
}

// Expiry warnings. No bucket column is needed here: an index on `expires_at` finds the keys
// of the next seven days directly (DynamoDB needs the bucket as an index's partition key).

/// The notifier's markers and claim, added to files made before them, and the index it reads.
fn add_expiry_columns(db: &Connection) -> Result<(), StoreError> {
    for (column, kind) in [
        ("warned_7d_at", "INTEGER"),
        ("warned_1d_at", "INTEGER"),
        ("warn_claim", "TEXT"),
        ("warn_claim_until", "INTEGER"),
    ] {
        let present: bool = db
            .query_row("SELECT COUNT(*) > 0 FROM pragma_table_info('keys') WHERE name = ?1", [column], |r| {
                r.get(0)
            })
            .map_err(sql)?;
        if !present {
            db.execute_batch(&format!("ALTER TABLE keys ADD COLUMN {column} {kind}")).map_err(sql)?;
        }
    }
    db.execute_batch("CREATE INDEX IF NOT EXISTS keys_by_expiry ON keys (expires_at)").map_err(sql)
}

fn expiring_from_row(row: &Row<'_>) -> rusqlite::Result<ExpiringKey> {
    let at = |column: &str| -> rusqlite::Result<Option<DateTime<Utc>>> {
        row.get::<_, Option<i64>>(column)?.map(time).transpose()
    };
    Ok(ExpiringKey {
        id: parsed(row, "key_id", KeyId::parse)?,
        bot_id: parsed(row, "bot_id", BotId::parse)?,
        team_id: parsed(row, "team_id", TeamId::parse)?,
        name: parsed(row, "name", |s| Name::from_stored(s.to_owned()))?,
        hint: row.get("hint")?,
        created_at: time(row.get("created_at")?)?,
        expires_at: time(row.get("expires_at")?)?,
        revoked_at: at("revoked_at")?,
        replaced_by: parsed_opt(row, "replaced_by", KeyId::parse)?,
        warned_7d_at: at("warned_7d_at")?,
        warned_1d_at: at("warned_1d_at")?,
    })
}

impl ExpiryStore for EmbeddedStore {
    async fn expiring_keys(
        &self,
        now: DateTime<Utc>,
        horizon: chrono::TimeDelta,
    ) -> Result<Vec<ExpiringKey>, StoreError> {
        let db = self.lock();
        let mut statement = db
            .prepare_cached(
                "SELECT key_id, bot_id, team_id, name, hint, created_at, expires_at, revoked_at, replaced_by, \
                 warned_7d_at, warned_1d_at FROM keys WHERE expires_at > ?1 AND expires_at <= ?2 \
                 AND revoked_at IS NULL AND replaced_by IS NULL AND warned_1d_at IS NULL ORDER BY expires_at",
            )
            .map_err(sql)?;
        let until = now.checked_add_signed(horizon).unwrap_or(DateTime::<Utc>::MAX_UTC);
        statement
            .query_map(params![now.timestamp_millis(), until.timestamp_millis()], expiring_from_row)
            .map_err(sql)?
            .collect::<Result<_, _>>()
            .map_err(sql)
    }

    async fn claim_warning(
        &self,
        key: &ExpiringKey,
        warning: Warning,
        claim: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let marker = warning.marker();
        let changed = self
            .lock()
            .execute(
                &format!(
                    "UPDATE keys SET warn_claim = ?3, warn_claim_until = ?5 WHERE bot_id = ?1 AND key_id = ?2 \
                     AND revoked_at IS NULL AND replaced_by IS NULL AND bot_deleted_at IS NULL \
                     AND {marker} IS NULL AND warned_1d_at IS NULL AND expires_at > ?4 \
                     AND (warn_claim_until IS NULL OR warn_claim_until < ?4)"
                ),
                params![
                    key.bot_id.as_str(),
                    key.id.as_str(),
                    claim,
                    now.timestamp_millis(),
                    until.timestamp_millis()
                ],
            )
            .map_err(sql)?;
        Ok(changed == 1)
    }

    async fn mark_warned(
        &self,
        key: &ExpiringKey,
        warning: Warning,
        claim: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let marker = warning.marker();
        let changed = self
            .lock()
            .execute(
                &format!(
                    "UPDATE keys SET {marker} = ?4, warn_claim = NULL, warn_claim_until = NULL \
                     WHERE bot_id = ?1 AND key_id = ?2 AND warn_claim = ?3"
                ),
                params![key.bot_id.as_str(), key.id.as_str(), claim, now.timestamp_millis()],
            )
            .map_err(sql)?;
        Ok(changed == 1)
    }

    async fn release_warning(&self, key: &ExpiringKey, claim: &str) -> Result<(), StoreError> {
        self.lock()
            .execute(
                "UPDATE keys SET warn_claim = NULL, warn_claim_until = NULL \
                 WHERE bot_id = ?1 AND key_id = ?2 AND warn_claim = ?3",
                params![key.bot_id.as_str(), key.id.as_str(), claim],
            )
            .map_err(sql)?;
        Ok(())
    }

    async fn backfill_expiry_index(&self, _now: DateTime<Utc>) -> Result<usize, StoreError> {
        // The index on expires_at covers every row as soon as the file is opened.
        Ok(0)
    }
}
