//! A real identity provider instead of the dev issuer: its discovery document and JWKS,
//! fetched once at start (`--oidc-discovery-url`), give the verifier of its tokens. A key the
//! provider rotates in later is only known after a restart.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use crate::jwt::Verifier;

/// The discovery document's path under an issuer (OpenID Connect Discovery §4).
pub const WELL_KNOWN: &str = "/.well-known/openid-configuration";

const TIMEOUT: Duration = Duration::from_secs(10);
const MAX_DOCUMENT: usize = 1024 * 1024;

/// The verifier of the tokens of the issuer whose discovery document is at `discovery_url`,
/// for `audiences`. The document's `issuer` must be the one the URL is discovery of.
pub async fn verifier(discovery_url: &str, audiences: Vec<String>) -> Result<Verifier, String> {
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .map_err(|e| format!("no root certificates: {e}"))?
        .https_or_http()
        .enable_http1()
        .build();
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build(connector);
    let get = |url: String| {
        let client = client.clone();
        async move {
            let uri: hyper::Uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
            let fetch = async {
                let response = client.get(uri).await.map_err(|e| format!("{url}: {}", causes(&e)))?;
                if !response.status().is_success() {
                    return Err(format!("{url}: HTTP {}", response.status()));
                }
                let body = Limited::new(response.into_body(), MAX_DOCUMENT)
                    .collect()
                    .await
                    .map_err(|e| format!("{url}: {e}"))?
                    .to_bytes();
                serde_json::from_slice::<Value>(&body).map_err(|e| format!("{url}: not JSON: {e}"))
            };
            tokio::time::timeout(TIMEOUT, fetch)
                .await
                .map_err(|_| format!("{url}: no answer in {TIMEOUT:?}"))?
        }
    };
    let document = get(discovery_url.to_owned()).await?;
    let issuer = document
        .get("issuer")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{discovery_url}: no issuer in the discovery document"))?;
    if discovery_url != discovery_url_of(issuer) {
        return Err(format!(
            "{discovery_url} names the issuer {issuer}, whose discovery document is at {}",
            discovery_url_of(issuer)
        ));
    }
    let jwks_uri = document
        .get("jwks_uri")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{discovery_url}: no jwks_uri in the discovery document"))?;
    let jwks = get(jwks_uri.to_owned()).await?;
    Verifier::new(issuer, audiences, &jwks).map_err(|e| format!("{jwks_uri}: {e}"))
}

/// An error with its causes: the HTTP client's own says little ("client error (Connect)").
fn causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Where `issuer`'s discovery document is (an issuer may end with `/`, as Auth0's do).
pub fn discovery_url_of(issuer: &str) -> String {
    format!("{}{WELL_KNOWN}", issuer.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_sits_under_the_issuer_with_or_without_its_slash() {
        assert_eq!(
            discovery_url_of("https://cognito-idp.us-east-1.amazonaws.com/us-east-1_abc"),
            "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_abc/.well-known/openid-configuration"
        );
        assert_eq!(
            discovery_url_of("https://tenant.auth0.com/"),
            "https://tenant.auth0.com/.well-known/openid-configuration"
        );
    }
}
