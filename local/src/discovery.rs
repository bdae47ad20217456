//! A real identity provider instead of the dev issuer: its discovery document and JWKS,
//! fetched once at start (`--oidc-discovery-url`), give the verifier of its tokens. A key the
//! provider rotates in later is only known after a restart.

use std::time::Duration;

use leak_report::fetch::Fetcher;
use serde_json::Value;

use crate::jwt::Verifier;

/// The discovery document's path under an issuer (OpenID Connect Discovery §4).
pub const WELL_KNOWN: &str = "/.well-known/openid-configuration";

const TIMEOUT: Duration = Duration::from_secs(10);
const MAX_DOCUMENT: usize = 1024 * 1024;

/// The verifier of the tokens of the issuer whose discovery document is at `discovery_url`,
/// for `audiences`. The document's `issuer` must be the one the URL is discovery of.
pub async fn verifier(discovery_url: &str, audiences: Vec<String>) -> Result<Verifier, String> {
    let fetcher = Fetcher::new()?;
    let get = |url: String| {
        let fetcher = fetcher.clone();
        async move {
            let body = fetcher.get(&url, TIMEOUT, MAX_DOCUMENT).await?;
            serde_json::from_slice::<Value>(&body).map_err(|e| format!("{url}: not JSON: {e}"))
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
