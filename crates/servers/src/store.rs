//! The servers table: entity, migration and repository.
//!
//! The module owns its table (see docs/architecture.md): the rest of Gantry
//! reaches servers only through [`crate::ServersService`].

use chrono::{DateTime, Utc};
use gantry_core::StoreError;
use gantry_core::repo::Trail;
use gantry_store::Db;
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{Condition, QueryOrder, QuerySelect, TransactionTrait};
use sea_orm_migration::prelude::{ColumnDef, DeriveIden, Index, MigrationName, MigrationTrait, SchemaManager, Table};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "servers")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub name: String,
    pub address: String,
    pub port: i32,
    pub ssh_user: String,
    pub privilege: String,
    pub labels: String,
    pub description: String,
    pub parameters: String,
    pub key_enc: String,
    pub key_type: String,
    pub key_fingerprint: String,
    pub public_key: String,
    pub key_generated: bool,
    pub host_key: Option<String>,
    pub host_key_pending: Option<String>,
    pub status: String,
    pub status_message: Option<String>,
    pub last_seen_at: Option<DateTimeUtc>,
    pub last_checked_at: Option<DateTimeUtc>,
    pub facts: Option<String>,
    pub last_check_job_id: Option<i64>,
    pub version: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

#[derive(DeriveIden)]
enum Servers {
    Table,
    Id,
    Name,
    Address,
    Port,
    SshUser,
    Privilege,
    Labels,
    Description,
    Parameters,
    KeyEnc,
    KeyType,
    KeyFingerprint,
    PublicKey,
    KeyGenerated,
    HostKey,
    HostKeyPending,
    Status,
    StatusMessage,
    LastSeenAt,
    LastCheckedAt,
    Facts,
    LastCheckJobId,
    Version,
    CreatedAt,
    UpdatedAt,
}

/// `servers_0001_inventory`.
pub struct CreateServers;

impl MigrationName for CreateServers {
    fn name(&self) -> &str {
        "servers_0001_inventory"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateServers {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let s = |c: Servers, n: u32| ColumnDef::new(c).string_len(n).not_null().to_owned();
        let s_null = |c: Servers, n: u32| ColumnDef::new(c).string_len(n).null().to_owned();
        let ts_null = |c: Servers| ColumnDef::new(c).timestamp_with_time_zone().null().to_owned();
        m.create_table(
            Table::create()
                .table(Servers::Table)
                .col(ColumnDef::new(Servers::Id).big_integer().not_null().auto_increment().primary_key())
                .col(s(Servers::Name, 64))
                .col(s(Servers::Address, 253))
                .col(ColumnDef::new(Servers::Port).integer().not_null())
                .col(s(Servers::SshUser, 32))
                .col(s(Servers::Privilege, 8))
                .col(ColumnDef::new(Servers::Labels).text().not_null())
                .col(ColumnDef::new(Servers::Description).text().not_null())
                .col(ColumnDef::new(Servers::Parameters).text().not_null())
                .col(ColumnDef::new(Servers::KeyEnc).text().not_null())
                .col(s(Servers::KeyType, 64))
                .col(s(Servers::KeyFingerprint, 64))
                .col(ColumnDef::new(Servers::PublicKey).text().not_null())
                .col(ColumnDef::new(Servers::KeyGenerated).boolean().not_null())
                .col(s_null(Servers::HostKey, 64))
                .col(s_null(Servers::HostKeyPending, 64))
                .col(s(Servers::Status, 24))
                .col(ColumnDef::new(Servers::StatusMessage).text().null())
                .col(ts_null(Servers::LastSeenAt))
                .col(ts_null(Servers::LastCheckedAt))
                .col(ColumnDef::new(Servers::Facts).text().null())
                .col(ColumnDef::new(Servers::LastCheckJobId).big_integer().null())
                .col(ColumnDef::new(Servers::Version).big_integer().not_null().default(1))
                .col(ColumnDef::new(Servers::CreatedAt).timestamp_with_time_zone().not_null())
                .col(ColumnDef::new(Servers::UpdatedAt).timestamp_with_time_zone().not_null())
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("ux_servers_name").table(Servers::Table).col(Servers::Name).unique().to_owned()).await?;
        m.create_index(Index::create().name("ix_servers_status").table(Servers::Table).col(Servers::Status).to_owned()).await
    }
}

fn db(e: DbErr) -> StoreError {
    match e.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => StoreError::Conflict { field: "name".into() },
        _ => StoreError::Database(e.to_string()),
    }
}

