//! GitHub's secret-scanning reports through the local runner as a process: only a report
//! signed by one of GitHub's keys is read, every live key of ours in it is revoked at once,
//! and the answer is GitHub's feedback array. Keys and reports are the tests' own (P-256 keys
//! in GitHub's published format).

use std::time::Instant;

use chrono::{TimeDelta, Utc};
use nico_keys::model::format_time;
use nico_keys_tests::github::{GithubKey, KeySetEndpoint, key_set, report};
use nico_keys_tests::runner::{Answer, Runner};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const PATH: &str = leak_report::PATH;

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

async fn runner_trusting(keys: &[&GithubKey]) -> Runner {
    Runner::start(&[], &[("GITHUB_SECRET_SCANNING_KEYS", &key_set(keys))]).await
}

async fn post_report(runner: &Runner, body: Vec<u8>, headers: &[(&str, String)]) -> Answer {
    let mut all: Vec<(&str, &str)> = vec![("content-type", "application/json")];
    all.extend(headers.iter().map(|(name, value)| (*name, value.as_str())));
    runner.request("POST", PATH, &all, body).await
}

async fn signed(runner: &Runner, github: &GithubKey, tokens: &[&str]) -> Answer {
    let body = report(tokens);
    let headers = github.sign(&body);
    post_report(runner, body, &headers).await
}

/// A bot user of the runner's owner with `count` keys: (bot id, [(key id, token)]).
async fn bot_with_keys(runner: &Runner, count: usize) -> (String, Vec<(String, String)>) {
    let owner = bearer(&runner.owner);
    let (status, bot) = runner
        .send("POST", "/v1/bots", Some(&owner), Some(&json!({"name": "ci", "scopes": ["projects:read"]})))
        .await;
    assert_eq!(status, 201, "{bot}");
    let bot = bot["id"].as_str().unwrap().to_owned();
    let mut keys = Vec::new();
    for i in 0..count {
        let body = json!({"name": format!("key {i}"), "expires_at": format_time(Utc::now() + TimeDelta::days(7)), "scopes": ["projects:read"]});
        let (status, issued) =
            runner.send("POST", &format!("/v1/bots/{bot}/keys"), Some(&owner), Some(&body)).await;
        assert_eq!(status, 201, "{issued}");
        keys.push((
            issued["key"]["id"].as_str().unwrap().to_owned(),
            issued["token"].as_str().unwrap().to_owned(),
        ));
    }
    (bot, keys)
}

async fn works(runner: &Runner, token: &str) -> bool {
    runner.send("GET", "/projects/1", Some(&bearer(token)), None).await.0 == 200
}

fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

fn feedback(token: &str, label: &str) -> Value {
    json!({"token_hash": token_hash(token), "token_type": "nico_api_key", "label": label})
}

#[tokio::test]
async fn a_signed_report_of_a_live_key_revokes_it_at_once_and_answers_true_positive() {
    let github = GithubKey::new("gh-1", 1);
    let runner = runner_trusting(&[&github]).await;
    let (bot, keys) = bot_with_keys(&runner, 2).await;
    let ((leaked_id, leaked), (_, kept)) = (&keys[0], &keys[1]);
    assert!(works(&runner, leaked).await);

    let answer = signed(&runner, &github, &[leaked]).await;
    assert_eq!((answer.status, answer.json()), (200, json!([feedback(leaked, "true_positive")])));

    assert!(!works(&runner, leaked).await, "refused on the very next call");
    assert!(works(&runner, kept).await, "the bot user's other keys are untouched");
    let (_, view) = runner
        .send("GET", &format!("/v1/bots/{bot}/keys/{leaked_id}"), Some(&bearer(&runner.owner)), None)
        .await;
    assert_eq!(
        (view["status"].as_str(), view["revoked_by"].as_str()),
        (Some("revoked"), Some("github-secret-scanning"))
    );
    let (_, audit) =
        runner.send("GET", &format!("/v1/audit?bot={bot}"), Some(&bearer(&runner.owner)), None).await;
    let event = &audit["items"][0];
    assert_eq!(
        (event["action"].as_str(), event["actor"].as_str(), event["key_id"].as_str()),
        (Some("key.revoked"), Some("github-secret-scanning"), Some(leaked_id.as_str())),
        "{audit}"
    );
    assert_eq!(
        event["reason"],
        "found in public by GitHub secret scanning: https://github.com/octo/repo/blob/main/.env"
    );
}

