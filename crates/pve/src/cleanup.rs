//! Removing stands (the `pve.cleanup` job) and finding orphans.
//!
//! Order matters in Proxmox: VMs are stopped and destroyed (with purge, so
//! they leave pools and ACLs, and with unreferenced disks), then the ACL,
//! then the now-empty pool, then the users Gantry created, and finally the
//! bridges Gantry created or made VLAN-aware, reverted with one apply per
//! node — unless another live deployment still uses them. A VM is touched
//! only if it still carries the deployment's tag or name, so a VMID reused
//! by someone else is never destroyed.

use crate::api::Resource;
use crate::client::{ErrorKind, PveClient, PveError};
use crate::error::{db_err, to_service};
use crate::model::{NodeName, PoolId, PveUserId, RoleId};
use crate::service::{CLEANUP_JOB, PveService};
use crate::store::{deployment, net_change, stand, vm, vmid};
use chrono::Utc;
use futures_util::StreamExt;
use gantry_core::ServiceError;
use gantry_core::audit::Actor;
use gantry_core::jobs::{Job, JobContext};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use utoipa::ToSchema;

/// What to clean up.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CleanupRequest {
    /// Only these users' stands (`user@realm`); all when omitted.
    #[serde(default)]
    pub users: Option<Vec<String>>,
    /// Also delete the Proxmox users Gantry created (default true).
    #[serde(default = "yes")]
    pub remove_users: bool,
}

fn yes() -> bool {
    true
}

/// A VM that looks like Gantry's but belongs to no live stand.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Orphan {
    /// VMID.
    pub vmid: u32,
    /// Node.
    pub node: String,
    /// Name.
    pub name: String,
    /// Lock, if any.
    pub lock: Option<String>,
    /// Why it is an orphan.
    pub reason: String,
}

/// The result of removing one orphan.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OrphanResult {
    /// VMID.
    pub vmid: u32,
    /// Removed.
    pub removed: bool,
    /// Why not.
    pub error: Option<String>,
}

impl PveService {
    /// Queues the cleanup of a deployment (or some of its users).
    pub async fn request_cleanup(&self, id: i64, req: CleanupRequest, actor: &Actor) -> Result<Job, ServiceError> {
        if let Some(users) = &req.users {
            let mut errs = Vec::new();
            for (i, u) in users.iter().enumerate() {
                if let Err(e) = u.parse::<PveUserId>() {
                    errs.push(gantry_core::FieldError::new(format!("users[{i}]"), e.0));
                }
            }
            if !errs.is_empty() {
                return Err(ServiceError::Validation(errs));
            }
            let known: BTreeSet<String> = stand::Entity::find()
                .filter(stand::Column::DeploymentId.eq(id))
                .all(self.db.connection())
                .await
                .map_err(db_err)?
                .into_iter()
                .map(|s| s.userid)
                .collect();
            if let Some(u) = users.iter().find(|u| !known.contains(*u)) {
                return Err(ServiceError::field("users", format!("{u} has no stand in deployment {id}")));
            }
        }
        let d = self.deployment_row(id).await?;
        if d.status == "cleaned" {
            return Err(ServiceError::InvalidState(format!("deployment {id} is already cleaned up")));
        }
        let payload = json!({"deployment_id": id, "users": req.users, "remove_users": req.remove_users});
        self.queue(id, CLEANUP_JOB, payload, "cleaning", actor, "pve.cleanup").await
    }

