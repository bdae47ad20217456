//! What only the DynamoDB store can show: races forced at the exact point where a write can
//! lose one (another writer commits between the store's read and its write, every time, through
//! the store's race hook), and what the store puts on the wire (every read strongly consistent:
//! moto is always consistent, so only the request itself can prove it asks).

use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use chrono::TimeDelta;
use nico_keys::audit::AuditQuery;
use nico_keys::model::rotation_deadline;
use nico_keys::store::dynamodb::{Client, DynamoStore};
use nico_keys::store::{
    AuditStore, BotChange, BotStore, CredentialStore, KeyQuery, KeyStore, RacePoint, Rejection, StoreError,
    VerifyError,
};
use nico_keys::{Name, Subject};
use nico_keys_tests::world::{Backing, World, once_at};

fn rejected(verdict: Result<nico_keys::Principal, VerifyError>) -> Rejection {
    match verdict {
        Err(VerifyError::Rejected(reason)) => reason,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[tokio::test]
async fn a_key_created_between_a_deletions_read_and_its_write_is_revoked_by_it() {
    let w = World::dynamodb().await;
    for round in 0..8 {
        let bot = w.bot().await;
        let (_, existing_raw) = w.key(&bot).await;
        let (new, raw) = w.new_key(&bot, TimeDelta::days(1));
        let (plain, now) = (w.store.clone(), w.now());
        let racing = w.store.clone().with_race_hook(once_at(RacePoint::Delete, move || async move {
            plain.create_key(&new, 50, now).await.expect("the create commits while the deletion waits");
        }));
        racing.delete_bot(&w.team, bot.id, &w.owner, w.now()).await.unwrap();
        assert_eq!(
            rejected(w.store.verify(raw.expose(), w.now()).await),
            Rejection::Revoked,
            "round {round}"
        );
        assert_eq!(rejected(w.store.verify(existing_raw.expose(), w.now()).await), Rejection::Revoked);
    }
}

#[tokio::test]
async fn a_revocation_between_a_deletions_read_and_its_write_keeps_its_author() {
    let w = World::dynamodb().await;
    let bot = w.bot().await;
    let (key, raw) = w.key(&bot).await;
    let someone = nico_keys::Subject::parse("owner-2").unwrap();
    let (plain, team, now, by) = (w.store.clone(), w.team.clone(), w.now(), someone.clone());
    let racing = w.store.clone().with_race_hook(once_at(RacePoint::Delete, move || async move {
        plain.revoke_key(&team, bot.id, key.id, &by, now).await.unwrap();
    }));
    racing.delete_bot(&w.team, bot.id, &w.owner, w.now()).await.unwrap();
    assert_eq!(rejected(w.store.verify(raw.expose(), w.now()).await), Rejection::Revoked);
    let stored = w.store.get_bot(&w.team, bot.id).await.unwrap();
    assert!(stored.deleted_at.is_some());
    let Backing::Dynamo { client, table } = &w.backing else { unreachable!() };
    let item = client
        .get_item()
        .table_name(table)
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(format!("BOT#{}", bot.id)))
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S(format!("KEY#{}", key.id)))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(item["revoked_by"].as_s().unwrap(), "owner-2", "the first revocation stands");
}

#[tokio::test]
async fn a_create_that_counted_before_another_committed_counts_again() {
    let w = World::dynamodb().await;
    let bot = w.bot().await;
    let cap = 2;
    let (first, _) = w.new_key(&bot, TimeDelta::days(1));
    w.store.create_key(&first, cap, w.now()).await.unwrap();
    let (second, _) = w.new_key(&bot, TimeDelta::days(1));
    let (third, _) = w.new_key(&bot, TimeDelta::days(1));
    let (plain, now) = (w.store.clone(), w.now());
    let racing = w.store.clone().with_race_hook(once_at(RacePoint::Create, move || async move {
        plain.create_key(&second, cap, now).await.expect("the other create fits");
    }));
    let refused = racing.create_key(&third, cap, w.now()).await;
    assert!(matches!(refused, Err(StoreError::ActiveKeyLimit { limit: 2 })), "{refused:?}");
    assert_eq!(w.store.list_keys(&w.team, bot.id, None, 10).await.unwrap().items.len(), 2);
}

#[tokio::test]
async fn a_rotation_that_read_before_a_deletion_committed_fails_as_deleted() {
    let w = World::dynamodb().await;
    let bot = w.bot().await;
    let (old, old_raw) = w.key(&bot).await;
    let (replacement, new_raw) = w.new_key(&bot, TimeDelta::days(1));
    let (plain, team, owner, now) = (w.store.clone(), w.team.clone(), w.owner.clone(), w.now());
    let racing = w.store.clone().with_race_hook(once_at(RacePoint::Rotate, move || async move {
        plain.delete_bot(&team, bot.id, &owner, now).await.unwrap();
    }));
    let deadline = rotation_deadline(old.expires_at, w.now(), w.grace());
    let rotated =
        racing.rotate_key(&w.team, old.id, &replacement.replacing(old.id), deadline, w.cap(), w.now()).await;
    assert!(matches!(rotated, Err(StoreError::BotDeleted)), "{rotated:?}");
    assert_eq!(rejected(w.store.verify(old_raw.expose(), w.now()).await), Rejection::Revoked);
    assert_eq!(rejected(w.store.verify(new_raw.expose(), w.now()).await), Rejection::UnknownKey);
}

