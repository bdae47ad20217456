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
    BotChange, BotStore, CredentialStore, KeyRecord, KeyStore, Page, Revocable, Rotation, StoreError,
    check_cap, check_ceiling, check_change, listed_for, revocable, rotatable,
};
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
";

/// The columns each reader selects, declared once.
const KEY_COLUMNS: &str = "key_id, bot_id, team_id, name, hint, scopes, created_at, created_by, expires_at, \
                           revoked_at, revoked_by, replaced_by, replaces, bot_deleted_at, last_used_at, \
                           last_used_ip";
const BOT_COLUMNS: &str = "bot_id, team_id, name, account, scopes, created_at, created_by, deleted_at";
const CREDENTIAL_COLUMNS: &str = "team_id, scopes, expires_at, revoked_at, secret_hash, last_used_at";

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
        add_missing_columns(&db)?;
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

impl BotStore for EmbeddedStore {
    async fn create_bot(&self, bot: &BotUser) -> Result<(), StoreError> {
        inserted(self.lock().execute(
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
        ))
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

    async fn update_bot(
        &self,
        team: &TeamId,
        bot: BotId,
        change: &BotChange,
        by: &Subject,
        now: DateTime<Utc>,
    ) -> Result<(BotUser, usize), StoreError> {
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
        let revoked = if change.revoke_keys {
            tx.execute(
                "UPDATE keys SET revoked_at = ?2, revoked_by = ?3, purge_at = ?4 \
                 WHERE bot_id = ?1 AND revoked_at IS NULL AND expires_at > ?2",
                params![bot.as_str(), now.timestamp_millis(), by.as_str(), self.purge_at(now)],
            )
            .map_err(sql)?
        } else {
            0
        };
        let changed = bot_row(&tx, team, bot)?;
        tx.commit().map_err(sql)?;
        Ok((changed, revoked))
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
        tx.execute(
            "UPDATE keys SET revoked_at = ?2, revoked_by = ?3, bot_deleted_at = ?2, purge_at = ?4 \
             WHERE bot_id = ?1 AND revoked_at IS NULL AND expires_at > ?2",
            params![bot.as_str(), now_ms, by.as_str(), purge_at],
        )
        .map_err(sql)?;
        let deleted = bot_row(&tx, team, bot)?;
        tx.commit().map_err(sql)?;
        Ok(deleted)
    }
}

impl KeyStore for EmbeddedStore {
    async fn create_key(&self, new: &NewKey, max_active: u32, now: DateTime<Utc>) -> Result<(), StoreError> {
        let key = &new.key;
        let mut db = self.lock();
        let tx = db.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sql)?;
        let bot = live_bot(&tx, &key.team_id, key.bot_id)?;
        check_ceiling(bot.scopes.as_ref(), &key.scopes)?;
        check_cap(all_keys(&tx, key.bot_id)?.iter().map(|record| &record.key), max_active, now, None)?;
        insert_key(&tx, new, self.purge_at(key.expires_at))?;
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
        live_bot(&tx, team, bot)?;
        if let Revocable::AlreadyRevoked(key) = revocable(key_row(&tx, bot, key)?, team)? {
            return Ok(*key);
        }
        tx.execute(
            "UPDATE keys SET revoked_at = ?3, revoked_by = ?4, purge_at = ?5 WHERE bot_id = ?1 AND key_id = ?2",
            params![bot.as_str(), key.as_str(), now.timestamp_millis(), by.as_str(), self.purge_at(now)],
        )
        .map_err(sql)?;
        let revoked = key_row(&tx, bot, key)?.ok_or(StoreError::KeyNotFound)?;
        tx.commit().map_err(sql)?;
        Ok(revoked.key)
    }

    async fn rotate_key(
        &self,
        team: &TeamId,
        old: KeyId,
        replacement: &NewKey,
        deadline: DateTime<Utc>,
        max_active: u32,
        now: DateTime<Utc>,
    ) -> Result<Rotation, StoreError> {
        let bot = replacement.key.bot_id;
        let mut db = self.lock();
        let tx = db.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sql)?;
        live_bot(&tx, team, bot)?;
        rotatable(key_row(&tx, bot, old)?, team, deadline, now)?;
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
