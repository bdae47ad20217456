//! HS256 JSON Web Tokens, verified the way API Gateway's JWT authorizer verifies an owner's
//! token: signature, issuer, audience, expiry (and not-before when present).
//!
//! Only for the local runner, which stands in for the identity provider with a shared dev
//! secret. In AWS, API Gateway verifies the provider's tokens and this code does not run.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Map, Value, json};
use sha2::Sha256;

/// The dev secret, issuer and audience of the local runner's owner tokens.
pub const DEV_SECRET: &str = "nico-keys-local-dev-secret";
pub const ISSUER: &str = "https://nico-keys.local";
pub const AUDIENCE: &str = "nico-keys";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("not a JWT")]
    Malformed,
    #[error("only HS256 tokens are accepted")]
    Algorithm,
    #[error("bad signature")]
    Signature,
    #[error("token expired")]
    Expired,
    #[error("token not valid yet")]
    NotYetValid,
    #[error("wrong issuer")]
    Issuer,
    #[error("wrong audience")]
    Audience,
}

/// Signs and verifies HS256 tokens for one issuer and audience.
#[derive(Clone)]
pub struct Jwt {
    secret: Vec<u8>,
    issuer: String,
    audience: String,
}

impl Jwt {
    pub fn new(secret: &str, issuer: &str, audience: &str) -> Self {
        Self { secret: secret.as_bytes().to_vec(), issuer: issuer.to_owned(), audience: audience.to_owned() }
    }

    /// The local runner's verifier: the dev secret, unless `LOCAL_JWT_SECRET` says otherwise.
    pub fn local() -> Self {
        let secret = std::env::var("LOCAL_JWT_SECRET").unwrap_or_else(|_| DEV_SECRET.to_owned());
        Self::new(&secret, ISSUER, AUDIENCE)
    }

    fn mac(&self) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes keys of any length")
    }

    /// A token for an owner-like identity: `sub`, team and role claims, valid `for_seconds`.
    pub fn mint(&self, claims: &[(&str, &str)], now: i64, for_seconds: i64) -> String {
        let mut payload: Map<String, Value> =
            claims.iter().map(|(name, value)| ((*name).to_owned(), json!(value))).collect();
        payload.insert("iss".into(), json!(self.issuer));
        payload.insert("aud".into(), json!(self.audience));
        payload.insert("iat".into(), json!(now));
        payload.insert("exp".into(), json!(now + for_seconds));
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let body = URL_SAFE_NO_PAD.encode(Value::Object(payload).to_string());
        let signing_input = format!("{header}.{body}");
        let mut mac = self.mac();
        mac.update(signing_input.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{signing_input}.{signature}")
    }

    /// The claims of a valid token, every value as a string (as API Gateway passes them on).
    pub fn verify(&self, token: &str, now: i64) -> Result<Map<String, Value>, JwtError> {
        let mut parts = token.split('.');
        let (Some(head), Some(body), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwtError::Malformed);
        };
        let signing_input = &token[..head.len() + 1 + body.len()];
        let header: Value = decode_json(head)?;
        if header.get("alg") != Some(&json!("HS256")) {
            return Err(JwtError::Algorithm);
        }
        let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| JwtError::Malformed)?;
        let mut mac = self.mac();
        mac.update(signing_input.as_bytes());
        mac.verify_slice(&signature).map_err(|_| JwtError::Signature)?;

        let Value::Object(claims) = decode_json(body)? else {
            return Err(JwtError::Malformed);
        };
        let number = |name: &str| claims.get(name).and_then(Value::as_i64);
        if number("exp").is_none_or(|exp| exp <= now) {
            return Err(JwtError::Expired);
        }
        if number("nbf").is_some_and(|nbf| nbf > now) {
            return Err(JwtError::NotYetValid);
        }
        if claims.get("iss") != Some(&json!(self.issuer)) {
            return Err(JwtError::Issuer);
        }
        let audience_ok = match claims.get("aud") {
            Some(Value::String(aud)) => aud == &self.audience,
            Some(Value::Array(auds)) => auds.iter().any(|a| a == &json!(self.audience)),
            _ => false,
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

fn decode_json(part: &str) -> Result<Value, JwtError> {
    let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| JwtError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| JwtError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn jwt() -> Jwt {
        Jwt::new("secret", ISSUER, AUDIENCE)
    }

    fn owner() -> String {
        jwt().mint(&[("sub", "alice"), ("team_id", "t1"), ("role", "owner")], NOW, 60)
    }

    #[test]
    fn a_minted_token_verifies_with_string_claims() {
        let claims = jwt().verify(&owner(), NOW).unwrap();
        assert_eq!(claims["sub"], "alice");
        assert_eq!(claims["team_id"], "t1");
        assert_eq!(claims["exp"], json!((NOW + 60).to_string()));
    }

    #[test]
    fn expiry_issuer_audience_and_secret_are_checked() {
        assert_eq!(jwt().verify(&owner(), NOW + 60), Err(JwtError::Expired));
        let other_issuer = Jwt::new("secret", "https://elsewhere", AUDIENCE).mint(&[("sub", "a")], NOW, 60);
        assert_eq!(jwt().verify(&other_issuer, NOW), Err(JwtError::Issuer));
        let other_audience = Jwt::new("secret", ISSUER, "other").mint(&[("sub", "a")], NOW, 60);
        assert_eq!(jwt().verify(&other_audience, NOW), Err(JwtError::Audience));
        let other_secret = Jwt::new("guess", ISSUER, AUDIENCE).mint(&[("sub", "a")], NOW, 60);
        assert_eq!(jwt().verify(&other_secret, NOW), Err(JwtError::Signature));
    }

    #[test]
    fn tampering_and_unsigned_tokens_are_refused() {
        let token = owner();
        let (head, rest) = token.split_once('.').unwrap();
        let (_, signature) = rest.split_once('.').unwrap();
        let forged_body = URL_SAFE_NO_PAD.encode(
            json!({"sub": "mallory", "team_id": "t1", "role": "owner", "iss": ISSUER, "aud": AUDIENCE, "exp": NOW + 60})
                .to_string(),
        );
        assert_eq!(jwt().verify(&format!("{head}.{forged_body}.{signature}"), NOW), Err(JwtError::Signature));
        let none = URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#);
        assert_eq!(jwt().verify(&format!("{none}.{forged_body}."), NOW), Err(JwtError::Algorithm));
        for junk in ["", "a.b", "a.b.c.d", "%%%.%%%.%%%"] {
            assert!(jwt().verify(junk, NOW).is_err(), "{junk}");
        }
    }
}
