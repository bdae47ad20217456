//! What the authorizer adds to its one DynamoDB read: `Authorizer::handle` on the DynamoDB store
//! against a bare SDK `GetItem` of the same item (same request: consistent read, same
//! projection), both through the same client, the one the Lambda function builds
//! (`dynamodb::lambda_client(CallBudget::AUTHORIZER)`).
//!
//! Needs a DynamoDB endpoint, normally moto on loopback:
//!
//! ```sh
//! .venv/bin/moto_server -H 127.0.0.1 -p 5560 &
//! AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:5560 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
//!   AWS_REGION=us-east-1 cargo bench -p authorizer --bench dynamodb
//! ```
//!
//! After criterion's two measurements it runs both again interleaved (A B B A …), so that drift
//! in the server's speed hits both alike, and prints the ratio of the medians.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use authorizer::Authorizer;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{TimeDelta, Utc};
use criterion::Criterion;
use nico_keys::model::{Expiry, NewKey};
use nico_keys::routes::RouteRules;
use nico_keys::store::dynamodb::{self, CallBudget, Client, DynamoStore};
use nico_keys::store::{BotStore, KeyStore};
use nico_keys::{BotId, BotUser, Limits, Name, ScopeCatalog, Scopes, Subject, SystemClock, TeamId};

const EVENT: &str = include_str!("../../../tests/fixtures/apigw/http-api-authorizer-v2.json");
const SCOPES: &str = "projects:read,projects:write";
const ROUTES: &str = "POST /my/path=projects:write, GET /projects/*=projects:read";
/// The attributes `DynamoStore` asks for when it verifies a key.
const PROJECTION: &str = "team_id, scopes, expires_at, revoked_at, secret_hash";
const PAIRS: usize = 400;

struct Fixture {
    client: Client,
    table: String,
    authorizer: Authorizer<DynamoStore>,
    key: (String, String),
    event: Vec<u8>,
}

impl Fixture {
    async fn new() -> Self {
        let client = dynamodb::lambda_client(CallBudget::AUTHORIZER).unwrap_or_else(|e| panic!("{e}"));
        let now = Utc::now();
        let table = format!("bench-{}", BotId::generate(now));
        dynamodb::create_table(&client, &table).await.unwrap();
        let limits = Limits::default();
        let store = DynamoStore::new(client.clone(), &table, limits.retention);

        let catalog = ScopeCatalog::parse(SCOPES).unwrap();
        let owner = Subject::parse("owner-bench").unwrap();
        let bot = BotUser {
            id: BotId::generate(now),
            team_id: TeamId::parse("team-bench").unwrap(),
            name: Name::parse("bench bot", 100).unwrap(),
            account: owner.clone(),
            scopes: None,
            created_at: now,
            created_by: owner.clone(),
            deleted_at: None,
        };
        store.create_bot(&bot).await.unwrap();
        let scopes = Scopes::parse(["projects:read", "projects:write"], &catalog).unwrap();
        let expiry = Expiry::at(now + TimeDelta::days(30), now, limits.max_key_lifetime).unwrap();
        let name = Name::parse("bench key", 100).unwrap();
        let (new, raw) = NewKey::issue(&bot.team_id, bot.id, name, scopes, expiry, &owner, now);
        store.create_key(&new, limits.max_active_keys, now).await.unwrap();

        let event = EVENT.replace("{{TOKEN}}", raw.expose()).into_bytes();
        let rules = RouteRules::parse(ROUTES, &catalog).unwrap();
        Self {
            client,
            table,
            authorizer: Authorizer::new(store, rules, Arc::new(SystemClock)),
            key: (format!("BOT#{}", bot.id), format!("KEY#{}", new.key.id)),
            event,
        }
    }

    /// The bare SDK read.
    async fn get_item(&self) -> usize {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(self.key.0.clone()))
            .key("sk", AttributeValue::S(self.key.1.clone()))
            .consistent_read(true)
            .projection_expression(PROJECTION)
            .send()
            .await
            .unwrap();
        output.item.map_or(0, |item| item.len())
    }

    /// The authorizer's whole answer: event in, JSON out.
    async fn handle(&self) -> Vec<u8> {
        let event = serde_json::from_slice(&self.event).unwrap();
        let response = self.authorizer.handle(event).await.unwrap();
        serde_json::to_vec(&response).unwrap()
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    if std::env::var_os("AWS_ENDPOINT_URL_DYNAMODB").is_none() {
        eprintln!(
            "benches/dynamodb.rs needs a DynamoDB endpoint: set AWS_ENDPOINT_URL_DYNAMODB (for moto: \
             .venv/bin/moto_server -H 127.0.0.1 -p 5560 & and AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:5560), \
             with AWS_REGION, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (any values for moto)"
        );
        std::process::exit(2);
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let fixture = runtime.block_on(Fixture::new());
    let allowed = runtime.block_on(fixture.handle());
    assert!(
        String::from_utf8_lossy(&allowed).contains(r#""isAuthorized":true"#),
        "the bench key was not allowed: {}",
        String::from_utf8_lossy(&allowed)
    );
    assert!(runtime.block_on(fixture.get_item()) > 0, "the bare read did not find the key item");

    let mut criterion = Criterion::default()
        .sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    {
        let mut group = criterion.benchmark_group("dynamodb");
        group.bench_function("bare_get_item", |b| b.to_async(&runtime).iter(|| fixture.get_item()));
        group.bench_function("authorizer_http_v2", |b| b.to_async(&runtime).iter(|| fixture.handle()));
        group.finish();
    }
    criterion.final_summary();

    let (mut bare, mut full) = (Vec::with_capacity(PAIRS), Vec::with_capacity(PAIRS));
    runtime.block_on(async {
        for pair in 0..PAIRS {
            for first_bare in [pair % 2 == 0, pair % 2 == 1] {
                let started = Instant::now();
                if first_bare {
                    black_box(fixture.get_item().await);
                    bare.push(started.elapsed());
                } else {
                    black_box(fixture.handle().await);
                    full.push(started.elapsed());
                }
            }
        }
    });
    let (bare, full) = (median(bare), median(full));
    println!(
        "interleaved, {PAIRS} pairs: bare GetItem median {bare:?}, authorizer median {full:?}, \
         overhead ratio {:.3}",
        full.as_secs_f64() / bare.as_secs_f64()
    );
    runtime.block_on(async {
        let _ = fixture.client.delete_table().table_name(&fixture.table).send().await;
    });
}
