//! The proxy module's tables: per-server state (with the reconcile lease),
//! generations, and rollouts. No other crate reads them.

use chrono::{DateTime, Utc};
use gantry_core::StoreError;
use gantry_core::jobs::{Job, NewJob};
use gantry_core::repo::Trail;
use gantry_store::Db;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
};
use sea_orm_migration::prelude::{ColumnDef, DeriveIden, Index, MigrationName, MigrationTrait, SchemaManager, Table};

pub mod state {
    use sea_orm::entity::prelude::*;

    /// One row per server the proxy knows.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "proxy_servers")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub server_id: i64,
        pub installed: bool,
        /// JSON `InstallInfo`.
        pub install: Option<String>,
        pub status: String,
        pub status_message: Option<String>,
        pub live_generation_id: Option<i64>,
        pub live_hash: Option<String>,
        pub inflight_generation_id: Option<i64>,
        /// `replica/nonce` of whoever reconciles the server now.
        pub lease_owner: Option<String>,
        pub lease_until: Option<DateTimeUtc>,
        /// An auto-apply job enqueued and not started yet (dedup across replicas).
        pub queued_job_id: Option<i64>,
        pub queued_at: Option<DateTimeUtc>,
        /// After a rollback: the auto-desired hash at that moment; dynamic reconciliation leaves the server alone while it is unchanged.
        pub hold_hash: Option<String>,
        /// JSON `DriftReport` when drifted.
        pub drift: Option<String>,
        pub drift_checked_at: Option<DateTimeUtc>,
        pub version: i64,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod generation {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "proxy_generations")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub server_id: i64,
        pub number: i64,
        pub hash: String,
        /// JSON map file name → content.
        pub files: String,
        /// JSON map domain id → `DomainDigest`.
        pub domains: String,
        pub diff: String,
        /// JSON `DomainChanges`.
        pub changes: String,
        /// Counts of `changes`, so lists never read the big columns.
        pub added: i32,
        pub changed: i32,
        pub removed: i32,
        pub status: String,
        pub trigger: String,
        pub reason: Option<String>,
        pub actor: String,
        pub rollback_of: Option<i64>,
        pub rollout_id: Option<i64>,
        pub job_id: Option<i64>,
        /// The generation that was live when this one started (restored on failure).
        pub previous_id: Option<i64>,
        pub error: Option<String>,
        pub nginx_output: Option<String>,
        /// JSON `Timings`.
        pub timings: String,
        pub created_at: DateTimeUtc,
        pub finished_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A generation without its files, domains, diff and change list: what lists and summaries read.
#[derive(Clone, Debug, PartialEq, Eq, sea_orm::DerivePartialModel)]
#[sea_orm(entity = "generation::Entity", from_query_result)]
pub struct GenerationHead {
    pub id: i64,
    pub server_id: i64,
    pub number: i64,
    pub hash: String,
    pub added: i32,
    pub changed: i32,
    pub removed: i32,
    pub status: String,
    pub trigger: String,
    pub reason: Option<String>,
    pub actor: String,
    pub rollback_of: Option<i64>,
    pub rollout_id: Option<i64>,
    pub job_id: Option<i64>,
    pub error: Option<String>,
    pub nginx_output: Option<String>,
    pub created_at: chrono::DateTime<Utc>,
    pub finished_at: Option<chrono::DateTime<Utc>>,
}

impl From<&generation::Model> for GenerationHead {
    fn from(g: &generation::Model) -> Self {
        Self {
            id: g.id,
            server_id: g.server_id,
            number: g.number,
            hash: g.hash.clone(),
            added: g.added,
            changed: g.changed,
            removed: g.removed,
            status: g.status.clone(),
            trigger: g.trigger.clone(),
            reason: g.reason.clone(),
            actor: g.actor.clone(),
            rollback_of: g.rollback_of,
            rollout_id: g.rollout_id,
            job_id: g.job_id,
            error: g.error.clone(),
            nginx_output: g.nginx_output.clone(),
            created_at: g.created_at,
            finished_at: g.finished_at,
        }
    }
}

pub mod rollout {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "proxy_rollouts")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub status: String,
        pub reason: Option<String>,
        pub trigger: String,
        pub actor: String,
        pub max_parallel: i32,
        pub max_failures: i32,
        pub job_id: Option<i64>,
        pub created_at: DateTimeUtc,
        pub finished_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod target {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "proxy_rollout_targets")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub rollout_id: i64,
        pub server_id: i64,
        pub position: i32,
        pub status: String,
        pub generation_id: Option<i64>,
        pub error: Option<String>,
        pub started_at: Option<DateTimeUtc>,
        pub finished_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

#[derive(DeriveIden)]
enum ProxyServers {
    Table,
    ServerId,
    Installed,
    Install,
    Status,
    StatusMessage,
    LiveGenerationId,
    LiveHash,
    InflightGenerationId,
    LeaseOwner,
    LeaseUntil,
    QueuedJobId,
    QueuedAt,
    HoldHash,
    Drift,
    DriftCheckedAt,
    Version,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ProxyGenerations {
    Table,
    Id,
    ServerId,
    Number,
    Hash,
    Files,
    Domains,
    Diff,
    Changes,
    Added,
    Changed,
    Removed,
    Status,
    Trigger,
    Reason,
    Actor,
    RollbackOf,
    RolloutId,
    JobId,
    PreviousId,
    Error,
    NginxOutput,
    Timings,
    CreatedAt,
    FinishedAt,
}

#[derive(DeriveIden)]
enum ProxyRollouts {
    Table,
    Id,
    Status,
    Reason,
    Trigger,
    Actor,
    MaxParallel,
    MaxFailures,
    JobId,
    CreatedAt,
    FinishedAt,
}

#[derive(DeriveIden)]
enum ProxyRolloutTargets {
    Table,
    Id,
    RolloutId,
    ServerId,
    Position,
    Status,
    GenerationId,
    Error,
    StartedAt,
    FinishedAt,
}

/// `proxy_0001_generations`.
pub struct CreateProxy;

impl MigrationName for CreateProxy {
    fn name(&self) -> &str {
        "proxy_0001_generations"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateProxy {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // Generations hold whole configurations (10,000 domains are a few MB):
        // MySQL's TEXT stops at 64 KiB, so big columns are LONGTEXT there.
        let mysql = m.get_database_backend() == DbBackend::MySql;
        let big = |c: ProxyGenerations| {
            let mut d = ColumnDef::new(c);
            if mysql {
                d.custom(sea_orm::sea_query::Alias::new("LONGTEXT"));
            } else {
                d.text();
            }
            d.not_null().to_owned()
        };
        let ts = |c: ProxyGenerations| ColumnDef::new(c).timestamp_with_time_zone().null().to_owned();
        m.create_table(
            Table::create()
                .table(ProxyServers::Table)
                .col(ColumnDef::new(ProxyServers::ServerId).big_integer().not_null().primary_key())
                .col(ColumnDef::new(ProxyServers::Installed).boolean().not_null().default(false))
                .col(ColumnDef::new(ProxyServers::Install).text().null())
                .col(ColumnDef::new(ProxyServers::Status).string_len(16).not_null())
                .col(ColumnDef::new(ProxyServers::StatusMessage).text().null())
                .col(ColumnDef::new(ProxyServers::LiveGenerationId).big_integer().null())
                .col(ColumnDef::new(ProxyServers::LiveHash).string_len(64).null())
                .col(ColumnDef::new(ProxyServers::InflightGenerationId).big_integer().null())
                .col(ColumnDef::new(ProxyServers::LeaseOwner).string_len(128).null())
                .col(ColumnDef::new(ProxyServers::LeaseUntil).timestamp_with_time_zone().null())
                .col(ColumnDef::new(ProxyServers::QueuedJobId).big_integer().null())
                .col(ColumnDef::new(ProxyServers::QueuedAt).timestamp_with_time_zone().null())
                .col(ColumnDef::new(ProxyServers::HoldHash).string_len(64).null())
                .col(ColumnDef::new(ProxyServers::Drift).text().null())
                .col(ColumnDef::new(ProxyServers::DriftCheckedAt).timestamp_with_time_zone().null())
                .col(ColumnDef::new(ProxyServers::Version).big_integer().not_null().default(1))
                .col(ColumnDef::new(ProxyServers::UpdatedAt).timestamp_with_time_zone().not_null())
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(ProxyGenerations::Table)
                .col(ColumnDef::new(ProxyGenerations::Id).big_integer().not_null().auto_increment().primary_key())
                .col(ColumnDef::new(ProxyGenerations::ServerId).big_integer().not_null())
                .col(ColumnDef::new(ProxyGenerations::Number).big_integer().not_null())
                .col(ColumnDef::new(ProxyGenerations::Hash).string_len(64).not_null())
                .col(big(ProxyGenerations::Files))
                .col(big(ProxyGenerations::Domains))
                .col(big(ProxyGenerations::Diff))
                .col(big(ProxyGenerations::Changes))
                .col(ColumnDef::new(ProxyGenerations::Added).integer().not_null().default(0))
                .col(ColumnDef::new(ProxyGenerations::Changed).integer().not_null().default(0))
                .col(ColumnDef::new(ProxyGenerations::Removed).integer().not_null().default(0))
                .col(ColumnDef::new(ProxyGenerations::Status).string_len(16).not_null())
                .col(ColumnDef::new(ProxyGenerations::Trigger).string_len(16).not_null())
                .col(ColumnDef::new(ProxyGenerations::Reason).text().null())
                .col(ColumnDef::new(ProxyGenerations::Actor).string_len(64).not_null())
                .col(ColumnDef::new(ProxyGenerations::RollbackOf).big_integer().null())
                .col(ColumnDef::new(ProxyGenerations::RolloutId).big_integer().null())
                .col(ColumnDef::new(ProxyGenerations::JobId).big_integer().null())
                .col(ColumnDef::new(ProxyGenerations::PreviousId).big_integer().null())
                .col(ColumnDef::new(ProxyGenerations::Error).text().null())
                .col(ColumnDef::new(ProxyGenerations::NginxOutput).text().null())
                .col(ColumnDef::new(ProxyGenerations::Timings).text().not_null())
                .col(ColumnDef::new(ProxyGenerations::CreatedAt).timestamp_with_time_zone().not_null())
                .col(ts(ProxyGenerations::FinishedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_proxy_generations_number")
                .table(ProxyGenerations::Table)
                .col(ProxyGenerations::ServerId)
                .col(ProxyGenerations::Number)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(ProxyRollouts::Table)
                .col(ColumnDef::new(ProxyRollouts::Id).big_integer().not_null().auto_increment().primary_key())
                .col(ColumnDef::new(ProxyRollouts::Status).string_len(16).not_null())
                .col(ColumnDef::new(ProxyRollouts::Reason).text().null())
                .col(ColumnDef::new(ProxyRollouts::Trigger).string_len(16).not_null())
                .col(ColumnDef::new(ProxyRollouts::Actor).string_len(64).not_null())
                .col(ColumnDef::new(ProxyRollouts::MaxParallel).integer().not_null())
                .col(ColumnDef::new(ProxyRollouts::MaxFailures).integer().not_null())
                .col(ColumnDef::new(ProxyRollouts::JobId).big_integer().null())
                .col(ColumnDef::new(ProxyRollouts::CreatedAt).timestamp_with_time_zone().not_null())
                .col(ColumnDef::new(ProxyRollouts::FinishedAt).timestamp_with_time_zone().null())
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(ProxyRolloutTargets::Table)
                .col(ColumnDef::new(ProxyRolloutTargets::Id).big_integer().not_null().auto_increment().primary_key())
                .col(ColumnDef::new(ProxyRolloutTargets::RolloutId).big_integer().not_null())
                .col(ColumnDef::new(ProxyRolloutTargets::ServerId).big_integer().not_null())
                .col(ColumnDef::new(ProxyRolloutTargets::Position).integer().not_null())
                .col(ColumnDef::new(ProxyRolloutTargets::Status).string_len(16).not_null())
                .col(ColumnDef::new(ProxyRolloutTargets::GenerationId).big_integer().null())
                .col(ColumnDef::new(ProxyRolloutTargets::Error).text().null())
                .col(ColumnDef::new(ProxyRolloutTargets::StartedAt).timestamp_with_time_zone().null())
                .col(ColumnDef::new(ProxyRolloutTargets::FinishedAt).timestamp_with_time_zone().null())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_proxy_rollout_targets_rollout")
                .table(ProxyRolloutTargets::Table)
                .col(ProxyRolloutTargets::RolloutId)
                .to_owned(),
        )
        .await
    }
}

pub(crate) fn db(e: DbErr) -> StoreError {
    match e.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => StoreError::Conflict { field: "number".into() },
        _ => StoreError::Database(e.to_string()),
    }
}

/// Changes to a server's proxy row; `None` leaves a column alone.
#[derive(Debug, Default, Clone)]
pub struct StateChanges {
    pub installed: Option<bool>,
    pub install: Option<Option<String>>,
    pub status: Option<String>,
    pub status_message: Option<Option<String>>,
    pub live: Option<(Option<i64>, Option<String>)>,
    pub inflight: Option<Option<i64>>,
    pub drift: Option<Option<String>>,
    pub drift_checked_at: Option<DateTime<Utc>>,
    pub hold_hash: Option<Option<String>>,
}

/// The proxy repository.
#[derive(Clone)]
pub struct ProxyRepo {
    pub(crate) db: Db,
}

fn expire(ttl: std::time::Duration) -> DateTime<Utc> {
    Utc::now() + chrono::Duration::from_std(ttl).unwrap_or_else(|_| chrono::Duration::seconds(60))
}

impl ProxyRepo {
    /// The row of a server, created (not installed) when missing.
    pub async fn ensure(&self, server_id: i64) -> Result<state::Model, StoreError> {
        if let Some(m) = self.get(server_id).await? {
            return Ok(m);
        }
        let _w = self.db.write_guard().await;
        let row = state::ActiveModel {
            server_id: Set(server_id),
            installed: Set(false),
            install: Set(None),
            status: Set("not_installed".into()),
            status_message: Set(None),
            live_generation_id: Set(None),
            live_hash: Set(None),
            inflight_generation_id: Set(None),
            lease_owner: Set(None),
            lease_until: Set(None),
            queued_job_id: Set(None),
            queued_at: Set(None),
            hold_hash: Set(None),
            drift: Set(None),
            drift_checked_at: Set(None),
            version: Set(1),
            updated_at: Set(Utc::now()),
        };
        match row.insert(self.db.connection()).await {
            Ok(m) => Ok(m),
            // Another replica created it first.
            Err(e) if matches!(e.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_))) => {
                drop(_w);
                self.get(server_id).await?.ok_or(StoreError::NotFound)
            }
            Err(e) => Err(db(e)),
        }
    }

