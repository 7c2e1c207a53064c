//! Guests: listing, config (sync PUT, async POST), power tasks, destroy and clone
//! (qemu-server `API2/Qemu.pm` semantics, including its locks and error messages).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{Call, Params, split_list};
use crate::auth;
use crate::error::ApiError;
use crate::locks::HeldLock;
use crate::state::{RunState, Sim, Vm, is_disk_key};
use crate::tasks::spawn_task;

/// Parameters of config calls that are not config keys.
const NON_CONFIG: &[&str] = &["node", "vmid", "delete", "digest", "skiplock", "background_delay", "revert", "force"];

/// The config digest (Proxmox: SHA-1 of the file; here SHA-256 truncated to 40 hex digits).
pub(crate) fn digest(config: &BTreeMap<String, String>) -> String {
    let mut h = Sha256::new();
    for (k, v) in config {
        if k != "digest" {
            h.update(format!("{k}: {v}\n").as_bytes());
        }
    }
    h.finalize().iter().take(20).map(|b| format!("{b:02x}")).collect()
}

fn locked(lock: &str) -> ApiError {
    ApiError::internal(format!("VM is locked ({lock})"))
}

fn find_vm(c: &Call) -> Result<(String, u32, Vm), ApiError> {
    let node = c.params.node()?;
    let vmid = c.params.vmid()?;
    let vm = c.sim.vm_on(&c.sim.cluster(), &node, vmid)?;
    Ok((node, vmid, vm))
}

fn lock_timeout(sim: &Sim, vmid: u32) -> ApiError {
    sim.stats().lock_timeouts += 1;
    ApiError::vm_lock_timeout(vmid)
}

fn list_item(vm: &Vm) -> Value {
    let running = vm.status == RunState::Running;
    let mut item = json!({
        "vmid": vm.vmid, "name": vm.name(), "status": vm.status.as_str(),
        "cpus": vm.cores(), "maxmem": vm.maxmem(), "maxdisk": vm.maxdisk(),
        "mem": if running { vm.maxmem() / 2 } else { 0 }, "cpu": if running { 0.03 } else { 0.0 },
        "uptime": vm.uptime(), "disk": 0, "netin": 0, "netout": 0, "diskread": 0, "diskwrite": 0,
    });
    if vm.template() {
        item["template"] = json!(1);
    }
    if let Some(l) = &vm.lock {
        item["lock"] = json!(l);
    }
    if let Some(t) = vm.config.get("tags") {
        item["tags"] = json!(t);
    }
    item
}

pub(crate) async fn list(c: Call) -> Result<Value, ApiError> {
    let node = c.params.node()?;
    let caller = c.caller()?.clone();
    let cluster = c.sim.cluster();
    let out: Vec<Value> = cluster
        .vms
        .values()
        .filter(|v| v.node == node)
        .filter(|v| auth::has_privilege(&cluster, &caller, &format!("/vms/{}", v.vmid), "VM.Audit"))
        .map(list_item)
        .collect();
    Ok(Value::Array(out))
}

pub(crate) async fn index(c: Call) -> Result<Value, ApiError> {
    find_vm(&c)?;
    let subdirs = ["config", "pending", "status", "clone", "migrate", "snapshot", "firewall"];
    Ok(Value::Array(subdirs.iter().map(|s| json!({"subdir": s})).collect()))
}

pub(crate) async fn get_config(c: Call) -> Result<Value, ApiError> {
    let (_, _, vm) = find_vm(&c)?;
    let mut out = serde_json::Map::new();
    for (k, v) in &vm.config {
        let value = match v.parse::<i64>() {
            Ok(n) if !k.starts_with("net") && k != "name" && k != "tags" => json!(n),
            _ => json!(v),
        };
        out.insert(k.clone(), value);
    }
    if let Some(l) = &vm.lock {
        out.insert("lock".into(), json!(l));
    }
    out.insert("digest".into(), json!(digest(&vm.config)));
    Ok(Value::Object(out))
}

