//! `GET /v1/whoami` through the local runner as a process, over real HTTP, as a CLI holding a
//! key would call it: the key describes itself through the Lambda authorizer (in either mode
//! of the example API), is refused once revoked or expired, and a person's JWT is no key.

use chrono::TimeDelta;
use nico_keys::model::format_time;
use nico_keys_tests::runner::{Runner, TestClock};
use serde_json::{Value, json};

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

async fn whoami_answers_for_the_calling_key_and_refuses_it_after_revocation(authorizer: &str) {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let [flag, file] = clock.args();
    let args = [
        "--store",
        "embedded",
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--authorizer",
        authorizer,
        flag,
        file,
    ];
    let runner = Runner::start(&args, &[]).await;
    let owner = bearer(&runner.owner);
    let (status, bot) = runner
        .send(
            "POST",
            "/v1/bots",
            Some(&owner),
            Some(&json!({"name": "cli bot", "scopes": ["projects:read"]})),
        )
        .await;
    assert_eq!(status, 201, "{bot}");
    let bot_id = bot["id"].as_str().unwrap().to_owned();
    let expires_at = format_time(clock.now() + TimeDelta::days(7));
    let body = json!({"name": "claude skill", "expires_at": expires_at, "scopes": ["projects:read"]});
    let (status, issued) =
        runner.send("POST", &format!("/v1/bots/{bot_id}/keys"), Some(&owner), Some(&body)).await;
    assert_eq!(status, 201, "{issued}");
    let key = issued["token"].as_str().unwrap().to_owned();
    let key_id = issued["key"]["id"].as_str().unwrap().to_owned();

    clock.advance(TimeDelta::hours(1));
    let (status, me) = runner.send("GET", "/v1/whoami", Some(&bearer(&key)), None).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(
        me,
        json!({
            "bot": {"id": bot_id, "name": "cli bot"},
            "team_id": "local-team",
            "key": {
                "id": key_id,
                "name": "claude skill",
                "hint": issued["key"]["hint"],
                "scopes": ["projects:read"],
                "expires_at": expires_at,
                "expires_in_seconds": 7 * 86_400 - 3_600,
                "created_at": issued["key"]["created_at"],
            },
        })
    );
    // Not a key: no answer. A person's JWT is not a key either.
    assert_eq!(runner.send("GET", "/v1/whoami", None, None).await.0, 401);
    assert_eq!(
        runner.send("GET", "/v1/whoami", Some(&owner), None).await,
        (403, json!({"message": "Forbidden"}))
    );
    assert_eq!(
        runner.send("GET", "/v1/whoami", Some(&bearer(&format!("{key}x"))), None).await,
        (403, json!({"message": "Forbidden"}))
    );

    // Revoked: refused on the very next call.
    let revoke = format!("/v1/bots/{bot_id}/keys/{key_id}/revoke");
    assert_eq!(runner.send("POST", &revoke, Some(&owner), None).await.0, 200);
    let (status, refused): (u16, Value) = runner.send("GET", "/v1/whoami", Some(&bearer(&key)), None).await;
    assert_eq!((status, refused), (403, json!({"message": "Forbidden"})));
    runner.kill().await;
}

#[tokio::test]
async fn a_key_describes_itself_through_the_key_authorizer_and_not_after_revocation() {
    whoami_answers_for_the_calling_key_and_refuses_it_after_revocation("http").await;
}

#[tokio::test]
async fn whoami_is_served_behind_the_key_authorizer_whatever_the_example_api_mode() {
    whoami_answers_for_the_calling_key_and_refuses_it_after_revocation("rest-token").await;
}
