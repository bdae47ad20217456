//! GitHub's signature on a report: ECDSA P-256 with SHA-256 over the raw body, sent as base64
//! DER in `Github-Public-Key-Signature`, by the key `Github-Public-Key-Identifier` names in
//! GitHub's published key set. Nothing in a report is read before this check passes.
//!
//! The verification itself is RustCrypto's `p256` (constant-time arithmetic, the same crate
//! the JWT checks build); this module only reads GitHub's key-set document and the headers.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use serde::Deserialize;

/// GitHub's key-set document: `{"public_keys": [{"key_identifier", "key", "is_current"}]}`.
#[derive(Deserialize)]
struct KeySetDocument {
    public_keys: Vec<PublishedKey>,
}

#[derive(Deserialize)]
struct PublishedKey {
    key_identifier: String,
    /// A PEM `PUBLIC KEY` (SubjectPublicKeyInfo) of a P-256 key.
    key: String,
}

/// The keys a report may be signed with, by identifier.
#[derive(Clone, Default)]
pub struct KeySet {
    keys: HashMap<String, VerifyingKey>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeySetError {
    #[error("not GitHub's key-set JSON ({0})")]
    NotAKeySet(String),
    #[error("key {0:?} is not a PEM P-256 public key")]
    BadKey(String),
    #[error("the key set holds no key")]
    Empty,
}

/// Why a signature was refused. The client is told only "401".
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no key with this identifier")]
    UnknownKey,
    #[error("the signature is not base64 DER")]
    Unreadable,
    #[error("the signature does not match the body")]
    Mismatch,
}

impl KeySet {
    /// Reads GitHub's document; every key must be a P-256 public key (a set with one bad key
    /// is refused whole, so a broken fetch never replaces a good set).
    pub fn parse(json: &str) -> Result<Self, KeySetError> {
        let document: KeySetDocument =
            serde_json::from_str(json).map_err(|e| KeySetError::NotAKeySet(e.to_string()))?;
        let mut keys = HashMap::new();
        for published in document.public_keys {
            let key = VerifyingKey::from_public_key_pem(published.key.trim())
                .map_err(|_| KeySetError::BadKey(published.key_identifier.clone()))?;
            keys.insert(published.key_identifier, key);
        }
        if keys.is_empty() {
            return Err(KeySetError::Empty);
        }
        Ok(Self { keys })
    }

    pub fn knows(&self, identifier: &str) -> bool {
        self.keys.contains_key(identifier)
    }

    /// Checks `signature` (base64 DER) over `body` with the key named `identifier`.
    pub fn verify(&self, identifier: &str, signature: &str, body: &[u8]) -> Result<(), SignatureError> {
        let key = self.keys.get(identifier).ok_or(SignatureError::UnknownKey)?;
        let der = STANDARD.decode(signature.trim()).map_err(|_| SignatureError::Unreadable)?;
        let signature = Signature::from_der(&der).map_err(|_| SignatureError::Unreadable)?;
        key.verify(body, &signature).map_err(|_| SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::SigningKey;
    use p256::ecdsa::signature::Signer;
    use p256::pkcs8::{EncodePublicKey, LineEnding};

    fn signing_key(seed: u8) -> SigningKey {
        SigningKey::from_slice(&[seed; 32]).unwrap()
    }

    fn key_set(keys: &[(&str, &SigningKey)]) -> String {
        let public_keys: Vec<_> = keys
            .iter()
            .map(|(id, key)| {
                let pem = key.verifying_key().to_public_key_pem(LineEnding::LF).unwrap();
                serde_json::json!({"key_identifier": id, "key": pem, "is_current": true})
            })
            .collect();
        serde_json::json!({ "public_keys": public_keys }).to_string()
    }

    fn sign(key: &SigningKey, body: &[u8]) -> String {
        let signature: Signature = key.sign(body);
        STANDARD.encode(signature.to_der().as_bytes())
    }

    #[test]
    fn a_body_signed_by_a_listed_key_verifies() {
        let key = signing_key(7);
        let set = KeySet::parse(&key_set(&[("k1", &key)])).unwrap();
        let body = br#"[{"token":"x","type":"nico_api_key"}]"#;
        assert_eq!(set.verify("k1", &sign(&key, body), body), Ok(()));
    }

    #[test]
    fn tampering_another_key_or_an_unknown_identifier_is_refused() {
        let (key, other) = (signing_key(7), signing_key(8));
        let set = KeySet::parse(&key_set(&[("k1", &key)])).unwrap();
        let body = b"[]";
        let signature = sign(&key, body);
        assert_eq!(set.verify("k1", &signature, b"[ ]"), Err(SignatureError::Mismatch));
        assert_eq!(set.verify("k1", &sign(&other, body), body), Err(SignatureError::Mismatch));
        assert_eq!(set.verify("k2", &signature, body), Err(SignatureError::UnknownKey));
        assert_eq!(set.verify("k1", "not base64!", body), Err(SignatureError::Unreadable));
        assert_eq!(set.verify("k1", "AAAA", body), Err(SignatureError::Unreadable));
    }

    #[test]
    fn a_key_set_with_a_bad_key_or_no_key_is_refused_whole() {
        let good = key_set(&[("k1", &signing_key(7))]);
        assert!(KeySet::parse(&good).is_ok());
        let bad = good.replace("MFkw", "MFkx");
        assert_eq!(KeySet::parse(&bad).err(), Some(KeySetError::BadKey("k1".into())));
        assert_eq!(KeySet::parse(r#"{"public_keys":[]}"#).err(), Some(KeySetError::Empty));
        assert!(matches!(KeySet::parse("[]"), Err(KeySetError::NotAKeySet(_))));
    }
}
