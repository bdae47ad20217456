//! Expiry warnings end to end: keys in a store (DynamoDB on moto, and the embedded store), the
//! notifier, moto's SNS topic and an SQS queue subscribed to it, read back as a subscriber
//! would. What arrives is exactly the warnings due, once each, whatever runs repeat, overlap,
//! crash between publishing and marking, or fail to publish.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::TimeDelta;
use nico_keys::expiry::{self, ExpiringKey, Warning};
use nico_keys::model::format_time;
use nico_keys::store::dynamodb::DynamoStore;
use nico_keys::store::embedded::EmbeddedStore;
use nico_keys::store::{BotStore, ExpiryStore, KeyStore, Store};
use nico_keys::{ApiKey, KeyId};
use nico_keys_tests::sns::{Delivered, Inbox};
use nico_keys_tests::world::{Backing, World};
use notifier::{Notifier, Report, SnsPublisher};

/// Which key got which warning, as delivered.
fn received(messages: &[Delivered]) -> BTreeSet<(String, String)> {
    messages
        .iter()
        .map(|m| {
            (m.body["key"]["id"].as_str().unwrap().to_owned(), m.body["warning"].as_str().unwrap().to_owned())
        })
        .collect()
}

fn warned(key: &ApiKey, warning: Warning) -> (String, String) {
    (key.id.to_string(), warning.label().to_owned())
}

async fn notifier<S: Store + ExpiryStore + Clone>(
    w: &World<S>,
    topic_arn: &str,
) -> Notifier<S, SnsPublisher> {
    Notifier::new(w.store.clone(), SnsPublisher::from_env(topic_arn).await, Arc::new(w.clock.clone()))
}

/// The keys of the list, made a month before the run they are checked at.
struct Keys {
    eight_days: ApiKey,
    six_days: ApiKey,
    twenty_hours: ApiKey,
    half_day_lifetime: ApiKey,
    expired: ApiKey,
    revoked: ApiKey,
    rotated_out: ApiKey,
    replacement: ApiKey,
}

async fn keys<S: Store>(w: &World<S>) -> Keys {
    let bot = w.bot().await;
    let month = TimeDelta::days(30);
    let (eight_days, _) = w.key_for(&bot, month + TimeDelta::days(8)).await;
    let (six_days, _) = w.key_for(&bot, month + TimeDelta::days(6)).await;
    let (twenty_hours, _) = w.key_for(&bot, month + TimeDelta::hours(20)).await;
    let (expired, _) = w.key_for(&bot, month - TimeDelta::days(1)).await;
    let (revoked, _) = w.key_for(&bot, month + TimeDelta::days(5)).await;
    let (rotated, _) = w.key_for(&bot, month + TimeDelta::days(5)).await;
    w.store.revoke_key(&w.team, bot.id, revoked.id, &w.owner, w.now()).await.unwrap();
    w.clock.advance(month - TimeDelta::hours(2));
    // Made 2 hours before the run, for 12 hours: shorter-lived than either warning's lead.
    let (half_day_lifetime, _) = w.key_for(&bot, TimeDelta::hours(12)).await;
    // Rotated out: its expiry is now the grace deadline, a day away; its replacement lasts.
    let (new, _) = w.new_key(&bot, TimeDelta::days(90));
    let new = new.replacing(rotated.id);
    let deadline = w.now() + TimeDelta::hours(20);
    let rotation = w.store.rotate_key(&w.team, rotated.id, &new, deadline, w.cap(), w.now()).await.unwrap();
    w.clock.advance(TimeDelta::hours(2));
    Keys {
        eight_days,
        six_days,
        twenty_hours,
        half_day_lifetime,
        expired,
        revoked,
        rotated_out: rotation.old,
        replacement: rotation.new,
    }
}

