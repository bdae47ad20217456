//! The authorizer, driven with the AWS documentation's example events of each shape (REST
//! `TOKEN`, REST `REQUEST`, HTTP API 2.0) carrying real keys, against DynamoDB on moto. How it
//! fails closed when DynamoDB fails: `faults.rs`.

use std::sync::Arc;

use authorizer::{Authorizer, AuthorizerError};
use chrono::TimeDelta;
use lambda_runtime::Diagnostic;
use nico_keys::Clock;
use nico_keys::routes::RouteRules;
use nico_keys::store::KeyStore;
use nico_keys::store::dynamodb::{self, CallBudget, DynamoStore};
use nico_keys_tests::apigw::{self, Outcome, SHAPES, Shape, bearer, delivered, event, policy_allows};
use nico_keys_tests::counting::Counting;
use nico_keys_tests::logs::CapturedLogs;
use nico_keys_tests::world::World;
use serde_json::{Value, json};

const ROUTES: &str = "GET /projects/*=projects:read, POST /projects/*=projects:write, \
                      DELETE /projects/*=projects:write, GET /billing=billing:read, GET /health=*";

struct Setup {
    world: World<DynamoStore>,
    authorizer: Authorizer<Counting<DynamoStore>>,
}

async fn setup() -> Setup {
    setup_with(ROUTES).await
}

async fn setup_with(routes: &str) -> Setup {
    let world = World::dynamodb().await;
    let rules = RouteRules::parse(routes, &world.catalog).unwrap();
    let authorizer =
        Authorizer::new(Counting::new(world.store.clone()), rules, Arc::new(world.clock.clone()));
    Setup { world, authorizer }
}

impl Setup {
    async fn call(&self, shape: Shape, authorization: Option<&str>, method: &str, path: &str) -> Outcome {
        Outcome::of(self.authorizer.handle(delivered(&event(shape, authorization, method, path))).await)
    }
}

