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

use super::{BotStore, CredentialStore, KeyStore, Page, Rotation, StoreError, slots_held};
use crate::ids::{BotId, KeyId};
use crate::model::{ApiKey, BotUser, Credential, Name, NewKey, Subject, TeamId};
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
    PRIMARY KEY (bot_id, key_id)
) WITHOUT ROWID;
";

const KEY_COLUMNS: &str = "key_id, bot_id, team_id, name, hint, scopes, created_at, created_by, expires_at, \
                           revoked_at, revoked_by, replaced_by, replaces";
const BOT_COLUMNS: &str = "bot_id, team_id, name, created_at, created_by, deleted_at";

/// The file-backed implementation of [`super::Store`]; clones share one connection.
#[derive(Debug, Clone)]
pub struct EmbeddedStore {
    db: Arc<Mutex<Connection>>,
    retention_ms: i64,
}

impl EmbeddedStore {
    /// Opens (or creates) the store at `path`, purging rows whose retention ended before `now`.
    pub fn open(path: &Path, retention: Duration, now: DateTime<Utc>) -> Result<Self, StoreError> {
        let db = Connection::open(path).map_err(sql)?;
        db.pragma_update(None, "journal_mode", "WAL").map_err(sql)?;
        db.pragma_update(None, "synchronous", "NORMAL").map_err(sql)?;
        db.busy_timeout(Duration::from_secs(5)).map_err(sql)?;
        db.execute_batch(SCHEMA).map_err(sql)?;
        let now_ms = now.timestamp_millis();
        db.execute("DELETE FROM keys WHERE purge_at <= ?1", [now_ms]).map_err(sql)?;
        db.execute("DELETE FROM bots WHERE purge_at <= ?1", [now_ms]).map_err(sql)?;
        let retention_ms = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
        Ok(Self { db: Arc::new(Mutex::new(db)), retention_ms })
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

fn bot_from_row(row: &Row<'_>) -> rusqlite::Result<BotUser> {
    Ok(BotUser {
        id: parsed(row, "bot_id", BotId::parse)?,
        team_id: parsed(row, "team_id", TeamId::parse)?,
        name: parsed(row, "name", |s| Name::parse(s, usize::MAX))?,
        created_at: time(row.get("created_at")?)?,
        created_by: parsed(row, "created_by", Subject::parse)?,
        deleted_at: row.get::<_, Option<i64>>("deleted_at")?.map(time).transpose()?,
    })
}

fn key_from_row(row: &Row<'_>) -> rusqlite::Result<ApiKey> {
    Ok(ApiKey {
        id: parsed(row, "key_id", KeyId::parse)?,
        bot_id: parsed(row, "bot_id", BotId::parse)?,
        team_id: parsed(row, "team_id", TeamId::parse)?,
        name: parsed(row, "name", |s| Name::parse(s, usize::MAX))?,
        hint: row.get("hint")?,
        scopes: parsed(row, "scopes", |s| Scopes::from_stored(s.split(' ').map(str::to_owned)))?,
        created_at: time(row.get("created_at")?)?,
        created_by: parsed(row, "created_by", Subject::parse)?,
        expires_at: time(row.get("expires_at")?)?,
        revoked_at: row.get::<_, Option<i64>>("revoked_at")?.map(time).transpose()?,
        revoked_by: parsed_opt(row, "revoked_by", Subject::parse)?,
        replaced_by: parsed_opt(row, "replaced_by", KeyId::parse)?,
        replaces: parsed_opt(row, "replaces", KeyId::parse)?,
    })
}

/// The bot user as a live one must be: present in `team` and not deleted.
fn live_bot(db: &Connection, team: &TeamId, bot: BotId) -> Result<BotUser, StoreError> {
    let found = db
        .query_row(
            &format!("SELECT {BOT_COLUMNS} FROM bots WHERE team_id = ?1 AND bot_id = ?2"),
            params![team.as_str(), bot.as_str()],
            bot_from_row,
        )
        .optional()
        .map_err(sql)?
        .ok_or(StoreError::BotNotFound)?;
    if found.deleted_at.is_some() {
        return Err(StoreError::BotDeleted);
    }
    Ok(found)
}

/// A key with its `bot_deleted_at` mark, if it belongs to `team`.
fn team_key(db: &Connection, team: &TeamId, bot: BotId, key: KeyId) -> Result<(ApiKey, bool), StoreError> {
    db.query_row(
        &format!("SELECT {KEY_COLUMNS}, bot_deleted_at FROM keys WHERE bot_id = ?1 AND key_id = ?2 AND team_id = ?3"),
        params![bot.as_str(), key.as_str(), team.as_str()],
        |row| Ok((key_from_row(row)?, row.get::<_, Option<i64>>("bot_deleted_at")?.is_some())),
    )
    .optional()
    .map_err(sql)?
    .ok_or(StoreError::KeyNotFound)
}

fn all_keys(db: &Connection, bot: BotId) -> Result<Vec<ApiKey>, StoreError> {
    let mut statement = db
        .prepare_cached(&format!("SELECT {KEY_COLUMNS} FROM keys WHERE bot_id = ?1 ORDER BY key_id"))
        .map_err(sql)?;
    statement.query_map([bot.as_str()], key_from_row).map_err(sql)?.collect::<Result<_, _>>().map_err(sql)
}

fn insert_key(db: &Connection, new: &NewKey, purge_at: i64) -> Result<(), StoreError> {
    let key = &new.key;
    db.execute(
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
    )
    .map_err(|e| match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::ConstraintViolation) => StoreError::Contention,
        _ => sql(e),
    })?;
    Ok(())
}

