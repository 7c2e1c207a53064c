//! From a blueprint and a user list to a plan: for every user's VM the
//! node, the template copy, the clone mode and a proposed VMID, with the
//! placement scores behind each choice, plus the network changes each node
//! needs and any warnings. Reads the cluster once ([`ClusterView`]); the
//! planning itself is pure, so the same inputs give the same plan.

use crate::api::{Iface, Resource};
use crate::blueprint::{Blueprint, VmSpec};
use crate::client::{PveClient, PveError};
use crate::model::{CloneMode, NetAlias, NodeName, PveUserId, Strategy};
use crate::placement::{self, Context, Decision, Demand, NodeLoad, NodeScore, Reservations};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use utoipa::ToSchema;

const MIB: u64 = 1 << 20;

/// A template (or plain VM used as a source) as found on the cluster.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct TemplateInfo {
    /// VMID.
    pub vmid: u32,
    /// Name.
    pub name: String,
    /// The node that owns it.
    pub node: String,
    /// Marked as a template (linked clones need this).
    pub template: bool,
    /// Lock, if any (`backup`, `clone`…).
    pub lock: Option<String>,
    /// Storages its disks live on.
    pub storages: Vec<String>,
    /// Whether every one of those storages is shared.
    pub shared: bool,
    /// Cores.
    pub cores: u16,
    /// Memory, MiB.
    pub memory_mib: u32,
}

/// What Gantry reads from a cluster before planning.
#[derive(Debug, Clone, Default)]
pub struct ClusterView {
    /// Nodes with their load.
    pub nodes: Vec<NodeLoad>,
    /// node → storages available there (id → shared).
    pub storages: BTreeMap<String, BTreeMap<String, bool>>,
    /// Templates and their copies.
    pub templates: Vec<TemplateInfo>,
    /// VMIDs in use.
    pub used_vmids: BTreeSet<u32>,
    /// node → interfaces (only for online nodes).
    pub networks: BTreeMap<String, Vec<Iface>>,
}

impl ClusterView {
    /// Reads nodes, guests, storages, templates (with their disks) and the networks of online nodes.
    pub async fn load(c: &PveClient, with_networks: bool) -> Result<ClusterView, PveError> {
        let res = c.resources(None).await?;
        Self::from_resources(c, res, with_networks).await
    }