#[tokio::test]
async fn strings_that_are_not_live_keys_of_ours_are_false_positives_and_change_nothing() {
    let github = GithubKey::new("gh-1", 1);
    let runner = runner_trusting(&[&github]).await;
    let (bot, keys) = bot_with_keys(&runner, 1).await;
    let live = &keys[0].1;
    let mut wrong_checksum = live.clone();
    let last = if wrong_checksum.ends_with('A') { "B" } else { "A" };
    wrong_checksum.replace_range(wrong_checksum.len() - 1.., last);
    let unknown_key =
        nico_keys::token::IssuedKey::generate(nico_keys::BotId::parse(&bot).unwrap(), Utc::now());
    let unknown_key = unknown_key.raw.expose().to_owned();
    let strangers = ["ghp_someone_elses_token", "nico_", wrong_checksum.as_str(), unknown_key.as_str()];

    let answer = signed(&runner, &github, &strangers).await;
    let expected: Vec<Value> = strangers.iter().map(|token| feedback(token, "false_positive")).collect();
    assert_eq!((answer.status, answer.json()), (200, Value::Array(expected)));
    assert!(works(&runner, live).await);
}

#[tokio::test]
async fn unsigned_tampered_foreign_or_oversized_reports_are_refused_and_revoke_nothing() {
    let (github, impostor) = (GithubKey::new("gh-1", 1), GithubKey::new("gh-1", 2));
    let runner = runner_trusting(&[&github]).await;
    let (_, keys) = bot_with_keys(&runner, 1).await;
    let live = &keys[0].1;
    let body = report(&[live]);
    let headers = github.sign(&body);

    let unsigned = post_report(&runner, body.clone(), &[]).await;
    assert_eq!(unsigned.status, 401, "no signature headers");
    let mut tampered = body.clone();
    tampered.push(b' ');
    assert_eq!(post_report(&runner, tampered, &headers).await.status, 401, "body changed after signing");
    let mut unknown_id = headers.clone();
    unknown_id[0].1 = "gh-2".into();
    assert_eq!(post_report(&runner, body.clone(), &unknown_id).await.status, 401, "unknown key identifier");
    let foreign = impostor.sign(&body);
    assert_eq!(post_report(&runner, body.clone(), &foreign).await.status, 401, "signed by another key");

    let mut oversized = body.clone();
    oversized.resize(1024 * 1024 + 1, b' ');
    let headers = github.sign(&oversized);
    assert_eq!(post_report(&runner, oversized, &headers).await.status, 413, "size is checked first");

    assert!(works(&runner, live).await, "nothing was revoked");
}

#[tokio::test]
async fn the_same_report_twice_is_harmless() {
    let github = GithubKey::new("gh-1", 1);
    let runner = runner_trusting(&[&github]).await;
    let (bot, keys) = bot_with_keys(&runner, 1).await;
    let (key_id, leaked) = &keys[0];
    let path = format!("/v1/bots/{bot}/keys/{key_id}");

    let first = signed(&runner, &github, &[leaked, leaked]).await;
    let (_, after_first) = runner.send("GET", &path, Some(&bearer(&runner.owner)), None).await;
    let second = signed(&runner, &github, &[leaked]).await;
    let (_, after_second) = runner.send("GET", &path, Some(&bearer(&runner.owner)), None).await;

    assert_eq!(first.json(), json!([feedback(leaked, "true_positive"), feedback(leaked, "true_positive")]));
    assert_eq!(second.json(), json!([feedback(leaked, "true_positive")]));
    assert_eq!(after_first["revoked_at"], after_second["revoked_at"], "revoked once");
}

