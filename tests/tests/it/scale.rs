//! Scale: the authorizer's micro-cache (`VERIFY_CACHE_SECONDS`) with a test clock, on DynamoDB
//! (moto); the flush of API Gateway's authorizer caches after every revocation, through the
//! AWS SDK against a local stub of the two endpoints; and the template's wiring of both.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use authorizer::{Authorizer, VerifyCache};
use chrono::TimeDelta;
use key_management::Api;
use nico_keys::flush::apigateway::{ApiGatewayFlusher, Endpoints, FLUSH_BUDGET};
use nico_keys::flush::{FLUSH_FAILED, Stage};
use nico_keys::routes::RouteRules;
use nico_keys::store::dynamodb::DynamoStore;
use nico_keys::store::{KeyStore, Rejection, VerifyError};
use nico_keys::{Config, Limits};
use nico_keys_tests::apigw::{Outcome, Shape, bearer, delivered, event};
use nico_keys_tests::counting::Counting;
use nico_keys_tests::flush_stub::FlushStub;
use nico_keys_tests::logs::CapturedLogs;
use nico_keys_tests::template::{Template, list, reference};
use nico_keys_tests::world::World;
use serde_json::{Value, json};

use super::management_api::App;
use super::store_contract::forge_secret;

const ROUTES: &str = "GET /projects/*=projects:read";

struct Cached {
    world: World<DynamoStore>,
    authorizer: Authorizer<VerifyCache<Counting<DynamoStore>>>,
}

async fn cached(seconds: u64) -> Cached {
    let world = World::dynamodb().await;
    let rules = RouteRules::parse(ROUTES, &world.catalog).unwrap();
    let store = VerifyCache::new(Counting::new(world.store.clone()), Duration::from_secs(seconds));
    let authorizer = Authorizer::new(store, rules, Arc::new(world.clock.clone()));
    Cached { world, authorizer }
}

impl Cached {
    /// Whether a request with `token` is let through.
    async fn call(&self, token: &str) -> bool {
        let event = event(Shape::Http, Some(&bearer(token)), "GET", "/projects/1");
        Outcome::of(self.authorizer.handle(delivered(&event)).await).lets_through("GET", "/projects/1")
    }

    fn reads(&self) -> usize {
        self.authorizer.store().inner().take_reads()
    }
}

#[tokio::test]
async fn requests_within_the_cache_time_make_one_store_read() {
    let c = cached(2).await;
    let bot = c.world.bot().await;
    let (_, raw) = c.world.key(&bot).await;
    for _ in 0..20 {
        assert!(c.call(raw.expose()).await);
        c.world.clock.advance(TimeDelta::milliseconds(99));
    }
    assert_eq!(c.reads(), 1, "20 requests over 1.98 s: one read");
    c.world.clock.advance(TimeDelta::milliseconds(20));
    assert!(c.call(raw.expose()).await);
    assert_eq!(c.reads(), 1, "past the cache time: read again");
}

#[tokio::test]
async fn a_wrong_secret_for_a_cached_key_is_refused_and_never_cached() {
    let c = cached(5).await;
    let bot = c.world.bot().await;
    let (_, raw) = c.world.key(&bot).await;
    assert!(c.call(raw.expose()).await);
    c.reads();
    let forged = forge_secret(&raw);
    for _ in 0..3 {
        assert!(!c.call(&forged).await, "same key id, another secret");
    }
    assert_eq!(c.reads(), 3, "each wrong secret goes to the store");
    assert!(c.call(raw.expose()).await);
    assert_eq!(c.reads(), 0, "the right secret still hits");
}

#[tokio::test]
async fn refusals_and_unknown_keys_are_never_cached() {
    let c = cached(5).await;
    let bot = c.world.bot().await;
    let (_, unknown) = c.world.new_key(&bot, TimeDelta::days(1));
    for _ in 0..3 {
        assert!(!c.call(unknown.expose()).await);
    }
    assert_eq!(c.reads(), 3);
    assert!(c.authorizer.store().is_empty());
}

