//! The traffic tables and their repository: `traffic_minute` and
//! `traffic_hour` (counts per server, domain and bucket), `traffic_stub`
//! (nginx's own counters per server and minute) and `traffic_cursor` (per
//! server: where the log reading stands, the last status page, the collection
//! state and a short lease).
//!
//! Exactly-once counting rests on one rule: a pass's counts and the move of
//! its cursor are one transaction, and the cursor update is conditional on
//! the row's version (and the old inode and offset) read when the pass began.
//! The update is the transaction's first write, so on PostgreSQL and MariaDB
//! it takes the cursor row's lock: a second writer for the same server waits,
//! then finds the version moved and rolls back. Folding minutes into hours
//! takes the same row lock first, so it never deletes a minute a collector is
//! adding to. On SQLite the writer mutex serializes all of it.
//!
//! The event-log entry of a pass that starts or ends a failure is written in
//! the same transaction, so each transition is recorded once.
//!
//! Servers belong to the servers module: only their ids are stored here.

use super::parse::{Counts, Position, Stub};
use chrono::{DateTime, Utc};
use gantry_core::StoreError;
use gantry_core::eventlog::Record;
use gantry_core::repo::Trail;
use gantry_store::Db;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, OnConflict, Query, SelectStatement};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbBackend, DbErr, EntityTrait, IsolationLevel,
    QueryFilter, QueryOrder, QueryResult, QuerySelect, TransactionTrait,
};
use sea_orm_migration::prelude::{ColumnDef, DeriveIden, Index, MigrationName, MigrationTrait, SchemaManager, Table};
use std::collections::BTreeMap;

pub mod cursor {
    use sea_orm::entity::prelude::*;

    /// One row per server whose traffic Gantry reads.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "traffic_cursor")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub server_id: i64,
        /// Inode of the followed log file; 0 before one was seen.
        pub log_inode: i64,
        /// Bytes of it counted.
        pub log_offset: i64,
        /// A rotated log file not finished yet.
        pub rotated_inode: Option<i64>,
        pub rotated_offset: i64,
        /// Moves with every pass that commits; passes commit only on the version they started from.
        pub version: i64,
        /// nginx's counters at the last status-page read.
        pub stub_requests: Option<i64>,
        pub stub_accepts: Option<i64>,
        pub stub_handled: Option<i64>,
        pub stub_active: Option<i64>,
        pub stub_reading: Option<i64>,
        pub stub_writing: Option<i64>,
        pub stub_waiting: Option<i64>,
        pub stub_at: Option<DateTimeUtc>,
        /// Requests per second between the last two status-page reads.
        pub requests_per_second: Option<f64>,
        /// The last pass without a failure.
        pub last_collected_at: Option<DateTimeUtc>,
        pub last_attempt_at: Option<DateTimeUtc>,
        pub last_error: Option<String>,
        /// Consecutive failed passes.
        pub failures: i32,
        pub failing_since: Option<DateTimeUtc>,
        /// Log lines that did not parse, in total.
        pub lines_skipped: i64,
        /// `replica/nonce` of whoever collects the server now.
        pub lease_owner: Option<String>,
        pub lease_until: Option<DateTimeUtc>,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

#[derive(DeriveIden, Clone, Copy)]
enum TrafficCursor {
    Table,
    ServerId,
    LogInode,
    LogOffset,
    RotatedInode,
    RotatedOffset,
    Version,
    StubRequests,
    StubAccepts,
    StubHandled,
    StubActive,
    StubReading,
    StubWriting,
    StubWaiting,
    StubAt,
    RequestsPerSecond,
    LastCollectedAt,
    LastAttemptAt,
    LastError,
    Failures,
    FailingSince,
    LinesSkipped,
    LeaseOwner,
    LeaseUntil,
    UpdatedAt,
}

/// `traffic_minute` and `traffic_hour` have the same columns.
#[derive(DeriveIden, Clone, Copy)]
enum Bucketed {
    ServerId,
    Domain,
    /// Start of the minute or hour, Unix seconds.
    Bucket,
    Requests,
    #[sea_orm(iden = "status_2xx")]
    Status2xx,
    #[sea_orm(iden = "status_3xx")]
    Status3xx,
    #[sea_orm(iden = "status_4xx")]
    Status4xx,
    #[sea_orm(iden = "status_5xx")]
    Status5xx,
    StatusOther,
    BytesSent,
    UpstreamMsSum,
    UpstreamCount,
    UpstreamMsMax,
}

const SUMMED: [Bucketed; 9] = [
    Bucketed::Requests,
    Bucketed::Status2xx,
    Bucketed::Status3xx,
    Bucketed::Status4xx,
    Bucketed::Status5xx,
    Bucketed::StatusOther,
    Bucketed::BytesSent,
    Bucketed::UpstreamMsSum,
    Bucketed::UpstreamCount,
];

#[derive(DeriveIden, Clone, Copy)]
enum TrafficStub {
    Table,
    ServerId,
    Bucket,
    /// Requests nginx counted in the minute (deltas of its counter).
    Requests,
    Active,
    Reading,
    Writing,
    Waiting,
}

/// Which bucket table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Grain {
    /// `traffic_minute`.
    Minute,
    /// `traffic_hour`.
    Hour,
}

