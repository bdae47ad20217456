//! Signing in against the local runner as a process, over real HTTP: its dev OIDC issuer's
//! discovery, authorization code flow with PKCE and token endpoint, `mint-token`, the key kept
//! across restarts, and a runner checking another issuer's tokens as API Gateway would.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use nico_keys_tests::runner::{Answer, Runner};
use serde_json::{Value, json};

const CONSOLE: &str = "nico-keys-console";
const CLI: &str = "nico-keys-cli";

/// RFC 7636 appendix B: a verifier and its S256 challenge.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// `application/x-www-form-urlencoded`, every byte but unreserved ones escaped.
fn encode(pairs: &[(&str, &str)]) -> String {
    let escape = |text: &str| -> String {
        text.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    };
    pairs
        .iter()
        .map(|(name, value)| format!("{}={}", escape(name), escape(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// A query parameter of a URL, as sent (these tests only read values that need no decoding).
fn query_value(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.to_owned())
}

async fn post_form(runner: &Runner, path: &str, pairs: &[(&str, &str)]) -> Answer {
    let headers = [("content-type", "application/x-www-form-urlencoded")];
    runner.request("POST", path, &headers, encode(pairs).into_bytes()).await
}

/// The authorization request a client would send, for `client_id` and `redirect_uri`.
fn authorization(client_id: &str, redirect_uri: &str) -> Vec<(&'static str, String)> {
    vec![
        ("response_type", "code".into()),
        ("client_id", client_id.into()),
        ("redirect_uri", redirect_uri.into()),
        ("state", "state-123".into()),
        ("code_challenge", CHALLENGE.into()),
        ("code_challenge_method", "S256".into()),
        ("scope", "openid email".into()),
    ]
}

/// Clicks "Sign in" on the authorize page as `sub` of `team` with `role`: the code, from the
/// redirect to `redirect_uri`.
async fn sign_in(
    runner: &Runner,
    client_id: &str,
    redirect_uri: &str,
    sub: &str,
    team: &str,
    role: &str,
) -> String {
    let mut form = authorization(client_id, redirect_uri);
    form.extend([
        ("sub", sub.into()),
        ("team", team.into()),
        ("role", role.into()),
        ("display", format!("{sub}@example.com")),
        ("decision", "allow".into()),
    ]);
    let pairs: Vec<(&str, &str)> = form.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let answer = post_form(runner, "/oidc/authorize", &pairs).await;
    assert_eq!(answer.status, 303, "{}", answer.text());
    let location = answer.header("location").expect("a redirect").to_owned();
    assert!(location.starts_with(&format!("{redirect_uri}?")), "{location}");
    assert_eq!(query_value(&location, "state").as_deref(), Some("state-123"));
    query_value(&location, "code").expect("a code")
}

async fn exchange(
    runner: &Runner,
    client_id: &str,
    code: &str,
    redirect_uri: &str,
    verifier: &str,
) -> Answer {
    let pairs = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("client_id", client_id),
        ("code_verifier", verifier),
    ];
    post_form(runner, "/oidc/token", &pairs).await
}

async fn list_bots(runner: &Runner, token: &str) -> u16 {
    runner.send("GET", "/v1/bots", Some(&bearer(token)), None).await.0
}

async fn create_bot(runner: &Runner, token: &str) -> u16 {
    runner
        .send(
            "POST",
            "/v1/bots",
            Some(&bearer(token)),
            Some(&json!({"name": "ci bot", "scopes": ["projects:read"]})),
        )
        .await
        .0
}

#[tokio::test]
async fn discovery_names_the_endpoints_and_the_jwks_its_key() {
    let runner = Runner::start(&[], &[]).await;
    let issuer = format!("{}/oidc", runner.base);
    let (status, discovery) = runner.send("GET", "/oidc/.well-known/openid-configuration", None, None).await;
    assert_eq!(status, 200);
    assert_eq!(discovery["issuer"], json!(issuer));
    assert_eq!(discovery["authorization_endpoint"], json!(format!("{issuer}/authorize")));
    assert_eq!(discovery["token_endpoint"], json!(format!("{issuer}/token")));
    assert_eq!(discovery["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(discovery["id_token_signing_alg_values_supported"], json!(["RS256"]));
    let jwks_path = discovery["jwks_uri"].as_str().unwrap().strip_prefix(&runner.base).unwrap().to_owned();
    let (status, jwks) = runner.send("GET", &jwks_path, None, None).await;
    assert_eq!(status, 200);
    let key = &jwks["keys"][0];
    assert_eq!(
        (key["kty"].as_str(), key["alg"].as_str(), key["use"].as_str()),
        (Some("RSA"), Some("RS256"), Some("sig"))
    );
    assert!(key["kid"].as_str().is_some_and(|kid| !kid.is_empty()));
    assert!(key.get("d").is_none(), "no private part: {key}");
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);

    let header: Value = decode_segment(runner.owner.split('.').next().unwrap());
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["kid"], key["kid"], "the banner's token is signed with that key");
}

#[tokio::test]
async fn the_code_flow_with_pkce_signs_the_cli_in_and_its_token_works() {
    let runner = Runner::start(&[], &[]).await;
    let redirect = "http://127.0.0.1:49321/callback";

    // The page a person (or a browser test) clicks through, with its defaults.
    let query =
        encode(&authorization(CLI, redirect).iter().map(|(n, v)| (*n, v.as_str())).collect::<Vec<_>>());
    let page = runner.request("GET", &format!("/oidc/authorize?{query}"), &[], Vec::new()).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.header("content-type"), Some("text/html; charset=utf-8"));
    let html = page.text();
    for expected in [
        r#"<form method="post" action="authorize">"#,
        r#"name="sub" value="local-owner""#,
        r#"name="team" value="local-team""#,
        r#"<option value="owner" selected>"#,
        r#"name="display" value="local-owner@example.com""#,
        r#"name="state" value="state-123""#,
    ] {
        assert!(html.contains(expected), "{expected} in {html}");
    }

    let code = sign_in(&runner, CLI, redirect, "alice", "team-a", "owner").await;
    let tokens = exchange(&runner, CLI, &code, redirect, VERIFIER).await;
    assert_eq!(tokens.status, 200, "{}", tokens.text());
    assert_eq!(tokens.header("cache-control"), Some("no-store"));
    let tokens = tokens.json();
    assert_eq!((tokens["token_type"].as_str(), tokens["expires_in"].as_i64()), (Some("Bearer"), Some(3600)));
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(list_bots(&runner, access).await, 200);
    assert_eq!(create_bot(&runner, access).await, 201, "an owner writes");
    let claims = decode_segment(access.split('.').nth(1).unwrap());
    assert_eq!((claims["sub"].as_str(), claims["team_id"].as_str()), (Some("alice"), Some("team-a")));
    assert_eq!(
        (claims["email"].as_str(), claims["client_id"].as_str()),
        (Some("alice@example.com"), Some(CLI))
    );
    assert_eq!(list_bots(&runner, tokens["id_token"].as_str().unwrap()).await, 200, "aud = the CLI's id");

    // The code was good once.
    let again = exchange(&runner, CLI, &code, redirect, VERIFIER).await;
    assert_eq!((again.status, again.json()["error"].as_str()), (400, Some("invalid_grant")));

    // A refresh hands out a working token, once.
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let pairs = [("grant_type", "refresh_token"), ("refresh_token", refresh), ("client_id", CLI)];
    let refreshed = post_form(&runner, "/oidc/token", &pairs).await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text());
    assert_eq!(list_bots(&runner, refreshed.json()["access_token"].as_str().unwrap()).await, 200);
    assert_eq!(post_form(&runner, "/oidc/token", &pairs).await.status, 400);

    // A member reads, and may not write.
    let code = sign_in(&runner, CLI, redirect, "bob", "team-a", "member").await;
    let member = exchange(&runner, CLI, &code, redirect, VERIFIER).await.json();
    let member = member["access_token"].as_str().unwrap();
    assert_eq!((list_bots(&runner, member).await, create_bot(&runner, member).await), (200, 403));
}

