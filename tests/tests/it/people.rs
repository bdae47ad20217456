//! People and rights over the management API: who a person is (`/v1/me`), what may be asked
//! for (`/v1/catalog`), bot users for a person's account with a scope ceiling, the rights
//! matrix, re-assignment, narrowing and revoke-keys.

use chrono::TimeDelta;
use nico_keys::store::{Rejection, VerifyError};
use nico_keys_tests::http::ApiRequest;
use serde_json::{Value, json};

use crate::management_api::app;

/// Who may do what with a bot user made for Alice: the rights matrix.
#[tokio::test]
async fn the_owner_and_the_person_a_bot_user_is_for_manage_its_keys_and_nobody_else_sees_it() {
    let app = app().await;
    let body = json!({"name": "alice's bot", "account": "alice", "scopes": ["projects:read"]});
    let created = app.call("POST", "/v1/bots", Some(body)).await;
    created.expect(201);
    assert_eq!(
        (created.body["account"].as_str(), created.body["scopes"].clone()),
        (Some("alice"), json!(["projects:read"]))
    );
    let bot = created.body["id"].as_str().unwrap().to_owned();
    let (key, token) = app.key(&bot).await;
    let missing = nico_keys::BotId::generate(app.world.now());

    let owner = [("sub", "owner-1"), ("team_id", "team-a"), ("role", "owner")];
    let alice = [("sub", "alice"), ("team_id", "team-a"), ("role", "member")];
    let bob = [("sub", "bob"), ("team_id", "team-a"), ("role", "member")];
    let stranger = [("sub", "owner-b"), ("team_id", "team-b"), ("role", "owner")];
    let alice_elsewhere = [("sub", "alice"), ("team_id", "team-b"), ("role", "member")];
    let callers: [(&str, &[(&str, &str)]); 5] = [
        ("owner", &owner),
        ("holder", &alice),
        ("other member", &bob),
        ("other team", &stranger),
        ("holder's sub in another team", &alice_elsewhere),
    ];

    // Lists: owners see the team's bot users, each person their own; the filter is for owners.
    for (claims, query, expected) in [
        (&owner[..], "", (200, Some(1))),
        (&owner[..], "?account=alice", (200, Some(1))),
        (&owner[..], "?account=bob", (200, Some(0))),
        (&alice[..], "", (200, Some(1))),
        (&alice[..], "?account=alice", (200, Some(1))),
        (&bob[..], "", (200, Some(0))),
        (&bob[..], "?account=alice", (403, None)),
        (&stranger[..], "", (200, Some(0))),
        (&alice_elsewhere[..], "", (200, Some(0))),
    ] {
        let mut request = ApiRequest::new("GET", &format!("/v1/bots{query}"));
        request.claims(claims);
        let answer = app.send(&request).await;
        let got = (answer.status.as_u16(), answer.body["items"].as_array().map(Vec::len));
        assert_eq!(got, expected, "{claims:?} GET /v1/bots{query}");
    }

    // Team-wide writes are the owners'; a key's scopes stay within the bot user's.
    for claims in [&alice[..], &bob[..]] {
        let mut request = ApiRequest::new("POST", "/v1/bots");
        request.claims(claims).json(&json!({"name": "mine", "scopes": ["projects:read"]}));
        assert_eq!(app.send(&request).await.expect(403).error_code(), "not_owner");
    }
    let mut wider = ApiRequest::new("POST", &format!("/v1/bots/{bot}/keys"));
    wider.claims(&alice).json(
        &json!({"name": "k", "expires_at": app.expiry(TimeDelta::days(1)), "scopes": ["projects:write"]}),
    );
    assert_eq!(app.send(&wider).await.expect(400).field(), "scopes");

    let key_body =
        json!({"name": "k", "expires_at": app.expiry(TimeDelta::days(1)), "scopes": ["projects:read"]});
    // (method, path with {bot} and {key} ({fresh}: a new key for each caller), body, expected
    // status per caller in the order above)
    let rename = json!({"name": "alice's renamed bot"});
    let routes: [(&str, &str, Option<Value>, [u16; 5]); 9] = [
        ("GET", "/v1/bots/{bot}", None, [200, 200, 404, 404, 404]),
        ("GET", "/v1/bots/{bot}/keys", None, [200, 200, 404, 404, 404]),
        ("GET", "/v1/bots/{bot}/keys/{key}", None, [200, 200, 404, 404, 404]),
        ("POST", "/v1/bots/{bot}/keys", Some(key_body), [201, 201, 404, 404, 404]),
        ("POST", "/v1/bots/{bot}/keys/{fresh}/rotate", None, [201, 201, 404, 404, 404]),
        ("POST", "/v1/bots/{bot}/keys/{key}/revoke", None, [200, 200, 404, 404, 404]),
        ("PATCH", "/v1/bots/{bot}", Some(rename), [200, 403, 404, 404, 404]),
        ("POST", "/v1/bots/{bot}/revoke-keys", None, [200, 200, 404, 404, 404]),
        ("DELETE", "/v1/bots/{bot}", None, [204, 403, 404, 404, 404]),
    ];
    let mut table = String::from(
        "| route | owner | holder | other member | other team | holder's sub, other team |\n|---|---|---|---|---|---|\n",
    );
    for (method, template, body, expected) in routes {
        let mut row = format!("| `{method} {}` |", template.replace("{fresh}", "{key}"));
        for ((who, claims), status) in callers.iter().zip(expected) {
            let key = if template.contains("{fresh}") { app.key(&bot).await.0 } else { key.clone() };
            let template = template.replace("{fresh}", "{key}");
            let path = template.replace("{bot}", &bot).replace("{key}", &key);
            let missing_path = template.replace("{bot}", missing.as_str()).replace("{key}", &key);
            let mut request = ApiRequest::new(method, &path);
            request.claims(claims);
            if let Some(body) = &body {
                request.json(body);
            }
            let answer = app.send(&request).await;
            assert_eq!(answer.status.as_u16(), status, "{who}: {method} {template}: {}", answer.text);
            if status == 404 {
                let mut nothing = ApiRequest::new(method, &missing_path);
                nothing.claims(claims);
                if let Some(body) = &body {
                    nothing.json(body);
                }
                assert_eq!(
                    answer.text,
                    app.send(&nothing).await.text,
                    "{who}: {method} {template}: unlike a missing id"
                );
            }
            row.push_str(&format!(" {} |", answer.status.as_u16()));
        }
        table.push_str(&row);
        table.push('\n');
    }
    println!("{table}");

    let mut anonymous = ApiRequest::new("GET", "/v1/bots");
    anonymous.without_claims();
    assert_eq!(app.send(&anonymous).await.expect(401).error_code(), "unauthenticated");
    let mut no_team = ApiRequest::new("GET", "/v1/bots");
    no_team.claims(&[("sub", "x"), ("role", "owner")]);
    app.send(&no_team).await.expect(401);
    let mut with_api_key = ApiRequest::new("GET", "/v1/bots");
    with_api_key.without_claims().header("authorization", &format!("Bearer {token}"));
    assert_eq!(app.send(&with_api_key).await.expect(401).error_code(), "api_key_not_accepted");
}

