use super::{role, write_trail};
use crate::Db;
use crate::entities::user::{self, Column, Entity};
use crate::error::{db, map};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gantry_core::StoreError;
use gantry_core::ids::UserId;
use gantry_core::page::{Cursor, Direction, Page, PageRequest, Sort};
use gantry_core::repo::{StoreResult, Trail, UserFilter, UserRepo, UserSort};
use gantry_core::user::{NewUser, Role, User, UserPatch, Username};
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
};

pub(crate) struct SqlUsers(pub Db);

pub(crate) fn to_user(m: user::Model) -> Result<User, StoreError> {
    Ok(User {
        id: UserId(m.id),
        username: Username::parse(&m.username).map_err(StoreError::Corrupt)?,
        display_name: m.display_name,
        role: role(&m.role)?,
        disabled: m.disabled,
        version: m.version,
        created_at: m.created_at,
        updated_at: m.updated_at,
        last_login_at: m.last_login_at,
    })
}

#[async_trait]
impl UserRepo for SqlUsers {
    async fn create(&self, u: NewUser, trail: Trail) -> StoreResult<User> {
        let _w = self.0.write_guard().await;
        let txn = self.0.conn.begin().await.map_err(db)?;
        let now = Utc::now();
        let m = user::ActiveModel {
            username: Set(u.username.as_str().to_string()),
            display_name: Set(u.display_name),
            role: Set(u.role.as_str().to_string()),
            password_hash: Set(u.password_hash),
            disabled: Set(false),
            version: Set(1),
            created_at: Set(now),
            updated_at: Set(now),
            last_login_at: Set(None),
            ..Default::default()
        }
        .insert(&txn)
        .await
        .map_err(|e| map(e, "username"))?;
        let mut trail = trail;
        if let Some(a) = trail.audit.as_mut() {
            a.entity_id = Some(m.id.to_string());
        }
        write_trail(&txn, trail).await?;
        txn.commit().await.map_err(db)?;
        to_user(m)
    }

    async fn get(&self, id: UserId) -> StoreResult<User> {
        let m = Entity::find_by_id(id.0).one(&self.0.conn).await.map_err(db)?.ok_or(StoreError::NotFound)?;
        to_user(m)
    }

    async fn find_for_login(&self, username: &Username) -> StoreResult<Option<(User, String)>> {
        let m = Entity::find().filter(Column::Username.eq(username.as_str())).one(&self.0.conn).await.map_err(db)?;
        match m {
            Some(m) => {
                let hash = m.password_hash.clone();
                Ok(Some((to_user(m)?, hash)))
            }
            None => Ok(None),
        }
    }

    async fn password_hash(&self, id: UserId) -> StoreResult<String> {
        let m = Entity::find_by_id(id.0).one(&self.0.conn).await.map_err(db)?.ok_or(StoreError::NotFound)?;
        Ok(m.password_hash)
    }

    async fn list(&self, f: &UserFilter, page: PageRequest) -> StoreResult<Page<User>> {
        let sort = f.sort.unwrap_or(Sort { field: UserSort::Id, direction: Direction::Asc });
        let key_col = match sort.field {
            UserSort::Id => None,
            UserSort::Username => Some(Column::Username),
            UserSort::Role => Some(Column::Role),
        };
        let desc = sort.direction == Direction::Desc;
        let mut q = Entity::find().limit(page.limit + 1);
        if let Some(col) = key_col {
            q = if desc { q.order_by_desc(col) } else { q.order_by_asc(col) };
        }
        q = if desc { q.order_by_desc(Column::Id) } else { q.order_by_asc(Column::Id) };
        if let Some(c) = &page.after {
            // Keyset continuation: strictly after (key, id) in the chosen order.
            let id_after = if desc { Column::Id.lt(c.id) } else { Column::Id.gt(c.id) };
            q = match (key_col, &c.key) {
                (Some(col), Some(k)) => {
                    let key_after = if desc { col.lt(k.as_str()) } else { col.gt(k.as_str()) };
                    q.filter(Condition::any().add(key_after).add(Condition::all().add(col.eq(k.as_str())).add(id_after)))
                }
                _ => q.filter(id_after),
            };
        }
        if let Some(text) = f.q.as_deref().filter(|s| !s.is_empty()) {
            let pat = format!("%{}%", text.to_lowercase());
            q = q.filter(
                Condition::any()
                    .add(Column::Username.like(pat.clone()))
                    .add(Expr::expr(Func::lower(Expr::col(Column::DisplayName))).like(pat)),
            );
        }
        if let Some(r) = f.role {
            q = q.filter(Column::Role.eq(r.as_str()));
        }
        if let Some(d) = f.disabled {
            q = q.filter(Column::Disabled.eq(d));
        }
        let rows = q.all(&self.0.conn).await.map_err(db)?;
        let users = rows.into_iter().map(to_user).collect::<Result<Vec<_>, _>>()?;
        Ok(page.finish_keyed(users, |u| Cursor {
            id: u.id.0,
            key: match sort.field {
                UserSort::Id => None,
                UserSort::Username => Some(u.username.to_string()),
                UserSort::Role => Some(u.role.as_str().to_string()),
            },
        }))
    }

    async fn update(&self, id: UserId, expected: i64, patch: UserPatch, trail: Trail) -> StoreResult<User> {
        let _w = self.0.write_guard().await;
        let txn = self.0.conn.begin().await.map_err(db)?;
        let mut upd = Entity::update_many()
            .col_expr(Column::Version, Expr::value(expected + 1))
            .col_expr(Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(Column::Id.eq(id.0))
            .filter(Column::Version.eq(expected));
        if let Some(v) = patch.display_name {
            upd = upd.col_expr(Column::DisplayName, Expr::value(v));
        }
        if let Some(v) = patch.role {
            upd = upd.col_expr(Column::Role, Expr::value(v.as_str()));
        }
        if let Some(v) = patch.disabled {
            upd = upd.col_expr(Column::Disabled, Expr::value(v));
        }
        if let Some(v) = patch.password_hash {
            upd = upd.col_expr(Column::PasswordHash, Expr::value(v));
        }
        let res = upd.exec(&txn).await.map_err(db)?;
        if res.rows_affected == 0 {
            let current = Entity::find_by_id(id.0).one(&txn).await.map_err(db)?.ok_or(StoreError::NotFound)?;
            return Err(StoreError::Stale { current: current.version });
        }
        write_trail(&txn, trail).await?;
        let m = Entity::find_by_id(id.0).one(&txn).await.map_err(db)?.ok_or(StoreError::NotFound)?;
        txn.commit().await.map_err(db)?;
        to_user(m)
    }

    async fn touch_login(&self, id: UserId, at: DateTime<Utc>) -> StoreResult<()> {
        let _w = self.0.write_guard().await;
        Entity::update_many()
            .col_expr(Column::LastLoginAt, Expr::value(at))
            .filter(Column::Id.eq(id.0))
            .exec(&self.0.conn)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn count_active_admins(&self) -> StoreResult<u64> {
        Entity::find()
            .filter(Column::Role.eq(Role::Admin.as_str()))
            .filter(Column::Disabled.eq(false))
            .count(&self.0.conn)
            .await
            .map_err(db)
    }

    async fn count(&self) -> StoreResult<u64> {
        Entity::find().count(&self.0.conn).await.map_err(db)
    }
}
