//! Bot users stored before accounts and scope ceilings existed, as the earlier code wrote them:
//! they read as their creator's, with the whole catalogue as their ceiling (a read-time
//! default, nothing to backfill), on both stores.

use chrono::TimeDelta;
use nico_keys::store::embedded::EmbeddedStore;
use nico_keys::store::{BotStore, KeyStore};
use nico_keys::{BotId, Limits};
use nico_keys_tests::world::{Backing, World, start};

#[tokio::test]
async fn a_dynamodb_bot_user_without_account_or_scopes_is_its_creators_with_any_scope() {
    let w = World::dynamodb().await;
    let Backing::Dynamo { client, table } = &w.backing else { unreachable!() };
    let id = BotId::generate(w.now());
    let s = |value: &str| aws_sdk_dynamodb::types::AttributeValue::S(value.to_owned());
    let n = |value: i64| aws_sdk_dynamodb::types::AttributeValue::N(value.to_string());
    client
        .put_item()
        .table_name(table)
        .item("pk", s(&format!("TEAM#{}", w.team)))
        .item("sk", s(&format!("BOT#{id}")))
        .item("bot_id", s(id.as_str()))
        .item("team_id", s(w.team.as_str()))
        .item("name", s("old bot"))
        .item("created_at", n(w.now().timestamp_millis()))
        .item("created_by", s("owner-1"))
        .item("key_version", n(0))
        .send()
        .await
        .unwrap();

    let bot = w.store.get_bot(&w.team, id).await.unwrap();
    assert_eq!((bot.account.as_str(), bot.scopes.clone()), ("owner-1", None));
    let listed = w.store.list_bots(&w.team, Some(&w.owner), None, 10).await.unwrap();
    assert_eq!(listed.items.iter().map(|b| b.id).collect::<Vec<_>>(), [id]);
    let (new, _) = w.new_key_with(&bot, TimeDelta::days(1), &["billing:read", "projects:write"]);
    w.store.create_key(&new, w.cap(), w.now()).await.expect("no ceiling: any scope of the catalogue");
}

#[tokio::test]
async fn an_embedded_file_from_before_accounts_gains_the_columns_and_reads_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.sqlite3");
    let id = BotId::generate(start());
    {
        // The bots table as the earlier code created it.
        let db = rusqlite::Connection::open(&path).unwrap();
        db.execute_batch(
            "CREATE TABLE bots (team_id TEXT NOT NULL, bot_id TEXT NOT NULL, name TEXT NOT NULL, \
             created_at INTEGER NOT NULL, created_by TEXT NOT NULL, deleted_at INTEGER, deleted_by TEXT, \
             purge_at INTEGER, PRIMARY KEY (team_id, bot_id)) WITHOUT ROWID;",
        )
        .unwrap();
        db.execute(
            "INSERT INTO bots (team_id, bot_id, name, created_at, created_by) VALUES ('team-a', ?1, 'old bot', ?2, 'owner-1')",
            rusqlite::params![id.as_str(), start().timestamp_millis()],
        )
        .unwrap();
    }
    let store = EmbeddedStore::open(&path, Limits::default().retention, start()).unwrap();
    let team = nico_keys::TeamId::parse("team-a").unwrap();
    let bot = store.get_bot(&team, id).await.unwrap();
    assert_eq!((bot.account.as_str(), bot.scopes.clone()), ("owner-1", None));
    // Opening it again (columns already there) changes nothing.
    drop(store);
    let store = EmbeddedStore::open(&path, Limits::default().retention, start()).unwrap();
    assert_eq!(store.get_bot(&team, id).await.unwrap(), bot);
}
