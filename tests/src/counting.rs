//! A store wrapper that counts reads, to prove how many a verification makes.

use std::sync::atomic::{AtomicUsize, Ordering};

use nico_keys::model::Credential;
use nico_keys::store::{CredentialStore, StoreError};
use nico_keys::{BotId, KeyId, KeyUse};

pub struct Counting<S> {
    pub inner: S,
    reads: AtomicUsize,
}

impl<S> Counting<S> {
    pub fn new(inner: S) -> Self {
        Self { inner, reads: AtomicUsize::new(0) }
    }

    /// Reads so far, and starts counting again from zero.
    pub fn take_reads(&self) -> usize {
        self.reads.swap(0, Ordering::SeqCst)
    }
}

impl<S: CredentialStore> CredentialStore for Counting<S> {
    async fn credential(&self, bot: BotId, key: KeyId) -> Result<Option<Credential>, StoreError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.credential(bot, key).await
    }

    /// Writes are not reads: passed through uncounted.
    async fn record_use(&self, bot: BotId, key: KeyId, used: &KeyUse) -> Result<bool, StoreError> {
        self.inner.record_use(bot, key, used).await
    }
}