#[tokio::test]
async fn a_wrong_verifier_a_reused_code_or_a_wrong_redirect_is_refused() {
    let runner = Runner::start(&[], &[]).await;
    let redirect = "http://127.0.0.1:49321/callback";

    let code = sign_in(&runner, CLI, redirect, "alice", "team-a", "owner").await;
    let wrong = exchange(&runner, CLI, &code, redirect, "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK").await;
    assert_eq!((wrong.status, wrong.json()["error"].as_str()), (400, Some("invalid_grant")));
    let after = exchange(&runner, CLI, &code, redirect, VERIFIER).await;
    assert_eq!(after.status, 400, "a failed exchange uses the code up");

    let code = sign_in(&runner, CLI, redirect, "alice", "team-a", "owner").await;
    let plain = exchange(&runner, CLI, &code, redirect, CHALLENGE).await;
    assert_eq!(plain.status, 400, "the challenge itself is no verifier (no plain PKCE)");

    let code = sign_in(&runner, CLI, redirect, "alice", "team-a", "owner").await;
    let elsewhere = exchange(&runner, CLI, &code, "http://127.0.0.1:49322/callback", VERIFIER).await;
    assert_eq!((elsewhere.status, elsewhere.json()["error"].as_str()), (400, Some("invalid_grant")));

    let code = sign_in(&runner, CLI, redirect, "alice", "team-a", "owner").await;
    let other_client = exchange(&runner, CONSOLE, &code, redirect, VERIFIER).await;
    assert_eq!(other_client.status, 400, "a code is for the client it was issued to");
    let unknown = exchange(&runner, "stranger", "whatever", redirect, VERIFIER).await;
    assert_eq!((unknown.status, unknown.json()["error"].as_str()), (401, Some("invalid_client")));

    // Redirects outside a client's registration are shown to the person, never followed.
    let console_redirect = format!("{}/console/callback", runner.base);
    for (client, redirect_uri) in [
        (CLI, "http://evil.example/callback"),
        (CLI, "http://localhost:49321/callback"),
        (CONSOLE, redirect),
        (CONSOLE, "http://127.0.0.1:1/console/callback"),
        ("stranger", redirect),
    ] {
        let pairs: Vec<(&str, String)> = authorization(client, redirect_uri);
        let query = encode(&pairs.iter().map(|(n, v)| (*n, v.as_str())).collect::<Vec<_>>());
        let page = runner.request("GET", &format!("/oidc/authorize?{query}"), &[], Vec::new()).await;
        assert_eq!((page.status, page.header("location")), (400, None), "{client} {redirect_uri}");
        let mut form = pairs.clone();
        form.extend([("sub", "alice".into()), ("team", "team-a".into()), ("role", "owner".into())]);
        let posted = post_form(
            &runner,
            "/oidc/authorize",
            &form.iter().map(|(n, v)| (*n, v.as_str())).collect::<Vec<_>>(),
        )
        .await;
        assert_eq!((posted.status, posted.header("location")), (400, None), "{client} {redirect_uri}");
    }

    // The console signs in on the runner's own callback.
    let code = sign_in(&runner, CONSOLE, &console_redirect, "alice", "team-a", "owner").await;
    let tokens = exchange(&runner, CONSOLE, &code, &console_redirect, VERIFIER).await.json();
    assert_eq!(list_bots(&runner, tokens["access_token"].as_str().unwrap()).await, 200);
}

