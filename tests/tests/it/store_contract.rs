//! The store contract: every behaviour both stores promise, run against DynamoDB (moto) and
//! the embedded SQLite store alike. Each test gets a fresh world (its own table or file).
//!
//! Run with `./scripts/test`; the `dynamodb::` half needs the moto server it starts.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::TimeDelta;
use nico_keys::model::KeyStatus;
use nico_keys::store::{BotChange, Rejection, Store, StoreError, VerifyError};
use nico_keys::token::RawKey;
use nico_keys::{KeyId, TeamId};
use nico_keys_tests::contract::{rejection, verify_ok};
use nico_keys_tests::world::World;

nico_keys_tests::contract!(
    a_new_key_verifies_as_its_bot_user_with_its_scopes,
    revoked_key_is_rejected_immediately,
    revoking_again_changes_nothing,
    a_revoked_key_never_becomes_active_again,
    key_expires_at_the_exact_millisecond,
    wrong_secret_unknown_key_and_malformed_key_are_rejected,
    keys_of_one_team_are_invisible_to_another,
    unknown_ids_are_not_found,
    keys_list_in_creation_order_across_pages,
    bot_users_list_in_creation_order_across_pages_without_deleted_ones,
    no_key_can_be_created_for_a_missing_or_deleted_bot_user,
    deleting_a_bot_user_revokes_all_its_keys,
    deleting_a_bot_user_twice_succeeds_and_keeps_the_first_deletion,
    keys_of_a_deleted_bot_user_cannot_be_revoked_or_rotated,
    deletion_racing_key_creation_never_leaves_a_working_key,
    verification_never_succeeds_once_revoke_has_returned,
    keys_list_whole_even_when_the_store_pages_below_the_limit,
    no_stored_value_contains_a_raw_key_or_secret,
    keys_stay_within_their_bot_users_scopes,
    bot_users_list_for_their_account,
    a_bot_user_changes_in_one_step_with_the_revocation_of_its_keys,
);

async fn a_new_key_verifies_as_its_bot_user_with_its_scopes<S: Store>(w: World<S>) {
    let bot = w.bot().await;
    let (key, raw) = w.key(&bot).await;

    let principal = verify_ok(w.store.verify(raw.expose(), w.now()).await);
    assert_eq!(principal.bot_id, bot.id);
    assert_eq!(principal.team_id, w.team);
    assert_eq!(principal.key_id, key.id);
    assert_eq!(principal.scopes.joined(), "projects:read projects:write");

    let stored = w.store.get_key(&w.team, bot.id, key.id).await.unwrap();
    assert_eq!(stored, key);
    assert_eq!(stored.status(w.now()), KeyStatus::Active);
}

async fn revoked_key_is_rejected_immediately<S: Store>(w: World<S>) {
    let bot = w.bot().await;
    let (key, raw) = w.key(&bot).await;

    let revoked = w.store.revoke_key(&w.team, bot.id, key.id, &w.owner, w.now()).await.unwrap();
    assert_eq!(revoked.revoked_at, Some(w.now()));
    assert_eq!(revoked.revoked_by.as_ref(), Some(&w.owner));
    assert_eq!(rejection(w.store.verify(raw.expose(), w.now()).await), Rejection::Revoked);

    let listed = w.store.list_keys(&w.team, bot.id, None, 10).await.unwrap();
    assert_eq!(listed.items[0].status(w.now()), KeyStatus::Revoked);
}

async fn revoking_again_changes_nothing<S: Store>(w: World<S>) {
    let bot = w.bot().await;
    let (key, _) = w.key(&bot).await;
    let first = w.store.revoke_key(&w.team, bot.id, key.id, &w.owner, w.now()).await.unwrap();

    w.clock.advance(TimeDelta::minutes(5));
    let other_owner = nico_keys::Subject::parse("owner-2").unwrap();
    let again = w.store.revoke_key(&w.team, bot.id, key.id, &other_owner, w.now()).await.unwrap();
    assert_eq!(again, first, "the first revocation's time and author stand");
}

