//! The management API, driven with HTTP API payload 2.0 events (the AWS documentation's
//! example with JWT claims) against DynamoDB on moto: the owner's story, every validation
//! error, team isolation, rotation and deletion.

use std::sync::Arc;

use chrono::TimeDelta;
use key_management::Api;
use lambda_http::http::{HeaderMap, StatusCode};
use nico_keys::model::format_time;
use nico_keys::store::dynamodb::DynamoStore;
use nico_keys::store::{CredentialStore, Rejection, VerifyError};
use nico_keys::{Config, Limits};
use nico_keys_tests::http::ApiRequest;
use nico_keys_tests::world::World;
use serde_json::{Value, json};

pub(crate) struct App {
    pub(crate) world: Arc<World<DynamoStore>>,
    pub(crate) api: Arc<Api<DynamoStore>>,
}

pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Value,
    pub(crate) text: String,
}

impl Answer {
    pub(crate) fn error_code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }

    pub(crate) fn field(&self) -> &str {
        self.body["error"]["field"].as_str().unwrap_or_default()
    }

    #[track_caller]
    pub(crate) fn expect(&self, status: u16) -> &Self {
        assert_eq!(self.status.as_u16(), status, "{}", self.text);
        self
    }
}

pub(crate) async fn app() -> App {
    app_with(Limits::default()).await
}

async fn app_with(limits: Limits) -> App {
    let world = World::dynamodb().await;
    let config = Config {
        table_name: "unused".into(),
        catalog: world.catalog.clone(),
        routes: nico_keys::routes::RouteRules::parse("GET /projects/*=projects:read", &world.catalog)
            .unwrap(),
        limits,
        claims: Default::default(),
        verify_cache: std::time::Duration::ZERO,
        flush_stages: Vec::new(),
    };
    let api = Api::new(world.store.clone(), config, Arc::new(world.clock.clone()));
    App { world: Arc::new(world), api: Arc::new(api) }
}

impl App {
    pub(crate) async fn send(&self, request: &ApiRequest) -> Answer {
        let response = self.api.handle(request.build()).await;
        let status = response.status();
        let headers = response.headers().clone();
        let text = String::from_utf8(response.body().to_vec()).unwrap();
        let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() };
        nico_keys_tests::leaks::record_tokens_in(&body);
        assert_documented(request, status);
        Answer { status, headers, body, text }
    }

    pub(crate) async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Answer {
        let mut request = ApiRequest::new(method, path);
        if let Some(body) = body {
            request.json(&body);
        }
        self.send(&request).await
    }

    pub(crate) async fn as_team(
        &self,
        team: &str,
        role: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Answer {
        let mut request = ApiRequest::new(method, path);
        request.claims(&[("sub", "someone"), ("team_id", team), ("role", role)]);
        if let Some(body) = body {
            request.json(&body);
        }
        self.send(&request).await
    }

    pub(crate) async fn bot(&self) -> String {
        let body = json!({"name": "ci bot", "scopes": ["projects:read", "projects:write", "billing:read"]});
        let answer = self.call("POST", "/v1/bots", Some(body)).await;
        answer.expect(201);
        answer.body["id"].as_str().unwrap().to_owned()
    }

    pub(crate) fn expiry(&self, from_now: TimeDelta) -> String {
        format_time(self.world.now() + from_now)
    }

    pub(crate) async fn key(&self, bot: &str) -> (String, String) {
        let body = json!({"name": "deploy", "expires_at": self.expiry(TimeDelta::days(30)), "scopes": ["projects:read"]});
        let answer = self.call("POST", &format!("/v1/bots/{bot}/keys"), Some(body)).await;
        answer.expect(201);
        (
            answer.body["key"]["id"].as_str().unwrap().to_owned(),
            answer.body["token"].as_str().unwrap().to_owned(),
        )
    }

    pub(crate) async fn verify(&self, token: &str) -> Result<nico_keys::Principal, VerifyError> {
        self.world.store.verify(token, self.world.now()).await
    }
}

