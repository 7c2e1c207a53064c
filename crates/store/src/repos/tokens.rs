use super::users::to_user;
use super::{role, write_trail};
use crate::Db;
use crate::entities::api_token::{self, Column, Entity};
use crate::entities::user;
use crate::error::db;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gantry_core::StoreError;
use gantry_core::ids::{TokenId, UserId};
use gantry_core::page::{Page, PageRequest};
use gantry_core::repo::{NewToken, StoreResult, TokenInfo, TokenRepo, Trail};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait};

pub(crate) struct SqlTokens(pub Db);

fn to_info(m: api_token::Model) -> Result<TokenInfo, StoreError> {
    Ok(TokenInfo {
        id: TokenId(m.id),
        user_id: UserId(m.user_id),
        name: m.name,
        prefix: m.prefix,
        role: role(&m.role)?,
        expires_at: m.expires_at,
        created_at: m.created_at,
        last_used_at: m.last_used_at,
        revoked_at: m.revoked_at,
    })
}

#[async_trait]
impl TokenRepo for SqlTokens {
    async fn create(&self, t: NewToken, trail: Trail) -> StoreResult<TokenInfo> {
        let _w = self.0.write_guard().await;
        let txn = self.0.conn.begin().await.map_err(db)?;
        let m = api_token::ActiveModel {
            user_id: Set(t.user_id.0),
            name: Set(t.name),
            prefix: Set(t.prefix),
            digest: Set(t.digest),
            role: Set(t.role.as_str().to_string()),
            expires_at: Set(t.expires_at),
            created_at: Set(Utc::now()),
            last_used_at: Set(None),
            revoked_at: Set(None),
            ..Default::default()
        }
        .insert(&txn)
        .await
        .map_err(db)?;
        let mut trail = trail;
        if let Some(a) = trail.audit.as_mut() {
            a.entity_id = Some(m.id.to_string());
        }
        write_trail(&txn, trail).await?;
        txn.commit().await.map_err(db)?;
        to_info(m)
    }

    async fn find(&self, digest: &str) -> StoreResult<Option<(TokenInfo, gantry_core::user::User)>> {
        let Some(t) = Entity::find().filter(Column::Digest.eq(digest)).one(&self.0.conn).await.map_err(db)? else {
            return Ok(None);
        };
        let Some(u) = user::Entity::find_by_id(t.user_id).one(&self.0.conn).await.map_err(db)? else {
            return Ok(None);
        };
        Ok(Some((to_info(t)?, to_user(u)?)))
    }

    async fn get(&self, id: TokenId) -> StoreResult<TokenInfo> {
        to_info(Entity::find_by_id(id.0).one(&self.0.conn).await.map_err(db)?.ok_or(StoreError::NotFound)?)
    }

    async fn list(&self, u: Option<UserId>, page: PageRequest) -> StoreResult<Page<TokenInfo>> {
        let mut q = Entity::find().order_by_desc(Column::Id).limit(page.limit + 1);
        if let Some(u) = u {
            q = q.filter(Column::UserId.eq(u.0));
        }
        if let Some(c) = &page.after {
            q = q.filter(Column::Id.lt(c.id));
        }
        let rows = q.all(&self.0.conn).await.map_err(db)?.into_iter().map(to_info).collect::<Result<Vec<_>, _>>()?;
        Ok(page.finish(rows, |t| t.id.0))
    }

    async fn revoke(&self, id: TokenId, at: DateTime<Utc>, trail: Trail) -> StoreResult<String> {
        let _w = self.0.write_guard().await;
        let txn = self.0.conn.begin().await.map_err(db)?;
        let m = Entity::find_by_id(id.0).one(&txn).await.map_err(db)?.ok_or(StoreError::NotFound)?;
        Entity::update_many()
            .col_expr(Column::RevokedAt, Expr::value(at))
            .filter(Column::Id.eq(id.0))
            .filter(Column::RevokedAt.is_null())
            .exec(&txn)
            .await
            .map_err(db)?;
        write_trail(&txn, trail).await?;
        txn.commit().await.map_err(db)?;
        Ok(m.digest)
    }

    async fn touch(&self, id: TokenId, at: DateTime<Utc>) -> StoreResult<()> {
        let _w = self.0.write_guard().await;
        Entity::update_many()
            .col_expr(Column::LastUsedAt, Expr::value(at))
            .filter(Column::Id.eq(id.0))
            .exec(&self.0.conn)
            .await
            .map_err(db)?;
        Ok(())
    }
}