impl Grain {
    fn table(self) -> Alias {
        match self {
            Grain::Minute => Alias::new("traffic_minute"),
            Grain::Hour => Alias::new("traffic_hour"),
        }
    }
}

/// `monitoring_0001_traffic`.
pub struct CreateTraffic;

impl MigrationName for CreateTraffic {
    fn name(&self) -> &str {
        "monitoring_0001_traffic"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateTraffic {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for (grain, index) in [(Grain::Minute, "ix_traffic_minute_bucket"), (Grain::Hour, "ix_traffic_hour_bucket")] {
            let counter = |c: Bucketed| ColumnDef::new(c).big_integer().not_null().default(0).to_owned();
            m.create_table(
                Table::create()
                    .table(grain.table())
                    .col(ColumnDef::new(Bucketed::ServerId).big_integer().not_null())
                    .col(ColumnDef::new(Bucketed::Domain).string_len(255).not_null())
                    .col(ColumnDef::new(Bucketed::Bucket).big_integer().not_null())
                    .col(counter(Bucketed::Requests))
                    .col(counter(Bucketed::Status2xx))
                    .col(counter(Bucketed::Status3xx))
                    .col(counter(Bucketed::Status4xx))
                    .col(counter(Bucketed::Status5xx))
                    .col(counter(Bucketed::StatusOther))
                    .col(counter(Bucketed::BytesSent))
                    .col(counter(Bucketed::UpstreamMsSum))
                    .col(counter(Bucketed::UpstreamCount))
                    .col(counter(Bucketed::UpstreamMsMax))
                    .primary_key(Index::create().col(Bucketed::ServerId).col(Bucketed::Domain).col(Bucketed::Bucket))
                    .to_owned(),
            )
            .await?;
            // Range reads over every server and domain, and the fold's "older than".
            m.create_index(Index::create().name(index).table(grain.table()).col(Bucketed::Bucket).to_owned()).await?;
        }
        m.create_table(
            Table::create()
                .table(TrafficStub::Table)
                .col(ColumnDef::new(TrafficStub::ServerId).big_integer().not_null())
                .col(ColumnDef::new(TrafficStub::Bucket).big_integer().not_null())
                .col(ColumnDef::new(TrafficStub::Requests).big_integer().not_null().default(0))
                .col(ColumnDef::new(TrafficStub::Active).big_integer().not_null().default(0))
                .col(ColumnDef::new(TrafficStub::Reading).big_integer().not_null().default(0))
                .col(ColumnDef::new(TrafficStub::Writing).big_integer().not_null().default(0))
                .col(ColumnDef::new(TrafficStub::Waiting).big_integer().not_null().default(0))
                .primary_key(Index::create().col(TrafficStub::ServerId).col(TrafficStub::Bucket))
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("ix_traffic_stub_bucket").table(TrafficStub::Table).col(TrafficStub::Bucket).to_owned())
            .await?;
        let opt_i64 = |c: TrafficCursor| ColumnDef::new(c).big_integer().null().to_owned();
        let opt_ts = |c: TrafficCursor| ColumnDef::new(c).timestamp_with_time_zone().null().to_owned();
        m.create_table(
            Table::create()
                .table(TrafficCursor::Table)
                .col(ColumnDef::new(TrafficCursor::ServerId).big_integer().not_null().primary_key())
                .col(ColumnDef::new(TrafficCursor::LogInode).big_integer().not_null().default(0))
                .col(ColumnDef::new(TrafficCursor::LogOffset).big_integer().not_null().default(0))
                .col(opt_i64(TrafficCursor::RotatedInode))
                .col(ColumnDef::new(TrafficCursor::RotatedOffset).big_integer().not_null().default(0))
                .col(ColumnDef::new(TrafficCursor::Version).big_integer().not_null().default(1))
                .col(opt_i64(TrafficCursor::StubRequests))
                .col(opt_i64(TrafficCursor::StubAccepts))
                .col(opt_i64(TrafficCursor::StubHandled))
                .col(opt_i64(TrafficCursor::StubActive))
                .col(opt_i64(TrafficCursor::StubReading))
                .col(opt_i64(TrafficCursor::StubWriting))
                .col(opt_i64(TrafficCursor::StubWaiting))
                .col(opt_ts(TrafficCursor::StubAt))
                .col(ColumnDef::new(TrafficCursor::RequestsPerSecond).double().null())
                .col(opt_ts(TrafficCursor::LastCollectedAt))
                .col(opt_ts(TrafficCursor::LastAttemptAt))
                .col(ColumnDef::new(TrafficCursor::LastError).text().null())
                .col(ColumnDef::new(TrafficCursor::Failures).integer().not_null().default(0))
                .col(opt_ts(TrafficCursor::FailingSince))
                .col(ColumnDef::new(TrafficCursor::LinesSkipped).big_integer().not_null().default(0))
                .col(ColumnDef::new(TrafficCursor::LeaseOwner).string_len(128).null())
                .col(opt_ts(TrafficCursor::LeaseUntil))
                .col(ColumnDef::new(TrafficCursor::UpdatedAt).timestamp_with_time_zone().not_null())
                .to_owned(),
        )
        .await
    }
}

pub(crate) fn db(e: DbErr) -> StoreError {
    StoreError::Database(e.to_string())
}

/// The status page read in a pass.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StubSample {
    /// The counters.
    pub stub: Stub,
    /// Requests since the previous read (nginx's counter restarts with nginx).
    pub delta: i64,
    /// Requests per second since the previous read.
    pub rate: Option<f64>,
}