async fn due_keys_get_exactly_their_warnings_once<S: Store + ExpiryStore + Clone>(w: World<S>) {
    let inbox = Inbox::new().await;
    let k = keys(&w).await;
    let notifier = notifier(&w, &inbox.topic_arn).await;

    let report = notifier.run().await.unwrap();
    let messages = inbox.drain().await;
    assert_eq!(
        received(&messages),
        BTreeSet::from([warned(&k.six_days, Warning::SevenDays), warned(&k.twenty_hours, Warning::OneDay)]),
        "only the 6-day key (7-day warning) and the 20-hour key (1-day warning); not the 8-day, \
         12-hour-lifetime, expired ({}), revoked ({}), rotated-out ({}) or replacement ({}) keys; \
         nor the 8-day one ({}) or half-day one ({})",
        k.expired.id,
        k.revoked.id,
        k.rotated_out.id,
        k.replacement.id,
        k.eight_days.id,
        k.half_day_lifetime.id,
    );
    assert_eq!(messages.len(), 2, "one message each");
    assert_eq!((report.sent, report.failed), (2, 0), "{report:?}");

    // What a subscriber sees: a short fixed subject, the filter attributes, the key named.
    let six = messages.iter().find(|m| m.body["key"]["id"] == k.six_days.id.as_str()).unwrap();
    assert_eq!(six.subject, Warning::SevenDays.subject());
    assert_eq!(six.attributes["team_id"], w.team.as_str());
    assert_eq!(six.attributes["account"], w.owner.as_str());
    assert_eq!(six.attributes["kind"], "key.expiring");
    assert_eq!(six.body["key"]["name"], "deploy key");
    assert_eq!(six.body["key"]["hint"], k.six_days.hint.as_str());
    assert_eq!(six.body["key"]["expires_at"], format_time(k.six_days.expires_at));
    assert_eq!(six.body["bot"]["name"], "ci bot");
    assert_eq!(six.body["team_id"], w.team.as_str());
    assert_eq!(six.body["account"], w.owner.as_str());
    assert!(
        six.body["rotate"]["path"].as_str().unwrap().ends_with(&format!("/keys/{}/rotate", k.six_days.id))
    );

    // Again, and an hour later: nothing new.
    notifier.run().await.unwrap();
    w.clock.advance(TimeDelta::hours(1));
    notifier.run().await.unwrap();
    assert!(inbox.drain().await.is_empty(), "a marked warning is never sent again");

    // Five days on, the 6-day key is inside its last day: its 1-day warning, and only that.
    // The 8-day key is now 3 days away: its 7-day warning.
    w.clock.advance(TimeDelta::days(5));
    notifier.run().await.unwrap();
    notifier.run().await.unwrap();
    assert_eq!(
        received(&inbox.drain().await),
        BTreeSet::from([warned(&k.six_days, Warning::OneDay), warned(&k.eight_days, Warning::SevenDays)])
    );
}

#[tokio::test]
async fn dynamodb_due_keys_get_exactly_their_warnings_once() {
    due_keys_get_exactly_their_warnings_once(World::dynamodb().await).await;
}

#[tokio::test]
async fn embedded_due_keys_get_exactly_their_warnings_once() {
    due_keys_get_exactly_their_warnings_once(World::embedded()).await;
}

#[tokio::test]
async fn overlapping_runs_send_each_warning_once() {
    let w = World::dynamodb().await;
    let inbox = Inbox::new().await;
    let bot = w.bot().await;
    let mut due = BTreeSet::new();
    for _ in 0..6 {
        let (key, _) = w.key_for(&bot, TimeDelta::days(30)).await;
        due.insert(warned(&key, Warning::SevenDays));
    }
    w.clock.advance(TimeDelta::days(24));
    let (a, b, c) = (
        notifier(&w, &inbox.topic_arn).await,
        notifier(&w, &inbox.topic_arn).await,
        notifier(&w, &inbox.topic_arn).await,
    );
    let (ra, rb, rc) = tokio::join!(a.run(), b.run(), c.run());
    let sent: usize = [ra, rb, rc].into_iter().map(|r| r.unwrap().sent).sum();
    let messages = inbox.drain().await;
    assert_eq!(received(&messages), due);
    assert_eq!((messages.len(), sent), (6, 6), "each warning once across three overlapping runs");
}

