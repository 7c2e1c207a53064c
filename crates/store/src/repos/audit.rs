use super::{json, role, write_trail};
use crate::Db;
use crate::entities::audit::{self, Column, Entity};
use crate::error::db;
use async_trait::async_trait;
use gantry_core::StoreError;
use gantry_core::audit::{AuditDraft, AuditFilter, AuditRecord};
use gantry_core::ids::{AuditId, UserId};
use gantry_core::page::{Page, PageRequest};
use gantry_core::repo::{AuditRepo, StoreResult, Trail};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait};

pub(crate) struct SqlAudit(pub Db);

fn to_record(m: audit::Model) -> Result<AuditRecord, StoreError> {
    Ok(AuditRecord {
        id: AuditId(m.id),
        at: m.at,
        actor_id: m.actor_id.map(UserId),
        actor_name: m.actor_name,
        actor_role: m.actor_role.as_deref().map(role).transpose()?,
        action: m.action,
        entity_type: m.entity_type,
        entity_id: m.entity_id,
        request_id: m.request_id,
        client_ip: m.client_ip,
        summary: json(&m.summary)?,
    })
}

#[async_trait]
impl AuditRepo for SqlAudit {
    async fn append(&self, draft: AuditDraft) -> StoreResult<()> {
        let _w = self.0.write_guard().await;
        write_trail(&self.0.conn, Trail::audit(draft)).await
    }

    async fn write(&self, trail: Trail) -> StoreResult<()> {
        let _w = self.0.write_guard().await;
        let txn = self.0.conn.begin().await.map_err(db)?;
        write_trail(&txn, trail).await?;
        txn.commit().await.map_err(db)
    }

    async fn list(&self, f: &AuditFilter, page: PageRequest) -> StoreResult<Page<AuditRecord>> {
        let mut q = Entity::find().order_by_desc(Column::Id).limit(page.limit + 1);
        if let Some(c) = &page.after {
            q = q.filter(Column::Id.lt(c.id));
        }
        if let Some(v) = &f.actor {
            q = q.filter(Column::ActorName.eq(v.as_str()));
        }
        if let Some(v) = &f.entity_type {
            q = q.filter(Column::EntityType.eq(v.as_str()));
        }
        if let Some(v) = &f.entity_id {
            q = q.filter(Column::EntityId.eq(v.as_str()));
        }
        if let Some(v) = &f.action {
            q = if v.ends_with('.') { q.filter(Column::Action.starts_with(v.as_str())) } else { q.filter(Column::Action.eq(v.as_str())) };
        }
        if let Some(v) = f.since {
            q = q.filter(Column::At.gte(v));
        }
        if let Some(v) = f.until {
            q = q.filter(Column::At.lt(v));
        }
        let rows = q.all(&self.0.conn).await.map_err(db)?.into_iter().map(to_record).collect::<Result<Vec<_>, _>>()?;
        Ok(page.finish(rows, |r| r.id.0))
    }
}
