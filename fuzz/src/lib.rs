//! What the fuzz targets share: a known key and a store holding it, the process's log in
//! memory, and a way to run the handlers' futures, which never wait on anything here.

use std::future::Future;
use std::io::Write;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use nico_keys::model::Credential;
use nico_keys::store::{CredentialStore, StoreError};
use nico_keys::token::SecretHash;
use nico_keys::{BotId, KeyId, ScopeCatalog, Scopes, TeamId};
use sha2::{Digest, Sha256};
use tracing_subscriber::fmt::MakeWriter;

pub const SCOPES: &str = "projects:read,projects:write,billing:read";
/// Rules that open the documentation examples' routes and a few more to the known key.
pub const ROUTES: &str = "GET /=projects:read, GET /request=projects:read, POST /my/path=projects:read, \
                          GET /projects/*=projects:read, POST /projects/*=projects:write, GET /health=*";
pub const BOT: &str = "0VcBot0000000001";
pub const KEY: &str = "0VcKey0000000001";
pub const SECRET: &str = "Fz9fuzzSecretFz9fuzzSecretFz9fuzzSecretFz9f";

/// The known key, `nico_<bot>_<key>_<secret><checksum>`; inputs name it `{{TOKEN}}` (the test
/// fixtures) or `KEY_HERE` (the sample events), and the targets put it there.
pub fn raw_key() -> &'static str {
    static RAW: OnceLock<String> = OnceLock::new();
    RAW.get_or_init(|| {
        let body = format!("nico_{BOT}_{KEY}_{SECRET}");
        let mut checksum = u64::from(crc32fast::hash(body.as_bytes()));
        let mut digits = [0u8; 6];
        const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        for slot in digits.iter_mut().rev() {
            *slot = BASE62[(checksum % 62) as usize];
            checksum /= 62;
        }
        let raw = format!("{body}{}", std::str::from_utf8(&digits).unwrap());
        assert!(nico_keys::token::parse(&raw).is_ok(), "the known key is well formed");
        raw
    })
}

/// What no output may ever hold: every form of the known key the tests' log scanner searches
/// for too ([`nico_keys::token::leak_forms`]).
pub fn forbidden() -> &'static [(&'static str, String)] {
    static FORBIDDEN: OnceLock<[(&'static str, String); 5]> = OnceLock::new();
    FORBIDDEN.get_or_init(|| nico_keys::token::leak_forms(raw_key()).expect("the known key is a key"))
}

/// Panics if `text` holds any form of the key; names the form, never shows it.
pub fn assert_no_secret(what: &str, text: &str) {
    for (form, value) in forbidden() {
        assert!(!text.contains(value.as_str()), "{what} holds the {form} of the known key");
    }
}

/// The instant every decision is made at: the key is valid then.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap()
}

pub fn catalog() -> ScopeCatalog {
    ScopeCatalog::parse(SCOPES).unwrap()
}

/// A store that holds the known key (`projects:read`), never used before, so every
/// verification of it goes on to the last-used write; it answers at once.
pub struct KnownKey {
    credential: Credential,
    /// How the next last-used writes are answered ([`UseAnswer`]).
    use_answer: AtomicU8,
    /// How many last-used writes were asked for.
    uses: AtomicUsize,
}

/// How the store answers a last-used write: each path of the authorizer after it is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UseAnswer {
    /// Written (the stored use was older than the window).
    Written,
    /// Not written (another use within the window was recorded first).
    Recent,
    /// The store failed: the authorizer logs it and keeps its decision.
    Failed,
}

impl UseAnswer {
    const ALL: [UseAnswer; 3] = [UseAnswer::Written, UseAnswer::Recent, UseAnswer::Failed];

    /// One of them for each input, the same every time it is run.
    pub fn for_input(data: &[u8]) -> Self {
        Self::ALL[data.len() % Self::ALL.len()]
    }
}

