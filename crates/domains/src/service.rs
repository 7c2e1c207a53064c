//! Domain groups and domains: the rules, the per-server uniqueness of names,
//! and the outbox events the proxy module reconciles from.

use crate::model::Scheme;
use crate::spec::{self, DomainInput, DomainOptions, DomainSpec, Route};
use crate::store::{domain, group, name};
use chrono::Utc;
use gantry_core::audit::{Actor, AuditDraft};
use gantry_core::events::DomainEvent;
use gantry_core::page::{Cursor, Direction, Page, PageRequest, Sort};
use gantry_core::repo::Trail;
use gantry_core::{FieldError, ServiceError, StoreError};
use gantry_store::Db;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use serde::Serialize;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use utoipa::ToSchema;

/// Looks up server names and existence (implemented over the servers module's public service).
#[async_trait::async_trait]
pub trait ServerDirectory: Send + Sync {
    /// The server's name, or `None` if it does not exist.
    async fn name_of(&self, id: i64) -> Option<String>;
}

/// Checks that an uploaded certificate exists and covers a domain's names
/// (implemented by the TLS module, which mounts after this one).
#[async_trait::async_trait]
pub trait CertificateCheck: Send + Sync {
    /// `Err` with a sentence for the user when certificate `id` cannot serve `names`.
    async fn check(&self, id: i64, names: &[String]) -> Result<(), String>;
}

/// A reference to another object.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct Ref {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
}

/// A domain group as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DomainGroup {
    /// Id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// The server whose proxy serves the group, if bound.
    pub server: Option<Ref>,
    /// Changes wait for an operator to apply them instead of going live by themselves.
    pub manual_approval: bool,
    /// Drift on the server is repaired automatically.
    pub auto_repair: bool,
    /// Number of domains.
    pub domain_count: u64,
    /// Version (`ETag`).
    pub version: i64,
    /// Created.
    pub created_at: chrono::DateTime<Utc>,
    /// Updated.
    pub updated_at: chrono::DateTime<Utc>,
}

/// A domain as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Domain {
    /// Id.
    pub id: i64,
    /// Its group.
    pub group: Ref,
    /// Where it is served: the group's server.
    pub server: Option<Ref>,
    /// ASCII (punycode) name.
    pub name: String,
    /// The name as people read it.
    pub name_unicode: String,
    /// Target IP.
    pub target_ip: String,
    /// Target port.
    pub target_port: u16,
    /// Upstream scheme.
    pub scheme: Scheme,
    /// Aliases (ASCII).
    pub aliases: Vec<String>,
    /// Served or not.
    pub enabled: bool,
    /// Options.
    pub options: DomainOptions,
    /// Path routes, longest prefix first.
    pub routes: Vec<Route>,
    /// Version (`ETag`).
    pub version: i64,
    /// Created.
    pub created_at: chrono::DateTime<Utc>,
    /// Updated.
    pub updated_at: chrono::DateTime<Utc>,
}

/// A domain changed; the proxy module reconciles `server_ids`.
#[derive(Debug, Clone, Serialize)]
pub struct DomainChanged {
    /// The domain.
    pub domain_id: i64,
    /// Its name.
    pub name: String,
    /// Its group.
    pub group_id: i64,
    /// `created`, `updated`, `deleted`, `moved`, `enabled`, `disabled`.
    pub change: String,
    /// Servers whose configuration is affected (old and new).
    pub server_ids: Vec<i64>,
}

impl DomainEvent for DomainChanged {
    const KIND: &'static str = "domain.changed";
    fn entity(&self) -> Option<(&'static str, String)> {
        Some(("domain", self.domain_id.to_string()))
    }
}

/// A group changed (binding, deletion, settings).
#[derive(Debug, Clone, Serialize)]
pub struct DomainGroupChanged {
    /// The group.
    pub group_id: i64,
    /// `created`, `updated`, `rebound`, `deleted`.
    pub change: String,
    /// Servers whose configuration is affected.
    pub server_ids: Vec<i64>,
}

impl DomainEvent for DomainGroupChanged {
    const KIND: &'static str = "domain_group.changed";
    fn entity(&self) -> Option<(&'static str, String)> {
        Some(("domain_group", self.group_id.to_string()))
    }
}

/// A group bound to a server, with the enabled domains it serves: the proxy's
/// rendering input. Every domain is validated again on the way out, so only
/// values that pass today's rules ever reach a configuration file.
#[derive(Debug, Clone)]
pub struct ServedGroup {
    /// Group id.
    pub id: i64,
    /// Group name.
    pub name: String,
    /// Changes wait for an operator.
    pub manual_approval: bool,
    /// Drift is repaired automatically.
    pub auto_repair: bool,
    /// Enabled domains, by name.
    pub domains: Vec<ServedDomain>,
}

/// One enabled domain of a [`ServedGroup`].
#[derive(Debug, Clone)]
pub struct ServedDomain {
    /// Domain id.
    pub id: i64,
    /// Its version.
    pub version: i64,
    /// The validated domain.
    pub spec: DomainSpec,
}

/// What to do with a deleted group's domains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDelete {
    /// Refuse if the group has domains.
    Refuse,
    /// Delete them too.
    Delete,
    /// Move them to this group.
    MoveTo(i64),
}