    async fn from_resources(c: &PveClient, res: Vec<Resource>, with_networks: bool) -> Result<ClusterView, PveError> {
        let mut v = ClusterView::default();
        // Stopped VMs Gantry deployed count with their full size: a student starts them later.
        let mut committed: BTreeMap<String, (u64, f64)> = BTreeMap::new();
        for r in &res {
            if r.kind == "qemu" || r.kind == "lxc" {
                if let Some(id) = r.vmid {
                    v.used_vmids.insert(id as u32);
                }
                if !r.template && r.status == "stopped" && r.tag_list().iter().any(|t| t == "gantry") {
                    let e = committed.entry(r.node.clone()).or_default();
                    e.0 += r.maxmem;
                    e.1 += r.maxcpu;
                }
            }
            if r.kind == "storage" && (r.status.is_empty() || r.status == "available") {
                v.storages.entry(r.node.clone()).or_default().insert(r.storage.clone(), r.shared);
            }
        }
        for r in res.iter().filter(|r| r.kind == "node") {
            let (cm, cc) = committed.get(&r.node).copied().unwrap_or((0, 0.0));
            v.nodes.push(NodeLoad {
                name: r.node.clone(),
                online: r.status == "online",
                maxcpu: r.maxcpu,
                cpu_used: r.cpu * r.maxcpu + cc,
                maxmem: r.maxmem,
                mem_used: r.mem + cm,
            });
        }
        v.nodes.sort_by(|a, b| a.name.cmp(&b.name));
        let online: BTreeSet<String> = v.nodes.iter().filter(|n| n.online).map(|n| n.name.clone()).collect();
        for r in res.iter().filter(|r| r.kind == "qemu" && r.template) {
            let Some(vmid) = r.vmid else { continue };
            let mut t = TemplateInfo {
                vmid: vmid as u32,
                name: r.name.clone(),
                node: r.node.clone(),
                template: true,
                lock: (!r.lock.is_empty()).then(|| r.lock.clone()),
                storages: vec![],
                shared: false,
                cores: (r.maxcpu as u16).max(1),
                memory_mib: (r.maxmem / MIB) as u32,
            };
            if online.contains(&r.node) {
                let cfg = c.vm_config(&r.node, t.vmid).await?;
                t.storages = disk_storages(&cfg);
                if let Some(n) = cfg.get("cores").and_then(|x| x.as_u64().or_else(|| x.as_str().and_then(|s| s.parse().ok()))) {
                    t.cores = n as u16;
                }
                if let Some(n) = cfg.get("memory").and_then(|x| x.as_u64().or_else(|| x.as_str().and_then(|s| s.parse().ok()))) {
                    t.memory_mib = n as u32;
                }
                if let Some(l) = cfg.get("lock").and_then(|x| x.as_str()) {
                    t.lock = Some(l.to_string());
                }
            }
            let on_node = v.storages.get(&t.node);
            t.shared = !t.storages.is_empty() && t.storages.iter().all(|s| on_node.and_then(|m| m.get(s)).copied().unwrap_or(false));
            v.templates.push(t);
        }
        v.templates.sort_by_key(|t| t.vmid);
        if with_networks {
            for n in &online {
                if let Ok(node) = n.parse::<NodeName>() {
                    v.networks.insert(n.clone(), c.network(&node).await?);
                }
            }
        }
        Ok(v)
    }

    /// The copies a blueprint's `template` refers to (by VMID or by name).
    pub fn resolve(&self, spec: &str) -> Vec<&TemplateInfo> {
        let spec = spec.trim();
        match spec.parse::<u32>() {
            Ok(id) => self.templates.iter().filter(|t| t.vmid == id).collect(),
            Err(_) => self.templates.iter().filter(|t| t.name == spec).collect(),
        }
    }
}

/// Storage ids of a VM config's disks (not CD-ROMs, not `none`).
pub fn disk_storages(cfg: &BTreeMap<String, serde_json::Value>) -> Vec<String> {
    let mut out = BTreeSet::new();
    for (k, v) in cfg {
        let is_disk = ["scsi", "virtio", "sata", "ide", "efidisk", "tpmstate"]
            .iter()
            .any(|p| k.strip_prefix(p).is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit())));
        let Some(s) = v.as_str() else { continue };
        if !is_disk || s.contains("media=cdrom") || s.starts_with("none") {
            continue;
        }
        if let Some((storage, _)) = s.split(',').next().unwrap_or("").split_once(':') {
            out.insert(storage.to_string());
        }
    }
    out.into_iter().collect()
}

/// One VM in the plan.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct PlannedVm {
    /// The blueprint's VM key.
    pub key: String,
    /// The VM name.
    pub name: String,
    /// Chosen node.
    pub node: String,
    /// Template copy used.
    pub template_vmid: u32,
    /// Node the template copy lives on (the clone call goes there).
    pub template_node: String,
    /// Linked or full.
    pub clone_mode: CloneMode,
    /// Full-clone target storage.
    pub storage: Option<String>,
    /// Proposed VMID (reserved in the ledger when the deployment starts).
    pub vmid: u32,
    /// Memory, MiB.
    pub memory_mib: u32,
    /// Cores.
    pub cores: u16,
    /// Notes (fallbacks taken).
    pub notes: Vec<String>,
    /// Every node's score for this VM.
    pub scores: Vec<NodeScore>,
}

/// One user's part of the plan.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct PlannedStand {
    /// The user.
    pub user: String,
    /// Their pool.
    pub pool: String,
    /// Their VMs.
    pub vms: Vec<PlannedVm>,
}