#[tokio::test]
async fn a_key_expiring_during_the_cache_time_is_refused_at_once() {
    let c = cached(5).await;
    let bot = c.world.bot().await;
    let (key, raw) = c.world.key_for(&bot, TimeDelta::seconds(3)).await;
    assert!(c.call(raw.expose()).await);
    c.world.clock.set(key.expires_at - TimeDelta::milliseconds(1));
    assert!(c.call(raw.expose()).await, "a millisecond before its expiry");
    c.world.clock.set(key.expires_at);
    assert!(!c.call(raw.expose()).await, "at its expiry, inside the cache time");
    assert_eq!(c.reads(), 2, "the refusal came from the store, not the cache");
}

#[tokio::test]
async fn a_revoked_key_is_refused_after_at_most_the_cache_time() {
    let c = cached(3).await;
    let bot = c.world.bot().await;
    let (key, raw) = c.world.key(&bot).await;
    assert!(c.call(raw.expose()).await);
    let w = &c.world;
    w.store.revoke_key(&w.team, bot.id, key.id, &w.owner, w.now()).await.unwrap();
    c.world.clock.advance(TimeDelta::milliseconds(2_999));
    assert!(c.call(raw.expose()).await, "the cached answer, inside the 3 s");
    c.world.clock.advance(TimeDelta::milliseconds(1));
    assert!(!c.call(raw.expose()).await, "3 s after it was cached");
    assert!(!c.call(raw.expose()).await);
    assert_eq!(c.reads(), 3, "refusals are not cached");
}

#[tokio::test]
async fn with_the_cache_off_every_request_reads_the_store() {
    let c = cached(0).await;
    let bot = c.world.bot().await;
    let (_, raw) = c.world.key(&bot).await;
    for _ in 0..5 {
        assert!(c.call(raw.expose()).await);
    }
    assert_eq!(c.reads(), 5);
    assert!(c.authorizer.store().is_empty());
}

// Flush after revocation.

const STAGES: &str = "rest:abc123/prod,http:def456/$default,http:def456/v1";

/// What each revocation sends the stub: one DELETE per listed stage, in order.
const FLUSHES: [&str; 3] = [
    "DELETE /restapis/abc123/stages/prod/cache/authorizers",
    "DELETE /v2/apis/def456/stages/%24default/cache/authorizers",
    "DELETE /v2/apis/def456/stages/v1/cache/authorizers",
];

async fn flushing_app(stub: &FlushStub) -> App {
    let world = World::dynamodb().await;
    let stages = Stage::parse_list(STAGES).unwrap();
    let config = Config {
        table_name: "unused".into(),
        catalog: world.catalog.clone(),
        routes: RouteRules::parse(ROUTES, &world.catalog).unwrap(),
        limits: Limits::default(),
        claims: Default::default(),
        verify_cache: Duration::ZERO,
        flush_stages: stages.clone(),
    };
    let endpoints = Endpoints { rest: Some(stub.url.clone()), http: Some(stub.url.clone()) };
    let flusher = ApiGatewayFlusher::new(stages, endpoints, FLUSH_BUDGET).unwrap();
    let api =
        Api::new(world.store.clone(), config, Arc::new(world.clock.clone())).with_flusher(Arc::new(flusher));
    App { world: Arc::new(world), api: Arc::new(api) }
}

/// The bot user's path, the key's path, its token.
async fn bot_with_key(app: &App) -> (String, String, String) {
    let bot = app.bot().await;
    let (key, token) = app.key(&bot).await;
    (format!("/v1/bots/{bot}"), format!("/v1/bots/{bot}/keys/{key}"), token)
}

