//! Startup and shutdown: open the database, migrate, build the platform,
//! mount the modules, serve HTTP and run the workers until SIGTERM.

use crate::config::{Config, CookieSecure as CfgCookieSecure};
use anyhow::Context as _;
use gantry_api::module::{Module, Worker};
use gantry_api::state::{CookieSecure, HttpMetrics, HttpSettings, Platform};
use gantry_core::accounts::AccountService;
use gantry_core::auth::{AuthService, AuthSettings};
use gantry_core::events::EventBus;
use gantry_core::jobs::{Runner, RunnerSettings, Waker};
use gantry_core::metrics::Registry;
use gantry_core::secrets::Keyring;
use gantry_store::{Db, ModuleMigration, PoolSettings, Repos};
use secrecy::{ExposeSecret, SecretString};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Opens the database described by the configuration.
pub async fn open_db(cfg: &Config) -> anyhow::Result<Db> {
    std::fs::create_dir_all(&cfg.data_dir).with_context(|| format!("cannot create data directory {}", cfg.data_dir.display()))?;
    let pool = PoolSettings {
        max_connections: cfg.db.max_connections,
        min_connections: cfg.db.min_connections,
        acquire_timeout: Duration::from_secs(cfg.db.acquire_timeout_seconds),
    };
    Ok(Db::connect(cfg.database_url().expose_secret(), &pool).await?)
}

/// Every migration of every module, platform first.
pub fn all_migrations(modules: &[Box<dyn Module>]) -> Vec<ModuleMigration> {
    modules.iter().flat_map(|m| m.migrations()).collect()
}

/// Every module's routes, merged.
pub fn all_routes(modules: &[Box<dyn Module>]) -> gantry_api::ModuleRouter<gantry_api::state::AppState> {
    modules.iter().fold(gantry_api::ModuleRouter::new(), |r, m| r.merge(m.routes()))
}

/// Loads the master key: configured, else the data directory's, else a new one written there (mode 0600).
pub fn load_keyring(cfg: &Config) -> anyhow::Result<Keyring> {
    let key = match &cfg.master_key {
        Some(k) => k.clone(),
        None => {
            let path = cfg.data_dir.join("master.key");
            if path.exists() {
                SecretString::from(
                    std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?.trim().to_string(),
                )
            } else {
                let key = gantry_core::secrets::generate_key()?;
                write_private(&path, key.expose_secret())?;
                tracing::info!(path = %path.display(), "generated a new master key; back it up: secrets in the database cannot be read without it");
                key
            }
        }
    };
    Ok(Keyring::new(&key, &cfg.master_key_previous)?)
}

