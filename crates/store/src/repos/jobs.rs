use super::{json, role, write_trail};
use crate::entities::job::{self, Column, Entity};
use crate::error::db;
use crate::{Backend, Db};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gantry_core::StoreError;
use gantry_core::ids::{JobId, UserId};
use gantry_core::jobs::{Job, JobFilter, JobStatus, LogLine, MAX_LOG_LINES, NewJob, Outcome};
use gantry_core::page::{Page, PageRequest};
use gantry_core::repo::{JobRepo, StoreResult, Trail};
use gantry_core::user::Role;
use sea_orm::sea_query::{Expr, LockBehavior, LockType};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
};
use std::time::Duration;

pub(crate) struct SqlJobs {
    db: Db,
}

impl SqlJobs {
    pub(crate) fn new(db: Db) -> Self {
        Self { db }
    }
}

fn to_job(m: job::Model) -> Result<Job, StoreError> {
    let log: Vec<LogLine> = serde_json::from_str(&m.log).map_err(|e| StoreError::Corrupt(format!("job log: {e}")))?;
    Ok(Job {
        id: JobId(m.id),
        kind: m.kind,
        status: JobStatus::parse(&m.status).ok_or_else(|| StoreError::Corrupt(format!("job status {:?}", m.status)))?,
        payload: json(&m.payload)?,
        attempts: m.attempts,
        max_attempts: m.max_attempts,
        progress: m.progress,
        message: m.message,
        log,
        result: m.result.as_deref().map(json).transpose()?,
        error: m.error,
        created_by: m.created_by.map(UserId),
        audience: role(&m.audience)?,
        lease_owner: m.lease_owner,
        lease_expires_at: m.lease_expires_at,
        run_after: m.run_after,
        created_at: m.created_at,
        started_at: m.started_at,
        finished_at: m.finished_at,
    })
}

fn lease_until(lease: Duration) -> chrono::DateTime<Utc> {
    Utc::now() + chrono::Duration::from_std(lease).unwrap_or_else(|_| chrono::Duration::seconds(30))
}

/// Queued and due, or running with a lapsed lease.
fn due(now: chrono::DateTime<Utc>) -> Condition {
    Condition::any()
        .add(Condition::all().add(Column::Status.eq(JobStatus::Queued.as_str())).add(Column::RunAfter.lte(now)))
        .add(Condition::all().add(Column::Status.eq(JobStatus::Running.as_str())).add(Column::LeaseExpiresAt.lt(now)))
}

/// The lease is held by `owner`.
fn held(id: JobId, owner: &str) -> Condition {
    Condition::all().add(Column::Id.eq(id.0)).add(Column::Status.eq(JobStatus::Running.as_str())).add(Column::LeaseOwner.eq(owner))
}