#[tokio::test]
async fn a_run_that_crashed_after_publishing_is_repeated_once_its_claim_lapses() {
    let w = World::dynamodb().await;
    let inbox = Inbox::new().await;
    let bot = w.bot().await;
    let (key, _) = w.key_for(&bot, TimeDelta::days(30)).await;
    w.clock.advance(TimeDelta::days(24));
    // A run claimed the warning (and maybe published it), then died before marking it.
    let found = w.store.expiring_keys(w.now(), expiry::HORIZON).await.unwrap();
    let stuck = found.iter().find(|k| k.id == key.id).unwrap();
    let until = w.now() + notifier::CLAIM_LEASE;
    assert!(w.store.claim_warning(stuck, Warning::SevenDays, "crashed-run", w.now(), until).await.unwrap());

    let notifier = notifier(&w, &inbox.topic_arn).await;
    let report = notifier.run().await.unwrap();
    assert_eq!((report.sent, report.skipped), (0, 1), "the claim still holds");
    w.clock.advance(notifier::CLAIM_LEASE + TimeDelta::minutes(1));
    notifier.run().await.unwrap();
    assert_eq!(received(&inbox.drain().await), BTreeSet::from([warned(&key, Warning::SevenDays)]));
    // The crashed run's late mark finds its claim gone and changes nothing.
    assert!(!w.store.mark_warned(stuck, Warning::SevenDays, "crashed-run", w.now()).await.unwrap());
}

#[tokio::test]
async fn a_publish_failure_leaves_the_key_unmarked_and_the_next_run_sends_it() {
    let w = World::dynamodb().await;
    let inbox = Inbox::new().await;
    let bot = w.bot().await;
    let (key, _) = w.key_for(&bot, TimeDelta::days(30)).await;
    w.clock.advance(TimeDelta::days(29) + TimeDelta::hours(1));
    // A topic that does not exist: moto's SNS refuses the publish.
    let missing = format!("{}-gone", inbox.topic_arn);
    let failing = notifier(&w, &missing).await;
    let error = failing.handle().await.expect_err("a run that could not publish fails");
    assert!(error.to_string().contains("1 of 1"), "{error}");
    let found = w.store.expiring_keys(w.now(), expiry::HORIZON).await.unwrap();
    let unmarked = found.iter().find(|k| k.id == key.id).expect("still in the index");
    assert_eq!((unmarked.warned_1d_at, unmarked.warned_7d_at), (None, None));

    let report: Report = notifier(&w, &inbox.topic_arn).await.handle().await.unwrap();
    assert_eq!(report.sent, 1);
    assert_eq!(received(&inbox.drain().await), BTreeSet::from([warned(&key, Warning::OneDay)]));
}

#[tokio::test]
async fn a_filter_policy_subscription_gets_only_its_teams_warnings() {
    let w = World::dynamodb().await;
    let inbox = Inbox::new().await;
    let other_team = nico_keys::TeamId::parse("team-b").unwrap();
    let team_b_only = inbox
        .filtered(&serde_json::json!({ "team_id": ["team-b"], "kind": ["key.expiring"] }).to_string())
        .await;
    let ours = w.bot().await;
    let theirs = w.bot_in(&other_team, "their bot").await;
    w.key_for(&ours, TimeDelta::days(30)).await;
    let (their_key, _) = w.key_for(&theirs, TimeDelta::days(30)).await;
    w.clock.advance(TimeDelta::days(25));
    notifier(&w, &inbox.topic_arn).await.run().await.unwrap();
    assert_eq!(inbox.drain().await.len(), 2, "the unfiltered subscription sees every team's");
    assert_eq!(
        received(&team_b_only.drain().await),
        BTreeSet::from([warned(&their_key, Warning::SevenDays)])
    );
}

// The store parts, on both stores.