    /// Runs a cleanup.
    pub async fn run_cleanup(
        &self,
        id: i64,
        users: Option<BTreeSet<String>>,
        remove_users: bool,
        ctx: &JobContext,
    ) -> Result<Value, ServiceError> {
        let d = self.deployment_row(id).await?;
        let bp: crate::blueprint::Blueprint = serde_json::from_str(&d.spec).map_err(|e| ServiceError::Internal(e.to_string()))?;
        let c = self.client(d.cluster_id).await?;
        let stands: Vec<stand::Model> = stand::Entity::find()
            .filter(stand::Column::DeploymentId.eq(id))
            .all(self.db.connection())
            .await
            .map_err(db_err)?
            .into_iter()
            .filter(|s| users.as_ref().is_none_or(|u| u.contains(&s.userid)))
            .collect();
        let vms = vm::Entity::find().filter(vm::Column::DeploymentId.eq(id)).all(self.db.connection()).await.map_err(db_err)?;
        let guests: BTreeMap<u32, Resource> =
            c.resources(Some("vm")).await.map_err(to_service)?.into_iter().filter_map(|r| r.vmid.map(|v| (v as u32, r))).collect();
        let total = stands.len().max(1);
        let mut failures = Vec::new();
        // Stands are independent: clean several at once (each VM's own calls are bounded per node
        // by Proxmox's locks and retried); a stand's own order (VMs, ACL, pool, user) stays strict.
        let done = std::sync::atomic::AtomicUsize::new(0);
        let results: Vec<Result<Option<Value>, ServiceError>> = futures_util::stream::iter(stands.clone())
            .map(|s: stand::Model| {
                let c = c.clone();
                let vms = &vms;
                let guests = &guests;
                let bp = &bp;
                let done = &done;
                async move {
                    if ctx.cancel.is_cancelled() {
                        return Ok(None);
                    }
                    self.set_stand(s.id, "cleaning", None).await?;
                    let mine: Vec<vm::Model> = vms.iter().filter(|v| v.stand_id == s.id && v.status != "destroyed").cloned().collect();
                    let errs: Vec<String> = futures_util::stream::iter(mine)
                        .map(|v| {
                            let c = c.clone();
                            let g = guests.get(&(v.vmid as u32)).cloned();
                            async move { self.destroy_one(&c, &v, g, id).await.err().map(|e| format!("{} ({}): {e}", v.name, v.vmid)) }
                        })
                        .buffer_unordered(self.settings.per_node.max(1) * 2)
                        .filter_map(|e| async move { e })
                        .collect()
                        .await;
                    let r = if errs.is_empty() {
                        self.remove_access(&c, &s, &bp.role, remove_users).await.map_err(|e| vec![e.detail()])
                    } else {
                        Err(errs)
                    };
                    let failure = match r {
                        Ok(()) => {
                            self.set_stand(s.id, "removed", None).await?;
                            None
                        }
                        Err(e) => {
                            let m = e.join("; ");
                            ctx.log("error", &format!("{}: {m}", s.userid)).await;
                            self.set_stand(s.id, "failed", Some(m.clone())).await?;
                            Some(json!({"user": s.userid, "error": m}))
                        }
                    };
                    let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                    ctx.progress(
                        (n * 90 / total) as i32,
                        &format!("{}: {}", s.userid, if failure.is_none() { "removed" } else { "cleanup failed" }),
                    )
                    .await;
                    Ok(failure)
                }
            })
            .buffer_unordered(self.settings.max_parallel.clamp(1, 16))
            .collect()
            .await;
        for r in results {
            if let Some(f) = r? {
                failures.push(f);
            }
        }
        let left = stand::Entity::find()
            .filter(stand::Column::DeploymentId.eq(id))
            .filter(stand::Column::Status.ne("removed"))
            .all(self.db.connection())
            .await
            .map_err(db_err)?;
        let status = if left.is_empty() {
            if let Err(e) = self.revert_network(&c, d.cluster_id, id).await {
                failures.push(json!({"network": e.detail()}));
            }
            if failures.is_empty() {
                let _w = self.db.write_guard().await;
                vmid::Entity::delete_many().filter(vmid::Column::DeploymentId.eq(id)).exec(self.db.connection()).await.map_err(db_err)?;
                "cleaned"
            } else {
                "failed"
            }
        } else if failures.is_empty() {
            // Some users were removed, others stay deployed.
            if left.iter().all(|s| s.status == "ready") { "done" } else { "partial" }
        } else {
            "failed"
        };
        self.set_deployment(id, status).await?;
        ctx.progress(100, &format!("cleanup {status}")).await;
        Ok(json!({"deployment_id": id, "status": status, "failures": failures}))
    }

