//! Hostile input to the authorizer: every event shape API Gateway can send (the AWS
//! documentation's examples, HTTP API payload 1.0 included), and malformed variants of each (a
//! value of every wrong type in every field, the event itself as a non-object), each with a
//! real key inside. Nothing the function returns, nothing its errors say (the `Diagnostic` the
//! runtime posts, a deserialisation error), nothing its event's `Debug` shows and no log line
//! ever holds the key, its secret or its digest: checked in process, and with the real
//! bootstrap as a process behind a stub Lambda Runtime API.

use std::sync::Arc;

use authorizer::{Authorizer, AuthorizerEvent, AuthorizerResponse};
use chrono::{TimeDelta, Utc};
use lambda_runtime::Diagnostic;
use nico_keys::routes::RouteRules;
use nico_keys_tests::lambda::{self, Outcome};
use nico_keys_tests::leaks::{self, KeyForms};
use nico_keys_tests::logs::CapturedLogs;
use nico_keys_tests::world::{Backing, SCOPES, World};
use serde_json::{Value, json};

/// Rules that open each documentation example's route to a `projects:read` key.
const ROUTES: &str = "GET /=projects:read, GET /request=projects:read, POST /my/path=projects:read, \
                      GET /projects/*=projects:read";

/// The documentation's example of each shape, as files under `tests/fixtures/apigw/`.
const FIXTURES: [&str; 4] = [
    "rest-token-authorizer.json",
    "rest-request-authorizer.json",
    "http-api-authorizer-v2.json",
    "http-api-authorizer-v1.json",
];

/// A fixture with `header` (`Bearer <key>`) wherever it carries the key.
fn fixture(name: &str, header: &str) -> Value {
    let text = serde_json::to_string(&nico_keys_tests::apigw::fixture(&format!("apigw/{name}"))).unwrap();
    serde_json::from_str(&text.replace("Bearer {{TOKEN}}", header)).unwrap()
}

/// One step into a JSON value.
#[derive(Clone, Debug)]
enum Step {
    Field(String),
    Index(usize),
}

