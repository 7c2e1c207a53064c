//! Carrying out a deployment (the `pve.deploy` job). Every step is recorded
//! per VM, so a rerun resumes where the last one stopped:
//!
//! 1. networks: per node, stage every missing bridge / VLAN awareness and
//!    apply ONCE, serialized per node;
//! 2. per user: the Proxmox user (created if missing), the pool, the ACL;
//! 3. per VM, in parallel but bounded per node and per storage (Proxmox's
//!    storage lock serializes clones anyway, and waiting on it times out):
//!    check the VMID is free → clone → wait for the clone task → configure
//!    (cores, memory, NICs, tags) → resize disks → add to the pool → start.
//!
//! Lock timeouts are retried with jittered backoff, "already exists" takes a
//! new VMID from the ledger, and a node that goes offline before a VM is
//! cloned there gets the VM re-placed; after cloning it is reported failed.
//! One VM failing never stops the others.

use crate::blueprint::{Blueprint, VmSpec};
use crate::client::{ErrorKind, PveClient, PveError};
use crate::error::{db_err, to_service};
use crate::model::{NodeName, PoolId, PveUserId, RoleId};
use crate::placement::{self, Context, Demand, Reservations};
use crate::plan::{ClusterView, TemplateInfo};
use crate::service::PveService;
use crate::store::{deployment, net_change, stand, vm, vmid};
use chrono::Utc;
use futures_util::StreamExt;
use gantry_core::ServiceError;
use gantry_core::jobs::JobContext;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// State shared by the VM workers of one run.
struct Run {
    client: PveClient,
    cluster_id: i64,
    deployment_id: i64,
    bp: Blueprint,
    view: tokio::sync::Mutex<ClusterView>,
    templates: BTreeMap<u32, TemplateInfo>,
    /// Nodes found unreachable during this run.
    down: std::sync::Mutex<BTreeSet<String>>,
    reservations: std::sync::Mutex<Reservations>,
    done: AtomicUsize,
    total: usize,
}

impl Run {
    fn mark_down(&self, node: &str) {
        if let Ok(mut d) = self.down.lock() {
            d.insert(node.to_string());
        }
    }

    fn is_down(&self, node: &str) -> bool {
        self.down.lock().map(|d| d.contains(node)).unwrap_or(false)
    }

    /// The storage lock a clone takes: the target storage of a full clone, else the
    /// template's; cluster-wide for shared storage, per node otherwise.
    fn storage_key(&self, t: u32, node: &str, target: Option<&str>) -> String {
        let shared_target =
            target.and_then(|s| self.view.try_lock().ok().and_then(|v| v.storages.get(node).and_then(|m| m.get(s)).copied()));
        match (target, shared_target, self.templates.get(&t)) {
            (Some(s), Some(true), _) => format!("{}:shared:{s}", self.cluster_id),
            (Some(s), _, _) => format!("{}:{node}:{s}", self.cluster_id),
            (None, _, Some(ti)) if ti.shared => format!("{}:shared:{}", self.cluster_id, ti.storages.join(",")),
            (None, _, Some(ti)) => format!("{}:{node}:{}", self.cluster_id, ti.storages.join(",")),
            (None, _, None) => format!("{}:{node}:?", self.cluster_id),
        }
    }
}

impl PveService {
    /// Runs (or resumes) a deployment.
    pub async fn run_deploy(&self, id: i64, ctx: &JobContext) -> Result<Value, ServiceError> {
        let r = self.run_deploy_inner(id, ctx).await;
        if let Err(e) = &r {
            // Never leave a deployment "running" behind a job that ended.
            if let Err(e2) = self.set_deployment(id, "failed").await {
                tracing::warn!(deployment = id, error = %e2, "cannot mark the deployment failed");
            }
            ctx.log("error", &e.to_string()).await;
        }
        r
    }