    /// Stops and destroys one VM if it is still the one Gantry created.
    async fn destroy_one(&self, c: &PveClient, v: &vm::Model, g: Option<Resource>, deployment_id: i64) -> Result<(), String> {
        let scale = self.settings.retry_scale;
        let Some(g) = g else {
            // Never created, or already gone.
            self.set_vm(v.id, "destroyed", None).await.map_err(|e| e.to_string())?;
            return Ok(());
        };
        let ours = g.tag_list().iter().any(|t| *t == format!("gantry-d{deployment_id}")) || g.name == v.name;
        if !ours {
            // The VMID now belongs to someone else: forget it, touch nothing.
            self.set_vm(v.id, "destroyed", Some(format!("VMID {} now holds '{}', which is not Gantry's; left alone", v.vmid, g.name)))
                .await
                .map_err(|e| e.to_string())?;
            return Ok(());
        }
        let node = g.node.clone();
        let id = v.vmid as u32;
        let pe = |e: PveError| format!("{} ({}): {}", e.op, e.kind.as_str(), e.detail());
        // /cluster/resources lags ~10 s: ask the node whether the VM runs right now.
        let running = match c.vm_status(&node, id).await {
            Ok(st) => st == "running",
            Err(e) if e.kind == ErrorKind::NotFound => {
                self.set_vm(v.id, "destroyed", None).await.map_err(|e| e.to_string())?;
                return Ok(());
            }
            Err(_) => g.status == "running",
        };
        if running {
            let upid = PveClient::retrying("stop", scale, || c.vm_power(&node, id, "stop")).await.map_err(pe)?;
            c.wait_task(&upid, self.settings.task_timeout, self.settings.poll).await.map_err(pe)?;
        }
        let upid = match PveClient::retrying("destroy", scale, || c.destroy_vm(&node, id)).await {
            Ok(u) => Some(u),
            Err(e) if e.kind == ErrorKind::NotFound => None,
            Err(e) => return Err(pe(e)),
        };
        if let Some(u) = upid {
            c.wait_task(&u, self.settings.task_timeout, self.settings.poll).await.map_err(pe)?;
        }
        self.set_vm(v.id, "destroyed", None).await.map_err(|e| e.to_string())?;
        Ok(())
    }

