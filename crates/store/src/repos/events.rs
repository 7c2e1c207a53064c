use super::{insert_event, json, role, truncate};
use crate::Db;
use crate::entities::event::{self, Column, Entity};
use crate::entities::event_log::{self as log_e, Column as LogColumn, Entity as LogEntity};
use crate::error::db;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gantry_core::StoreError;
use gantry_core::eventlog::{EventLogEntry, EventLogFilter, RECORDED_KIND, Record, Severity};
use gantry_core::events::{Event, EventDraft};
use gantry_core::ids::{EventId, JobId, UserId};
use gantry_core::page::{Page, PageRequest};
use gantry_core::repo::{EventRepo, StoreResult};
use gantry_core::user::Role;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

pub(crate) struct SqlEvents(pub Db);

fn to_event(m: event::Model) -> Result<Event, StoreError> {
    Ok(Event {
        id: EventId(m.id),
        at: m.at,
        kind: m.kind,
        entity_type: m.entity_type,
        entity_id: m.entity_id,
        audience: m.audience.as_deref().map(role).transpose()?,
        owner: m.owner_id.map(UserId),
        payload: json(&m.payload)?,
    })
}

#[async_trait]
impl EventRepo for SqlEvents {
    async fn append(&self, draft: EventDraft) -> StoreResult<EventId> {
        let _w = self.0.write_guard().await;
        Ok(EventId(insert_event(&self.0.conn, draft).await?))
    }

    async fn after(&self, after: EventId, limit: u64) -> StoreResult<Vec<Event>> {
        Entity::find()
            .filter(Column::Id.gt(after.0))
            .order_by_asc(Column::Id)
            .limit(limit)
            .all(&self.0.conn)
            .await
            .map_err(db)?
            .into_iter()
            .map(to_event)
            .collect()
    }

    async fn latest_id(&self) -> StoreResult<EventId> {
        let last = Entity::find().order_by_desc(Column::Id).one(&self.0.conn).await.map_err(db)?;
        Ok(EventId(last.map(|m| m.id).unwrap_or(0)))
    }

    async fn prune(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let _w = self.0.write_guard().await;
        let res = Entity::delete_many().filter(Column::At.lt(before)).exec(&self.0.conn).await.map_err(db)?;
        Ok(res.rows_affected)
    }

    async fn record(&self, record: Record) -> StoreResult<EventLogEntry> {
        let _w = self.0.write_guard().await;
        insert_record(&self.0.conn, record).await
    }

    async fn list_records(&self, f: &EventLogFilter, page: PageRequest) -> StoreResult<Page<EventLogEntry>> {
        let mut q = LogEntity::find()
            .filter(LogColumn::Audience.is_in(readable_by(f.visible_to)))
            .order_by_desc(LogColumn::Id)
            .limit(page.limit + 1);
        if let Some(c) = &page.after {
            q = q.filter(LogColumn::Id.lt(c.id));
        }
        if !f.modules.is_empty() {
            q = q.filter(LogColumn::Module.is_in(f.modules.iter().map(String::as_str)));
        }
        if let Some(s) = f.min_severity {
            q = q.filter(LogColumn::Severity.gte(s.rank()));
        }
        if let Some(v) = &f.kind {
            q = if v.ends_with('.') { q.filter(LogColumn::Kind.starts_with(v.as_str())) } else { q.filter(LogColumn::Kind.eq(v.as_str())) };
        }
        if let Some(v) = &f.entity_type {
            q = q.filter(LogColumn::EntityType.eq(v.as_str()));
        }
        if let Some(v) = &f.entity_id {
            q = q.filter(LogColumn::EntityId.eq(v.as_str()));
        }
        if let Some(j) = f.job_id {
            q = q.filter(LogColumn::JobId.eq(j.0));
        }
        if let Some(text) = f.q.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            q = q.filter(Expr::col(LogColumn::SearchText).like(super::contains_lowercase(text)));
        }
        if let Some(v) = f.since {
            q = q.filter(LogColumn::At.gte(v));
        }
        if let Some(v) = f.until {
            q = q.filter(LogColumn::At.lt(v));
        }
        let rows = q.all(&self.0.conn).await.map_err(db)?.into_iter().map(to_entry).collect::<Result<Vec<_>, _>>()?;
        Ok(page.finish(rows, |r| r.id.0))
    }

    async fn count_records(&self, since: DateTime<Utc>, visible_to: Role) -> StoreResult<Vec<(Severity, u64)>> {
        let rows: Vec<(i16, i64)> = LogEntity::find()
            .select_only()
            .column(LogColumn::Severity)
            .column_as(LogColumn::Id.count(), "n")
            .filter(LogColumn::At.gte(since))
            .filter(LogColumn::Audience.is_in(readable_by(visible_to)))
            .group_by(LogColumn::Severity)
            .into_tuple()
            .all(&self.0.conn)
            .await
            .map_err(db)?;
        Ok(rows.into_iter().filter_map(|(s, n)| Some((Severity::from_rank(s)?, u64::try_from(n).unwrap_or(0)))).collect())
    }

    async fn prune_records(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let _w = self.0.write_guard().await;
        let res = LogEntity::delete_many().filter(LogColumn::At.lt(before)).exec(&self.0.conn).await.map_err(db)?;
        Ok(res.rows_affected)
    }
}

