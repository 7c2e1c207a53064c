use super::{insert_event, json, role};
use crate::Db;
use crate::entities::event::{self, Column, Entity};
use crate::error::db;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gantry_core::StoreError;
use gantry_core::events::{Event, EventDraft};
use gantry_core::ids::{EventId, UserId};
use gantry_core::repo::{EventRepo, StoreResult};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

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
}