/// Column changes for an update; `None` leaves a column alone.
#[derive(Debug, Default, Clone)]
pub struct Changes {
    pub name: Option<String>,
    pub address: Option<String>,
    pub port: Option<i32>,
    pub ssh_user: Option<String>,
    pub privilege: Option<String>,
    pub labels: Option<String>,
    pub description: Option<String>,
    pub parameters: Option<String>,
    pub key: Option<(String, String, String, String, bool)>,
    pub host_key: Option<Option<String>>,
    pub host_key_pending: Option<Option<String>>,
    pub status: Option<String>,
}

/// Filters for listing.
#[derive(Debug, Default, Clone)]
pub struct ListFilter {
    pub q: Option<String>,
    pub status: Option<String>,
    pub label: Option<(String, String)>,
}

/// The servers repository.
#[derive(Clone)]
pub struct ServerRepo {
    pub(crate) db: Db,
}

impl ServerRepo {
    pub async fn insert(&self, m: ActiveModel, trail: Trail) -> Result<Model, StoreError> {
        let _w = self.db.write_guard().await;
        let txn = self.db.connection().begin().await.map_err(db)?;
        let row = m.insert(&txn).await.map_err(db)?;
        let mut trail = trail;
        if let Some(a) = trail.audit.as_mut() {
            a.entity_id = Some(row.id.to_string());
        }
        gantry_store::write_trail(&txn, trail).await?;
        txn.commit().await.map_err(db)?;
        Ok(row)
    }

    pub async fn get(&self, id: i64) -> Result<Model, StoreError> {
        Entity::find_by_id(id).one(self.db.connection()).await.map_err(db)?.ok_or(StoreError::NotFound)
    }

    pub async fn all(&self) -> Result<Vec<Model>, StoreError> {
        Entity::find().order_by_asc(Column::Id).all(self.db.connection()).await.map_err(db)
    }

    pub async fn list(&self, f: &ListFilter, after: Option<i64>, limit: u64) -> Result<Vec<Model>, StoreError> {
        let mut q = Entity::find().order_by_asc(Column::Id).limit(limit + 1);
        if let Some(a) = after {
            q = q.filter(Column::Id.gt(a));
        }
        if let Some(t) = f.q.as_deref().filter(|s| !s.is_empty()) {
            let pat = format!("%{}%", t.to_lowercase());
            q = q.filter(
                Condition::any()
                    .add(Column::Name.like(pat.clone()))
                    .add(Column::Address.like(pat.clone()))
                    .add(Expr::expr(Func::lower(Expr::col(Column::Description))).like(pat)),
            );
        }
        if let Some(s) = &f.status {
            q = q.filter(Column::Status.eq(s.as_str()));
        }
        if let Some((k, v)) = &f.label {
            // Labels are stored as a JSON object with sorted keys; match the exact pair.
            let pair = serde_json::to_string(&serde_json::json!({k: v})).unwrap_or_default();
            let inner = pair.trim_start_matches('{').trim_end_matches('}').to_string();
            q = q.filter(Column::Labels.contains(inner));
        }
        q.all(self.db.connection()).await.map_err(db)
    }

