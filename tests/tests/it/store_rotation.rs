//! The store contract, continued: rotation and the active-key cap, on both stores.

use std::sync::Arc;

use chrono::TimeDelta;
use nico_keys::model::rotation_deadline;
use nico_keys::store::{Rejection, Store, StoreError};
use nico_keys_tests::contract::{rejection, verify_ok};
use nico_keys_tests::world::World;

nico_keys_tests::contract!(
    active_key_cap_is_enforced_and_freed_by_revocation_and_expiry,
    active_key_cap_holds_under_concurrent_creates,
    rotation_keeps_the_old_key_until_the_grace_deadline,
    rotation_never_extends_the_old_keys_life,
    only_an_active_key_that_was_not_rotated_can_be_rotated,
    a_rotation_with_grace_counts_against_the_cap_and_one_without_does_not,
    a_key_inside_its_grace_period_cannot_be_rotated_again,
);

async fn active_key_cap_is_enforced_and_freed_by_revocation_and_expiry<S: Store>(w: World<S>) {
    let bot = w.bot().await;
    let cap = 3;
    let (short_lived, _) = w.new_key(&bot, TimeDelta::minutes(1));
    w.store.create_key(&short_lived, cap, w.now()).await.unwrap();
    let mut keys = vec![short_lived.key];
    for _ in 1..cap {
        let (new, _) = w.new_key(&bot, TimeDelta::days(1));
        w.store.create_key(&new, cap, w.now()).await.unwrap();
        keys.push(new.key);
    }

    let (over, _) = w.new_key(&bot, TimeDelta::days(1));
    let refused = w.store.create_key(&over, cap, w.now()).await;
    assert!(matches!(refused, Err(StoreError::ActiveKeyLimit { limit: 3 })), "{refused:?}");
    let listed = w.store.list_keys(&w.team, bot.id, None, 10).await.unwrap();
    assert_eq!(listed.items.len(), 3, "a refused create leaves nothing behind");

    w.store.revoke_key(&w.team, bot.id, keys[1].id, &w.owner, w.now()).await.unwrap();
    w.store.create_key(&over, cap, w.now()).await.unwrap();

    let (another, _) = w.new_key(&bot, TimeDelta::days(1));
    let refused = w.store.create_key(&another, cap, w.now()).await;
    assert!(matches!(refused, Err(StoreError::ActiveKeyLimit { limit: 3 })), "{refused:?}");
    w.clock.advance(TimeDelta::minutes(1));
    w.store.create_key(&another, cap, w.now()).await.unwrap();
}

async fn active_key_cap_holds_under_concurrent_creates<S: Store + 'static>(w: World<S>) {
    let w = Arc::new(w);
    let bot = w.bot().await;
    let cap = 3;
    let attempts: Vec<_> = (0..10)
        .map(|_| {
            let w = Arc::clone(&w);
            let (new, _) = w.new_key(&bot, TimeDelta::days(1));
            tokio::spawn(async move { w.store.create_key(&new, cap, w.now()).await })
        })
        .collect();
    let mut created = 0;
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok(()) => created += 1,
            Err(StoreError::ActiveKeyLimit { .. } | StoreError::Contention) => {}
            Err(other) => panic!("unexpected: {other}"),
        }
    }
    let listed = w.store.list_keys(&w.team, bot.id, None, 50).await.unwrap();
    assert_eq!(listed.items.len(), created);
    assert!(created <= cap as usize, "{created} keys created past a cap of {cap}");
    assert!(created >= 1);
}

async fn rotation_keeps_the_old_key_until_the_grace_deadline<S: Store>(w: World<S>) {
    let bot = w.bot().await;
    let (old, old_raw) = w.key(&bot).await;
    w.clock.advance(TimeDelta::hours(1));
    let deadline = rotation_deadline(old.expires_at, w.now(), w.grace());
    let (replacement, new_raw) = w.new_key(&bot, TimeDelta::days(30));
    let rotation = w
        .store
        .rotate_key(&w.team, old.id, &replacement.replacing(old.id), deadline, w.cap(), w.now())
        .await
        .unwrap();

    assert_eq!(rotation.old.expires_at, w.now() + TimeDelta::hours(24));
    assert_eq!(rotation.old.replaced_by, Some(rotation.new.id));
    assert_eq!(rotation.new.replaces, Some(old.id));
    assert_eq!(rotation.new.name, old.name);
    verify_ok(w.store.verify(new_raw.expose(), w.now()).await);
    verify_ok(w.store.verify(old_raw.expose(), w.now()).await);

    w.clock.set(deadline - TimeDelta::milliseconds(1));
    verify_ok(w.store.verify(old_raw.expose(), w.now()).await);
    w.clock.set(deadline);
    assert_eq!(rejection(w.store.verify(old_raw.expose(), w.now()).await), Rejection::Expired);
    verify_ok(w.store.verify(new_raw.expose(), w.now()).await);
    let stored = w.store.get_key(&w.team, bot.id, old.id).await.unwrap();
    assert_eq!(stored, rotation.old);
}

