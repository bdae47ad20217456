//! Owner tokens checked the way API Gateway's JWT authorizer checks them, before the
//! management function runs:
//!
//! * the header's `alg` is an RSA algorithm (RS256, RS384, RS512): never `none`, never HMAC;
//! * its `kid` names an RSA signing key of the issuer's JWKS, and that key's signature holds;
//! * `exp` is after now; `nbf` and `iat`, when present, are not after now;
//! * `iss` is the issuer;
//! * `aud` holds one of the accepted audiences, or, only when there is no `aud`, `client_id`
//!   is one of them (a Cognito access token carries `client_id`, an ID token `aud`).
//!
//! Times are whole seconds with no leeway. The claims are then handed on as API Gateway hands
//! them to the function: every value a string. Only for the local runner: in AWS, API Gateway
//! does this and this code does not run.

use std::collections::{HashMap, HashSet};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

/// Why a token is refused (the client only ever sees a 401).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("not a JWT")]
    Malformed,
    #[error("only RSA-signed tokens (RS256, RS384, RS512) are accepted")]
    Algorithm,
    #[error("no key of the issuer's JWKS has this kid")]
    UnknownKey,
    #[error("bad signature")]
    Signature,
    #[error("token expired, or without exp")]
    Expired,
    #[error("token not valid yet (nbf)")]
    NotYetValid,
    #[error("token issued in the future (iat)")]
    IssuedInFuture,
    #[error("wrong issuer")]
    Issuer,
    #[error("wrong audience")]
    Audience,
}

/// One issuer's verifier: its identifier, the audiences accepted, its JWKS's RSA keys.
#[derive(Clone)]
pub struct Verifier {
    issuer: String,
    audiences: Vec<String>,
    keys: HashMap<String, DecodingKey>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut kids: Vec<&String> = self.keys.keys().collect();
        kids.sort();
        f.debug_struct("Verifier")
            .field("issuer", &self.issuer)
            .field("audiences", &self.audiences)
            .field("kids", &kids)
            .finish()
    }
}

impl Verifier {
    /// The verifier of `issuer`'s tokens for `audiences`, with the RSA signing keys of `jwks`
    /// (a JWK Set document). Keys of other types, for encryption, or without `kid` are left
    /// out, since API Gateway could not use them either.
    pub fn new(issuer: &str, audiences: Vec<String>, jwks: &Value) -> Result<Self, String> {
        let listed = jwks.get("keys").and_then(Value::as_array).ok_or("a JWKS without a keys list")?;
        let mut keys = HashMap::new();
        for jwk in listed {
            let text = |name: &str| jwk.get(name).and_then(Value::as_str);
            if text("kty") != Some("RSA") || text("use").is_some_and(|usage| usage != "sig") {
                continue;
            }
            let (Some(kid), Some(n), Some(e)) = (text("kid"), text("n"), text("e")) else {
                continue;
            };
            let key = DecodingKey::from_rsa_components(n, e).map_err(|e| format!("JWK {kid}: {e}"))?;
            keys.insert(kid.to_owned(), key);
        }
        if keys.is_empty() {
            return Err("the JWKS has no RSA signing key with a kid".into());
        }
        if audiences.is_empty() {
            return Err("no audience to accept".into());
        }
        Ok(Self { issuer: issuer.to_owned(), audiences, keys })
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn audiences(&self) -> &[String] {
        &self.audiences
    }

    /// The number of signing keys it knows.
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// The claims of a valid token at `now` (seconds since the epoch), every value as a string.
    pub fn verify(&self, token: &str, now: i64) -> Result<Map<String, Value>, JwtError> {
        let mut parts = token.split('.');
        let (Some(head), Some(_), Some(_), None) = (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwtError::Malformed);
        };
        let header: Value = URL_SAFE_NO_PAD
            .decode(head)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or(JwtError::Malformed)?;
        let algorithm = match header.get("alg").and_then(Value::as_str) {
            Some("RS256") => Algorithm::RS256,
            Some("RS384") => Algorithm::RS384,
            Some("RS512") => Algorithm::RS512,
            _ => return Err(JwtError::Algorithm),
        };
        let kid = header.get("kid").and_then(Value::as_str).ok_or(JwtError::UnknownKey)?;
        let key = self.keys.get(kid).ok_or(JwtError::UnknownKey)?;

        // The library checks the signature only; the claims are checked below, API Gateway's way.
        let mut signature_only = Validation::new(algorithm);
        signature_only.validate_exp = false;
        signature_only.validate_nbf = false;
        signature_only.validate_aud = false;
        signature_only.required_spec_claims = HashSet::new();
        signature_only.leeway = 0;
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, key, &signature_only)
            .map_err(|error| match error.kind() {
                ErrorKind::Base64(_) | ErrorKind::Json(_) | ErrorKind::Utf8(_) | ErrorKind::InvalidToken => {
                    JwtError::Malformed
                }
                _ => JwtError::Signature,
            })?
            .claims;