/// Applies a config change under the VM's exclusive lock (`lock_config` with 1 s timeout).
async fn apply_config(sim: &Arc<Sim>, node: &str, vmid: u32, params: &Params, latency: std::time::Duration) -> Result<(), ApiError> {
    let timeout = sim.timing().exact(sim.timing().vm_lock_timeout_ms);
    if sim.faults().take_config_lock_timeout(vmid) {
        tokio::time::sleep(timeout).await;
        return Err(lock_timeout(sim, vmid));
    }
    let Some(_lock) = sim.locks.vm_exclusive(vmid, timeout).await else {
        return Err(lock_timeout(sim, vmid));
    };
    {
        let mut cluster = sim.cluster();
        let vm = match cluster.vms.get_mut(&vmid) {
            Some(vm) if vm.node == node => vm,
            _ => {
                return Err(ApiError::internal(format!("Configuration file 'nodes/{node}/qemu-server/{vmid}.conf' does not exist")));
            }
        };
        if params.bool("skiplock") != Some(true)
            && let Some(l) = &vm.lock
        {
            return Err(locked(l));
        }
        if let Some(d) = params.str("digest")
            && d != digest(&vm.config)
        {
            return Err(ApiError::internal("detected modified configuration - file changed by other user? Try again."));
        }
        let deletes = params.str("delete").map(split_list).unwrap_or_default();
        for (k, _) in params.0.iter().filter(|(k, _)| !NON_CONFIG.contains(&k.as_str())) {
            if deletes.contains(k) {
                return Err(ApiError::param(k, format!("you can't use '-{k}' and -delete {k}' at the same time")));
            }
        }
        for key in deletes {
            vm.config.remove(&key);
        }
        for (k, v) in params.0.iter().filter(|(k, _)| !NON_CONFIG.contains(&k.as_str())) {
            vm.config.insert(k.clone(), with_mac(k, v));
        }
    }
    sim.work(node, latency).await;
    Ok(())
}

pub(crate) async fn put_config(c: Call) -> Result<Value, ApiError> {
    let node = c.params.node()?;
    let vmid = c.params.vmid()?;
    let latency = c.sim.timing().jittered(c.sim.timing().config_put_ms);
    apply_config(&c.sim, &node, vmid, &c.params, latency).await?;
    Ok(Value::Null)
}

pub(crate) async fn post_config(c: Call) -> Result<Value, ApiError> {
    let (node, vmid, _) = find_vm(&c)?;
    let user = c.caller()?.task_user();
    let sim = c.sim.clone();
    let params = c.params.clone();
    let latency = sim.timing().jittered(sim.timing().config_post_ms);
    let n = node.clone();
    let upid = spawn_task(&c.sim, &node, "qmconfig", &vmid.to_string(), &user, move |ctx| async move {
        ctx.log(format!("update VM {vmid}: config"));
        apply_config(&sim, &n, vmid, &params, latency).await.map_err(|e| e.message)
    });
    Ok(json!(upid))
}

/// Parses `10G`, `512M`, `1.5T` (no suffix: bytes) into bytes.
fn size_bytes(s: &str) -> Option<u64> {
    let (num, mul) = match s.chars().last()? {
        'K' => (&s[..s.len() - 1], 1u64 << 10),
        'M' => (&s[..s.len() - 1], 1 << 20),
        'G' => (&s[..s.len() - 1], 1 << 30),
        'T' => (&s[..s.len() - 1], 1 << 40),
        _ => (s, 1),
    };
    num.parse::<f64>().ok().map(|n| (n * mul as f64) as u64)
}

fn size_text(b: u64) -> String {
    if b.is_multiple_of(1 << 30) { format!("{}G", b >> 30) } else { format!("{}M", b >> 20) }
}