async fn rotation_never_extends_the_old_keys_life<S: Store>(w: World<S>) {
    let bot = w.bot().await;
    let (old, _) = w.key_for(&bot, TimeDelta::minutes(10)).await;
    let deadline = rotation_deadline(old.expires_at, w.now(), w.grace());
    assert_eq!(deadline, old.expires_at);
    let (replacement, _) = w.new_key(&bot, TimeDelta::days(1));
    let rotation = w
        .store
        .rotate_key(&w.team, old.id, &replacement.replacing(old.id), deadline, w.cap(), w.now())
        .await
        .unwrap();
    assert_eq!(rotation.old.expires_at, old.expires_at);

    let (late, _) = w.key_for(&bot, TimeDelta::minutes(10)).await;
    let (replacement, _) = w.new_key(&bot, TimeDelta::days(1));
    let too_late = late.expires_at + TimeDelta::minutes(1);
    let refused = w
        .store
        .rotate_key(&w.team, late.id, &replacement.replacing(late.id), too_late, w.cap(), w.now())
        .await;
    assert!(
        matches!(refused, Err(StoreError::Contention)),
        "a deadline past the key's expiry comes from a stale read and is refused: {refused:?}"
    );
}

async fn only_an_active_key_that_was_not_rotated_can_be_rotated<S: Store>(w: World<S>) {
    let bot = w.bot().await;
    let (old, _) = w.key(&bot).await;
    let (first, _) = w.new_key(&bot, TimeDelta::days(1));
    w.store.rotate_key(&w.team, old.id, &first.replacing(old.id), w.now(), w.cap(), w.now()).await.unwrap();
    let (second, _) = w.new_key(&bot, TimeDelta::days(1));
    let again =
        w.store.rotate_key(&w.team, old.id, &second.replacing(old.id), w.now(), w.cap(), w.now()).await;
    assert!(matches!(again, Err(StoreError::KeyAlreadyRotated)), "{again:?}");

    let (expiring, _) = w.key_for(&bot, TimeDelta::minutes(1)).await;
    w.clock.advance(TimeDelta::minutes(1));
    let (third, raw) = w.new_key(&bot, TimeDelta::days(1));
    let expired = w
        .store
        .rotate_key(&w.team, expiring.id, &third.replacing(expiring.id), w.now(), w.cap(), w.now())
        .await;
    assert!(matches!(expired, Err(StoreError::KeyExpired)), "{expired:?}");
    assert_eq!(
        rejection(w.store.verify(raw.expose(), w.now()).await),
        Rejection::UnknownKey,
        "a refused rotation stores no replacement"
    );
}

async fn a_rotation_with_grace_counts_against_the_cap_and_one_without_does_not<S: Store>(w: World<S>) {
    let bot = w.bot().await;
    let cap = 2;
    let (first, _) = w.new_key(&bot, TimeDelta::days(1));
    w.store.create_key(&first, cap, w.now()).await.unwrap();
    let deadline = rotation_deadline(first.key.expires_at, w.now(), w.grace());
    let (second, _) = w.new_key(&bot, TimeDelta::days(1));
    let second = second.replacing(first.key.id);
    w.store.rotate_key(&w.team, first.key.id, &second, deadline, cap, w.now()).await.unwrap();

    // Two working keys now: the first inside its grace period, and its replacement.
    let (extra, _) = w.new_key(&bot, TimeDelta::days(1));
    let refused = w.store.create_key(&extra, cap, w.now()).await;
    assert!(matches!(refused, Err(StoreError::ActiveKeyLimit { limit: 2 })), "{refused:?}");
    let (third, raw) = w.new_key(&bot, TimeDelta::days(1));
    let third = third.replacing(second.key.id);
    let with_grace = rotation_deadline(second.key.expires_at, w.now(), w.grace());
    let refused = w.store.rotate_key(&w.team, second.key.id, &third, with_grace, cap, w.now()).await;
    assert!(matches!(refused, Err(StoreError::ActiveKeyLimit { limit: 2 })), "{refused:?}");
    assert_eq!(rejection(w.store.verify(raw.expose(), w.now()).await), Rejection::UnknownKey);

    // Without grace the old key stops as the new one starts: the count stays at two.
    w.store.rotate_key(&w.team, second.key.id, &third, w.now(), cap, w.now()).await.unwrap();
    verify_ok(w.store.verify(raw.expose(), w.now()).await);
}

async fn a_key_inside_its_grace_period_cannot_be_rotated_again<S: Store>(w: World<S>) {
    let bot = w.bot().await;
    let (old, old_raw) = w.key(&bot).await;
    let deadline = rotation_deadline(old.expires_at, w.now(), w.grace());
    let (first, _) = w.new_key(&bot, TimeDelta::days(1));
    let first_id = first.key.id;
    w.store.rotate_key(&w.team, old.id, &first.replacing(old.id), deadline, w.cap(), w.now()).await.unwrap();
    verify_ok(w.store.verify(old_raw.expose(), w.now()).await);

    let (second, second_raw) = w.new_key(&bot, TimeDelta::days(1));
    let again =
        w.store.rotate_key(&w.team, old.id, &second.replacing(old.id), deadline, w.cap(), w.now()).await;
    assert!(matches!(again, Err(StoreError::KeyAlreadyRotated)), "{again:?}");
    assert_eq!(rejection(w.store.verify(second_raw.expose(), w.now()).await), Rejection::UnknownKey);
    let stored = w.store.get_key(&w.team, bot.id, old.id).await.unwrap();
    assert_eq!(stored.replaced_by, Some(first_id), "the first rotation stands");
}
