//! The audit trail, on both stores: the story of a bot user and its keys as people read it
//! (`GET /v1/audit`, who sees what), atomicity with the change both ways (failures injected
//! between the change and its entry), no secret in any event, and events outliving the keys
//! and bot users they are about.

use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::TimeDelta;
use key_management::Api;
use nico_keys::audit::{Action, AuditQuery};
use nico_keys::model::format_time;
use nico_keys::store::dynamodb::{CallBudget, DynamoStore};
use nico_keys::store::embedded::EmbeddedStore;
use nico_keys::store::{AuditStore, KeyStore, RacePoint, Store, StoreError};
use nico_keys::{Config, Limits};
use nico_keys_tests::fault_proxy::{Calls, Fault, FaultProxy, client_via};
use nico_keys_tests::http::ApiRequest;
use nico_keys_tests::world::{Backing, World, once_at, start};
use serde_json::{Value, json};

nico_keys_tests::contract!(
    the_story_of_a_bot_user_is_told_newest_first_with_the_right_actors,
    members_see_only_their_bot_users_events_and_another_team_sees_none,
    no_event_holds_a_raw_key_a_secret_or_a_digest,
    events_outlive_the_purge_of_their_keys_and_bot_user,
    a_revocation_that_fails_leaves_no_event_and_an_event_never_exists_without_its_change,
);

const OWNER: [(&str, &str); 3] = [("sub", "owner-1"), ("team_id", "team-a"), ("role", "owner")];
const ALICE: [(&str, &str); 3] = [("sub", "alice"), ("team_id", "team-a"), ("role", "member")];
const BOB: [(&str, &str); 3] = [("sub", "bob"), ("team_id", "team-a"), ("role", "member")];
const STRANGER: [(&str, &str); 3] = [("sub", "owner-b"), ("team_id", "team-b"), ("role", "owner")];

/// The management API in process over a world's store.
struct App<S> {
    w: World<S>,
    api: Api<S>,
}

fn app<S: Store + Clone>(w: World<S>) -> App<S> {
    let config = Config {
        table_name: "unused".into(),
        catalog: w.catalog.clone(),
        routes: nico_keys::routes::RouteRules::parse("GET /projects/*=projects:read", &w.catalog).unwrap(),
        limits: Limits::default(),
        claims: Default::default(),
        verify_cache: std::time::Duration::ZERO,
        flush_stages: Vec::new(),
    };
    let api = Api::new(w.store.clone(), config, Arc::new(w.clock.clone()));
    App { w, api }
}

impl<S: Store> App<S> {
    async fn call(
        &self,
        claims: &[(&str, &str)],
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = ApiRequest::new(method, path);
        request.claims(claims).source("203.0.113.7", "nico-keys-cli/1.0");
        if let Some(body) = body {
            request.json(&body);
        }
        let response = self.api.handle(request.build()).await;
        let status = response.status().as_u16();
        let text = String::from_utf8(response.body().to_vec()).unwrap();
        let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() };
        nico_keys_tests::leaks::record_tokens_in(&body);
        (status, body)
    }

    async fn ok(&self, claims: &[(&str, &str)], method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, body) = self.call(claims, method, path, body).await;
        assert!((200..300).contains(&status), "{method} {path}: {status} {body}");
        body
    }

    /// Every event `claims` may read with `query`, following the cursor to the end.
    async fn events(&self, claims: &[(&str, &str)], query: &str) -> Vec<Value> {
        let mut all = Vec::new();
        let mut cursor = String::new();
        loop {
            let path = format!("/v1/audit?limit=2{query}{cursor}");
            let page = self.ok(claims, "GET", &path, None).await;
            all.extend(page["items"].as_array().unwrap().iter().cloned());
            match page["next_cursor"].as_str() {
                Some(next) => cursor = format!("&cursor={next}"),
                None => return all,
            }
        }
    }

    fn later(&self) {
        self.w.clock.advance(TimeDelta::seconds(1));
    }

    fn expiry(&self) -> String {
        format_time(self.w.now() + TimeDelta::days(30))
    }
}

