//! The dev OIDC issuer: what an identity provider does for the console and the CLI, so both
//! sign in locally the way they sign in against Cognito or Auth0.
//!
//! Its issuer is `<base>/oidc` and it serves, under that path:
//!
//! | path | does |
//! |---|---|
//! | `GET /.well-known/openid-configuration` | the discovery document |
//! | `GET /.well-known/jwks.json` | the JWKS: the one RS256 key of the data directory ([`crate::keys`]) |
//! | `GET /authorize` | authorization code + PKCE (S256 only): a page to pick who signs in, no password |
//! | `POST /authorize` | that page's answer: a redirect to the client with `code`, `state` and `iss` |
//! | `POST /token` | `authorization_code` (with `code_verifier`) or `refresh_token`: access, ID and refresh tokens |
//!
//! Registered clients (public, no secret): [`CONSOLE_CLIENT_ID`], redirected to
//! `<base>/console/callback` only, and [`CLI_CLIENT_ID`], redirected to
//! `http://127.0.0.1:<any port>/callback` or `http://[::1]:<any port>/callback` (RFC 8252's
//! loopback redirect). Codes live 5 minutes and are good once; refresh tokens live 12 hours,
//! are good once, and each use hands out the next. Both are kept in memory only: a restart
//! signs everybody out of the refresh, not out of their access tokens, which the key on disk
//! still verifies.
//!
//! Access tokens are shaped like Cognito's: `client_id` (no `aud`), `token_use: access`,
//! `scope`, and the team, role and display name under the configured claim names. ID tokens
//! carry `aud` = the client id and `nonce` when one was asked for. Both are RS256, valid
//! [`TOKEN_SECONDS`].

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use nico_keys::config::ClaimNames;
use nico_keys::{Subject, TeamId};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use url::{Host, Url};

use crate::jwt::Verifier;
use crate::keys::SigningKey;
use crate::{LocalRequest, LocalResponse};

/// Where the issuer lives under the runner's base URL.
pub const PATH: &str = "/oidc";
/// The web console's client id.
pub const CONSOLE_CLIENT_ID: &str = "nico-keys-console";
/// The command-line client's id.
pub const CLI_CLIENT_ID: &str = "nico-keys-cli";
/// The console's redirect, on the runner itself.
pub const CONSOLE_CALLBACK: &str = "/console/callback";
/// Lifetime of the access and ID tokens the code flow hands out (Cognito's default).
pub const TOKEN_SECONDS: i64 = 3600;
const CODE_SECONDS: i64 = 300;
const REFRESH_SECONDS: i64 = 12 * 3600;

/// What the sign-in page proposes.
pub const DEFAULT_SUB: &str = "local-owner";
pub const DEFAULT_TEAM: &str = "local-team";
pub const DEFAULT_ROLE: &str = "owner";
pub const DEFAULT_DISPLAY: &str = "local-owner@example.com";

/// The issuer identifier of a runner serving at `base` (`http://127.0.0.1:3000`).
pub fn issuer_at(base: &str) -> String {
    format!("{}{PATH}", base.trim_end_matches('/'))
}

/// The file under the data directory naming the issuer the runner last served, so that
/// `mint-token` signs for the port the runner listens on.
pub const ISSUER_FILE: &str = "oidc-issuer";

/// Notes `issuer` in the data directory `dir`.
pub fn remember_issuer(dir: &Path, issuer: &str) -> Result<(), String> {
    let path = dir.join(ISSUER_FILE);
    std::fs::write(&path, format!("{issuer}\n")).map_err(|e| format!("{}: {e}", path.display()))
}

/// The issuer the runner last served with the data directory `dir`, if it ever did.
pub fn remembered_issuer(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join(ISSUER_FILE)).ok()?;
    Some(text.trim().to_owned()).filter(|issuer| !issuer.is_empty())
}

/// The registered clients' ids: the audiences the runner accepts from its own issuer.
pub fn client_ids() -> Vec<String> {
    vec![CONSOLE_CLIENT_ID.to_owned(), CLI_CLIENT_ID.to_owned()]
}

/// Who a token is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub sub: String,
    pub team: String,
    pub role: String,
    /// The display name (an e-mail address, say); no claim when `None`.
    pub display: Option<String>,
}

/// Signs the issuer's tokens: the code flow's, `mint-token`'s and the start banner's.
#[derive(Clone)]
pub struct Minter {
    issuer: String,
    key: Arc<SigningKey>,
    names: ClaimNames,
}