    /// A server's row.
    pub async fn get(&self, server_id: i64) -> Result<Option<state::Model>, StoreError> {
        state::Entity::find_by_id(server_id).one(self.db.connection()).await.map_err(db)
    }

    /// Every row.
    pub async fn all(&self) -> Result<Vec<state::Model>, StoreError> {
        state::Entity::find().order_by_asc(state::Column::ServerId).all(self.db.connection()).await.map_err(db)
    }

    /// Applies changes (with the audit record and events of the change).
    pub async fn update(&self, server_id: i64, c: StateChanges, trail: Trail) -> Result<state::Model, StoreError> {
        let _w = self.db.write_guard().await;
        let txn = self.db.connection().begin().await.map_err(db)?;
        let m = Self::update_in(&txn, server_id, c).await?;
        gantry_store::write_trail(&txn, trail).await?;
        txn.commit().await.map_err(db)?;
        Ok(m)
    }

    async fn update_in<C: ConnectionTrait>(c: &C, server_id: i64, ch: StateChanges) -> Result<state::Model, StoreError> {
        let m = state::Entity::find_by_id(server_id).one(c).await.map_err(db)?.ok_or(StoreError::NotFound)?;
        let version = m.version;
        let mut am: state::ActiveModel = m.into();
        if let Some(v) = ch.installed {
            am.installed = Set(v);
        }
        if let Some(v) = ch.install {
            am.install = Set(v);
        }
        if let Some(v) = ch.status {
            am.status = Set(v);
        }
        if let Some(v) = ch.status_message {
            am.status_message = Set(v);
        }
        if let Some((id, hash)) = ch.live {
            am.live_generation_id = Set(id);
            am.live_hash = Set(hash);
        }
        if let Some(v) = ch.inflight {
            am.inflight_generation_id = Set(v);
        }
        if let Some(v) = ch.drift {
            am.drift = Set(v);
        }
        if let Some(v) = ch.drift_checked_at {
            am.drift_checked_at = Set(Some(v));
        }
        if let Some(v) = ch.hold_hash {
            am.hold_hash = Set(v);
        }
        am.version = Set(version + 1);
        am.updated_at = Set(Utc::now());
        am.update(c).await.map_err(db)
    }