/// Records the operation and body of every request a client sends.
#[derive(Debug, Default, Clone)]
struct Recorder(Arc<Mutex<Vec<(String, serde_json::Value)>>>);

impl Intercept for Recorder {
    fn name(&self) -> &'static str {
        "Recorder"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        let operation = request.headers().get("x-amz-target").unwrap_or_default().to_owned();
        let body = request.body().bytes().map(serde_json::from_slice).transpose()?.unwrap_or_default();
        self.0.lock().unwrap().push((operation, body));
        Ok(())
    }
}

/// A store on the world's table whose every request is recorded as sent.
fn recorded_store(w: &World<DynamoStore>) -> (DynamoStore, Recorder) {
    let Backing::Dynamo { client, table } = &w.backing else { unreachable!() };
    let recorder = Recorder::default();
    let recorded = Client::from_conf(client.config().to_builder().interceptor(recorder.clone()).build());
    (DynamoStore::new(recorded, table, w.limits.retention), recorder)
}

#[tokio::test]
async fn every_read_the_store_sends_asks_for_a_strongly_consistent_read() {
    let w = World::dynamodb().await;
    let (store, recorder) = recorded_store(&w);

    let bot = w.bot().await;
    let (new, raw) = w.new_key(&bot, TimeDelta::days(1));
    store.create_key(&new, w.cap(), w.now()).await.unwrap();
    store.verify(raw.expose(), w.now()).await.unwrap();
    store.get_key(&w.team, bot.id, new.key.id).await.unwrap();
    store.list_keys(&w.team, bot.id, None, 10).await.unwrap();
    store.list_bots(&w.team, None, None, 10).await.unwrap();
    store.get_bot(&w.team, bot.id).await.unwrap();
    let (replacement, _) = w.new_key(&bot, TimeDelta::days(1));
    let deadline = rotation_deadline(new.key.expires_at, w.now(), w.grace());
    store
        .rotate_key(&w.team, new.key.id, &replacement.replacing(new.key.id), deadline, w.cap(), w.now())
        .await
        .unwrap();
    store.revoke_key(&w.team, bot.id, new.key.id, &w.owner, w.now()).await.unwrap();
    let rename = BotChange { name: Some(Name::parse("renamed", 100).unwrap()), ..BotChange::default() };
    store.update_bot(&w.team, bot.id, &rename, &w.owner, w.now()).await.unwrap();
    store.list_team_keys(&w.team, &KeyQuery::default(), None, 10, w.now()).await.unwrap();
    store.list_events(&w.team, &AuditQuery::default(), None, 10).await.unwrap();
    store.delete_bot(&w.team, bot.id, &w.owner, w.now()).await.unwrap();

    let requests = recorder.0.lock().unwrap().clone();
    let reads: Vec<_> = requests
        .iter()
        .filter(|(operation, _)| operation.ends_with(".GetItem") || operation.ends_with(".Query"))
        .collect();
    assert!(
        reads.iter().any(|(op, _)| op.ends_with(".GetItem"))
            && reads.iter().any(|(op, _)| op.ends_with(".Query"))
    );
    for (operation, body) in reads {
        assert_eq!(body["ConsistentRead"], true, "{operation} without a strongly consistent read: {body}");
    }
}

/// Once a change's transaction commits, the store answers from what it wrote: a read after
/// it could fail, and a change that happened must not be reported as an error.
#[tokio::test]
async fn a_committed_change_is_answered_without_reading_again() {
    let w = World::dynamodb().await;
    let (store, recorder) = recorded_store(&w);
    let last_request = || recorder.0.lock().unwrap().last().map(|(operation, _)| operation.clone());
    let committed = Some("DynamoDB_20120810.TransactWriteItems".to_owned());

    let bot = w.bot().await;
    let (old, _) = w.key(&bot).await;
    let (replacement, _) = w.new_key(&bot, TimeDelta::days(1));
    let deadline = rotation_deadline(old.expires_at, w.now(), w.grace());
    let rotation = store
        .rotate_key(&w.team, old.id, &replacement.replacing(old.id), deadline, w.cap(), w.now())
        .await
        .unwrap();
    assert_eq!(last_request(), committed, "rotate");
    assert_eq!(rotation.old, w.store.get_key(&w.team, bot.id, old.id).await.unwrap(), "as stored");

    let change = BotChange {
        name: Some(Name::parse("renamed", 100).unwrap()),
        account: Some(Subject::parse("carol").unwrap()),
        revoke_keys: true,
        ..BotChange::default()
    };
    let (changed, revoked) = store.update_bot(&w.team, bot.id, &change, &w.owner, w.now()).await.unwrap();
    assert_eq!(last_request(), committed, "update");
    assert_eq!((changed, revoked), (w.store.get_bot(&w.team, bot.id).await.unwrap(), 2), "as stored");

    let deleted = store.delete_bot(&w.team, bot.id, &w.owner, w.now()).await.unwrap();
    assert_eq!(last_request(), committed, "delete");
    assert_eq!(deleted, w.store.get_bot(&w.team, bot.id).await.unwrap(), "as stored");
}