async fn a_revoked_key_never_becomes_active_again<S: Store>(w: World<S>) {
    let bot = w.bot().await;
    let (key, raw) = w.key(&bot).await;
    w.store.revoke_key(&w.team, bot.id, key.id, &w.owner, w.now()).await.unwrap();

    let (replacement, _) = w.new_key(&bot, TimeDelta::days(1));
    let rotated =
        w.store.rotate_key(&w.team, key.id, &replacement.replacing(key.id), w.now(), w.cap(), w.now()).await;
    assert!(matches!(rotated, Err(StoreError::KeyRevoked)), "{rotated:?}");
    w.store.revoke_key(&w.team, bot.id, key.id, &w.owner, w.now()).await.unwrap();

    w.clock.advance(TimeDelta::days(1));
    assert_eq!(rejection(w.store.verify(raw.expose(), w.now()).await), Rejection::Revoked);
    let stored = w.store.get_key(&w.team, bot.id, key.id).await.unwrap();
    assert_eq!(stored.status(w.now()), KeyStatus::Revoked);
}

async fn key_expires_at_the_exact_millisecond<S: Store>(w: World<S>) {
    let bot = w.bot().await;
    let (key, raw) = w.key_for(&bot, TimeDelta::hours(1)).await;

    w.clock.set(key.expires_at - TimeDelta::milliseconds(1));
    verify_ok(w.store.verify(raw.expose(), w.now()).await);
    assert_eq!(key.status(w.now()), KeyStatus::Active);

    w.clock.set(key.expires_at);
    assert_eq!(rejection(w.store.verify(raw.expose(), w.now()).await), Rejection::Expired);
    let stored = w.store.get_key(&w.team, bot.id, key.id).await.unwrap();
    assert_eq!(stored.status(w.now()), KeyStatus::Expired);
}

async fn wrong_secret_unknown_key_and_malformed_key_are_rejected<S: Store>(w: World<S>) {
    let bot = w.bot().await;
    let (_, raw) = w.key(&bot).await;
    let (never_stored, unknown) = w.new_key(&bot, TimeDelta::days(1));
    drop(never_stored);

    assert_eq!(rejection(w.store.verify(unknown.expose(), w.now()).await), Rejection::UnknownKey);

    // Same ids, another secret with a valid checksum: only the digest comparison can tell.
    let forged = forge_secret(&raw);
    assert_eq!(rejection(w.store.verify(&forged, w.now()).await), Rejection::WrongSecret);

    let malformed = &raw.expose()[..40];
    assert_eq!(rejection(w.store.verify(malformed, w.now()).await).reason(), "malformed");
}

/// The same key ids with a different secret and a recomputed, valid checksum.
pub(crate) fn forge_secret(raw: &RawKey) -> String {
    let (head, _) = raw.expose().split_at(39);
    let body = format!("{head}{}", "A".repeat(43));
    let checksum = crc32_base62(&body);
    format!("{body}{checksum}")
}