    /// Takes the server's reconcile lease for `owner` if it is free or expired.
    pub async fn acquire(&self, server_id: i64, owner: &str, ttl: std::time::Duration) -> Result<bool, StoreError> {
        let _w = self.db.write_guard().await;
        let now = Utc::now();
        let free = Condition::any()
            .add(state::Column::LeaseOwner.is_null())
            .add(state::Column::LeaseUntil.lt(now))
            .add(state::Column::LeaseOwner.eq(owner));
        let r = state::Entity::update_many()
            .col_expr(state::Column::LeaseOwner, Expr::value(owner))
            .col_expr(state::Column::LeaseUntil, Expr::value(expire(ttl)))
            .filter(state::Column::ServerId.eq(server_id))
            .filter(free)
            .exec(self.db.connection())
            .await
            .map_err(db)?;
        Ok(r.rows_affected == 1)
    }

    /// Extends the lease; false when someone else holds it now.
    pub async fn renew(&self, server_id: i64, owner: &str, ttl: std::time::Duration) -> Result<bool, StoreError> {
        let _w = self.db.write_guard().await;
        let r = state::Entity::update_many()
            .col_expr(state::Column::LeaseUntil, Expr::value(expire(ttl)))
            .filter(state::Column::ServerId.eq(server_id))
            .filter(state::Column::LeaseOwner.eq(owner))
            .exec(self.db.connection())
            .await
            .map_err(db)?;
        Ok(r.rows_affected == 1)
    }