/// What one pass writes.
#[derive(Debug, Clone)]
pub(crate) struct Commit {
    /// The server.
    pub server_id: i64,
    /// The lease holder (released in the same transaction).
    pub owner: String,
    /// The cursor's version when the pass began.
    pub version: i64,
    /// Where the reading stood.
    pub from: Position,
    /// Where it stands after the pass.
    pub to: Position,
    /// Counts per (domain, minute).
    pub buckets: BTreeMap<(String, i64), Counts>,
    /// Lines that did not parse.
    pub skipped: u64,
    /// The status page, if it was read.
    pub stub: Option<StubSample>,
    /// When.
    pub at: DateTime<Utc>,
    /// What failed, if anything did (then the pass counts as failed; what it did read is kept).
    pub error: Option<String>,
    /// The event-log entry of this pass (collection started failing, or works again):
    /// written only if the pass commits, so exactly once per transition.
    pub record: Option<Record>,
}

/// Totals of a domain over a range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DomainTotal {
    /// Server.
    pub server_id: i64,
    /// Domain.
    pub domain: String,
    /// Counts.
    pub counts: Counts,
}

/// A range read.
#[derive(Debug, Clone)]
pub(crate) struct RangeQuery {
    /// First bucket (aligned to the step).
    pub from: i64,
    /// End, exclusive.
    pub to: i64,
    /// 60 or 3600.
    pub step: i64,
    /// Only this server.
    pub server_id: Option<i64>,
    /// Only this domain.
    pub domain: Option<String>,
}