#[tokio::test]
async fn mint_token_prints_a_token_that_works() {
    let runner = Runner::start(&["--store", "embedded"], &[]).await;
    let member = runner.mint_token(&["--sub", "carol", "--team", "local-team", "--role", "member"]).await;
    assert_eq!((list_bots(&runner, &member).await, create_bot(&runner, &member).await), (200, 403));
    let owner = runner.mint_token(&["--sub", "dave", "--team", "local-team", "--role", "owner"]).await;
    assert_eq!(create_bot(&runner, &owner).await, 201);
    let expired = runner
        .mint_token(&["--sub", "dave", "--team", "local-team", "--role", "owner", "--hours", "-1"])
        .await;
    assert_eq!(list_bots(&runner, &expired).await, 401);

    // Another data directory's key signs nothing this runner accepts.
    let stranger = Runner::start(&[], &[]).await;
    let forged = stranger.mint_token(&["--sub", "dave", "--team", "local-team", "--role", "owner"]).await;
    assert_eq!(list_bots(&runner, &forged).await, 401);

    // Claim names come from the same configuration on both sides.
    let env = [("OWNER_TEAM_CLAIM", "custom:team"), ("DISPLAY_NAME_CLAIM", "name")];
    let custom = Runner::start(&[], &env).await;
    let token =
        custom.mint_token(&["--sub", "erin", "--team", "t", "--role", "owner", "--display", "Erin"]).await;
    let claims = decode_segment(token.split('.').nth(1).unwrap());
    assert_eq!((claims["custom:team"].as_str(), claims["name"].as_str()), (Some("t"), Some("Erin")));
    assert_eq!(create_bot(&custom, &token).await, 201);
}