    /// Gives the lease up.
    pub async fn release(&self, server_id: i64, owner: &str) -> Result<(), StoreError> {
        let _w = self.db.write_guard().await;
        state::Entity::update_many()
            .col_expr(state::Column::LeaseOwner, Expr::value(Option::<String>::None))
            .col_expr(state::Column::LeaseUntil, Expr::value(Option::<DateTime<Utc>>::None))
            .filter(state::Column::ServerId.eq(server_id))
            .filter(state::Column::LeaseOwner.eq(owner))
            .exec(self.db.connection())
            .await
            .map_err(db)?;
        Ok(())
    }

    /// Writes events (and an audit record) on their own.
    pub async fn emit(&self, trail: Trail) -> Result<(), StoreError> {
        let _w = self.db.write_guard().await;
        gantry_store::write_trail(self.db.connection(), trail).await
    }

    /// Claims the auto-apply slot of each server that has none waiting
    /// (or only a stale one) and enqueues one job for the claimed servers: an
    /// apply job for one server, a rollout (with its job) for several. The
    /// claims and the inserts are one transaction, and the claims are
    /// conditional updates, so replicas reacting to the same events enqueue
    /// the work once.
    pub async fn enqueue_auto(
        &self,
        server_ids: &[i64],
        stale: std::time::Duration,
        apply_job: impl Fn(i64) -> NewJob,
        rollout_row: rollout::ActiveModel,
        rollout_job: NewJob,
    ) -> Result<Option<Job>, StoreError> {
        let _w = self.db.write_guard().await;
        let txn = self.db.connection().begin().await.map_err(db)?;
        let now = Utc::now();
        let cutoff = now - chrono::Duration::from_std(stale).unwrap_or_else(|_| chrono::Duration::seconds(120));
        let mut claimed = Vec::new();
        for id in server_ids {
            let free = Condition::any().add(state::Column::QueuedJobId.is_null()).add(state::Column::QueuedAt.lt(cutoff));
            let r = state::Entity::update_many()
                .col_expr(state::Column::QueuedJobId, Expr::value(0i64))
                .col_expr(state::Column::QueuedAt, Expr::value(now))
                .filter(state::Column::ServerId.eq(*id))
                .filter(state::Column::Installed.eq(true))
                .filter(free)
                .exec(&txn)
                .await
                .map_err(db)?;
            if r.rows_affected == 1 {
                claimed.push(*id);
            }
        }
        let job = match claimed.as_slice() {
            [] => {
                txn.rollback().await.map_err(db)?;
                return Ok(None);
            }
            [one] => gantry_store::insert_job(&txn, apply_job(*one)).await?,
            many => Self::insert_rollout(&txn, rollout_row, many, rollout_job).await?.1,
        };
        state::Entity::update_many()
            .col_expr(state::Column::QueuedJobId, Expr::value(job.id.0))
            .filter(state::Column::ServerId.is_in(claimed))
            .exec(&txn)
            .await
            .map_err(db)?;
        txn.commit().await.map_err(db)?;
        Ok(Some(job))
    }

