//! "All my keys" (`GET /v1/keys`) through the management API, on both stores: who sees which
//! keys (the owner the team's, a person their own bot users', nobody else anything), every
//! filter alone and combined on a fixture of 66 keys over 6 bot users with mixed statuses and
//! expiries, paging that returns each visible key exactly once, and a re-assignment moving a
//! bot user's keys between lists on the next request.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use key_management::Api;
use nico_keys::store::Store;
use nico_keys::{ApiKey, BotUser, Config, KeyStatus, TeamId};
use nico_keys_tests::contract;
use nico_keys_tests::http::ApiRequest;
use nico_keys_tests::world::World;
use serde_json::{Value, json};

const OWNER: [(&str, &str); 3] = [("sub", "owner-1"), ("team_id", "team-a"), ("role", "owner")];
const ALICE: [(&str, &str); 3] = [("sub", "alice"), ("team_id", "team-a"), ("role", "member")];
const BOB: [(&str, &str); 3] = [("sub", "bob"), ("team_id", "team-a"), ("role", "member")];
const OTHER_TEAM: [(&str, &str); 3] = [("sub", "owner-1"), ("team_id", "team-b"), ("role", "owner")];

/// The world, its API, and the fixture: who holds which bot user, and every key stored.
struct Fixture<S> {
    world: World<S>,
    api: Api<S>,
    bots: Vec<BotUser>,
    keys: Vec<ApiKey>,
}

/// The management API over `world`'s store and clock.
fn api_for<S: Store + Clone>(world: &World<S>) -> Api<S> {
    let config = Config {
        table_name: "unused".into(),
        catalog: world.catalog.clone(),
        routes: nico_keys::routes::RouteRules::parse("GET /projects/*=projects:read", &world.catalog)
            .unwrap(),
        limits: world.limits.clone(),
        claims: Default::default(),
        verify_cache: std::time::Duration::ZERO,
        flush_stages: Vec::new(),
    };
    Api::new(world.store.clone(), config, Arc::new(world.clock.clone()))
}

async fn fixture<S: Store + Clone>(world: World<S>) -> Fixture<S> {
    let api = api_for(&world);
    // Six bot users: two for Alice, three for the owner, one for Carol; 11 keys each, created
    // one millisecond apart, with lifetimes from an hour to 30 days; every fourth revoked.
    let accounts = ["alice", "owner-1", "carol", "owner-1", "alice", "owner-1"];
    let lifetimes = [1, 30, 2 * 24, 10 * 24, 5 * 24, 30 * 24]; // hours
    let mut bots = Vec::new();
    let mut keys = Vec::new();
    for (b, account) in accounts.iter().enumerate() {
        let bot = world.bot_for(account, &["projects:read", "projects:write"]).await;
        world.clock.advance(TimeDelta::milliseconds(1));
        for k in 0..11 {
            let lifetime = TimeDelta::hours(lifetimes[(b + k) % lifetimes.len()]);
            let (key, _) = world.key_for(&bot, lifetime).await;
            world.clock.advance(TimeDelta::milliseconds(1));
            keys.push(if (b * 11 + k) % 4 == 0 {
                world.store.revoke_key(&world.team, bot.id, key.id, &world.owner, world.now()).await.unwrap()
            } else {
                key
            });
        }
        bots.push(bot);
    }
    // A bot user of another team, whose keys nobody in team-a may see.
    let elsewhere = world.bot_in(&TeamId::parse("team-b").unwrap(), "elsewhere").await;
    world.key(&elsewhere).await;
    // Two hours on: the one-hour keys have expired.
    world.clock.advance(TimeDelta::hours(2));
    Fixture { world, api, bots, keys }
}

impl<S: Store> Fixture<S> {
    async fn get(&self, claims: &[(&str, &str)], path: &str) -> (u16, Value) {
        let mut request = ApiRequest::new("GET", path);
        request.claims(claims);
        let response = self.api.handle(request.build()).await;
        let status = response.status().as_u16();
        let body: Value = serde_json::from_slice(response.body()).unwrap();
        (status, body)
    }

    /// Every row of `GET /v1/keys?<query>`, following `next_cursor` to the end, with `limit`.
    async fn all_rows(&self, claims: &[(&str, &str)], query: &str, limit: usize) -> Vec<Value> {
        let mut rows = Vec::new();
        let mut cursor = String::new();
        for _ in 0..500 {
            let path = format!("/v1/keys?limit={limit}&cursor={cursor}&{query}");
            let (status, body) = self.get(claims, &path).await;
            assert_eq!(status, 200, "{path}: {body}");
            let page = body["items"].as_array().unwrap();
            assert!(page.len() <= limit, "{path}: more than the limit");
            rows.extend(page.iter().cloned());
            match body["next_cursor"].as_str() {
                Some(next) => cursor = next.to_owned(),
                None => return rows,
            }
        }
        panic!("{query}: paging did not end");
    }