async fn claims_and_marks_are_conditional<S: Store + ExpiryStore>(w: World<S>) {
    let bot = w.bot().await;
    let (key, _) = w.key_for(&bot, TimeDelta::days(10)).await;
    let (revoked, _) = w.key_for(&bot, TimeDelta::days(10)).await;
    w.store.revoke_key(&w.team, bot.id, revoked.id, &w.owner, w.now()).await.unwrap();
    let (later, _) = w.key_for(&bot, TimeDelta::days(20)).await;
    w.clock.advance(TimeDelta::days(4));
    let now = w.now();
    let found: Vec<ExpiringKey> = w.store.expiring_keys(now, expiry::HORIZON).await.unwrap();
    assert_eq!(
        found.iter().map(|k| k.id).collect::<Vec<KeyId>>(),
        [key.id],
        "not revoked, not beyond 7 days ({})",
        later.id
    );
    let k = &found[0];
    assert_eq!(
        (k.name.as_str(), k.hint.as_str(), k.expires_at, k.created_at),
        ("deploy key", key.hint.as_str(), key.expires_at, key.created_at)
    );

    let until = now + TimeDelta::minutes(10);
    assert!(w.store.claim_warning(k, Warning::SevenDays, "run-1", now, until).await.unwrap());
    assert!(!w.store.claim_warning(k, Warning::SevenDays, "run-2", now, until).await.unwrap(), "claimed");
    assert!(!w.store.mark_warned(k, Warning::SevenDays, "run-2", now).await.unwrap(), "not run-2's claim");
    w.store.release_warning(k, "run-2").await.unwrap();
    assert!(
        !w.store.claim_warning(k, Warning::SevenDays, "run-2", now, until).await.unwrap(),
        "run-1's claim holds"
    );
    assert!(w.store.mark_warned(k, Warning::SevenDays, "run-1", now).await.unwrap());
    assert!(!w.store.claim_warning(k, Warning::SevenDays, "run-3", now, until).await.unwrap(), "marked");
    let found = w.store.expiring_keys(now, expiry::HORIZON).await.unwrap();
    assert_eq!(found[0].warned_7d_at, Some(now));

    // The 1-day warning is the last: once marked, the key leaves the search.
    assert!(w.store.claim_warning(k, Warning::OneDay, "run-4", now, until).await.unwrap());
    assert!(w.store.mark_warned(k, Warning::OneDay, "run-4", now).await.unwrap());
    assert!(w.store.expiring_keys(now, expiry::HORIZON).await.unwrap().is_empty());

    // Revoking or rotating after the search: the claim sees it.
    let (gone, _) = w.key_for(&bot, TimeDelta::days(3)).await;
    let seen = w.store.expiring_keys(w.now(), expiry::HORIZON).await.unwrap();
    let seen = seen.iter().find(|k| k.id == gone.id).unwrap();
    w.store.revoke_key(&w.team, bot.id, gone.id, &w.owner, w.now()).await.unwrap();
    assert!(!w.store.claim_warning(seen, Warning::OneDay, "run-5", w.now(), until).await.unwrap());
}

#[tokio::test]
async fn dynamodb_claims_and_marks_are_conditional() {
    claims_and_marks_are_conditional(World::dynamodb().await).await;
}

#[tokio::test]
async fn embedded_claims_and_marks_are_conditional() {
    claims_and_marks_are_conditional(World::embedded()).await;
}

#[tokio::test]
async fn the_backfill_indexes_keys_written_before_the_index_once() {
    let w: World<DynamoStore> = World::dynamodb().await;
    let Backing::Dynamo { client, table } = &w.backing else { unreachable!() };
    let bot = w.bot().await;
    let (a, _) = w.key_for(&bot, TimeDelta::days(5)).await;
    let (b, _) = w.key_for(&bot, TimeDelta::days(200)).await;
    let (revoked, _) = w.key_for(&bot, TimeDelta::days(5)).await;
    let (expired, _) = w.key_for(&bot, TimeDelta::hours(1)).await;
    w.store.revoke_key(&w.team, bot.id, revoked.id, &w.owner, w.now()).await.unwrap();
    // As today's code wrote them: no expiry bucket.
    for key in [&a, &b, &revoked, &expired] {
        client
            .update_item()
            .table_name(table)
            .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(format!("BOT#{}", key.bot_id)))
            .key("sk", aws_sdk_dynamodb::types::AttributeValue::S(format!("KEY#{}", key.id)))
            .update_expression("REMOVE expiry_bucket")
            .send()
            .await
            .unwrap();
    }
    w.clock.advance(TimeDelta::hours(2));
    assert!(w.store.expiring_keys(w.now(), expiry::HORIZON).await.unwrap().is_empty(), "not indexed yet");

    assert_eq!(w.store.backfill_expiry_index(w.now()).await.unwrap(), 2, "the two working keys");
    assert_eq!(w.store.backfill_expiry_index(w.now()).await.unwrap(), 0, "idempotent");
    let found = w.store.expiring_keys(w.now(), expiry::HORIZON).await.unwrap();
    assert_eq!(found.iter().map(|k| k.id).collect::<Vec<_>>(), [a.id]);
    w.clock.advance(TimeDelta::days(195));
    let found = w.store.expiring_keys(w.now(), expiry::HORIZON).await.unwrap();
    assert_eq!(found.iter().map(|k| k.id).collect::<Vec<_>>(), [b.id], "in its own day's bucket");
}