fn crc32_base62(text: &str) -> String {
    // Independent of the crate's own encoder on purpose: the format as documented.
    let mut value = u64::from(crc32(text.as_bytes()));
    let alphabet = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut out = [b'0'; 6];
    for slot in out.iter_mut().rev() {
        *slot = alphabet[(value % 62) as usize];
        value /= 62;
    }
    String::from_utf8(out.to_vec()).unwrap()
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

async fn keys_of_one_team_are_invisible_to_another<S: Store>(w: World<S>) {
    let bot = w.bot().await;
    let (key, raw) = w.key(&bot).await;
    let other = TeamId::parse("team-b").unwrap();
    let theirs = w.bot_in(&other, "their bot").await;

    assert!(matches!(w.store.get_bot(&other, bot.id).await, Err(StoreError::BotNotFound)));
    assert!(matches!(w.store.list_keys(&other, bot.id, None, 10).await, Err(StoreError::BotNotFound)));
    assert!(matches!(w.store.get_key(&other, bot.id, key.id).await, Err(StoreError::BotNotFound)));
    let revoked = w.store.revoke_key(&other, bot.id, key.id, &w.owner, w.now()).await;
    assert!(matches!(revoked, Err(StoreError::BotNotFound)), "{revoked:?}");
    let (mut smuggled, _) = w.new_key(&bot, TimeDelta::days(1));
    smuggled.key.team_id = other.clone();
    let rotated =
        w.store.rotate_key(&other, key.id, &smuggled.replacing(key.id), w.now(), w.cap(), w.now()).await;
    assert!(matches!(rotated, Err(StoreError::BotNotFound)), "{rotated:?}");
    assert!(matches!(
        w.store.delete_bot(&other, bot.id, &w.owner, w.now()).await,
        Err(StoreError::BotNotFound)
    ));

    let listed = w.store.list_bots(&other, None, None, 10).await.unwrap();
    assert_eq!(listed.items.iter().map(|b| b.id).collect::<Vec<_>>(), [theirs.id]);
    verify_ok(w.store.verify(raw.expose(), w.now()).await);
}

async fn unknown_ids_are_not_found<S: Store>(w: World<S>) {
    let bot = w.bot().await;
    let missing_bot = nico_keys::BotId::generate(w.now());
    let missing_key = KeyId::generate(w.now());

    assert!(matches!(w.store.get_bot(&w.team, missing_bot).await, Err(StoreError::BotNotFound)));
    assert!(matches!(w.store.get_key(&w.team, bot.id, missing_key).await, Err(StoreError::KeyNotFound)));
    assert!(matches!(
        w.store.revoke_key(&w.team, bot.id, missing_key, &w.owner, w.now()).await,
        Err(StoreError::KeyNotFound)
    ));
    let (replacement, _) = w.new_key(&bot, TimeDelta::days(1));
    let rotated = w
        .store
        .rotate_key(&w.team, missing_key, &replacement.replacing(missing_key), w.now(), w.cap(), w.now())
        .await;
    assert!(matches!(rotated, Err(StoreError::KeyNotFound)), "{rotated:?}");
    assert!(matches!(
        w.store.delete_bot(&w.team, missing_bot, &w.owner, w.now()).await,
        Err(StoreError::BotNotFound)
    ));
}

async fn keys_list_in_creation_order_across_pages<S: Store>(w: World<S>) {
    let bot = w.bot().await;
    let mut created = Vec::new();
    for _ in 0..7 {
        created.push(w.key(&bot).await.0.id);
        w.clock.advance(TimeDelta::milliseconds(1));
    }

    let mut seen = Vec::new();
    let mut after = None;
    let mut pages = 0;
    loop {
        let page = w.store.list_keys(&w.team, bot.id, after, 3).await.unwrap();
        pages += 1;
        assert!(page.items.len() <= 3);
        seen.extend(page.items.iter().map(|k| k.id));
        if !page.more {
            break;
        }
        after = seen.last().copied();
    }
    assert_eq!(seen, created);
    assert_eq!(pages, 3);
}

async fn bot_users_list_in_creation_order_across_pages_without_deleted_ones<S: Store>(w: World<S>) {
    let mut live = Vec::new();
    for i in 0..8 {
        let bot = w.bot().await;
        w.clock.advance(TimeDelta::milliseconds(1));
        if i % 3 == 1 {
            w.store.delete_bot(&w.team, bot.id, &w.owner, w.now()).await.unwrap();
        } else {
            live.push(bot.id);
        }
    }

    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = w.store.list_bots(&w.team, None, after, 2).await.unwrap();
        assert!(page.items.len() <= 2);
        assert!(page.items.iter().all(|b| b.deleted_at.is_none()));
        seen.extend(page.items.iter().map(|b| b.id));
        if !page.more {
            break;
        }
        after = seen.last().copied();
    }
    assert_eq!(seen, live);
}

async fn no_key_can_be_created_for_a_missing_or_deleted_bot_user<S: Store>(w: World<S>) {
    let bot = w.bot().await;
    w.store.delete_bot(&w.team, bot.id, &w.owner, w.now()).await.unwrap();
    let (new, raw) = w.new_key(&bot, TimeDelta::days(1));
    let created = w.store.create_key(&new, 50, w.now()).await;
    assert!(matches!(created, Err(StoreError::BotDeleted)), "{created:?}");
    assert_eq!(rejection(w.store.verify(raw.expose(), w.now()).await), Rejection::UnknownKey);

    let mut ghost = bot.clone();
    ghost.id = nico_keys::BotId::generate(w.now());
    let (new, _) = w.new_key(&ghost, TimeDelta::days(1));
    let created = w.store.create_key(&new, 50, w.now()).await;
    assert!(matches!(created, Err(StoreError::BotNotFound)), "{created:?}");
}