/// Every answer's status must be one the OpenAPI document lists for its operation.
fn assert_documented(request: &ApiRequest, status: StatusCode) {
    let method = request.event()["requestContext"]["http"]["method"].as_str().unwrap().to_lowercase();
    let path = request.event()["rawPath"].as_str().unwrap();
    let Some(template) = key_management::routes::template_for(path) else {
        return; // not a route of the API (404 route_not_found)
    };
    let documented = nico_keys_tests::openapi::statuses(template, &method);
    if documented.is_empty() {
        return; // method not served (405)
    }
    assert!(
        documented.contains(&status.as_u16().to_string()),
        "{method} {template} answered {status}, which openapi.yaml does not document"
    );
}

#[tokio::test]
async fn an_owner_creates_a_bot_user_issues_a_key_sees_it_listed_and_revokes_it_for_good() {
    let app = app().await;
    let created = app
        .call(
            "POST",
            "/v1/bots",
            Some(json!({"name": "  release bot ", "scopes": ["projects:read", "projects:write"]})),
        )
        .await;
    created.expect(201);
    assert_eq!(created.body["name"], "release bot");
    assert_eq!(created.body["created_by"], "owner-1");
    let bot = created.body["id"].as_str().unwrap();
    assert_eq!(created.headers["location"], format!("/v1/bots/{bot}").as_str());

    let expires_at = app.expiry(TimeDelta::days(90));
    let issued = app
        .call(
            "POST",
            &format!("/v1/bots/{bot}/keys"),
            Some(json!({"name": "deploy", "expires_at": expires_at, "scopes": ["projects:write", "projects:read"]})),
        )
        .await;
    issued.expect(201);
    assert_eq!(issued.headers["cache-control"], "no-store");
    let token = issued.body["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("nico_"));
    let key = issued.body["key"]["id"].as_str().unwrap().to_owned();
    assert_eq!(issued.body["key"]["status"], "active");
    assert_eq!(issued.body["key"]["scopes"], json!(["projects:read", "projects:write"]));
    assert_eq!(issued.body["key"]["expires_at"], expires_at);
    assert_eq!(issued.body["key"]["created_by"], "owner-1");
    let principal = app.verify(&token).await.unwrap();
    assert_eq!(principal.key_id.as_str(), key);

    let listed = app.call("GET", &format!("/v1/bots/{bot}/keys"), None).await;
    listed.expect(200);
    let item = &listed.body["items"][0];
    assert_eq!((item["name"].as_str(), item["status"].as_str()), (Some("deploy"), Some("active")));
    assert_eq!(item["expires_at"], expires_at);
    assert_eq!(listed.body["next_cursor"], Value::Null);
    let one = app.call("GET", &format!("/v1/bots/{bot}/keys/{key}"), None).await;
    one.expect(200);
    for answer in [&listed, &one] {
        assert!(!answer.text.contains(&token[39..82]), "the secret is never shown again");
        assert!(!answer.text.contains("hash"), "nor its digest");
        assert!(answer.headers.get("cache-control").is_none());
    }

    app.world.clock.advance(TimeDelta::minutes(1));
    let revoked = app.call("POST", &format!("/v1/bots/{bot}/keys/{key}/revoke"), None).await;
    revoked.expect(200);
    assert_eq!(revoked.body["status"], "revoked");
    assert_eq!(revoked.body["revoked_by"], "owner-1");
    let revoked_at = revoked.body["revoked_at"].clone();
    assert!(matches!(app.verify(&token).await, Err(VerifyError::Rejected(Rejection::Revoked))));

    let listed = app.call("GET", &format!("/v1/bots/{bot}/keys"), None).await;
    assert_eq!(listed.body["items"][0]["status"], "revoked");

    app.world.clock.advance(TimeDelta::minutes(1));
    let again = app.call("POST", &format!("/v1/bots/{bot}/keys/{key}/revoke"), None).await;
    again.expect(200);
    assert_eq!(again.body["revoked_at"], revoked_at, "revoking again changes nothing");

    let rotated = app.call("POST", &format!("/v1/bots/{bot}/keys/{key}/rotate"), None).await;
    rotated.expect(409);
    assert_eq!(rotated.error_code(), "key_revoked");
    app.world.clock.advance(TimeDelta::days(1));
    let later = app.call("GET", &format!("/v1/bots/{bot}/keys/{key}"), None).await;
    assert_eq!(later.body["status"], "revoked");
    assert!(matches!(app.verify(&token).await, Err(VerifyError::Rejected(Rejection::Revoked))));
}

#[tokio::test]
async fn each_invalid_request_gets_its_status_and_names_the_field() {
    let app = app_with(Limits { max_active_keys: 2, ..Limits::default() }).await;
    let bot = app.bot().await;
    let keys = format!("/v1/bots/{bot}/keys");
    let in_a_day = app.expiry(TimeDelta::days(1));
    let key = |name: Value, expires_at: Value, scopes: Value| json!({"name": name, "expires_at": expires_at, "scopes": scopes});
    let ok_scopes = json!(["projects:read"]);
    let cases = [
        (json!({}), "name"),
        (json!({"name": "   "}), "name"),
        (json!({"name": "x".repeat(101)}), "name"),
        (json!({"name": 7}), "name"),
        (json!({"name": "bot", "colour": "blue"}), "colour"),
    ];
    for (body, field) in cases {
        let answer = app.call("POST", "/v1/bots", Some(body.clone())).await;
        answer.expect(400);
        assert_eq!((answer.error_code(), answer.field()), ("validation_failed", field), "{body}");
    }

    let cases = [
        (json!({"expires_at": in_a_day, "scopes": ok_scopes}), "name"),
        (key(json!("k"), Value::Null, ok_scopes.clone()), "expires_at"),
        (key(json!("k"), json!(app.expiry(TimeDelta::seconds(-1))), ok_scopes.clone()), "expires_at"),
        (key(json!("k"), json!(app.expiry(TimeDelta::days(366))), ok_scopes.clone()), "expires_at"),
        (key(json!("k"), json!("tomorrow"), ok_scopes.clone()), "expires_at"),
        (key(json!("k"), json!(in_a_day), Value::Null), "scopes"),
        (key(json!("k"), json!(in_a_day), json!([])), "scopes"),
        (key(json!("k"), json!(in_a_day), json!(["projects:delete"])), "scopes"),
        (key(json!("k"), json!(in_a_day), json!(["projects:read", "projects:read"])), "scopes"),
        (key(json!("k"), json!(in_a_day), json!("projects:read")), "scopes"),
        (json!({"name": "k", "expires_at": in_a_day, "scopes": ok_scopes, "secret": "x"}), "secret"),
    ];
    for (body, field) in cases {
        let answer = app.call("POST", &keys, Some(body.clone())).await;
        answer.expect(400);
        assert_eq!((answer.error_code(), answer.field()), ("validation_failed", field), "{body}");
    }
    let listed = app.call("GET", &keys, None).await;
    assert_eq!(listed.body["items"], json!([]), "no refused request left anything behind");

    let mut not_json = ApiRequest::new("POST", "/v1/bots");
    not_json.body("{name: bot}", Some("application/json"));
    let answer = app.send(&not_json).await;
    answer.expect(400);
    assert_eq!(answer.field(), "body");

    let mut twice = ApiRequest::new("POST", "/v1/bots");
    twice.body(r#"{"name": "bot", "name": "other bot"}"#, Some("application/json"));
    let answer = app.send(&twice).await;
    answer.expect(400);
    assert_eq!(answer.field(), "name", "a field given twice is refused, not silently the last one");

    let mut plain = ApiRequest::new("POST", "/v1/bots");
    plain.body(r#"{"name": "bot"}"#, Some("text/plain"));
    assert_eq!(app.send(&plain).await.expect(415).error_code(), "unsupported_media_type");

    let mut huge = ApiRequest::new("POST", "/v1/bots");
    huge.body(&json!({"name": "x".repeat(20_000)}).to_string(), Some("application/json"));
    assert_eq!(app.send(&huge).await.expect(413).error_code(), "payload_too_large");

    for query in ["limit=0", "limit=101", "limit=ten", "cursor=not-a-cursor"] {
        let answer = app.call("GET", &format!("/v1/bots?{query}"), None).await;
        answer.expect(400);
        assert_eq!(answer.field(), query.split('=').next().unwrap());
    }

    app.key(&bot).await;
    app.key(&bot).await;
    let over = app.call("POST", &keys, Some(key(json!("k"), json!(in_a_day), ok_scopes.clone()))).await;
    assert_eq!(over.expect(409).error_code(), "active_key_limit");

    let missing_bot = nico_keys::BotId::generate(app.world.now());
    let missing_key = nico_keys::KeyId::generate(app.world.now());
    for path in [
        format!("/v1/bots/{missing_bot}"),
        format!("/v1/bots/{missing_bot}/keys"),
        format!("/v1/bots/{bot}/keys/{missing_key}"),
        format!("/v1/bots/{bot}/keys/not-an-id"),
        "/v1/bots/not-an-id".to_owned(),
    ] {
        app.call("GET", &path, None).await.expect(404);
    }
    let revoke_missing = app.call("POST", &format!("/v1/bots/{bot}/keys/{missing_key}/revoke"), None).await;
    assert_eq!(revoke_missing.expect(404).error_code(), "key_not_found");

    let mut revoke_with_body = ApiRequest::new("POST", &format!("/v1/bots/{bot}/keys/{missing_key}/revoke"));
    // A reason is welcome (branch audit); anything else is not a field of a revocation.
    revoke_with_body.json(&json!({"reason": "leaked", "colour": "red"}));
    assert_eq!(app.send(&revoke_with_body).await.expect(400).field(), "colour");

    app.call("GET", "/v1/nothing", None).await.expect(404);
    let wrong_method = app.call("PUT", "/v1/bots", None).await;
    wrong_method.expect(405);
    assert_eq!(wrong_method.headers["allow"], "GET, POST");
}

#[tokio::test]
async fn names_and_identities_with_invisible_formatting_characters_are_refused() {
    let app = app().await;
    let bot = app.bot().await;
    // Bidi override, zero-width space, line and paragraph separators, byte order mark, soft hyphen.
    for c in ['\u{202E}', '\u{200B}', '\u{2028}', '\u{2029}', '\u{FEFF}', '\u{00AD}'] {
        let name = format!("ci{c}bot");
        let answer = app.call("POST", "/v1/bots", Some(json!({"name": name}))).await;
        answer.expect(400);
        assert_eq!(
            (answer.error_code(), answer.field()),
            ("validation_failed", "name"),
            "U+{:04X}",
            c as u32
        );
        let body =
            json!({"name": name, "expires_at": app.expiry(TimeDelta::days(1)), "scopes": ["projects:read"]});
        let answer = app.call("POST", &format!("/v1/bots/{bot}/keys"), Some(body)).await;
        answer.expect(400);
        assert_eq!(
            (answer.error_code(), answer.field()),
            ("validation_failed", "name"),
            "U+{:04X}",
            c as u32
        );

        let team = format!("team{c}a");
        let answer = app.as_team(&team, "owner", "GET", "/v1/bots", None).await;
        assert_eq!(answer.expect(401).error_code(), "unauthenticated", "team claim with U+{:04X}", c as u32);
        let mut request = ApiRequest::new("GET", "/v1/bots");
        request.claims(&[("sub", &format!("owner{c}1")), ("team_id", "team-a"), ("role", "owner")]);
        assert_eq!(app.send(&request).await.expect(401).error_code(), "unauthenticated");
    }
    let listed = app.call("GET", "/v1/bots", None).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1, "no refused request left anything behind");
    assert_eq!(app.call("GET", &format!("/v1/bots/{bot}/keys"), None).await.body["items"], json!([]));
}

#[tokio::test]
async fn keys_of_a_deleted_bot_user_cannot_be_revoked_or_rotated_and_it_reads_as_gone() {
    let app = app().await;
    let bot = app.bot().await;
    let (key, token) = app.key(&bot).await;
    app.call("DELETE", &format!("/v1/bots/{bot}"), None).await.expect(204);

    let revoke = app.call("POST", &format!("/v1/bots/{bot}/keys/{key}/revoke"), None).await;
    assert_eq!(revoke.expect(409).error_code(), "bot_user_deleted");
    let rotate = app.call("POST", &format!("/v1/bots/{bot}/keys/{key}/rotate"), None).await;
    assert_eq!(rotate.expect(409).error_code(), "bot_user_deleted");
    let body =
        json!({"name": "k", "expires_at": app.expiry(TimeDelta::days(1)), "scopes": ["projects:read"]});
    let create = app.call("POST", &format!("/v1/bots/{bot}/keys"), Some(body)).await;
    assert_eq!(create.expect(409).error_code(), "bot_user_deleted");

    app.call("GET", &format!("/v1/bots/{bot}"), None).await.expect(404);
    app.call("GET", &format!("/v1/bots/{bot}/keys"), None).await.expect(404);
    app.call("GET", &format!("/v1/bots/{bot}/keys/{key}"), None).await.expect(404);
    let listed = app.call("GET", "/v1/bots", None).await;
    assert_eq!(listed.body["items"], json!([]));
    app.call("DELETE", &format!("/v1/bots/{bot}"), None).await.expect(204);
    assert!(matches!(app.verify(&token).await, Err(VerifyError::Rejected(Rejection::Revoked))));
}

#[tokio::test]
async fn a_rotated_key_works_until_the_grace_deadline_and_its_replacement_at_once() {
    let app = app().await;
    let bot = app.bot().await;
    let (old, old_token) = app.key(&bot).await;
    app.world.clock.advance(TimeDelta::hours(1));
    let rotated = app
        .call("POST", &format!("/v1/bots/{bot}/keys/{old}/rotate"), Some(json!({"grace_seconds": 600})))
        .await;
    rotated.expect(201);
    assert_eq!(rotated.headers["cache-control"], "no-store");
    let new_token = rotated.body["token"].as_str().unwrap().to_owned();
    assert_eq!(rotated.body["key"]["name"], "deploy");
    assert_eq!(rotated.body["key"]["scopes"], json!(["projects:read"]));
    assert_eq!(rotated.body["key"]["replaces"], old.as_str());
    assert_eq!(rotated.body["replaced"]["replaced_by"], rotated.body["key"]["id"]);
    assert_eq!(rotated.body["key"]["expires_at"], app.expiry(TimeDelta::days(30)), "the same lifetime again");
    let deadline = app.world.now() + TimeDelta::minutes(10);
    assert_eq!(rotated.body["replaced"]["expires_at"], format_time(deadline));

    assert!(app.verify(&new_token).await.is_ok());
    assert!(app.verify(&old_token).await.is_ok());
    app.world.clock.set(deadline - TimeDelta::milliseconds(1));
    assert!(app.verify(&old_token).await.is_ok());
    app.world.clock.set(deadline);
    assert!(matches!(app.verify(&old_token).await, Err(VerifyError::Rejected(Rejection::Expired))));
    assert!(app.verify(&new_token).await.is_ok());

    let again = app.call("POST", &format!("/v1/bots/{bot}/keys/{old}/rotate"), None).await;
    assert_eq!(again.expect(409).error_code(), "key_already_rotated");
    let too_generous = app
        .call(
            "POST",
            &format!("/v1/bots/{bot}/keys/{}/rotate", rotated.body["key"]["id"].as_str().unwrap()),
            Some(json!({"grace_seconds": 86_401})),
        )
        .await;
    assert_eq!(too_generous.expect(400).field(), "grace_seconds");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deleting_a_bot_user_revokes_every_key_even_one_created_at_that_moment() {
    let app = app().await;
    let mut created_before_the_deletion = 0;
    for round in 0..6 {
        let bot = app.bot().await;
        let (_, existing) = app.key(&bot).await;
        let creators: Vec<_> = (0..3)
            .map(|_| {
                let app = App { world: Arc::clone(&app.world), api: Arc::clone(&app.api) };
                let bot = bot.clone();
                tokio::spawn(async move {
                    let body = json!({"name": "k", "expires_at": app.expiry(TimeDelta::days(1)), "scopes": ["projects:read"]});
                    let answer = app.call("POST", &format!("/v1/bots/{bot}/keys"), Some(body)).await;
                    match answer.status.as_u16() {
                        201 => Some(answer.body["token"].as_str().unwrap().to_owned()),
                        409 => None, // bot_user_deleted or concurrent_change: the deletion came first
                        other => panic!("create answered {other}: {}", answer.text),
                    }
                })
            })
            .collect();
        // Let the creates start first on the other threads, by a little more each round.
        tokio::time::sleep(std::time::Duration::from_millis(round)).await;
        app.call("DELETE", &format!("/v1/bots/{bot}"), None).await.expect(204);
        let mut tokens = vec![existing];
        for creator in creators {
            if let Some(token) = creator.await.unwrap() {
                created_before_the_deletion += 1;
                tokens.push(token);
            }
        }
        for token in tokens {
            assert!(
                matches!(app.verify(&token).await, Err(VerifyError::Rejected(Rejection::Revoked))),
                "round {round}: a key of a deleted bot user still works"
            );
        }
    }
    assert!(created_before_the_deletion > 0, "no create got through before the deletion: no race happened");
}

#[tokio::test]
async fn lists_page_with_limit_and_cursor() {
    let app = app().await;
    let mut bots = Vec::new();
    for _ in 0..5 {
        bots.push(app.bot().await);
        app.world.clock.advance(TimeDelta::milliseconds(1));
    }
    let mut seen = Vec::new();
    let mut path = "/v1/bots?limit=2".to_owned();
    loop {
        let page = app.call("GET", &path, None).await;
        page.expect(200);
        let items = page.body["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|b| b["id"].as_str().unwrap().to_owned()));
        match page.body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/bots?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, bots);
}

#[tokio::test]
async fn a_named_stage_in_the_path_is_not_part_of_the_route() {
    let app = app().await;
    let mut request = ApiRequest::new("GET", "/prod/v1/bots");
    request.stage("prod");
    let answer = app.api.handle(request.build()).await;
    assert_eq!(answer.status(), StatusCode::OK);
}

#[test]
fn the_openapi_document_lists_exactly_the_routes_the_router_serves() {
    let mut documented = nico_keys_tests::openapi::operations();
    documented.sort();
    let mut served: Vec<(String, String)> = key_management::routes::ROUTES
        .iter()
        .map(|r| (r.method.as_str().to_lowercase(), r.path.to_owned()))
        .collect();
    served.sort();
    assert_eq!(documented, served);
}

#[tokio::test]
async fn the_sample_events_for_cargo_lambda_invoke_reach_their_routes() {
    let app = app().await;
    let bot = app.bot().await;
    let (key, _) = app.key(&bot).await;
    let run = |name: &str| {
        let path = format!("{}/../infra/events/management-{name}.json", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let text = text.replace("BOT_ID_HERE00000", &bot).replace("KEY_ID_HERE00000", &key);
        let api = Arc::clone(&app.api);
        async move { api.handle(lambda_http::request::from_str(&text).unwrap()).await.status().as_u16() }
    };
    let expected = [
        ("create-bot", 201),
        ("list-bots", 200),
        ("get-bot", 200),
        ("create-key", 201),
        ("list-keys", 200),
        ("get-key", 200),
        ("rotate-key", 201),
        ("revoke-key", 200), // a rotated-out key can still be revoked before its deadline
        ("delete-bot", 204),
    ];
    for (name, status) in expected {
        assert_eq!(run(name).await, status, "{name}");
    }
}