impl Minter {
    pub fn new(issuer: String, key: Arc<SigningKey>, names: ClaimNames) -> Self {
        Self { issuer, key, names }
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn key(&self) -> &SigningKey {
        &self.key
    }

    fn claims(&self, who: &Identity, now: i64, seconds: i64) -> Map<String, Value> {
        let mut claims = Map::new();
        claims.insert(self.names.team.clone(), json!(who.team));
        claims.insert(self.names.role.clone(), json!(who.role));
        if let Some(display) = &who.display {
            claims.insert(self.names.display.clone(), json!(display));
        }
        // The registered claims last: a claim name configured to one of them cannot displace it.
        let registered = [
            ("iss", json!(self.issuer)),
            ("sub", json!(who.sub)),
            ("iat", json!(now)),
            ("auth_time", json!(now)),
            ("exp", json!(now + seconds)),
            ("jti", json!(random_token(16))),
        ];
        claims.extend(registered.into_iter().map(|(name, value)| (name.to_owned(), value)));
        claims
    }

    /// An access token for `client_id`, valid `seconds` from `now` (negative: already expired).
    pub fn access_token(
        &self,
        who: &Identity,
        client_id: &str,
        scope: &str,
        now: i64,
        seconds: i64,
    ) -> String {
        let mut claims = self.claims(who, now, seconds);
        claims.insert("client_id".into(), json!(client_id));
        claims.insert("token_use".into(), json!("access"));
        claims.insert("scope".into(), json!(scope));
        self.key.sign(&claims)
    }

    /// An ID token for `client_id`.
    pub fn id_token(
        &self,
        who: &Identity,
        client_id: &str,
        nonce: Option<&str>,
        now: i64,
        seconds: i64,
    ) -> String {
        let mut claims = self.claims(who, now, seconds);
        claims.insert("aud".into(), json!(client_id));
        claims.insert("token_use".into(), json!("id"));
        if let Some(nonce) = nonce {
            claims.insert("nonce".into(), json!(nonce));
        }
        self.key.sign(&claims)
    }

    /// The issuer's JWKS document.
    pub fn jwks(&self) -> Value {
        json!({ "keys": [self.key.jwk()] })
    }

    /// A verifier of this issuer's tokens for `audiences`.
    pub fn verifier(&self, audiences: Vec<String>) -> Result<Verifier, String> {
        Verifier::new(&self.issuer, audiences, &self.jwks())
    }
}

/// A code handed to a client, waiting for its exchange.
struct CodeGrant {
    client_id: &'static str,
    redirect_uri: String,
    challenge: String,
    scope: String,
    nonce: Option<String>,
    who: Identity,
    expires: i64,
}

/// A refresh token handed out, good once.
struct RefreshGrant {
    client_id: &'static str,
    scope: String,
    who: Identity,
    expires: i64,
}

#[derive(Default)]
struct Grants {
    codes: HashMap<String, CodeGrant>,
    refreshes: HashMap<String, RefreshGrant>,
}

/// The issuer, serving under [`PATH`] of a runner at `base`.
pub struct DevIssuer {
    base: String,
    minter: Minter,
    names: ClaimNames,
    grants: Mutex<Grants>,
}

impl DevIssuer {
    pub fn new(base: &str, key: Arc<SigningKey>, names: ClaimNames) -> Self {
        let base = base.trim_end_matches('/').to_owned();
        let minter = Minter::new(issuer_at(&base), key, names.clone());
        Self { base, minter, names, grants: Mutex::default() }
    }

    pub fn minter(&self) -> &Minter {
        &self.minter
    }

    pub fn issuer(&self) -> &str {
        self.minter.issuer()
    }

    pub fn console_redirect(&self) -> String {
        format!("{}{CONSOLE_CALLBACK}", self.base)
    }

    /// Answers a request whose path is [`PATH`] or under it, at `now` (seconds).
    pub fn handle(&self, request: &LocalRequest, now: i64) -> LocalResponse {
        let tail = request.path.strip_prefix(PATH).unwrap_or_default();
        let method = request.method.as_str();
        match (tail, method) {
            ("/.well-known/openid-configuration", "GET") => public_json(&self.discovery()),
            ("/.well-known/jwks.json", "GET") => public_json(&self.minter.jwks()),
            ("/authorize", "GET") => self.authorize_page(&Params::parse(request.query.as_bytes())),
            ("/authorize", "POST") => match form(request) {
                Some(params) => self.authorize_answer(&params, now),
                None => page(
                    400,
                    "Sign-in failed",
                    "<p>The form must be sent as application/x-www-form-urlencoded.</p>",
                ),
            },
            ("/token", "POST") => self.token(request, now),
            ("/.well-known/openid-configuration" | "/.well-known/jwks.json", _) => not_allowed("GET"),
            ("/authorize", _) => not_allowed("GET, POST"),
            ("/token", _) => not_allowed("POST"),
            _ => LocalResponse::message(404, "message", "Not Found"),
        }
    }