    /// The key ids of every row, asserting they come newest first, each once.
    async fn ids(&self, claims: &[(&str, &str)], query: &str, limit: usize) -> Vec<String> {
        let ids: Vec<String> = self
            .all_rows(claims, query, limit)
            .await
            .iter()
            .map(|row| row["id"].as_str().unwrap().to_owned())
            .collect();
        let mut newest_first = ids.clone();
        newest_first.sort_by(|a, b| b.cmp(a));
        newest_first.dedup();
        assert_eq!(ids, newest_first, "{query}: newest first, each key once");
        ids
    }

    /// The fixture's keys that `keep` selects, newest first: the expected answer.
    fn expected(&self, keep: impl Fn(&ApiKey, &BotUser) -> bool) -> Vec<String> {
        let mut ids: Vec<String> = self
            .keys
            .iter()
            .filter(|key| keep(key, self.bots.iter().find(|bot| bot.id == key.bot_id).unwrap()))
            .map(|key| key.id.to_string())
            .collect();
        ids.sort_by(|a, b| b.cmp(a));
        ids
    }

    fn now(&self) -> DateTime<Utc> {
        self.world.now()
    }
}

/// Who calls: the verified JWT claims.
type Claims<'a> = &'a [(&'a str, &'a str)];

fn is(bot: &BotUser, account: &str) -> bool {
    bot.account.as_str() == account
}

async fn the_owner_sees_every_key_of_the_team_and_a_person_only_their_own_bot_users_keys<S: Store + Clone>(
    world: World<S>,
) {
    let f = fixture(world).await;
    assert_eq!(f.keys.len(), 66);
    assert_eq!(f.ids(&OWNER, "", 100).await, f.expected(|_, _| true));
    assert_eq!(f.ids(&ALICE, "", 100).await, f.expected(|_, bot| is(bot, "alice")));
    assert_eq!(f.ids(&BOB, "", 100).await, Vec::<String>::new());
    assert_eq!(f.ids(&OTHER_TEAM, "", 100).await.len(), 1, "team-b's owner sees team-b's one key only");

    // Each row is the key's view plus its bot user's name, never a secret.
    let rows = f.all_rows(&OWNER, "", 100).await;
    let newest = f.keys.iter().max_by_key(|key| key.id).unwrap();
    let row = rows.iter().find(|row| row["id"] == json!(newest.id.to_string())).unwrap();
    assert_eq!(row["bot_id"], json!(newest.bot_id.to_string()));
    assert_eq!(row["bot_name"], json!("their bot"));
    assert_eq!(row["hint"], json!(newest.hint));
    assert_eq!(row["status"], json!("active"));
    for field in ["name", "scopes", "created_at", "created_by", "expires_at", "revoked_at", "revoked_by"] {
        assert!(row.get(field).is_some(), "{field} in {row}");
    }
    assert!(rows.iter().all(|row| row.get("secret_hash").is_none() && row.get("token").is_none()));
}

async fn each_filter_alone_and_combined_selects_exactly_its_keys<S: Store + Clone>(world: World<S>) {
    let f = fixture(world).await;
    let now = f.now();
    let status = |key: &ApiKey| key.status(now);
    let expiring = |key: &ApiKey, hours: i64| {
        status(key) == KeyStatus::Active && key.expires_at <= now + TimeDelta::hours(hours)
    };
    let (alice_bot, carol_bot) = (f.bots[0].id, f.bots[2].id);
    let cases: Vec<(Claims<'_>, String, Vec<String>)> = vec![
        (&OWNER, "status=active".into(), f.expected(|k, _| status(k) == KeyStatus::Active)),
        (&OWNER, "status=expired".into(), f.expected(|k, _| status(k) == KeyStatus::Expired)),
        (&OWNER, "status=revoked".into(), f.expected(|k, _| status(k) == KeyStatus::Revoked)),
        (&OWNER, "status=expired,revoked".into(), f.expected(|k, _| status(k) != KeyStatus::Active)),
        (&OWNER, "expiring_within=3d".into(), f.expected(|k, _| expiring(k, 72))),
        (&OWNER, "expiring_within=36h".into(), f.expected(|k, _| expiring(k, 36))),
        (&OWNER, format!("bot={carol_bot}"), f.expected(|k, _| k.bot_id == carol_bot)),
        (&OWNER, "account=alice".into(), f.expected(|_, b| is(b, "alice"))),
        (&OWNER, "account=nobody".into(), Vec::new()),
        (
            &OWNER,
            format!("account=alice&bot={alice_bot}&status=active"),
            f.expected(|k, _| k.bot_id == alice_bot && status(k) == KeyStatus::Active),
        ),
        (&OWNER, format!("account=carol&bot={alice_bot}"), Vec::new()),
        (
            &OWNER,
            "account=owner-1&status=active&expiring_within=7d".into(),
            f.expected(|k, b| is(b, "owner-1") && expiring(k, 7 * 24)),
        ),
        (&OWNER, "status=revoked&expiring_within=7d".into(), Vec::new()),
        (&ALICE, "status=active".into(), f.expected(|k, b| is(b, "alice") && status(k) == KeyStatus::Active)),
        (&ALICE, "expiring_within=3d".into(), f.expected(|k, b| is(b, "alice") && expiring(k, 72))),
        (&ALICE, format!("bot={carol_bot}"), Vec::new()),
        (
            &ALICE,
            format!("bot={alice_bot}&status=revoked"),
            f.expected(|k, _| k.bot_id == alice_bot && status(k) == KeyStatus::Revoked),
        ),
    ];
    for (claims, query, expected) in cases {
        assert_eq!(f.ids(claims, &query, 7).await, expected, "{:?} {query}", claims[0]);
    }
    // The fixture really is mixed: every filter above selects something somewhere.
    for s in [KeyStatus::Active, KeyStatus::Expired, KeyStatus::Revoked] {
        assert!(f.keys.iter().filter(|k| status(k) == s).count() >= 5, "{s:?}");
    }
}