    /// ACL, pool, then (if Gantry created it and asked to) the user.
    async fn remove_access(&self, c: &PveClient, s: &stand::Model, role: &RoleId, remove_users: bool) -> Result<(), PveError> {
        let scale = self.settings.retry_scale;
        let bad = |m: String| PveError {
            kind: ErrorKind::ParameterInvalid,
            status: None,
            op: "stand".into(),
            message: m,
            errors: BTreeMap::new(),
        };
        let user: PveUserId = s.userid.parse().map_err(|e: crate::model::Invalid| bad(e.0))?;
        let pool: PoolId = s.pool_id.parse().map_err(|e: crate::model::Invalid| bad(e.0))?;
        if s.acl_set {
            let path = format!("/pool/{pool}");
            let present = c.acls().await?.iter().any(|a| a.path == path && a.ugid == s.userid);
            if present {
                PveClient::retrying("acl", scale, || c.set_acl(&path, role, &user, true)).await?;
            }
            self.stand_flags(s.id, None, None, Some(false)).await;
        }
        if s.pool_created {
            match c.pool_members(&pool).await? {
                None => {}
                Some(m) if !m.is_empty() => {
                    return Err(bad(format!(
                        "pool {pool} still holds VMs {m:?} that Gantry did not create; move or remove them, then clean up again"
                    )));
                }
                Some(_) => match PveClient::retrying("pool", scale, || c.delete_pool(&pool)).await {
                    Ok(()) => {}
                    Err(e) if e.kind == ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                },
            }
            self.stand_flags(s.id, None, Some(false), None).await;
        }
        // Another live stand (this deployment or another) may use the same Proxmox user:
        // deleting it would drop that stand's ACLs too.
        let shared = stand::Entity::find()
            .filter(stand::Column::Userid.eq(&s.userid))
            .filter(stand::Column::Id.ne(s.id))
            .filter(stand::Column::Status.ne("removed"))
            .all(self.db.connection())
            .await
            .map_err(|e| internal(e.to_string()))?;
        let mine = deployment::Entity::find_by_id(s.deployment_id).one(self.db.connection()).await.map_err(|e| internal(e.to_string()))?;
        let cluster = mine.map(|d| d.cluster_id).unwrap_or(-1);
        let mut still_used = false;
        for o in shared {
            let live =
                deployment::Entity::find_by_id(o.deployment_id).one(self.db.connection()).await.map_err(|e| internal(e.to_string()))?;
            still_used |= live.is_some_and(|d| d.status != "cleaned" && d.cluster_id == cluster);
        }
        if s.user_created && remove_users && !still_used {
            match c.delete_user(&user).await {
                Ok(()) => {}
                Err(e) if e.kind == ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            self.stand_flags(s.id, Some(false), None, None).await;
        }
        Ok(())
    }

    async fn stand_flags(&self, id: i64, user: Option<bool>, pool: Option<bool>, acl: Option<bool>) {
        let mut am = stand::ActiveModel { id: Set(id), updated_at: Set(Utc::now()), ..Default::default() };
        if let Some(u) = user {
            am.user_created = Set(u);
        }
        if let Some(p) = pool {
            am.pool_created = Set(p);
        }
        if let Some(a) = acl {
            am.acl_set = Set(a);
        }
        let _w = self.db.write_guard().await;
        if let Err(e) = am.update(self.db.connection()).await {
            tracing::warn!(error = %e, stand = id, "cannot record cleanup progress");
        }
    }

    /// Reverts the bridges this deployment created or made VLAN-aware, unless
    /// another live deployment on the cluster still uses them there.
    async fn revert_network(&self, c: &PveClient, cluster_id: i64, id: i64) -> Result<(), PveError> {
        let changes = net_change::Entity::find()
            .filter(net_change::Column::DeploymentId.eq(id))
            .all(self.db.connection())
            .await
            .map_err(|e| internal(e.to_string()))?;
        if changes.is_empty() {
            return Ok(());
        }
        // Bridges other live deployments rely on, per node.
        // (node, bridge) → a live deployment that relies on it.
        let mut in_use: BTreeMap<(String, String), i64> = BTreeMap::new();
        let others = deployment::Entity::find()
            .filter(deployment::Column::ClusterId.eq(cluster_id))
            .filter(deployment::Column::Id.ne(id))
            .filter(deployment::Column::Status.ne("cleaned"))
            .all(self.db.connection())
            .await
            .map_err(|e| internal(e.to_string()))?;
        for o in others {
            let Ok(bp) = serde_json::from_str::<crate::blueprint::Blueprint>(&o.spec) else { continue };
            let nodes: BTreeSet<String> = vm::Entity::find()
                .filter(vm::Column::DeploymentId.eq(o.id))
                .all(self.db.connection())
                .await
                .map_err(|e| internal(e.to_string()))?
                .into_iter()
                .map(|v| v.node)
                .collect();
            for a in bp.aliases() {
                for n in &nodes {
                    in_use.insert((n.clone(), a.bridge.to_string()), o.id);
                }
            }
        }
        let mut by_node: BTreeMap<String, Vec<net_change::Model>> = BTreeMap::new();
        for ch in changes {
            by_node.entry(ch.node.clone()).or_default().push(ch);
        }
        for (node, list) in by_node {
            let Ok(n) = node.parse::<NodeName>() else { continue };
            let lock = self.net_lock(cluster_id, &node);
            let _g = lock.lock().await;
            let ifaces = c.network(&n).await?;
            let mut staged = false;
            let mut handover: Vec<(i64, i64)> = Vec::new();
            let mut staging = Ok(());
            for ch in &list {
                if let Some(other) = in_use.get(&(node.clone(), ch.iface.clone())) {
                    // Hand it over: the other deployment now owns the change and reverts it later.
                    handover.push((ch.id, *other));
                    continue;
                }
                let r = match (ch.action.as_str(), ifaces.iter().find(|i| i.iface == ch.iface)) {
                    ("created", Some(_)) => c.stage_remove_iface(&n, &ch.iface).await,
                    ("vlan_aware", Some(i)) if i.bridge_vlan_aware => c.stage_vlan_aware(&n, i, false).await,
                    _ => continue,
                };
                staged = true;
                if let Err(e) = r {
                    staging = Err(e);
                    break;
                }
            }
            if let Err(e) = staging {
                // Nothing half-staged stays behind for someone else's apply.
                let _ = c.revert_network(&n).await;
                return Err(e);
            }
            if staged {
                let r = async {
                    if let Some(u) = c.apply_network(&n).await? {
                        c.wait_task(&u, self.settings.task_timeout, self.settings.poll).await?;
                    }
                    Ok::<(), PveError>(())
                }
                .await;
                if let Err(e) = r {
                    let _ = c.revert_network(&n).await;
                    return Err(e);
                }
            }
            let _w = self.db.write_guard().await;
            for ch in &list {
                match handover.iter().find(|(id, _)| *id == ch.id) {
                    Some((_, other)) => {
                        net_change::ActiveModel { id: Set(ch.id), deployment_id: Set(*other), ..Default::default() }
                            .update(self.db.connection())
                            .await
                            .map_err(|e| internal(e.to_string()))?;
                    }
                    None => {
                        net_change::Entity::delete_by_id(ch.id).exec(self.db.connection()).await.map_err(|e| internal(e.to_string()))?;
                    }
                }
            }
        }
        Ok(())
    }

    /// VMs tagged by Gantry that belong to no live stand, and clones Gantry left locked.
    pub async fn orphans(&self, cluster_id: i64) -> Result<Vec<Orphan>, ServiceError> {
        let c = self.client(cluster_id).await?;
        let guests = c.resources(Some("vm")).await.map_err(to_service)?;
        let live: BTreeMap<i64, String> = deployment::Entity::find()
            .filter(deployment::Column::ClusterId.eq(cluster_id))
            .all(self.db.connection())
            .await
            .map_err(db_err)?
            .into_iter()
            .map(|d| (d.id, d.status))
            .collect();
        let rows = vm::Entity::find().filter(vm::Column::ClusterId.eq(cluster_id)).all(self.db.connection()).await.map_err(db_err)?;
        let known: BTreeMap<i64, &vm::Model> = rows.iter().filter(|v| v.status != "destroyed").map(|v| (v.vmid, v)).collect();
        let mut out = Vec::new();
        for g in guests {
            let Some(vmid) = g.vmid else { continue };
            let tags = g.tag_list();
            let dep = tags.iter().find_map(|t| t.strip_prefix("gantry-d").and_then(|n| n.parse::<i64>().ok()));
            let row = known.get(&(vmid as i64));
            let reason = if let Some(d) = dep {
                match (live.get(&d).map(String::as_str), row) {
                    (None, _) => Some(format!("tagged for deployment {d}, which Gantry does not know")),
                    (Some("cleaned"), _) => Some(format!("deployment {d} was cleaned up")),
                    (Some(_), None) => Some(format!("tagged for deployment {d}, but no stand of it holds VMID {vmid}")),
                    (Some(_), Some(r)) if r.deployment_id != d => {
                        Some(format!("tagged for deployment {d}, but Gantry recorded it for deployment {}", r.deployment_id))
                    }
                    _ => None,
                }
            } else if !g.lock.is_empty() && row.is_some_and(|r| r.status == "failed" && r.name == g.name) {
                Some(format!("a clone Gantry started is left locked ({})", g.lock))
            } else {
                None
            };
            if let Some(reason) = reason {
                out.push(Orphan {
                    vmid: vmid as u32,
                    node: g.node.clone(),
                    name: g.name.clone(),
                    lock: (!g.lock.is_empty()).then(|| g.lock.clone()),
                    reason,
                });
            }
        }
        out.sort_by_key(|o| o.vmid);
        Ok(out)
    }

    /// Removes orphans (only VMIDs that are orphans now).
    pub async fn remove_orphans(&self, cluster_id: i64, vmids: &[u32], actor: &Actor) -> Result<Vec<OrphanResult>, ServiceError> {
        let orphans: BTreeMap<u32, Orphan> = self.orphans(cluster_id).await?.into_iter().map(|o| (o.vmid, o)).collect();
        let c = self.client(cluster_id).await?;
        let mut out = Vec::new();
        for id in vmids {
            let Some(o) = orphans.get(id) else {
                out.push(OrphanResult { vmid: *id, removed: false, error: Some("not an orphan (anymore); nothing was done".into()) });
                continue;
            };
            let r = async {
                if c.vm_status(&o.node, o.vmid).await? == "running" {
                    let u = c.vm_power(&o.node, o.vmid, "stop").await?;
                    c.wait_task(&u, self.settings.task_timeout, self.settings.poll).await?;
                }
                let u = PveClient::retrying("destroy", self.settings.retry_scale, || c.destroy_vm(&o.node, o.vmid)).await?;
                c.wait_task(&u, self.settings.task_timeout, self.settings.poll).await?;
                Ok::<(), PveError>(())
            }
            .await;
            out.push(match r {
                Ok(()) => OrphanResult { vmid: *id, removed: true, error: None },
                Err(e) => OrphanResult { vmid: *id, removed: false, error: Some(e.detail()) },
            });
        }
        let removed: Vec<u32> = out.iter().filter(|r| r.removed).map(|r| r.vmid).collect();
        if !removed.is_empty() {
            let _w = self.db.write_guard().await;
            let txn = sea_orm::TransactionTrait::begin(self.db.connection()).await.map_err(db_err)?;
            let trail = gantry_core::repo::Trail::audit(gantry_core::audit::AuditDraft::new(
                actor,
                "pve.orphans.remove",
                "pve_cluster",
                Some(cluster_id.to_string()),
                json!({"vmids": removed}),
            ));
            gantry_store::write_trail(&txn, trail).await?;
            txn.commit().await.map_err(db_err)?;
        }
        Ok(out)
    }
}

fn internal(m: String) -> PveError {
    PveError { kind: ErrorKind::Other, status: None, op: "database".into(), message: m, errors: BTreeMap::new() }
}