/// Group changes; `server_id: Some(None)` unbinds.
#[derive(Debug, Clone, Default)]
pub struct GroupInput {
    /// Name.
    pub name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Binding.
    pub server_id: Option<Option<i64>>,
    /// Manual approval.
    pub manual_approval: Option<bool>,
    /// Automatic drift repair.
    pub auto_repair: Option<bool>,
}

/// Domain list filters.
#[derive(Debug, Clone, Default)]
pub struct DomainFilter {
    /// Substring of the name.
    pub q: Option<String>,
    /// Only this group.
    pub group_id: Option<i64>,
    /// Only groups bound to this server.
    pub server_id: Option<i64>,
    /// Enabled or not.
    pub enabled: Option<bool>,
    /// Order: by name or by id.
    pub sort: Option<Sort<DomainSort>>,
}

/// Sortable domain fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DomainSort {
    /// Creation order.
    Id,
    /// Name.
    Name,
}

impl DomainSort {
    /// Accepted `?sort=` names.
    pub const ALLOWED: &'static [(&'static str, DomainSort)] = &[("id", DomainSort::Id), ("name", DomainSort::Name)];
}

/// The domains service.
pub struct DomainsService {
    db: Db,
    servers: Arc<dyn ServerDirectory>,
    /// Woken after each commit, so this replica's relay publishes the change's events at once
    /// (the proxy reconciles from them) instead of at its next poll.
    bus: gantry_core::events::EventBus,
    certificates: std::sync::OnceLock<Arc<dyn CertificateCheck>>,
}

fn db(e: DbErr) -> ServiceError {
    match e.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => {
            ServiceError::Conflict { field: "name".into(), message: "the name is already taken".into() }
        }
        _ => StoreError::Database(e.to_string()).into(),
    }
}

fn server_key(g: &group::Model) -> String {
    match g.server_id {
        Some(s) => format!("s{s}"),
        None => format!("g{}", g.id),
    }
}

fn corrupt(what: &str) -> ServiceError {
    ServiceError::Internal(format!("stored domain data is invalid: {what}"))
}

impl DomainsService {
    /// Builds the service.
    pub fn new(db: Db, servers: Arc<dyn ServerDirectory>, bus: gantry_core::events::EventBus) -> Self {
        Self { db, servers, bus, certificates: std::sync::OnceLock::new() }
    }

    /// Domains whose `tls: certificate` points at certificate `id`.
    pub async fn domains_using_certificate(&self, id: i64) -> Result<Vec<i64>, ServiceError> {
        // Options are JSON text: narrow with LIKE, then decode to be exact (5 must not match 50).
        let rows = domain::Entity::find()
            .filter(domain::Column::Options.contains(format!("\"certificate_id\":{id}")))
            .all(self.db.connection())
            .await
            .map_err(db)?;
        Ok(rows
            .into_iter()
            .filter(|m| {
                serde_json::from_str::<DomainOptions>(&m.options)
                    .is_ok_and(|o| o.tls == spec::TlsMode::Certificate && o.certificate_id == Some(id))
            })
            .map(|m| m.id)
            .collect())
    }

    /// Registers the certificate check (the TLS module calls this while mounting).
    pub fn set_certificate_check(&self, check: Arc<dyn CertificateCheck>) {
        let _ = self.certificates.set(check);
    }

    async fn server_ref(&self, id: Option<i64>, cache: &mut HashMap<i64, Option<String>>) -> Option<Ref> {
        let id = id?;
        if let std::collections::hash_map::Entry::Vacant(slot) = cache.entry(id) {
            slot.insert(self.servers.name_of(id).await);
        }
        cache.get(&id).cloned().flatten().map(|name| Ref { id, name })
    }

    async fn group_view(&self, g: group::Model, cache: &mut HashMap<i64, Option<String>>) -> Result<DomainGroup, ServiceError> {
        let count = domain::Entity::find().filter(domain::Column::GroupId.eq(g.id)).count(self.db.connection()).await.map_err(db)?;
        Ok(DomainGroup {
            server: self.server_ref(g.server_id, cache).await,
            id: g.id,
            name: g.name,
            description: g.description,
            manual_approval: g.manual_approval,
            auto_repair: g.auto_repair,
            domain_count: count,
            version: g.version,
            created_at: g.created_at,
            updated_at: g.updated_at,
        })
    }

    fn decode(m: &domain::Model) -> Result<(Vec<String>, DomainOptions, Vec<Route>), ServiceError> {
        let aliases: Vec<String> = serde_json::from_str(&m.aliases).map_err(|_| corrupt("aliases"))?;
        let options: DomainOptions = serde_json::from_str(&m.options).map_err(|_| corrupt("options"))?;
        let routes: Vec<Route> = serde_json::from_str(&m.routes).map_err(|_| corrupt("routes"))?;
        Ok((aliases, options, routes))
    }

    async fn domain_view(
        &self,
        m: domain::Model,
        groups: &mut HashMap<i64, group::Model>,
        cache: &mut HashMap<i64, Option<String>>,
    ) -> Result<Domain, ServiceError> {
        if let std::collections::hash_map::Entry::Vacant(slot) = groups.entry(m.group_id) {
            slot.insert(
                group::Entity::find_by_id(m.group_id).one(self.db.connection()).await.map_err(db)?.ok_or_else(|| corrupt("group"))?,
            );
        }
        let g = groups.get(&m.group_id).cloned().ok_or_else(|| corrupt("group"))?;
        let (aliases, options, routes) = Self::decode(&m)?;
        let name_unicode = crate::model::DomainName::parse(&m.name).map(|n| n.unicode()).unwrap_or_else(|_| m.name.clone());
        Ok(Domain {
            id: m.id,
            group: Ref { id: g.id, name: g.name.clone() },
            server: self.server_ref(g.server_id, cache).await,
            name: m.name,
            name_unicode,
            target_ip: m.target_ip,
            target_port: u16::try_from(m.target_port).map_err(|_| corrupt("port"))?,
            scheme: if m.scheme == "https" { Scheme::Https } else { Scheme::Http },
            aliases,
            enabled: m.enabled,
            options,
            routes,
            version: m.version,
            created_at: m.created_at,
            updated_at: m.updated_at,
        })
    }

