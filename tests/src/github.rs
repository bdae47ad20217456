//! GitHub's side of secret scanning, played by the tests: P-256 signing keys published in
//! GitHub's key-set format, signed reports, and a key-set endpoint that counts its fetches.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::{EncodePublicKey, LineEnding};
use serde_json::{Value, json};
use tokio::sync::Mutex;

/// One of GitHub's signing keys.
pub struct GithubKey {
    pub identifier: String,
    key: SigningKey,
}

impl GithubKey {
    /// A key made from `seed` (tests need no secrecy, only distinct keys).
    pub fn new(identifier: &str, seed: u8) -> Self {
        Self {
            identifier: identifier.into(),
            key: SigningKey::from_slice(&[seed; 32]).expect("a valid scalar"),
        }
    }

    /// The `Github-Public-Key-*` headers of `body` signed with this key.
    pub fn sign(&self, body: &[u8]) -> [(&'static str, String); 2] {
        let signature: Signature = self.key.sign(body);
        [
            ("github-public-key-identifier", self.identifier.clone()),
            ("github-public-key-signature", STANDARD.encode(signature.to_der().as_bytes())),
        ]
    }
}

/// GitHub's key-set document listing `keys`.
pub fn key_set(keys: &[&GithubKey]) -> String {
    let public_keys: Vec<Value> = keys
        .iter()
        .map(|key| {
            let pem = key.key.verifying_key().to_public_key_pem(LineEnding::LF).unwrap();
            json!({"key_identifier": key.identifier, "key": pem, "is_current": true})
        })
        .collect();
    json!({ "public_keys": public_keys }).to_string()
}

/// A report of `tokens`, as GitHub sends it.
pub fn report(tokens: &[&str]) -> Vec<u8> {
    let entries: Vec<Value> = tokens
        .iter()
        .map(|token| json!({"token": token, "type": "nico_api_key", "url": "https://github.com/octo/repo/blob/main/.env", "source": "content"}))
        .collect();
    serde_json::to_vec(&entries).unwrap()
}

/// GitHub's key-set endpoint on a loopback port: serves what the test sets, counts fetches.
pub struct KeySetEndpoint {
    pub url: String,
    document: Arc<Mutex<String>>,
    fetches: Arc<AtomicUsize>,
}

impl KeySetEndpoint {
    pub async fn start(document: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/meta/public_keys/secret_scanning", listener.local_addr().unwrap());
        let document = Arc::new(Mutex::new(document));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (served, counted) = (Arc::clone(&document), Arc::clone(&fetches));
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let (served, counted) = (Arc::clone(&served), Arc::clone(&counted));
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |_request| {
                        let (served, counted) = (Arc::clone(&served), Arc::clone(&counted));
                        async move {
                            counted.fetch_add(1, Ordering::SeqCst);
                            let body = served.lock().await.clone();
                            Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(Bytes::from(
                                body,
                            ))))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { url, document, fetches }
    }

    pub async fn publish(&self, document: String) {
        *self.document.lock().await = document;
    }

    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}
