//! End to end over real HTTP: the local runner as a process, with the embedded store and with
//! DynamoDB (moto), emulating both authorizer integrations. "Refused" means exactly what API
//! Gateway answers in the emulated mode: REST TOKEN 401 `{"message":"Unauthorized"}`, HTTP API
//! 403 `{"message":"Forbidden"}`.

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use nico_keys::model::format_time;
use nico_keys_tests::runner::Runner;
use serde_json::{Value, json};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Http,
    RestToken,
}

impl Mode {
    fn flag(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::RestToken => "rest-token",
        }
    }

    /// API Gateway's answer to a bad, expired or revoked key.
    fn refusal(self) -> (u16, Value) {
        match self {
            Self::Http => (403, json!({"message": "Forbidden"})),
            Self::RestToken => (401, json!({"message": "Unauthorized"})),
        }
    }

    /// API Gateway's answer when the authorizer's answer denies the route: for REST, the
    /// policy's explicit Deny.
    fn denied(self) -> (u16, Value) {
        match self {
            Self::Http => (403, json!({"message": "Forbidden"})),
            Self::RestToken => (
                403,
                json!({"Message": "User is not authorized to access this resource with an explicit deny"}),
            ),
        }
    }

    /// API Gateway's answer to a valid key outside its scopes.
    fn out_of_scope(self) -> (u16, Value) {
        match self {
            Self::Http => (403, json!({"message": "Forbidden"})),
            Self::RestToken => (403, json!({"Message": "User is not authorized to access this resource"})),
        }
    }
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

async fn embedded(mode: Mode, dir: &std::path::Path) -> Runner {
    let dir = dir.to_str().unwrap();
    Runner::start(&["--store", "embedded", "--data-dir", dir, "--authorizer", mode.flag()], &[]).await
}

async fn dynamodb(mode: Mode, table: &str) -> Runner {
    nico_keys_tests::dynamodb_endpoint();
    Runner::start(&["--store", "dynamodb", "--authorizer", mode.flag()], &[("TABLE_NAME", table)]).await
}

fn fresh_table() -> String {
    format!("local-{}", nico_keys::BotId::generate(Utc::now()))
}

async fn issue(runner: &Runner, bot: &str, scopes: &[&str], expires_in: TimeDelta) -> (String, String) {
    let body =
        json!({"name": "laptop", "expires_at": format_time(Utc::now() + expires_in), "scopes": scopes});
    let (status, issued) =
        runner.send("POST", &format!("/v1/bots/{bot}/keys"), Some(&bearer(&runner.owner)), Some(&body)).await;
    assert_eq!(status, 201, "{issued}");
    (issued["key"]["id"].as_str().unwrap().to_owned(), issued["token"].as_str().unwrap().to_owned())
}

/// The seed's whole story, as an owner and a bot would live it.
async fn the_whole_story(runner: &Runner, mode: Mode) {
    let owner = bearer(&runner.owner);
    let (status, bot) = runner.send("POST", "/v1/bots", Some(&owner), Some(&json!({"name": "ci bot"}))).await;
    assert_eq!(status, 201, "{bot}");
    let bot = bot["id"].as_str().unwrap().to_owned();
    let (key_id, key) = issue(runner, &bot, &["projects:read"], TimeDelta::days(30)).await;

    let (status, echoed) = runner.send("GET", "/projects/42", Some(&bearer(&key)), None).await;
    assert_eq!(status, 200, "{echoed}");
    assert_eq!(
        echoed["authorizer"],
        json!({"bot_id": bot, "team_id": "local-team", "key_id": key_id, "scopes": "projects:read"})
    );

    let wrong_scope = runner.send("POST", "/projects/42", Some(&bearer(&key)), None).await;
    assert_eq!(wrong_scope, mode.out_of_scope());

    let (status, listed) = runner.send("GET", &format!("/v1/bots/{bot}/keys"), Some(&owner), None).await;
    assert_eq!(status, 200);
    assert_eq!(
        (listed["items"][0]["name"].as_str(), listed["items"][0]["status"].as_str()),
        (Some("laptop"), Some("active"))
    );

    let (status, revoked) =
        runner.send("POST", &format!("/v1/bots/{bot}/keys/{key_id}/revoke"), Some(&owner), None).await;
    assert_eq!((status, revoked["status"].as_str()), (200, Some("revoked")));
    assert_eq!(
        runner.send("GET", "/projects/42", Some(&bearer(&key)), None).await,
        mode.refusal(),
        "the very next call"
    );

    let (_, short_lived) = issue(runner, &bot, &["projects:read"], TimeDelta::milliseconds(2500)).await;
    assert_eq!(runner.send("GET", "/projects/42", Some(&bearer(&short_lived)), None).await.0, 200);
    tokio::time::sleep(Duration::from_millis(2600)).await;
    assert_eq!(
        runner.send("GET", "/projects/42", Some(&bearer(&short_lived)), None).await,
        mode.refusal(),
        "expired"
    );

    for malformed in ["Bearer nico_not_a_key", "Bearer", &key[..40], "Basic dXNlcjpwYXNz"] {
        assert_eq!(
            runner.send("GET", "/projects/42", Some(malformed), None).await,
            mode.refusal(),
            "{malformed}"
        );
    }
    assert_eq!(
        runner.send("GET", "/projects/42", None, None).await,
        (401, json!({"message": "Unauthorized"}))
    );

    let stranger = nico_local::jwt::Jwt::local().mint(
        &[("sub", "mallory"), ("team_id", "other-team"), ("role", "owner")],
        Utc::now().timestamp(),
        600,
    );
    let (status, answer) =
        runner.send("GET", &format!("/v1/bots/{bot}"), Some(&bearer(&stranger)), None).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (404, Some("bot_user_not_found")));
    let (status, _) = runner.send("GET", "/v1/bots", Some("Bearer not-a-jwt"), None).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn the_whole_story_on_the_embedded_store_with_an_http_api() {
    let dir = tempfile::tempdir().unwrap();
    the_whole_story(&embedded(Mode::Http, dir.path()).await, Mode::Http).await;
}