fn push_line(log: &str, line: LogLine) -> Result<String, StoreError> {
    let mut lines: Vec<LogLine> = serde_json::from_str(log).map_err(|e| StoreError::Corrupt(format!("job log: {e}")))?;
    lines.push(line);
    if lines.len() > MAX_LOG_LINES {
        let extra = lines.len() - MAX_LOG_LINES;
        lines.drain(..extra);
    }
    serde_json::to_string(&lines).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Inserts a queued job on `c`, so a module can enqueue work in the same
/// transaction as the change that calls for it (the job exists exactly when
/// the change does). The caller wakes the runner after committing.
pub async fn insert_job<C: ConnectionTrait>(c: &C, j: NewJob) -> StoreResult<Job> {
    let now = Utc::now();
    let m = job::ActiveModel {
        kind: Set(j.kind),
        status: Set(JobStatus::Queued.as_str().into()),
        payload: Set(j.payload.to_string()),
        attempts: Set(0),
        max_attempts: Set(j.max_attempts.max(1)),
        progress: Set(0),
        message: Set(None),
        log: Set("[]".into()),
        result: Set(None),
        error: Set(None),
        created_by: Set(j.created_by.map(|u| u.0)),
        audience: Set(j.audience.as_str().into()),
        lease_owner: Set(None),
        lease_expires_at: Set(None),
        run_after: Set(j.run_after.unwrap_or(now)),
        created_at: Set(now),
        updated_at: Set(now),
        started_at: Set(None),
        finished_at: Set(None),
        ..Default::default()
    }
    .insert(c)
    .await
    .map_err(db)?;
    to_job(m)
}

impl SqlJobs {
    /// One claim attempt inside a transaction; `Ok(None)` when nothing is due.
    async fn claim_once<C: ConnectionTrait>(
        &self,
        c: &C,
        owner: &str,
        kinds: &[String],
        lease: Duration,
    ) -> StoreResult<Option<job::Model>> {
        let now = Utc::now();
        let mut q = Entity::find()
            .filter(due(now))
            .filter(Column::Kind.is_in(kinds.iter().map(String::as_str)))
            .order_by_asc(Column::RunAfter)
            .order_by_asc(Column::Id)
            .limit(1);
        if self.db.backend != Backend::Sqlite {
            // Rows other replicas are claiming right now are skipped, not waited for.
            q = q.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        }
        let Some(m) = q.one(c).await.map_err(db)? else {
            return Ok(None);
        };
        if m.status == JobStatus::Running.as_str() && m.attempts >= m.max_attempts {
            // Its owner died during the last allowed attempt: give up instead of running it again.
            Entity::update_many()
                .col_expr(Column::Status, Expr::value(JobStatus::Failed.as_str()))
                .col_expr(Column::Error, Expr::value("the replica running the last attempt stopped (lease expired)"))
                .col_expr(Column::FinishedAt, Expr::value(now))
                .col_expr(Column::UpdatedAt, Expr::value(now))
                .col_expr(Column::LeaseOwner, Expr::value(Option::<String>::None))
                .filter(Column::Id.eq(m.id))
                .exec(c)
                .await
                .map_err(db)?;
            return Ok(Some(job::Model { status: "skip".into(), ..m }));
        }
        // The `due` condition again makes the update a no-op if another
        // claimer got there first (SQLite across processes).
        let res = Entity::update_many()
            .col_expr(Column::Status, Expr::value(JobStatus::Running.as_str()))
            .col_expr(Column::LeaseOwner, Expr::value(owner))
            .col_expr(Column::LeaseExpiresAt, Expr::value(lease_until(lease)))
            .col_expr(Column::Attempts, Expr::value(m.attempts + 1))
            .col_expr(Column::StartedAt, Expr::value(now))
            .col_expr(Column::UpdatedAt, Expr::value(now))
            .filter(Column::Id.eq(m.id))
            .filter(Column::Attempts.eq(m.attempts))
            .filter(due(now))
            .exec(c)
            .await
            .map_err(db)?;
        if res.rows_affected == 0 {
            return Ok(Some(job::Model { status: "skip".into(), ..m }));
        }
        Entity::find_by_id(m.id).one(c).await.map_err(db)
    }
}

#[async_trait]
impl JobRepo for SqlJobs {
    async fn enqueue(&self, j: NewJob, trail: Trail) -> StoreResult<Job> {
        let _w = self.db.write_guard().await;
        let txn = self.db.conn.begin().await.map_err(db)?;
        let job = insert_job(&txn, j).await?;
        let mut trail = trail;
        if let Some(a) = trail.audit.as_mut() {
            a.entity_id = Some(job.id.to_string());
        }
        write_trail(&txn, trail).await?;
        txn.commit().await.map_err(db)?;
        Ok(job)
    }

    async fn claim(&self, owner: &str, kinds: &[String], lease: Duration) -> StoreResult<Option<Job>> {
        if kinds.is_empty() {
            return Ok(None);
        }
        // A few tries: a row lost to a concurrent claimer, or given up, means look again.
        for _ in 0..5 {
            let _w = self.db.write_guard().await;
            let txn = self.db.conn.begin().await.map_err(db)?;
            let got = self.claim_once(&txn, owner, kinds, lease).await?;
            txn.commit().await.map_err(db)?;
            match got {
                None => return Ok(None),
                Some(m) if m.status == "skip" => continue,
                Some(m) => return to_job(m).map(Some),
            }
        }
        Ok(None)
    }

    async fn renew(&self, id: JobId, owner: &str, lease: Duration) -> StoreResult<bool> {
        let _w = self.db.write_guard().await;
        let res = Entity::update_many()
            .col_expr(Column::LeaseExpiresAt, Expr::value(lease_until(lease)))
            .filter(held(id, owner))
            .exec(&self.db.conn)
            .await
            .map_err(db)?;
        Ok(res.rows_affected == 1)
    }

    async fn progress(&self, id: JobId, owner: &str, percent: i32, message: Option<&str>, line: Option<LogLine>) -> StoreResult<bool> {
        let _w = self.db.write_guard().await;
        let Some(m) = Entity::find().filter(held(id, owner)).one(&self.db.conn).await.map_err(db)? else {
            return Ok(false);
        };
        let mut upd = Entity::update_many()
            .col_expr(Column::Progress, Expr::value(percent))
            .col_expr(Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(held(id, owner));
        if let Some(msg) = message {
            upd = upd.col_expr(Column::Message, Expr::value(super::truncate(msg, 1000)));
        }
        if let Some(line) = line {
            upd = upd.col_expr(Column::Log, Expr::value(push_line(&m.log, line)?));
        }
        Ok(upd.exec(&self.db.conn).await.map_err(db)?.rows_affected == 1)
    }

    async fn append_log(&self, id: JobId, owner: &str, line: LogLine) -> StoreResult<bool> {
        let _w = self.db.write_guard().await;
        let Some(m) = Entity::find().filter(held(id, owner)).one(&self.db.conn).await.map_err(db)? else {
            return Ok(false);
        };
        let res = Entity::update_many()
            .col_expr(Column::Log, Expr::value(push_line(&m.log, line)?))
            .filter(held(id, owner))
            .exec(&self.db.conn)
            .await
            .map_err(db)?;
        Ok(res.rows_affected == 1)
    }

    async fn finish(&self, id: JobId, owner: &str, outcome: Outcome) -> StoreResult<Option<Job>> {
        let _w = self.db.write_guard().await;
        let now = Utc::now();
        let none: Option<String> = None;
        let mut upd = Entity::update_many()
            .col_expr(Column::LeaseOwner, Expr::value(none.clone()))
            .col_expr(Column::LeaseExpiresAt, Expr::value(Option::<chrono::DateTime<Utc>>::None))
            .col_expr(Column::UpdatedAt, Expr::value(now))
            .filter(held(id, owner));
        upd = match outcome {
            Outcome::Succeeded(v) => upd
                .col_expr(Column::Status, Expr::value(JobStatus::Succeeded.as_str()))
                .col_expr(Column::Progress, Expr::value(100))
                .col_expr(Column::Result, Expr::value(v.to_string()))
                .col_expr(Column::Error, Expr::value(none))
                .col_expr(Column::FinishedAt, Expr::value(now)),
            Outcome::Retry { error, at } => upd
                .col_expr(Column::Status, Expr::value(JobStatus::Queued.as_str()))
                .col_expr(Column::Error, Expr::value(super::truncate(&error, 4000)))
                .col_expr(Column::RunAfter, Expr::value(at)),
            Outcome::Failed(error) => upd
                .col_expr(Column::Status, Expr::value(JobStatus::Failed.as_str()))
                .col_expr(Column::Error, Expr::value(super::truncate(&error, 4000)))
                .col_expr(Column::FinishedAt, Expr::value(now)),
        };
        if upd.exec(&self.db.conn).await.map_err(db)?.rows_affected == 0 {
            return Ok(None);
        }
        let m = Entity::find_by_id(id.0).one(&self.db.conn).await.map_err(db)?.ok_or(StoreError::NotFound)?;
        to_job(m).map(Some)
    }

    async fn cancel(&self, id: JobId, trail: Trail) -> StoreResult<Job> {
        let _w = self.db.write_guard().await;
        let txn = self.db.conn.begin().await.map_err(db)?;
        let now = Utc::now();
        let res = Entity::update_many()
            .col_expr(Column::Status, Expr::value(JobStatus::Cancelled.as_str()))
            .col_expr(Column::FinishedAt, Expr::value(now))
            .col_expr(Column::UpdatedAt, Expr::value(now))
            .col_expr(Column::LeaseOwner, Expr::value(Option::<String>::None))
            .filter(Column::Id.eq(id.0))
            .filter(Column::Status.is_in([JobStatus::Queued.as_str(), JobStatus::Running.as_str()]))
            .exec(&txn)
            .await
            .map_err(db)?;
        if res.rows_affected == 1 {
            write_trail(&txn, trail).await?;
        }
        let m = Entity::find_by_id(id.0).one(&txn).await.map_err(db)?.ok_or(StoreError::NotFound)?;
        txn.commit().await.map_err(db)?;
        to_job(m)
    }

    async fn get(&self, id: JobId) -> StoreResult<Job> {
        to_job(Entity::find_by_id(id.0).one(&self.db.conn).await.map_err(db)?.ok_or(StoreError::NotFound)?)
    }

    async fn list(&self, f: &JobFilter, page: PageRequest) -> StoreResult<Page<Job>> {
        let mut q = Entity::find().order_by_desc(Column::Id).limit(page.limit + 1);
        if let Some(c) = &page.after {
            q = q.filter(Column::Id.lt(c.id));
        }
        if let Some(s) = f.status {
            q = q.filter(Column::Status.eq(s.as_str()));
        }
        if let Some(k) = &f.kind {
            q = q.filter(Column::Kind.eq(k.as_str()));
        }
        if let Some(r) = f.visible_to {
            let roles = [Role::Viewer, Role::Operator, Role::Admin].into_iter().filter(|a| r.allows(*a)).map(|a| a.as_str());
            q = q.filter(Column::Audience.is_in(roles));
        }
        let rows = q.all(&self.db.conn).await.map_err(db)?.into_iter().map(to_job).collect::<Result<Vec<_>, _>>()?;
        Ok(page.finish(rows, |j| j.id.0))
    }

    async fn counts(&self) -> StoreResult<Vec<(String, JobStatus, u64)>> {
        let rows: Vec<(String, String, i64)> = Entity::find()
            .select_only()
            .column(Column::Kind)
            .column(Column::Status)
            .column_as(Column::Id.count(), "n")
            .group_by(Column::Kind)
            .group_by(Column::Status)
            .into_tuple()
            .all(&self.db.conn)
            .await
            .map_err(db)?;
        Ok(rows.into_iter().filter_map(|(k, s, n)| JobStatus::parse(&s).map(|s| (k, s, u64::try_from(n).unwrap_or(0)))).collect())
    }

    async fn oldest_due(&self) -> StoreResult<Option<DateTime<Utc>>> {
        let row = Entity::find()
            .filter(Column::Status.eq(JobStatus::Queued.as_str()))
            .filter(Column::RunAfter.lte(Utc::now()))
            .order_by_asc(Column::RunAfter)
            .one(&self.db.conn)
            .await
            .map_err(db)?;
        Ok(row.map(|m| m.run_after))
    }
}
