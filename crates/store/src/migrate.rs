//! The one migration path for SQLite, MySQL/MariaDB and PostgreSQL.
//!
//! Migrations are sea-orm-migration steps written once with sea-query
//! builders. Each applied step is recorded by name in `gantry_migrations`.
//! All pending steps run under a database-wide lock (a transaction-scoped
//! advisory lock on PostgreSQL, `GET_LOCK` on MySQL, SQLite's write lock),
//! so several replicas or processes starting at once never race; the second one
//! finds nothing left to do. A database that has steps this binary does not
//! know was migrated by a newer Gantry and is refused, since running old code
//! on a new schema could corrupt data.

use crate::{Backend, Db, error::scrub};
use chrono::Utc;
use sea_orm::{ConnectionTrait, Statement, TransactionTrait};
use sea_orm_migration::prelude::*;
use std::collections::HashSet;

/// A migration contributed by a module, tagged with the module's name.
pub struct ModuleMigration {
    /// The contributing module (`platform`, `servers`, …).
    pub module: &'static str,
    /// The step.
    pub step: Box<dyn MigrationTrait>,
}

/// Why migrating failed.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The database was migrated by a newer Gantry.
    #[error(
        "the database schema is newer than this gantry binary (it has migrations this version does not know: {0}); run a newer gantry or restore a backup"
    )]
    DatabaseNewer(String),
    /// Two modules registered the same migration name.
    #[error("migration name {0} is registered twice")]
    Duplicate(String),
    /// A step failed.
    #[error("migration {name} failed: {reason}")]
    Step {
        /// Step name.
        name: String,
        /// What went wrong.
        reason: String,
    },
    /// The database failed outside a step.
    #[error("database error while migrating: {0}")]
    Database(String),
}

/// Where the schema stands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    /// Applied and known.
    pub applied: Vec<String>,
    /// Known but not applied.
    pub pending: Vec<String>,
    /// Applied but unknown to this binary (a newer Gantry ran here).
    pub unknown: Vec<String>,
}

#[derive(DeriveIden)]
enum GantryMigrations {
    Table,
    Name,
    Module,
    AppliedAt,
}

/// The platform's own migrations, tagged.
pub fn platform() -> Vec<ModuleMigration> {
    crate::migrations::platform().into_iter().map(|step| ModuleMigration { module: "platform", step }).collect()
}

fn dberr(e: DbErr) -> MigrateError {
    MigrateError::Database(scrub(&e.to_string()))
}

async fn ensure_table<C: ConnectionTrait>(c: &C) -> Result<(), MigrateError> {
    let stmt = Table::create()
        .table(GantryMigrations::Table)
        .if_not_exists()
        .col(ColumnDef::new(GantryMigrations::Name).string_len(128).not_null().primary_key())
        .col(ColumnDef::new(GantryMigrations::Module).string_len(64).not_null())
        .col(ColumnDef::new(GantryMigrations::AppliedAt).timestamp_with_time_zone().not_null())
        .to_owned();
    c.execute(&stmt).await.map_err(dberr)?;
    Ok(())
}

async fn applied<C: ConnectionTrait>(c: &C) -> Result<Vec<String>, MigrateError> {
    let q = Query::select().column(GantryMigrations::Name).from(GantryMigrations::Table).to_owned();
    let rows = c.query_all(&q).await.map_err(dberr)?;
    rows.iter().map(|r| r.try_get::<String>("", "name").map_err(dberr)).collect()
}

fn status_of(known: &[ModuleMigration], applied: Vec<String>) -> Status {
    let applied_set: HashSet<&str> = applied.iter().map(String::as_str).collect();
    let known_set: HashSet<&str> = known.iter().map(|m| m.step.name()).collect();
    Status {
        applied: known.iter().map(|m| m.step.name()).filter(|n| applied_set.contains(n)).map(String::from).collect(),
        pending: known.iter().map(|m| m.step.name()).filter(|n| !applied_set.contains(n)).map(String::from).collect(),
        unknown: applied.iter().filter(|n| !known_set.contains(n.as_str())).cloned().collect(),
    }
}