#[tokio::test]
async fn the_whole_story_on_the_embedded_store_with_a_rest_api() {
    let dir = tempfile::tempdir().unwrap();
    the_whole_story(&embedded(Mode::RestToken, dir.path()).await, Mode::RestToken).await;
}

#[tokio::test]
async fn the_whole_story_on_dynamodb_with_an_http_api() {
    the_whole_story(&dynamodb(Mode::Http, &fresh_table()).await, Mode::Http).await;
}

#[tokio::test]
async fn the_whole_story_on_dynamodb_with_a_rest_api() {
    the_whole_story(&dynamodb(Mode::RestToken, &fresh_table()).await, Mode::RestToken).await;
}

#[tokio::test]
async fn keys_survive_a_restart_of_the_embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    let runner = embedded(Mode::Http, dir.path()).await;
    let owner = bearer(&runner.owner);
    let (_, bot) = runner.send("POST", "/v1/bots", Some(&owner), Some(&json!({"name": "ci bot"}))).await;
    let (_, key) = issue(&runner, bot["id"].as_str().unwrap(), &["projects:read"], TimeDelta::days(1)).await;
    runner.kill().await;

    let restarted = embedded(Mode::Http, dir.path()).await;
    assert_eq!(restarted.send("GET", "/projects/1", Some(&bearer(&key)), None).await.0, 200);
}

#[tokio::test]
async fn a_store_failure_is_a_500_in_both_modes() {
    for mode in [Mode::Http, Mode::RestToken] {
        let table = fresh_table();
        let runner = dynamodb(mode, &table).await;
        let owner = bearer(&runner.owner);
        let (_, bot) = runner.send("POST", "/v1/bots", Some(&owner), Some(&json!({"name": "ci bot"}))).await;
        let (_, key) =
            issue(&runner, bot["id"].as_str().unwrap(), &["projects:read"], TimeDelta::days(1)).await;

        let client = nico_keys::store::dynamodb::client_from_env().await;
        client.delete_table().table_name(&table).send().await.unwrap();
        let answer = runner.send("GET", "/projects/1", Some(&bearer(&key)), None).await;
        assert_eq!(answer, (500, json!({"message": "Internal Server Error"})), "{mode:?}");
    }
}

#[tokio::test]
async fn a_path_a_backend_could_read_as_another_is_denied_on_every_route_in_both_modes() {
    for mode in [Mode::Http, Mode::RestToken] {
        let dir = tempfile::tempdir().unwrap();
        let runner = embedded(mode, dir.path()).await;
        let owner = bearer(&runner.owner);
        let (_, bot) = runner.send("POST", "/v1/bots", Some(&owner), Some(&json!({"name": "ci bot"}))).await;
        let (_, key) =
            issue(&runner, bot["id"].as_str().unwrap(), &["projects:read"], TimeDelta::days(1)).await;
        let key = bearer(&key);
        let with_key = [("authorization", key.as_str())];
        assert_eq!(runner.send_raw("GET", "/projects/1", &with_key).await.0, 200, "{mode:?}");

        for path in [
            "/projects/../billing",
            "/projects/%2e%2e/billing",
            "/projects/%2E%2E/billing",
            "/projects/..%2Fbilling",
            "/projects/..%5cbilling",
            "/projects/..;/billing",
            "/projects/%252e%252e/billing",
            "/projects//billing",
            "/projects/",
            "/projects/1/.",
            "/echo/../projects/1",
            "/v1/../projects/1",
            "/v1/bots/%2e%2e/bots",
        ] {
            assert_eq!(runner.send_raw("GET", path, &with_key).await, mode.denied(), "{mode:?} {path}");
            assert_eq!(runner.send_raw("GET", path, &[]).await, mode.denied(), "{mode:?} {path}, no key");
        }
        // A backslash does not even get through the HTTP parser; if it ever does, it is denied.
        let (status, _) = runner.send_raw("GET", "/projects/..\\billing", &with_key).await;
        assert!(status == 400 || status == 403, "{mode:?}: backslash answered {status}");
    }
}

#[tokio::test]
async fn the_gateway_denies_a_backslash_path_before_routing_in_both_modes() {
    let world = nico_keys_tests::world::World::embedded();
    let config = nico_keys::Config {
        table_name: "unused".into(),
        catalog: world.catalog.clone(),
        routes: nico_keys::routes::RouteRules::parse("GET /projects/*=projects:read", &world.catalog)
            .unwrap(),
        limits: world.limits.clone(),
        claims: Default::default(),
    };
    for (mode, emulated) in
        [(Mode::Http, nico_local::Mode::Http), (Mode::RestToken, nico_local::Mode::RestToken)]
    {
        let clock = std::sync::Arc::new(world.clock.clone());
        let gateway = nico_local::Gateway::new(
            world.store.clone(),
            config.clone(),
            emulated,
            nico_local::jwt::Jwt::local(),
            clock,
        );
        for path in ["/projects/..\\billing", "/echo\\..\\projects\\1", "/v1\\bots"] {
            let request = nico_local::LocalRequest {
                method: "GET".into(),
                path: path.into(),
                query: String::new(),
                headers: vec![("authorization".into(), "Bearer nico_x".into())],
                body: Vec::new(),
            };
            let response = gateway.handle(request).await;
            let body: Value = serde_json::from_slice(&response.body).unwrap();
            assert_eq!((response.status, body), mode.denied(), "{mode:?} {path}");
        }
    }
}