        let now = now as f64;
        let time = |name: &str| match claims.get(name) {
            None => Ok(None),
            Some(value) => value.as_f64().map(Some).ok_or(JwtError::Malformed),
        };
        if time("exp")?.is_none_or(|exp| exp <= now) {
            return Err(JwtError::Expired);
        }
        if time("nbf")?.is_some_and(|nbf| nbf > now) {
            return Err(JwtError::NotYetValid);
        }
        if time("iat")?.is_some_and(|iat| iat > now) {
            return Err(JwtError::IssuedInFuture);
        }
        if claims.get("iss").and_then(Value::as_str) != Some(self.issuer.as_str()) {
            return Err(JwtError::Issuer);
        }
        let accepted = |value: &Value| value.as_str().is_some_and(|v| self.audiences.iter().any(|a| a == v));
        let audience_ok = match claims.get("aud") {
            Some(Value::Array(audiences)) => audiences.iter().any(accepted),
            Some(audience) => accepted(audience),
            None => claims.get("client_id").is_some_and(accepted),
        };
        if !audience_ok {
            return Err(JwtError::Audience);
        }
        Ok(claims
            .into_iter()
            .map(|(name, value)| {
                let text = match value {
                    Value::String(text) => text,
                    other => other.to_string(),
                };
                (name, Value::String(text))
            })
            .collect())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::{Arc, OnceLock};

    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    use super::*;
    use crate::keys::SigningKey;

    pub(crate) const NOW: i64 = 1_800_000_000;
    const ISSUER: &str = "http://127.0.0.1:3000/oidc";