/// `PUT …/resize`: grows a disk (absolute or `+delta`), as a task; shrinking is refused like Proxmox does.
pub(crate) async fn resize(c: Call) -> Result<Value, ApiError> {
    let (node, vmid, vm) = find_vm(&c)?;
    let disk = c.params.str("disk").unwrap_or_default().to_string();
    let size = c.params.str("size").unwrap_or_default().to_string();
    if c.params.bool("skiplock") != Some(true)
        && let Some(l) = &vm.lock
    {
        return Err(locked(l));
    }
    let Some(current) = vm.config.get(&disk).cloned() else {
        return Err(ApiError::internal(format!("disk '{disk}' does not exist")));
    };
    let old = current.split(',').find_map(|p| p.strip_prefix("size=")).and_then(size_bytes).unwrap_or(0);
    let new = match size.strip_prefix('+') {
        Some(d) => old + size_bytes(d).unwrap_or(0),
        None => size_bytes(&size).unwrap_or(0),
    };
    if new < old {
        return Err(ApiError::internal("shrinking disks is not supported"));
    }
    let user = c.caller()?.task_user();
    let sim = c.sim.clone();
    let latency = sim.timing().jittered(sim.timing().config_put_ms);
    let timeout = sim.timing().exact(sim.timing().vm_lock_timeout_ms);
    let n = node.clone();
    let upid = spawn_task(&c.sim, &node, "resize", &vmid.to_string(), &user, move |ctx| async move {
        ctx.log(format!("resize {disk} of VM {vmid} to {}", size_text(new)));
        let Some(_lock) = sim.locks.vm_exclusive(vmid, timeout).await else {
            return Err(format!("can't lock file '/var/lock/qemu-server/lock-{vmid}.conf' - got timeout"));
        };
        sim.work(&n, latency).await;
        let mut cluster = sim.cluster();
        let vm =
            cluster.vms.get_mut(&vmid).ok_or_else(|| format!("Configuration file 'nodes/{n}/qemu-server/{vmid}.conf' does not exist"))?;
        let Some(value) = vm.config.get(&disk).cloned() else { return Err(format!("disk '{disk}' does not exist")) };
        let parts: Vec<String> = value.split(',').filter(|p| !p.starts_with("size=")).map(str::to_string).collect();
        vm.config.insert(disk.clone(), format!("{},size={}", parts.join(","), size_text(new)));
        Ok(())
    });
    Ok(json!(upid))
}

pub(crate) async fn status_current(c: Call) -> Result<Value, ApiError> {
    let (_, _, vm) = find_vm(&c)?;
    let mut item = list_item(&vm);
    item["qmpstatus"] = json!(vm.status.as_str());
    item["ha"] = json!({"managed": 0});
    item["agent"] = json!(0);
    Ok(item)
}

pub(crate) async fn start(c: Call) -> Result<Value, ApiError> {
    let (node, vmid, vm) = find_vm(&c)?;
    if c.params.bool("skiplock") != Some(true)
        && let Some(l) = &vm.lock
    {
        return Err(locked(l));
    }
    if vm.template() {
        return Err(ApiError::internal("you can't start a vm if it's a template"));
    }
    if vm.status == RunState::Running {
        return Err(ApiError::internal(format!("VM {vmid} already running")));
    }
    let user = c.caller()?.task_user();
    let sim = c.sim.clone();
    let dur = sim.timing().jittered(sim.timing().start_ms);
    let n = node.clone();
    let upid = spawn_task(&c.sim, &node, "qmstart", &vmid.to_string(), &user, move |ctx| async move {
        ctx.log(format!("starting VM {vmid}"));
        sim.work(&n, dur).await;
        let mut cluster = sim.cluster();
        let vm =
            cluster.vms.get_mut(&vmid).ok_or_else(|| format!("Configuration file 'nodes/{n}/qemu-server/{vmid}.conf' does not exist"))?;
        vm.status = RunState::Running;
        vm.started = Some(Instant::now());
        Ok(())
    });
    Ok(json!(upid))
}

async fn power_off(c: Call, kind: &'static str) -> Result<Value, ApiError> {
    let (node, vmid, vm) = find_vm(&c)?;
    if c.params.bool("skiplock") != Some(true)
        && let Some(l) = &vm.lock
    {
        return Err(locked(l));
    }
    let user = c.caller()?.task_user();
    let sim = c.sim.clone();
    let dur = sim.timing().jittered(sim.timing().stop_ms);
    let n = node.clone();
    let upid = spawn_task(&c.sim, &node, kind, &vmid.to_string(), &user, move |_ctx| async move {
        let was_running = sim.cluster().vms.get(&vmid).is_some_and(|v| v.status == RunState::Running);
        if !was_running {
            return if kind == "qmshutdown" { Err(format!("VM {vmid} not running")) } else { Ok(()) };
        }
        sim.work(&n, dur).await;
        if let Some(vm) = sim.cluster().vms.get_mut(&vmid) {
            vm.status = RunState::Stopped;
            vm.started = None;
        }
        Ok(())
    });
    Ok(json!(upid))
}

pub(crate) async fn stop(c: Call) -> Result<Value, ApiError> {
    power_off(c, "qmstop").await
}

pub(crate) async fn shutdown(c: Call) -> Result<Value, ApiError> {
    power_off(c, "qmshutdown").await
}

