//! Signing in: the OAuth authorization code flow with PKCE (S256) through a loopback redirect
//! (RFC 8252), or a token on stdin.
//!
//! The redirect goes to `http://127.0.0.1:<port>/callback`, 8765 unless `--callback-port` says
//! otherwise: a fixed port, because most identity providers (Cognito among them) match a
//! redirect URI exactly, port included, so the port is what an operator registers. The local
//! runner's dev issuer accepts any loopback port for the `nico-keys-cli` client.
//!
//! The listener is `tiny_http`: one request, answered with a line of text, is all it serves.

use std::io::Read;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{TimeDelta, Utc};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::args::Login;
use crate::config::{Credentials, Secret};
use crate::error::CliError;

/// How long `login` waits for the browser to come back.
const WAIT_FOR_REDIRECT: Duration = Duration::from_secs(300);

/// The token endpoint's answer.
#[derive(Deserialize)]
pub struct TokenAnswer {
    access_token: Secret,
    expires_in: Option<i64>,
    refresh_token: Option<Secret>,
}

impl TokenAnswer {
    /// What is stored; a refresh answer without a new refresh token keeps `previous`.
    pub fn into_credentials(
        self,
        token_endpoint: String,
        client_id: String,
        previous: Option<Secret>,
    ) -> Result<Credentials, CliError> {
        Ok(Credentials {
            access_token: self.access_token,
            expires_at: self.expires_in.map(|s| Utc::now() + TimeDelta::seconds(s)),
            refresh_token: self.refresh_token.or(previous),
            token_endpoint: Some(token_endpoint),
            client_id: Some(client_id),
        })
    }
}

#[derive(Deserialize)]
struct Discovery {
    authorization_endpoint: String,
    token_endpoint: String,
}

/// A token from stdin (`--with-token`): `nico-keys login --with-token < token.txt`.
pub fn token_from_stdin() -> Result<Credentials, CliError> {
    let mut text = String::new();
    std::io::stdin()
        .take(64 * 1024)
        .read_to_string(&mut text)
        .map_err(|e| CliError::Usage(format!("cannot read a token on stdin: {e}")))?;
    let access_token =
        Secret::new(&text).ok_or_else(|| CliError::Usage("--with-token: no token on stdin".into()))?;
    Ok(Credentials {
        access_token,
        expires_at: None,
        refresh_token: None,
        token_endpoint: None,
        client_id: None,
    })
}

/// The browser sign-in against `issuer`.
pub async fn browser(args: &Login, endpoint: &str) -> Result<Credentials, CliError> {
    let issuer = args.issuer.clone().unwrap_or_else(|| format!("{endpoint}/oidc"));
    let issuer = issuer.trim_end_matches('/');
    let http = crate::api::http();
    let discovery: Discovery = http
        .get(format!("{issuer}/.well-known/openid-configuration"))
        .send()
        .await?
        .error_for_status()
        .map_err(|e| CliError::Other(format!("cannot read the issuer's discovery document: {e}")))?
        .json()
        .await?;

    let server = tiny_http::Server::http(("127.0.0.1", args.callback_port)).map_err(|e| {
        CliError::Other(format!("cannot listen on 127.0.0.1:{} for the sign-in: {e}", args.callback_port))
    })?;
    let redirect_uri = format!("http://127.0.0.1:{}/callback", args.callback_port);
    let verifier = random_text();
    let state = random_text();
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let mut url = url::Url::parse(&discovery.authorization_endpoint)
        .map_err(|e| CliError::Other(format!("the issuer's authorization endpoint: {e}")))?;
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &args.client_id)
        .append_pair("redirect_uri", &redirect_uri)
        .append_pair("scope", "openid")
        .append_pair("state", &state)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    eprintln!("Sign in in your browser: {url}");
    if !args.no_browser && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        let _ = open_browser(url.as_str());
    }
    eprintln!("Waiting for the browser on {redirect_uri} …");

    let code = tokio::task::spawn_blocking(move || wait_for_code(&server, &state))
        .await
        .map_err(|e| CliError::Other(e.to_string()))??;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", redirect_uri.as_str()),
        ("client_id", args.client_id.as_str()),
        ("code_verifier", verifier.as_str()),
    ];
    let answer = http.post(&discovery.token_endpoint).form(&form).send().await?;
    if !answer.status().is_success() {
        let status = answer.status();
        let body: serde_json::Value = answer.json().await.unwrap_or_default();
        let why = body["error_description"].as_str().or(body["error"].as_str()).unwrap_or("");
        return Err(CliError::NotAuthenticated(format!("the issuer refused the sign-in ({status}): {why}")));
    }
    let tokens: TokenAnswer = answer.json().await?;
    tokens.into_credentials(discovery.token_endpoint, args.client_id.clone(), None)
}

/// Serves the loopback redirect until it brings a code with our `state`.
fn wait_for_code(server: &tiny_http::Server, state: &str) -> Result<String, CliError> {
    let deadline = Instant::now() + WAIT_FOR_REDIRECT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let request = server
            .recv_timeout(left)
            .map_err(|e| CliError::Other(e.to_string()))?
            .ok_or_else(|| CliError::Cancelled("no sign-in within 5 minutes".into()))?;
        let url = url::Url::parse(&format!("http://127.0.0.1{}", request.url()));
        let Ok(url) = url else { continue };
        if url.path() != "/callback" {
            let _ = request.respond(tiny_http::Response::from_string("Not found").with_status_code(404));
            continue;
        }
        let param = |name: &str| url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
        if param("state").as_deref() != Some(state) {
            let _ =
                request.respond(tiny_http::Response::from_string("Unknown sign-in.").with_status_code(400));
            continue;
        }
        if let Some(error) = param("error") {
            let _ = request.respond(tiny_http::Response::from_string("Sign-in failed; see the terminal."));
            let why = param("error_description").unwrap_or_default();
            return Err(CliError::NotAuthenticated(format!("the sign-in failed: {error} {why}")));
        }
        let Some(code) = param("code") else {
            let _ = request.respond(tiny_http::Response::from_string("No code.").with_status_code(400));
            continue;
        };
        let _ = request.respond(tiny_http::Response::from_string(
            "Signed in to nico-keys. You can close this tab and return to the terminal.",
        ));
        return Ok(code);
    }
}

/// 32 random bytes, base64url: a PKCE verifier or a `state`.
fn random_text() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS random number generator works");
    URL_SAFE_NO_PAD.encode(bytes)
}

fn open_browser(url: &str) -> std::io::Result<()> {
    let opener = if cfg!(target_os = "macos") { "open" } else { "xdg-open" };
    std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map(drop)
}