impl BotStore for EmbeddedStore {
    async fn create_bot(&self, bot: &BotUser) -> Result<(), StoreError> {
        self.lock()
            .execute(
                "INSERT INTO bots (team_id, bot_id, name, created_at, created_by) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    bot.team_id.as_str(),
                    bot.id.as_str(),
                    bot.name.as_str(),
                    bot.created_at.timestamp_millis(),
                    bot.created_by.as_str()
                ],
            )
            .map_err(|e| match e.sqlite_error_code() {
                Some(rusqlite::ErrorCode::ConstraintViolation) => StoreError::Contention,
                _ => sql(e),
            })?;
        Ok(())
    }

    async fn get_bot(&self, team: &TeamId, bot: BotId) -> Result<BotUser, StoreError> {
        self.lock()
            .query_row(
                &format!("SELECT {BOT_COLUMNS} FROM bots WHERE team_id = ?1 AND bot_id = ?2"),
                params![team.as_str(), bot.as_str()],
                bot_from_row,
            )
            .optional()
            .map_err(sql)?
            .ok_or(StoreError::BotNotFound)
    }

    async fn list_bots(
        &self,
        team: &TeamId,
        after: Option<BotId>,
        limit: usize,
    ) -> Result<Page<BotUser>, StoreError> {
        let db = self.lock();
        let mut statement = db
            .prepare_cached(&format!(
                "SELECT {BOT_COLUMNS} FROM bots WHERE team_id = ?1 AND bot_id > ?2 AND deleted_at IS NULL \
                 ORDER BY bot_id LIMIT ?3"
            ))
            .map_err(sql)?;
        let after = after.map(|id| id.to_string()).unwrap_or_default();
        let fetch = i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX);
        let items = statement
            .query_map(params![team.as_str(), after, fetch], bot_from_row)
            .map_err(sql)?
            .collect::<Result<_, _>>()
            .map_err(sql)?;
        Ok(Page::from_overfetch(items, limit))
    }

    async fn delete_bot(
        &self,
        team: &TeamId,
        bot: BotId,
        by: &Subject,
        now: DateTime<Utc>,
    ) -> Result<BotUser, StoreError> {
        let mut db = self.lock();
        let tx = db.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sql)?;
        let now_ms = now.timestamp_millis();
        let purge_at = self.purge_at(now);
        let marked = tx
            .execute(
                "UPDATE bots SET deleted_at = COALESCE(deleted_at, ?3), deleted_by = COALESCE(deleted_by, ?4), \
                 purge_at = COALESCE(purge_at, ?5) WHERE team_id = ?1 AND bot_id = ?2",
                params![team.as_str(), bot.as_str(), now_ms, by.as_str(), purge_at],
            )
            .map_err(sql)?;
        if marked == 0 {
            return Err(StoreError::BotNotFound);
        }
        tx.execute(
            "UPDATE keys SET revoked_at = ?2, revoked_by = ?3, purge_at = ?4 WHERE bot_id = ?1 AND revoked_at IS NULL",
            params![bot.as_str(), now_ms, by.as_str(), purge_at],
        )
        .map_err(sql)?;
        tx.execute(
            "UPDATE keys SET bot_deleted_at = ?2 WHERE bot_id = ?1 AND bot_deleted_at IS NULL",
            params![bot.as_str(), now_ms],
        )
        .map_err(sql)?;
        let deleted = tx
            .query_row(
                &format!("SELECT {BOT_COLUMNS} FROM bots WHERE team_id = ?1 AND bot_id = ?2"),
                params![team.as_str(), bot.as_str()],
                bot_from_row,
            )
            .map_err(sql)?;
        tx.commit().map_err(sql)?;
        Ok(deleted)
    }
}