fn linked_clone_users(sim: &Sim, vmid: u32) -> Option<String> {
    let prefix = format!("base-{vmid}-disk");
    let cluster = sim.cluster();
    let base = cluster.vms.get(&vmid)?.disks().into_iter().next().map(|(_, v)| v)?;
    cluster
        .vms
        .values()
        .filter(|v| v.vmid != vmid)
        .any(|v| {
            v.disks().iter().any(|(_, vol)| vol.split_once(':').is_some_and(|(_, name)| name.starts_with(&prefix) && name.contains('/')))
        })
        .then_some(base)
}

pub(crate) async fn destroy(c: Call) -> Result<Value, ApiError> {
    let (node, vmid, vm) = find_vm(&c)?;
    if vm.status == RunState::Running {
        return Err(ApiError::internal(format!("VM {vmid} is running - destroy failed")));
    }
    if c.params.bool("skiplock") != Some(true)
        && let Some(l) = &vm.lock
    {
        return Err(locked(l));
    }
    if let Some(base) = linked_clone_users(&c.sim, vmid) {
        return Err(ApiError::internal(format!("base volume '{base}' is still in use by linked clones")));
    }
    let timeout = c.sim.timing().exact(c.sim.timing().vm_lock_timeout_ms);
    let Some(lock) = c.sim.locks.vm_exclusive(vmid, timeout).await else {
        return Err(lock_timeout(&c.sim, vmid));
    };
    let purge = c.params.bool("purge") == Some(true);
    let user = c.caller()?.task_user();
    let sim = c.sim.clone();
    let dur = sim.timing().jittered(sim.timing().destroy_ms);
    let n = node.clone();
    let upid = spawn_task(&c.sim, &node, "qmdestroy", &vmid.to_string(), &user, move |ctx| async move {
        let _lock = lock;
        sim.work(&n, dur).await;
        let mut cluster = sim.cluster();
        if cluster.vms.remove(&vmid).is_none() {
            return Err(format!("Configuration file 'nodes/{n}/qemu-server/{vmid}.conf' does not exist"));
        }
        if purge {
            let path = format!("/vms/{vmid}");
            cluster.acls.retain(|(p, _, _, _), _| *p != path);
        }
        drop(cluster);
        ctx.log(format!("destroyed VM {vmid}"));
        Ok(())
    });
    Ok(json!(upid))
}

/// What a clone task needs to know.
struct ClonePlan {
    vmid: u32,
    newid: u32,
    node: String,
    target: String,
    full: bool,
    dest_storage: Option<String>,
    name: String,
    pool: Option<String>,
    disk_gib: u64,
    storages: Vec<(String, bool)>,
    src_config: BTreeMap<String, String>,
}

