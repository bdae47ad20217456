//! Which GitHub keys are trusted right now: GitHub's published set (fetched on first use and
//! kept for the container's life) first, the configured set as a fallback for when GitHub's
//! endpoint cannot be reached.
//!
//! GitHub rotates its signing keys, so an identifier we have not seen makes us fetch the set
//! again. Anyone can send a report naming a made-up identifier, and each must not cost a
//! request to GitHub: once a refetch has not found the identifier it was made for, the next
//! refetch waits [`REFETCH_EVERY`].

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use crate::signature::{KeySet, SignatureError};

/// After a refetch that did not find its identifier, the least time before the next one.
pub const REFETCH_EVERY: Duration = Duration::from_secs(60);

/// Where the published set comes from: GitHub's endpoint in a Lambda, a test's server in tests.
pub trait KeySource: Send + Sync {
    /// The key-set document's text, or why there is none.
    fn fetch(&self) -> impl Future<Output = Result<String, String>> + Send;
}

/// No source configured: only the configured set counts.
impl<T: KeySource> KeySource for Option<T> {
    async fn fetch(&self) -> Result<String, String> {
        match self {
            Some(source) => source.fetch().await,
            None => Err("GITHUB_KEYS_URL is off".into()),
        }
    }
}

struct Fetched {
    keys: Option<Arc<KeySet>>,
    /// When a fetch last failed to bring the identifier it was made for.
    missed_at: Option<Instant>,
}

pub struct KeyRing<F> {
    source: F,
    configured: Option<KeySet>,
    fetched: Mutex<Fetched>,
}

impl<F: KeySource> KeyRing<F> {
    pub fn new(source: F, configured: Option<KeySet>) -> Self {
        Self { source, configured, fetched: Mutex::new(Fetched { keys: None, missed_at: None }) }
    }

    /// Checks a report's signature; fetches the published set first when it has never been
    /// fetched, or when it does not know `identifier` and was fetched long enough ago.
    pub async fn verify(&self, identifier: &str, signature: &str, body: &[u8]) -> Result<(), SignatureError> {
        let published = self.published_knowing(identifier).await;
        match published.as_deref().filter(|keys| keys.knows(identifier)) {
            Some(keys) => keys.verify(identifier, signature, body),
            None => match &self.configured {
                Some(keys) => keys.verify(identifier, signature, body),
                None => Err(SignatureError::UnknownKey),
            },
        }
    }

    async fn published_knowing(&self, identifier: &str) -> Option<Arc<KeySet>> {
        let mut fetched = self.fetched.lock().await;
        let known = |fetched: &Fetched| fetched.keys.as_ref().is_some_and(|keys| keys.knows(identifier));
        let may_fetch = fetched.missed_at.is_none_or(|at| at.elapsed() >= REFETCH_EVERY);
        if !known(&fetched) && may_fetch {
            let text = self.source.fetch().await;
            match text.and_then(|text| KeySet::parse(&text).map_err(|e| e.to_string())) {
                Ok(keys) => fetched.keys = Some(Arc::new(keys)),
                // The set we had (if any) stays; the configured one is the fallback.
                Err(error) => tracing::warn!(%error, "could not fetch GitHub's secret-scanning keys"),
            }
            if !known(&fetched) {
                fetched.missed_at = Some(Instant::now());
            }
        }
        fetched.keys.clone()
    }
}