/// Writes an event-log entry and its `event.recorded` announcement on `c`
/// (the caller's transaction, so the entry commits with the change).
pub(crate) async fn insert_record<C: ConnectionTrait>(c: &C, r: Record) -> Result<EventLogEntry, StoreError> {
    let mut details = r.details;
    gantry_core::audit::redact(&mut details);
    let message = truncate(&r.message, 1000);
    let entity_name = r.entity_name.map(|s| truncate(&s, 200));
    let search = truncate(&format!("{} {} {}", message, entity_name.as_deref().unwrap_or(""), r.kind).to_lowercase(), 1300);
    let m = log_e::ActiveModel {
        at: Set(Utc::now()),
        severity: Set(r.severity.rank()),
        module: Set(truncate(r.module, 32)),
        kind: Set(truncate(&r.kind, 64)),
        entity_type: Set(r.entity_type.map(|s| truncate(&s, 64))),
        entity_id: Set(r.entity_id.map(|s| truncate(&s, 128))),
        entity_name: Set(entity_name),
        job_id: Set(r.job_id.map(|j| j.0)),
        message: Set(message),
        details: Set(details.to_string()),
        audience: Set(r.audience.as_str().to_string()),
        search_text: Set(search),
        ..Default::default()
    }
    .insert(c)
    .await
    .map_err(db)?;
    let entry = to_entry(m)?;
    // Announced on the outbox so every replica's panels can follow the log live.
    event::ActiveModel {
        at: Set(entry.at),
        kind: Set(RECORDED_KIND.to_string()),
        entity_type: Set(entry.entity_type.clone()),
        entity_id: Set(entry.entity_id.clone()),
        audience: Set(Some(entry.audience.as_str().to_string())),
        owner_id: Set(None),
        payload: Set(serde_json::to_string(&entry).map_err(|e| StoreError::Corrupt(e.to_string()))?),
        ..Default::default()
    }
    .insert(c)
    .await
    .map_err(db)?;
    Ok(entry)
}

fn to_entry(m: log_e::Model) -> Result<EventLogEntry, StoreError> {
    Ok(EventLogEntry {
        id: EventId(m.id),
        at: m.at,
        severity: Severity::from_rank(m.severity).ok_or_else(|| StoreError::Corrupt(format!("event log severity {}", m.severity)))?,
        module: m.module,
        kind: m.kind,
        entity_type: m.entity_type,
        entity_id: m.entity_id,
        entity_name: m.entity_name,
        job_id: m.job_id.map(JobId),
        message: m.message,
        details: json(&m.details)?,
        audience: role(&m.audience)?,
    })
}

/// The roles whose entries `viewer` may read.
fn readable_by(viewer: Role) -> Vec<&'static str> {
    [Role::Viewer, Role::Operator, Role::Admin].into_iter().filter(|r| viewer.allows(*r)).map(|r| r.as_str()).collect()
}
