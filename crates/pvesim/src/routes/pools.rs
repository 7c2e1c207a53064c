//! Resource pools (`/pools`, Proxmox VE 8+ style with `poolid` parameters).

use serde_json::{Value, json};

use super::{Call, split_list};
use crate::error::ApiError;
use crate::state::Pool;

pub(crate) async fn list(c: Call) -> Result<Value, ApiError> {
    let cluster = c.sim.cluster();
    let Some(id) = c.params.string("poolid") else {
        return Ok(Value::Array(
            cluster
                .pools
                .iter()
                .map(|(id, p)| {
                    let mut v = json!({"poolid": id});
                    if let Some(cm) = &p.comment {
                        v["comment"] = json!(cm);
                    }
                    v
                })
                .collect(),
        ));
    };
    let pool = cluster.pools.get(&id).ok_or_else(|| ApiError::internal(format!("pool '{id}' does not exist")))?;
    let kind = c.params.string("type");
    let mut members = Vec::new();
    if kind.as_deref().is_none_or(|k| k == "qemu") {
        for vm in cluster.vms.values().filter(|v| v.pool.as_deref() == Some(id.as_str())) {
            members.push(json!({
                "id": format!("qemu/{}", vm.vmid), "type": "qemu", "vmid": vm.vmid,
                "node": vm.node, "name": vm.name(), "status": vm.status.as_str(),
                "template": u8::from(vm.template()), "maxmem": vm.maxmem(), "maxcpu": vm.cores(),
            }));
        }
    }
    if kind.as_deref().is_none_or(|k| k == "storage") {
        for s in &pool.storage {
            members.push(json!({"id": format!("storage/{s}"), "type": "storage", "storage": s}));
        }
    }
    let mut v = json!({"poolid": id, "members": members});
    if let Some(cm) = &pool.comment {
        v["comment"] = json!(cm);
    }
    Ok(json!([v]))
}

pub(crate) async fn create(c: Call) -> Result<Value, ApiError> {
    let id = c.params.req("poolid")?.to_string();
    let mut cluster = c.sim.cluster();
    if cluster.pools.contains_key(&id) {
        return Err(ApiError::internal(format!("pool '{id}' already exists")));
    }
    cluster.pools.insert(id, Pool { comment: c.params.string("comment"), storage: Default::default() });
    Ok(Value::Null)
}

pub(crate) async fn update(c: Call) -> Result<Value, ApiError> {
    let id = c.params.req("poolid")?.to_string();
    let delete = c.params.bool("delete") == Some(true);
    let allow_move = c.params.bool("allow-move") == Some(true);
    let vms: Vec<u32> = c.params.str("vms").map(split_list).unwrap_or_default().iter().filter_map(|v| v.parse().ok()).collect();
    let storages = c.params.str("storage").map(split_list).unwrap_or_default();
    let mut cluster = c.sim.cluster();
    if !cluster.pools.contains_key(&id) {
        return Err(ApiError::internal(format!("pool '{id}' does not exist")));
    }
    // Check everything first so a failing request changes nothing.
    for vmid in &vms {
        let Some(vm) = cluster.vms.get(vmid) else {
            return Err(ApiError::internal(format!("no such VMID '{vmid}'")));
        };
        if delete {
            continue;
        }
        if vm.pool.as_deref() == Some(id.as_str()) {
            return Err(ApiError::internal(format!("VM {vmid} is already a pool member")));
        }
        if let Some(other) = &vm.pool
            && *other != id
            && !allow_move
        {
            return Err(ApiError::internal(format!("VM {vmid} is already a pool member of pool '{other}'")));
        }
    }
    for s in &storages {
        if !c.sim.cfg.storages.iter().any(|st| st.id == *s) {
            return Err(ApiError::internal(format!("storage '{s}' does not exist")));
        }
    }
    for vmid in &vms {
        if let Some(vm) = cluster.vms.get_mut(vmid) {
            if delete {
                if vm.pool.as_deref() == Some(id.as_str()) {
                    vm.pool = None;
                }
            } else {
                vm.pool = Some(id.clone());
            }
        }
    }
    if let Some(pool) = cluster.pools.get_mut(&id) {
        for s in storages {
            if delete {
                pool.storage.remove(&s);
            } else {
                pool.storage.insert(s);
            }
        }
        if let Some(cm) = c.params.string("comment") {
            pool.comment = Some(cm);
        }
    }
    Ok(Value::Null)
}

pub(crate) async fn delete(c: Call) -> Result<Value, ApiError> {
    let id = c.params.req("poolid")?.to_string();
    let mut cluster = c.sim.cluster();
    let Some(pool) = cluster.pools.get(&id) else {
        return Err(ApiError::internal(format!("delete pool failed: pool '{id}' does not exist")));
    };
    let has_vms = cluster.vms.values().any(|v| v.pool.as_deref() == Some(id.as_str()));
    if has_vms || !pool.storage.is_empty() {
        return Err(ApiError::internal(format!("delete pool failed: pool '{id}' is not empty")));
    }
    cluster.pools.remove(&id);
    let path = format!("/pool/{id}");
    cluster.acls.retain(|(p, _, _, _), _| *p != path);
    Ok(Value::Null)
}
