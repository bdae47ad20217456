//! A fresh world per test: an empty store (its own DynamoDB table on moto, or its own SQLite
//! file), a clock the test controls, and one team with an owner. Every key it mints is
//! recorded, and when it is dropped no log of the run may hold one ([`crate::leaks`]).

use std::path::PathBuf;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use nico_keys::model::{Expiry, NewKey};
use nico_keys::store::dynamodb::{self, DynamoStore};
use nico_keys::store::embedded::EmbeddedStore;
use nico_keys::store::{RaceHook, RacePoint, Store};
use nico_keys::token::RawKey;
use nico_keys::{ApiKey, BotId, BotUser, Limits, ManualClock, Name, ScopeCatalog, Scopes, Subject, TeamId};

pub const SCOPES: &str = "projects:read,projects:write,billing:read";

/// Where a world keeps its data, for tests that look underneath the store.
pub enum Backing {
    Dynamo { client: dynamodb::Client, table: String },
    Sqlite { path: PathBuf, _dir: tempfile::TempDir },
}

pub struct World<S> {
    pub store: S,
    pub clock: ManualClock,
    pub team: TeamId,
    pub owner: Subject,
    pub catalog: ScopeCatalog,
    pub limits: Limits,
    pub backing: Backing,
}

/// A fixed, readable starting instant; tests move the clock from here.
pub fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap()
}

impl World<DynamoStore> {
    pub async fn dynamodb() -> Self {
        let endpoint = crate::dynamodb_endpoint();
        let client = dynamodb::client_from_env().await;
        let table = format!("keys-{}", BotId::generate(Utc::now()));
        dynamodb::create_table(&client, &table)
            .await
            .unwrap_or_else(|e| panic!("cannot create a table on {endpoint}: {e}"));
        let limits = Limits::default();
        let store = DynamoStore::new(client.clone(), &table, limits.retention);
        Self::with(store, Backing::Dynamo { client, table }, limits)
    }
}

impl World<EmbeddedStore> {
    pub fn embedded() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.sqlite3");
        let limits = Limits::default();
        let store = EmbeddedStore::open(&path, limits.retention, start()).unwrap();
        Self::with(store, Backing::Sqlite { path, _dir: dir }, limits)
    }
}

/// At the end of every test that has a world, no log of the run so far holds a recorded key.
impl<S> Drop for World<S> {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            crate::leaks::assert_clean();
        }
    }
}