async fn deleting_a_bot_user_revokes_all_its_keys<S: Store>(w: World<S>) {
    let bot = w.bot().await;
    let mut raws = Vec::new();
    for _ in 0..5 {
        raws.push(w.key(&bot).await.1);
    }
    let (early, _) = w.key(&bot).await;
    let early = w.store.revoke_key(&w.team, bot.id, early.id, &w.owner, w.now()).await.unwrap();
    let (_expired, _) = w.key_for(&bot, TimeDelta::minutes(1)).await;

    w.clock.advance(TimeDelta::minutes(2));
    let deleted = w.store.delete_bot(&w.team, bot.id, &w.owner, w.now()).await.unwrap();
    assert_eq!(deleted.deleted_at, Some(w.now()));

    for raw in &raws {
        assert_eq!(rejection(w.store.verify(raw.expose(), w.now()).await), Rejection::Revoked);
    }
    let stored = w.store.get_bot(&w.team, bot.id).await.unwrap();
    assert_eq!(stored.deleted_at, Some(w.now()));
    assert!(matches!(w.store.list_keys(&w.team, bot.id, None, 10).await, Err(StoreError::BotDeleted)));
    assert!(matches!(w.store.get_key(&w.team, bot.id, early.id).await, Err(StoreError::BotDeleted)));
}

async fn deleting_a_bot_user_twice_succeeds_and_keeps_the_first_deletion<S: Store>(w: World<S>) {
    let bot = w.bot().await;
    let (_, raw) = w.key(&bot).await;
    let first = w.store.delete_bot(&w.team, bot.id, &w.owner, w.now()).await.unwrap();
    w.clock.advance(TimeDelta::minutes(1));
    let again = w.store.delete_bot(&w.team, bot.id, &w.owner, w.now()).await.unwrap();
    assert_eq!(again.deleted_at, first.deleted_at);
    assert_eq!(rejection(w.store.verify(raw.expose(), w.now()).await), Rejection::Revoked);
}

async fn keys_of_a_deleted_bot_user_cannot_be_revoked_or_rotated<S: Store>(w: World<S>) {
    let bot = w.bot().await;
    let (key, _) = w.key(&bot).await;
    let (revoked_before, _) = w.key(&bot).await;
    w.store.revoke_key(&w.team, bot.id, revoked_before.id, &w.owner, w.now()).await.unwrap();
    w.store.delete_bot(&w.team, bot.id, &w.owner, w.now()).await.unwrap();

    for id in [key.id, revoked_before.id] {
        let revoked = w.store.revoke_key(&w.team, bot.id, id, &w.owner, w.now()).await;
        assert!(matches!(revoked, Err(StoreError::BotDeleted)), "{revoked:?}");
    }
    let (replacement, _) = w.new_key(&bot, TimeDelta::days(1));
    let rotated =
        w.store.rotate_key(&w.team, key.id, &replacement.replacing(key.id), w.now(), w.cap(), w.now()).await;
    assert!(matches!(rotated, Err(StoreError::BotDeleted)), "{rotated:?}");
}

async fn deletion_racing_key_creation_never_leaves_a_working_key<S: Store + 'static>(w: World<S>) {
    let w = Arc::new(w);
    let rounds = 24;
    let mut created_first = 0;
    for round in 0..rounds {
        let bot = w.bot().await;
        let (new, raw) = w.new_key(&bot, TimeDelta::days(1));
        // Staggered starts: the deleter sets off 0 to 5 ms after the creator, so some rounds
        // the create commits first (and the deletion must revoke it) and some it comes late.
        let stagger = std::time::Duration::from_millis(round % 6);
        let creator = {
            let w = Arc::clone(&w);
            tokio::spawn(async move { w.store.create_key(&new, 50, w.now()).await })
        };
        let deleter = {
            let w = Arc::clone(&w);
            tokio::spawn(async move {
                tokio::time::sleep(stagger).await;
                w.store.delete_bot(&w.team, bot.id, &w.owner, w.now()).await
            })
        };
        let (created, deleted) = (creator.await.unwrap(), deleter.await.unwrap());
        deleted.unwrap();
        let verdict = w.store.verify(raw.expose(), w.now()).await;
        match created {
            Ok(()) => {
                created_first += 1;
                assert!(
                    matches!(verdict, Err(VerifyError::Rejected(Rejection::Revoked))),
                    "round {round}: a key created before the deletion still works: {verdict:?}"
                );
            }
            Err(StoreError::BotDeleted) => assert!(
                matches!(verdict, Err(VerifyError::Rejected(Rejection::UnknownKey))),
                "round {round}: a refused create stored a key: {verdict:?}"
            ),
            other => panic!("round {round}: create ended with {other:?}"),
        }
    }
    assert!(created_first > 0, "no round had the create commit before the deletion: the race never happened");
}