#[tokio::test]
async fn a_person_sees_their_account_id_and_anyone_signed_in_the_catalogue_and_limits() {
    let app = app().await;
    let mut me = ApiRequest::new("GET", "/v1/me");
    me.claims(&[
        ("sub", "alice-sub"),
        ("team_id", "team-a"),
        ("role", "member"),
        ("email", "alice@example.com"),
    ]);
    let answer = app.send(&me).await;
    answer.expect(200);
    assert_eq!(
        answer.body,
        json!({"sub": "alice-sub", "team_id": "team-a", "role": "member", "is_owner": false, "display_name": "alice@example.com"})
    );
    let mut without_display = ApiRequest::new("GET", "/v1/me");
    without_display.claims(&[("sub", "bob"), ("team_id", "team-a")]);
    let answer = app.send(&without_display).await;
    assert_eq!(
        (answer.body["role"].clone(), answer.body["display_name"].clone()),
        (Value::Null, Value::Null)
    );

    let catalog = app.as_team("team-a", "member", "GET", "/v1/catalog", None).await;
    catalog.expect(200);
    let scopes: Vec<&str> =
        catalog.body["scopes"].as_array().unwrap().iter().map(|s| s["scope"].as_str().unwrap()).collect();
    assert_eq!(scopes, ["billing:read", "projects:read", "projects:write"]);
    assert_eq!(
        catalog.body["limits"],
        json!({"max_key_lifetime_days": 365, "key_retention_days": 30, "max_active_keys_per_bot": 50,
               "name_max_chars": 100, "rotation_grace_seconds": 86400})
    );
    let mut anonymous = ApiRequest::new("GET", "/v1/catalog");
    anonymous.without_claims();
    app.send(&anonymous).await.expect(401);
}

/// Alice leaves; her bot user goes to Carol. Alice loses access on the next request, and her
/// keys stop working unless the owner keeps them.
#[tokio::test]
async fn a_reassigned_bot_user_moves_to_its_new_holder_and_by_default_takes_its_keys_down() {
    let app = app().await;
    let alice = [("sub", "alice"), ("team_id", "team-a"), ("role", "member")];
    let carol = [("sub", "carol"), ("team_id", "team-a"), ("role", "member")];
    let as_ = |claims: &[(&str, &str)], method: &str, path: &str, body: Option<Value>| {
        let mut request = ApiRequest::new(method, path);
        request.claims(claims);
        if let Some(body) = body {
            request.json(&body);
        }
        request
    };
    for keep_keys in [false, true] {
        let body = json!({"name": "alice's bot", "account": "alice", "scopes": ["projects:read"]});
        let bot = app.call("POST", "/v1/bots", Some(body)).await.body["id"].as_str().unwrap().to_owned();
        let key_body =
            json!({"name": "k", "expires_at": app.expiry(TimeDelta::days(1)), "scopes": ["projects:read"]});
        let issued = app.send(&as_(&alice, "POST", &format!("/v1/bots/{bot}/keys"), Some(key_body))).await;
        let token = issued.expect(201).body["token"].as_str().unwrap().to_owned();

        let mut change = json!({"account": "carol"});
        if keep_keys {
            change["revoke_keys"] = json!(false);
        }
        let changed = app.call("PATCH", &format!("/v1/bots/{bot}"), Some(change)).await;
        changed.expect(200);
        assert_eq!(changed.body["bot"]["account"], "carol");
        assert_eq!(changed.body["revoked_keys"], if keep_keys { 0 } else { 1 });

        app.send(&as_(&alice, "GET", &format!("/v1/bots/{bot}/keys"), None)).await.expect(404);
        app.send(&as_(&carol, "GET", &format!("/v1/bots/{bot}/keys"), None)).await.expect(200);
        let verdict = app.verify(&token).await;
        if keep_keys {
            assert!(verdict.is_ok(), "kept: {verdict:?}");
        } else {
            assert!(matches!(verdict, Err(VerifyError::Rejected(Rejection::Revoked))), "{verdict:?}");
        }
    }
}