#[tokio::test]
async fn a_thousand_entry_report_is_answered_within_githubs_time_limit() {
    let github = GithubKey::new("gh-1", 1);
    // The embedded store: the serial moto of the tests answers one call at a time, which would
    // measure its queue, not the handler (DynamoDB serves the 16 revocations in flight at once).
    let keys = key_set(&[&github]);
    let runner = Runner::start(&["--store", "embedded"], &[("GITHUB_SECRET_SCANNING_KEYS", &keys)]).await;
    let (_, first) = bot_with_keys(&runner, 50).await;
    let (_, second) = bot_with_keys(&runner, 50).await;
    let live: Vec<String> = first.into_iter().chain(second).map(|(_, token)| token).collect();
    let strangers: Vec<String> = (0..900).map(|i| format!("nico_not_a_key_{i}")).collect();
    let tokens: Vec<&str> = live.iter().chain(&strangers).map(String::as_str).collect();

    let started = Instant::now();
    let answer = signed(&runner, &github, &tokens).await;
    let took = started.elapsed();
    eprintln!("a 1,000-entry report (100 live keys) took {took:?}");

    assert_eq!(answer.status, 200, "answered within the handler's budget: {}", answer.text());
    let labels = answer.json();
    let positives =
        labels.as_array().unwrap().iter().filter(|entry| entry["label"] == "true_positive").count();
    assert_eq!(positives, 100);
    for token in live.iter().take(3) {
        assert!(!works(&runner, token).await);
    }
    let mut too_many = tokens.clone();
    too_many.push("one more");
    assert_eq!(signed(&runner, &github, &too_many).await.status, 400, "at most 1,000 entries");
}

#[tokio::test]
async fn a_key_github_rotated_in_is_fetched_once_and_made_up_identifiers_cost_one_fetch_a_minute() {
    let (old, new) = (GithubKey::new("gh-old", 1), GithubKey::new("gh-new", 2));
    let endpoint = KeySetEndpoint::start(key_set(&[&old])).await;
    let runner = Runner::start(&[], &[("GITHUB_KEYS_URL", &endpoint.url)]).await;
    let (_, keys) = bot_with_keys(&runner, 2).await;

    assert_eq!(signed(&runner, &old, &[&keys[0].1]).await.status, 200);
    assert_eq!(endpoint.fetches(), 1, "fetched on first use");

    endpoint.publish(key_set(&[&old, &new])).await;
    assert_eq!(signed(&runner, &new, &[&keys[1].1]).await.status, 200, "the new key, after one refetch");
    assert_eq!(endpoint.fetches(), 2);

    for made_up in ["gh-x", "gh-y", "gh-z"] {
        assert_eq!(signed(&runner, &GithubKey::new(made_up, 3), &["x"]).await.status, 401);
    }
    assert_eq!(endpoint.fetches(), 3, "one refetch for the first unknown identifier, none after");
}

#[tokio::test]
async fn the_configured_key_set_is_the_fallback_when_githubs_endpoint_is_unreachable() {
    let github = GithubKey::new("gh-1", 1);
    let unreachable = "http://127.0.0.1:9/meta/public_keys/secret_scanning";
    let runner = Runner::start(
        &[],
        &[("GITHUB_KEYS_URL", unreachable), ("GITHUB_SECRET_SCANNING_KEYS", &key_set(&[&github]))],
    )
    .await;
    let (_, keys) = bot_with_keys(&runner, 1).await;
    let answer = signed(&runner, &github, &[&keys[0].1]).await;
    assert_eq!((answer.status, answer.json()), (200, json!([feedback(&keys[0].1, "true_positive")])));
}

#[tokio::test]
async fn without_a_key_set_the_runner_does_not_serve_reports() {
    let runner = Runner::start(&[], &[]).await;
    let answer = signed(&runner, &GithubKey::new("gh-1", 1), &["x"]).await;
    assert_eq!(answer.status, 404);
}

#[test]
fn the_sample_event_is_signed_by_the_sample_key_set() {
    let read = |name: &str| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../infra/events/").to_owned() + name;
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    };
    let keys = leak_report::signature::KeySet::parse(&read("github-secret-scanning-keys.json")).unwrap();
    let event: Value = serde_json::from_str(&read("leak-report-github.json")).unwrap();
    let header = |name: &str| event["headers"][name].as_str().unwrap();
    let body = event["body"].as_str().unwrap().as_bytes();
    assert_eq!(event["rawPath"], PATH);
    assert_eq!(
        keys.verify(header("github-public-key-identifier"), header("github-public-key-signature"), body),
        Ok(())
    );
}