pub(crate) async fn clone(c: Call) -> Result<Value, ApiError> {
    let sim = c.sim.clone();
    let caller = c.caller()?.clone();
    let (node, vmid, src) = find_vm(&c)?;
    let newid = c.params.u32("newid")?.ok_or_else(|| ApiError::param("newid", crate::schema::MSG_MISSING))?;
    let pool = c.params.string("pool");
    if let Some(p) = &pool
        && !sim.cluster().pools.contains_key(p)
    {
        return Err(ApiError::internal(format!("pool '{p}' does not exist")));
    }
    {
        let cluster = sim.cluster();
        let on_vm = auth::has_privilege(&cluster, &caller, &format!("/vms/{newid}"), "VM.Allocate");
        let on_pool = pool.as_ref().is_some_and(|p| auth::has_privilege(&cluster, &caller, &format!("/pool/{p}"), "VM.Allocate"));
        if !on_vm && !on_pool {
            return Err(ApiError::forbidden(&format!("/vms/{newid}"), "VM.Allocate"));
        }
    }
    let template = src.template();
    let full = c.params.bool("full").unwrap_or(!template);
    if !full {
        for p in ["storage", "format"] {
            if c.params.str(p).is_some() {
                return Err(ApiError {
                    status: 400,
                    message: format!("parameter '{p}' not allowed for linked clones"),
                    errors: BTreeMap::from([(p.to_string(), format!("parameter '{p}' not allowed for linked clones"))]),
                });
            }
        }
        if !template {
            let drive = src.disks().first().map(|(k, _)| k.clone()).unwrap_or_else(|| "scsi0".into());
            return Err(ApiError::internal(format!("Linked clone feature is not supported for drive '{drive}'")));
        }
    }
    let target = c.params.string("target").unwrap_or_else(|| node.clone());
    if !sim.node_exists(&target) {
        return Err(ApiError::internal(format!("no such cluster node '{target}'")));
    }
    let storage_cfg = |id: &str| sim.cfg.storages.iter().find(|s| s.id == id).cloned();
    let mut storages = Vec::new();
    for (_, vol) in src.disks() {
        let id = vol.split(':').next().unwrap_or_default().to_string();
        let shared = storage_cfg(&id).is_some_and(|s| s.shared);
        if !storages.iter().any(|(s, _)| *s == id) {
            storages.push((id, shared));
        }
    }
    let dest_storage = c.params.string("storage");
    if let Some(s) = &dest_storage {
        let Some(cfg) = storage_cfg(s) else {
            return Err(ApiError::internal(format!("storage '{s}' does not exist")));
        };
        if !sim.cfg.storage_nodes(&cfg).contains(&target) {
            return Err(ApiError::internal(format!("storage '{s}' is not available on node '{target}'")));
        }
        storages = vec![(s.clone(), cfg.shared)];
    }
    if target != node {
        let all_shared_here =
            storages.iter().all(|(id, shared)| *shared && storage_cfg(id).is_some_and(|s| sim.cfg.storage_nodes(&s).contains(&target)));
        if !all_shared_here {
            return Err(ApiError::internal(format!("can't clone VM to node '{target}' (VM uses local storage)")));
        }
        if !sim.is_online(&target) {
            return Err(ApiError::node_unreachable());
        }
    }
    let exists = || ApiError::internal(format!("unable to create VM {newid}: config file already exists"));
    if sim.cluster().vms.contains_key(&newid) {
        return Err(exists());
    }
    if let Some(l) = &src.lock {
        return Err(locked(l));
    }
    let timeout = sim.timing().exact(sim.timing().vm_lock_timeout_ms);
    // Source: shared flock while stopped (parallel linked clones), exclusive while running.
    let src_lock = if src.status == RunState::Running {
        sim.locks.vm_exclusive(vmid, timeout).await
    } else {
        sim.locks.vm_shared(vmid, timeout).await
    };
    let Some(src_lock) = src_lock else {
        return Err(lock_timeout(&sim, vmid));
    };
    let Some(dst_lock) = sim.locks.vm_exclusive(newid, timeout).await else {
        return Err(lock_timeout(&sim, newid));
    };
    let name = c.params.string("name").unwrap_or_else(|| format!("Copy-of-VM-{}", src.name()));
    {
        let mut cluster = sim.cluster();
        if cluster.vms.contains_key(&newid) {
            return Err(exists());
        }
        let mut config: BTreeMap<String, String> =
            src.config.iter().filter(|(k, _)| !is_disk_key(k) && k.as_str() != "template").map(|(k, v)| (k.clone(), v.clone())).collect();
        config.insert("name".into(), name.clone());
        if let Some(d) = c.params.string("description") {
            config.insert("description".into(), d);
        }
        cluster.vms.insert(
            newid,
            Vm {
                vmid: newid,
                node: node.clone(),
                config,
                status: RunState::Stopped,
                started: None,
                lock: Some("clone".into()),
                pool: None,
            },
        );
    }
    let plan = ClonePlan {
        vmid,
        newid,
        node: node.clone(),
        target,
        full,
        dest_storage,
        name,
        pool,
        disk_gib: src.maxdisk().div_ceil(1 << 30).max(1),
        storages,
        src_config: src.config.clone(),
    };
    let user = caller.task_user();
    let upid = spawn_task(&sim, &node, "qmclone", &vmid.to_string(), &user, move |ctx| {
        let sim = ctx.sim.clone();
        async move {
            let _locks = (src_lock, dst_lock);
            let result = run_clone(&sim, &ctx, &plan).await;
            if result.is_err() {
                // A failed clone unlinks its config.
                sim.cluster().vms.remove(&plan.newid);
                sim.stats().clone_failures += 1;
            }
            result
        }
    });
    Ok(json!(upid))
}