async fn paging_returns_every_visible_key_exactly_once_at_any_page_size<S: Store + Clone>(world: World<S>) {
    let f = fixture(world).await;
    let everything = f.expected(|_, _| true);
    for limit in [1, 4, 11, 65, 66, 100] {
        assert_eq!(f.ids(&OWNER, "", limit).await, everything, "limit {limit}");
    }
    let alices = f.expected(|_, bot| is(bot, "alice"));
    assert_eq!(f.ids(&ALICE, "", 3).await, alices);
    // A page without filters is full whenever more follows.
    let (_, first) = f.get(&OWNER, "/v1/keys?limit=10").await;
    assert_eq!(first["items"].as_array().unwrap().len(), 10);
    assert!(first["next_cursor"].is_string());
}

async fn reassigning_a_bot_user_moves_its_keys_between_lists_on_the_next_request<S: Store + Clone>(
    world: World<S>,
) {
    let f = fixture(world).await;
    let carols = f.expected(|_, bot| is(bot, "carol"));
    let carol = [("sub", "carol"), ("team_id", "team-a"), ("role", "member")];
    assert_eq!(f.ids(&carol, "", 100).await, carols);
    let before_alice = f.ids(&ALICE, "", 100).await;

    let mut patch = ApiRequest::new("PATCH", &format!("/v1/bots/{}", f.bots[2].id));
    patch.claims(&OWNER).json(&json!({"account": "alice", "revoke_keys": false}));
    assert_eq!(f.api.handle(patch.build()).await.status().as_u16(), 200);

    assert_eq!(f.ids(&carol, "", 100).await, Vec::<String>::new(), "Carol's list no longer has them");
    let after_alice: BTreeSet<String> = f.ids(&ALICE, "", 100).await.into_iter().collect();
    let expected: BTreeSet<String> = before_alice.into_iter().chain(carols).collect();
    assert_eq!(after_alice, expected, "Alice's list has them");
    assert_eq!(f.ids(&OWNER, "", 100).await.len(), 66, "the owner's list is unchanged");
}

async fn bad_filters_are_refused_naming_the_field<S: Store + Clone>(world: World<S>) {
    let f = fixture_light(world);
    for (claims, query, field) in [
        (&OWNER[..], "status=gone", "status"),
        (&OWNER[..], "status=active,", "status"),
        (&OWNER[..], "expiring_within=7w", "expiring_within"),
        (&OWNER[..], "expiring_within=0d", "expiring_within"),
        (&OWNER[..], "bot=not-an-id", "bot"),
        (&OWNER[..], "account=a%0Ab", "account"),
        (&OWNER[..], "account=a%E2%80%AEb", "account"),
        (&OWNER[..], "cursor=nope", "cursor"),
        (&OWNER[..], "limit=0", "limit"),
    ] {
        let (status, body) = f.get(claims, &format!("/v1/keys?{query}")).await;
        assert_eq!((status, body["error"]["field"].as_str()), (400, Some(field)), "{query}: {body}");
    }
    // A member sees their own keys; naming their own account changes nothing, another is 403,
    // as on `GET /v1/bots`.
    assert_eq!(f.get(&ALICE, "/v1/keys?account=alice").await.0, 200);
    let (status, body) = f.get(&ALICE, "/v1/keys?account=bob").await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("not_owner")), "{body}");
    let mut no_claims = ApiRequest::new("GET", "/v1/keys");
    no_claims.without_claims();
    assert_eq!(f.api.handle(no_claims.build()).await.status().as_u16(), 401);
}

/// The API over an empty world, for tests that need no keys.
fn fixture_light<S: Store + Clone>(world: World<S>) -> Fixture<S> {
    let api = api_for(&world);
    Fixture { world, api, bots: Vec::new(), keys: Vec::new() }
}

contract!(
    the_owner_sees_every_key_of_the_team_and_a_person_only_their_own_bot_users_keys,
    each_filter_alone_and_combined_selects_exactly_its_keys,
    paging_returns_every_visible_key_exactly_once_at_any_page_size,
    reassigning_a_bot_user_moves_its_keys_between_lists_on_the_next_request,
    bad_filters_are_refused_naming_the_field,
);
