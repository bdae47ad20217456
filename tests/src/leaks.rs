//! No key, secret or digest in any log of the whole test run.
//!
//! Three parts, all process-wide, so the guarantee holds for the whole `it` binary and not for
//! one test:
//!
//! * **Every log is captured.** [`install`] sets, once, a global tracing subscriber: the
//!   functions' own JSON subscriber at the most verbose level anyone could configure, writing
//!   to one shared buffer. Every thread of every test logs there, whatever it runs (the
//!   authorizer, the management API, the stores, the AWS SDK at the level the functions allow
//!   it). A test that captures its own thread's lines ([`crate::logs::CapturedLogs`]) writes
//!   them here too. Every process a test starts (the local runner, a function's bootstrap)
//!   writes its stdout and stderr to files registered with [`log_file`].
//! * **Every key is recorded.** [`record`] keeps, for each key a test mints, what must never
//!   be logged: the forms `nico_keys::token::leak_forms` names (the raw key, its secret, and
//!   the secret's SHA-256 digest in hex of both cases and in base64, DynamoDB's wire form of
//!   a binary attribute), the same the fuzz targets search for. Keys are recorded where they
//!   come into being: [`crate::world::World`] mints through one method, and every management
//!   API answer the tests read (in process or from a runner) is searched for `token` fields
//!   ([`record_tokens_in`]).
//! * **Everything is scanned, everywhere a test ends.** [`assert_clean`] searches the shared
//!   buffer and every registered file for every recorded string at once (Aho-Corasick), and
//!   runs when each `World` and each `Runner` is dropped (unless the test is already failing).
//!   A test's logs are written while its world or runner is alive, so they are scanned at its
//!   end at the latest, by that test; no test has to run last. Tests that mint keys outside a
//!   world call it themselves.
//!
//! A failure names the kind of string, the key's id and where it was found, never the string.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use aho_corasick::AhoCorasick;
use tracing_subscriber::fmt::MakeWriter;

/// Where the key id sits in a raw key: `nico_<16>_` then 16 characters.
const KEY_ID: std::ops::Range<usize> = 22..38;

/// Something that must never be logged, and how to name it without showing it.
struct Forbidden {
    text: String,
    what: String,
}

#[derive(Default)]
struct Registry {
    forbidden: Vec<Forbidden>,
    files: Vec<PathBuf>,
}

fn registry() -> MutexGuard<'static, Registry> {
    static REGISTRY: OnceLock<Mutex<Registry>> = OnceLock::new();
    REGISTRY.get_or_init(Default::default).lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The shared buffer every log line of this process is written to.
#[derive(Clone)]
pub struct Sink(Arc<Mutex<Vec<u8>>>);

impl Sink {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}

impl Write for Sink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Sink {
    type Writer = Self;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Set by [`off_for_this_process`].
static OFF: AtomicBool = AtomicBool::new(false);

/// For a program built on these helpers that is not a test (the race trials): no capture and
/// no scan. Its logs go nowhere, and it would spend most of its time formatting TRACE lines
/// and searching them. Call it before anything else; the `it` tests never do.
pub fn off_for_this_process() {
    OFF.store(true, Ordering::SeqCst);
}

/// The process-wide capture, installed on first use (as the global tracing subscriber).
pub fn install() -> Sink {
    static SINK: OnceLock<Sink> = OnceLock::new();
    SINK.get_or_init(|| {
        let sink = Sink(Arc::default());
        if OFF.load(Ordering::SeqCst) {
            return sink;
        }
        let subscriber =
            nico_keys::telemetry::json_subscriber(sink.clone(), tracing::level_filters::LevelFilter::TRACE);
        tracing::subscriber::set_global_default(subscriber).expect("no other global subscriber");
        sink
    })
    .clone()
}

/// What must never be shown of one key ([`nico_keys::token::leak_forms`]).
pub struct KeyForms {
    key_id: String,
    forms: [(&'static str, String); 5],
}

impl KeyForms {
    pub fn of(raw: &str) -> Self {
        let (Some(forms), Some(key_id)) = (nico_keys::token::leak_forms(raw), raw.get(KEY_ID)) else {
            panic!("not a key: {} characters", raw.len());
        };
        Self { key_id: key_id.to_owned(), forms }
    }

    /// Panics if `text` (an answer, an error message, a `Debug` rendering) holds any form of
    /// this key; names `what` and the form found, never the form itself.
    #[track_caller]
    pub fn assert_absent(&self, what: &str, text: &str) {
        if let Some((kind, _)) = self.forms.iter().find(|(_, form)| text.contains(form.as_str())) {
            panic!("{what} holds the {kind} of key {}", self.key_id);
        }
    }
}

/// Records a key the test run minted: from now on no log may hold it, its secret or its digest.
pub fn record(raw: &str) {
    if OFF.load(Ordering::SeqCst) {
        return;
    }
    install();
    let key = KeyForms::of(raw);
    let mut registry = registry();
    for (kind, text) in key.forms {
        registry.forbidden.push(Forbidden { text, what: format!("the {kind} of key {}", key.key_id) });
    }
}

/// Records every key in a JSON answer (any `token` field holding a `nico_` key).
pub fn record_tokens_in(answer: &serde_json::Value) {
    match answer {
        serde_json::Value::Object(fields) => {
            for (name, value) in fields {
                match value.as_str() {
                    Some(token) if name == "token" && token.starts_with(nico_keys::token::PREFIX) => {
                        record(token)
                    }
                    _ => record_tokens_in(value),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(record_tokens_in),
        _ => {}
    }
}

/// A new file in this run's log folder (`$TMPDIR/nico-keys-test-logs-<pid>`, kept for reading
/// after a failure) for a process the test starts, registered for the scan.
pub fn log_file(name: &str) -> (PathBuf, std::fs::File) {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!("nico-keys-test-logs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let path = dir.join(format!("{}-{name}.log", NEXT.fetch_add(1, Ordering::SeqCst)));
    let file = std::fs::File::create(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    registry().files.push(path.clone());
    (path, file)
}

/// Panics if any log so far holds any recorded key, secret or digest; says which and where.
pub fn assert_clean() {
    if OFF.load(Ordering::SeqCst) {
        return;
    }
    let sink = install();
    let (patterns, names, files): (Vec<String>, Vec<String>, Vec<PathBuf>) = {
        let registry = registry();
        (
            registry.forbidden.iter().map(|f| f.text.clone()).collect(),
            registry.forbidden.iter().map(|f| f.what.clone()).collect(),
            registry.files.clone(),
        )
    };
    if patterns.is_empty() {
        return;
    }
    let searcher = AhoCorasick::new(&patterns).expect("the recorded strings make a searcher");
    let mut sources = vec![("this process's log".to_owned(), sink.text())];
    for path in files {
        // A process may still be writing; what it wrote so far is there.
        let text = std::fs::read(&path).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
        sources.push((path.display().to_string(), text));
    }
    let mut found = Vec::new();
    for (source, text) in &sources {
        for hit in searcher.find_iter(text) {
            let line = text[..hit.start()].lines().count().max(1);
            found.push(format!("{} in {source}, line {line}", names[hit.pattern().as_usize()]));
        }
    }
    assert!(found.is_empty(), "secrets reached a log:\n  {}", found.join("\n  "));
}