impl<S: Store> World<S> {
    fn with(store: S, backing: Backing, limits: Limits) -> Self {
        crate::leaks::install();
        Self {
            store,
            clock: ManualClock::at(start()),
            team: TeamId::parse("team-a").unwrap(),
            owner: Subject::parse("owner-1").unwrap(),
            catalog: ScopeCatalog::parse(SCOPES).unwrap(),
            limits,
            backing,
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        nico_keys::Clock::now(&self.clock)
    }

    pub fn scopes(&self, list: &[&str]) -> Scopes {
        Scopes::parse(list.iter().copied(), &self.catalog).unwrap()
    }

    /// A bot user of `team`, stored.
    pub async fn bot_in(&self, team: &TeamId, name: &str) -> BotUser {
        let bot = BotUser {
            id: BotId::generate(self.now()),
            team_id: team.clone(),
            name: Name::parse(name, 100).unwrap(),
            account: self.owner.clone(),
            scopes: None,
            created_at: self.now(),
            created_by: self.owner.clone(),
            deleted_at: None,
        };
        nico_keys::store::BotStore::create_bot(&self.store, &bot).await.unwrap();
        bot
    }

    /// A bot user of the world's team for `account`, with `scopes` as its ceiling, stored.
    pub async fn bot_for(&self, account: &str, scopes: &[&str]) -> BotUser {
        let bot = BotUser {
            id: BotId::generate(self.now()),
            team_id: self.team.clone(),
            name: Name::parse("their bot", 100).unwrap(),
            account: Subject::parse(account).unwrap(),
            scopes: Some(self.scopes(scopes)),
            created_at: self.now(),
            created_by: self.owner.clone(),
            deleted_at: None,
        };
        nico_keys::store::BotStore::create_bot(&self.store, &bot).await.unwrap();
        bot
    }

    pub async fn bot(&self) -> BotUser {
        self.bot_in(&self.team, "ci bot").await
    }

    /// A key for `bot` that expires after `lifetime`, not yet stored.
    pub fn new_key(&self, bot: &BotUser, lifetime: TimeDelta) -> (NewKey, RawKey) {
        self.new_key_with(bot, lifetime, &["projects:read", "projects:write"])
    }

    /// Every key a world mints comes from here, and is recorded so no log may hold it.
    pub fn new_key_with(&self, bot: &BotUser, lifetime: TimeDelta, scopes: &[&str]) -> (NewKey, RawKey) {
        let expiry = Expiry::at(self.now() + lifetime, self.now(), self.limits.max_key_lifetime).unwrap();
        let (new, raw) = NewKey::issue(
            &bot.team_id,
            bot.id,
            Name::parse("deploy key", 100).unwrap(),
            self.scopes(scopes),
            expiry,
            &self.owner,
            self.now(),
        );
        crate::leaks::record(raw.expose());
        (new, raw)
    }

    /// A stored key for `bot`, valid for 30 days.
    pub async fn key(&self, bot: &BotUser) -> (ApiKey, RawKey) {
        self.key_for(bot, TimeDelta::days(30)).await
    }

    pub async fn key_for(&self, bot: &BotUser, lifetime: TimeDelta) -> (ApiKey, RawKey) {
        let (new, raw) = self.new_key(bot, lifetime);
        self.store.create_key(&new, self.limits.max_active_keys, self.now()).await.unwrap();
        (new.key, raw)
    }

    /// A stored key for `bot` with `scopes`, valid for 30 days.
    pub async fn key_for_scopes(&self, bot: &BotUser, scopes: &[&str]) -> (ApiKey, RawKey) {
        let (new, raw) = self.new_key_with(bot, TimeDelta::days(30), scopes);
        self.store.create_key(&new, self.limits.max_active_keys, self.now()).await.unwrap();
        (new.key, raw)
    }

    /// The active-key cap the world's stores are asked to keep.
    pub fn cap(&self) -> u32 {
        self.limits.max_active_keys
    }

    pub fn grace(&self) -> Duration {
        self.limits.rotation_grace
    }

    /// Every stored value, rendered as text (binary values as hex, as lossy UTF-8 and as the
    /// bytes' debug form), so a test can look for anything that must never be stored.
    pub async fn stored_values(&self) -> Vec<String> {
        match &self.backing {
            Backing::Dynamo { client, table } => {
                let mut values = Vec::new();
                let mut start = None;
                loop {
                    let page =
                        client.scan().table_name(table).set_exclusive_start_key(start).send().await.unwrap();
                    for item in page.items() {
                        for (name, value) in item {
                            values.push(name.clone());
                            render(value, &mut values);
                        }
                    }
                    start = page.last_evaluated_key().cloned();
                    if start.is_none() {
                        return values;
                    }
                }
            }
            Backing::Sqlite { path, .. } => {
                let db = rusqlite::Connection::open(path).unwrap();
                let mut values = Vec::new();
                for table in ["bots", "keys", "audit"] {
                    let mut rows = db.prepare(&format!("SELECT * FROM {table}")).unwrap();
                    let columns = rows.column_count();
                    let mut rows = rows.query([]).unwrap();
                    while let Some(row) = rows.next().unwrap() {
                        for i in 0..columns {
                            match row.get_ref(i).unwrap() {
                                rusqlite::types::ValueRef::Blob(bytes) => render_bytes(bytes, &mut values),
                                rusqlite::types::ValueRef::Text(text) => {
                                    values.push(String::from_utf8_lossy(text).into_owned())
                                }
                                other => values.push(format!("{other:?}")),
                            }
                        }
                    }
                }
                values
            }
        }
    }
}

fn render(value: &AttributeValue, out: &mut Vec<String>) {
    match value {
        AttributeValue::B(blob) => render_bytes(blob.as_ref(), out),
        AttributeValue::Ss(list) => out.extend(list.iter().cloned()),
        other => out.push(format!("{other:?}")),
    }
}

fn render_bytes(bytes: &[u8], out: &mut Vec<String>) {
    out.push(bytes.iter().map(|b| format!("{b:02x}")).collect());
    out.push(String::from_utf8_lossy(bytes).into_owned());
    out.push(format!("{bytes:?}"));
}

/// A race hook that runs `act` once, the first time the store reaches `point`: another writer
/// commits exactly between the store's read and its write.
pub fn once_at<F, Fut>(point: RacePoint, act: F) -> RaceHook
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let act = std::sync::Arc::new(std::sync::Mutex::new(Some(act)));
    std::sync::Arc::new(move |reached| {
        let act = if reached == point { act.lock().expect("the hook's lock").take() } else { None };
        Box::pin(async move {
            if let Some(act) = act {
                act().await;
            }
        })
    })
}