    /// Applies `c` if the version matches (or unconditionally for status-only writes with `None`).
    pub async fn update(&self, id: i64, expected: Option<i64>, c: Changes, trail: Trail) -> Result<Model, StoreError> {
        let _w = self.db.write_guard().await;
        let txn = self.db.connection().begin().await.map_err(db)?;
        let now = Utc::now();
        let mut u = Entity::update_many()
            .col_expr(Column::Version, Expr::col(Column::Version).add(1))
            .col_expr(Column::UpdatedAt, Expr::value(now))
            .filter(Column::Id.eq(id));
        if let Some(v) = expected {
            u = u.filter(Column::Version.eq(v));
        }
        macro_rules! set {
            ($field:ident, $col:expr) => {
                if let Some(v) = c.$field {
                    u = u.col_expr($col, Expr::value(v));
                }
            };
        }
        set!(name, Column::Name);
        set!(address, Column::Address);
        set!(port, Column::Port);
        set!(ssh_user, Column::SshUser);
        set!(privilege, Column::Privilege);
        set!(labels, Column::Labels);
        set!(description, Column::Description);
        set!(parameters, Column::Parameters);
        set!(host_key, Column::HostKey);
        set!(host_key_pending, Column::HostKeyPending);
        set!(status, Column::Status);
        if let Some((enc, kind, fp, public, generated)) = c.key {
            u = u
                .col_expr(Column::KeyEnc, Expr::value(enc))
                .col_expr(Column::KeyType, Expr::value(kind))
                .col_expr(Column::KeyFingerprint, Expr::value(fp))
                .col_expr(Column::PublicKey, Expr::value(public))
                .col_expr(Column::KeyGenerated, Expr::value(generated));
        }
        let res = u.exec(&txn).await.map_err(db)?;
        if res.rows_affected == 0 {
            let cur = Entity::find_by_id(id).one(&txn).await.map_err(db)?.ok_or(StoreError::NotFound)?;
            return Err(StoreError::Stale { current: cur.version });
        }
        gantry_store::write_trail(&txn, trail).await?;
        let row = Entity::find_by_id(id).one(&txn).await.map_err(db)?.ok_or(StoreError::NotFound)?;
        txn.commit().await.map_err(db)?;
        Ok(row)
    }

    /// Records a check or probe outcome (no version bump: it is observation, not configuration).
    #[allow(clippy::too_many_arguments)]
    pub async fn observe(
        &self,
        id: i64,
        status: &str,
        message: Option<String>,
        seen: Option<DateTime<Utc>>,
        checked: Option<DateTime<Utc>>,
        facts: Option<String>,
        host_key: Option<Option<String>>,
        host_key_pending: Option<Option<String>>,
        trail: Trail,
    ) -> Result<(), StoreError> {
        let _w = self.db.write_guard().await;
        let txn = self.db.connection().begin().await.map_err(db)?;
        let mut u = Entity::update_many()
            .col_expr(Column::Status, Expr::value(status))
            .col_expr(Column::StatusMessage, Expr::value(message))
            .filter(Column::Id.eq(id));
        if let Some(t) = seen {
            u = u.col_expr(Column::LastSeenAt, Expr::value(t));
        }
        if let Some(t) = checked {
            u = u.col_expr(Column::LastCheckedAt, Expr::value(t));
        }
        if let Some(f) = facts {
            u = u.col_expr(Column::Facts, Expr::value(f));
        }
        if let Some(h) = host_key {
            u = u.col_expr(Column::HostKey, Expr::value(h));
        }
        if let Some(h) = host_key_pending {
            u = u.col_expr(Column::HostKeyPending, Expr::value(h));
        }
        u.exec(&txn).await.map_err(db)?;
        gantry_store::write_trail(&txn, trail).await?;
        txn.commit().await.map_err(db)
    }

    /// Remembers the latest check job, so the panel can show its steps after a reload.
    pub async fn set_last_check(&self, id: i64, job_id: i64) -> Result<(), StoreError> {
        let _w = self.db.write_guard().await;
        Entity::update_many()
            .col_expr(Column::LastCheckJobId, Expr::value(job_id))
            .filter(Column::Id.eq(id))
            .exec(self.db.connection())
            .await
            .map_err(db)?;
        Ok(())
    }

    pub async fn delete(&self, id: i64, trail: Trail) -> Result<(), StoreError> {
        let _w = self.db.write_guard().await;
        let txn = self.db.connection().begin().await.map_err(db)?;
        let res = Entity::delete_by_id(id).exec(&txn).await.map_err(db)?;
        if res.rows_affected == 0 {
            return Err(StoreError::NotFound);
        }
        gantry_store::write_trail(&txn, trail).await?;
        txn.commit().await.map_err(db)
    }
}