#[tokio::test]
async fn the_embedded_store_needs_no_backfill() {
    let w: World<EmbeddedStore> = World::embedded();
    let bot = w.bot().await;
    let (key, _) = w.key_for(&bot, TimeDelta::days(5)).await;
    assert_eq!(w.store.backfill_expiry_index(w.now()).await.unwrap(), 0);
    let found = w.store.expiring_keys(w.now(), expiry::HORIZON).await.unwrap();
    assert_eq!(found.iter().map(|k| k.id).collect::<Vec<_>>(), [key.id]);
}

#[tokio::test]
async fn the_bootstrap_sends_due_warnings_on_the_sample_schedule_event() {
    let w = World::dynamodb().await;
    let inbox = Inbox::new().await;
    // The process decides with the system clock: a key made a month ago, six days left.
    w.clock.set(chrono::Utc::now() - TimeDelta::days(30));
    let bot = w.bot().await;
    let (key, _) = w.key_for(&bot, TimeDelta::days(36)).await;
    let Backing::Dynamo { table, .. } = &w.backing else { unreachable!() };
    let event = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../infra/events/notifier-schedule.json"))
        .unwrap();
    let env = [("TABLE_NAME", table.as_str()), ("EXPIRY_TOPIC_ARN", inbox.topic_arn.as_str())];
    let outcomes = nico_keys_tests::lambda::invoke(
        nico_keys_tests::lambda::binary("notifier"),
        &env,
        &[event.clone(), event],
    )
    .await;
    let reports: Vec<serde_json::Value> = outcomes
        .iter()
        .map(|outcome| match outcome {
            nico_keys_tests::lambda::Outcome::Response(body) => serde_json::from_str(body).unwrap(),
            other => panic!("the run failed: {other:?}"),
        })
        .collect();
    assert_eq!((reports[0]["sent"].as_u64(), reports[1]["sent"].as_u64()), (Some(1), Some(0)), "{reports:?}");
    assert_eq!(received(&inbox.drain().await), BTreeSet::from([warned(&key, Warning::SevenDays)]));
}

#[tokio::test]
async fn the_local_runner_publishes_due_warnings_to_the_topic_it_is_pointed_at() {
    let inbox = Inbox::new().await;
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(
        &dir.path().join("keys.sqlite3"),
        nico_keys::Limits::default().retention,
        chrono::Utc::now(),
    )
    .unwrap();
    // A world over the runner's own file: a key made a month ago (system clock), 20 hours left.
    let key = {
        let w = World::embedded();
        w.clock.set(chrono::Utc::now() - TimeDelta::days(30));
        let bot = w.bot().await;
        store.create_bot(&bot).await.unwrap();
        let (new, _) = w.new_key(&bot, TimeDelta::days(30) + TimeDelta::hours(20));
        store.create_key(&new, w.cap(), w.now()).await.unwrap();
        new.key
    };
    drop(store);
    let data_dir = dir.path().to_str().unwrap();
    let runner = nico_keys_tests::runner::Runner::start(
        &["--store", "embedded", "--data-dir", data_dir, "--notify-every", "1"],
        &[("EXPIRY_TOPIC_ARN", inbox.topic_arn.as_str())],
    )
    .await;
    let mut delivered = Vec::new();
    for _ in 0..50 {
        delivered.extend(inbox.drain().await);
        if !delivered.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // A few more runs: still that one message.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    delivered.extend(inbox.drain().await);
    runner.kill().await;
    assert_eq!(received(&delivered), BTreeSet::from([warned(&key, Warning::OneDay)]));
    assert_eq!(delivered.len(), 1);
}