/// Network changes one node needs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct NodeNetwork {
    /// Node.
    pub node: String,
    /// Bridges to create (VLAN-aware).
    pub create: Vec<String>,
    /// Existing bridges to make VLAN-aware.
    pub make_vlan_aware: Vec<String>,
}

/// A whole plan.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[schema(as = PvePlan)]
pub struct Plan {
    /// Strategy used.
    pub strategy: Strategy,
    /// Per user.
    pub stands: Vec<PlannedStand>,
    /// Network changes per node.
    pub network: Vec<NodeNetwork>,
    /// Things to know before deploying.
    pub warnings: Vec<String>,
    /// Why (parts of) the plan cannot be carried out; deploying is refused while non-empty.
    pub errors: Vec<String>,
    /// VMs per node.
    pub per_node: BTreeMap<String, u32>,
}

/// Inputs that come from Gantry rather than the cluster.
pub struct PlanInput<'a> {
    /// The blueprint.
    pub blueprint: &'a Blueprint,
    /// Users in order.
    pub users: &'a [PveUserId],
    /// Deployment id used in pool names (0 for a preview).
    pub deployment_id: i64,
    /// Load placed by deployments still in flight.
    pub reservations: Reservations,
    /// VMIDs Gantry's ledger holds on this cluster.
    pub ledger: BTreeSet<u32>,
    /// Range to allocate from.
    pub range: crate::model::VmidRange,
}

/// A usable template copy for a node, the clone mode and notes; or why not.
type Candidate = Result<(TemplateInfo, CloneMode, Vec<String>), String>;

/// Where one VM spec can be cloned: per node, the template copy, clone mode, storage and notes; or why not.
fn candidates(view: &ClusterView, vm: &VmSpec) -> Result<BTreeMap<String, Candidate>, String> {
    let copies = view.resolve(&vm.template);
    if copies.is_empty() {
        return Err(format!("template '{}' does not exist on the cluster", vm.template));
    }
    let mut out = BTreeMap::new();
    for n in &view.nodes {
        let mut best: Option<Candidate> = None;
        for t in &copies {
            let r = (|| {
                let mut notes = Vec::new();
                if let Some(l) = &t.lock {
                    return Err(format!("template {} is locked ({l})", t.vmid));
                }
                let mut mode = vm.clone;
                if mode == CloneMode::Linked && !t.template {
                    mode = CloneMode::Full;
                    notes.push(format!("VM {} is not a template: full clone instead of linked", t.vmid));
                }
                if t.node != n.name {
                    if !t.shared {
                        return Err(format!(
                            "template {} on {} uses local storage ({}), so it can only be cloned on {}",
                            t.vmid,
                            t.node,
                            t.storages.join(", "),
                            t.node
                        ));
                    }
                    let here = view.storages.get(&n.name);
                    if let Some(missing) = t.storages.iter().find(|s| here.is_none_or(|m| !m.contains_key(*s))) {
                        return Err(format!("storage '{missing}' of template {} is not available on {}", t.vmid, n.name));
                    }
                }
                if let Some(s) = &vm.storage
                    && view.storages.get(&n.name).is_none_or(|m| !m.contains_key(s))
                {
                    return Err(format!("target storage '{s}' is not available on {}", n.name));
                }
                Ok(((*t).clone(), mode, notes))
            })();
            // Prefer a copy on the node itself (no cross-node clone), then any that works.
            let better = match (&best, &r) {
                (None, _) => true,
                (Some(Err(_)), Ok(_)) => true,
                (Some(Ok((bt, _, _))), Ok((t2, _, _))) => bt.node != n.name && t2.node == n.name,
                _ => false,
            };
            if better {
                best = Some(r);
            }
        }
        if let Some(b) = best {
            out.insert(n.name.clone(), b);
        }
    }
    Ok(out)
}

