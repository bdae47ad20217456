//! Captures what a test logs, to check what reaches the log and what never may.

use std::io::Write;
use std::sync::{Arc, Mutex};

use tracing_subscriber::fmt::MakeWriter;

/// Log output collected in memory.
#[derive(Clone, Default)]
pub struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl CapturedLogs {
    /// Starts capturing this thread's logs until the guard is dropped, with the functions' own
    /// subscriber at the most verbose level anyone could configure. Use it from a
    /// current-thread runtime.
    pub fn start() -> (Self, tracing::subscriber::DefaultGuard) {
        interested_everywhere();
        let logs = Self::default();
        let subscriber =
            nico_keys::telemetry::json_subscriber(logs.clone(), tracing::level_filters::LevelFilter::TRACE);
        (logs.clone(), tracing::subscriber::set_default(subscriber))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// Each line, parsed.
    pub fn lines(&self) -> Vec<serde_json::Value> {
        self.text().lines().map(|line| serde_json::from_str(line).unwrap()).collect()
    }
}

impl Write for CapturedLogs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for CapturedLogs {
    type Writer = Self;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Installs, once per process, a global subscriber that keeps nothing but wants every event.
///
/// `tracing` decides once per call site, for the whole process, whether anyone is interested,
/// and with a single dispatcher it asks the thread that gets there first. A test thread with no
/// subscriber of its own would answer "no one" and silence that call site for the capturing
/// test too, at random, depending on which test ran it first. With this global subscriber every
/// thread answers "yes", and each event still reaches only its thread's capture.
fn interested_everywhere() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry());
    });
}