    async fn group_model<C: ConnectionTrait>(c: &C, id: i64) -> Result<group::Model, ServiceError> {
        group::Entity::find_by_id(id).one(c).await.map_err(db)?.ok_or(ServiceError::NotFound("domain group"))
    }

    async fn domain_model<C: ConnectionTrait>(c: &C, id: i64) -> Result<domain::Model, ServiceError> {
        domain::Entity::find_by_id(id).one(c).await.map_err(db)?.ok_or(ServiceError::NotFound("domain"))
    }

    /// Which domain (and group) already serves `name` under `key`, for conflict messages.
    async fn holder<C: ConnectionTrait>(c: &C, key: &str, n: &str) -> Option<(String, String)> {
        let row = name::Entity::find().filter(name::Column::ServerKey.eq(key)).filter(name::Column::Name.eq(n)).one(c).await.ok()??;
        let d = domain::Entity::find_by_id(row.domain_id).one(c).await.ok()??;
        let g = group::Entity::find_by_id(d.group_id).one(c).await.ok()??;
        Some((d.name, g.name))
    }

    /// Re-registers a domain's names under its group's server key; a taken name is a 409 naming its holder.
    async fn claim_names(txn: &DatabaseTransaction, domain_id: i64, key: &str, names: &[String]) -> Result<(), ServiceError> {
        name::Entity::delete_many().filter(name::Column::DomainId.eq(domain_id)).exec(txn).await.map_err(db)?;
        for (i, n) in names.iter().enumerate() {
            if let Some((d, g)) = Self::holder(txn, key, n).await {
                let field = if i == 0 { "name".to_string() } else { format!("aliases[{}]", i - 1) };
                return Err(ServiceError::Conflict {
                    field,
                    message: format!("{n} is already served on this server by domain {d} in group {g}"),
                });
            }
            name::ActiveModel { server_key: Set(key.to_string()), name: Set(n.clone()), domain_id: Set(domain_id), ..Default::default() }
                .insert(txn)
                .await
                .map_err(db)?;
        }
        Ok(())
    }

    fn names(spec: &DomainSpec) -> Vec<String> {
        std::iter::once(spec.name.as_str().to_string()).chain(spec.aliases.iter().map(|a| a.as_str().to_string())).collect()
    }

    // ----- groups -----

    /// Lists groups by id.
    pub async fn list_groups(&self, q: Option<&str>, server_id: Option<i64>, page: PageRequest) -> Result<Page<DomainGroup>, ServiceError> {
        let mut s = group::Entity::find().order_by_asc(group::Column::Id).limit(page.limit + 1);
        if let Some(c) = &page.after {
            s = s.filter(group::Column::Id.gt(c.id));
        }
        if let Some(q) = q.filter(|q| !q.is_empty()) {
            s = s.filter(group::Column::Name.contains(q.to_lowercase()));
        }
        if let Some(sid) = server_id {
            s = s.filter(group::Column::ServerId.eq(sid));
        }
        let rows = s.all(self.db.connection()).await.map_err(db)?;
        let mut cache = HashMap::new();
        let mut out = Vec::new();
        for g in rows {
            out.push(self.group_view(g, &mut cache).await?);
        }
        Ok(page.finish(out, |g| g.id))
    }

    /// One group.
    pub async fn get_group(&self, id: i64) -> Result<DomainGroup, ServiceError> {
        let g = Self::group_model(self.db.connection(), id).await?;
        self.group_view(g, &mut HashMap::new()).await
    }

    fn group_name(raw: &str) -> Result<String, String> {
        let s = raw.trim().to_ascii_lowercase();
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.starts_with(|c: char| c.is_ascii_alphanumeric())
            && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if ok { Ok(s) } else { Err("must be 1–64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit".into()) }
    }

    async fn check_server(&self, e: &mut Vec<FieldError>, id: Option<i64>) {
        if let Some(sid) = id
            && self.servers.name_of(sid).await.is_none()
        {
            e.push(FieldError::new("server_id", format!("server {sid} does not exist")));
        }
    }