/// Builds the plan.
pub fn make(view: &ClusterView, input: PlanInput<'_>) -> Plan {
    let bp = input.blueprint;
    let mut plan =
        Plan { strategy: bp.strategy, stands: vec![], network: vec![], warnings: vec![], errors: vec![], per_node: BTreeMap::new() };
    let mut res = input.reservations.clone();
    let mut taken: BTreeSet<u32> = view.used_vmids.union(&input.ledger).copied().collect();
    let mut next = input.range.first;
    let mut cand = Vec::new();
    for (i, vm) in bp.vms.iter().enumerate() {
        match candidates(view, vm) {
            Ok(c) => cand.push(c),
            Err(e) => {
                plan.errors.push(format!("vms[{i}] ({}): {e}", vm.key));
                cand.push(BTreeMap::new());
            }
        }
    }
    if !plan.errors.is_empty() {
        return plan;
    }
    let stand_demand = bp.vms.iter().zip(&cand).fold(Demand { mem: 0, cores: 0.0 }, |acc, (vm, c)| {
        let t = c.values().find_map(|r| r.as_ref().ok().map(|x| x.0.clone()));
        let d = demand(vm, t.as_ref());
        Demand { mem: acc.mem + d.mem, cores: acc.cores + d.cores }
    });
    for (pos, user) in input.users.iter().enumerate() {
        let pool = bp.pool_for(input.deployment_id, user).map(|p| p.to_string()).unwrap_or_default();
        let mut stand = PlannedStand { user: user.to_string(), pool, vms: vec![] };
        let mut user_nodes: BTreeMap<String, u32> = BTreeMap::new();
        let mut pinned: Option<String> = None;
        if bp.strategy == Strategy::SameNode {
            // Choose the node for the whole stand at once: it must take every VM.
            let mut excluded = BTreeMap::new();
            for c in &cand {
                for n in &view.nodes {
                    match c.get(&n.name) {
                        Some(Ok(_)) => {}
                        Some(Err(e)) => {
                            excluded.entry(n.name.clone()).or_insert_with(|| e.clone());
                        }
                        None => {
                            excluded.entry(n.name.clone()).or_insert_with(|| "no usable template copy".into());
                        }
                    }
                }
            }
            let ctx = Context { excluded, ..Default::default() };
            match placement::choose(&view.nodes, &res, stand_demand, Strategy::Balanced, &ctx) {
                Ok(d) => pinned = Some(d.node),
                Err(scores) => {
                    plan.errors.push(format!("{user}: no node can hold the whole stand: {}", reasons(&scores)));
                    continue;
                }
            }
        }
        for (vm, c) in bp.vms.iter().zip(&cand) {
            let excluded: BTreeMap<String, String> = view
                .nodes
                .iter()
                .filter_map(|n| match c.get(&n.name) {
                    Some(Ok(_)) => None,
                    Some(Err(e)) => Some((n.name.clone(), e.clone())),
                    None => Some((n.name.clone(), "no usable template copy".into())),
                })
                .collect();
            let any = c.values().find_map(|r| r.as_ref().ok().map(|x| x.0.clone()));
            let d = demand(vm, any.as_ref());
            let ctx = Context { excluded, user_nodes: Some(&user_nodes), pinned: pinned.as_deref() };
            let dec: Decision = match placement::choose(&view.nodes, &res, d, bp.strategy, &ctx) {
                Ok(d) => d,
                Err(scores) => {
                    plan.errors.push(format!("{user} / {}: no node can take the VM: {}", vm.key, reasons(&scores)));
                    continue;
                }
            };
            let Some(Ok((t, mode, notes))) = c.get(&dec.node).cloned() else { continue };
            res.add(&dec.node, d);
            *user_nodes.entry(dec.node.clone()).or_insert(0) += 1;
            *plan.per_node.entry(dec.node.clone()).or_insert(0) += 1;
            while taken.contains(&next) {
                next += 1;
            }
            if next > input.range.last {
                plan.errors.push(format!("the VMID range {}-{} is exhausted", input.range.first, input.range.last));
                return plan;
            }
            let vmid = next;
            taken.insert(vmid);
            let name = match vm.name.render(user, pos + 1, &vm.key) {
                Ok(n) => n.to_string(),
                Err(e) => {
                    plan.errors.push(format!("{user} / {}: {e}", vm.key));
                    continue;
                }
            };
            stand.vms.push(PlannedVm {
                key: vm.key.clone(),
                name,
                node: dec.node.clone(),
                template_vmid: t.vmid,
                template_node: t.node.clone(),
                clone_mode: mode,
                storage: if mode == CloneMode::Full { vm.storage.clone() } else { None },
                vmid,
                memory_mib: vm.memory_mib.unwrap_or(t.memory_mib),
                cores: vm.cores.unwrap_or(t.cores),
                notes,
                scores: dec.scores,
            });
        }
        plan.stands.push(stand);
    }
    network_changes(view, bp, &mut plan);
    plan
}

