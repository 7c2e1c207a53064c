//! The shared state every handler and worker reaches through.

use gantry_core::accounts::AccountService;
use gantry_core::auth::AuthService;
use gantry_core::events::EventBus;
use gantry_core::jobs::Waker;
use gantry_core::metrics::{Counter, DURATION_BUCKETS, Histogram, Registry};
use gantry_core::secrets::Keyring;
use gantry_store::{Db, Repos};
use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use tokio_util::sync::CancellationToken;

/// How the session cookie's `Secure` attribute is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CookieSecure {
    /// Secure when the request came over TLS, as told by `X-Forwarded-Proto: https`
    /// from a trusted proxy, or when the public URL is https.
    Auto,
    /// Always set `Secure`.
    Always,
    /// Never (plain-HTTP development only).
    Never,
}

/// HTTP-layer settings.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Trust `X-Forwarded-For` / `X-Forwarded-Proto` (only behind a proxy you run).
    pub trust_forwarded_headers: bool,
    /// The `Secure` cookie policy.
    pub cookie_secure: CookieSecure,
    /// Whether the public URL is https (for `CookieSecure::Auto`).
    pub public_https: bool,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self { trust_forwarded_headers: false, cookie_secure: CookieSecure::Auto, public_https: false, max_body_bytes: 1024 * 1024 }
    }
}

/// The HTTP RED metrics.
#[derive(Clone)]
pub struct HttpMetrics {
    /// Requests by method, route template and status.
    pub requests: Counter,
    /// Request durations by method and route template.
    pub duration: Histogram,
}

impl HttpMetrics {
    /// Registers the families.
    pub fn register(r: &Registry) -> Self {
        Self {
            requests: r.counter(
                "gantry_http_requests_total",
                "HTTP requests by method, route template and status.",
                &["method", "route", "status"],
            ),
            duration: r.histogram(
                "gantry_http_request_duration_seconds",
                "HTTP request duration by method and route template.",
                &["method", "route"],
                DURATION_BUCKETS,
            ),
        }
    }
}

/// Changes this process's log filter while it runs (the binary installs the
/// subscriber, so it provides the implementation).
pub trait LogControl: Send + Sync {
    /// The filter in force, as `tracing` directives.
    fn current(&self) -> String;
    /// The filter the configuration started with.
    fn configured(&self) -> String;
    /// Checks directives without applying them.
    fn check(&self, directives: &str) -> Result<(), String>;
    /// Applies directives.
    fn set(&self, directives: &str) -> Result<(), String>;
}

/// Everything the platform offers to handlers, workers and modules.
pub struct Platform {
    /// The connection pool.
    pub db: Db,
    /// Platform repositories.
    pub repos: Repos,
    /// Login, sessions, tokens.
    pub auth: Arc<AuthService>,
    /// User administration.
    pub accounts: Arc<AccountService>,
    /// Live event fan-out.
    pub bus: EventBus,
    /// Wakes the local job runner after an enqueue.
    pub jobs_waker: Waker,
    /// Metric registry.
    pub metrics: Registry,
    /// HTTP RED metrics.
    pub http_metrics: HttpMetrics,
    /// HTTP settings.
    pub settings: HttpSettings,
    /// Master keyring for secret columns.
    pub keyring: Arc<Keyring>,
    /// Set once migrations are done and workers run; cleared on shutdown.
    pub ready: Arc<AtomicBool>,
    /// Cancelled on shutdown; long-lived responses (SSE) end with it.
    pub shutdown: CancellationToken,
    /// The data directory.
    pub data_dir: PathBuf,
    /// The migrations this binary knows, for `/readyz`.
    pub known_migrations: Vec<String>,
    /// Runtime log-level control, when the binary installed a reloadable subscriber.
    pub log_control: Option<Arc<dyn LogControl>>,
    /// Module services by type, registered at mount and looked up by handlers.
    pub services: std::sync::RwLock<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
}

impl Platform {
    /// Registers a module's service so its handlers can find it.
    pub fn provide<T: Any + Send + Sync>(&self, service: Arc<T>) {
        if let Ok(mut m) = self.services.write() {
            m.insert(TypeId::of::<T>(), service);
        }
    }

    /// Looks up a service registered with [`Platform::provide`].
    pub fn service<T: Any + Send + Sync>(&self) -> Result<Arc<T>, crate::error::ApiError> {
        self.services
            .read()
            .ok()
            .and_then(|m| m.get(&TypeId::of::<T>()).cloned())
            .and_then(|s| s.downcast::<T>().ok())
            .ok_or_else(|| crate::error::ApiError::internal(format!("service {} is not mounted", std::any::type_name::<T>())))
    }
}

/// The axum state: a cheap handle to the platform.
pub type AppState = Arc<Platform>;
