//! Structured logging with `tracing`: text for people, JSON for machines.
//! Logs go to stderr; stdout is reserved for command output (and the
//! one-time initial admin password, which must never reach a log).
//!
//! The filter sits behind a reload handle, so an admin can change the level
//! of a running process (`PUT /api/v1/system/log-level`). HTTP requests run
//! in an `http` span carrying `request_id`, jobs in a `job` span carrying
//! `job_id` and `kind`; the JSON format prints the current span's fields
//! on every line, so a request's or a job's lines can be found by id.

use crate::config::{Config, LogFormat};
use gantry_api::state::LogControl;
use std::sync::{Arc, Mutex, OnceLock};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry, fmt, reload};

/// The installed subscriber's filter handle.
struct Reloadable {
    handle: reload::Handle<EnvFilter, Registry>,
    configured: String,
    current: Mutex<String>,
}

impl LogControl for Reloadable {
    fn current(&self) -> String {
        self.current.lock().map(|c| c.clone()).unwrap_or_default()
    }

    fn configured(&self) -> String {
        self.configured.clone()
    }

    fn check(&self, directives: &str) -> Result<(), String> {
        EnvFilter::try_new(directives).map(|_| ()).map_err(|e| format!("not a valid log filter: {e}"))
    }

    fn set(&self, directives: &str) -> Result<(), String> {
        let filter = EnvFilter::try_new(directives).map_err(|e| format!("not a valid log filter: {e}"))?;
        self.handle.reload(filter).map_err(|e| format!("cannot change the log filter: {e}"))?;
        if let Ok(mut c) = self.current.lock() {
            *c = directives.to_string();
        }
        Ok(())
    }
}

static INSTALLED: OnceLock<Arc<Reloadable>> = OnceLock::new();

/// The runtime control of the subscriber [`init`] installed, if it did.
pub fn installed() -> Option<Arc<dyn LogControl>> {
    INSTALLED.get().map(|r| r.clone() as Arc<dyn LogControl>)
}

/// Installs the global subscriber. Safe to call more than once: later calls
/// keep the first subscriber (tests start several apps in one process).
pub fn init(cfg: &Config) {
    if INSTALLED.get().is_some() {
        return;
    }
    let (level, filter) = match EnvFilter::try_new(&cfg.log_level) {
        Ok(f) => (cfg.log_level.clone(), f),
        Err(_) => ("info".to_string(), EnvFilter::new("info")),
    };
    let (filter, handle) = reload::Layer::new(filter);
    let output = match cfg.log_format {
        LogFormat::Json => {
            fmt::layer().json().flatten_event(true).with_current_span(true).with_span_list(false).with_writer(std::io::stderr).boxed()
        }
        LogFormat::Text => fmt::layer().with_ansi(false).with_writer(std::io::stderr).boxed(),
    };
    if tracing_subscriber::registry().with(filter).with(output).try_init().is_err() {
        // Another subscriber was installed first (e.g. by a test harness); it cannot be reloaded.
        return;
    }
    let _ = INSTALLED.set(Arc::new(Reloadable { handle, configured: level.clone(), current: Mutex::new(level) }));
}
