//! "Last used": the authorizer records a key's use (time and source address) at most once per
//! window, with one conditional write that never recreates a purged key and never changes the
//! decision; the management API shows it and filters on it (`unused_for`). Store behaviours
//! run on both stores; the IAM side is in `infra`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use authorizer::{Authorizer, LAST_USED_WRITE_BUDGET};
use chrono::TimeDelta;
use key_management::Api;
use nico_keys::model::Credential;
use nico_keys::routes::RouteRules;
use nico_keys::store::{CredentialStore, Store, StoreError};
use nico_keys::{ApiKey, BotId, Config, KeyId, KeyUse, SourceIp};
use nico_keys_tests::apigw::{Outcome, Shape, bearer, delivered, event};
use nico_keys_tests::contract;
use nico_keys_tests::http::ApiRequest;
use nico_keys_tests::world::World;
use serde_json::{Value, json};

const ROUTES: &str = "GET /projects/*=projects:read";
const WINDOW: Duration = Duration::from_secs(900);

fn authorizer_for<S: Store + Clone>(world: &World<S>) -> Authorizer<S> {
    let rules = RouteRules::parse(ROUTES, &world.catalog).unwrap();
    Authorizer::new(world.store.clone(), rules, Arc::new(world.clock.clone())).with_last_used_window(WINDOW)
}

/// An HTTP API 2.0 request for `GET /projects/1` with `raw`, from `ip`.
fn http_event(raw: &str, ip: &str) -> Value {
    let mut event = event(Shape::Http, Some(&bearer(raw)), "GET", "/projects/1");
    event["requestContext"]["http"]["sourceIp"] = json!(ip);
    event
}

async fn stored<S: Store>(world: &World<S>, key: &ApiKey) -> ApiKey {
    world.store.get_key(&world.team, key.bot_id, key.id).await.unwrap()
}

async fn the_first_use_records_time_and_address_and_uses_inside_the_window_do_not<S: Store + Clone>(
    world: World<S>,
) {
    let authorizer = authorizer_for(&world);
    let bot = world.bot().await;
    let (key, raw) = world.key(&bot).await;
    assert_eq!((key.last_used_at, key.last_used_ip), (None, None), "never used");

    let first = world.now();
    let outcome = Outcome::of(authorizer.handle(delivered(&http_event(raw.expose(), "203.0.113.7"))).await);
    assert!(outcome.lets_through("GET", "/projects/1"), "{outcome:?}");
    let after = stored(&world, &key).await;
    assert_eq!(after.last_used_at, Some(first));
    assert_eq!(after.last_used_ip, SourceIp::parse("203.0.113.7"));

    // Inside the window: no write, even from elsewhere.
    world.clock.advance(TimeDelta::minutes(14));
    authorizer.handle(delivered(&http_event(raw.expose(), "198.51.100.1"))).await.unwrap();
    assert_eq!(stored(&world, &key).await.last_used_at, Some(first));

    // Past it: the next use is recorded.
    world.clock.advance(TimeDelta::minutes(2));
    authorizer.handle(delivered(&http_event(raw.expose(), "2001:db8::1"))).await.unwrap();
    let later = stored(&world, &key).await;
    assert_eq!(later.last_used_at, Some(world.now()));
    assert_eq!(later.last_used_ip.map(|ip| ip.to_string()).as_deref(), Some("2001:db8::1"));

    // A REST TOKEN event carries no address: the time alone, never an older use's address.
    world.clock.advance(TimeDelta::minutes(16));
    let token = event(Shape::Token, Some(&bearer(raw.expose())), "GET", "/projects/1");
    authorizer.handle(delivered(&token)).await.unwrap();
    let by_token = stored(&world, &key).await;
    assert_eq!((by_token.last_used_at, by_token.last_used_ip), (Some(world.now()), None));

    // A REST REQUEST event carries it in `requestContext.identity.sourceIp`.
    world.clock.advance(TimeDelta::minutes(16));
    let mut request = event(Shape::Request, Some(&bearer(raw.expose())), "GET", "/projects/1");
    request["requestContext"]["identity"]["sourceIp"] = json!("198.51.100.9");
    authorizer.handle(delivered(&request)).await.unwrap();
    let by_request = stored(&world, &key).await;
    assert_eq!(by_request.last_used_at, Some(world.now()));
    assert_eq!(by_request.last_used_ip, SourceIp::parse("198.51.100.9"));
}

async fn concurrent_first_uses_write_once<S: Store + Clone + 'static>(world: World<S>) {
    let bot = world.bot().await;
    let (key, _) = world.key(&bot).await;
    let used = KeyUse { at: world.now(), ip: SourceIp::parse("192.0.2.1"), window: WINDOW };
    let mut racers = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let store = world.store.clone();
        racers.spawn(async move { store.record_use(key.bot_id, key.id, &used).await.unwrap() });
    }
    let written = racers.join_all().await.into_iter().filter(|wrote| *wrote).count();
    assert_eq!(written, 1, "eight first uses at once write once");
    // A use a moment later, with a stale read of "never used", still does not write.
    let later = KeyUse { at: world.now() + TimeDelta::seconds(1), ..used };
    assert!(!world.store.record_use(key.bot_id, key.id, &later).await.unwrap());
}

async fn a_purged_key_is_not_recreated_by_its_last_use<S: Store + Clone>(world: World<S>) {
    let bot = world.bot().await;
    let gone = KeyId::generate(world.now());
    let used = KeyUse { at: world.now(), ip: SourceIp::parse("192.0.2.1"), window: WINDOW };
    assert!(!world.store.record_use(bot.id, gone, &used).await.unwrap());
    assert!(world.store.credential(bot.id, gone).await.unwrap().is_none(), "no fragment left behind");
    let values = world.stored_values().await;
    assert!(!values.iter().any(|v| v.contains("192.0.2.1")), "nothing written anywhere");
}