async fn run_clone(sim: &Arc<Sim>, ctx: &crate::tasks::TaskCtx, plan: &ClonePlan) -> Result<(), String> {
    let t = sim.timing().clone();
    ctx.log(format!(
        "create {} clone of drive scsi0 ({})",
        if plan.full { "full" } else { "linked" },
        plan.src_config.get("scsi0").cloned().unwrap_or_default()
    ));
    let mut storage_locks: Vec<HeldLock> = Vec::new();
    for (id, shared) in &plan.storages {
        let (key, message) = if *shared {
            (id.clone(), format!("cfs-lock 'storage-{id}' error: got lock request timeout"))
        } else {
            (format!("{}/{id}", plan.node), format!("can't lock file '/var/lock/pve-manager/pve-storage-{id}' - got timeout"))
        };
        let timeout = t.exact(t.storage_lock_timeout_ms);
        if sim.faults().take_storage_lock_timeout() {
            sim.work(&plan.node, timeout).await;
            sim.stats().lock_timeouts += 1;
            return Err(message);
        }
        match sim.locks.storage(&key, timeout).await {
            Some(l) => storage_locks.push(l),
            None => {
                sim.stats().lock_timeouts += 1;
                return Err(message);
            }
        }
    }
    sim.work(&plan.node, t.jittered(t.storage_lock_hold_ms)).await;
    drop(storage_locks);
    if let Some(msg) = sim.faults().take_clone_failure() {
        return Err(msg);
    }
    let copy = if plan.full { t.jittered(t.full_clone_ms_per_gib.saturating_mul(plan.disk_gib)) } else { t.jittered(t.linked_clone_ms) };
    sim.work(&plan.node, copy).await;
    let mut cluster = sim.cluster();
    let pool_ok = plan.pool.as_ref().is_none_or(|p| cluster.pools.contains_key(p));
    let Some(vm) = cluster.vms.get_mut(&plan.newid) else {
        return Err(format!("clone failed: VM {} config vanished", plan.newid));
    };
    let mut idx = 0;
    for (key, value) in &plan.src_config {
        if !is_disk_key(key) {
            continue;
        }
        let (volid, opts) = value.split_once(',').unwrap_or((value.as_str(), ""));
        let (storage, volname) = volid.split_once(':').unwrap_or(("local-lvm", volid));
        let new_vol = if value.contains("media=cdrom") || volid == "none" {
            volid.to_string()
        } else if plan.full {
            let s = plan.dest_storage.as_deref().unwrap_or(storage);
            let v = format!("{s}:vm-{}-disk-{idx}", plan.newid);
            idx += 1;
            v
        } else {
            let v = format!("{storage}:{volname}/vm-{}-disk-{idx}", plan.newid);
            idx += 1;
            v
        };
        let joined = if opts.is_empty() { new_vol } else { format!("{new_vol},{opts}") };
        vm.config.insert(key.clone(), joined);
    }
    for (key, value) in vm.config.iter_mut() {
        if key.starts_with("net") && key[3..].bytes().all(|b| b.is_ascii_digit()) {
            *value = randomize_mac(value);
        }
    }
    vm.config.insert("name".into(), plan.name.clone());
    vm.config.insert("vmgenid".into(), crate::state::uuid());
    vm.config.insert("smbios1".into(), format!("uuid={}", crate::state::uuid()));
    vm.node = plan.target.clone();
    vm.lock = None;
    if pool_ok {
        vm.pool = plan.pool.clone();
    }
    drop(cluster);
    if !pool_ok {
        ctx.log("WARN: pool vanished, VM not added");
    }
    ctx.log(format!("clone of VM {} to {} finished", plan.vmid, plan.newid));
    Ok(())
}

/// Proxmox generates a MAC when a `net[n]` value names only the model.
fn with_mac(key: &str, value: &str) -> String {
    let is_net = key.starts_with("net") && key.len() > 3 && key[3..].bytes().all(|b| b.is_ascii_digit());
    if !is_net || value.contains("macaddr=") {
        return value.to_string();
    }
    let (first, rest) = value.split_once(',').map_or((value, None), |(a, b)| (a, Some(b)));
    let model = first.strip_prefix("model=").unwrap_or(first);
    if model.contains('=') {
        return value.to_string();
    }
    match rest {
        Some(rest) => format!("{model}={},{rest}", crate::random::mac()),
        None => format!("{model}={}", crate::random::mac()),
    }
}

/// Replaces the MAC of a `net[n]` value (`virtio=MAC,...` or `macaddr=MAC`).
fn randomize_mac(value: &str) -> String {
    value
        .split(',')
        .enumerate()
        .map(|(i, part)| match part.split_once('=') {
            Some(("macaddr", _)) => format!("macaddr={}", crate::random::mac()),
            Some((model, mac)) if i == 0 && mac.contains(':') => format!("{model}={}", crate::random::mac()),
            _ => part.to_string(),
        })
        .collect::<Vec<_>>()
        .join(",")
}