    /// Marks a not-installed server as installing; false when it is installed or being installed.
    pub async fn claim_install(&self, server_id: i64) -> Result<bool, StoreError> {
        let _w = self.db.write_guard().await;
        let r = state::Entity::update_many()
            .col_expr(state::Column::Status, Expr::value("installing"))
            .filter(state::Column::ServerId.eq(server_id))
            .filter(state::Column::Installed.eq(false))
            .filter(state::Column::Status.eq("not_installed"))
            .exec(self.db.connection())
            .await
            .map_err(db)?;
        Ok(r.rows_affected == 1)
    }

    /// The queued job started: later changes need a new job.
    pub async fn dequeue(&self, server_id: i64, job_id: i64) -> Result<(), StoreError> {
        let _w = self.db.write_guard().await;
        state::Entity::update_many()
            .col_expr(state::Column::QueuedJobId, Expr::value(Option::<i64>::None))
            .col_expr(state::Column::QueuedAt, Expr::value(Option::<DateTime<Utc>>::None))
            .filter(state::Column::ServerId.eq(server_id))
            .filter(state::Column::QueuedJobId.eq(job_id))
            .exec(self.db.connection())
            .await
            .map_err(db)?;
        Ok(())
    }

    /// Forgets a server (it was deleted): its row and its generations.
    pub async fn forget(&self, server_id: i64) -> Result<(), StoreError> {
        let _w = self.db.write_guard().await;
        let txn = self.db.connection().begin().await.map_err(db)?;
        generation::Entity::delete_many().filter(generation::Column::ServerId.eq(server_id)).exec(&txn).await.map_err(db)?;
        state::Entity::delete_by_id(server_id).exec(&txn).await.map_err(db)?;
        txn.commit().await.map_err(db)
    }