fn write_private(path: &Path, content: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(content.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

fn auth_settings(cfg: &Config) -> AuthSettings {
    AuthSettings {
        session_ttl: Duration::from_secs(cfg.auth.session_ttl_hours * 3600),
        session_idle: Duration::from_secs(cfg.auth.session_idle_minutes * 60),
        max_failures: cfg.auth.max_failures,
        max_lockout: Duration::from_secs(cfg.auth.max_lockout_seconds),
        self_registration: cfg.auth.self_registration,
        ..AuthSettings::default()
    }
}

/// Builds the account services over a database (also used by the CLI).
pub fn services(repos: &Repos, cfg: &Config) -> (Arc<AuthService>, Arc<AccountService>) {
    let auth = Arc::new(AuthService::new(
        repos.users.clone(),
        repos.sessions.clone(),
        repos.tokens.clone(),
        repos.audit.clone(),
        auth_settings(cfg),
    ));
    let accounts = Arc::new(AccountService::new(repos.users.clone(), auth.clone()));
    (auth, accounts)
}

/// A running Gantry.
pub struct App {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Cancel to shut down.
    pub shutdown: CancellationToken,
    /// The platform (for tests).
    pub platform: Arc<Platform>,
    /// The initial admin password when one was generated on this start.
    pub generated_admin_password: Option<SecretString>,
    done: tokio::task::JoinHandle<()>,
}

impl App {
    /// Starts everything and returns once it is ready to serve.
    pub async fn start(cfg: Config) -> anyhow::Result<App> {
        Self::start_with(cfg, crate::modules::all).await
    }

    /// Starts with a custom module list (tests add test-only modules).
    pub async fn start_with(cfg: Config, modules: impl Fn(&Config) -> Vec<Box<dyn Module>>) -> anyhow::Result<App> {
        let started = Instant::now();
        let modules = modules(&cfg);
        let db = open_db(&cfg).await?;
        let migrations = all_migrations(&modules);
        let applied = gantry_store::migrate::run(&db, &migrations).await?;
        if !applied.is_empty() {
            tracing::info!(count = applied.len(), "migrations applied");
        }
        let keyring = Arc::new(load_keyring(&cfg)?);
        let repos = Repos::new(&db);
        let (auth, accounts) = services(&repos, &cfg);
        let generated_admin_password = match accounts.bootstrap_admin(cfg.admin_password.clone()).await? {
            Some((_, generated)) => generated,
            None => None,
        };
        let metrics = Registry::default();
        let shutdown = CancellationToken::new();
        let bus = EventBus::new();
        let waker = Waker::default();
        let platform = Arc::new(Platform {
            db: db.clone(),
            repos: repos.clone(),
            auth,
            accounts,
            bus: bus.clone(),
            jobs_waker: waker.clone(),
            http_metrics: HttpMetrics::register(&metrics),
            metrics: metrics.clone(),
            settings: HttpSettings {
                trust_forwarded_headers: cfg.http.trust_forwarded_headers,
                cookie_secure: match cfg.http.cookie_secure {
                    CfgCookieSecure::Auto => CookieSecure::Auto,
                    CfgCookieSecure::Always => CookieSecure::Always,
                    CfgCookieSecure::Never => CookieSecure::Never,
                },
                public_https: cfg.public_url.as_deref().is_some_and(|u| u.starts_with("https://")),
                max_body_bytes: cfg.http.max_body_bytes,
            },
            keyring,
            ready: Arc::new(AtomicBool::new(false)),
            shutdown: shutdown.clone(),
            data_dir: cfg.data_dir.clone(),
            known_migrations: migrations.iter().map(|m| m.step.name().to_string()).collect(),
            log_control: crate::logging::installed(),
            services: Default::default(),
        });

        let routes = all_routes(&modules);
        let mut handlers = Vec::new();
        let mut workers: Vec<(&'static str, Worker)> = Vec::new();
        for m in &modules {
            let mount = m.mount(&platform)?;
            handlers.extend(mount.jobs);
            workers.extend(mount.workers);
            for h in mount.event_handlers {
                bus.add_handler(h);
            }
        }
        let router = gantry_api::app(platform.clone(), routes);

        let tracker = TaskTracker::new();
        tracker.spawn(bus.clone().relay(repos.events.clone(), Duration::from_millis(cfg.events.poll_ms), shutdown.clone()));
        let runner = Runner::new(
            repos.jobs.clone(),
            repos.events.clone(),
            bus.clone(),
            handlers,
            RunnerSettings {
                owner: format!("{}-{}", hostname(), gantry_core::tokens::random_token(4)),
                concurrency: cfg.jobs.concurrency,
                lease: Duration::from_secs(cfg.jobs.lease_seconds),
                poll: Duration::from_millis(cfg.jobs.poll_ms),
                backoff_base: Duration::from_secs(cfg.jobs.backoff_base_seconds),
                backoff_max: Duration::from_secs(cfg.jobs.backoff_max_seconds),
                drain: Duration::from_secs(cfg.shutdown_grace_seconds),
            },
            &waker,
            &metrics,
        );
        tracker.spawn(runner.run(shutdown.clone()));
        for (name, w) in workers {
            tracing::debug!(worker = name, "starting worker");
            tracker.spawn(w(shutdown.clone()));
        }

        let listener = TcpListener::bind(cfg.listen).await.with_context(|| format!("cannot listen on {}", cfg.listen))?;
        let addr = listener.local_addr()?;
        let serve_stop = shutdown.clone();
        let ready = platform.ready.clone();
        let grace = Duration::from_secs(cfg.shutdown_grace_seconds);
        let done = tokio::spawn(async move {
            let server = axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
                .with_graceful_shutdown(serve_stop.clone().cancelled_owned());
            if let Err(e) = server.await {
                tracing::error!(error = %e, "HTTP server failed");
            }
            ready.store(false, Ordering::Release);
            tracker.close();
            if tokio::time::timeout(grace + Duration::from_secs(5), tracker.wait()).await.is_err() {
                tracing::warn!("background work did not stop in time");
            }
            db.close().await;
        });
        platform.ready.store(true, Ordering::Release);
        tracing::info!(%addr, database = platform.db.backend.as_str(), elapsed_ms = started.elapsed().as_millis() as u64, "gantry is ready");
        Ok(App { addr, shutdown, platform, generated_admin_password, done })
    }

    /// Stops accepting requests, drains in-flight requests and background work, and waits for it.
    pub async fn stop(self) {
        self.platform.ready.store(false, Ordering::Release);
        self.shutdown.cancel();
        let _ = self.done.await;
    }

    /// Waits until the app stops by itself (after `shutdown` is cancelled elsewhere).
    pub async fn wait(self) {
        let _ = self.done.await;
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|s| s.trim().to_string()).unwrap_or_else(|_| "gantry".into())
}

/// Installs SIGTERM/SIGINT handlers now and returns a future that resolves
/// on the first signal. Installing before the server announces itself
/// matters: a signal arriving earlier would otherwise kill the process
/// without a graceful shutdown.
pub fn termination() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}