fn summary(events: &[Value]) -> Vec<(String, String, Option<String>)> {
    events
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["actor"].as_str().unwrap().to_owned(),
                e["reason"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

fn row(action: &str, actor: &str, reason: Option<&str>) -> (String, String, Option<String>) {
    (action.to_owned(), actor.to_owned(), reason.map(str::to_owned))
}

async fn the_story_of_a_bot_user_is_told_newest_first_with_the_right_actors<S: Store + Clone>(w: World<S>) {
    let app = app(w);
    let body = json!({"name": "alice's bot", "account": "alice", "scopes": ["projects:read"]});
    let bot = app.ok(&OWNER, "POST", "/v1/bots", Some(body)).await["id"].as_str().unwrap().to_owned();
    app.later();
    let key_body = json!({"name": "deploy", "expires_at": app.expiry(), "scopes": ["projects:read"]});
    let created = app.ok(&ALICE, "POST", &format!("/v1/bots/{bot}/keys"), Some(key_body)).await;
    let old = created["key"]["id"].as_str().unwrap().to_owned();
    app.later();
    let rotated = app.ok(&ALICE, "POST", &format!("/v1/bots/{bot}/keys/{old}/rotate"), None).await;
    let new = rotated["key"]["id"].as_str().unwrap().to_owned();
    app.later();
    let revoked = app
        .ok(
            &OWNER,
            "POST",
            &format!("/v1/bots/{bot}/keys/{new}/revoke"),
            Some(json!({"reason": " leaked in CI "})),
        )
        .await;
    assert_eq!(revoked["revoked_reason"], json!("leaked in CI"));
    app.later();
    app.ok(&OWNER, "DELETE", &format!("/v1/bots/{bot}"), None).await;

    let events = app.events(&OWNER, "").await;
    assert_eq!(
        summary(&events),
        vec![
            row("bot.deleted", "owner-1", None),
            // The old key was still in its grace period: the deletion revoked it.
            row("key.revoked", "system:bot-deleted", Some("bot user deleted")),
            row("key.revoked", "owner-1", Some("leaked in CI")),
            row("key.rotated", "alice", None),
            row("key.created", "alice", None),
            row("bot.created", "owner-1", None),
        ]
    );
    let ids: Vec<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.iter().collect::<std::collections::HashSet<_>>().len(), ids.len(), "ids are unique");
    assert_eq!(events[1]["on_behalf_of"], json!("owner-1"));
    assert_eq!(events[1]["key_id"], json!(old));
    assert_eq!(
        (events[2]["key_id"].as_str(), events[2]["key_name"].as_str()),
        (Some(new.as_str()), Some("deploy"))
    );
    assert_eq!(events[3]["replaced_by"], json!(new));
    for event in &events {
        assert_eq!(event["bot_id"], json!(bot));
        assert_eq!(event["bot_name"], json!("alice's bot"));
        assert_eq!(event["team_id"], json!("team-a"));
        assert_eq!(event["source_ip"], json!("203.0.113.7"));
        assert_eq!(event["user_agent"], json!("nico-keys-cli/1.0"));
    }
    assert_eq!(events[5]["at"], json!(format_time(start())));

    // Filters: actor, bot, since (a span or an instant).
    let alices = app.events(&OWNER, "&actor=alice").await;
    assert_eq!(summary(&alices), vec![row("key.rotated", "alice", None), row("key.created", "alice", None)]);
    let system = app.events(&OWNER, "&actor=system:bot-deleted").await;
    assert_eq!(system.len(), 1);
    assert_eq!(app.events(&OWNER, &format!("&bot={bot}")).await.len(), 6);
    let other = nico_keys::BotId::generate(app.w.now());
    assert!(app.events(&OWNER, &format!("&bot={other}")).await.is_empty());
    assert_eq!(app.events(&OWNER, "&since=2s").await.len(), 4, "the rotation, revocation and deletion");
    let since = format_time(start() + TimeDelta::seconds(1));
    assert_eq!(app.events(&OWNER, &format!("&since={since}")).await.len(), 5);

    for (query, field) in
        [("bot=nope", "bot"), ("since=yesterday", "since"), ("cursor=nope", "cursor"), ("limit=0", "limit")]
    {
        let (status, body) = app.call(&OWNER, "GET", &format!("/v1/audit?{query}"), None).await;
        assert_eq!((status, body["error"]["field"].as_str()), (400, Some(field)), "{query}");
    }
    let too_long = json!({"reason": "x".repeat(201)});
    let key_body = json!({"name": "k", "expires_at": app.expiry(), "scopes": ["projects:read"]});
    let bot2 = app
        .ok(&OWNER, "POST", "/v1/bots", Some(json!({"name": "b2", "scopes": ["projects:read"]})))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let key = app.ok(&OWNER, "POST", &format!("/v1/bots/{bot2}/keys"), Some(key_body)).await;
    let key = key["key"]["id"].as_str().unwrap().to_owned();
    let (status, body) =
        app.call(&OWNER, "POST", &format!("/v1/bots/{bot2}/keys/{key}/revoke"), Some(too_long)).await;
    assert_eq!((status, body["error"]["field"].as_str()), (400, Some("reason")));
    let (status, _) = app.call(&OWNER, "POST", &format!("/v1/bots/{bot2}/keys/{key}/revoke"), None).await;
    assert_eq!(status, 200, "no body stays valid");
}

async fn members_see_only_their_bot_users_events_and_another_team_sees_none<S: Store + Clone>(w: World<S>) {
    let app = app(w);
    let mut bots = Vec::new();
    for account in ["alice", "bob"] {
        let body =
            json!({"name": format!("{account}'s bot"), "account": account, "scopes": ["projects:read"]});
        bots.push(app.ok(&OWNER, "POST", "/v1/bots", Some(body)).await["id"].as_str().unwrap().to_owned());
        app.later();
    }
    let key_body = json!({"name": "k", "expires_at": app.expiry(), "scopes": ["projects:read"]});
    let alices_key =
        app.ok(&ALICE, "POST", &format!("/v1/bots/{}/keys", bots[0]), Some(key_body.clone())).await;
    let alices_key = alices_key["key"]["id"].as_str().unwrap().to_owned();
    app.ok(&BOB, "POST", &format!("/v1/bots/{}/keys", bots[1]), Some(key_body)).await;

    let of = |events: &[Value]| {
        let mut bots: Vec<String> = events.iter().map(|e| e["bot_id"].as_str().unwrap().to_owned()).collect();
        bots.dedup();
        bots
    };
    assert_eq!(app.events(&OWNER, "").await.len(), 4);
    let alices = app.events(&ALICE, "").await;
    assert_eq!((alices.len(), of(&alices)), (2, vec![bots[0].clone()]));
    assert!(app.events(&ALICE, &format!("&bot={}", bots[1])).await.is_empty(), "not hers");
    assert_eq!(of(&app.events(&BOB, "").await), vec![bots[1].clone()]);
    assert!(app.events(&STRANGER, "").await.is_empty());

    // Re-assigned to Bob: the bot user's history moves with it, at once.
    app.later();
    app.ok(&OWNER, "PATCH", &format!("/v1/bots/{}", bots[0]), Some(json!({"account": "bob"}))).await;
    assert!(app.events(&ALICE, "").await.is_empty());
    let bobs = app.events(&BOB, "").await;
    assert_eq!(
        summary(&bobs[..2]),
        vec![
            row("bot.updated", "owner-1", None),
            row("key.revoked", "system:revoke-keys", Some("bot user re-assigned to another account")),
        ]
    );
    assert_eq!(bobs.len(), 6);
    let key = app.ok(&OWNER, "GET", &format!("/v1/bots/{}/keys/{alices_key}", bots[0]), None).await;
    assert_eq!(key["revoked_reason"], json!("bot user re-assigned to another account"));

    // Revoke-keys by Bob: each key's revocation is the system actor's, for Bob.
    app.later();
    let key_body = json!({"name": "k2", "expires_at": app.expiry(), "scopes": ["projects:read"]});
    app.ok(&BOB, "POST", &format!("/v1/bots/{}/keys", bots[1]), Some(key_body)).await;
    app.ok(&BOB, "POST", &format!("/v1/bots/{}/revoke-keys", bots[1]), None).await;
    let latest = app.events(&BOB, &format!("&bot={}&actor=system:revoke-keys", bots[1])).await;
    assert_eq!(latest.len(), 2, "both of Bob's keys");
    for event in &latest {
        assert_eq!(event["on_behalf_of"], json!("bob"));
        assert_eq!(event["reason"], json!("all keys of the bot user revoked"));
    }
}

/// What must never be stored or shown for a key: the raw key, its secret, the digest (hex in
/// both cases, base64).
fn forbidden(raw: &str, digest: &[u8]) -> Vec<(String, &'static str)> {
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    vec![
        (raw.to_owned(), "raw key"),
        (raw[39..82].to_owned(), "secret"),
        (hex.to_uppercase(), "digest (HEX)"),
        (hex, "digest (hex)"),
        (STANDARD.encode(digest), "digest (base64)"),
    ]
}

async fn no_event_holds_a_raw_key_a_secret_or_a_digest<S: Store + Clone>(w: World<S>) {
    let bot = w.bot().await;
    let mut secrets = Vec::new();
    let mut keys = Vec::new();
    for _ in 0..3 {
        let (new, raw) = w.new_key(&bot, TimeDelta::days(1));
        secrets.extend(forbidden(raw.expose(), new.hash.as_bytes()));
        w.store.create_key(&new, w.cap(), w.now()).await.unwrap();
        keys.push(new.key);
    }
    let (replacement, raw) = w.new_key(&bot, TimeDelta::days(1));
    secrets.extend(forbidden(raw.expose(), replacement.hash.as_bytes()));
    w.store
        .rotate_key(&w.team, keys[0].id, &replacement.replacing(keys[0].id), w.now(), w.cap(), w.now())
        .await
        .unwrap();
    w.store.revoke_key(&w.team, bot.id, keys[1].id, &w.owner, w.now()).await.unwrap();
    w.store.delete_bot(&w.team, bot.id, &w.owner, w.now()).await.unwrap();
    let app = app(w);
    let listed = serde_json::to_string(&app.events(&OWNER, "").await).unwrap();
    assert!(listed.contains("key.revoked"));
    let stored = app.w.stored_values().await;
    for (secret, what) in &secrets {
        assert!(!listed.contains(secret.as_str()), "an event lists a key's {what}");
        let digest_attribute = stored.iter().filter(|value| value.contains(secret.as_str())).count();
        // The key items hold the digest, once per key; nothing else may hold any of these.
        let allowed = usize::from(what.starts_with("digest (hex)"));
        assert!(digest_attribute <= allowed, "a stored value holds a key's {what}");
    }
}

async fn events_outlive_the_purge_of_their_keys_and_bot_user<S: Store + Clone>(w: World<S>) {
    let bot = w.bot().await;
    w.clock.advance(TimeDelta::seconds(1));
    let (key, _) = w.key(&bot).await;
    w.clock.advance(TimeDelta::seconds(1));
    w.store.revoke_key(&w.team, bot.id, key.id, &w.owner, w.now()).await.unwrap();
    w.clock.advance(TimeDelta::seconds(1));
    w.store.delete_bot(&w.team, bot.id, &w.owner, w.now()).await.unwrap();
    let before = w.store.list_events(&w.team, &AuditQuery::default(), None, 100).await.unwrap();
    assert_eq!(before.items.len(), 4);

    // The key's and the bot user's retention ends; the table's TTL purges both items.
    let after_purge = match &w.backing {
        Backing::Dynamo { client, table } => {
            let scan = client.scan().table_name(table).send().await.unwrap();
            let mut purged = 0;
            for item in scan.items() {
                let Some(AttributeValue::S(pk)) = item.get("pk") else { panic!("an item without pk") };
                if pk.starts_with("BOT#") || pk.starts_with("TEAM#") {
                    let key = [("pk", item["pk"].clone()), ("sk", item["sk"].clone())];
                    let request = client.delete_item().table_name(table);
                    let request = key.into_iter().fold(request, |r, (name, value)| r.key(name, value));
                    request.send().await.unwrap();
                    purged += 1;
                }
            }
            assert_eq!(purged, 2, "the key item and the bot user item");
            w.store.list_events(&w.team, &AuditQuery::default(), None, 100).await.unwrap()
        }
        Backing::Sqlite { path, .. } => {
            let later = w.now() + TimeDelta::days(31);
            let reopened = EmbeddedStore::open(path, w.limits.retention, later).unwrap();
            let db = rusqlite::Connection::open(path).unwrap();
            let left: i64 = db
                .query_row("SELECT (SELECT COUNT(*) FROM keys) + (SELECT COUNT(*) FROM bots)", [], |r| {
                    r.get(0)
                })
                .unwrap();
            assert_eq!(left, 0, "the key and the bot user are purged");
            let page = reopened.list_events(&w.team, &AuditQuery::default(), None, 100).await.unwrap();
            // Only past the audit retention do the entries go too.
            let much_later = w.now() + TimeDelta::days(401);
            let gone = EmbeddedStore::open(path, w.limits.retention, much_later).unwrap();
            assert!(
                gone.list_events(&w.team, &AuditQuery::default(), None, 100).await.unwrap().items.is_empty()
            );
            page
        }
    };
    assert_eq!(after_purge, before);
    let actions: Vec<Action> = after_purge.items.iter().map(|item| item.event.action).collect();
    assert_eq!(actions, [Action::BotDeleted, Action::KeyRevoked, Action::KeyCreated, Action::BotCreated]);
    assert_eq!(after_purge.items[1].event.reason, None, "revoked before the deletion: by its person");
}

async fn revocations<S: AuditStore>(store: &S, w: &World<impl Store>) -> usize {
    let page = store.list_events(&w.team, &AuditQuery::default(), None, 100).await.unwrap();
    page.items.iter().filter(|item| item.event.action == Action::KeyRevoked).count()
}

async fn a_revocation_that_fails_leaves_no_event_and_an_event_never_exists_without_its_change<
    S: Store + Clone,
>(
    w: World<S>,
) {
    let bot = w.bot().await;
    let (key, _) = w.key(&bot).await;
    match &w.backing {
        Backing::Dynamo { client, table } => {
            let store = DynamoStore::new(client.clone(), table, w.limits.retention);
            // 1. Another writer revokes the key between our read and our transaction: our
            // revocation's condition fails, the transaction is cancelled, no entry is written,
            // and the repeat finds the key revoked (by someone who wrote no entry).
            let (client2, table2, bot_id, key_id) = (client.clone(), table.clone(), bot.id, key.id);
            let racing = store.clone().with_race_hook(once_at(RacePoint::Revoke, move || async move {
                client2
                    .update_item()
                    .table_name(table2)
                    .key("pk", AttributeValue::S(format!("BOT#{bot_id}")))
                    .key("sk", AttributeValue::S(format!("KEY#{key_id}")))
                    .update_expression("SET revoked_at = :t, revoked_by = :by")
                    .expression_attribute_values(":t", AttributeValue::N("1".into()))
                    .expression_attribute_values(":by", AttributeValue::S("intruder".into()))
                    .send()
                    .await
                    .unwrap();
            }));
            let answered = racing.revoke_key(&w.team, bot.id, key.id, &w.owner, w.now()).await.unwrap();
            assert_eq!(answered.revoked_by.unwrap().as_str(), "intruder");
            assert_eq!(revocations(&store, &w).await, 0, "a change that did not happen has no event");

            // 2. DynamoDB refuses the transaction: neither the change nor its entry exist.
            let (other, _) = w.key(&bot).await;
            let proxy = FaultProxy::start(&nico_keys_tests::dynamodb_endpoint()).await;
            let faulty = DynamoStore::new(
                client_via(CallBudget::MANAGEMENT, &proxy.endpoint()),
                table,
                w.limits.retention,
            );
            proxy.set(Fault::ServerError, Calls::Writes).await;
            let failed = faulty.revoke_key(&w.team, bot.id, other.id, &w.owner, w.now()).await;
            assert!(matches!(failed, Err(StoreError::Unavailable(_))), "{failed:?}");
            proxy.set(Fault::None, Calls::All).await;
            assert_eq!(store.get_key(&w.team, bot.id, other.id).await.unwrap().revoked_at, None);
            assert_eq!(revocations(&store, &w).await, 0);

            // 3. The transaction commits but its answer is lost: the SDK's retry is answered
            // with the first success, and change and entry exist once each.
            proxy.set_times(Fault::Truncate, Calls::Writes, 1).await;
            faulty.revoke_key(&w.team, bot.id, other.id, &w.owner, w.now()).await.unwrap();
            assert!(store.get_key(&w.team, bot.id, other.id).await.unwrap().revoked_at.is_some());
            assert_eq!(revocations(&store, &w).await, 1);
        }
        Backing::Sqlite { path, .. } => {
            // A failure injected inside the transaction, after the key's update and before
            // the entry's insert, and the other way round.
            let db = rusqlite::Connection::open(path).unwrap();
            db.execute_batch(
                "CREATE TRIGGER no_entries BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'injected'); END;",
            )
            .unwrap();
            let failed = w.store.revoke_key(&w.team, bot.id, key.id, &w.owner, w.now()).await;
            assert!(failed.is_err(), "{failed:?}");
            assert_eq!(
                w.store.get_key(&w.team, bot.id, key.id).await.unwrap().revoked_at,
                None,
                "no change without its event"
            );
            db.execute_batch(
                "DROP TRIGGER no_entries; CREATE TRIGGER no_revocations BEFORE UPDATE ON keys \
                 BEGIN SELECT RAISE(ABORT, 'injected'); END;",
            )
            .unwrap();
            let failed = w.store.revoke_key(&w.team, bot.id, key.id, &w.owner, w.now()).await;
            assert!(matches!(failed, Err(StoreError::Unavailable(_))), "{failed:?}");
            assert_eq!(revocations(&w.store, &w).await, 0, "no event without its change");
            db.execute_batch("DROP TRIGGER no_revocations;").unwrap();
            w.store.revoke_key(&w.team, bot.id, key.id, &w.owner, w.now()).await.unwrap();
            assert_eq!(revocations(&w.store, &w).await, 1);
        }
    }
}