    // ----- generations -----

    /// Inserts a generation with the next number and marks it in flight, in one transaction.
    pub async fn begin_generation(&self, g: generation::ActiveModel, trail: Trail) -> Result<generation::Model, StoreError> {
        let _w = self.db.write_guard().await;
        let txn = self.db.connection().begin().await.map_err(db)?;
        let server_id = match &g.server_id {
            sea_orm::ActiveValue::Set(v) | sea_orm::ActiveValue::Unchanged(v) => *v,
            sea_orm::ActiveValue::NotSet => return Err(StoreError::Corrupt("generation without server".into())),
        };
        let last = generation::Entity::find()
            .filter(generation::Column::ServerId.eq(server_id))
            .order_by_desc(generation::Column::Number)
            .limit(1)
            .one(&txn)
            .await
            .map_err(db)?
            .map(|m| m.number)
            .unwrap_or(0);
        let mut g = g;
        g.number = Set(last + 1);
        let row = g.insert(&txn).await.map_err(db)?;
        Self::update_in(
            &txn,
            server_id,
            StateChanges { inflight: Some(Some(row.id)), status: Some("applying".into()), ..Default::default() },
        )
        .await?;
        gantry_store::write_trail(&txn, trail).await?;
        txn.commit().await.map_err(db)?;
        Ok(row)
    }