#[tokio::test]
async fn every_revocation_flushes_each_listed_stage_once() {
    let stub = FlushStub::start(0).await;
    let app = flushing_app(&stub).await;
    let revocations: [(&str, &str, Option<Value>); 4] = [
        ("POST", "/revoke", None),
        ("POST", "/revoke-keys", None),
        ("PATCH", "", Some(json!({"account": "someone-else"}))),
        ("DELETE", "", None),
    ];
    for (method, suffix, body) in revocations {
        let (bot, key, token) = bot_with_key(&app).await;
        app.key(bot.trim_start_matches("/v1/bots/")).await;
        stub.clear();
        let path = if suffix == "/revoke" { format!("{key}{suffix}") } else { format!("{bot}{suffix}") };
        let answer = app.call(method, &path, body).await;
        let verdict = app.verify(&token).await;
        assert!(
            matches!(verdict, Err(VerifyError::Rejected(Rejection::Revoked))),
            "{method} {path}: {verdict:?}"
        );
        assert_eq!(stub.calls(), FLUSHES, "{method} {path}: one flush per stage, however many keys");
        if answer.status == 204 {
            assert_eq!(answer.headers["propagation"], "flushed", "{method} {path}");
        } else {
            answer.expect(200);
            assert_eq!(answer.body["propagation"], "flushed", "{method} {path}: {}", answer.text);
        }
    }
}

#[tokio::test]
async fn changes_that_revoke_nothing_flush_nothing() {
    let stub = FlushStub::start(0).await;
    let app = flushing_app(&stub).await;
    let (bot, key, token) = bot_with_key(&app).await;
    stub.clear();
    app.call("PATCH", &bot, Some(json!({"name": "renamed"}))).await.expect(200);
    let answer = app.call("PATCH", &bot, Some(json!({"account": "next", "revoke_keys": false}))).await;
    answer.expect(200);
    assert_eq!(answer.body.get("propagation"), None);
    app.call("POST", &format!("{key}/rotate"), None).await.expect(201);
    assert!(app.verify(&token).await.is_ok(), "a rotated-out key works through its grace period");
    assert_eq!(stub.calls(), Vec::<String>::new());
}

#[tokio::test]
async fn a_flush_that_fails_once_is_retried() {
    let stub = FlushStub::start(1).await;
    let app = flushing_app(&stub).await;
    let (_, key, _) = bot_with_key(&app).await;
    let answer = app.call("POST", &format!("{key}/revoke"), None).await;
    assert_eq!(answer.body["propagation"], "flushed", "{}", answer.text);
    assert_eq!(stub.calls().len(), FLUSHES.len() + 1, "{:?}", stub.calls());
}

#[tokio::test]
async fn a_failing_flush_still_revokes_and_reports_pending_with_an_error_line() {
    let stub = FlushStub::start(usize::MAX).await;
    let app = flushing_app(&stub).await;
    let (bot, key, token) = bot_with_key(&app).await;
    let (logs, _guard) = CapturedLogs::start();
    let answer = app.call("POST", &format!("{key}/revoke"), None).await;
    answer.expect(200);
    assert_eq!(answer.body["propagation"], "pending");
    assert_eq!(answer.body["status"], "revoked");
    let verdict = app.verify(&token).await;
    assert!(
        matches!(verdict, Err(VerifyError::Rejected(Rejection::Revoked))),
        "the revocation stands: {verdict:?}"
    );
    let attempts = FLUSH_BUDGET.max_attempts as usize;
    assert_eq!(stub.calls().len(), FLUSHES.len() * attempts, "each stage retried within its budget");
    let errors: Vec<Value> =
        logs.lines().into_iter().filter(|line| line["message"] == FLUSH_FAILED).collect();
    assert_eq!(errors.len(), FLUSHES.len(), "one error line per stage");
    assert!(errors.iter().all(|line| line["level"] == "ERROR"), "{errors:?}");
    let answer = app.call("DELETE", &bot, None).await;
    answer.expect(204);
    assert_eq!(answer.headers["propagation"], "pending");
}

#[tokio::test]
async fn without_a_flusher_revocations_answer_as_before() {
    let app = super::management_api::app().await;
    let bot = app.bot().await;
    let (key, _) = app.key(&bot).await;
    let answer = app.call("POST", &format!("/v1/bots/{bot}/keys/{key}/revoke"), None).await;
    assert_eq!(answer.body.get("propagation"), None);
    let answer = app.call("DELETE", &format!("/v1/bots/{bot}"), None).await;
    assert_eq!(answer.headers.get("propagation"), None);
}

// The template.