#[tokio::test]
async fn a_ceiling_narrows_only_over_keys_it_still_covers_and_revoke_keys_stops_them_all() {
    let app = app().await;
    let bot = app.bot().await;
    let (_, read_only) = app.key(&bot).await;
    let wide =
        json!({"name": "w", "expires_at": app.expiry(TimeDelta::days(1)), "scopes": ["projects:write"]});
    let issued = app.call("POST", &format!("/v1/bots/{bot}/keys"), Some(wide)).await;
    let (wide_id, wide_token) = (
        issued.body["key"]["id"].as_str().unwrap().to_owned(),
        issued.body["token"].as_str().unwrap().to_owned(),
    );

    let narrow = json!({"scopes": ["projects:read"]});
    let refused = app.call("PATCH", &format!("/v1/bots/{bot}"), Some(narrow.clone())).await;
    assert_eq!(refused.expect(409).error_code(), "keys_outside_scopes");
    assert!(refused.body["error"]["message"].as_str().unwrap().contains(&wide_id));
    app.call("POST", &format!("/v1/bots/{bot}/keys/{wide_id}/revoke"), None).await.expect(200);
    let narrowed = app.call("PATCH", &format!("/v1/bots/{bot}"), Some(narrow)).await;
    assert_eq!(narrowed.expect(200).body["bot"]["scopes"], json!(["projects:read"]));

    for (body, field) in [
        (json!({}), "body"),
        (json!({"revoke_keys": false}), "revoke_keys"),
        (json!({"scopes": ["projects:delete"]}), "scopes"),
        (json!({"account": ""}), "account"),
        (json!({"name": " "}), "name"),
    ] {
        let answer = app.call("PATCH", &format!("/v1/bots/{bot}"), Some(body.clone())).await;
        assert_eq!((answer.status.as_u16(), answer.field()), (400, field), "{body}");
    }

    let revoked = app.call("POST", &format!("/v1/bots/{bot}/revoke-keys"), None).await;
    assert_eq!(revoked.expect(200).body, json!({"revoked_keys": 1}));
    for token in [&read_only, &wide_token] {
        assert!(matches!(app.verify(token).await, Err(VerifyError::Rejected(Rejection::Revoked))));
    }
    assert_eq!(app.call("POST", &format!("/v1/bots/{bot}/revoke-keys"), None).await.body["revoked_keys"], 0);
    app.call("GET", &format!("/v1/bots/{bot}"), None).await.expect(200);
}

/// `account` is whatever the identity provider uses as `sub`, taken as an opaque value; but
/// it is shown to people, so it must be printable and without invisible formatting.
#[tokio::test]
async fn an_account_is_any_printable_subject_up_to_256_characters() {
    let app = app().await;
    let bot_for = |account: String| json!({"name": "b", "account": account, "scopes": ["projects:read"]});
    for account in ["auth0|5f7c8ec7c33c6c004bbafe82".to_owned(), "x".repeat(256), "Zoë Ä".to_owned()] {
        let created = app.call("POST", "/v1/bots", Some(bot_for(account.clone()))).await;
        assert_eq!(created.expect(201).body["account"], account.as_str());
    }
    let bot = app.bot().await;
    for bad in ["", "alice\n", "alice\u{202E}", "ali\u{200B}ce", "alice\u{2028}", "\u{FEFF}alice"]
        .into_iter()
        .map(str::to_owned)
        .chain(["x".repeat(257)])
    {
        let created = app.call("POST", "/v1/bots", Some(bot_for(bad.clone()))).await;
        assert_eq!((created.status.as_u16(), created.field()), (400, "account"), "POST {bad:?}");
        assert!(
            !created.text.contains(&bad) || bad.is_empty(),
            "the answer repeats the value: {}",
            created.text
        );
        let patched = app.call("PATCH", &format!("/v1/bots/{bot}"), Some(json!({"account": bad}))).await;
        assert_eq!((patched.status.as_u16(), patched.field()), (400, "account"), "PATCH {bad:?}");
    }
}