#[tokio::test]
async fn a_restart_with_the_same_data_dir_keeps_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let runner = Runner::start(&["--data-dir", data_dir], &[]).await;
    let port = runner.port().to_string();
    let (_, jwks) = runner.send("GET", "/oidc/.well-known/jwks.json", None, None).await;
    let redirect = "http://127.0.0.1:49321/callback";
    let code = sign_in(&runner, CLI, redirect, "alice", "team-a", "owner").await;
    let signed_in = exchange(&runner, CLI, &code, redirect, VERIFIER).await.json();
    let signed_in = signed_in["access_token"].as_str().unwrap().to_owned();
    let minted = runner.mint_token(&["--sub", "bob", "--team", "team-a", "--role", "owner"]).await;
    let banner = runner.owner.clone();
    runner.kill().await;

    let restarted = Runner::start(&["--data-dir", data_dir, "--port", &port], &[]).await;
    assert_eq!(
        restarted.send("GET", "/oidc/.well-known/jwks.json", None, None).await.1,
        jwks,
        "the same key"
    );
    for token in [&signed_in, &minted, &banner] {
        assert_eq!(list_bots(&restarted, token).await, 200, "a token from before the restart");
    }
}

#[tokio::test]
async fn a_runner_checks_another_issuers_tokens_from_its_discovery_url() {
    let identity_provider = Runner::start(&[], &[]).await;
    let discovery = format!("{}/oidc/.well-known/openid-configuration", identity_provider.base);
    let runner =
        Runner::start(&["--oidc-discovery-url", &discovery, "--audience", &format!("{CONSOLE},{CLI}")], &[])
            .await;
    assert_eq!(runner.owner, "", "no owner token of its own");
    assert_eq!(list_bots(&runner, &identity_provider.owner).await, 200);
    assert_eq!(create_bot(&runner, &identity_provider.owner).await, 201);
    let (status, _) = runner.send("GET", "/oidc/.well-known/openid-configuration", None, None).await;
    assert_eq!(status, 404, "no dev issuer of its own");

    let elsewhere = Runner::start(&[], &[]).await;
    assert_eq!(list_bots(&runner, &elsewhere.owner).await, 401, "another issuer");

    // Audiences as configured: the CLI's token is refused where only the console's id is.
    let console_only = Runner::start(&["--oidc-discovery-url", &discovery, "--audience", CONSOLE], &[]).await;
    assert_eq!(list_bots(&console_only, &identity_provider.owner).await, 401);
}

/// A JWT's header or payload, decoded.
fn decode_segment(segment: &str) -> Value {
    let bytes = URL_SAFE_NO_PAD.decode(segment).expect("base64url");
    serde_json::from_slice(&bytes).expect("a JSON segment")
}