async fn verification_never_succeeds_once_revoke_has_returned<S: Store + 'static>(w: World<S>) {
    let w = Arc::new(w);
    let bot = w.bot().await;
    for _ in 0..5 {
        let (key, raw) = w.key(&bot).await;
        let raw = Arc::new(raw);
        let revoked = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let checker = {
            let (w, raw, revoked) = (Arc::clone(&w), Arc::clone(&raw), Arc::clone(&revoked));
            tokio::spawn(async move {
                let mut checks = 0;
                loop {
                    let was_revoked = revoked.load(std::sync::atomic::Ordering::SeqCst);
                    let verdict = w.store.verify(raw.expose(), w.now()).await;
                    checks += 1;
                    if was_revoked {
                        assert!(
                            matches!(verdict, Err(VerifyError::Rejected(Rejection::Revoked))),
                            "after revoke returned: {verdict:?}"
                        );
                        if checks > 20 {
                            return checks;
                        }
                    }
                }
            })
        };
        tokio::task::yield_now().await;
        w.store.revoke_key(&w.team, bot.id, key.id, &w.owner, w.now()).await.unwrap();
        revoked.store(true, std::sync::atomic::Ordering::SeqCst);
        checker.await.unwrap();
        assert_eq!(rejection(w.store.verify(raw.expose(), w.now()).await), Rejection::Revoked);
    }
}

async fn keys_list_whole_even_when_the_store_pages_below_the_limit<S: Store>(w: World<S>) {
    // DynamoDB ends a query page at 1 MB whatever its limit: 30 keys with 40 KB names make
    // the first page stop after about 24. The listing must follow the cursor and still return
    // every key asked for, and say when more follow.
    let bot = w.bot().await;
    let mut created = Vec::new();
    for i in 0..30 {
        let (mut new, _) = w.new_key(&bot, TimeDelta::days(1));
        new.key.name =
            nico_keys::Name::parse(&format!("{i:02}{}", "\u{1d11e}".repeat(9_998)), 10_000).unwrap();
        w.store.create_key(&new, w.cap(), w.now()).await.unwrap();
        created.push(new.key.id);
        w.clock.advance(TimeDelta::milliseconds(1));
    }
    let page = w.store.list_keys(&w.team, bot.id, None, 28).await.unwrap();
    assert_eq!(page.items.iter().map(|k| k.id).collect::<Vec<_>>(), created[..28]);
    assert!(page.more, "more keys follow");
    let rest = w.store.list_keys(&w.team, bot.id, Some(created[27]), 28).await.unwrap();
    assert_eq!(rest.items.iter().map(|k| k.id).collect::<Vec<_>>(), created[28..]);
    assert!(!rest.more);
}

async fn no_stored_value_contains_a_raw_key_or_secret<S: Store>(w: World<S>) {
    let bot = w.bot().await;
    let mut raws = Vec::new();
    for _ in 0..3 {
        raws.push(w.key(&bot).await);
    }
    let (old, _) = &raws[0];
    let (replacement, new_raw) = w.new_key(&bot, TimeDelta::days(1));
    w.store
        .rotate_key(&w.team, old.id, &replacement.replacing(old.id), w.now(), w.cap(), w.now())
        .await
        .unwrap();
    w.store.revoke_key(&w.team, bot.id, raws[1].0.id, &w.owner, w.now()).await.unwrap();

    let stored = w.stored_values().await.join("\n");
    let mut secrets: HashSet<String> = HashSet::new();
    for raw in raws.iter().map(|(_, raw)| raw).chain([&new_raw]) {
        let full = raw.expose();
        secrets.insert(full.to_owned());
        secrets.insert(full[39..82].to_owned()); // the secret
        secrets.insert(full[39..60].to_owned()); // half of it
    }
    for secret in &secrets {
        assert!(!stored.contains(secret.as_str()), "a stored value contains a raw key or secret");
    }
    assert!(stored.contains(raws[2].0.id.as_str()), "the scan really saw the keys");
}

