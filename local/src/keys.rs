//! The dev OIDC issuer's signing key: RSA 2048, made once per data directory and kept there in
//! [`KEY_FILE`] (PKCS #8 PEM, mode 0600). It is never in the source: every data directory
//! gets its own, so a token signed for one runner proves nothing to another.

use std::fs;
use std::io::Write;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::RsaPrivateKey;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use rsa::traits::PublicKeyParts;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// The key's file under the data directory.
pub const KEY_FILE: &str = "oidc-signing-key.pem";

/// Size of the RSA modulus, what API Gateway and identity providers use.
pub const KEY_BITS: usize = 2048;

/// An RSA private key, its public half as a JWK, and its key id.
pub struct SigningKey {
    kid: String,
    encoding: EncodingKey,
    /// The public modulus and exponent, base64url (as a JWK carries them).
    n: String,
    e: String,
}

impl SigningKey {
    /// A fresh key, kept nowhere.
    pub fn generate() -> Result<Self, String> {
        let key = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, KEY_BITS)
            .map_err(|e| format!("cannot generate an RSA key: {e}"))?;
        Self::from_rsa(&key)
    }

    /// The key kept in `dir`, made and written there (mode 0600) first if there is none.
    /// Several processes starting at once end up with the same key.
    pub fn load_or_create(dir: &Path) -> Result<Self, String> {
        let path = dir.join(KEY_FILE);
        let shown = path.display();
        match fs::read_to_string(&path) {
            Ok(pem) => return Self::from_file(&path, &pem),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(format!("{shown}: {error}")),
        }
        fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let key = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, KEY_BITS)
            .map_err(|e| format!("cannot generate an RSA key: {e}"))?;
        let pem = key.to_pkcs8_pem(LineEnding::LF).map_err(|e| format!("cannot encode the key: {e}"))?;
        // Written whole under a temporary name, then linked into place: a reader never sees
        // half a key, and of two processes creating one at once, the first link wins.
        let temporary = dir.join(format!(".{KEY_FILE}.{}", std::process::id()));
        let _ = fs::remove_file(&temporary);
        let written = private_file(&temporary).and_then(|mut file| {
            file.write_all(pem.as_bytes())?;
            file.sync_all()
        });
        if let Err(error) = written {
            let _ = fs::remove_file(&temporary);
            return Err(format!("{}: {error}", temporary.display()));
        }
        let linked = fs::hard_link(&temporary, &path);
        let _ = fs::remove_file(&temporary);
        match linked {
            Ok(()) => Self::from_rsa(&key),
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                let pem = fs::read_to_string(&path).map_err(|e| format!("{shown}: {e}"))?;
                Self::from_file(&path, &pem)
            }
            Err(error) => Err(format!("{shown}: {error}")),
        }
    }

    fn from_file(path: &Path, pem: &str) -> Result<Self, String> {
        refuse_if_shared(path)?;
        let key = RsaPrivateKey::from_pkcs8_pem(pem)
            .map_err(|e| format!("{}: not an RSA private key in PKCS #8 PEM: {e}", path.display()))?;
        Self::from_rsa(&key)
    }

    fn from_rsa(key: &RsaPrivateKey) -> Result<Self, String> {
        let der = key.to_pkcs1_der().map_err(|e| format!("cannot encode the key: {e}"))?;
        let n = URL_SAFE_NO_PAD.encode(key.n().to_bytes_be());
        let e = URL_SAFE_NO_PAD.encode(key.e().to_bytes_be());
        Ok(Self { kid: thumbprint(&n, &e), encoding: EncodingKey::from_rsa_der(der.as_bytes()), n, e })
    }

    /// The key id: the key's JWK thumbprint (RFC 7638), so it changes with the key.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JWK.
    pub fn jwk(&self) -> Value {
        json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid, "n": self.n, "e": self.e})
    }

    /// A JWS of `claims`: RS256 with this key's `kid`.
    pub fn sign(&self, claims: &Map<String, Value>) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        self.sign_with(&header, claims)
    }

    /// A JWS of `claims` under `header` (tests try other algorithms and key ids with it).
    pub(crate) fn sign_with(&self, header: &Header, claims: &Map<String, Value>) -> String {
        jsonwebtoken::encode(header, claims, &self.encoding).expect("an RSA key signs any JSON object")
    }
}

/// RFC 7638: SHA-256 of the required members in lexicographic order, base64url.
fn thumbprint(n: &str, e: &str) -> String {
    let canonical = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

#[cfg(unix)]
fn private_file(path: &Path) -> std::io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)
}

#[cfg(not(unix))]
fn private_file(path: &Path) -> std::io::Result<fs::File> {
    fs::OpenOptions::new().write(true).create_new(true).open(path)
}

/// A private key others may read is refused, as ssh refuses one.
#[cfg(unix)]
fn refuse_if_shared(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(format!(
            "{}: the signing key is readable by others (mode {:o}): `chmod 600` it, or delete it for a new one",
            path.display(),
            mode & 0o777
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn refuse_if_shared(_: &Path) -> Result<(), String> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_made_once_per_data_directory_private_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("nested/data");
        let first = SigningKey::load_or_create(&data).unwrap();
        let again = SigningKey::load_or_create(&data).unwrap();
        assert_eq!(first.kid(), again.kid(), "the same key after a restart");
        assert_eq!(first.jwk(), again.jwk());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(data.join(KEY_FILE)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let leftovers: Vec<_> = fs::read_dir(&data).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(leftovers, [KEY_FILE], "no temporary file left behind");

        let elsewhere = SigningKey::load_or_create(&dir.path().join("other")).unwrap();
        assert_ne!(first.kid(), elsewhere.kid(), "another data directory, another key");
    }

    #[cfg(unix)]
    #[test]
    fn a_key_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        SigningKey::load_or_create(dir.path()).unwrap();
        let path = dir.path().join(KEY_FILE);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let error = SigningKey::load_or_create(dir.path()).err().unwrap();
        assert!(error.contains("readable by others"), "{error}");
    }

    #[test]
    fn the_jwk_is_the_public_half_with_its_thumbprint_as_kid() {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::load_or_create(dir.path()).unwrap();
        let jwk = key.jwk();
        assert_eq!(
            (jwk["kty"].as_str(), jwk["alg"].as_str(), jwk["e"].as_str()),
            (Some("RSA"), Some("RS256"), Some("AQAB"))
        );
        assert_eq!(jwk["kid"], key.kid());
        let modulus = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
        assert_eq!(modulus.len() * 8, KEY_BITS);
        assert!(jwk.get("d").is_none() && jwk.get("p").is_none(), "no private part");
        // RFC 7638's own example.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        assert_eq!(thumbprint(n, "AQAB"), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }
}
