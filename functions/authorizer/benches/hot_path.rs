//! The authorizer's in-process hot path, per event shape, with the store answering from memory.
//!
//! Measured, as Lambda delivers an event: the payload's JSON bytes → [`AuthorizerEvent`] (what
//! `lambda_runtime` does before calling the handler) → [`Authorizer::handle`] (key checksum,
//! SHA-256 of the secret, constant-time compare, decision, response) → `serde_json::to_vec` of
//! the answer. The events are the AWS documentation's examples (`tests/fixtures/apigw/`) with
//! a real key in them; every one is an Allow, so the REST answers carry a full policy.
//!
//! No tracing subscriber is installed, so the decision log line costs only the disabled-callsite
//! check: this measures the code, not stdout.
//!
//! ```sh
//! cargo bench -p authorizer --bench hot_path
//! ```

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use authorizer::{Authorizer, AuthorizerEvent, AuthorizerResponse};
use aws_lambda_events::iam::IamPolicyEffect;
use chrono::{TimeDelta, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use nico_keys::model::{Credential, Expiry, NewKey};
use nico_keys::routes::RouteRules;
use nico_keys::store::{CredentialStore, StoreError};
use nico_keys::{BotId, KeyId, KeyUse, Name, ScopeCatalog, Scopes, Subject, SystemClock, TeamId};

/// A `HashMap` standing in for DynamoDB: the answer is ready, nothing awaits.
struct MemoryStore(HashMap<(BotId, KeyId), Credential>);

impl CredentialStore for MemoryStore {
    async fn credential(&self, bot: BotId, key: KeyId) -> Result<Option<Credential>, StoreError> {
        Ok(self.0.get(&(bot, key)).cloned())
    }

    async fn record_use(&self, _: BotId, _: KeyId, _: &KeyUse) -> Result<bool, StoreError> {
        Ok(false)
    }
}

const SCOPES: &str = "projects:read,projects:write,billing:read";
/// Rules that let each fixture's route through (`GET /request`, `GET /`, `POST /my/path`),
/// with a few more so the REST policy lists several ARNs, as a real deployment's would.
const ROUTES: &str = "GET /request=projects:read, GET /=*, POST /my/path=projects:write, \
                      GET /projects/*=projects:read, POST /projects/*=projects:write, \
                      DELETE /projects/*=projects:write, GET /billing=billing:read";

const SHAPES: [(&str, &str); 3] = [
    ("rest_token", include_str!("../../../tests/fixtures/apigw/rest-token-authorizer.json")),
    ("rest_request", include_str!("../../../tests/fixtures/apigw/rest-request-authorizer.json")),
    ("http_v2", include_str!("../../../tests/fixtures/apigw/http-api-authorizer-v2.json")),
];

fn setup() -> (Authorizer<MemoryStore>, String) {
    let now = Utc::now();
    let catalog = ScopeCatalog::parse(SCOPES).unwrap();
    let team = TeamId::parse("team-bench").unwrap();
    let bot = BotId::generate(now);
    let scopes = Scopes::parse(["projects:read", "projects:write"], &catalog).unwrap();
    let expiry = Expiry::at(now + TimeDelta::days(30), now, Duration::from_secs(365 * 86_400)).unwrap();
    let by = Subject::parse("owner-bench").unwrap();
    let (new, raw) =
        NewKey::issue(&team, bot, Name::parse("bench key", 100).unwrap(), scopes, expiry, &by, now);
    let credential = Credential {
        team_id: new.key.team_id.clone(),
        scopes: new.key.scopes.clone(),
        expires_at: new.key.expires_at,
        revoked_at: None,
        hash: new.hash.clone(),
        // Used a moment ago, as a busy key is: the hot path is the one without the
        // last-used write (at most one request per key per window makes it).
        last_used_at: Some(now),
    };
    let store = MemoryStore(HashMap::from([((bot, new.key.id), credential)]));
    let rules = RouteRules::parse(ROUTES, &catalog).unwrap();
    (Authorizer::new(store, rules, Arc::new(SystemClock)), raw.expose().to_owned())
}

fn read(bytes: &[u8]) -> AuthorizerEvent {
    serde_json::from_slice(bytes).unwrap()
}

async fn answer(authorizer: &Authorizer<MemoryStore>, bytes: &[u8]) -> Vec<u8> {
    match authorizer.handle(read(bytes)).await {
        Ok(response) => serde_json::to_vec(&response).unwrap(),
        Err(error) => panic!("the bench key was refused: {error}"),
    }
}

fn hot_path(c: &mut Criterion) {
    let (authorizer, key) = setup();
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();

    // Every fixture must be allowed, with the answer its shape expects.
    for (name, fixture) in SHAPES {
        let text = fixture.replace("{{TOKEN}}", &key);
        let allowed = match runtime.block_on(authorizer.handle(read(text.as_bytes()))).unwrap() {
            AuthorizerResponse::Policy(policy) => {
                policy.policy_document.statement[0].effect == IamPolicyEffect::Allow
            }
            AuthorizerResponse::Allowed(_) => true,
            AuthorizerResponse::Refused(_) => false,
        };
        assert!(allowed, "{name}: the fixture's route is not allowed");
    }

    let mut group = c.benchmark_group("hot_path");
    for (name, fixture) in SHAPES {
        let text = fixture.replace("{{TOKEN}}", &key);
        group.bench_function(name, |b| {
            b.to_async(&runtime).iter(|| answer(&authorizer, black_box(text.as_bytes())))
        });
    }
    group.finish();
}

/// Where the time goes: reading the event, checking the key, writing the answer, alone.
fn breakdown(c: &mut Criterion) {
    use nico_keys::token;

    let (authorizer, key) = setup();
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let mut group = c.benchmark_group("breakdown");
    for (name, fixture) in SHAPES {
        let text = fixture.replace("{{TOKEN}}", &key);
        group.bench_function(format!("read/{name}"), |b| b.iter(|| read(black_box(text.as_bytes()))));
        let response = runtime.block_on(authorizer.handle(read(text.as_bytes()))).unwrap();
        group.bench_function(format!("serialize/{name}"), |b| {
            b.iter(|| serde_json::to_vec(black_box(&response)).unwrap())
        });
    }
    let header = format!("Bearer {key}");
    let credential = authorizer.store().0.values().next().unwrap().hash.clone();
    group.bench_function("token/parse_and_check", |b| {
        b.iter(|| {
            let parsed = token::parse(token::bearer(black_box(&header)).unwrap()).unwrap();
            assert!(parsed.matches(&credential));
        })
    });
    group.finish();
}

criterion_group!(benches, hot_path, breakdown);
criterion_main!(benches);