async fn keys_stay_within_their_bot_users_scopes<S: Store>(w: World<S>) {
    let bot = w.bot_for("alice", &["projects:read"]).await;
    let (within, raw) = w.new_key_with(&bot, TimeDelta::days(1), &["projects:read"]);
    w.store.create_key(&within, w.cap(), w.now()).await.unwrap();
    verify_ok(w.store.verify(raw.expose(), w.now()).await);
    let (wider, raw) = w.new_key_with(&bot, TimeDelta::days(1), &["projects:read", "projects:write"]);
    let refused = w.store.create_key(&wider, w.cap(), w.now()).await;
    assert!(
        matches!(&refused, Err(StoreError::OutsideCeiling { scope }) if scope == "projects:write"),
        "{refused:?}"
    );
    assert_eq!(rejection(w.store.verify(raw.expose(), w.now()).await), Rejection::UnknownKey);
}

async fn bot_users_list_for_their_account<S: Store>(w: World<S>) {
    let alices = w.bot_for("alice", &["projects:read"]).await;
    w.clock.advance(TimeDelta::milliseconds(1));
    let bobs = w.bot_for("bob", &["projects:read"]).await;
    w.clock.advance(TimeDelta::milliseconds(1));
    let owners = w.bot().await;
    let ids = |page: nico_keys::store::Page<nico_keys::BotUser>| {
        page.items.into_iter().map(|b| b.id).collect::<Vec<_>>()
    };
    let alice = nico_keys::Subject::parse("alice").unwrap();
    assert_eq!(ids(w.store.list_bots(&w.team, Some(&alice), None, 10).await.unwrap()), [alices.id]);
    assert_eq!(
        ids(w.store.list_bots(&w.team, None, None, 10).await.unwrap()),
        [alices.id, bobs.id, owners.id]
    );
    assert_eq!(ids(w.store.list_bots(&w.team, Some(&w.owner), None, 10).await.unwrap()), [owners.id]);
    let page = w.store.list_bots(&w.team, Some(&alice), None, 1).await.unwrap();
    assert!(!page.more, "no other bot user of alice's follows");
}

async fn a_bot_user_changes_in_one_step_with_the_revocation_of_its_keys<S: Store>(w: World<S>) {
    let bot = w.bot_for("alice", &["projects:read", "projects:write"]).await;
    let (writer, raw) = w.new_key_with(&bot, TimeDelta::days(1), &["projects:write"]);
    w.store.create_key(&writer, w.cap(), w.now()).await.unwrap();
    let narrower = BotChange { scopes: Some(w.scopes(&["projects:read"])), ..BotChange::default() };
    let refused = w.store.update_bot(&w.team, bot.id, &narrower, &w.owner, w.now()).await;
    assert!(
        matches!(&refused, Err(StoreError::KeysOutsideScopes { key }) if *key == writer.key.id),
        "{refused:?}"
    );
    verify_ok(w.store.verify(raw.expose(), w.now()).await);

    let bob = nico_keys::Subject::parse("bob").unwrap();
    let reassign = BotChange { account: Some(bob.clone()), revoke_keys: true, ..narrower };
    let (changed, revoked) = w.store.update_bot(&w.team, bot.id, &reassign, &w.owner, w.now()).await.unwrap();
    assert_eq!((changed.account, changed.scopes, revoked), (bob, Some(w.scopes(&["projects:read"])), 1));
    assert_eq!(rejection(w.store.verify(raw.expose(), w.now()).await), Rejection::Revoked);
    assert_eq!(w.store.get_bot(&w.team, bot.id).await.unwrap().name, bot.name, "a field not given stays");

    w.store.delete_bot(&w.team, bot.id, &w.owner, w.now()).await.unwrap();
    let rename = BotChange { name: Some(nico_keys::Name::parse("x", 10).unwrap()), ..BotChange::default() };
    let after = w.store.update_bot(&w.team, bot.id, &rename, &w.owner, w.now()).await;
    assert!(matches!(after, Err(StoreError::BotDeleted)), "{after:?}");
}
