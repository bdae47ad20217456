//! What the fuzz targets share: a known key and a store holding it, the process's log in
//! memory, and a way to run the handlers' futures, which never wait on anything here.

use std::future::Future;
use std::io::Write;
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

/// What no output may ever hold: the key, its secret, its digest in hex.
pub fn forbidden() -> &'static [String; 3] {
    static FORBIDDEN: OnceLock<[String; 3]> = OnceLock::new();
    FORBIDDEN.get_or_init(|| {
        let digest: String = Sha256::digest(SECRET.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
        [raw_key().to_owned(), SECRET.to_owned(), digest]
    })
}

/// Panics if `text` holds the key, its secret or its digest.
pub fn assert_no_secret(what: &str, text: &str) {
    for (i, form) in forbidden().iter().enumerate() {
        assert!(!text.contains(form.as_str()), "{what} holds form #{i} of the key");
    }
}

/// The instant every decision is made at: the key is valid then.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap()
}

pub fn catalog() -> ScopeCatalog {
    ScopeCatalog::parse(SCOPES).unwrap()
}

/// A store that holds the known key (`projects:read`), answering at once.
pub struct KnownKey {
    credential: Credential,
}

impl Default for KnownKey {
    fn default() -> Self {
        let credential = Credential {
            team_id: TeamId::parse("team-fuzz").unwrap(),
            scopes: Scopes::parse(["projects:read"], &catalog()).unwrap(),
            expires_at: now() + TimeDelta::days(1),
            revoked_at: None,
            hash: SecretHash::from_bytes(Sha256::digest(SECRET.as_bytes()).into()),
            // Recorded "in the future": never stale, so no last-used write (which would need
            // a runtime's timer) is ever attempted here.
            last_used_at: Some(chrono::DateTime::<chrono::Utc>::MAX_UTC),
        };
        Self { credential }
    }
}

impl CredentialStore for KnownKey {
    async fn credential(&self, bot: BotId, key: KeyId) -> Result<Option<Credential>, StoreError> {
        let known = bot.as_str() == BOT && key.as_str() == KEY;
        Ok(known.then(|| self.credential.clone()))
    }

    async fn record_use(&self, _: BotId, _: KeyId, _: &nico_keys::KeyUse) -> Result<bool, StoreError> {
        Ok(false)
    }
}

/// Runs a future that never waits (the store above answers at once) to its end.
pub fn ready<F: Future>(future: F) -> F::Output {
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