/// Reports applied, pending and unknown migrations without changing anything.
pub async fn status(db: &Db, known: &[ModuleMigration]) -> Result<Status, MigrateError> {
    ensure_table(&db.conn).await?;
    Ok(status_of(known, applied(&db.conn).await?))
}

async fn apply_pending(txn: &sea_orm::DatabaseTransaction, known: &[ModuleMigration]) -> Result<Vec<String>, MigrateError> {
    let st = status_of(known, applied(txn).await?);
    if !st.unknown.is_empty() {
        return Err(MigrateError::DatabaseNewer(st.unknown.join(", ")));
    }
    let mut done = Vec::new();
    for m in known.iter().filter(|m| st.pending.iter().any(|p| p == m.step.name())) {
        let name = m.step.name().to_string();
        tracing::info!(migration = %name, module = m.module, "applying migration");
        let manager = SchemaManager::new(txn);
        m.step.up(&manager).await.map_err(|e| MigrateError::Step { name: name.clone(), reason: scrub(&e.to_string()) })?;
        let ins = Query::insert()
            .into_table(GantryMigrations::Table)
            .columns([GantryMigrations::Name, GantryMigrations::Module, GantryMigrations::AppliedAt])
            .values([name.clone().into(), m.module.into(), Utc::now().into()])
            .map_err(|e| MigrateError::Database(e.to_string()))?
            .to_owned();
        txn.execute(&ins).await.map_err(dberr)?;
        done.push(name);
    }
    Ok(done)
}

/// Applies every pending migration, in order; returns the names applied.
#[tracing::instrument(skip_all, fields(backend = db.backend.as_str()))]
pub async fn run(db: &Db, known: &[ModuleMigration]) -> Result<Vec<String>, MigrateError> {
    let mut seen = HashSet::new();
    for m in known {
        if !seen.insert(m.step.name()) {
            return Err(MigrateError::Duplicate(m.step.name().to_string()));
        }
    }
    let _writer = db.write_guard().await;
    if db.backend == Backend::Sqlite {
        // Before the transaction: its first statement must be a write (below).
        ensure_table(&db.conn).await?;
    }
    // One transaction holds one connection, so the session-level MySQL lock
    // and the transaction-level PostgreSQL lock both cover every step.
    // MySQL commits DDL implicitly; the lock still serializes replicas.
    let txn = db.conn.begin().await.map_err(dberr)?;
    let backend = txn.get_database_backend();
    match db.backend {
        Backend::Postgres => {
            txn.execute_raw(Statement::from_string(backend, "SELECT pg_advisory_xact_lock(7263537952)")).await.map_err(dberr)?;
        }
        Backend::MySql => {
            let row =
                txn.query_one_raw(Statement::from_string(backend, "SELECT GET_LOCK('gantry_migrate', 120) AS got")).await.map_err(dberr)?;
            let got: Option<i64> = row.and_then(|r| r.try_get("", "got").ok());
            if got != Some(1) {
                return Err(MigrateError::Database("timed out waiting for another replica's migration lock".into()));
            }
        }
        Backend::Sqlite => {
            // The writer lock above covers this process only. Another
            // process on the same file (a second `gantry migrate`, a server
            // starting) is kept out by SQLite's own write lock, taken first
            // here: a deferred transaction that reads and only later writes
            // gets SQLITE_BUSY at once when the other got there first,
            // while a write as the first statement waits (busy_timeout).
            txn.execute_raw(Statement::from_string(backend, "DELETE FROM gantry_migrations WHERE 1 = 0")).await.map_err(dberr)?;
        }
    }
    let result = async {
        if db.backend != Backend::Sqlite {
            // Under the lock: PostgreSQL's CREATE TABLE IF NOT EXISTS is not
            // safe against a concurrent creator (it fails on pg_type's
            // unique index), and on MySQL the lock must be released below
            // whatever happens here.
            ensure_table(&txn).await?;
        }
        apply_pending(&txn, known).await
    }
    .await;
    if db.backend == Backend::MySql {
        // Session-level lock: release it on every path, or the pooled
        // connection would keep it and block the next migrator.
        txn.execute_raw(Statement::from_string(backend, "DO RELEASE_LOCK('gantry_migrate')")).await.map_err(dberr)?;
    }
    let done = result?;
    txn.commit().await.map_err(dberr)?;
    Ok(done)
}