    fn discovery(&self) -> Value {
        let issuer = self.issuer();
        let mut claims =
            vec!["iss", "sub", "aud", "client_id", "exp", "iat", "auth_time", "nonce", "scope", "token_use"];
        claims.extend([self.names.team.as_str(), self.names.role.as_str(), self.names.display.as_str()]);
        json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/authorize"),
            "token_endpoint": format!("{issuer}/token"),
            "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["none"],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": ["openid", "profile", "email"],
            "claims_supported": claims,
            "authorization_response_iss_parameter_supported": true,
        })
    }

    fn client(client_id: &str) -> Option<&'static str> {
        [CONSOLE_CLIENT_ID, CLI_CLIENT_ID].into_iter().find(|id| *id == client_id)
    }

    fn redirect_allowed(&self, client_id: &str, redirect_uri: &str) -> bool {
        match client_id {
            CONSOLE_CLIENT_ID => redirect_uri == self.console_redirect(),
            CLI_CLIENT_ID => is_loopback_callback(redirect_uri),
            _ => false,
        }
    }

    /// The authorization request in `params`, checked (RFC 6749 §4.1.2.1): a bad client or
    /// redirect is told to the person, never redirected to; anything else goes back to the
    /// client as an error redirect.
    fn authorization(&self, params: &Params) -> Result<Authorization, Refusal> {
        let client_id = params
            .get("client_id")
            .map_err(Refusal::Page)?
            .ok_or(Refusal::Page("client_id is missing.".into()))?;
        let client_id = Self::client(client_id)
            .ok_or_else(|| Refusal::Page(format!("{client_id:?} is not a registered client.")))?;
        let redirect_uri = params
            .get("redirect_uri")
            .map_err(Refusal::Page)?
            .ok_or(Refusal::Page("redirect_uri is missing.".into()))?;
        if !self.redirect_allowed(client_id, redirect_uri) {
            let expected = match client_id {
                CONSOLE_CLIENT_ID => self.console_redirect(),
                _ => "http://127.0.0.1:<port>/callback".to_owned(),
            };
            return Err(Refusal::Page(format!(
                "{redirect_uri:?} is not a redirect of {client_id}, which is redirected to {expected} only."
            )));
        }
        let redirect_uri = redirect_uri.to_owned();
        let state = params.get("state").ok().flatten().map(str::to_owned);
        let refuse = |error: &'static str, description: String| Refusal::Redirect {
            redirect_uri: redirect_uri.clone(),
            state: state.clone(),
            error,
            description,
        };
        for name in ["state", "response_type", "code_challenge", "code_challenge_method", "scope", "nonce"] {
            params.get(name).map_err(|problem| refuse("invalid_request", problem))?;
        }
        match params.get("response_type").ok().flatten() {
            Some("code") => {}
            Some(other) => {
                return Err(refuse(
                    "unsupported_response_type",
                    format!("response_type {other} is not supported: use code"),
                ));
            }
            None => return Err(refuse("invalid_request", "response_type is missing".into())),
        }
        if params.get("code_challenge_method").ok().flatten() != Some("S256") {
            return Err(refuse(
                "invalid_request",
                "PKCE is required, with code_challenge_method S256".into(),
            ));
        }
        let challenge = params.get("code_challenge").ok().flatten().unwrap_or_default();
        if challenge.len() != 43 || URL_SAFE_NO_PAD.decode(challenge).is_err() {
            return Err(refuse(
                "invalid_request",
                "code_challenge must be a base64url SHA-256 (43 characters)".into(),
            ));
        }
        Ok(Authorization {
            client_id,
            redirect_uri,
            state,
            challenge: challenge.to_owned(),
            scope: params.get("scope").ok().flatten().unwrap_or("openid").to_owned(),
            nonce: params.get("nonce").ok().flatten().map(str::to_owned),
        })
    }

    fn authorize_page(&self, params: &Params) -> LocalResponse {
        match self.authorization(params) {
            Ok(request) => self.sign_in_form(&request, &Identity::default_owner(), None),
            Err(refusal) => refusal.answer(self.issuer()),
        }
    }

    fn authorize_answer(&self, params: &Params, now: i64) -> LocalResponse {
        let request = match self.authorization(params) {
            Ok(request) => request,
            Err(refusal) => return refusal.answer(self.issuer()),
        };
        if params.get("decision").ok().flatten() == Some("deny") {
            let refusal = Refusal::Redirect {
                redirect_uri: request.redirect_uri,
                state: request.state,
                error: "access_denied",
                description: "the sign-in was cancelled".into(),
            };
            return refusal.answer(self.issuer());
        }
        let field =
            |name: &str| params.get(name).ok().flatten().map(str::trim).unwrap_or_default().to_owned();
        let who = Identity {
            sub: field("sub"),
            team: field("team"),
            role: field("role"),
            display: Some(field("display")).filter(|d| !d.is_empty()),
        };
        let problem = if Subject::parse(&who.sub).is_err() {
            Some("The subject must be 1 to 256 printable characters.")
        } else if TeamId::parse(&who.team).is_err() {
            Some("The team must be 1 to 256 printable characters.")
        } else if who.role.is_empty() || who.role.chars().any(char::is_control) {
            Some("The role must be printable and not blank.")
        } else if who.display.as_deref().is_some_and(|d| d.chars().any(char::is_control)) {
            Some("The display name must be printable.")
        } else {
            None
        };
        if let Some(problem) = problem {
            return self.sign_in_form(&request, &who, Some(problem));
        }
        let code = random_token(32);
        let mut redirect = redirect_to(&request.redirect_uri);
        redirect.query_pairs_mut().append_pair("code", &code);
        if let Some(state) = &request.state {
            redirect.query_pairs_mut().append_pair("state", state);
        }
        redirect.query_pairs_mut().append_pair("iss", self.issuer());
        let grant = CodeGrant {
            client_id: request.client_id,
            redirect_uri: request.redirect_uri,
            challenge: request.challenge,
            scope: request.scope,
            nonce: request.nonce,
            who,
            expires: now + CODE_SECONDS,
        };
        let mut grants = self.grants.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        grants.codes.retain(|_, grant| grant.expires > now);
        grants.codes.insert(code, grant);
        see_other(redirect.as_str())
    }

    fn sign_in_form(&self, request: &Authorization, who: &Identity, problem: Option<&str>) -> LocalResponse {
        let client = match request.client_id {
            CONSOLE_CLIENT_ID => "The nico-keys console",
            _ => "The nico-keys command-line client",
        };
        let hidden: String = [
            ("response_type", Some("code")),
            ("client_id", Some(request.client_id)),
            ("redirect_uri", Some(request.redirect_uri.as_str())),
            ("state", request.state.as_deref()),
            ("code_challenge", Some(request.challenge.as_str())),
            ("code_challenge_method", Some("S256")),
            ("scope", Some(request.scope.as_str())),
            ("nonce", request.nonce.as_deref()),
        ]
        .into_iter()
        .filter_map(|(name, value)| {
            Some(format!(r#"<input type="hidden" name="{name}" value="{}">"#, escape(value?)))
        })
        .collect::<Vec<_>>()
        .join("\n");
        let alert = problem
            .map(|p| format!(r#"<p role="alert"><strong>{}</strong></p>"#, escape(p)))
            .unwrap_or_default();
        let option = |role: &str, label: &str| {
            let selected = if who.role == role { " selected" } else { "" };
            format!(r#"<option value="{role}"{selected}>{label}</option>"#)
        };
        let custom_role = if who.role != "owner" && who.role != "member" && !who.role.is_empty() {
            option(&escape(&who.role), &escape(&who.role))
        } else {
            String::new()
        };
        let body = format!(
            r#"<p>{client} asks who you are. This is the local runner's dev issuer: it signs whoever
you say, with no password. Tokens carry the team in <code>{team_claim}</code>, the role in
<code>{role_claim}</code> and the display name in <code>{display_claim}</code>.</p>
{alert}
<form method="post" action="authorize">
{hidden}
<p><label for="sub">Subject (<code>sub</code>)</label><br>
<input id="sub" name="sub" value="{sub}" required maxlength="256" autocomplete="username"></p>
<p><label for="team">Team</label><br>
<input id="team" name="team" value="{team}" required maxlength="256"></p>
<p><label for="role">Role</label><br>
<select id="role" name="role">{owner}{member}{custom_role}</select></p>
<p><label for="display">Display name</label><br>
<input id="display" name="display" value="{display}" maxlength="256" autocomplete="email"></p>
<p><button type="submit" name="decision" value="allow">Sign in</button>
<button type="submit" name="decision" value="deny" formnovalidate>Cancel</button></p>
</form>
<p>Redirects to <code>{redirect}</code>.</p>"#,
            team_claim = escape(&self.names.team),
            role_claim = escape(&self.names.role),
            display_claim = escape(&self.names.display),
            sub = escape(&who.sub),
            team = escape(&who.team),
            owner = option("owner", "owner: manages bot users and keys"),
            member = option("member", "member: the keys of bot users made for them"),
            display = escape(who.display.as_deref().unwrap_or_default()),
            redirect = escape(&request.redirect_uri),
        );
        page(if problem.is_some() { 400 } else { 200 }, "Sign in to nico-keys (local)", &body)
    }

    fn token(&self, request: &LocalRequest, now: i64) -> LocalResponse {
        let Some(params) = form(request) else {
            return token_error(
                400,
                "invalid_request",
                "send the parameters as application/x-www-form-urlencoded",
            );
        };
        let mut named = HashMap::new();
        for name in ["grant_type", "code", "redirect_uri", "client_id", "code_verifier", "refresh_token"] {
            match params.get(name) {
                Ok(value) => drop(named.insert(name, value)),
                Err(problem) => return token_error(400, "invalid_request", &problem),
            }
        }
        let param = |name: &str| named.get(name).copied().flatten();
        let Some(client_id) = param("client_id") else {
            return token_error(401, "invalid_client", "client_id is missing");
        };
        let Some(client_id) = Self::client(client_id) else {
            return token_error(401, "invalid_client", "unknown client");
        };
        let mut grants = self.grants.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        grants.refreshes.retain(|_, grant| grant.expires > now);
        match param("grant_type") {
            Some("authorization_code") => {
                let Some(code) = param("code") else {
                    return token_error(400, "invalid_request", "code is missing");
                };
                // Taken out whatever follows: a code is good for one attempt.
                let Some(grant) = grants.codes.remove(code).filter(|grant| grant.expires > now) else {
                    return token_error(400, "invalid_grant", "unknown, used or expired code");
                };
                if grant.client_id != client_id {
                    return token_error(400, "invalid_grant", "the code was issued to another client");
                }
                if param("redirect_uri") != Some(grant.redirect_uri.as_str()) {
                    return token_error(
                        400,
                        "invalid_grant",
                        "redirect_uri differs from the authorization request's",
                    );
                }
                if !pkce_holds(param("code_verifier").unwrap_or_default(), &grant.challenge) {
                    return token_error(
                        400,
                        "invalid_grant",
                        "code_verifier does not match the code_challenge",
                    );
                }
                self.tokens(&mut grants, client_id, &grant.who, &grant.scope, grant.nonce.as_deref(), now)
            }
            Some("refresh_token") => {
                let Some(refresh) = param("refresh_token") else {
                    return token_error(400, "invalid_request", "refresh_token is missing");
                };
                let Some(grant) = grants.refreshes.remove(refresh) else {
                    return token_error(400, "invalid_grant", "unknown, used or expired refresh token");
                };
                if grant.client_id != client_id {
                    return token_error(
                        400,
                        "invalid_grant",
                        "the refresh token was issued to another client",
                    );
                }
                self.tokens(&mut grants, client_id, &grant.who, &grant.scope, None, now)
            }
            Some(_) => token_error(400, "unsupported_grant_type", "authorization_code or refresh_token"),
            None => token_error(400, "invalid_request", "grant_type is missing"),
        }
    }

    fn tokens(
        &self,
        grants: &mut Grants,
        client_id: &'static str,
        who: &Identity,
        scope: &str,
        nonce: Option<&str>,
        now: i64,
    ) -> LocalResponse {
        let refresh = random_token(32);
        let body = json!({
            "access_token": self.minter.access_token(who, client_id, scope, now, TOKEN_SECONDS),
            "id_token": self.minter.id_token(who, client_id, nonce, now, TOKEN_SECONDS),
            "refresh_token": refresh,
            "token_type": "Bearer",
            "expires_in": TOKEN_SECONDS,
            "scope": scope,
        });
        let grant = RefreshGrant {
            client_id,
            scope: scope.to_owned(),
            who: who.clone(),
            expires: now + REFRESH_SECONDS,
        };
        grants.refreshes.insert(refresh, grant);
        let mut response = LocalResponse::json(200, &body);
        response.headers.push(("cache-control".into(), "no-store".into()));
        response
    }
}

impl Identity {
    /// The sign-in page's proposal, the start banner's owner.
    pub fn default_owner() -> Self {
        Self {
            sub: DEFAULT_SUB.into(),
            team: DEFAULT_TEAM.into(),
            role: DEFAULT_ROLE.into(),
            display: Some(DEFAULT_DISPLAY.into()),
        }
    }
}

/// A checked authorization request.
struct Authorization {
    client_id: &'static str,
    redirect_uri: String,
    state: Option<String>,
    challenge: String,
    scope: String,
    nonce: Option<String>,
}

enum Refusal {
    /// Shown to the person: the client or its redirect cannot be trusted.
    Page(String),
    /// Sent back to the client.
    Redirect { redirect_uri: String, state: Option<String>, error: &'static str, description: String },
}

impl Refusal {
    fn answer(self, issuer: &str) -> LocalResponse {
        match self {
            Self::Page(problem) => {
                page(400, "Sign-in refused", &format!("<p role=\"alert\">{}</p>", escape(&problem)))
            }
            Self::Redirect { redirect_uri, state, error, description } => {
                let mut redirect = redirect_to(&redirect_uri);
                redirect
                    .query_pairs_mut()
                    .append_pair("error", error)
                    .append_pair("error_description", &description);
                if let Some(state) = &state {
                    redirect.query_pairs_mut().append_pair("state", state);
                }
                redirect.query_pairs_mut().append_pair("iss", issuer);
                see_other(redirect.as_str())
            }
        }
    }
}

/// Form or query parameters, each name with every value it was given.
struct Params(HashMap<String, Vec<String>>);

impl Params {
    fn parse(bytes: &[u8]) -> Self {
        let mut values: HashMap<String, Vec<String>> = HashMap::new();
        for (name, value) in url::form_urlencoded::parse(bytes) {
            values.entry(name.into_owned()).or_default().push(value.into_owned());
        }
        Self(values)
    }

    /// The value of `name`; `None` when absent or empty (RFC 6749 §3.1), an error when given
    /// more than once.
    fn get(&self, name: &str) -> Result<Option<&str>, String> {
        match self.0.get(name).map(Vec::as_slice) {
            None | Some([]) => Ok(None),
            Some([value]) => Ok(Some(value.as_str()).filter(|v| !v.is_empty())),
            Some(_) => Err(format!("{name} is given more than once")),
        }
    }
}

/// The body's parameters, if it is a form.
fn form(request: &LocalRequest) -> Option<Params> {
    let content_type = request.header("content-type").unwrap_or_default();
    let media_type = content_type.split(';').next().unwrap_or_default().trim();
    media_type.eq_ignore_ascii_case("application/x-www-form-urlencoded").then(|| Params::parse(&request.body))
}

/// RFC 8252 §7.3: a loopback IP literal, any port, path `/callback`.
fn is_loopback_callback(redirect_uri: &str) -> bool {
    let Ok(url) = Url::parse(redirect_uri) else {
        return false;
    };
    let loopback = match url.host() {
        Some(Host::Ipv4(ip)) => ip == std::net::Ipv4Addr::LOCALHOST,
        Some(Host::Ipv6(ip)) => ip == std::net::Ipv6Addr::LOCALHOST,
        _ => false,
    };
    url.scheme() == "http"
        && loopback
        && url.path() == "/callback"
        && url.query().is_none()
        && url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none()
}

/// RFC 7636 S256: the verifier's form, and BASE64URL(SHA-256(verifier)) = the challenge.
fn pkce_holds(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    well_formed && URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) == challenge
}

/// A redirect URI already checked against the registered clients.
fn redirect_to(redirect_uri: &str) -> Url {
    Url::parse(redirect_uri).expect("registered redirects are URLs")
}

/// `bytes` random bytes, base64url.
fn random_token(bytes: usize) -> String {
    let mut random = vec![0; bytes];
    getrandom::fill(&mut random).expect("the OS random number generator failed");
    URL_SAFE_NO_PAD.encode(random)
}

fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// A page of the issuer: no script, no style, no framing, no referrer.
fn page(status: u16, title: &str, body: &str) -> LocalResponse {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n</head>\n<body>\n<main>\n<h1>{title}</h1>\n{body}\n</main>\n</body>\n</html>\n"
    );
    LocalResponse {
        status,
        headers: vec![
            ("content-type".into(), "text/html; charset=utf-8".into()),
            ("cache-control".into(), "no-store".into()),
            (
                "content-security-policy".into(),
                "default-src 'none'; frame-ancestors 'none'; base-uri 'none'".into(),
            ),
            ("referrer-policy".into(), "no-referrer".into()),
            ("x-content-type-options".into(), "nosniff".into()),
        ],
        body: html.into_bytes(),
    }
}

fn see_other(location: &str) -> LocalResponse {
    LocalResponse {
        status: 303,
        headers: vec![
            ("location".into(), location.to_owned()),
            ("cache-control".into(), "no-store".into()),
            ("referrer-policy".into(), "no-referrer".into()),
        ],
        body: Vec::new(),
    }
}

/// Discovery and keys: public, cacheable, readable from any origin.
fn public_json(body: &Value) -> LocalResponse {
    let mut response = LocalResponse::json(200, body);
    response.headers.push(("access-control-allow-origin".into(), "*".into()));
    response
}

fn token_error(status: u16, error: &str, description: &str) -> LocalResponse {
    let mut response =
        LocalResponse::json(status, &json!({"error": error, "error_description": description}));
    response.headers.push(("cache-control".into(), "no-store".into()));
    response
}

fn not_allowed(allow: &str) -> LocalResponse {
    let mut response = LocalResponse::message(405, "message", "Method Not Allowed");
    response.headers.push(("allow".into(), allow.into()));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::tests::{NOW, key};

    const BASE: &str = "http://127.0.0.1:3000";

    fn issuer() -> DevIssuer {
        DevIssuer::new(BASE, Arc::clone(key()), ClaimNames::default())
    }

    fn get(issuer: &DevIssuer, path_and_query: &str) -> LocalResponse {
        let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
        let request = LocalRequest {
            method: "GET".into(),
            path: path.into(),
            query: query.into(),
            headers: vec![],
            body: vec![],
        };
        issuer.handle(&request, NOW)
    }

    fn post(issuer: &DevIssuer, path: &str, form: &[(&str, &str)]) -> LocalResponse {
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
        let request = LocalRequest {
            method: "POST".into(),
            path: path.into(),
            query: String::new(),
            headers: vec![("content-type".into(), "application/x-www-form-urlencoded".into())],
            body: body.into_bytes(),
        };
        issuer.handle(&request, NOW)
    }

    fn header<'a>(response: &'a LocalResponse, name: &str) -> Option<&'a str> {
        response.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"; // RFC 7636 appendix B

    fn authorize_form(redirect_uri: &str) -> Vec<(&'static str, String)> {
        vec![
            ("response_type", "code".into()),
            ("client_id", CLI_CLIENT_ID.into()),
            ("redirect_uri", redirect_uri.into()),
            ("state", "xyz".into()),
            ("code_challenge", CHALLENGE.into()),
            ("code_challenge_method", "S256".into()),
            ("sub", "bob".into()),
            ("team", "t1".into()),
            ("role", "member".into()),
            ("display", "bob@example.com".into()),
        ]
    }

    fn pairs<'a>(form: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
        form.iter().map(|(n, v)| (*n, v.as_str())).collect()
    }

    #[test]
    fn pkce_s256_is_rfc_7636s() {
        assert!(pkce_holds(VERIFIER, CHALLENGE));
        assert!(!pkce_holds("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK", CHALLENGE));
        assert!(!pkce_holds(CHALLENGE, CHALLENGE), "plain is not S256");
        assert!(
            !pkce_holds("short", &URL_SAFE_NO_PAD.encode(Sha256::digest(b"short"))),
            "43 characters at least"
        );
    }

    #[test]
    fn loopback_redirects_take_any_port_and_nothing_else() {
        for ok in
            ["http://127.0.0.1:49152/callback", "http://127.0.0.1/callback", "http://[::1]:8080/callback"]
        {
            assert!(is_loopback_callback(ok), "{ok}");
        }
        for bad in [
            "http://localhost:8080/callback",
            "https://127.0.0.1:8080/callback",
            "http://127.0.0.2:8080/callback",
            "http://127.0.0.1:8080/other",
            "http://127.0.0.1:8080/callback?x=1",
            "http://u@127.0.0.1:8080/callback",
            "http://evil.example/callback",
            "not a url",
        ] {
            assert!(!is_loopback_callback(bad), "{bad}");
        }
    }

    #[test]
    fn the_code_flow_hands_out_tokens_the_runner_accepts_once() {
        let issuer = issuer();
        let redirect = "http://127.0.0.1:50000/callback";
        let answer = post(&issuer, "/oidc/authorize", &pairs(&authorize_form(redirect)));
        assert_eq!(answer.status, 303);
        let location = Url::parse(header(&answer, "location").unwrap()).unwrap();
        assert!(location.as_str().starts_with(redirect));
        let query: HashMap<String, String> = location.query_pairs().into_owned().collect();
        assert_eq!((query["state"].as_str(), query["iss"].as_str()), ("xyz", "http://127.0.0.1:3000/oidc"));

        let exchange = [
            ("grant_type", "authorization_code"),
            ("code", query["code"].as_str()),
            ("redirect_uri", redirect),
            ("client_id", CLI_CLIENT_ID),
            ("code_verifier", VERIFIER),
        ];
        let tokens = post(&issuer, "/oidc/token", &exchange);
        assert_eq!(tokens.status, 200);
        assert_eq!(header(&tokens, "cache-control"), Some("no-store"));
        let tokens: Value = serde_json::from_slice(&tokens.body).unwrap();
        let verifier = issuer.minter().verifier(client_ids()).unwrap();
        let access = verifier.verify(tokens["access_token"].as_str().unwrap(), NOW).unwrap();
        assert_eq!(
            (
                access["sub"].as_str(),
                access["team_id"].as_str(),
                access["role"].as_str(),
                access["email"].as_str()
            ),
            (Some("bob"), Some("t1"), Some("member"), Some("bob@example.com"))
        );
        assert_eq!((access["client_id"].as_str(), access.get("aud")), (Some(CLI_CLIENT_ID), None));
        let id = verifier.verify(tokens["id_token"].as_str().unwrap(), NOW).unwrap();
        assert_eq!(id["aud"], CLI_CLIENT_ID);

        let again = post(&issuer, "/oidc/token", &exchange);
        assert_eq!(again.status, 400, "a code is good once");

        let refresh = tokens["refresh_token"].as_str().unwrap();
        let refreshing =
            [("grant_type", "refresh_token"), ("refresh_token", refresh), ("client_id", CLI_CLIENT_ID)];
        let refreshed = post(&issuer, "/oidc/token", &refreshing);
        assert_eq!(refreshed.status, 200);
        let refreshed: Value = serde_json::from_slice(&refreshed.body).unwrap();
        assert!(verifier.verify(refreshed["access_token"].as_str().unwrap(), NOW).is_ok());
        assert_ne!(refreshed["refresh_token"].as_str(), Some(refresh), "rotated");
        assert_eq!(post(&issuer, "/oidc/token", &refreshing).status, 400, "a refresh token is good once");
    }

    #[test]
    fn bad_clients_and_redirects_are_shown_never_followed() {
        let issuer = issuer();
        for (client, redirect) in [
            ("nobody", "http://127.0.0.1:50000/callback"),
            (CLI_CLIENT_ID, "http://evil.example/callback"),
            (CONSOLE_CLIENT_ID, "http://127.0.0.1:50000/callback"),
            (CONSOLE_CLIENT_ID, "http://127.0.0.1:3001/console/callback"),
        ] {
            let query = format!(
                "response_type=code&client_id={client}&redirect_uri={}&code_challenge={CHALLENGE}&code_challenge_method=S256",
                url::form_urlencoded::byte_serialize(redirect.as_bytes()).collect::<String>()
            );
            let answer = get(&issuer, &format!("/oidc/authorize?{query}"));
            assert_eq!((answer.status, header(&answer, "location")), (400, None), "{client} {redirect}");
        }
        let console = format!("{BASE}/console/callback");
        let query = format!(
            "response_type=code&client_id={CONSOLE_CLIENT_ID}&redirect_uri={console}&state=s&code_challenge={CHALLENGE}&code_challenge_method=S256"
        );
        let page = get(&issuer, &format!("/oidc/authorize?{query}"));
        assert_eq!(page.status, 200);
        let html = String::from_utf8(page.body.clone()).unwrap();
        assert!(
            html.contains(r#"name="sub" value="local-owner""#) && html.contains(r#"name="state" value="s""#),
            "{html}"
        );
        assert_eq!(
            header(&page, "content-security-policy"),
            Some("default-src 'none'; frame-ancestors 'none'; base-uri 'none'")
        );
    }

    #[test]
    fn a_request_without_pkce_s256_goes_back_to_the_client_as_an_error() {
        let issuer = issuer();
        let redirect = "http://127.0.0.1:50000/callback";
        for (name, value) in
            [("code_challenge_method", "plain"), ("code_challenge", ""), ("response_type", "token")]
        {
            let mut form = authorize_form(redirect);
            form.retain(|(n, _)| *n != name);
            form.push((name, value.into()));
            let answer = post(&issuer, "/oidc/authorize", &pairs(&form));
            assert_eq!(answer.status, 303, "{name}={value}");
            let location = Url::parse(header(&answer, "location").unwrap()).unwrap();
            let query: HashMap<String, String> = location.query_pairs().into_owned().collect();
            assert!(query.contains_key("error") && !query.contains_key("code"), "{name}={value}: {query:?}");
            assert_eq!(query["state"], "xyz");
        }
        let mut cancelled = authorize_form(redirect);
        cancelled.push(("decision", "deny".into()));
        let answer = post(&issuer, "/oidc/authorize", &pairs(&cancelled));
        assert!(header(&answer, "location").unwrap().contains("error=access_denied"));
    }

    #[test]
    fn the_form_refuses_a_blank_identity_and_escapes_what_it_shows() {
        let issuer = issuer();
        let mut form = authorize_form("http://127.0.0.1:50000/callback");
        form.retain(|(n, _)| *n != "team" && *n != "state");
        form.push(("team", " ".into()));
        form.push(("state", r#""><script>alert(1)</script>"#.into()));
        let answer = post(&issuer, "/oidc/authorize", &pairs(&form));
        assert_eq!(answer.status, 400);
        let html = String::from_utf8(answer.body).unwrap();
        assert!(html.contains("The team must be"), "{html}");
        assert!(!html.contains("<script>") && html.contains("&lt;script&gt;"), "{html}");
    }

    #[test]
    fn discovery_names_the_endpoints_and_the_jwks_holds_the_key() {
        let issuer = issuer();
        let discovery: Value =
            serde_json::from_slice(&get(&issuer, "/oidc/.well-known/openid-configuration").body).unwrap();
        assert_eq!(discovery["issuer"], "http://127.0.0.1:3000/oidc");
        assert_eq!(discovery["jwks_uri"], "http://127.0.0.1:3000/oidc/.well-known/jwks.json");
        assert_eq!(discovery["code_challenge_methods_supported"], json!(["S256"]));
        let jwks: Value = serde_json::from_slice(&get(&issuer, "/oidc/.well-known/jwks.json").body).unwrap();
        assert_eq!(jwks["keys"][0]["kid"], key().kid());
        assert_eq!(get(&issuer, "/oidc/nothing").status, 404);
        assert_eq!(post(&issuer, "/oidc/.well-known/jwks.json", &[]).status, 405);
    }
}