    async fn run_deploy_inner(&self, id: i64, ctx: &JobContext) -> Result<Value, ServiceError> {
        let d = self.deployment_row(id).await?;
        let bp: Blueprint =
            serde_json::from_str(&d.spec).map_err(|e| ServiceError::Internal(format!("deployment {id} has a corrupt blueprint: {e}")))?;
        self.set_deployment(id, "running").await?;
        let client = self.client(d.cluster_id).await?;
        let view = match ClusterView::load(&client, false).await {
            Ok(v) => v,
            Err(e) => {
                self.set_deployment(id, "failed").await?;
                return Err(to_service(e));
            }
        };
        let stands = stand::Entity::find()
            .filter(stand::Column::DeploymentId.eq(id))
            .order_by_asc(stand::Column::Position)
            .all(self.db.connection())
            .await
            .map_err(db_err)?;
        let vms = vm::Entity::find()
            .filter(vm::Column::DeploymentId.eq(id))
            .order_by_asc(vm::Column::Id)
            .all(self.db.connection())
            .await
            .map_err(db_err)?;
        let todo: Vec<vm::Model> = vms.iter().filter(|v| !matches!(v.status.as_str(), "ready" | "destroyed")).cloned().collect();
        let run = Arc::new(Run {
            client: client.clone(),
            cluster_id: d.cluster_id,
            deployment_id: id,
            templates: view.templates.iter().map(|t| (t.vmid, t.clone())).collect(),
            view: tokio::sync::Mutex::new(view),
            bp: bp.clone(),
            down: std::sync::Mutex::new(BTreeSet::new()),
            reservations: std::sync::Mutex::new(self.reservations(d.cluster_id).await.unwrap_or_default()),
            done: AtomicUsize::new(vms.len() - todo.len()),
            total: vms.len(),
        });
        ctx.progress(1, &format!("deploying {} VMs for {} users", todo.len(), stands.len())).await;

        // 1. Networks on every node that will get a VM.
        let nodes: BTreeSet<String> = todo.iter().map(|v| v.node.clone()).collect();
        for n in &nodes {
            if let Err(e) = self.ensure_network(&run, n).await {
                ctx.log("warn", &format!("network on {n}: {}", e.detail())).await;
                if e.kind == ErrorKind::NodeUnreachable {
                    run.mark_down(n);
                }
            }
        }
        ctx.progress(3, "networks ready").await;

        // 2. Users, pools and ACLs.
        let role = bp.role.clone();
        let create_users = bp.create_users;
        let results: Vec<(i64, Result<(), String>)> = futures_util::stream::iter(stands.clone())
            .map(|s| {
                let run = run.clone();
                let role = role.clone();
                async move { (s.id, self.ensure_access(&run, &s, &role, create_users).await.map_err(|e| e.detail())) }
            })
            .buffer_unordered(8)
            .collect()
            .await;
        let failed_stands: BTreeMap<i64, String> = results.into_iter().filter_map(|(id, r)| r.err().map(|e| (id, e))).collect();
        for (sid, e) in &failed_stands {
            ctx.log("error", &format!("stand {sid}: {e}")).await;
            self.set_stand(*sid, "failed", Some(e.clone())).await?;
        }
        ctx.progress(5, "users, pools and ACLs ready").await;

        // 3. VMs.
        let pools: BTreeMap<i64, String> = stands.iter().map(|s| (s.id, s.pool_id.clone())).collect();
        let users: BTreeMap<i64, String> = stands.iter().map(|s| (s.id, s.userid.clone())).collect();
        futures_util::stream::iter(todo)
            .for_each_concurrent(self.settings.max_parallel, |v| {
                let run = run.clone();
                let pools = &pools;
                let users = &users;
                let failed_stands = &failed_stands;
                async move {
                    if ctx.cancel.is_cancelled() {
                        return;
                    }
                    let who = users.get(&v.stand_id).cloned().unwrap_or_default();
                    let (status, msg) = if let Some(e) = failed_stands.get(&v.stand_id) {
                        let m = format!("the user's pool or ACL could not be set up: {e}");
                        let _ = self.set_vm(v.id, "failed", Some(m.clone())).await;
                        ("failed", m)
                    } else {
                        match self.run_vm(&run, v.clone(), pools.get(&v.stand_id).cloned().unwrap_or_default()).await {
                            Ok(done) => ("ready", format!("ready on {} ({})", done.node, done.vmid)),
                            Err(e) => {
                                let m = e.to_string();
                                let _ = self.set_vm(v.id, "failed", Some(m.clone())).await;
                                ("failed", m)
                            }
                        }
                    };
                    self.vm_results.inc(&[status]);
                    let n = run.done.fetch_add(1, Ordering::Relaxed) + 1;
                    let pct = 5 + (n * 94 / run.total.max(1)) as i32;
                    ctx.progress(pct, &format!("{who} / {}: {msg}", v.vm_key)).await;
                }
            })
            .await;

        // Outcome per stand and overall.
        let vms = vm::Entity::find().filter(vm::Column::DeploymentId.eq(id)).all(self.db.connection()).await.map_err(db_err)?;
        let mut table = Vec::new();
        let mut ready = 0;
        for s in &stands {
            let mine: Vec<&vm::Model> = vms.iter().filter(|v| v.stand_id == s.id).collect();
            let ok = mine.iter().all(|v| v.status == "ready");
            if !failed_stands.contains_key(&s.id) {
                let err = mine.iter().find_map(|v| v.error.clone());
                self.set_stand(s.id, if ok { "ready" } else { "failed" }, if ok { None } else { err }).await?;
            }
            ready += mine.iter().filter(|v| v.status == "ready").count();
            table.push(json!({
                "user": s.userid,
                "pool": s.pool_id,
                "vms": mine.iter().map(|v| json!({"key": v.vm_key, "name": v.name, "node": v.node, "vmid": v.vmid, "status": v.status, "error": v.error})).collect::<Vec<_>>(),
            }));
        }
        let status = if ready == vms.len() {
            "done"
        } else if ready > 0 {
            "partial"
        } else {
            "failed"
        };
        self.set_deployment(id, status).await?;
        ctx.progress(100, &format!("{ready} of {} VMs ready ({status})", vms.len())).await;
        Ok(json!({"deployment_id": id, "status": status, "ready": ready, "total": vms.len(), "stands": table}))
    }