    /// Creates a group.
    pub async fn create_group(&self, input: GroupInput, actor: &Actor) -> Result<DomainGroup, ServiceError> {
        let mut errors = Vec::new();
        let name = match input.name.as_deref().map(Self::group_name) {
            Some(Ok(n)) => Some(n),
            Some(Err(m)) => {
                errors.push(FieldError::new("name", m));
                None
            }
            None => {
                errors.push(FieldError::new("name", "is required"));
                None
            }
        };
        let description = input.description.unwrap_or_default();
        if description.chars().count() > 1000 {
            errors.push(FieldError::new("description", "must be at most 1000 characters"));
        }
        let server_id = input.server_id.flatten();
        self.check_server(&mut errors, server_id).await;
        let Some(name) = name.filter(|_| errors.is_empty()) else { return Err(ServiceError::Validation(errors)) };
        let _w = self.db.write_guard().await;
        let txn = self.db.connection().begin().await.map_err(db)?;
        let now = Utc::now();
        let g = group::ActiveModel {
            name: Set(name.clone()),
            description: Set(description),
            server_id: Set(server_id),
            manual_approval: Set(input.manual_approval.unwrap_or(false)),
            auto_repair: Set(input.auto_repair.unwrap_or(false)),
            version: Set(1),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await
        .map_err(|e| match db(e) {
            ServiceError::Conflict { .. } => {
                ServiceError::Conflict { field: "name".into(), message: format!("a domain group named {name} already exists") }
            }
            other => other,
        })?;
        let trail = Trail::audit(AuditDraft::new(
            actor,
            "domain_group.create",
            "domain_group",
            Some(g.id.to_string()),
            json!({"after": {"name": g.name, "server_id": g.server_id}}),
        ))
        .with_event(DomainGroupChanged { group_id: g.id, change: "created".into(), server_ids: g.server_id.into_iter().collect() }.draft());
        gantry_store::write_trail(&txn, trail).await?;
        txn.commit().await.map_err(db)?;
        self.bus.notify_written();
        drop(_w);
        self.group_view(g, &mut HashMap::new()).await
    }

    /// Renames, describes, rebinds a group. Rebinding moves every name of the
    /// group to the new server's namespace in the same transaction, and fails
    /// with a 409 naming the clash if one is already served there.
    pub async fn update_group(
        &self,
        id: i64,
        if_match: Option<i64>,
        input: GroupInput,
        actor: &Actor,
    ) -> Result<DomainGroup, ServiceError> {
        let mut errors = Vec::new();
        let name = match input.name.as_deref().map(Self::group_name) {
            Some(Ok(n)) => Some(n),
            Some(Err(m)) => {
                errors.push(FieldError::new("name", m));
                None
            }
            None => None,
        };
        if input.description.as_ref().is_some_and(|d| d.chars().count() > 1000) {
            errors.push(FieldError::new("description", "must be at most 1000 characters"));
        }
        if let Some(sid) = input.server_id {
            self.check_server(&mut errors, sid).await;
        }
        if !errors.is_empty() {
            return Err(ServiceError::Validation(errors));
        }
        let _w = self.db.write_guard().await;
        let txn = self.db.connection().begin().await.map_err(db)?;
        let before = Self::group_model(&txn, id).await?;
        if if_match.is_some_and(|v| v != before.version) {
            return Err(ServiceError::Stale { current: before.version });
        }
        let mut am: group::ActiveModel = before.clone().into();
        if let Some(n) = &name {
            am.name = Set(n.clone());
        }
        if let Some(d) = &input.description {
            am.description = Set(d.clone());
        }
        if let Some(s) = input.server_id {
            am.server_id = Set(s);
        }
        if let Some(m) = input.manual_approval {
            am.manual_approval = Set(m);
        }
        if let Some(r) = input.auto_repair {
            am.auto_repair = Set(r);
        }
        am.version = Set(before.version + 1);
        am.updated_at = Set(Utc::now());
        let after = am.update(&txn).await.map_err(|e| match db(e) {
            ServiceError::Conflict { .. } => {
                ServiceError::Conflict { field: "name".into(), message: "a domain group with this name already exists".into() }
            }
            other => other,
        })?;
        let rebound = after.server_id != before.server_id;
        if rebound {
            let new_key = server_key(&after);
            let ids: Vec<i64> = domain::Entity::find()
                .filter(domain::Column::GroupId.eq(id))
                .all(&txn)
                .await
                .map_err(db)?
                .into_iter()
                .map(|d| d.id)
                .collect();
            for n in name::Entity::find().filter(name::Column::DomainId.is_in(ids.clone())).all(&txn).await.map_err(db)? {
                if let Some((d, g)) = Self::holder(&txn, &new_key, &n.name).await {
                    return Err(ServiceError::Conflict {
                        field: "server_id".into(),
                        message: format!("{} is already served on that server by domain {d} in group {g}", n.name),
                    });
                }
            }
            name::Entity::update_many()
                .col_expr(name::Column::ServerKey, Expr::value(new_key))
                .filter(name::Column::DomainId.is_in(ids))
                .exec(&txn)
                .await
                .map_err(db)?;
        }
        let servers: Vec<i64> = before.server_id.into_iter().chain(after.server_id).collect();
        let summary = json!({"before": {"name": before.name, "server_id": before.server_id, "manual_approval": before.manual_approval, "auto_repair": before.auto_repair},
            "after": {"name": after.name, "server_id": after.server_id, "manual_approval": after.manual_approval, "auto_repair": after.auto_repair}});
        let trail = Trail::audit(AuditDraft::new(actor, "domain_group.update", "domain_group", Some(id.to_string()), summary)).with_event(
            DomainGroupChanged { group_id: id, change: if rebound { "rebound" } else { "updated" }.into(), server_ids: servers }.draft(),
        );
        gantry_store::write_trail(&txn, trail).await?;
        txn.commit().await.map_err(db)?;
        self.bus.notify_written();
        drop(_w);
        self.group_view(after, &mut HashMap::new()).await
    }

    /// Deletes a group; its domains are refused, deleted, or moved as asked.
    pub async fn delete_group(&self, id: i64, on_delete: OnDelete, actor: &Actor) -> Result<u64, ServiceError> {
        let _w = self.db.write_guard().await;
        let txn = self.db.connection().begin().await.map_err(db)?;
        let g = Self::group_model(&txn, id).await?;
        let domains = domain::Entity::find().filter(domain::Column::GroupId.eq(id)).all(&txn).await.map_err(db)?;
        let n = domains.len() as u64;
        let mut servers: Vec<i64> = g.server_id.into_iter().collect();
        match on_delete {
            OnDelete::Refuse if n > 0 => {
                return Err(ServiceError::InvalidState(format!(
                    "the group {} has {n} domains; delete with domains=delete, or domains=move&move_to=<group id>",
                    g.name
                )));
            }
            OnDelete::Refuse => {}
            OnDelete::Delete => {
                let ids: Vec<i64> = domains.iter().map(|d| d.id).collect();
                name::Entity::delete_many().filter(name::Column::DomainId.is_in(ids.clone())).exec(&txn).await.map_err(db)?;
                domain::Entity::delete_many().filter(domain::Column::Id.is_in(ids)).exec(&txn).await.map_err(db)?;
            }
            OnDelete::MoveTo(target) => {
                if target == id {
                    return Err(ServiceError::field("move_to", "must be another group"));
                }
                let t = Self::group_model(&txn, target)
                    .await
                    .map_err(|_| ServiceError::field("move_to", format!("group {target} does not exist")))?;
                let key = server_key(&t);
                for d in &domains {
                    let names: Vec<String> = name::Entity::find()
                        .filter(name::Column::DomainId.eq(d.id))
                        .all(&txn)
                        .await
                        .map_err(db)?
                        .into_iter()
                        .map(|r| r.name)
                        .collect();
                    Self::claim_names(&txn, d.id, &key, &names).await?;
                }
                domain::Entity::update_many()
                    .col_expr(domain::Column::GroupId, Expr::value(target))
                    .filter(domain::Column::GroupId.eq(id))
                    .exec(&txn)
                    .await
                    .map_err(db)?;
                servers.extend(t.server_id);
            }
        }
        group::Entity::delete_by_id(id).exec(&txn).await.map_err(db)?;
        let mode = match on_delete {
            OnDelete::Refuse => "none".to_string(),
            OnDelete::Delete => "deleted".to_string(),
            OnDelete::MoveTo(t) => format!("moved to group {t}"),
        };
        let trail = Trail::audit(AuditDraft::new(
            actor,
            "domain_group.delete",
            "domain_group",
            Some(id.to_string()),
            json!({"before": {"name": g.name}, "domains": n, "domains_were": mode}),
        ))
        .with_event(DomainGroupChanged { group_id: id, change: "deleted".into(), server_ids: servers }.draft());
        gantry_store::write_trail(&txn, trail).await?;
        txn.commit().await.map_err(db)?;
        self.bus.notify_written();
        Ok(n)
    }

    /// Groups bound to a server, as `(id, name, domain count)`.
    pub async fn groups_on_server(&self, server_id: i64) -> Result<Vec<(i64, String, u64)>, ServiceError> {
        let groups = group::Entity::find()
            .filter(group::Column::ServerId.eq(server_id))
            .order_by_asc(group::Column::Id)
            .all(self.db.connection())
            .await
            .map_err(db)?;
        let mut out = Vec::new();
        for g in groups {
            let n = domain::Entity::find().filter(domain::Column::GroupId.eq(g.id)).count(self.db.connection()).await.map_err(db)?;
            out.push((g.id, g.name, n));
        }
        Ok(out)
    }

    /// The groups bound to `server_id` (by id) with their enabled domains (by name), validated.
    pub async fn served_by(&self, server_id: i64) -> Result<Vec<ServedGroup>, ServiceError> {
        let c = self.db.connection();
        let groups =
            group::Entity::find().filter(group::Column::ServerId.eq(server_id)).order_by_asc(group::Column::Id).all(c).await.map_err(db)?;
        let ids: Vec<i64> = groups.iter().map(|g| g.id).collect();
        let rows = domain::Entity::find()
            .filter(domain::Column::GroupId.is_in(ids))
            .filter(domain::Column::Enabled.eq(true))
            .order_by_asc(domain::Column::Name)
            .order_by_asc(domain::Column::Id)
            .all(c)
            .await
            .map_err(db)?;
        let mut by_group: HashMap<i64, Vec<ServedDomain>> = HashMap::new();
        for m in rows {
            let spec = spec::domain(&Self::input_of(&m)?).map_err(|e| {
                let why = e.first().map(|f| format!("{}: {}", f.field, f.message)).unwrap_or_default();
                ServiceError::Internal(format!("stored domain {} ({}) no longer validates ({why}); fix or delete it", m.id, m.name))
            })?;
            by_group.entry(m.group_id).or_default().push(ServedDomain { id: m.id, version: m.version, spec });
        }
        Ok(groups
            .into_iter()
            .map(|g| ServedGroup {
                domains: by_group.remove(&g.id).unwrap_or_default(),
                id: g.id,
                name: g.name,
                manual_approval: g.manual_approval,
                auto_repair: g.auto_repair,
            })
            .collect())
    }

    // ----- domains -----

    /// Lists domains across groups.
    pub async fn list_domains(&self, f: &DomainFilter, page: PageRequest) -> Result<Page<Domain>, ServiceError> {
        let sort = f.sort.unwrap_or(Sort { field: DomainSort::Name, direction: Direction::Asc });
        let desc = sort.direction == Direction::Desc;
        let mut s = domain::Entity::find().limit(page.limit + 1);
        if sort.field == DomainSort::Name {
            s = if desc { s.order_by_desc(domain::Column::Name) } else { s.order_by_asc(domain::Column::Name) };
        }
        s = if desc { s.order_by_desc(domain::Column::Id) } else { s.order_by_asc(domain::Column::Id) };
        if let Some(c) = &page.after {
            let id_after = if desc { domain::Column::Id.lt(c.id) } else { domain::Column::Id.gt(c.id) };
            s = match (&c.key, sort.field) {
                (Some(k), DomainSort::Name) => {
                    let key_after = if desc { domain::Column::Name.lt(k.as_str()) } else { domain::Column::Name.gt(k.as_str()) };
                    s.filter(Condition::any().add(key_after).add(Condition::all().add(domain::Column::Name.eq(k.as_str())).add(id_after)))
                }
                _ => s.filter(id_after),
            };
        }
        if let Some(q) = f.q.as_deref().filter(|q| !q.is_empty()) {
            let ascii = crate::model::DomainName::parse(q).map(|n| n.as_str().to_string()).unwrap_or_else(|_| q.to_lowercase());
            s = s.filter(domain::Column::Name.contains(ascii));
        }
        if let Some(g) = f.group_id {
            s = s.filter(domain::Column::GroupId.eq(g));
        }
        if let Some(sid) = f.server_id {
            let groups: Vec<i64> = group::Entity::find()
                .filter(group::Column::ServerId.eq(sid))
                .all(self.db.connection())
                .await
                .map_err(db)?
                .into_iter()
                .map(|g| g.id)
                .collect();
            s = s.filter(domain::Column::GroupId.is_in(groups));
        }
        if let Some(e) = f.enabled {
            s = s.filter(domain::Column::Enabled.eq(e));
        }
        let rows = s.all(self.db.connection()).await.map_err(db)?;
        let (mut groups, mut cache) = (HashMap::new(), HashMap::new());
        let mut out = Vec::new();
        for m in rows {
            out.push(self.domain_view(m, &mut groups, &mut cache).await?);
        }
        Ok(page.finish_keyed(out, |d| Cursor { id: d.id, key: (sort.field == DomainSort::Name).then(|| d.name.clone()) }))
    }

    /// One domain.
    pub async fn get_domain(&self, id: i64) -> Result<Domain, ServiceError> {
        let m = Self::domain_model(self.db.connection(), id).await?;
        self.domain_view(m, &mut HashMap::new(), &mut HashMap::new()).await
    }

    fn input_of(m: &domain::Model) -> Result<DomainInput, ServiceError> {
        let (aliases, options, routes) = Self::decode(m)?;
        Ok(DomainInput {
            group_id: Some(m.group_id),
            name: Some(m.name.clone()),
            target_ip: Some(m.target_ip.clone()),
            target_port: u32::try_from(m.target_port).ok(),
            scheme: Some(if m.scheme == "https" { Scheme::Https } else { Scheme::Http }),
            aliases: Some(aliases),
            enabled: Some(m.enabled),
            options: Some(options.to_input()),
            routes: Some(
                routes
                    .into_iter()
                    .map(|r| spec::RouteInput {
                        path: r.path,
                        target_ip: r.target_ip,
                        target_port: Some(u32::from(r.target_port)),
                        scheme: Some(r.scheme),
                    })
                    .collect(),
            ),
        })
    }

    /// Writes a validated domain (new when `existing` is None) with its names, audit and event.
    async fn write(
        &self,
        txn: &DatabaseTransaction,
        existing: Option<&domain::Model>,
        group_id: i64,
        spec: &DomainSpec,
        actor: &Actor,
    ) -> Result<domain::Model, ServiceError> {
        if let (crate::spec::TlsMode::Certificate, Some(cert)) = (spec.options.tls, spec.options.certificate_id) {
            let mut names = vec![spec.name.as_str().to_string()];
            names.extend(spec.aliases.iter().map(|a| a.as_str().to_string()));
            let verdict = match self.certificates.get() {
                Some(c) => c.check(cert, &names).await,
                None => Err("certificates are not available (the TLS module is not mounted)".to_string()),
            };
            verdict.map_err(|m| ServiceError::field("options.certificate_id", m))?;
        }
        let g = Self::group_model(txn, group_id)
            .await
            .map_err(|_| ServiceError::field("group_id", format!("group {group_id} does not exist")))?;
        let now = Utc::now();
        let aliases: Vec<String> = spec.aliases.iter().map(|a| a.as_str().to_string()).collect();
        let mut am = match existing {
            Some(m) => {
                let mut am: domain::ActiveModel = m.clone().into();
                am.version = Set(m.version + 1);
                am
            }
            None => domain::ActiveModel { version: Set(1), created_at: Set(now), ..Default::default() },
        };
        am.group_id = Set(group_id);
        am.name = Set(spec.name.as_str().to_string());
        am.target_ip = Set(spec.target.to_string());
        am.target_port = Set(i32::from(spec.port));
        am.scheme = Set(match spec.scheme {
            Scheme::Http => "http".into(),
            Scheme::Https => "https".into(),
        });
        am.aliases = Set(serde_json::to_string(&aliases).unwrap_or_else(|_| "[]".into()));
        am.options = Set(serde_json::to_string(&spec.options).unwrap_or_else(|_| "{}".into()));
        am.routes = Set(serde_json::to_string(&spec.routes).unwrap_or_else(|_| "[]".into()));
        am.enabled = Set(spec.enabled);
        am.updated_at = Set(now);
        let m = match existing {
            Some(_) => am.update(txn).await.map_err(db)?,
            None => am.insert(txn).await.map_err(db)?,
        };
        Self::claim_names(txn, m.id, &server_key(&g), &Self::names(spec)).await?;
        let mut servers: Vec<i64> = g.server_id.into_iter().collect();
        let (action, change) = match existing {
            None => ("domain.create", "created"),
            Some(old) if old.group_id != group_id => {
                if let Ok(og) = Self::group_model(txn, old.group_id).await {
                    servers.extend(og.server_id);
                }
                ("domain.update", "moved")
            }
            Some(_) => ("domain.update", "updated"),
        };
        servers.dedup();
        let summary = json!({"before": existing.map(|o| json!({"name": o.name, "target_ip": o.target_ip, "target_port": o.target_port, "group_id": o.group_id, "enabled": o.enabled})),
            "after": {"name": m.name, "target_ip": m.target_ip, "target_port": m.target_port, "group_id": m.group_id, "enabled": m.enabled, "aliases": aliases}});
        let trail = Trail::audit(AuditDraft::new(actor, action, "domain", Some(m.id.to_string()), summary)).with_event(
            DomainChanged { domain_id: m.id, name: m.name.clone(), group_id, change: change.into(), server_ids: servers }.draft(),
        );
        gantry_store::write_trail(txn, trail).await?;
        Ok(m)
    }

    /// Creates a domain.
    pub async fn create_domain(&self, input: DomainInput, actor: &Actor) -> Result<Domain, ServiceError> {
        let mut errors = Vec::new();
        if input.group_id.is_none() {
            errors.push(FieldError::new("group_id", "is required"));
        }
        let spec = spec::domain(&input).map_err(|e| errors.extend(e)).ok();
        let (Some(group_id), Some(spec), true) = (input.group_id, spec, errors.is_empty()) else {
            return Err(ServiceError::Validation(errors));
        };
        let _w = self.db.write_guard().await;
        let txn = self.db.connection().begin().await.map_err(db)?;
        let m = self.write(&txn, None, group_id, &spec, actor).await?;
        txn.commit().await.map_err(db)?;
        self.bus.notify_written();
        drop(_w);
        self.domain_view(m, &mut HashMap::new(), &mut HashMap::new()).await
    }

    /// Changes a domain; omitted fields keep their values (options are merged field by field).
    pub async fn update_domain(&self, id: i64, if_match: Option<i64>, patch: DomainInput, actor: &Actor) -> Result<Domain, ServiceError> {
        let _w = self.db.write_guard().await;
        let txn = self.db.connection().begin().await.map_err(db)?;
        let before = Self::domain_model(&txn, id).await?;
        if if_match.is_some_and(|v| v != before.version) {
            return Err(ServiceError::Stale { current: before.version });
        }
        let merged = merge(Self::input_of(&before)?, &patch);
        let spec = spec::domain(&merged).map_err(ServiceError::Validation)?;
        let group_id = merged.group_id.unwrap_or(before.group_id);
        let m = self.write(&txn, Some(&before), group_id, &spec, actor).await?;
        txn.commit().await.map_err(db)?;
        self.bus.notify_written();
        drop(_w);
        self.domain_view(m, &mut HashMap::new(), &mut HashMap::new()).await
    }

    /// Deletes a domain.
    pub async fn delete_domain(&self, id: i64, actor: &Actor) -> Result<(), ServiceError> {
        let _w = self.db.write_guard().await;
        let txn = self.db.connection().begin().await.map_err(db)?;
        self.delete_in(&txn, id, actor).await?;
        txn.commit().await.map_err(db)?;
        self.bus.notify_written();
        Ok(())
    }

    async fn delete_in(&self, txn: &DatabaseTransaction, id: i64, actor: &Actor) -> Result<(), ServiceError> {
        let m = Self::domain_model(txn, id).await?;
        let g = Self::group_model(txn, m.group_id).await?;
        name::Entity::delete_many().filter(name::Column::DomainId.eq(id)).exec(txn).await.map_err(db)?;
        domain::Entity::delete_by_id(id).exec(txn).await.map_err(db)?;
        let trail = Trail::audit(AuditDraft::new(
            actor,
            "domain.delete",
            "domain",
            Some(id.to_string()),
            json!({"before": {"name": m.name, "group_id": m.group_id}}),
        ))
        .with_event(
            DomainChanged {
                domain_id: id,
                name: m.name,
                group_id: m.group_id,
                change: "deleted".into(),
                server_ids: g.server_id.into_iter().collect(),
            }
            .draft(),
        );
        gantry_store::write_trail(txn, trail).await.map_err(ServiceError::from)
    }

    /// Enables, disables, moves or deletes many domains in one transaction (all or nothing).
    pub async fn bulk(&self, ids: &[i64], action: &str, group_id: Option<i64>, actor: &Actor) -> Result<u64, ServiceError> {
        if ids.is_empty() || ids.len() > 1000 {
            return Err(ServiceError::field("ids", "give 1 to 1000 domain ids"));
        }
        let _w = self.db.write_guard().await;
        let txn = self.db.connection().begin().await.map_err(db)?;
        for id in ids {
            match action {
                "delete" => self.delete_in(&txn, *id, actor).await?,
                "enable" | "disable" | "move" => {
                    let before = Self::domain_model(&txn, *id).await?;
                    let mut input = Self::input_of(&before)?;
                    match action {
                        "enable" => input.enabled = Some(true),
                        "disable" => input.enabled = Some(false),
                        _ => input.group_id = Some(group_id.ok_or_else(|| ServiceError::field("group_id", "is required to move domains"))?),
                    }
                    let spec = spec::domain(&input).map_err(ServiceError::Validation)?;
                    self.write(&txn, Some(&before), input.group_id.unwrap_or(before.group_id), &spec, actor).await?;
                }
                other => return Err(ServiceError::field("action", format!("{other:?} is not one of enable, disable, move, delete"))),
            }
        }
        txn.commit().await.map_err(db)?;
        self.bus.notify_written();
        Ok(ids.len() as u64)
    }

    /// Imports domains into a group (see [`crate::exchange`]).
    pub async fn import(
        &self,
        group_id: i64,
        items: Vec<crate::exchange::Item>,
        dry_run: bool,
        actor: &Actor,
    ) -> Result<crate::exchange::Report, ServiceError> {
        use crate::exchange::{Action, Line, Report};
        let _w = self.db.write_guard().await;
        let txn = self.db.connection().begin().await.map_err(db)?;
        Self::group_model(&txn, group_id).await?;
        let mut report = Report { dry_run, created: 0, updated: 0, unchanged: 0, rejected: 0, lines: Vec::new() };
        for item in items {
            let mut line = Line { line: item.line, name: item.input.name.clone(), action: Action::Reject, errors: item.errors.clone() };
            if !line.errors.is_empty() {
                report.rejected += 1;
                report.lines.push(line);
                continue;
            }
            let existing = match item.input.name.as_deref().map(crate::model::DomainName::parse) {
                Some(Ok(n)) => domain::Entity::find()
                    .filter(domain::Column::GroupId.eq(group_id))
                    .filter(domain::Column::Name.eq(n.as_str()))
                    .one(&txn)
                    .await
                    .map_err(db)?,
                _ => None,
            };
            // Fields a line leaves out keep their current values, as with PATCH.
            let mut input = match &existing {
                Some(m) => merge(Self::input_of(m)?, &item.input),
                None => item.input.clone(),
            };
            input.group_id = Some(group_id);
            let spec = match spec::domain(&input) {
                Ok(s) => s,
                Err(e) => {
                    line.errors = e;
                    report.rejected += 1;
                    report.lines.push(line);
                    continue;
                }
            };
            if let Some(m) = &existing
                && spec::domain(&Self::input_of(m)?).ok().as_ref() == Some(&spec)
            {
                line.action = Action::Unchanged;
                report.unchanged += 1;
                report.lines.push(line);
                continue;
            }
            // Savepoint per line, so one clash rejects only its own line.
            let sp = txn.begin().await.map_err(db)?;
            match self.write(&sp, existing.as_ref(), group_id, &spec, actor).await {
                Ok(_) => {
                    sp.commit().await.map_err(db)?;
                    if existing.is_some() {
                        line.action = Action::Update;
                        report.updated += 1;
                    } else {
                        line.action = Action::Create;
                        report.created += 1;
                    }
                }
                Err(ServiceError::Conflict { field, message }) => {
                    sp.rollback().await.map_err(db)?;
                    line.errors = vec![FieldError::new(field, message)];
                    report.rejected += 1;
                }
                Err(other) => return Err(other),
            }
            report.lines.push(line);
        }
        if dry_run {
            txn.rollback().await.map_err(db)?;
        } else {
            txn.commit().await.map_err(db)?;
            self.bus.notify_written();
        }
        Ok(report)
    }

    /// Every domain of a group as inputs, for export.
    pub async fn export(&self, group_id: i64) -> Result<Vec<DomainInput>, ServiceError> {
        Self::group_model(self.db.connection(), group_id).await?;
        let rows = domain::Entity::find()
            .filter(domain::Column::GroupId.eq(group_id))
            .order_by_asc(domain::Column::Name)
            .all(self.db.connection())
            .await
            .map_err(db)?;
        rows.iter()
            .map(|m| {
                let mut i = Self::input_of(m)?;
                i.group_id = None;
                Ok(i)
            })
            .collect()
    }
}

/// Overlays the fields `patch` sets onto `base`; options merge field by field.
fn merge(mut base: DomainInput, patch: &DomainInput) -> DomainInput {
    macro_rules! take {
        ($($f:ident),*) => { $( if patch.$f.is_some() { base.$f = patch.$f.clone(); } )* };
    }
    take!(group_id, name, target_ip, target_port, scheme, aliases, enabled, routes);
    if let Some(o) = &patch.options {
        let mut opts = base.options.clone().unwrap_or_default();
        macro_rules! opt {
            ($($f:ident),*) => { $( if o.$f.is_some() { opts.$f = o.$f.clone(); } )* };
        }
        opt!(
            websocket,
            redirect_https,
            hsts,
            hsts_max_age,
            max_body_size_mb,
            proxy_connect_timeout,
            proxy_read_timeout,
            proxy_send_timeout,
            response_headers,
            allow,
            deny,
            tls,
            certificate_id,
            http2,
            tls_profile
        );
        base.options = Some(opts);
    }
    base
}