impl Default for KnownKey {
    fn default() -> Self {
        let credential = Credential {
            team_id: TeamId::parse("team-fuzz").unwrap(),
            scopes: Scopes::parse(["projects:read"], &catalog()).unwrap(),
            expires_at: now() + TimeDelta::days(1),
            revoked_at: None,
            hash: SecretHash::from_bytes(Sha256::digest(SECRET.as_bytes()).into()),
            last_used_at: None,
        };
        Self { credential, use_answer: AtomicU8::new(0), uses: AtomicUsize::new(0) }
    }
}

impl KnownKey {
    pub fn answer_uses_with(&self, answer: UseAnswer) {
        self.use_answer.store(answer as u8, Ordering::Relaxed);
    }

    /// The last-used writes asked for so far.
    pub fn uses(&self) -> usize {
        self.uses.load(Ordering::Relaxed)
    }
}

impl CredentialStore for KnownKey {
    async fn credential(&self, bot: BotId, key: KeyId) -> Result<Option<Credential>, StoreError> {
        let known = bot.as_str() == BOT && key.as_str() == KEY;
        Ok(known.then(|| self.credential.clone()))
    }

    async fn record_use(&self, bot: BotId, key: KeyId, used: &nico_keys::KeyUse) -> Result<bool, StoreError> {
        assert!(bot.as_str() == BOT && key.as_str() == KEY, "a use of another key than the verified one");
        assert_eq!(used.at, now(), "a use recorded at another time than the decision's");
        self.uses.fetch_add(1, Ordering::Relaxed);
        match UseAnswer::ALL[usize::from(self.use_answer.load(Ordering::Relaxed))] {
            UseAnswer::Written => Ok(true),
            UseAnswer::Recent => Ok(false),
            UseAnswer::Failed => Err(StoreError::unavailable("the fuzz store refuses this write")),
        }
    }
}

/// Runs a future that never waits (the store above answers at once) to its end, inside a
/// Tokio runtime's context, as Lambda runs the handlers: the last-used write runs under
/// `tokio::time::timeout`, which needs one (its timer never fires here, since the store
/// answers before it is polled).
pub fn ready<F: Future>(future: F) -> F::Output {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    let runtime = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread().enable_time().build().expect("a Tokio runtime")
    });
    let _context = runtime.enter();
    let mut future = std::pin::pin!(future);
    match future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("a future waited on something"),
    }
}

/// The log of this process, every level, as the functions write it.
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<u8>>>);

impl Log {
    /// Installed once as the global subscriber.
    pub fn get() -> &'static Log {
        static LOG: OnceLock<Log> = OnceLock::new();
        LOG.get_or_init(|| {
            let log = Log::default();
            let subscriber = nico_keys::telemetry::json_subscriber(
                log.clone(),
                tracing::level_filters::LevelFilter::TRACE,
            );
            tracing::subscriber::set_global_default(subscriber).unwrap();
            log
        })
    }

    /// What was logged since the last call.
    pub fn take(&self) -> String {
        let bytes = std::mem::take(&mut *self.0.lock().unwrap());
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl Write for Log {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Log {
    type Writer = Self;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// What a lenient backend does to a path: decodes what changes its structure, reads `\` as
/// `/`, merges and trims slashes, resolves dot segments (also `..;`).
pub fn normalised_like_a_lenient_backend(path: &str) -> String {
    let mut decoded = path.to_owned();
    loop {
        let mut next = decoded.clone();
        for (code, plain) in [
            ("%2e", "."),
            ("%2E", "."),
            ("%2f", "/"),
            ("%2F", "/"),
            ("%5c", "\\"),
            ("%5C", "\\"),
            ("%25", "%"),
        ] {
            next = next.replace(code, plain);
        }
        let next = next.replace('\\', "/");
        if next == decoded {
            break;
        }
        decoded = next;
    }
    let mut segments: Vec<&str> = Vec::new();
    for segment in decoded.split('/').filter(|s| !s.is_empty()) {
        match segment.split(';').next().unwrap_or(segment) {
            "." => {}
            ".." => {
                segments.pop();
            }
            _ => segments.push(segment),
        }
    }
    format!("/{}", segments.join("/"))
}