#[test]
fn the_cache_settings_are_parameters_with_the_code_defaults() {
    let template = Template::project();
    for binary in ["authorizer", "key-management"] {
        let (id, function) = template.function(binary);
        assert_eq!(template.parameter_behind(id, function, "VERIFY_CACHE_SECONDS"), "VerifyCacheSeconds");
        assert_eq!(
            template.parameter_behind(id, function, "FLUSH_AUTHORIZER_CACHES"),
            "FlushAuthorizerCaches"
        );
    }
    let verify = &template.parameters()["VerifyCacheSeconds"];
    assert_eq!(
        (&verify["Default"], &verify["MinValue"], &verify["MaxValue"]),
        (&json!(0), &json!(0), &json!(5))
    );
    assert_eq!(template.parameters()["FlushAuthorizerCaches"]["Default"], "");
    let pattern = template.parameters()["FlushAuthorizerCaches"]["AllowedPattern"].as_str().unwrap();
    let pattern = regex::Regex::new(pattern).unwrap();
    for good in ["", STAGES, "rest:a1/prod"] {
        assert!(pattern.is_match(good), "{good}");
        assert!(Stage::parse_list(good).is_ok(), "{good}");
    }
    for bad in ["rest:a1/*", "rest:a1/prod, http:b/v1", "rest:a1", "rest:A/prod", "ws:a/b", "rest:a/b/c"] {
        assert!(!pattern.is_match(bad), "the template lets {bad:?} through");
    }
}

#[test]
fn management_may_flush_exactly_the_listed_stages() {
    let template = Template::project();
    let (id, function) = template.function("key-management");
    let role = template.role_of(id, function);
    let statements: Vec<Value> = template
        .statements_of_role(role)
        .into_iter()
        .filter(|s| list(&s["Action"]).iter().any(|a| a.as_str().unwrap().starts_with("apigateway:")))
        .collect();
    assert_eq!(statements.len(), 1, "{statements:?}");
    let statement = &statements[0];
    assert_eq!(statement["Action"], "apigateway:DELETE");
    assert_eq!(statement["Condition"]["StringEquals"]["aws:RequestedRegion"], reference("AWS::Region"));
    let policy = template
        .resources()
        .values()
        .find(|r| {
            r["Type"] == "AWS::IAM::Policy" && list(&r["Properties"]["Roles"]).contains(&reference(role))
        })
        .unwrap();
    let (leak_id, leak) = template.function("leak-report");
    assert_eq!(
        list(&policy["Properties"]["Roles"]),
        vec![reference(role), reference(template.role_of(leak_id, leak))],
        "leak reports revoke too, and flush"
    );
    assert_eq!(policy["Condition"], "HasFlushStages", "no policy without stages");
    let parameters: BTreeMap<&str, Value> = [("FlushAuthorizerCaches", json!(STAGES))].into();
    let resources = super::infra::evaluate(template, &statement["Resource"], &parameters);
    assert_eq!(
        resources,
        json!([
            "arn:*:apigateway:*::/restapis/abc123/stages/prod/cache/authorizers",
            "arn:*:apigateway:*::/apis/def456/stages/$default/cache/authorizers",
            "arn:*:apigateway:*::/apis/def456/stages/v1/cache/authorizers",
        ])
    );
}

#[test]
fn a_failed_flush_raises_an_alarm() {
    let template = Template::project();
    let filter = template
        .of_type("AWS::Logs::MetricFilter")
        .into_iter()
        .find(|(_, f)| f["Properties"]["FilterPattern"].as_str().unwrap_or_default().contains(FLUSH_FAILED))
        .expect("a metric filter on the flush's error line");
    let (id, function) = template.function("key-management");
    assert_eq!(
        filter.1["Properties"]["LogGroupName"], function["Properties"]["LoggingConfig"]["LogGroup"],
        "{id}"
    );
    let metric = &filter.1["Properties"]["MetricTransformations"][0];
    let alarm = template
        .of_type("AWS::CloudWatch::Alarm")
        .into_iter()
        .find(|(_, a)| a["Properties"]["MetricName"] == metric["MetricName"])
        .expect("an alarm on the metric");
    assert_eq!(alarm.1["Properties"]["Namespace"], metric["MetricNamespace"]);
    assert_eq!(alarm.1["Properties"]["Threshold"], 1);
}