/// A store whose last-used write fails or hangs; reads pass through.
struct BadWrites<S> {
    inner: S,
    stall: bool,
}

impl<S: CredentialStore> CredentialStore for BadWrites<S> {
    async fn credential(&self, bot: BotId, key: KeyId) -> Result<Option<Credential>, StoreError> {
        self.inner.credential(bot, key).await
    }

    async fn record_use(&self, _: BotId, _: KeyId, _: &KeyUse) -> Result<bool, StoreError> {
        if self.stall {
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
        Err(StoreError::unavailable("throttled"))
    }
}

async fn a_failing_or_stalled_write_leaves_the_decision_unchanged_within_its_budget<S: Store + Clone>(
    world: World<S>,
) {
    let bot = world.bot().await;
    let (_, raw) = world.key(&bot).await;
    let rules = RouteRules::parse(ROUTES, &world.catalog).unwrap();
    for stall in [false, true] {
        let store = BadWrites { inner: world.store.clone(), stall };
        let authorizer = Authorizer::new(store, rules.clone(), Arc::new(world.clock.clone()));
        for shape in [Shape::Token, Shape::Request, Shape::Http] {
            let started = Instant::now();
            let outcome = Outcome::of(
                authorizer
                    .handle(delivered(&event(shape, Some(&bearer(raw.expose())), "GET", "/projects/1")))
                    .await,
            );
            let took = started.elapsed();
            assert!(outcome.lets_through("GET", "/projects/1"), "stall {stall} {shape:?}: {outcome:?}");
            // The budget, and a generous margin for a loaded machine: never the stall's 5 s.
            assert!(
                took < LAST_USED_WRITE_BUDGET + Duration::from_secs(1),
                "stall {stall} {shape:?}: {took:?}"
            );
        }
    }
}

async fn key_views_show_the_last_use_and_unused_for_selects_idle_and_never_used_keys<S: Store + Clone>(
    world: World<S>,
) {
    let authorizer = authorizer_for(&world);
    let config = Config {
        table_name: "unused".into(),
        catalog: world.catalog.clone(),
        routes: RouteRules::parse(ROUTES, &world.catalog).unwrap(),
        limits: world.limits.clone(),
        claims: Default::default(),
        verify_cache: std::time::Duration::ZERO,
        flush_stages: Vec::new(),
    };
    let api = Api::new(world.store.clone(), config, Arc::new(world.clock.clone()));
    let get = |path: String| {
        let request = ApiRequest::new("GET", &path);
        let api = &api;
        async move {
            let response = api.handle(request.build()).await;
            assert_eq!(response.status().as_u16(), 200);
            serde_json::from_slice::<Value>(response.body()).unwrap()
        }
    };
    let bot = world.bot().await;
    let (never, _) = world.key(&bot).await;
    world.clock.advance(TimeDelta::milliseconds(1));
    let (long_ago, long_ago_raw) = world.key(&bot).await;
    world.clock.advance(TimeDelta::milliseconds(1));
    let (recent, recent_raw) = world.key(&bot).await;
    authorizer.handle(delivered(&http_event(long_ago_raw.expose(), "192.0.2.10"))).await.unwrap();
    world.clock.advance(TimeDelta::days(3));
    authorizer.handle(delivered(&http_event(recent_raw.expose(), "192.0.2.20"))).await.unwrap();
    world.clock.advance(TimeDelta::hours(1));

    let view = get(format!("/v1/bots/{}/keys/{}", bot.id, recent.id)).await;
    assert_eq!(view["last_used_ip"], json!("192.0.2.20"));
    assert_eq!(view["last_used_at"], json!(nico_keys::model::format_time(world.now() - TimeDelta::hours(1))));
    let listed = get(format!("/v1/bots/{}/keys", bot.id)).await;
    let never_row =
        listed["items"].as_array().unwrap().iter().find(|k| k["id"] == json!(never.id.to_string())).unwrap();
    assert_eq!((&never_row["last_used_at"], &never_row["last_used_ip"]), (&Value::Null, &Value::Null));

    let ids = |body: Value| -> Vec<String> {
        body["items"].as_array().unwrap().iter().map(|k| k["id"].as_str().unwrap().to_owned()).collect()
    };
    let all_row = get("/v1/keys".to_owned()).await;
    assert!(all_row["items"].as_array().unwrap().iter().any(|k| k["last_used_ip"] == json!("192.0.2.10")));
    assert_eq!(
        ids(get("/v1/keys?unused_for=2d".into()).await),
        vec![long_ago.id.to_string(), never.id.to_string()]
    );
    assert_eq!(ids(get("/v1/keys?unused_for=30m".into()).await).len(), 3);
    assert_eq!(ids(get("/v1/keys?unused_for=5d".into()).await), vec![never.id.to_string()]);
    let refused = api.handle(ApiRequest::new("GET", "/v1/keys?unused_for=soon").build()).await;
    assert_eq!(refused.status().as_u16(), 400);
}

contract!(
    the_first_use_records_time_and_address_and_uses_inside_the_window_do_not,
    concurrent_first_uses_write_once,
    a_purged_key_is_not_recreated_by_its_last_use,
    a_failing_or_stalled_write_leaves_the_decision_unchanged_within_its_budget,
    key_views_show_the_last_use_and_unused_for_selects_idle_and_never_used_keys,
);
