//! Gantry's persistence layer: the only crate that speaks SQL.
//!
//! It implements the repository traits of `gantry-core` with sea-orm over
//! SQLite, MySQL/MariaDB and PostgreSQL, chosen at runtime from the database
//! URL, and runs the one migration path that serves all three (platform
//! migrations first, then each module's, recorded in `gantry_migrations`).
//!
//! On SQLite every write goes through one async mutex: SQLite allows a single
//! writer, and serializing writers in-process avoids `SQLITE_BUSY` failures
//! when a deferred transaction tries to upgrade to a write lock.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::await_holding_lock)]

mod entities;
mod error;
pub mod migrate;
mod migrations;
mod repos;

pub use migrate::{MigrateError, ModuleMigration};
pub use repos::{Repos, contains_lowercase, insert_job, write_trail};
/// Re-exported for module crates' own repositories.
pub use sea_orm;
/// Re-exported so module crates write migrations against the same version.
pub use sea_orm_migration;

use sea_orm::{ConnectOptions, DatabaseConnection, DbBackend};
use std::sync::Arc;
use std::time::Duration;

/// Which database engine is behind a URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite (the default).
    Sqlite,
    /// MySQL or MariaDB.
    MySql,
    /// PostgreSQL.
    Postgres,
}

impl Backend {
    /// Detects the backend from a URL scheme; `None` for anything else.
    pub fn from_url(url: &str) -> Option<Self> {
        let scheme = url.split(':').next()?;
        match scheme {
            "sqlite" => Some(Backend::Sqlite),
            "mysql" | "mariadb" => Some(Backend::MySql),
            "postgres" | "postgresql" => Some(Backend::Postgres),
            _ => None,
        }
    }

    /// Lowercase name for logs and metrics.
    pub fn as_str(&self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::MySql => "mysql",
            Backend::Postgres => "postgres",
        }
    }
}

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The URL scheme is not one we support.
    #[error("unsupported database URL scheme (use sqlite://, mysql:// or postgres://)")]
    Scheme,
    /// The server refused or could not be reached.
    #[error("cannot connect to the {backend} database: {reason}")]
    Connect {
        /// Backend name.
        backend: &'static str,
        /// Driver message (never contains the password: URLs are not echoed).
        reason: String,
    },
}

/// Pool settings.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    /// Maximum open connections.
    pub max_connections: u32,
    /// Connections kept open when idle.
    pub min_connections: u32,
    /// How long to wait for a free connection.
    pub acquire_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self { max_connections: 16, min_connections: 1, acquire_timeout: Duration::from_secs(5) }
    }
}

/// A connection pool plus what the repositories need to know about it.
#[derive(Clone)]
pub struct Db {
    /// The sea-orm pool.
    pub(crate) conn: DatabaseConnection,
    /// Which engine.
    pub backend: Backend,
    /// SQLite's single-writer lock; `None` on server databases.
    pub(crate) writer: Option<Arc<tokio::sync::Mutex<()>>>,
}

/// Statistics about the pool, for `/metrics`.
#[derive(Debug, Clone, Copy, Default)]
pub struct PoolStats {
    /// Open connections.
    pub size: u32,
    /// Idle connections.
    pub idle: u32,
    /// Configured maximum.
    pub max: u32,
}

impl Db {
    /// Opens a pool for `url`. For SQLite the file (and its directory's
    /// existence is the caller's job) is created if missing, in WAL mode.
    pub async fn connect(url: &str, pool: &PoolSettings) -> Result<Self, ConnectError> {
        let backend = Backend::from_url(url).ok_or(ConnectError::Scheme)?;
        let mut opts = ConnectOptions::new(url.to_string());
        opts.max_connections(pool.max_connections)
            .min_connections(pool.min_connections)
            .acquire_timeout(pool.acquire_timeout)
            .connect_timeout(pool.acquire_timeout)
            .sqlx_logging(false);
        if backend == Backend::Sqlite {
            opts.map_sqlx_sqlite_opts(|o| {
                o.create_if_missing(true)
                    .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                    .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true)
            });
        }
        let conn = sea_orm::Database::connect(opts)
            .await
            .map_err(|e| ConnectError::Connect { backend: backend.as_str(), reason: error::scrub(&e.to_string()) })?;
        let writer = (backend == Backend::Sqlite).then(|| Arc::new(tokio::sync::Mutex::new(())));
        Ok(Self { conn, backend, writer })
    }

    /// Checks the database answers.
    pub async fn ping(&self) -> bool {
        self.conn.ping().await.is_ok()
    }

    /// The pool's current numbers.
    pub fn pool_stats(&self) -> PoolStats {
        match self.conn.get_database_backend() {
            DbBackend::Sqlite => {
                let p = self.conn.get_sqlite_connection_pool();
                PoolStats { size: p.size(), idle: u32::try_from(p.num_idle()).unwrap_or(0), max: p.options().get_max_connections() }
            }
            DbBackend::MySql => {
                let p = self.conn.get_mysql_connection_pool();
                PoolStats { size: p.size(), idle: u32::try_from(p.num_idle()).unwrap_or(0), max: p.options().get_max_connections() }
            }
            _ => {
                let p = self.conn.get_postgres_connection_pool();
                PoolStats { size: p.size(), idle: u32::try_from(p.num_idle()).unwrap_or(0), max: p.options().get_max_connections() }
            }
        }
    }

    /// Takes SQLite's writer lock (a no-op guard on server databases).
    pub async fn write_guard(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match &self.writer {
            Some(m) => Some(m.lock().await),
            None => None,
        }
    }

    /// The sea-orm connection, for module crates' own repositories.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.conn
    }

    /// Closes the pool.
    pub async fn close(self) {
        let _ = self.conn.close().await;
    }

    /// The database backend as sea-orm sees it.
    pub fn db_backend(&self) -> DbBackend {
        self.conn.get_database_backend()
    }
}