fn resources(policy: &Value) -> Vec<String> {
    let statement = &policy["policyDocument"]["Statement"][0];
    statement["Resource"].as_array().unwrap().iter().map(|r| r.as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn a_valid_key_is_let_through_in_every_event_shape_with_its_context() {
    let s = setup().await;
    let bot = s.world.bot().await;
    let (key, raw) = s.world.key(&bot).await;
    let expected_context = json!({
        "bot_id": bot.id.as_str(),
        "team_id": "team-a",
        "key_id": key.id.as_str(),
        "scopes": "projects:read projects:write",
        "expires_at": nico_keys::model::format_time(key.expires_at),
    });

    for shape in SHAPES {
        let outcome = s.call(shape, Some(&bearer(raw.expose())), "GET", "/projects/42").await;
        assert!(outcome.lets_through("GET", "/projects/42"), "{shape:?}: {outcome:?}");
        match outcome {
            Outcome::Policy(policy) => {
                assert_eq!(policy["principalId"], json!(bot.id.as_str()));
                assert_eq!(policy["context"], expected_context);
                assert_eq!(policy["policyDocument"]["Version"], "2012-10-17");
                let statement = &policy["policyDocument"]["Statement"][0];
                assert_eq!(statement["Effect"], "Allow");
                assert_eq!(statement["Action"], json!(["execute-api:Invoke"]));
            }
            Outcome::Authorized(answer) => {
                assert_eq!(answer, json!({"isAuthorized": true, "context": expected_context}));
            }
            other => panic!("{shape:?}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn the_documentation_events_are_understood_as_they_are() {
    let s = setup_with("GET /=projects:read, GET /request=projects:read, POST /my/path=projects:read").await;
    let bot = s.world.bot().await;
    let (_, raw) = s.world.key(&bot).await;
    for name in ["rest-token-authorizer.json", "rest-request-authorizer.json", "http-api-authorizer-v2.json"]
    {
        let text = serde_json::to_string(&apigw::fixture(&format!("apigw/{name}"))).unwrap();
        let event: Value = serde_json::from_str(&text.replace("{{TOKEN}}", raw.expose())).unwrap();
        let outcome = Outcome::of(s.authorizer.handle(delivered(&event)).await);
        assert!(matches!(outcome, Outcome::Policy(_) | Outcome::Authorized(_)), "{name}: {outcome:?}");
    }
}

#[tokio::test]
async fn every_bad_key_is_refused_in_the_form_of_its_shape() {
    let s = setup().await;
    let bot = s.world.bot().await;
    let (_, good) = s.world.key(&bot).await;
    let (expired_key, expired) = s.world.key_for(&bot, TimeDelta::minutes(1)).await;
    let (revoked_key, revoked) = s.world.key(&bot).await;
    s.world
        .store
        .revoke_key(&s.world.team, bot.id, revoked_key.id, &s.world.owner, s.world.now())
        .await
        .unwrap();
    let (_, never_stored) = s.world.new_key(&bot, TimeDelta::days(1));
    s.world.clock.set(expired_key.expires_at);

    let good = good.expose();
    let mut wrong_checksum = good.to_owned();
    let last = wrong_checksum.pop().unwrap();
    wrong_checksum.push(if last == 'A' { 'B' } else { 'A' });
    let cases: Vec<(&str, Option<String>)> = vec![
        ("no header", None),
        ("empty header", Some(String::new())),
        ("key without scheme", Some(good.to_owned())),
        ("other scheme", Some(format!("Basic {good}"))),
        ("malformed key", Some(bearer("nico_not_a_key"))),
        ("wrong checksum", Some(bearer(&wrong_checksum))),
        ("unknown key", Some(bearer(never_stored.expose()))),
        ("expired key", Some(bearer(expired.expose()))),
        ("revoked key", Some(bearer(revoked.expose()))),
    ];
    for shape in SHAPES {
        for (case, header) in &cases {
            let outcome = s.call(shape, header.as_deref(), "GET", "/projects/1").await;
            assert!(outcome.is_refusal(shape), "{shape:?}, {case}: {outcome:?}");
        }
    }
}

#[tokio::test]
async fn a_route_outside_the_keys_scopes_is_refused_by_api_gateway() {
    let s = setup().await;
    let bot = s.world.bot().await;
    let (_, raw) = s.world.key_for_scopes(&bot, &["projects:read"]).await;
    let header = bearer(raw.expose());

    for shape in SHAPES {
        for (method, path) in [("POST", "/projects/1"), ("GET", "/billing"), ("GET", "/unlisted")] {
            let outcome = s.call(shape, Some(&header), method, path).await;
            assert!(!outcome.lets_through(method, path), "{shape:?} {method} {path}: {outcome:?}");
            match shape {
                Shape::Http => assert!(outcome.is_refusal(shape), "{outcome:?}"),
                _ => assert!(matches!(outcome, Outcome::Policy(_)), "REST answers with the key's policy"),
            }
        }
        let health = s.call(shape, Some(&header), "GET", "/health").await;
        assert!(health.lets_through("GET", "/health"), "a `*` rule needs only a valid key");
    }
}

#[tokio::test]
async fn the_rest_policy_depends_on_the_key_alone_and_lists_exactly_its_routes() {
    let s = setup().await;
    let bot = s.world.bot().await;
    let (_, raw) = s.world.key_for_scopes(&bot, &["projects:read", "billing:read"]).await;
    let header = bearer(raw.expose());

    for shape in [Shape::Token, Shape::Request] {
        let Outcome::Policy(asked_projects) = s.call(shape, Some(&header), "GET", "/projects/7").await else {
            panic!("no policy")
        };
        let Outcome::Policy(asked_elsewhere) = s.call(shape, Some(&header), "DELETE", "/nowhere").await
        else {
            panic!("no policy")
        };
        assert_eq!(asked_projects, asked_elsewhere);
        let mut expected = vec![
            format!("{}/{}/GET/billing", apigw::API_ARN, apigw::STAGE),
            format!("{}/{}/GET/health", apigw::API_ARN, apigw::STAGE),
            format!("{}/{}/GET/projects/*", apigw::API_ARN, apigw::STAGE),
        ];
        expected.sort();
        let mut got = resources(&asked_projects);
        got.sort();
        assert_eq!(got, expected);
    }
}

#[tokio::test]
async fn a_key_whose_scopes_open_no_route_gets_an_explicit_deny_of_the_whole_api() {
    let s = setup_with("GET /projects/*=projects:read").await;
    let bot = s.world.bot().await;
    let (_, raw) = s.world.key_for_scopes(&bot, &["billing:read"]).await;
    let Outcome::Policy(policy) =
        s.call(Shape::Token, Some(&bearer(raw.expose())), "GET", "/projects/1").await
    else {
        panic!("no policy")
    };
    let statement = &policy["policyDocument"]["Statement"][0];
    assert_eq!(statement["Effect"], "Deny");
    assert_eq!(statement["Resource"], json!([format!("{}/*", apigw::API_ARN)]));
    assert!(!policy_allows(&policy, &apigw::method_arn("GET", "/projects/1")));
}

#[tokio::test]
async fn the_rest_policy_and_the_http_decision_agree_on_every_path() {
    let routes = "GET /projects/*=projects:read, * /admin/*/audit=billing:read, POST /p?/x=projects:write, \
                  GET /=billing:read";
    let s = setup_with(routes).await;
    let bot = s.world.bot().await;
    let scope_sets: [&[&str]; 3] =
        [&["projects:read"], &["billing:read"], &["projects:write", "billing:read"]];
    let methods = ["GET", "POST", "DELETE"];
    let paths = [
        "/",
        "/projects",
        "/projects/",
        "/projects/1",
        "/projects/1/files/a",
        "/admin/x/audit",
        "/admin/x/y/audit",
        "/admin/audit",
        "/x/admin/1/audit",
        "/p1/x",
        "/pé/x",
        "/p/x",
        "/p12/x",
        "/GET/projects/1",
        // Paths a backend could read as another one: refused by both.
        "/projects/../billing",
        "/projects/%2e%2e/admin/x/audit",
        "/projects/..%2Fp1/x",
        "/admin/x/audit/",
        "/admin/x//audit",
        "/projects/1/.",
    ];
    for scopes in scope_sets {
        let (_, raw) = s.world.key_for_scopes(&bot, scopes).await;
        let header = bearer(raw.expose());
        let Outcome::Policy(policy) = s.call(Shape::Token, Some(&header), "GET", "/").await else {
            panic!("no policy")
        };
        for method in methods {
            for path in paths {
                let http = s.call(Shape::Http, Some(&header), method, path).await;
                let rest = policy_allows(&policy, &apigw::method_arn(method, path));
                assert_eq!(
                    http.lets_through(method, path),
                    rest,
                    "{scopes:?} {method} {path}: HTTP and REST disagree"
                );
            }
        }
    }
}

/// Paths under `GET /projects/*` that a normalising backend would serve as another path.
const TRICKS: [&str; 12] = [
    "/projects/../billing",
    "/projects/%2e%2e/billing",
    "/projects/%2E%2E/billing",
    "/projects/..%2Fbilling",
    "/projects/..%2fbilling",
    "/projects/..%5Cbilling",
    "/projects/..\\billing",
    "/projects/..;/billing",
    "/projects/%252e%252e/billing",
    "/projects//billing",
    "/projects/1/./",
    "/projects/",
];

#[tokio::test]
async fn a_path_a_backend_could_read_as_another_is_refused_in_every_shape_without_a_store_read() {
    let (logs, _guard) = CapturedLogs::start();
    let s = setup().await;
    let bot = s.world.bot().await;
    let (_, raw) = s.world.key_for_scopes(&bot, &["projects:read"]).await;
    let header = bearer(raw.expose());
    assert!(
        s.call(Shape::Http, Some(&header), "GET", "/projects/1").await.lets_through("GET", "/projects/1")
    );

    for path in TRICKS {
        s.authorizer.store().take_reads();
        let http = s.call(Shape::Http, Some(&header), "GET", path).await;
        assert!(http.is_refusal(Shape::Http), "{path}: {http:?}");
        assert_eq!(s.authorizer.store().take_reads(), 0, "{path}: refused before the store");
        for shape in [Shape::Token, Shape::Request] {
            let outcome = s.call(shape, Some(&header), "GET", path).await;
            assert!(matches!(outcome, Outcome::Policy(_)), "REST answers with the key's policy");
            assert!(!outcome.lets_through("GET", path), "{shape:?} {path}: the policy denies it");
        }
    }
    let refused =
        logs.lines().into_iter().filter(|l| l["reason"] == "unsafe_path" && l["decision"] == "deny").count();
    assert_eq!(refused, TRICKS.len(), "one unsafe_path line per refused HTTP API call");
}

#[tokio::test]
async fn the_rest_policy_denies_every_refused_path_explicitly_and_nothing_else() {
    let s = setup().await;
    let bot = s.world.bot().await;
    let (_, raw) = s.world.key_for_scopes(&bot, &["projects:read"]).await;
    let Outcome::Policy(policy) = s.call(Shape::Token, Some(&bearer(raw.expose())), "GET", "/").await else {
        panic!("no policy")
    };
    let deny = &policy["policyDocument"]["Statement"][1];
    assert_eq!(deny["Effect"], "Deny");
    let denied: Vec<String> =
        deny["Resource"].as_array().unwrap().iter().map(|r| r.as_str().unwrap().to_owned()).collect();
    let expected: Vec<String> = nico_keys::routes::REFUSED_PATH_PATTERNS
        .iter()
        .map(|pattern| format!("{}/{}/{pattern}", apigw::API_ARN, apigw::STAGE))
        .collect();
    assert_eq!(denied, expected);
    for path in ["/projects/1", "/projects/a.b/c", "/projects/.well-known", "/projects/%41"] {
        assert!(policy_allows(&policy, &apigw::method_arn("GET", path)), "{path}");
    }
}

#[tokio::test]
async fn one_store_read_per_well_formed_key_and_none_for_a_malformed_one() {
    let s = setup().await;
    let bot = s.world.bot().await;
    let (_, raw) = s.world.key(&bot).await;
    let (_, unknown) = s.world.new_key(&bot, TimeDelta::days(1));
    let mut bad_checksum = raw.expose().to_owned();
    bad_checksum.replace_range(50..51, if &bad_checksum[50..51] == "x" { "y" } else { "x" });

    for shape in SHAPES {
        for (header, reads) in [
            (bearer(raw.expose()), 1),
            (bearer(unknown.expose()), 1),
            (bearer("nico_short"), 0),
            (bearer(&bad_checksum), 0),
            ("Bearer".to_owned(), 0),
        ] {
            s.authorizer.store().take_reads();
            s.call(shape, Some(&header), "GET", "/projects/1").await;
            assert_eq!(s.authorizer.store().take_reads(), reads, "{shape:?}");
        }
    }
}

#[tokio::test]
async fn revocation_takes_effect_on_the_very_next_call() {
    let s = setup().await;
    let bot = s.world.bot().await;
    let (key, raw) = s.world.key(&bot).await;
    let header = bearer(raw.expose());
    for shape in SHAPES {
        assert!(s.call(shape, Some(&header), "GET", "/projects/1").await.lets_through("GET", "/projects/1"));
    }
    s.world.store.revoke_key(&s.world.team, bot.id, key.id, &s.world.owner, s.world.now()).await.unwrap();
    for shape in SHAPES {
        let outcome = s.call(shape, Some(&header), "GET", "/projects/1").await;
        assert!(outcome.is_refusal(shape), "{shape:?}: {outcome:?}");
    }
}

#[tokio::test]
async fn an_event_of_no_known_shape_is_an_error_not_a_refusal() {
    let s = setup().await;
    for event in [json!({}), json!({"type": "WEIRD"}), json!({"type": "TOKEN", "methodArn": "nope"})] {
        let outcome = Outcome::of(s.authorizer.handle(delivered(&event)).await);
        assert!(matches!(outcome, Outcome::Failed), "{outcome:?}");
    }
}

#[test]
fn only_a_bad_key_becomes_the_unauthorized_error_and_no_error_carries_details() {
    let unauthorized = Diagnostic::from(AuthorizerError::Unauthorized);
    assert_eq!(unauthorized.error_message, "Unauthorized");
    let failed = Diagnostic::from(AuthorizerError::Store(nico_keys::store::StoreError::unavailable(
        "connection refused to 10.0.0.1",
    )));
    assert_ne!(failed.error_message, "Unauthorized");
    assert!(!failed.error_message.contains("10.0.0.1"));
}

/// An authorizer whose DynamoDB client, with the production budget, talks to `endpoint`.
async fn authorizer_against(endpoint: &str) -> (Authorizer<DynamoStore>, nico_keys::token::RawKey) {
    let world = World::dynamodb().await;
    let bot = world.bot().await;
    let (_, raw) = world.key(&bot).await;
    // The Lambda function's own client, pointed elsewhere.
    let good = dynamodb::lambda_client(CallBudget::AUTHORIZER).unwrap();
    let config = good.config().to_builder().endpoint_url(endpoint).build();
    let store = DynamoStore::new(dynamodb::Client::from_conf(config), "keys", world.limits.retention);
    let rules = RouteRules::parse(ROUTES, &world.catalog).unwrap();
    (Authorizer::new(store, rules, Arc::new(world.clock.clone())), raw)
}

#[tokio::test]
async fn the_log_of_a_whole_run_names_every_decision_and_never_a_key_secret_or_hash() {
    let (logs, _guard) = CapturedLogs::start();
    let s = setup().await;
    let bot = s.world.bot().await;
    let (key, raw) = s.world.key(&bot).await;
    let (revoked_key, revoked) = s.world.key(&bot).await;
    s.world
        .store
        .revoke_key(&s.world.team, bot.id, revoked_key.id, &s.world.owner, s.world.now())
        .await
        .unwrap();
    let mut calls = 0;
    for shape in SHAPES {
        for header in [bearer(raw.expose()), bearer(revoked.expose()), raw.expose().to_owned()] {
            s.call(shape, Some(&header), "GET", "/projects/1").await;
            s.call(shape, Some(&header), "POST", "/billing").await;
            calls += 2;
        }
    }
    let (broken, broken_raw) = authorizer_against("http://127.0.0.1:9").await;
    broken
        .handle(delivered(&event(Shape::Http, Some(&bearer(broken_raw.expose())), "GET", "/projects/1")))
        .await
        .ok();
    calls += 1;

    let text = logs.text();
    for raw in [&raw, &revoked, &broken_raw] {
        let full = raw.expose();
        let secret = &full[39..82];
        let digest: String = sha256_hex(secret.as_bytes());
        for forbidden in [full, secret, &digest] {
            assert!(!text.contains(forbidden), "the log contains a key, secret or digest");
        }
    }
    let decisions: Vec<Value> =
        logs.lines().into_iter().filter(|line| line["message"] == "authorizer decision").collect();
    assert_eq!(decisions.len(), calls, "one line per decision");
    for line in &decisions {
        for field in ["decision", "reason", "key_id", "shape", "latency_us"] {
            assert!(line.get(field).is_some(), "{field} missing in {line}");
        }
    }
    assert!(decisions.iter().any(|l| l["decision"] == "allow" && l["key_id"] == key.id.as_str()));
    assert!(decisions.iter().any(|l| l["reason"] == "revoked" && l["key_id"] == revoked_key.id.as_str()));
    assert!(decisions.iter().any(|l| l["reason"] == "missing_bearer"));
    assert!(decisions.iter().any(|l| l["reason"] == "route_not_in_scopes"));
    assert!(decisions.iter().any(|l| l["decision"] == "error" && l.get("error").is_some()));
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn clock_is_the_injected_one() {
    // The authorizer decides expiry with the clock it was given, not the system's.
    let s = setup().await;
    let bot = s.world.bot().await;
    let (key, raw) = s.world.key_for(&bot, TimeDelta::hours(1)).await;
    s.world.clock.set(key.expires_at - TimeDelta::milliseconds(1));
    assert!(
        s.call(Shape::Http, Some(&bearer(raw.expose())), "GET", "/projects/1")
            .await
            .lets_through("GET", "/projects/1")
    );
    s.world.clock.set(key.expires_at);
    assert!(s.world.clock.now() == key.expires_at);
    assert!(
        s.call(Shape::Http, Some(&bearer(raw.expose())), "GET", "/projects/1").await.is_refusal(Shape::Http)
    );
}

#[tokio::test]
async fn the_sample_events_for_cargo_lambda_invoke_let_a_real_key_through() {
    let s = setup().await;
    let bot = s.world.bot().await;
    let (_, raw) = s.world.key(&bot).await;
    for shape in ["rest-token", "rest-request", "http-v2"] {
        let path = format!("{}/../infra/events/authorizer-{shape}.json", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let event: Value = serde_json::from_str(&text.replace("KEY_HERE", raw.expose())).unwrap();
        let outcome = Outcome::of(s.authorizer.handle(delivered(&event)).await);
        assert!(outcome.lets_through("GET", "/projects/42"), "{shape}: {outcome:?}");
        let placeholder: Value = serde_json::from_str(&text).unwrap();
        assert!(Outcome::of(s.authorizer.handle(delivered(&placeholder)).await).is_refusal(match shape {
            "http-v2" => Shape::Http,
            _ => Shape::Token,
        }));
    }
}