fn expire(ttl: std::time::Duration) -> DateTime<Utc> {
    Utc::now() + chrono::Duration::from_std(ttl).unwrap_or_else(|_| chrono::Duration::seconds(120))
}

/// `SUM(col)` as a BIGINT on every backend (PostgreSQL and MySQL widen sums to NUMERIC/DECIMAL).
fn sum(backend: DbBackend, col: Bucketed) -> Expr {
    let s = Expr::col(col).sum();
    match backend {
        DbBackend::Postgres => s.cast_as(Alias::new("BIGINT")),
        DbBackend::MySql => s.cast_as(Alias::new("SIGNED")),
        _ => s,
    }
}

fn counts_of(r: &QueryResult) -> Result<Counts, DbErr> {
    let g = |c: &str| r.try_get::<Option<i64>>("", c).map(Option::unwrap_or_default);
    Ok(Counts {
        requests: g("requests")?,
        status_2xx: g("status_2xx")?,
        status_3xx: g("status_3xx")?,
        status_4xx: g("status_4xx")?,
        status_5xx: g("status_5xx")?,
        status_other: g("status_other")?,
        bytes_sent: g("bytes_sent")?,
        upstream_ms_sum: g("upstream_ms_sum")?,
        upstream_count: g("upstream_count")?,
        upstream_ms_max: g("upstream_ms_max")?,
    })
}

/// The aggregate columns of a grouped select.
fn aggregates(q: &mut SelectStatement, backend: DbBackend) {
    for c in SUMMED {
        q.expr_as(sum(backend, c), c);
    }
    q.expr_as(Expr::col(Bucketed::UpstreamMsMax).max(), Bucketed::UpstreamMsMax);
}

fn values(c: &Counts) -> [(Bucketed, i64); 10] {
    [
        (Bucketed::Requests, c.requests),
        (Bucketed::Status2xx, c.status_2xx),
        (Bucketed::Status3xx, c.status_3xx),
        (Bucketed::Status4xx, c.status_4xx),
        (Bucketed::Status5xx, c.status_5xx),
        (Bucketed::StatusOther, c.status_other),
        (Bucketed::BytesSent, c.bytes_sent),
        (Bucketed::UpstreamMsSum, c.upstream_ms_sum),
        (Bucketed::UpstreamCount, c.upstream_count),
        (Bucketed::UpstreamMsMax, c.upstream_ms_max),
    ]
}

/// Adds `c` to a bucket row, creating it if needed (one statement: no read-then-write race).
async fn add_to_bucket<C: ConnectionTrait>(
    conn: &C,
    grain: Grain,
    server_id: i64,
    domain: &str,
    bucket: i64,
    c: &Counts,
) -> Result<(), DbErr> {
    let table = grain.table();
    let vals = values(c);
    let mut cols = vec![Bucketed::ServerId, Bucketed::Domain, Bucketed::Bucket];
    cols.extend(vals.iter().map(|(col, _)| *col));
    let mut row: Vec<Expr> = vec![server_id.into(), domain.into(), bucket.into()];
    row.extend(vals.iter().map(|(_, v)| Expr::val(*v)));
    let mut on = OnConflict::columns([Bucketed::ServerId, Bucketed::Domain, Bucketed::Bucket]);
    for (col, v) in vals {
        let existing = Expr::col((table.clone(), col));
        let merged = if matches!(col, Bucketed::UpstreamMsMax) {
            Expr::case(existing.clone().lt(v), v).finally(existing).into()
        } else {
            existing.add(v)
        };
        on.value(col, merged);
    }
    let mut q = Query::insert();
    q.into_table(table).columns(cols).values(row).map_err(|e| DbErr::Custom(e.to_string()))?.on_conflict(on);
    conn.execute(&q).await.map(|_| ())
}

