//! Cluster-wide reads: version, status, resources (lagged metrics), nextid, nodes, storage.

use serde_json::{Value, json};

use super::{Call, flag};
use crate::error::ApiError;
use crate::state::RunState;

pub(crate) async fn version(c: Call) -> Result<Value, ApiError> {
    let v = &c.sim.cfg.version;
    let release = v.split('.').take(2).collect::<Vec<_>>().join(".");
    Ok(json!({"version": v, "release": release, "repoid": "5bf5e04c2d1c6b8b", "console": "xtermjs"}))
}

pub(crate) async fn status(c: Call) -> Result<Value, ApiError> {
    let sim = &c.sim;
    let total = sim.cfg.nodes.len();
    let online = sim.cfg.nodes.iter().filter(|n| sim.is_online(&n.name)).count();
    let mut out = vec![json!({
        "type": "cluster", "id": "cluster", "name": sim.cfg.cluster_name,
        "nodes": total, "quorate": flag(online * 2 > total), "version": total + 2,
    })];
    for (i, n) in sim.cfg.nodes.iter().enumerate() {
        out.push(json!({
            "type": "node", "id": format!("node/{}", n.name), "name": n.name,
            "ip": n.ip, "nodeid": i + 1, "online": flag(sim.is_online(&n.name)),
            "local": flag(n.name == c.local), "level": "",
        }));
    }
    Ok(Value::Array(out))
}

fn node_item(c: &Call, name: &str, for_resources: bool) -> Value {
    let sim = &c.sim;
    let Some(cfg) = sim.cfg.nodes.iter().find(|n| n.name == name) else {
        return Value::Null;
    };
    let metrics = sim.metrics();
    let online = sim.is_online(name);
    let mut item = json!({
        "node": name, "id": format!("node/{name}"), "type": "node",
        "status": if online { "online" } else { "offline" },
        "ssl_fingerprint": sim.cert.fingerprint, "level": "",
    });
    if online && let Some(m) = metrics.nodes.get(name) {
        item["cpu"] = json!(m.cpu);
        item["maxcpu"] = json!(cfg.cores);
        item["mem"] = json!(m.mem);
        item["maxmem"] = json!(cfg.memory);
        item["uptime"] = json!(m.uptime);
        item["disk"] = json!(4_u64 << 30);
        item["maxdisk"] = json!(100_u64 << 30);
    }
    if for_resources {
        item["cgroup-mode"] = json!(2);
    }
    item
}

pub(crate) async fn nodes(c: Call) -> Result<Value, ApiError> {
    let names: Vec<String> = c.sim.cfg.nodes.iter().map(|n| n.name.clone()).collect();
    Ok(Value::Array(names.iter().map(|n| node_item(&c, n, false)).collect()))
}

pub(crate) async fn node_status(c: Call) -> Result<Value, ApiError> {
    let node = c.params.node()?;
    let Some(cfg) = c.sim.cfg.nodes.iter().find(|n| n.name == node) else {
        return Err(ApiError::internal(format!("no such cluster node '{node}'")));
    };
    let m = c.sim.metrics().nodes.get(&node).copied().unwrap_or_default();
    Ok(json!({
        "cpu": m.cpu, "uptime": m.uptime, "wait": 0.0,
        "cpuinfo": {"cores": cfg.cores / 2, "cpus": cfg.cores, "sockets": 1, "model": "Simulated CPU", "mhz": "2400.000"},
        "memory": {"total": cfg.memory, "used": m.mem, "free": cfg.memory.saturating_sub(m.mem), "available": cfg.memory.saturating_sub(m.mem)},
        "rootfs": {"total": 100_u64 << 30, "used": 4_u64 << 30, "free": 96_u64 << 30, "avail": 96_u64 << 30},
        "swap": {"total": 0, "used": 0, "free": 0},
        "loadavg": [format!("{:.2}", m.cpu * f64::from(cfg.cores)), "0.50", "0.40"],
        "pveversion": format!("pve-manager/{}/5bf5e04c2d1c6b8b", c.sim.cfg.version),
        "kversion": "Linux 6.14.11-4-pve #1 SMP PREEMPT_DYNAMIC PMX",
        "boot-info": {"mode": "efi", "secureboot": 0},
    }))
}

fn storage_used(c: &Call, storage: &str, node: Option<&str>) -> u64 {
    let cluster = c.sim.cluster();
    cluster
        .vms
        .values()
        .filter(|v| node.is_none_or(|n| v.node == n))
        .filter(|v| v.disks().iter().any(|(_, vol)| vol.starts_with(&format!("{storage}:"))))
        .map(|v| v.maxdisk())
        .sum()
}

