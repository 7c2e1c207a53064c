//! Repository implementations over sea-orm.

mod audit;
mod events;
mod jobs;

pub use jobs::insert_job;
mod sessions;
mod tokens;
mod users;

use crate::Db;
use crate::entities::{audit as audit_e, event as event_e};
use crate::error::db;
use chrono::Utc;
use gantry_core::StoreError;
use gantry_core::repo::{AuditRepo, EventRepo, JobRepo, SessionRepo, TokenRepo, Trail, UserRepo};
use gantry_core::user::Role;
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set};
use std::sync::Arc;

/// Every platform repository, ready to hand to the services.
#[derive(Clone)]
pub struct Repos {
    /// Users.
    pub users: Arc<dyn UserRepo>,
    /// Browser sessions.
    pub sessions: Arc<dyn SessionRepo>,
    /// API tokens.
    pub tokens: Arc<dyn TokenRepo>,
    /// Audit log.
    pub audit: Arc<dyn AuditRepo>,
    /// Event outbox.
    pub events: Arc<dyn EventRepo>,
    /// Job queue.
    pub jobs: Arc<dyn JobRepo>,
}

impl Repos {
    /// Builds all repositories over one pool.
    pub fn new(db: &Db) -> Self {
        Self {
            users: Arc::new(users::SqlUsers(db.clone())),
            sessions: Arc::new(sessions::SqlSessions(db.clone())),
            tokens: Arc::new(tokens::SqlTokens(db.clone())),
            audit: Arc::new(audit::SqlAudit(db.clone())),
            events: Arc::new(events::SqlEvents(db.clone())),
            jobs: Arc::new(jobs::SqlJobs::new(db.clone())),
        }
    }
}

/// Writes the audit record and outbox events of a change, inside its transaction.
pub async fn write_trail<C: ConnectionTrait>(c: &C, trail: Trail) -> Result<(), StoreError> {
    let now = Utc::now();
    if let Some(a) = trail.audit {
        audit_e::ActiveModel {
            at: Set(now),
            actor_id: Set(a.actor.user_id.map(|u| u.0)),
            actor_name: Set(truncate(&a.actor.name, 64)),
            actor_role: Set(a.actor.role.map(|r| r.as_str().to_string())),
            action: Set(truncate(&a.action, 64)),
            entity_type: Set(truncate(&a.entity_type, 64)),
            entity_id: Set(a.entity_id.map(|s| truncate(&s, 128))),
            request_id: Set(a.actor.request_id.map(|s| truncate(&s, 64))),
            client_ip: Set(a.actor.client_ip.map(|s| truncate(&s, 64))),
            summary: Set(a.summary.to_string()),
            ..Default::default()
        }
        .insert(c)
        .await
        .map_err(db)?;
    }
    for e in trail.events {
        insert_event(c, e).await?;
    }
    for r in trail.records {
        events::insert_record(c, r).await?;
    }
    Ok(())
}

/// Inserts one outbox event (and its event-log entry, if it carries one) and returns its id.
pub(crate) async fn insert_event<C: ConnectionTrait>(c: &C, mut e: gantry_core::events::EventDraft) -> Result<i64, StoreError> {
    let record = e.record.take();
    let m = event_e::ActiveModel {
        at: Set(Utc::now()),
        kind: Set(truncate(&e.kind, 64)),
        entity_type: Set(e.entity_type.map(|s| truncate(&s, 64))),
        entity_id: Set(e.entity_id.map(|s| truncate(&s, 128))),
        audience: Set(e.audience.map(|r| r.as_str().to_string())),
        owner_id: Set(e.owner.map(|u| u.0)),
        payload: Set(e.payload.to_string()),
        ..Default::default()
    }
    .insert(c)
    .await
    .map_err(db)?;
    if let Some(r) = record {
        events::insert_record(c, r).await?;
    }
    Ok(m.id)
}

/// A `LIKE` pattern matching rows whose lower-cased search column contains
/// `text`, case-insensitively; `%`, `_` and `\` in `text` match themselves.
pub fn contains_lowercase(text: &str) -> sea_orm::sea_query::LikeExpr {
    let escaped: String =
        text.to_lowercase().chars().flat_map(|c| if matches!(c, '%' | '_' | '\\') { vec!['\\', c] } else { vec![c] }).collect();
    sea_orm::sea_query::LikeExpr::new(format!("%{escaped}%")).escape('\\')
}

/// Cuts a string to `max` characters (column bounds), on a char boundary.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// Parses a stored role.
pub(crate) fn role(s: &str) -> Result<Role, StoreError> {
    s.parse().map_err(StoreError::Corrupt)
}

/// Parses stored JSON text.
pub(crate) fn json(s: &str) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("stored JSON: {e}")))
}