impl KeyStore for EmbeddedStore {
    async fn create_key(&self, new: &NewKey, max_active: u32, now: DateTime<Utc>) -> Result<(), StoreError> {
        let key = &new.key;
        let mut db = self.lock();
        let tx = db.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sql)?;
        live_bot(&tx, &key.team_id, key.bot_id)?;
        if slots_held(&all_keys(&tx, key.bot_id)?, now) >= max_active as usize {
            return Err(StoreError::ActiveKeyLimit { limit: max_active });
        }
        insert_key(&tx, new, self.purge_at(key.expires_at))?;
        tx.commit().map_err(sql)
    }

    async fn get_key(&self, team: &TeamId, bot: BotId, key: KeyId) -> Result<ApiKey, StoreError> {
        let db = self.lock();
        live_bot(&db, team, bot)?;
        team_key(&db, team, bot, key).map(|(key, _)| key)
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
            .collect::<Result<_, _>>()
            .map_err(sql)?;
        Ok(Page::from_overfetch(items, limit))
    }

    async fn revoke_key(
        &self,
        team: &TeamId,
        bot: BotId,
        key: KeyId,
        by: &Subject,
        now: DateTime<Utc>,
    ) -> Result<ApiKey, StoreError> {
        let mut db = self.lock();
        let tx = db.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sql)?;
        let (found, bot_deleted) = team_key(&tx, team, bot, key)?;
        if bot_deleted {
            return Err(StoreError::BotDeleted);
        }
        if found.revoked_at.is_some() {
            return Ok(found);
        }
        tx.execute(
            "UPDATE keys SET revoked_at = ?3, revoked_by = ?4, purge_at = ?5 WHERE bot_id = ?1 AND key_id = ?2",
            params![bot.as_str(), key.as_str(), now.timestamp_millis(), by.as_str(), self.purge_at(now)],
        )
        .map_err(sql)?;
        let (revoked, _) = team_key(&tx, team, bot, key)?;
        tx.commit().map_err(sql)?;
        Ok(revoked)
    }

    async fn rotate_key(
        &self,
        team: &TeamId,
        old: KeyId,
        replacement: &NewKey,
        deadline: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Rotation, StoreError> {
        let bot = replacement.key.bot_id;
        let mut db = self.lock();
        let tx = db.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sql)?;
        live_bot(&tx, team, bot)?;
        let (current, bot_deleted) = team_key(&tx, team, bot, old)?;
        if bot_deleted {
            return Err(StoreError::BotDeleted);
        }
        if current.revoked_at.is_some() {
            return Err(StoreError::KeyRevoked);
        }
        if current.replaced_by.is_some() {
            return Err(StoreError::KeyAlreadyRotated);
        }
        if current.expires_at <= now {
            return Err(StoreError::KeyExpired);
        }
        if deadline > current.expires_at {
            // A deadline from a stale read; the DynamoDB store's condition refuses it too.
            return Err(StoreError::Contention);
        }
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
        let (old, _) = team_key(&tx, team, bot, old)?;
        tx.commit().map_err(sql)?;
        Ok(Rotation { old, new: replacement.key.clone() })
    }
}

impl CredentialStore for EmbeddedStore {
    async fn credential(&self, bot: BotId, key: KeyId) -> Result<Option<Credential>, StoreError> {
        self.lock()
            .query_row(
                "SELECT team_id, scopes, expires_at, revoked_at, secret_hash FROM keys WHERE bot_id = ?1 AND key_id = ?2",
                params![bot.as_str(), key.as_str()],
                |row| {
                    let hash: Vec<u8> = row.get("secret_hash")?;
                    Ok(Credential {
                        team_id: parsed(row, "team_id", TeamId::parse)?,
                        scopes: parsed(row, "scopes", |s| Scopes::from_stored(s.split(' ').map(str::to_owned)))?,
                        expires_at: time(row.get("expires_at")?)?,
                        revoked_at: row.get::<_, Option<i64>>("revoked_at")?.map(time).transpose()?,
                        hash: SecretHash::from_slice(&hash).ok_or_else(|| corrupt("secret_hash"))?,
                    })
                },
            )
            .optional()
            .map_err(sql)
    }
}
