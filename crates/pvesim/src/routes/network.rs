//! Node network configuration: every change is staged (`interfaces.new`); `PUT` applies it with
//! an `srvreload` task (one at a time per node: a concurrent reload fails with exit code 89);
//! `DELETE` reverts.

use serde_json::{Value, json};

use super::{Call, Params, flag, split_list};
use crate::config::IfaceConfig;
use crate::error::ApiError;
use crate::tasks::spawn_task;

fn iface_json(i: &IfaceConfig, active: bool) -> Value {
    let mut v = json!({
        "iface": i.iface, "type": i.kind, "active": flag(active), "autostart": flag(i.autostart),
        "families": ["inet"], "method": if i.cidr.is_some() { "static" } else { "manual" },
        "method6": "manual", "priority": 10,
    });
    if i.kind == "bridge" {
        v["bridge_ports"] = json!(i.bridge_ports.clone().unwrap_or_default());
        v["bridge_stp"] = json!("off");
        v["bridge_fd"] = json!("0");
        if i.bridge_vlan_aware {
            v["bridge_vlan_aware"] = json!(1);
            v["bridge_vids"] = json!(i.bridge_vids.clone().unwrap_or_else(|| "2-4094".into()));
        }
    }
    if let Some(c) = &i.cidr {
        v["cidr"] = json!(c);
    }
    if let Some(c) = &i.comments {
        v["comments"] = json!(c);
    }
    if let Some(m) = i.mtu {
        v["mtu"] = json!(m);
    }
    v
}

fn set_fields(iface: &mut IfaceConfig, p: &Params) -> Result<(), ApiError> {
    for key in p.str("delete").map(split_list).unwrap_or_default() {
        match key.as_str() {
            "bridge_ports" => iface.bridge_ports = None,
            "bridge_vids" => iface.bridge_vids = None,
            "bridge_vlan_aware" => iface.bridge_vlan_aware = false,
            "cidr" => iface.cidr = None,
            "comments" => iface.comments = None,
            "mtu" => iface.mtu = None,
            _ => {}
        }
    }
    if let Some(v) = p.string("bridge_ports") {
        iface.bridge_ports = Some(split_list(&v).join(" ")).filter(|s| !s.is_empty());
    }
    if let Some(v) = p.bool("bridge_vlan_aware") {
        iface.bridge_vlan_aware = v;
    }
    if let Some(v) = p.string("bridge_vids") {
        iface.bridge_vids = Some(split_list(&v).join(" "));
    }
    if let Some(v) = p.bool("autostart") {
        iface.autostart = v;
    }
    if let Some(v) = p.string("cidr") {
        iface.cidr = Some(v);
    }
    if let Some(v) = p.string("comments") {
        iface.comments = Some(v);
    }
    if let Some(v) = p.u32("mtu")? {
        iface.mtu = Some(v);
    }
    if iface.bridge_vids.is_some() && !iface.bridge_vlan_aware && iface.kind == "bridge" {
        return Err(ApiError::param("bridge_vids", "bridge_vids requires bridge_vlan_aware"));
    }
    Ok(())
}

pub(crate) async fn list(c: Call) -> Result<Value, ApiError> {
    let node = c.params.node()?;
    let kind = c.params.string("type");
    let cluster = c.sim.cluster();
    let Some(net) = cluster.network.get(&node) else {
        return Ok(json!([]));
    };
    let out: Vec<Value> = net
        .current()
        .values()
        .filter(|i| match kind.as_deref() {
            None => true,
            Some("any_bridge") | Some("any_local_bridge") => i.kind == "bridge" || i.kind == "OVSBridge",
            Some(k) => i.kind == k,
        })
        .map(|i| {
            let active = net.applied.get(&i.iface).is_some_and(|a| a.active);
            iface_json(i, active)
        })
        .collect();
    Ok(Value::Array(out))
}

fn no_iface() -> ApiError {
    ApiError::param("iface", "interface does not exist")
}

