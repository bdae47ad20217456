//! Time as a dependency: status, expiry and rotation all turn on "now", and tests need to
//! stand at the exact millisecond a key expires without sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, TimeDelta, Utc};

use crate::model::truncate_to_millis;

pub trait Clock: Send + Sync {
    /// The current instant, to the millisecond (the precision every store keeps).
    fn now(&self) -> DateTime<Utc>;
}

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        truncate_to_millis(Utc::now())
    }
}

/// A clock that only moves when told to; clones share the same time.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub fn at(start: DateTime<Utc>) -> Self {
        Self(Arc::new(AtomicI64::new(start.timestamp_millis())))
    }

    pub fn set(&self, at: DateTime<Utc>) {
        self.0.store(at.timestamp_millis(), Ordering::SeqCst);
    }

    pub fn advance(&self, by: TimeDelta) {
        self.0.fetch_add(by.num_milliseconds(), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.0.load(Ordering::SeqCst)).expect("clock within range")
    }
}

/// A clock another process moves: the time is the whole number of epoch milliseconds in a
/// file, read at every call. For end-to-end tests of a running process (the local runner),
/// which cannot share a [`ManualClock`]; a missing or unreadable file is a broken test set-up,
/// so it panics rather than fall back to the real time.
#[derive(Debug, Clone)]
pub struct FileClock(std::path::PathBuf);

impl FileClock {
    pub fn new(path: impl Into<std::path::PathBuf>) -> Self {
        Self(path.into())
    }

    /// Moves the clock of every process reading `path` to `at`.
    pub fn set(path: &std::path::Path, at: DateTime<Utc>) -> std::io::Result<()> {
        // Written aside and renamed, so a reader never sees half a number.
        let aside = path.with_extension("next");
        std::fs::write(&aside, at.timestamp_millis().to_string())?;
        std::fs::rename(aside, path)
    }
}

impl Clock for FileClock {
    fn now(&self) -> DateTime<Utc> {
        let text = std::fs::read_to_string(&self.0)
            .unwrap_or_else(|e| panic!("clock file {}: {e}", self.0.display()));
        text.trim()
            .parse()
            .ok()
            .and_then(DateTime::from_timestamp_millis)
            .unwrap_or_else(|| panic!("clock file {} does not hold epoch milliseconds", self.0.display()))
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> DateTime<Utc> {
        (**self).now()
    }
}
