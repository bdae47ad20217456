//! Captures what one test logs, to check what reaches the log; every line also goes to the
//! whole run's capture ([`crate::leaks`]), which checks what never may.

use std::io::Write;
use std::sync::{Arc, Mutex};

use tracing_subscriber::fmt::MakeWriter;

/// Log output collected in memory (and passed on to the whole run's capture).
#[derive(Clone)]
pub struct CapturedLogs(Arc<Mutex<Vec<u8>>>, crate::leaks::Sink);

impl Default for CapturedLogs {
    fn default() -> Self {
        Self(Arc::default(), crate::leaks::install())
    }
}

impl CapturedLogs {
    /// Starts capturing this thread's logs until the guard is dropped, with the functions' own
    /// subscriber at the most verbose level anyone could configure. Use it from a
    /// current-thread runtime.
    pub fn start() -> (Self, tracing::subscriber::DefaultGuard) {
        // `Self::default()` installs the whole run's global subscriber first, which wants every
        // event: `tracing` decides once per call site, process-wide, whether anyone listens,
        // and a thread with no subscriber would otherwise answer "no one" for this capture too.
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
        self.1.write_all(bytes)?;
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