    /// Records a generation's outcome and the server's new state together.
    pub async fn finish_generation(
        &self,
        g: generation::ActiveModel,
        superseded: Option<i64>,
        server_id: i64,
        state: StateChanges,
        trail: Trail,
    ) -> Result<generation::Model, StoreError> {
        let _w = self.db.write_guard().await;
        let txn = self.db.connection().begin().await.map_err(db)?;
        let row = g.update(&txn).await.map_err(db)?;
        if let Some(old) = superseded.filter(|o| *o != row.id) {
            generation::Entity::update_many()
                .col_expr(generation::Column::Status, Expr::value("superseded"))
                .filter(generation::Column::Id.eq(old))
                .filter(generation::Column::Status.eq("live"))
                .exec(&txn)
                .await
                .map_err(db)?;
        }
        Self::update_in(&txn, server_id, state).await?;
        gantry_store::write_trail(&txn, trail).await?;
        txn.commit().await.map_err(db)?;
        Ok(row)
    }

    /// Updates a generation's columns.
    pub async fn update_generation(&self, g: generation::ActiveModel) -> Result<generation::Model, StoreError> {
        let _w = self.db.write_guard().await;
        g.update(self.db.connection()).await.map_err(db)
    }

    /// A generation by id.
    pub async fn generation(&self, id: i64) -> Result<Option<generation::Model>, StoreError> {
        generation::Entity::find_by_id(id).one(self.db.connection()).await.map_err(db)
    }

    /// A server's generation by number.
    pub async fn generation_by_number(&self, server_id: i64, number: i64) -> Result<Option<generation::Model>, StoreError> {
        generation::Entity::find()
            .filter(generation::Column::ServerId.eq(server_id))
            .filter(generation::Column::Number.eq(number))
            .one(self.db.connection())
            .await
            .map_err(db)
    }

    /// A server's generations, newest first, without their big columns.
    pub async fn generations(&self, server_id: i64, before: Option<i64>, limit: u64) -> Result<Vec<GenerationHead>, StoreError> {
        let mut q = generation::Entity::find()
            .filter(generation::Column::ServerId.eq(server_id))
            .order_by_desc(generation::Column::Number)
            .limit(limit + 1);
        if let Some(b) = before {
            q = q.filter(generation::Column::Number.lt(b));
        }
        q.into_partial_model::<GenerationHead>().all(self.db.connection()).await.map_err(db)
    }

    /// One generation without its big columns.
    pub async fn generation_head(&self, id: i64) -> Result<Option<GenerationHead>, StoreError> {
        generation::Entity::find_by_id(id).into_partial_model::<GenerationHead>().one(self.db.connection()).await.map_err(db)
    }

    /// The newest generation numbers of a server (for what stays on disk).
    pub async fn recent_numbers(&self, server_id: i64, n: u64) -> Result<Vec<i64>, StoreError> {
        generation::Entity::find()
            .select_only()
            .column(generation::Column::Number)
            .filter(generation::Column::ServerId.eq(server_id))
            .order_by_desc(generation::Column::Number)
            .limit(n)
            .into_tuple::<i64>()
            .all(self.db.connection())
            .await
            .map_err(db)
    }

    /// Deletes generations beyond the newest `keep` (never the live or in-flight one).
    pub async fn prune(&self, server_id: i64, keep: u64, protect: &[i64]) -> Result<u64, StoreError> {
        let numbers = self.recent_numbers(server_id, keep).await?;
        let Some(oldest_kept) = numbers.last().copied() else { return Ok(0) };
        if (numbers.len() as u64) < keep {
            return Ok(0);
        }
        let _w = self.db.write_guard().await;
        let r = generation::Entity::delete_many()
            .filter(generation::Column::ServerId.eq(server_id))
            .filter(generation::Column::Number.lt(oldest_kept))
            .filter(generation::Column::Id.is_not_in(protect.to_vec()))
            .exec(self.db.connection())
            .await
            .map_err(db)?;
        Ok(r.rows_affected)
    }