pub(crate) async fn resources(c: Call) -> Result<Value, ApiError> {
    let kind = c.params.string("type");
    let want = |t: &str| kind.as_deref().is_none_or(|k| k == t);
    let sim = c.sim.clone();
    let metrics = sim.metrics();
    let mut out = Vec::new();
    if want("node") {
        for n in &sim.cfg.nodes {
            out.push(node_item(&c, &n.name, true));
        }
    }
    if want("vm") {
        let vms: Vec<_> = sim.cluster().vms.values().cloned().collect();
        for vm in vms {
            let online = sim.is_online(&vm.node);
            // pvestatd has not seen a guest created after its last loop: it shows as stopped.
            let m = metrics.vms.get(&vm.vmid);
            let status =
                if !online { "unknown".to_string() } else { m.map(|m| m.status).unwrap_or(RunState::Stopped).as_str().to_string() };
            let mut item = json!({
                "id": format!("qemu/{}", vm.vmid), "type": "qemu", "vmid": vm.vmid,
                "node": vm.node, "name": vm.name(), "status": status,
                "template": flag(vm.template()), "maxcpu": vm.cores(),
                "maxmem": vm.maxmem(), "maxdisk": vm.maxdisk(), "disk": 0,
                "cpu": m.map(|m| m.cpu).unwrap_or(0.0), "mem": m.map(|m| m.mem).unwrap_or(0),
                "uptime": m.map(|m| m.uptime).unwrap_or(0),
                "netin": 0, "netout": 0, "diskread": 0, "diskwrite": 0,
            });
            if let Some(p) = &vm.pool {
                item["pool"] = json!(p);
            }
            if let Some(l) = &vm.lock {
                item["lock"] = json!(l);
            }
            if let Some(t) = vm.config.get("tags") {
                item["tags"] = json!(t);
            }
            out.push(item);
        }
    }
    if want("storage") {
        for s in &sim.cfg.storages {
            for node in sim.cfg.storage_nodes(s) {
                let online = sim.is_online(&node);
                let used = storage_used(&c, &s.id, (!s.shared).then_some(node.as_str()));
                out.push(json!({
                    "id": format!("storage/{node}/{}", s.id), "type": "storage",
                    "storage": s.id, "node": node,
                    "status": if online { "available" } else { "unknown" },
                    "shared": flag(s.shared), "content": s.content, "plugintype": s.kind,
                    "disk": used, "maxdisk": s.size,
                }));
            }
        }
    }
    if kind.is_none() {
        let pools: Vec<String> = sim.cluster().pools.keys().cloned().collect();
        for p in pools {
            out.push(json!({"id": format!("pool/{p}"), "type": "pool", "pool": p, "status": "online"}));
        }
    }
    Ok(Value::Array(out))
}

pub(crate) async fn nextid(c: Call) -> Result<Value, ApiError> {
    let cluster = c.sim.cluster();
    if let Some(vmid) = c.params.u32("vmid")? {
        if cluster.vms.contains_key(&vmid) {
            return Err(ApiError::param("vmid", format!("VM {vmid} already exists")));
        }
        return Ok(json!(vmid.to_string()));
    }
    let range = c.sim.cfg.next_id;
    // No reservation: two callers get the same id until one creates the guest.
    (range.lower..range.upper)
        .find(|id| !cluster.vms.contains_key(id))
        .map(|id| json!(id.to_string()))
        .ok_or_else(|| ApiError::internal("unable to get any free VMID in range"))
}

pub(crate) async fn storage(c: Call) -> Result<Value, ApiError> {
    let kind = c.params.string("type");
    let out: Vec<Value> = c
        .sim
        .cfg
        .storages
        .iter()
        .filter(|s| kind.as_deref().is_none_or(|k| k == s.kind))
        .map(|s| {
            let mut v = json!({
                "storage": s.id, "type": s.kind, "shared": flag(s.shared),
                "content": s.content, "digest": "0000000000000000000000000000000000000000",
            });
            if !s.nodes.is_empty() {
                v["nodes"] = json!(s.nodes.join(","));
            }
            v
        })
        .collect();
    Ok(Value::Array(out))
}

pub(crate) async fn node_storage(c: Call) -> Result<Value, ApiError> {
    let node = c.params.node()?;
    let only = c.params.string("storage");
    let mut out = Vec::new();
    for s in &c.sim.cfg.storages {
        if only.as_deref().is_some_and(|o| o != s.id) {
            continue;
        }
        let enabled_here = c.sim.cfg.storage_nodes(s).contains(&node);
        if !enabled_here && c.params.bool("enabled") == Some(true) {
            continue;
        }
        let used = storage_used(&c, &s.id, (!s.shared).then_some(node.as_str()));
        out.push(json!({
            "storage": s.id, "type": s.kind, "content": s.content,
            "shared": flag(s.shared), "active": flag(enabled_here), "enabled": flag(enabled_here),
            "total": s.size, "used": used, "avail": s.size.saturating_sub(used),
            "used_fraction": used as f64 / s.size.max(1) as f64,
        }));
    }
    Ok(Value::Array(out))
}