    /// One key per test binary: generating RSA keys takes a while.
    pub(crate) fn key() -> &'static Arc<SigningKey> {
        static KEY: OnceLock<Arc<SigningKey>> = OnceLock::new();
        KEY.get_or_init(|| Arc::new(SigningKey::generate().unwrap()))
    }

    fn other_key() -> &'static SigningKey {
        static KEY: OnceLock<SigningKey> = OnceLock::new();
        KEY.get_or_init(|| SigningKey::generate().unwrap())
    }

    fn verifier() -> Verifier {
        let jwks = json!({"keys": [key().jwk()]});
        Verifier::new(ISSUER, vec!["console".into(), "cli".into()], &jwks).unwrap()
    }

    fn claims() -> Map<String, Value> {
        let value = json!({
            "iss": ISSUER, "sub": "alice", "client_id": "cli", "team_id": "t1", "role": "owner",
            "iat": NOW, "exp": NOW + 60, "auth_time": NOW,
        });
        value.as_object().unwrap().clone()
    }

    fn with(changes: &[(&str, Value)]) -> Map<String, Value> {
        let mut claims = claims();
        for (name, value) in changes {
            if value.is_null() {
                claims.remove(*name);
            } else {
                claims.insert((*name).to_owned(), value.clone());
            }
        }
        claims
    }

    fn header(alg: Algorithm, kid: Option<&str>) -> Header {
        let mut header = Header::new(alg);
        header.kid = kid.map(str::to_owned);
        header
    }

    fn check(claims: &Map<String, Value>) -> Result<Map<String, Value>, JwtError> {
        verifier().verify(&key().sign(claims), NOW)
    }

    #[test]
    fn a_valid_token_gives_its_claims_as_strings() {
        let verified = check(&claims()).unwrap();
        assert_eq!((verified["sub"].as_str(), verified["team_id"].as_str()), (Some("alice"), Some("t1")));
        assert_eq!(verified["exp"], json!((NOW + 60).to_string()));
        for alg in [Algorithm::RS384, Algorithm::RS512] {
            let token = key().sign_with(&header(alg, Some(key().kid())), &claims());
            assert!(verifier().verify(&token, NOW).is_ok(), "{alg:?} is an RSA algorithm too");
        }
    }

    #[test]
    fn only_rsa_algorithms_pass() {
        let body = URL_SAFE_NO_PAD.encode(Value::Object(claims()).to_string());
        for alg in
            [r#"{"alg":"none"}"#, r#"{"alg":"None","kid":"x"}"#, r#"{"kid":"x"}"#, r#"{"alg":"PS256"}"#]
        {
            let head = URL_SAFE_NO_PAD.encode(alg);
            assert_eq!(verifier().verify(&format!("{head}.{body}."), NOW), Err(JwtError::Algorithm), "{alg}");
        }
        // HS256 keyed with what an attacker knows: the public key's own material.
        for secret in [key().jwk()["n"].as_str().unwrap().as_bytes(), b"nico-keys-local-dev-secret"] {
            let hs256 = jsonwebtoken::encode(
                &header(Algorithm::HS256, Some(key().kid())),
                &claims(),
                &EncodingKey::from_secret(secret),
            )
            .unwrap();
            assert_eq!(verifier().verify(&hs256, NOW), Err(JwtError::Algorithm));
        }
    }

    #[test]
    fn the_kid_must_name_a_key_of_the_jwks_whose_signature_holds() {
        let unknown = key().sign_with(&header(Algorithm::RS256, Some("another-kid")), &claims());
        assert_eq!(verifier().verify(&unknown, NOW), Err(JwtError::UnknownKey));
        let without = key().sign_with(&header(Algorithm::RS256, None), &claims());
        assert_eq!(verifier().verify(&without, NOW), Err(JwtError::UnknownKey));
        let impostor = other_key().sign_with(&header(Algorithm::RS256, Some(key().kid())), &claims());
        assert_eq!(verifier().verify(&impostor, NOW), Err(JwtError::Signature), "another key, same kid");

        let token = key().sign(&claims());
        let (head, rest) = token.split_once('.').unwrap();
        let (_, signature) = rest.split_once('.').unwrap();
        let forged = URL_SAFE_NO_PAD
            .encode(Value::Object(with(&[("role", json!("owner")), ("sub", json!("mallory"))])).to_string());
        assert_eq!(verifier().verify(&format!("{head}.{forged}.{signature}"), NOW), Err(JwtError::Signature));
        for junk in ["", "a.b", "a.b.c.d", "%%%.%%%.%%%", "e30.e30.e30"] {
            assert!(verifier().verify(junk, NOW).is_err(), "{junk}");
        }
    }

    #[test]
    fn the_issuer_must_be_exactly_this_one() {
        for iss in [json!("http://127.0.0.1:3001/oidc"), json!(format!("{ISSUER}/")), json!(null), json!(7)] {
            assert_eq!(check(&with(&[("iss", iss.clone())])), Err(JwtError::Issuer), "{iss}");
        }
    }

    #[test]
    fn aud_decides_and_client_id_counts_only_without_aud() {
        assert!(check(&with(&[("aud", json!("console"))])).is_ok());
        assert!(check(&with(&[("aud", json!(["elsewhere", "console"]))])).is_ok());
        assert!(check(&with(&[("client_id", json!(null)), ("aud", json!("cli"))])).is_ok());
        for aud in [json!("elsewhere"), json!(["elsewhere"]), json!([]), json!(""), json!(1)] {
            assert_eq!(
                check(&with(&[("aud", aud.clone())])),
                Err(JwtError::Audience),
                "aud {aud}, client_id cli"
            );
        }
        for client_id in [json!("elsewhere"), json!(null), json!(["cli"])] {
            assert_eq!(
                check(&with(&[("client_id", client_id.clone())])),
                Err(JwtError::Audience),
                "client_id {client_id}"
            );
        }
    }

    #[test]
    fn exp_nbf_and_iat_are_held_to_the_second() {
        assert_eq!(check(&with(&[("exp", json!(NOW))])), Err(JwtError::Expired));
        assert_eq!(check(&with(&[("exp", json!(NOW - 3600))])), Err(JwtError::Expired));
        assert_eq!(check(&with(&[("exp", json!(null))])), Err(JwtError::Expired), "exp is required");
        assert_eq!(check(&with(&[("exp", json!("soon"))])), Err(JwtError::Malformed));
        assert!(check(&with(&[("exp", json!(NOW + 1))])).is_ok());

        assert_eq!(check(&with(&[("nbf", json!(NOW + 1))])), Err(JwtError::NotYetValid));
        assert!(check(&with(&[("nbf", json!(NOW))])).is_ok());

        assert_eq!(check(&with(&[("iat", json!(NOW + 1))])), Err(JwtError::IssuedInFuture));
        assert!(check(&with(&[("iat", json!(NOW))])).is_ok());
        assert!(check(&with(&[("iat", json!(null))])).is_ok(), "iat is optional");
    }

    #[test]
    fn a_jwks_without_a_usable_key_or_no_audience_is_refused() {
        let no_rsa = json!({"keys": [{"kty": "EC", "kid": "e", "crv": "P-256", "x": "", "y": ""}]});
        assert!(Verifier::new(ISSUER, vec!["a".into()], &no_rsa).is_err());
        let mut unnamed = key().jwk();
        unnamed.as_object_mut().unwrap().remove("kid");
        assert!(Verifier::new(ISSUER, vec!["a".into()], &json!({"keys": [unnamed]})).is_err());
        let mut encryption = key().jwk();
        encryption["use"] = json!("enc");
        assert!(Verifier::new(ISSUER, vec!["a".into()], &json!({"keys": [encryption]})).is_err());
        assert!(Verifier::new(ISSUER, vec![], &json!({"keys": [key().jwk()]})).is_err());
        let mixed = json!({"keys": [{"kty": "EC", "kid": "e"}, key().jwk()]});
        assert_eq!(Verifier::new(ISSUER, vec!["a".into()], &mixed).unwrap().key_count(), 1);
    }
}