    pub(crate) async fn set_deployment(&self, id: i64, status: &str) -> Result<(), ServiceError> {
        let _w = self.db.write_guard().await;
        deployment::ActiveModel { id: Set(id), status: Set(status.into()), updated_at: Set(Utc::now()), ..Default::default() }
            .update(self.db.connection())
            .await
            .map_err(db_err)?;
        Ok(())
    }

    pub(crate) async fn set_stand(&self, id: i64, status: &str, error: Option<String>) -> Result<(), ServiceError> {
        let _w = self.db.write_guard().await;
        stand::ActiveModel {
            id: Set(id),
            status: Set(status.into()),
            error: Set(error),
            updated_at: Set(Utc::now()),
            ..Default::default()
        }
        .update(self.db.connection())
        .await
        .map_err(db_err)?;
        Ok(())
    }

    pub(crate) async fn set_vm(&self, id: i64, status: &str, error: Option<String>) -> Result<(), ServiceError> {
        let _w = self.db.write_guard().await;
        vm::ActiveModel { id: Set(id), status: Set(status.into()), error: Set(error), updated_at: Set(Utc::now()), ..Default::default() }
            .update(self.db.connection())
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn update_vm(&self, am: vm::ActiveModel) -> Result<(), ServiceError> {
        let _w = self.db.write_guard().await;
        am.update(self.db.connection()).await.map_err(db_err)?;
        Ok(())
    }

    pub(crate) fn net_lock(&self, cluster_id: i64, node: &str) -> Arc<tokio::sync::Mutex<()>> {
        match self.net_locks.lock() {
            Ok(mut m) => m.entry((cluster_id, node.to_string())).or_default().clone(),
            Err(_) => Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// Makes the blueprint's bridges exist and be VLAN-aware on one node:
    /// stage everything, then one apply, under the node's lock.
    async fn ensure_network(&self, run: &Run, node: &str) -> Result<(), PveError> {
        let aliases = run.bp.aliases();
        if aliases.is_empty() {
            return Ok(());
        }
        let Ok(n) = node.parse::<NodeName>() else { return Ok(()) };
        let lock = self.net_lock(run.cluster_id, node);
        let _g = lock.lock().await;
        let ifaces = run.client.network(&n).await?;
        let mut need: BTreeMap<String, bool> = BTreeMap::new();
        for a in &aliases {
            *need.entry(a.bridge.to_string()).or_insert(false) |= a.vlan.is_some();
        }
        // A bridge that is listed but not active is someone's pending, unapplied change:
        // applying now would apply it too, so stop and say so.
        if let Some(p) = ifaces.iter().find(|i| need.contains_key(&i.iface) && !i.active) {
            return Err(PveError {
                kind: ErrorKind::Other,
                status: None,
                op: format!("network on {node}"),
                message: format!("bridge '{}' on {node} has pending, unapplied changes; apply or revert them in Proxmox first", p.iface),
                errors: BTreeMap::new(),
            });
        }
        let mut changes = Vec::new();
        let staged = async {
            for (b, vlan) in need {
                match ifaces.iter().find(|i| i.iface == b) {
                    None => {
                        run.client.stage_bridge(&n, &b, "created by Gantry for stands").await?;
                        changes.push((b, "created"));
                    }
                    Some(i) if vlan && !i.bridge_vlan_aware => {
                        run.client.stage_vlan_aware(&n, i, true).await?;
                        changes.push((b, "vlan_aware"));
                    }
                    Some(_) => {}
                }
            }
            Ok::<(), PveError>(())
        }
        .await;
        if let Err(e) = staged {
            // Nothing half-staged stays behind for someone else's apply.
            let _ = run.client.revert_network(&n).await;
            return Err(e);
        }
        if changes.is_empty() {
            return Ok(());
        }
        let applied = async {
            if let Some(upid) = run.client.apply_network(&n).await? {
                run.client.wait_task(&upid, self.settings.task_timeout, self.settings.poll).await?;
            }
            Ok::<(), PveError>(())
        }
        .await;
        if let Err(e) = applied {
            // Leave nothing staged behind a failed apply.
            let _ = run.client.revert_network(&n).await;
            return Err(e);
        }
        let now = Utc::now();
        let _w = self.db.write_guard().await;
        for (iface, action) in changes {
            let r = net_change::ActiveModel {
                cluster_id: Set(run.cluster_id),
                deployment_id: Set(run.deployment_id),
                node: Set(node.to_string()),
                iface: Set(iface),
                action: Set(action.into()),
                created_at: Set(now),
                ..Default::default()
            }
            .insert(self.db.connection())
            .await;
            if let Err(e) = r {
                tracing::warn!(error = %e, "cannot record a network change");
            }
        }
        Ok(())
    }

    /// The user (created if allowed and missing), the pool and the ACL for one stand.
    async fn ensure_access(&self, run: &Run, s: &stand::Model, role: &RoleId, create_users: bool) -> Result<(), PveError> {
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
        let c = &run.client;
        if !s.user_created && !PveClient::retrying("user", scale, || c.user_exists(&user)).await? {
            if !create_users {
                return Err(bad(format!("user {user} does not exist on the cluster and the blueprint does not create users")));
            }
            // Only realms Proxmox manages itself can take a password.
            let pw = if user.realm() == "pve" {
                Some(generate_password().ok_or_else(|| bad("the system random generator failed".into()))?)
            } else {
                None
            };
            match c.create_user(&user, pw.as_deref(), &format!("created by Gantry for deployment {}", run.deployment_id)).await {
                Ok(()) => {
                    let enc = match &pw {
                        Some(p) => Some(self.encrypt_password(p).map_err(|e| bad(e.to_string()))?),
                        None => None,
                    };
                    let _w = self.db.write_guard().await;
                    stand::ActiveModel { id: Set(s.id), user_created: Set(true), password_enc: Set(enc), ..Default::default() }
                        .update(self.db.connection())
                        .await
                        .map_err(|e| bad(e.to_string()))?;
                }
                // Created meanwhile by someone else: it is not ours to remove later.
                Err(e) if e.kind == ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
        }
        if !s.pool_created {
            let comment = format!("Gantry stand of {user} (deployment {})", run.deployment_id);
            match PveClient::retrying("pool", scale, || c.create_pool(&pool, &comment)).await {
                Ok(()) => {}
                // A rerun after a crash between creating and recording it.
                Err(e) if e.kind == ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
            let _w = self.db.write_guard().await;
            stand::ActiveModel { id: Set(s.id), pool_created: Set(true), status: Set("deploying".into()), ..Default::default() }
                .update(self.db.connection())
                .await
                .map_err(|e| bad(e.to_string()))?;
        }
        if !s.acl_set {
            let path = format!("/pool/{pool}");
            PveClient::retrying("acl", scale, || c.set_acl(&path, role, &user, false)).await?;
            let _w = self.db.write_guard().await;
            stand::ActiveModel { id: Set(s.id), acl_set: Set(true), ..Default::default() }
                .update(self.db.connection())
                .await
                .map_err(|e| bad(e.to_string()))?;
        }
        Ok(())
    }

    /// Takes the next free VMID from the ledger for a deployment.
    async fn new_vmid(&self, run: &Run) -> Result<u32, ServiceError> {
        let m = self.cluster_row(run.cluster_id).await?;
        for _ in 0..50 {
            let held: BTreeSet<i64> = vmid::Entity::find()
                .filter(vmid::Column::ClusterId.eq(run.cluster_id))
                .all(self.db.connection())
                .await
                .map_err(db_err)?
                .into_iter()
                .map(|v| v.vmid)
                .collect();
            let used = run.view.lock().await.used_vmids.clone();
            let Some(next) = (m.vmid_first..=m.vmid_last).find(|i| !held.contains(i) && !used.contains(&(*i as u32))) else {
                return Err(ServiceError::InvalidState(format!("the VMID range {}-{} is exhausted", m.vmid_first, m.vmid_last)));
            };
            let _w = self.db.write_guard().await;
            let r = vmid::ActiveModel {
                cluster_id: Set(run.cluster_id),
                vmid: Set(next),
                deployment_id: Set(run.deployment_id),
                created_at: Set(Utc::now()),
                ..Default::default()
            }
            .insert(self.db.connection())
            .await;
            match r {
                Ok(_) => return Ok(next as u32),
                Err(e) if matches!(e.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_))) => continue,
                Err(e) => return Err(db_err(e)),
            }
        }
        Err(ServiceError::InvalidState("could not reserve a VMID".into()))
    }

    async fn release_vmid(&self, cluster_id: i64, id: i64) {
        let _w = self.db.write_guard().await;
        let r = vmid::Entity::delete_many()
            .filter(vmid::Column::ClusterId.eq(cluster_id))
            .filter(vmid::Column::Vmid.eq(id))
            .exec(self.db.connection())
            .await;
        if let Err(e) = r {
            tracing::warn!(error = %e, vmid = id, "cannot release a VMID");
        }
    }

    /// Chooses another node for a VM whose node went away before it was cloned.
    async fn replace(&self, run: &Run, v: &vm::Model) -> Option<String> {
        let spec: &VmSpec = run.bp.vms.iter().find(|s| s.key == v.vm_key)?;
        let mut view = run.view.lock().await;
        for n in view.nodes.iter_mut() {
            if run.is_down(&n.name) {
                n.online = false;
            }
        }
        let t = run.templates.get(&(v.template_vmid as u32))?;
        let mut ctx = Context::default();
        for n in &view.nodes {
            let reachable =
                t.node == n.name || (t.shared && t.storages.iter().all(|s| view.storages.get(&n.name).is_some_and(|m| m.contains_key(s))));
            if !reachable {
                ctx.excluded.insert(n.name.clone(), "template not usable there".into());
            }
            if run.is_down(&t.node) {
                ctx.excluded.insert(n.name.clone(), format!("the template's node {} is unreachable", t.node));
            }
        }
        let d = Demand { mem: spec.memory_mib.unwrap_or(t.memory_mib) as u64 * (1 << 20), cores: spec.cores.unwrap_or(t.cores) as f64 };
        let res = run.reservations.lock().map(|r| r.clone()).unwrap_or_default();
        let dec = placement::choose(&view.nodes, &res, d, run.bp.strategy, &ctx).ok()?;
        if let Ok(mut r) = run.reservations.lock() {
            r.add(&dec.node, d);
        }
        Some(dec.node)
    }

    /// One VM from wherever it stopped to ready.
    async fn run_vm(&self, run: &Run, mut v: vm::Model, pool: String) -> Result<vm::Model, VmError> {
        let c = &run.client;
        let scale = self.settings.retry_scale;
        let spec =
            run.bp.vms.iter().find(|s| s.key == v.vm_key).cloned().ok_or_else(|| VmError::msg("the VM is no longer in the blueprint"))?;
        if v.status == "failed" {
            // A retry: resume after the clone if the clone exists and is Gantry's, else clone again.
            v.status = match c.vm_config(&v.node, v.vmid as u32).await {
                Ok(cfg) if cfg.contains_key("lock") => {
                    return Err(VmError::msg("the VM is still locked on the cluster; retry later or remove the orphan"));
                }
                Ok(cfg) if cfg.get("name").and_then(|n| n.as_str()) == Some(v.name.as_str()) => "cloned".into(),
                Ok(_) => {
                    // The VMID now holds someone else's VM: take another.
                    v = self.swap_vmid(run, v).await?;
                    "planned".into()
                }
                Err(e) if e.kind == ErrorKind::NotFound => "planned".into(),
                Err(e) => return Err(VmError::pve(e)),
            };
        }
        if matches!(v.status.as_str(), "planned" | "cloning") {
            // A rerun may find the clone of an earlier attempt: use it if it finished.
            if v.status == "cloning"
                && let Ok(cfg) = c.vm_config(&v.node, v.vmid as u32).await
            {
                let mine = cfg.get("name").and_then(|n| n.as_str()) == Some(v.name.as_str());
                if !mine {
                    // The VMID holds someone else's VM: never adopt it; take another id.
                    v = self.swap_vmid(run, v).await?;
                    v.status = "planned".into();
                } else if !cfg.contains_key("lock") {
                    v.status = "cloned".into();
                } else {
                    return Err(VmError::msg("an earlier clone of this VM is still locked; clean it up or retry later"));
                }
            }
        }
        if matches!(v.status.as_str(), "planned" | "cloning") {
            v = self.clone_one(run, v).await?;
        }
        if v.status == "cloned" {
            let node_sem = self.semaphore(&format!("{}:node:{}", run.cluster_id, v.node), self.settings.per_node);
            let _p = node_sem.acquire().await.map_err(|_| VmError::msg("shutting down"))?;
            let mut p: Vec<(String, String)> = vec![];
            if let Some(cores) = spec.cores {
                p.push(("cores".into(), cores.to_string()));
            }
            if let Some(m) = spec.memory_mib {
                p.push(("memory".into(), m.to_string()));
            }
            for (i, a) in spec.networks.iter().enumerate() {
                p.push((format!("net{i}"), a.net_value(false)));
            }
            p.push(("tags".into(), format!("gantry;gantry-d{}", run.deployment_id)));
            let (node, id) = (v.node.clone(), v.vmid as u32);
            PveClient::retrying("configure", scale, || c.set_vm_config(&node, id, p.clone())).await.map_err(VmError::pve)?;
            for d in &spec.disks {
                if let Some(upid) =
                    PveClient::retrying("resize", scale, || c.resize_disk(&node, id, &d.disk, d.size_gib)).await.map_err(VmError::pve)?
                {
                    c.wait_task(&upid, self.settings.task_timeout, self.settings.poll).await.map_err(VmError::pve)?;
                }
            }
            v.status = "configured".into();
            self.update_vm(vm::ActiveModel {
                id: Set(v.id),
                status: Set(v.status.clone()),
                error: Set(None),
                updated_at: Set(Utc::now()),
                ..Default::default()
            })
            .await
            .map_err(VmError::svc)?;
        }
        if v.status == "configured" {
            let (node, id) = (v.node.clone(), v.vmid as u32);
            if let Ok(p) = pool.parse::<PoolId>() {
                let ids = [id];
                match PveClient::retrying("pool", scale, || c.pool_add_vms(&p, &ids)).await {
                    Ok(()) => {}
                    // A retry after the pool step: already in this pool is done (another pool says "of pool").
                    Err(e) if e.message.contains("already a pool member") && !e.message.contains("of pool") => {}
                    Err(e) => return Err(VmError::pve(e)),
                }
            }
            if spec.start && c.vm_status(&node, id).await.map_err(VmError::pve)? != "running" {
                let upid = PveClient::retrying("start", scale, || c.vm_power(&node, id, "start")).await.map_err(VmError::pve)?;
                c.wait_task(&upid, self.settings.task_timeout, self.settings.poll).await.map_err(VmError::pve)?;
            }
            v.status = "ready".into();
            self.update_vm(vm::ActiveModel {
                id: Set(v.id),
                status: Set(v.status.clone()),
                error: Set(None),
                updated_at: Set(Utc::now()),
                ..Default::default()
            })
            .await
            .map_err(VmError::svc)?;
        }
        Ok(v)
    }

    /// Clones one VM: free VMID, bounded by node and storage, retried on lock
    /// timeouts, re-placed if its node is unreachable before the clone starts.
    async fn clone_one(&self, run: &Run, mut v: vm::Model) -> Result<vm::Model, VmError> {
        let c = &run.client;
        let scale = self.settings.retry_scale;
        let lock_policy = ErrorKind::LockTimeout.retry().unwrap_or(crate::client::RetryPolicy {
            attempts: 1,
            base: Default::default(),
            max: Default::default(),
        });
        let mut attempt = 0u32;
        let mut moves = 0;
        loop {
            attempt += 1;
            if run.is_down(&v.node) {
                moves += 1;
                let Some(node) = (if moves <= 3 { self.replace(run, &v).await } else { None }) else {
                    return Err(VmError::msg(&format!("node {} is unreachable and no other node can take the VM", v.node)));
                };
                tracing::info!(vm = %v.name, from = %v.node, to = %node, "re-placing a VM away from an unreachable node");
                v.node = node;
                self.update_vm(vm::ActiveModel {
                    id: Set(v.id),
                    node: Set(v.node.clone()),
                    updated_at: Set(Utc::now()),
                    ..Default::default()
                })
                .await
                .map_err(VmError::svc)?;
                // The new node's bridges may be missing too.
                if let Err(e) = self.ensure_network(run, &v.node.clone()).await {
                    if e.kind == ErrorKind::NodeUnreachable {
                        run.mark_down(&v.node);
                    }
                    continue;
                }
            }
            // Proxmox's nextid does not reserve: check the id is still free on the cluster.
            match c.vmid_free(v.vmid as u32).await {
                Ok(true) => {}
                Ok(false) => {
                    v = self.swap_vmid(run, v).await?;
                    continue;
                }
                Err(e) if e.kind.retry().is_some() && attempt < lock_policy.attempts => {
                    tokio::time::sleep(lock_policy.delay(attempt, scale)).await;
                    continue;
                }
                Err(e) => return Err(VmError::pve(e)),
            }
            // Shared by every deployment in this process: the limits protect the cluster, not one run.
            let node_sem = self.semaphore(&format!("{}:node:{}", run.cluster_id, v.node), self.settings.per_node);
            let storage_sem =
                self.semaphore(&run.storage_key(v.template_vmid as u32, &v.node, v.storage.as_deref()), self.settings.per_storage);
            let _n = node_sem.acquire().await.map_err(|_| VmError::msg("shutting down"))?;
            let _s = storage_sem.acquire().await.map_err(|_| VmError::msg("shutting down"))?;
            let req = crate::api::CloneRequest {
                node: v.template_node.clone(),
                template: v.template_vmid as u32,
                newid: v.vmid as u32,
                name: v.name.clone(),
                target: (v.node != v.template_node).then(|| v.node.clone()),
                full: v.clone_mode == "full",
                storage: v.storage.clone(),
                description: format!("Gantry deployment {}", run.deployment_id),
            };
            self.update_vm(vm::ActiveModel {
                id: Set(v.id),
                status: Set("cloning".into()),
                attempts: Set(v.attempts + 1),
                updated_at: Set(Utc::now()),
                ..Default::default()
            })
            .await
            .map_err(VmError::svc)?;
            v.attempts += 1;
            let r = match c.clone_vm(&req).await {
                Ok(upid) => {
                    // From here the clone exists (or existed): never re-place it or give up its VMID.
                    match c.wait_task(&upid, self.settings.task_timeout, self.settings.poll).await {
                        Ok(_) => Ok(()),
                        // A storage lock timeout fails the task and Proxmox removes the new config: clone again.
                        Err(e) if e.kind == ErrorKind::LockTimeout && attempt < lock_policy.attempts => Err(e),
                        Err(e) => return Err(VmError::pve(e)),
                    }
                }
                Err(e) => Err(e),
            };
            match r {
                Ok(()) => {
                    v.status = "cloned".into();
                    self.update_vm(vm::ActiveModel {
                        id: Set(v.id),
                        status: Set(v.status.clone()),
                        error: Set(None),
                        updated_at: Set(Utc::now()),
                        ..Default::default()
                    })
                    .await
                    .map_err(VmError::svc)?;
                    if let Ok(mut res) = run.reservations.lock() {
                        res.add(&v.node, Demand { mem: 0, cores: 0.0 });
                    }
                    return Ok(v);
                }
                Err(e) if e.kind == ErrorKind::AlreadyExists => {
                    drop((_n, _s));
                    // Our own earlier request may have landed (a retried call): adopt the VM if it is ours.
                    match self.guest(c, v.vmid as u32).await {
                        Some(g) if g.name == v.name => {
                            if !self.wait_unlocked(c, &g.node, v.vmid as u32).await {
                                return Err(VmError::msg("a clone of this VM is still running on the cluster"));
                            }
                            v.node = g.node.clone();
                            v.status = "cloned".into();
                            self.update_vm(vm::ActiveModel {
                                id: Set(v.id),
                                node: Set(v.node.clone()),
                                status: Set(v.status.clone()),
                                error: Set(None),
                                updated_at: Set(Utc::now()),
                                ..Default::default()
                            })
                            .await
                            .map_err(VmError::svc)?;
                            return Ok(v);
                        }
                        _ => v = self.swap_vmid(run, v).await?,
                    }
                }
                Err(e) if e.kind == ErrorKind::LockTimeout && attempt < lock_policy.attempts => {
                    drop((_n, _s));
                    let d = lock_policy.delay(attempt, scale);
                    tracing::info!(vm = %v.name, attempt, delay_ms = d.as_millis() as u64, error = %e.message, "clone hit a lock timeout; retrying");
                    tokio::time::sleep(d).await;
                }
                Err(e) if e.kind == ErrorKind::NodeUnreachable && e.status.is_some() => {
                    // 595 on the clone call, before any task exists. The call went to the template's
                    // node; with a target, the target may be the one that is down. Ask the template's node.
                    drop((_n, _s));
                    let template_up = v.node != v.template_node && c.vm_status(&v.template_node, v.template_vmid as u32).await.is_ok();
                    if !template_up {
                        run.mark_down(&v.template_node);
                        return Err(VmError::pve(e));
                    }
                    run.mark_down(&v.node);
                }
                Err(e) => return Err(VmError::pve(e)),
            }
        }
    }

    /// A guest by VMID anywhere on the cluster (from the live resource list).
    async fn guest(&self, c: &PveClient, vmid: u32) -> Option<crate::api::Resource> {
        c.resources(Some("vm")).await.ok()?.into_iter().find(|r| r.vmid == Some(vmid as u64))
    }

    /// Waits until a VM's clone lock is gone (false if it stays locked past the task timeout).
    async fn wait_unlocked(&self, c: &PveClient, node: &str, vmid: u32) -> bool {
        let deadline = std::time::Instant::now() + self.settings.task_timeout;
        while std::time::Instant::now() < deadline {
            match c.vm_config(node, vmid).await {
                Ok(cfg) if !cfg.contains_key("lock") => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
            tokio::time::sleep(self.settings.poll.max(std::time::Duration::from_millis(50))).await;
        }
        false
    }

    async fn swap_vmid(&self, run: &Run, mut v: vm::Model) -> Result<vm::Model, VmError> {
        let new = self.new_vmid(run).await.map_err(VmError::svc)?;
        tracing::info!(vm = %v.name, old = v.vmid, new, "VMID taken on the cluster; using another");
        self.release_vmid(run.cluster_id, v.vmid).await;
        v.vmid = new as i64;
        self.update_vm(vm::ActiveModel { id: Set(v.id), vmid: Set(v.vmid), updated_at: Set(Utc::now()), ..Default::default() })
            .await
            .map_err(VmError::svc)?;
        Ok(v)
    }
}

/// Why one VM failed (kept as text on its row).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct VmError(String);

impl VmError {
    fn msg(m: &str) -> Self {
        VmError(m.to_string())
    }
    fn pve(e: PveError) -> Self {
        VmError(format!("{} ({}): {}", e.op, e.kind.as_str(), e.detail()))
    }
    fn svc(e: ServiceError) -> Self {
        VmError(e.to_string())
    }
}

/// A 20-character password from an unambiguous alphabet; `None` if the OS RNG fails
/// (never a guessable fallback).
pub fn generate_password() -> Option<String> {
    const A: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut b = [0u8; 20];
    getrandom::fill(&mut b).ok()?;
    Some(b.iter().map(|x| A[*x as usize % A.len()] as char).collect())
}