/// Every path to a value in `value`, the root (the empty path) included.
fn paths(value: &Value, at: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    out.push(at.clone());
    match value {
        Value::Object(fields) => {
            for (name, inner) in fields {
                at.push(Step::Field(name.clone()));
                paths(inner, at, out);
                at.pop();
            }
        }
        Value::Array(items) => {
            for (i, inner) in items.iter().enumerate() {
                at.push(Step::Index(i));
                paths(inner, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

fn replaced(value: &Value, path: &[Step], with: &Value) -> Value {
    let mut copy = value.clone();
    let mut target = &mut copy;
    for step in path {
        target = match step {
            Step::Field(name) => &mut target[name.as_str()],
            Step::Index(i) => &mut target[*i],
        };
    }
    *target = with.clone();
    copy
}

/// Values of every JSON type, the key inside wherever a string can hold it.
fn wrong_types(header: &str) -> Vec<Value> {
    vec![
        Value::Null,
        json!(true),
        json!(42),
        json!(-1.5e300),
        json!(header),
        json!([header, 7]),
        json!([7, header]),
        json!({"Authorization": header, "authorization": [header], "nested": {"type": header}}),
        json!([]),
        json!({}),
    ]
}

/// Each fixture, then every variant of it: the value at every path replaced by each wrong type.
fn events(header: &str) -> Vec<(String, Value)> {
    let mut events = Vec::new();
    for name in FIXTURES {
        let event = fixture(name, header);
        events.push((name.to_owned(), event.clone()));
        let mut all = Vec::new();
        paths(&event, &mut Vec::new(), &mut all);
        for path in all {
            for (i, with) in wrong_types(header).iter().enumerate() {
                events.push((format!("{name} {path:?} <- wrong type #{i}"), replaced(&event, &path, with)));
            }
        }
    }
    events
}

/// Reads an event exactly as `lambda_runtime` does (`serde_path_to_error` over `serde_json`),
/// so a failure here is the error the runtime would log and post.
fn as_the_runtime_reads(bytes: &[u8]) -> Result<AuthorizerEvent, String> {
    let mut json = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut json).map_err(|e| format!("{e} | {e:?}"))
}

#[tokio::test]
async fn no_event_shape_or_malformed_variant_puts_the_key_in_an_answer_an_error_or_a_log() {
    let (logs, _guard) = CapturedLogs::start();
    let world = World::embedded();
    let bot = world.bot().await;
    let (_, raw) = world.key_for_scopes(&bot, &["projects:read"]).await;
    let key = KeyForms::of(raw.expose());
    let rules = RouteRules::parse(ROUTES, &world.catalog).unwrap();
    let authorizer = Authorizer::new(world.store.clone(), rules, Arc::new(world.clock.clone()));

    let events = events(&format!("Bearer {}", raw.expose()));
    assert!(events.len() > 1000, "{} events", events.len());
    for (what, event) in &events {
        let bytes = serde_json::to_vec(event).unwrap();
        let read = as_the_runtime_reads(&bytes);
        if let Err(error) = &read {
            key.assert_absent(&format!("{what}: the deserialisation error"), error);
        }
        let event = read.unwrap_or_else(|_| panic!("{what}: the event could not be read"));
        key.assert_absent(&format!("{what}: the event's Debug"), &format!("{event:?}"));
        match authorizer.handle(event).await {
            Ok(response) => {
                key.assert_absent(&format!("{what}: the answer"), &serde_json::to_string(&response).unwrap());
                key.assert_absent(&format!("{what}: the answer's Debug"), &format!("{response:?}"));
            }
            Err(error) => {
                key.assert_absent(&format!("{what}: the error"), &format!("{error} | {error:?}"));
                let diagnostic = Diagnostic::from(error);
                let posted = format!("{} {}", diagnostic.error_type, diagnostic.error_message);
                key.assert_absent(&format!("{what}: the Diagnostic"), &posted);
            }
        }
    }
    let decisions = logs.lines().into_iter().filter(|l| l["message"] == "authorizer decision").count();
    assert_eq!(decisions, events.len(), "one line per event");
    key.assert_absent("this test's log", &logs.text());
    leaks::assert_clean();
}

#[tokio::test]
async fn each_documentation_example_gets_the_answer_of_its_shape_and_payload_1_0_a_fixed_refusal() {
    let (logs, _guard) = CapturedLogs::start();
    let world = World::embedded();
    let bot = world.bot().await;
    let (_, raw) = world.key_for_scopes(&bot, &["projects:read"]).await;
    let rules = RouteRules::parse(ROUTES, &world.catalog).unwrap();
    let authorizer = Authorizer::new(world.store.clone(), rules, Arc::new(world.clock.clone()));
    let header = format!("Bearer {}", raw.expose());

    for name in FIXTURES {
        let event = as_the_runtime_reads(&serde_json::to_vec(&fixture(name, &header)).unwrap()).unwrap();
        let answer = authorizer.handle(event).await;
        match (name, answer) {
            ("http-api-authorizer-v1.json", Err(error)) => {
                let diagnostic = Diagnostic::from(error);
                assert_eq!(diagnostic.error_message, "authorizer unavailable");
            }
            ("http-api-authorizer-v2.json", Ok(AuthorizerResponse::Allowed(_))) => {}
            (
                "rest-token-authorizer.json" | "rest-request-authorizer.json",
                Ok(policy @ AuthorizerResponse::Policy(_)),
            ) => {
                let policy = serde_json::to_value(&policy).unwrap();
                assert_eq!(policy["policyDocument"]["Statement"][0]["Effect"], "Allow");
            }
            (name, other) => panic!("{name}: {:?}", other.map_err(|e| e.to_string())),
        }
    }
    let refused = logs.lines().into_iter().find(|l| l["reason"] == "bad_event").expect("a bad_event line");
    assert_eq!(refused["decision"], "error");
    assert_eq!(
        refused["error"],
        "unsupported event: HTTP API payload format 1.0 is not supported: set the authorizer's payload \
         format version to 2.0"
    );
}

#[tokio::test]
async fn the_authorizer_bootstrap_never_returns_or_logs_the_key_of_any_event() {
    let world = World::dynamodb().await;
    world.clock.set(Utc::now()); // the process decides with the system clock
    let bot = world.bot().await;
    let (_, raw) = world.key_for(&bot, TimeDelta::days(1)).await;
    let key = KeyForms::of(raw.expose());
    let Backing::Dynamo { table, .. } = &world.backing else { unreachable!() };
    let header = format!("Bearer {}", raw.expose());

    // The documentation's examples first, then every malformed variant of them.
    let events = events(&header);
    let bytes: Vec<Vec<u8>> = events.iter().map(|(_, event)| serde_json::to_vec(event).unwrap()).collect();
    let env = [
        ("TABLE_NAME", table.as_str()),
        ("ALLOWED_SCOPES", SCOPES),
        ("ROUTE_SCOPES", ROUTES),
        ("AWS_LAMBDA_LOG_LEVEL", "trace"),
    ];
    let outcomes = lambda::invoke(lambda::binary("authorizer"), &env, &bytes).await;

    for ((what, _), outcome) in events.iter().zip(&outcomes) {
        key.assert_absent(&format!("{what}: what the function posted"), outcome.body());
    }
    let first = |name: &str| {
        let at = events.iter().position(|(what, _)| what == name).unwrap();
        serde_json::from_str::<Value>(outcomes[at].body()).unwrap()
    };
    let is_error = |name: &str| {
        matches!(outcomes[events.iter().position(|(what, _)| what == name).unwrap()], Outcome::Error(_))
    };
    assert_eq!(first("http-api-authorizer-v2.json")["isAuthorized"], true);
    assert_eq!(first("rest-token-authorizer.json")["policyDocument"]["Statement"][0]["Effect"], "Allow");
    assert_eq!(first("rest-request-authorizer.json")["policyDocument"]["Statement"][0]["Effect"], "Allow");
    assert!(is_error("http-api-authorizer-v1.json"));
    assert_eq!(
        first("http-api-authorizer-v1.json"),
        json!({"errorType": "AuthorizerError", "errorMessage": "authorizer unavailable"})
    );
    leaks::assert_clean(); // the process's stdout and stderr included
}