fn demand(vm: &VmSpec, t: Option<&TemplateInfo>) -> Demand {
    let mem = vm.memory_mib.or(t.map(|t| t.memory_mib)).unwrap_or(512) as u64 * MIB;
    let cores = vm.cores.or(t.map(|t| t.cores)).unwrap_or(1) as f64;
    Demand { mem, cores }
}

fn reasons(scores: &[NodeScore]) -> String {
    scores.iter().map(|s| format!("{}: {}", s.node, s.excluded.clone().unwrap_or_else(|| "ok".into()))).collect::<Vec<_>>().join("; ")
}

/// Which bridges each used node lacks or must make VLAN-aware, and the node-local warnings.
fn network_changes(view: &ClusterView, bp: &Blueprint, plan: &mut Plan) {
    let by_key: BTreeMap<&str, &Vec<NetAlias>> = bp.vms.iter().map(|v| (v.key.as_str(), &v.networks)).collect();
    let mut need: BTreeMap<String, BTreeMap<String, bool>> = BTreeMap::new();
    let mut local_warned = BTreeSet::new();
    for s in &plan.stands {
        let nodes: BTreeSet<&str> = s.vms.iter().map(|v| v.node.as_str()).collect();
        for v in &s.vms {
            for a in by_key.get(v.key.as_str()).copied().into_iter().flatten() {
                let e = need.entry(v.node.clone()).or_default().entry(a.bridge.to_string()).or_insert(false);
                *e |= a.vlan.is_some();
                if nodes.len() > 1 {
                    let ports = view
                        .networks
                        .get(&v.node)
                        .and_then(|l| l.iter().find(|i| i.iface == a.bridge.as_str()))
                        .map(|i| i.bridge_ports.trim().to_string());
                    if ports.as_deref().is_none_or(str::is_empty) && local_warned.insert((v.node.clone(), a.bridge.to_string())) {
                        plan.warnings.push(format!(
                            "bridge '{}' on {} has no physical port: it is local to the node, but stands span several nodes, so their VMs on '{}' cannot reach each other across nodes",
                            a.bridge, v.node, a.bridge
                        ));
                    }
                }
            }
        }
    }
    for (node, bridges) in need {
        let ifaces = view.networks.get(&node).cloned().unwrap_or_default();
        let mut nn = NodeNetwork { node: node.clone(), create: vec![], make_vlan_aware: vec![] };
        for (b, vlan) in bridges {
            match ifaces.iter().find(|i| i.iface == b) {
                None => nn.create.push(b),
                Some(i) if i.kind != "bridge" && i.kind != "OVSBridge" => {
                    plan.errors.push(format!("'{b}' on {node} is a {} interface, not a bridge", i.kind));
                }
                Some(i) if vlan && !i.bridge_vlan_aware => nn.make_vlan_aware.push(b),
                Some(_) => {}
            }
        }
        if !nn.create.is_empty() || !nn.make_vlan_aware.is_empty() {
            plan.network.push(nn);
        }
    }
}
