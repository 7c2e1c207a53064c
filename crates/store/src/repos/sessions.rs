use super::users::to_user;
use super::write_trail;
use crate::Db;
use crate::entities::session::{self, Column, Entity};
use crate::entities::user;
use crate::error::db;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gantry_core::ids::UserId;
use gantry_core::repo::{SessionRecord, SessionRepo, StoreResult, Trail};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, Condition, EntityTrait, QueryFilter, Set, TransactionTrait};

pub(crate) struct SqlSessions(pub Db);

fn to_record(m: session::Model) -> SessionRecord {
    SessionRecord {
        digest: m.digest,
        user_id: UserId(m.user_id),
        csrf_token: m.csrf_token,
        expires_at: m.expires_at,
        last_seen_at: m.last_seen_at,
        created_at: m.created_at,
        client_ip: m.client_ip,
        user_agent: m.user_agent,
    }
}

#[async_trait]
impl SessionRepo for SqlSessions {
    async fn create(&self, s: SessionRecord) -> StoreResult<()> {
        let _w = self.0.write_guard().await;
        session::ActiveModel {
            digest: Set(s.digest),
            user_id: Set(s.user_id.0),
            csrf_token: Set(s.csrf_token),
            expires_at: Set(s.expires_at),
            last_seen_at: Set(s.last_seen_at),
            created_at: Set(s.created_at),
            client_ip: Set(s.client_ip.map(|v| super::truncate(&v, 64))),
            user_agent: Set(s.user_agent.map(|v| super::truncate(&v, 255))),
        }
        .insert(&self.0.conn)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn find(&self, digest: &str) -> StoreResult<Option<(SessionRecord, gantry_core::user::User)>> {
        let Some(s) = Entity::find_by_id(digest.to_string()).one(&self.0.conn).await.map_err(db)? else {
            return Ok(None);
        };
        let Some(u) = user::Entity::find_by_id(s.user_id).one(&self.0.conn).await.map_err(db)? else {
            return Ok(None);
        };
        Ok(Some((to_record(s), to_user(u)?)))
    }

    async fn touch(&self, digest: &str, at: DateTime<Utc>) -> StoreResult<()> {
        let _w = self.0.write_guard().await;
        Entity::update_many()
            .col_expr(Column::LastSeenAt, Expr::value(at))
            .filter(Column::Digest.eq(digest))
            .exec(&self.0.conn)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn delete(&self, digest: &str, trail: Trail) -> StoreResult<()> {
        let _w = self.0.write_guard().await;
        let txn = self.0.conn.begin().await.map_err(db)?;
        Entity::delete_by_id(digest.to_string()).exec(&txn).await.map_err(db)?;
        write_trail(&txn, trail).await?;
        txn.commit().await.map_err(db)?;
        Ok(())
    }

    async fn delete_for_user(&self, u: UserId, keep: Option<&str>) -> StoreResult<Vec<String>> {
        let _w = self.0.write_guard().await;
        let mut cond = Condition::all().add(Column::UserId.eq(u.0));
        if let Some(k) = keep {
            cond = cond.add(Column::Digest.ne(k));
        }
        let gone: Vec<String> =
            Entity::find().filter(cond.clone()).all(&self.0.conn).await.map_err(db)?.into_iter().map(|s| s.digest).collect();
        Entity::delete_many().filter(cond).exec(&self.0.conn).await.map_err(db)?;
        Ok(gone)
    }

    async fn prune(&self, now: DateTime<Utc>, idle_before: DateTime<Utc>) -> StoreResult<u64> {
        let _w = self.0.write_guard().await;
        let res = Entity::delete_many()
            .filter(Condition::any().add(Column::ExpiresAt.lte(now)).add(Column::LastSeenAt.lte(idle_before)))
            .exec(&self.0.conn)
            .await
            .map_err(db)?;
        Ok(res.rows_affected)
    }
}