pub(crate) async fn get(c: Call) -> Result<Value, ApiError> {
    let node = c.params.node()?;
    let name = c.params.req("iface")?;
    let cluster = c.sim.cluster();
    let net = cluster.network.get(&node).ok_or_else(no_iface)?;
    let iface = net.current().get(name).ok_or_else(no_iface)?;
    let active = net.applied.get(name).is_some_and(|a| a.active);
    Ok(iface_json(iface, active))
}

pub(crate) async fn create(c: Call) -> Result<Value, ApiError> {
    let node = c.params.node()?;
    let name = c.params.req("iface")?.to_string();
    let kind = c.params.req("type")?.to_string();
    let mut cluster = c.sim.cluster();
    let net = cluster.network.entry(node).or_default();
    if net.current().contains_key(&name) {
        return Err(ApiError::param("iface", "interface already exists"));
    }
    let mut iface = IfaceConfig {
        iface: name.clone(),
        kind,
        bridge_ports: None,
        bridge_vlan_aware: false,
        bridge_vids: None,
        active: false,
        autostart: false,
        cidr: None,
        comments: None,
        mtu: None,
    };
    set_fields(&mut iface, &c.params)?;
    if iface.bridge_vlan_aware && iface.bridge_vids.is_none() {
        iface.bridge_vids = Some("2-4094".into());
    }
    net.staged_mut().insert(name, iface);
    Ok(Value::Null)
}

pub(crate) async fn update(c: Call) -> Result<Value, ApiError> {
    let node = c.params.node()?;
    let name = c.params.req("iface")?.to_string();
    let mut cluster = c.sim.cluster();
    let net = cluster.network.get_mut(&node).ok_or_else(no_iface)?;
    if !net.current().contains_key(&name) {
        return Err(no_iface());
    }
    let staged = net.staged_mut();
    let Some(iface) = staged.get_mut(&name) else {
        return Err(no_iface());
    };
    let mut changed = iface.clone();
    if let Some(k) = c.params.string("type") {
        changed.kind = k;
    }
    set_fields(&mut changed, &c.params)?;
    *iface = changed;
    Ok(Value::Null)
}

pub(crate) async fn delete(c: Call) -> Result<Value, ApiError> {
    let node = c.params.node()?;
    let name = c.params.req("iface")?.to_string();
    let mut cluster = c.sim.cluster();
    let net = cluster.network.get_mut(&node).ok_or_else(no_iface)?;
    if !net.current().contains_key(&name) {
        return Err(no_iface());
    }
    net.staged_mut().remove(&name);
    Ok(Value::Null)
}

pub(crate) async fn apply(c: Call) -> Result<Value, ApiError> {
    let node = c.params.node()?;
    let user = c.caller()?.task_user();
    let sim = c.sim.clone();
    let dur = sim.timing().jittered(sim.timing().network_apply_ms);
    let n = node.clone();
    let upid = spawn_task(&c.sim, &node, "srvreload", "networking", &user, move |ctx| async move {
        {
            let mut cluster = sim.cluster();
            let net = cluster.network.entry(n.clone()).or_default();
            if net.applying {
                drop(cluster);
                ctx.log("ifreload: another reload is running");
                return Err("ifreload failed: exit code 89".to_string());
            }
            net.applying = true;
        }
        ctx.log("ifreload -a");
        sim.work(&n, dur).await;
        let mut cluster = sim.cluster();
        let net = cluster.network.entry(n).or_default();
        if let Some(staged) = net.staged.take() {
            net.applied = staged.into_iter().map(|(k, i)| (k, IfaceConfig { active: true, ..i })).collect();
        }
        net.applying = false;
        Ok(())
    });
    Ok(json!(upid))
}

pub(crate) async fn revert(c: Call) -> Result<Value, ApiError> {
    let node = c.params.node()?;
    if let Some(net) = c.sim.cluster().network.get_mut(&node) {
        net.staged = None;
    }
    Ok(Value::Null)
}