    // ----- rollouts -----

    /// Creates a rollout with its targets (canary first) and the job that runs it.
    pub async fn create_rollout(
        &self,
        r: rollout::ActiveModel,
        servers: &[i64],
        job: NewJob,
        trail: Trail,
    ) -> Result<(rollout::Model, Job), StoreError> {
        let _w = self.db.write_guard().await;
        let txn = self.db.connection().begin().await.map_err(db)?;
        let (row, j) = Self::insert_rollout(&txn, r, servers, job).await?;
        let mut trail = trail;
        if let Some(a) = trail.audit.as_mut() {
            a.entity_id = Some(row.id.to_string());
        }
        gantry_store::write_trail(&txn, trail).await?;
        txn.commit().await.map_err(db)?;
        Ok((row, j))
    }

    async fn insert_rollout<C: ConnectionTrait>(
        c: &C,
        r: rollout::ActiveModel,
        servers: &[i64],
        job: NewJob,
    ) -> Result<(rollout::Model, Job), StoreError> {
        let row = r.insert(c).await.map_err(db)?;
        for (i, sid) in servers.iter().enumerate() {
            target::ActiveModel {
                rollout_id: Set(row.id),
                server_id: Set(*sid),
                position: Set(i32::try_from(i).unwrap_or(i32::MAX)),
                status: Set("waiting".into()),
                generation_id: Set(None),
                error: Set(None),
                started_at: Set(None),
                finished_at: Set(None),
                ..Default::default()
            }
            .insert(c)
            .await
            .map_err(db)?;
        }
        let mut job = job;
        job.payload["rollout_id"] = serde_json::Value::from(row.id);
        let j = gantry_store::insert_job(c, job).await?;
        let mut am: rollout::ActiveModel = row.into();
        am.job_id = Set(Some(j.id.0));
        let row = am.update(c).await.map_err(db)?;
        Ok((row, j))
    }

    /// A rollout and its targets.
    pub async fn rollout(&self, id: i64) -> Result<Option<(rollout::Model, Vec<target::Model>)>, StoreError> {
        let Some(r) = rollout::Entity::find_by_id(id).one(self.db.connection()).await.map_err(db)? else { return Ok(None) };
        let t = target::Entity::find()
            .filter(target::Column::RolloutId.eq(id))
            .order_by_asc(target::Column::Position)
            .all(self.db.connection())
            .await
            .map_err(db)?;
        Ok(Some((r, t)))
    }

    /// Rollouts, newest first.
    pub async fn rollouts(&self, before: Option<i64>, limit: u64) -> Result<Vec<rollout::Model>, StoreError> {
        let mut q = rollout::Entity::find().order_by_desc(rollout::Column::Id).limit(limit + 1);
        if let Some(b) = before {
            q = q.filter(rollout::Column::Id.lt(b));
        }
        q.all(self.db.connection()).await.map_err(db)
    }

    /// Updates one target.
    pub async fn update_target(&self, t: target::ActiveModel) -> Result<target::Model, StoreError> {
        let _w = self.db.write_guard().await;
        t.update(self.db.connection()).await.map_err(db)
    }

    /// Finishes a rollout.
    pub async fn finish_rollout(&self, id: i64, status: &str, trail: Trail) -> Result<(), StoreError> {
        let _w = self.db.write_guard().await;
        let txn = self.db.connection().begin().await.map_err(db)?;
        rollout::Entity::update_many()
            .col_expr(rollout::Column::Status, Expr::value(status))
            .col_expr(rollout::Column::FinishedAt, Expr::value(Utc::now()))
            .filter(rollout::Column::Id.eq(id))
            .exec(&txn)
            .await
            .map_err(db)?;
        gantry_store::write_trail(&txn, trail).await?;
        txn.commit().await.map_err(db)
    }
}