/// The traffic repository.
#[derive(Clone)]
pub(crate) struct TrafficRepo {
    pub(crate) db: Db,
}

impl TrafficRepo {
    /// A server's cursor row, created when missing.
    pub async fn ensure(&self, server_id: i64) -> Result<cursor::Model, StoreError> {
        if let Some(m) = self.cursor(server_id).await? {
            return Ok(m);
        }
        let w = self.db.write_guard().await;
        let row = cursor::ActiveModel {
            server_id: Set(server_id),
            log_inode: Set(0),
            log_offset: Set(0),
            rotated_inode: Set(None),
            rotated_offset: Set(0),
            version: Set(1),
            stub_requests: Set(None),
            stub_accepts: Set(None),
            stub_handled: Set(None),
            stub_active: Set(None),
            stub_reading: Set(None),
            stub_writing: Set(None),
            stub_waiting: Set(None),
            stub_at: Set(None),
            requests_per_second: Set(None),
            last_collected_at: Set(None),
            last_attempt_at: Set(None),
            last_error: Set(None),
            failures: Set(0),
            failing_since: Set(None),
            lines_skipped: Set(0),
            lease_owner: Set(None),
            lease_until: Set(None),
            updated_at: Set(Utc::now()),
        };
        match row.insert(self.db.connection()).await {
            Ok(m) => Ok(m),
            // Another replica created it first.
            Err(e) if matches!(e.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_))) => {
                drop(w);
                self.cursor(server_id).await?.ok_or(StoreError::NotFound)
            }
            Err(e) => Err(db(e)),
        }
    }

    /// A server's cursor row.
    pub async fn cursor(&self, server_id: i64) -> Result<Option<cursor::Model>, StoreError> {
        cursor::Entity::find_by_id(server_id).one(self.db.connection()).await.map_err(db)
    }

    /// Every cursor row.
    pub async fn cursors(&self) -> Result<Vec<cursor::Model>, StoreError> {
        cursor::Entity::find().order_by_asc(cursor::Column::ServerId).all(self.db.connection()).await.map_err(db)
    }

    /// Takes the server's collection lease if it is free or expired; returns the row as it is now.
    pub async fn claim(&self, server_id: i64, owner: &str, ttl: std::time::Duration) -> Result<Option<cursor::Model>, StoreError> {
        let w = self.db.write_guard().await;
        let free = Condition::any()
            .add(cursor::Column::LeaseOwner.is_null())
            .add(cursor::Column::LeaseUntil.lt(Utc::now()))
            .add(cursor::Column::LeaseOwner.eq(owner));
        let r = cursor::Entity::update_many()
            .col_expr(cursor::Column::LeaseOwner, Expr::value(owner))
            .col_expr(cursor::Column::LeaseUntil, Expr::value(expire(ttl)))
            .filter(cursor::Column::ServerId.eq(server_id))
            .filter(free)
            .exec(self.db.connection())
            .await
            .map_err(db)?;
        drop(w);
        if r.rows_affected != 1 {
            return Ok(None);
        }
        self.cursor(server_id).await
    }

    /// Gives the lease up (when a pass ends without committing).
    pub async fn release(&self, server_id: i64, owner: &str) -> Result<(), StoreError> {
        let _w = self.db.write_guard().await;
        Self::release_in(self.db.connection(), server_id, owner).await.map_err(db)
    }

    async fn release_in<C: ConnectionTrait>(c: &C, server_id: i64, owner: &str) -> Result<(), DbErr> {
        cursor::Entity::update_many()
            .col_expr(cursor::Column::LeaseOwner, Expr::value(Option::<String>::None))
            .col_expr(cursor::Column::LeaseUntil, Expr::value(Option::<DateTime<Utc>>::None))
            .filter(cursor::Column::ServerId.eq(server_id))
            .filter(cursor::Column::LeaseOwner.eq(owner))
            .exec(c)
            .await
            .map(|_| ())
    }

    /// Writes a pass: the cursor move (conditional on the version the pass
    /// began with), its counts, the status-page sample and the collection
    /// state, in one transaction; releases the lease. `Ok(None)` when another
    /// writer moved the cursor first (nothing was written); otherwise the row
    /// as it is now.
    pub async fn commit(&self, c: &Commit) -> Result<Option<cursor::Model>, StoreError> {
        let _w = self.db.write_guard().await;
        let txn = self.db.connection().begin().await.map_err(db)?;
        let col = |x: cursor::Column| Expr::col(x);
        let mut u = cursor::Entity::update_many()
            .col_expr(cursor::Column::LogInode, Expr::value(c.to.inode))
            .col_expr(cursor::Column::LogOffset, Expr::value(c.to.offset))
            .col_expr(cursor::Column::RotatedInode, Expr::value(c.to.rotated.map(|r| r.0)))
            .col_expr(cursor::Column::RotatedOffset, Expr::value(c.to.rotated.map_or(0, |r| r.1)))
            .col_expr(cursor::Column::Version, col(cursor::Column::Version).add(1))
            .col_expr(cursor::Column::LinesSkipped, col(cursor::Column::LinesSkipped).add(i64::try_from(c.skipped).unwrap_or(i64::MAX)))
            .col_expr(cursor::Column::LastAttemptAt, Expr::value(c.at))
            .col_expr(cursor::Column::UpdatedAt, Expr::value(c.at));
        if let Some(s) = &c.stub {
            u = u
                .col_expr(cursor::Column::StubRequests, Expr::value(s.stub.requests))
                .col_expr(cursor::Column::StubAccepts, Expr::value(s.stub.accepts))
                .col_expr(cursor::Column::StubHandled, Expr::value(s.stub.handled))
                .col_expr(cursor::Column::StubActive, Expr::value(s.stub.active))
                .col_expr(cursor::Column::StubReading, Expr::value(s.stub.reading))
                .col_expr(cursor::Column::StubWriting, Expr::value(s.stub.writing))
                .col_expr(cursor::Column::StubWaiting, Expr::value(s.stub.waiting))
                .col_expr(cursor::Column::StubAt, Expr::value(c.at))
                .col_expr(cursor::Column::RequestsPerSecond, Expr::value(s.rate));
        }
        u = match &c.error {
            None => u
                .col_expr(cursor::Column::LastCollectedAt, Expr::value(c.at))
                .col_expr(cursor::Column::LastError, Expr::value(Option::<String>::None))
                .col_expr(cursor::Column::Failures, Expr::value(0))
                .col_expr(cursor::Column::FailingSince, Expr::value(Option::<DateTime<Utc>>::None)),
            Some(e) => u
                .col_expr(cursor::Column::LastError, Expr::value(e.clone()))
                .col_expr(cursor::Column::Failures, col(cursor::Column::Failures).add(1))
                .col_expr(cursor::Column::FailingSince, col(cursor::Column::FailingSince).if_null(c.at)),
        };
        let r = u
            .filter(cursor::Column::ServerId.eq(c.server_id))
            .filter(cursor::Column::Version.eq(c.version))
            .filter(cursor::Column::LogInode.eq(c.from.inode))
            .filter(cursor::Column::LogOffset.eq(c.from.offset))
            .exec(&txn)
            .await
            .map_err(db)?;
        if r.rows_affected != 1 {
            txn.rollback().await.map_err(db)?;
            return Ok(None);
        }
        for ((domain, bucket), counts) in &c.buckets {
            add_to_bucket(&txn, Grain::Minute, c.server_id, domain, *bucket, counts).await.map_err(db)?;
        }
        if let Some(s) = &c.stub {
            let minute = c.at.timestamp() - c.at.timestamp().rem_euclid(60);
            let t = Alias::new("traffic_stub");
            let mut q = Query::insert();
            q.into_table(TrafficStub::Table)
                .columns([
                    TrafficStub::ServerId,
                    TrafficStub::Bucket,
                    TrafficStub::Requests,
                    TrafficStub::Active,
                    TrafficStub::Reading,
                    TrafficStub::Writing,
                    TrafficStub::Waiting,
                ])
                .values([
                    c.server_id.into(),
                    minute.into(),
                    s.delta.into(),
                    s.stub.active.into(),
                    s.stub.reading.into(),
                    s.stub.writing.into(),
                    s.stub.waiting.into(),
                ])
                .map_err(|e| StoreError::Database(e.to_string()))?
                .on_conflict(
                    OnConflict::columns([TrafficStub::ServerId, TrafficStub::Bucket])
                        .value(TrafficStub::Requests, Expr::col((t, TrafficStub::Requests)).add(s.delta))
                        .value(TrafficStub::Active, s.stub.active)
                        .value(TrafficStub::Reading, s.stub.reading)
                        .value(TrafficStub::Writing, s.stub.writing)
                        .value(TrafficStub::Waiting, s.stub.waiting)
                        .to_owned(),
                );
            txn.execute(&q).await.map_err(db)?;
        }
        if let Some(r) = &c.record {
            gantry_store::write_trail(&txn, Trail::default().with_record(r.clone())).await?;
        }
        Self::release_in(&txn, c.server_id, &c.owner).await.map_err(db)?;
        let row = cursor::Entity::find_by_id(c.server_id).one(&txn).await.map_err(db)?;
        txn.commit().await.map_err(db)?;
        Ok(row)
    }

    /// Forgets a deleted server's cursor (its counts stay until they are pruned).
    pub async fn forget(&self, server_id: i64) -> Result<(), StoreError> {
        let _w = self.db.write_guard().await;
        cursor::Entity::delete_by_id(server_id).exec(self.db.connection()).await.map_err(db).map(|_| ())
    }

    /// Folds minute rows older than `cutoff` into hour rows, one transaction per
    /// server, under that server's cursor lock. Returns the minute rows folded.
    pub async fn fold(&self, cutoff: i64) -> Result<u64, StoreError> {
        let backend = self.db.db_backend();
        let mut q = Query::select();
        q.distinct()
            .column(Bucketed::ServerId)
            .from(Grain::Minute.table())
            .and_where(Expr::col(Bucketed::Bucket).lt(cutoff))
            .order_by(Bucketed::ServerId, sea_orm::Order::Asc);
        let servers: Vec<i64> = self
            .db
            .connection()
            .query_all(&q)
            .await
            .map_err(db)?
            .iter()
            .map(|r| r.try_get::<i64>("", "server_id"))
            .collect::<Result<_, _>>()
            .map_err(db)?;
        let mut folded = 0;
        for server_id in servers {
            let _w = self.db.write_guard().await;
            let txn = self.db.connection().begin().await.map_err(db)?;
            // Collectors of this server wait here (their commit updates this row first).
            cursor::Entity::find_by_id(server_id).lock_exclusive().one(&txn).await.map_err(db)?;
            let hour = Alias::new("h");
            let mut agg = Query::select();
            agg.column(Bucketed::Domain)
                .expr_as(Expr::col(Bucketed::Bucket).sub(Expr::col(Bucketed::Bucket).modulo(3600)), hour.clone())
                .from(Grain::Minute.table())
                .and_where(Expr::col(Bucketed::ServerId).eq(server_id))
                .and_where(Expr::col(Bucketed::Bucket).lt(cutoff))
                .group_by_col(Bucketed::Domain)
                .add_group_by([Expr::col(hour.clone())]);
            aggregates(&mut agg, backend);
            let rows = txn.query_all(&agg).await.map_err(db)?;
            for r in &rows {
                let domain: String = r.try_get("", "domain").map_err(db)?;
                let h: i64 = r.try_get("", "h").map_err(db)?;
                add_to_bucket(&txn, Grain::Hour, server_id, &domain, h, &counts_of(r).map_err(db)?).await.map_err(db)?;
            }
            let mut del = Query::delete();
            del.from_table(Grain::Minute.table())
                .and_where(Expr::col(Bucketed::ServerId).eq(server_id))
                .and_where(Expr::col(Bucketed::Bucket).lt(cutoff));
            folded += txn.execute(&del).await.map_err(db)?.rows_affected();
            txn.commit().await.map_err(db)?;
        }
        Ok(folded)
    }

    /// Deletes hour rows older than `hours_before` and status-page minutes older than `stub_before`.
    pub async fn prune(&self, hours_before: i64, stub_before: i64) -> Result<u64, StoreError> {
        let _w = self.db.write_guard().await;
        let mut del = Query::delete();
        del.from_table(Grain::Hour.table()).and_where(Expr::col(Bucketed::Bucket).lt(hours_before));
        let a = self.db.connection().execute(&del).await.map_err(db)?.rows_affected();
        let mut del = Query::delete();
        del.from_table(TrafficStub::Table).and_where(Expr::col(TrafficStub::Bucket).lt(stub_before));
        let b = self.db.connection().execute(&del).await.map_err(db)?.rows_affected();
        Ok(a + b)
    }

    /// Counts per bucket of `q.step` and per domain over a range, read in one
    /// snapshot: hour steps add the hour rows and the minutes not folded yet,
    /// and a fold moving rows from one table to the other is seen entirely or
    /// not at all.
    pub async fn range(&self, q: &RangeQuery, max_domains: usize) -> Result<(BTreeMap<i64, Counts>, Vec<DomainTotal>), StoreError> {
        let backend = self.db.db_backend();
        let isolation = (backend == DbBackend::Postgres).then_some(IsolationLevel::RepeatableRead);
        let txn = self.db.connection().begin_with_config(isolation, None).await.map_err(db)?;
        let grains: &[Grain] = if q.step == 3600 { &[Grain::Hour, Grain::Minute] } else { &[Grain::Minute] };
        let mut points: BTreeMap<i64, Counts> = BTreeMap::new();
        let mut domains: BTreeMap<(i64, String), Counts> = BTreeMap::new();
        for grain in grains {
            let filter = |s: &mut SelectStatement| {
                s.from(grain.table()).and_where(Expr::col(Bucketed::Bucket).gte(q.from)).and_where(Expr::col(Bucketed::Bucket).lt(q.to));
                if let Some(id) = q.server_id {
                    s.and_where(Expr::col(Bucketed::ServerId).eq(id));
                }
                if let Some(d) = &q.domain {
                    s.and_where(Expr::col(Bucketed::Domain).eq(d.as_str()));
                }
            };
            let b = Alias::new("b");
            let key = if *grain == Grain::Minute && q.step == 3600 {
                Expr::col(Bucketed::Bucket).sub(Expr::col(Bucketed::Bucket).modulo(3600))
            } else {
                Expr::col(Bucketed::Bucket)
            };
            let mut s = Query::select();
            s.expr_as(key, b.clone());
            filter(&mut s);
            s.add_group_by([Expr::col(b)]);
            aggregates(&mut s, backend);
            for r in txn.query_all(&s).await.map_err(db)? {
                let at: i64 = r.try_get("", "b").map_err(db)?;
                points.entry(at).or_default().merge(&counts_of(&r).map_err(db)?);
            }
            let mut s = Query::select();
            s.column(Bucketed::ServerId).column(Bucketed::Domain);
            filter(&mut s);
            s.group_by_col(Bucketed::ServerId).group_by_col(Bucketed::Domain);
            aggregates(&mut s, backend);
            for r in txn.query_all(&s).await.map_err(db)? {
                let server_id: i64 = r.try_get("", "server_id").map_err(db)?;
                let domain: String = r.try_get("", "domain").map_err(db)?;
                domains.entry((server_id, domain)).or_default().merge(&counts_of(&r).map_err(db)?);
            }
        }
        txn.commit().await.map_err(db)?;
        let mut top: Vec<DomainTotal> =
            domains.into_iter().map(|((server_id, domain), counts)| DomainTotal { server_id, domain, counts }).collect();
        top.sort_by(|a, b| {
            b.counts.requests.cmp(&a.counts.requests).then_with(|| a.domain.cmp(&b.domain)).then(a.server_id.cmp(&b.server_id))
        });
        top.truncate(max_domains);
        Ok((points, top))
    }
}