/// The holder hears of it: one notice on the signals topic (moto's SNS, read from a subscribed
/// queue), with the attributes subscriptions filter on, and the key's hint, never the key.
#[tokio::test]
async fn a_revoked_leak_is_published_once_for_its_team_and_account() {
    use std::sync::Arc;

    use leak_report::keyring::KeyRing;
    use leak_report::signature::KeySet;
    use nico_keys_tests::http::ApiRequest;
    use nico_keys_tests::sns::Inbox;
    use nico_keys_tests::world::World;

    let w = World::dynamodb().await;
    let inbox = Inbox::new().await;
    let github = GithubKey::new("gh-1", 1);
    let keys = KeyRing::new(
        None::<leak_report::fetch::HttpsSource>,
        Some(KeySet::parse(&key_set(&[&github])).unwrap()),
    );
    let publisher = notifier::SnsPublisher::from_env(inbox.topic_arn.clone()).await;
    let leaks = leak_report::LeakReport::new(w.store.clone(), keys, publisher, Arc::new(w.clock.clone()));
    let bot = w.bot().await;
    let (key, raw) = w.key_for(&bot, TimeDelta::days(30)).await;

    let body = report(&[raw.expose()]);
    for _ in 0..2 {
        let mut request = ApiRequest::new("POST", PATH);
        request.without_claims().body(std::str::from_utf8(&body).unwrap(), Some("application/json"));
        for (name, value) in github.sign(&body) {
            request.header(name, &value);
        }
        assert_eq!(leaks.handle(request.build()).await.status(), 200);
    }

    let delivered = inbox.drain().await;
    assert_eq!(delivered.len(), 1, "one notice, though reported twice: {delivered:?}");
    let notice = &delivered[0];
    assert_eq!(notice.attributes["kind"], "key.leaked");
    assert_eq!(notice.attributes["team_id"], w.team.as_str());
    assert_eq!(notice.attributes["account"], bot.account.as_str());
    assert_eq!(notice.body["key"]["id"], key.id.to_string());
    assert_eq!(notice.body["key"]["hint"], key.hint);
    assert!(!notice.body.to_string().contains(raw.expose()), "never the key itself");
}

/// A leak report is a revocation path like the others: one flush of each listed stage's
/// authorizer cache per report that revoked, none for a report of strangers.
#[tokio::test]
async fn a_report_that_revokes_flushes_each_listed_stage_once() {
    use std::sync::Arc;

    use leak_report::keyring::KeyRing;
    use leak_report::signature::KeySet;
    use nico_keys::flush::Stage;
    use nico_keys::flush::apigateway::{ApiGatewayFlusher, Endpoints, FLUSH_BUDGET};
    use nico_keys_tests::flush_stub::FlushStub;
    use nico_keys_tests::http::ApiRequest;
    use nico_keys_tests::world::World;

    let w = World::embedded();
    let stub = FlushStub::start(0).await;
    let stages = Stage::parse_list("rest:abc123/prod,http:def456/$default").unwrap();
    let endpoints = Endpoints { rest: Some(stub.url.clone()), http: Some(stub.url.clone()) };
    let flusher = ApiGatewayFlusher::new(stages, endpoints, FLUSH_BUDGET).unwrap();
    let github = GithubKey::new("gh-1", 1);
    let keys = KeyRing::new(
        None::<leak_report::fetch::HttpsSource>,
        Some(KeySet::parse(&key_set(&[&github])).unwrap()),
    );
    let leaks = leak_report::LeakReport::new(
        w.store.clone(),
        keys,
        notifier::StdoutPublisher,
        Arc::new(w.clock.clone()),
    )
    .with_flusher(Arc::new(flusher));
    let bot = w.bot().await;
    let (_, first) = w.key_for(&bot, TimeDelta::days(30)).await;
    let (_, second) = w.key_for(&bot, TimeDelta::days(30)).await;
    let send = |tokens: Vec<String>| {
        let body = report(&tokens.iter().map(String::as_str).collect::<Vec<_>>());
        let mut request = ApiRequest::new("POST", PATH);
        request.without_claims().body(std::str::from_utf8(&body).unwrap(), Some("application/json"));
        for (name, value) in github.sign(&body) {
            request.header(name, &value);
        }
        request.build()
    };

    assert_eq!(leaks.handle(send(vec!["nico_not_ours".into()])).await.status(), 200);
    assert!(stub.calls().is_empty(), "nothing revoked, nothing flushed");
    let both = vec![first.expose().to_owned(), second.expose().to_owned()];
    assert_eq!(leaks.handle(send(both)).await.status(), 200);
    assert_eq!(stub.calls().len(), 2, "one flush per stage for the whole report: {:?}", stub.calls());
}
