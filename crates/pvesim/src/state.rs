//! The simulated cluster state (guests, pools, users, ACLs, network, tasks) and its canonical
//! snapshot.
//!
//! Everything mutable lives in one `Cluster` behind a std `Mutex` that is only ever held for
//! short, non-async sections; long operations run as tasks that re-lock when they change state.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{IfaceConfig, SimConfig, Timing};
use crate::error::ApiError;
use crate::faults::Faults;
use crate::locks::Locks;

/// Config keys left out of snapshots because they change on every write or clone.
pub const VOLATILE_KEYS: &[&str] = &["digest", "vmgenid", "meta", "smbios1"];

/// Run state of a guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    /// Powered on.
    Running,
    /// Powered off.
    Stopped,
}

impl RunState {
    /// Proxmox's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Running => "running",
            RunState::Stopped => "stopped",
        }
    }
}

/// A guest (VM or template).
#[derive(Debug, Clone)]
pub(crate) struct Vm {
    pub vmid: u32,
    pub node: String,
    pub config: BTreeMap<String, String>,
    pub status: RunState,
    pub started: Option<Instant>,
    pub lock: Option<String>,
    pub pool: Option<String>,
}

impl Vm {
    pub fn template(&self) -> bool {
        self.config.get("template").is_some_and(|v| v == "1")
    }
    pub fn name(&self) -> String {
        self.config.get("name").cloned().unwrap_or_else(|| format!("VM {}", self.vmid))
    }
    pub fn cores(&self) -> u64 {
        let c = self.cfg_u64("cores").unwrap_or(1);
        c * self.cfg_u64("sockets").unwrap_or(1)
    }
    /// Memory in bytes (config `memory` is MiB, possibly `current=N`).
    pub fn maxmem(&self) -> u64 {
        let mib = self
            .config
            .get("memory")
            .and_then(|m| m.split(',').map(|p| p.strip_prefix("current=").unwrap_or(p)).next().and_then(|v| v.parse::<u64>().ok()))
            .unwrap_or(512);
        mib * 1024 * 1024
    }
    fn cfg_u64(&self, key: &str) -> Option<u64> {
        self.config.get(key).and_then(|v| v.parse().ok())
    }
    /// Disk keys with their volume ids.
    pub fn disks(&self) -> Vec<(String, String)> {
        self.config
            .iter()
            .filter(|(k, _)| is_disk_key(k))
            .filter(|(_, v)| !v.contains("media=cdrom"))
            .map(|(k, v)| (k.clone(), v.split(',').next().unwrap_or_default().to_string()))
            .collect()
    }
    /// Total disk size in bytes.
    pub fn maxdisk(&self) -> u64 {
        self.config
            .iter()
            .filter(|(k, _)| is_disk_key(k))
            .filter_map(|(_, v)| v.split(',').find_map(|p| p.strip_prefix("size=")))
            .map(parse_size)
            .sum()
    }
    pub fn uptime(&self) -> u64 {
        self.started.map(|s| s.elapsed().as_secs()).unwrap_or(0)
    }
}

/// `scsi0`, `virtio1`, `sata2`, `ide0`, `efidisk0`, `tpmstate0`.
pub(crate) fn is_disk_key(k: &str) -> bool {
    let base = k.trim_end_matches(|c: char| c.is_ascii_digit());
    base.len() < k.len() && matches!(base, "scsi" | "virtio" | "sata" | "ide" | "efidisk" | "tpmstate")
}

/// `10G`, `512M`, `1T` to bytes.
pub(crate) fn parse_size(s: &str) -> u64 {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num.parse().unwrap_or(0);
    n * match unit {
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        "T" => 1 << 40,
        _ => 1,
    }
}

/// A user account.
#[derive(Debug, Clone)]
pub(crate) struct User {
    pub password: Option<String>,
    pub enable: bool,
    pub expire: u64,
    pub email: Option<String>,
    pub comment: Option<String>,
    pub firstname: Option<String>,
    pub lastname: Option<String>,
    pub privileges: BTreeSet<String>,
    pub tokens: BTreeMap<String, Token>,
}

/// An API token of a user.
#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub secret: String,
    pub privsep: bool,
    pub comment: Option<String>,
    pub expire: u64,
}

/// One ACL entry (Proxmox stores `path, type, ugid, role` plus propagate).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AclEntry {
    /// ACL path.
    pub path: String,
    /// `user`, `group` or `token`.
    #[serde(rename = "type")]
    pub kind: String,
    /// User, group or token id.
    pub ugid: String,
    /// Role id.
    pub roleid: String,
    /// Applies to sub-paths.
    pub propagate: bool,
}

/// A pool (members are the guests whose `pool` names it).
#[derive(Debug, Clone, Default)]
pub(crate) struct Pool {
    pub comment: Option<String>,
    pub storage: BTreeSet<String>,
}

/// A node's network configuration: applied interfaces and the staged `interfaces.new`.
#[derive(Debug, Clone, Default)]
pub(crate) struct NodeNetwork {
    pub applied: BTreeMap<String, IfaceConfig>,
    pub staged: Option<BTreeMap<String, IfaceConfig>>,
    pub applying: bool,
}

impl NodeNetwork {
    /// The view GET returns: staged if anything is staged.
    pub fn current(&self) -> &BTreeMap<String, IfaceConfig> {
        self.staged.as_ref().unwrap_or(&self.applied)
    }
    /// The staged copy, created from the applied one on first change.
    pub fn staged_mut(&mut self) -> &mut BTreeMap<String, IfaceConfig> {
        let applied = &self.applied;
        self.staged.get_or_insert_with(|| applied.clone())
    }
}

/// A task (worker) record; kept after it stops.
#[derive(Debug, Clone)]
pub(crate) struct Task {
    pub upid: String,
    pub node: String,
    pub kind: String,
    pub id: String,
    pub user: String,
    pub pid: u32,
    pub pstart: u32,
    pub starttime: i64,
    pub endtime: Option<i64>,
    pub exitstatus: Option<String>,
    pub log: Vec<String>,
}

/// Node run state.
#[derive(Debug, Clone)]
pub(crate) struct NodeState {
    pub online: bool,
    pub booted: Instant,
}

/// All mutable cluster state.
#[derive(Debug, Default)]
pub(crate) struct Cluster {
    pub nodes: BTreeMap<String, NodeState>,
    pub vms: BTreeMap<u32, Vm>,
    pub pools: BTreeMap<String, Pool>,
    pub users: BTreeMap<String, User>,
    pub acls: BTreeMap<(String, String, String, String), bool>,
    pub network: BTreeMap<String, NodeNetwork>,
    pub tasks: BTreeMap<String, Task>,
    pub tickets: BTreeMap<String, (String, Instant)>,
    pub slowdown: f64,
}

/// Metrics as pvestatd last saw them.
#[derive(Debug, Clone, Default)]
pub(crate) struct Metrics {
    pub nodes: BTreeMap<String, NodeMetrics>,
    pub vms: BTreeMap<u32, VmMetrics>,
}

/// A node's lagged metrics.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct NodeMetrics {
    pub cpu: f64,
    pub mem: u64,
    pub uptime: u64,
}

/// A guest's lagged metrics.
#[derive(Debug, Clone, Copy)]
pub(crate) struct VmMetrics {
    pub status: RunState,
    pub cpu: f64,
    pub mem: u64,
    pub uptime: u64,
}

/// One API request as the simulator saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// HTTP method.
    pub method: String,
    /// Path below `/api2/json` with real ids.
    pub path: String,
    /// Schema path template, when the path resolved.
    pub template: Option<String>,
    /// Parameters (query and body) with `password` masked.
    pub params: BTreeMap<String, String>,
    /// Answer status.
    pub status: u16,
    /// `ticket`, `token` or `none`.
    pub auth: String,
    /// Schema validation errors (empty when the request was valid).
    pub schema_errors: BTreeMap<String, String>,
    /// Error message when the answer was not 200.
    pub message: Option<String>,
    /// Node whose listener received the request.
    pub listener: String,
    /// When the request arrived (RFC 3339).
    pub time: String,
}

/// Counters since start.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SimStats {
    /// API requests answered.
    pub requests: u64,
    /// Requests per `METHOD /template`.
    pub by_route: BTreeMap<String, u64>,
    /// Answers per status code.
    pub by_status: BTreeMap<u16, u64>,
    /// Requests rejected by schema validation.
    pub schema_violations: u64,
    /// Lock timeouts (VM config and storage).
    pub lock_timeouts: u64,
    /// Clone tasks that failed.
    pub clone_failures: u64,
    /// Tasks started.
    pub tasks: u64,
}

/// A guest in a snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VmSnapshot {
    /// VM id.
    pub vmid: u32,
    /// Owning node.
    pub node: String,
    /// Name.
    pub name: String,
    /// Template flag.
    pub template: bool,
    /// `running` or `stopped`.
    pub status: RunState,
    /// Tags.
    pub tags: Option<String>,
    /// Pool.
    pub pool: Option<String>,
    /// Config lock (`clone`, ...).
    pub lock: Option<String>,
    /// Config without volatile keys.
    pub config: BTreeMap<String, String>,
}

/// A pool in a snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoolSnapshot {
    /// Pool id.
    pub poolid: String,
    /// Comment.
    pub comment: Option<String>,
    /// Member VM ids.
    pub vms: Vec<u32>,
    /// Member storages.
    pub storage: Vec<String>,
}

/// A user in a snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserSnapshot {
    /// `name@realm`.
    pub userid: String,
    /// Enabled.
    pub enable: bool,
    /// E-mail.
    pub email: Option<String>,
    /// Comment.
    pub comment: Option<String>,
    /// Token ids.
    pub tokens: Vec<String>,
}

/// One staged network change on a node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "lowercase")]
pub enum NetworkChange {
    /// A new interface.
    Add {
        /// The staged interface.
        iface: IfaceConfig,
    },
    /// A changed interface.
    Modify {
        /// The staged interface.
        iface: IfaceConfig,
    },
    /// A removed interface.
    Delete {
        /// Its name.
        iface: String,
    },
}

/// Canonical, comparable view of the simulated cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateSnapshot {
    /// Node name → online.
    pub nodes: BTreeMap<String, bool>,
    /// Guests by VM id.
    pub vms: Vec<VmSnapshot>,
    /// Pools by id.
    pub pools: Vec<PoolSnapshot>,
    /// Users by id.
    pub users: Vec<UserSnapshot>,
    /// ACL entries, sorted.
    pub acls: Vec<AclEntry>,
    /// Applied interfaces per node.
    pub network: BTreeMap<String, Vec<IfaceConfig>>,
    /// Staged changes per node (only nodes with changes).
    pub staged_network: BTreeMap<String, Vec<NetworkChange>>,
    /// Locks held right now.
    pub held_locks: Vec<String>,
    /// Tasks still running.
    pub running_tasks: usize,
}

/// Certificate facts every listener shares.
#[derive(Debug, Clone)]
pub(crate) struct CertInfo {
    pub pem: String,
    pub fingerprint: String,
}

/// The simulator shared by every listener and task.
#[derive(Debug)]
pub(crate) struct Sim {
    pub cfg: SimConfig,
    pub cluster: Mutex<Cluster>,
    pub locks: Locks,
    pub faults: Mutex<Faults>,
    pub requests: Mutex<Vec<RequestRecord>>,
    pub stats: Mutex<SimStats>,
    pub metrics: Mutex<Metrics>,
    pub online: BTreeMap<String, watch::Sender<bool>>,
    pub cert: CertInfo,
    pub secret: String,
    pub shutdown: CancellationToken,
    pub tracker: TaskTracker,
    pub pid: AtomicU32,
}

impl Sim {
    pub fn timing(&self) -> &Timing {
        &self.cfg.timing
    }

    /// Locks the cluster state; a poisoned lock is recovered because the data stays consistent
    /// (every mutation is a short, panic-free section).
    pub fn cluster(&self) -> MutexGuard<'_, Cluster> {
        self.cluster.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn stats(&self) -> MutexGuard<'_, SimStats> {
        self.stats.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn faults(&self) -> MutexGuard<'_, Faults> {
        self.faults.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn next_pid(&self) -> u32 {
        self.pid.fetch_add(1 + (crate::random::u64() % 7) as u32, Ordering::Relaxed)
    }

    pub fn node_exists(&self, node: &str) -> bool {
        self.cfg.nodes.iter().any(|n| n.name == node)
    }

    pub fn is_online(&self, node: &str) -> bool {
        self.online.get(node).is_some_and(|tx| *tx.borrow())
    }

    /// Marks a node online or offline; listeners and tasks follow the watch channel.
    pub fn set_online(&self, node: &str, online: bool) {
        if let Some(tx) = self.online.get(node) {
            tx.send_replace(online);
        }
        if let Some(n) = self.cluster().nodes.get_mut(node) {
            if online && !n.online {
                n.booted = Instant::now();
            }
            n.online = online;
        }
        tracing::info!(node, online, "node state changed");
    }

    /// Waits until `node` is online (returns at once if it is).
    pub async fn wait_online(&self, node: &str) {
        let Some(tx) = self.online.get(node) else {
            return;
        };
        let mut rx = tx.subscribe();
        let _ = rx.wait_for(|online| *online).await;
    }

    /// Simulates `dur` of work on `node`: stretched by the slowdown factor and frozen while the
    /// node is offline.
    pub async fn work(&self, node: &str, dur: Duration) {
        let slowdown = {
            let s = self.cluster().slowdown;
            if s.is_finite() && s > 0.0 { s } else { 1.0 }
        };
        let mut remaining = dur.mul_f64(slowdown);
        let slice = Duration::from_millis(25);
        while !remaining.is_zero() {
            self.wait_online(node).await;
            let step = remaining.min(slice);
            tokio::select! {
                () = tokio::time::sleep(step) => {}
                () = self.shutdown.cancelled() => return,
            }
            remaining = remaining.saturating_sub(step);
        }
    }

    /// Error unless `vmid` exists on `node` (Proxmox reads `nodes/<node>/qemu-server/N.conf`).
    pub fn vm_on(&self, cluster: &Cluster, node: &str, vmid: u32) -> Result<Vm, ApiError> {
        match cluster.vms.get(&vmid) {
            Some(vm) if vm.node == node => Ok(vm.clone()),
            _ => Err(ApiError::internal(format!("Configuration file 'nodes/{node}/qemu-server/{vmid}.conf' does not exist"))),
        }
    }

    /// Refreshes the lagged metrics (one pvestatd loop).
    pub fn refresh_metrics(&self) {
        let cluster = self.cluster();
        let mut metrics = Metrics::default();
        for node in &self.cfg.nodes {
            let online = cluster.nodes.get(&node.name).is_some_and(|n| n.online);
            let running: Vec<&Vm> = cluster.vms.values().filter(|v| v.node == node.name && v.status == RunState::Running).collect();
            let mem = node.base_memory_used + running.iter().map(|v| v.maxmem()).sum::<u64>();
            let load: f64 = running.iter().map(|v| v.cores() as f64 * 0.05).sum();
            let cpu = (node.base_cpu + load / f64::from(node.cores.max(1))).min(1.0);
            let uptime = cluster.nodes.get(&node.name).map(|n| n.booted.elapsed().as_secs() + 86_400).unwrap_or(0);
            if online {
                metrics.nodes.insert(node.name.clone(), NodeMetrics { cpu, mem: mem.min(node.memory), uptime });
            }
        }
        for vm in cluster.vms.values() {
            let running = vm.status == RunState::Running;
            metrics.vms.insert(
                vm.vmid,
                VmMetrics {
                    status: vm.status,
                    cpu: if running { 0.03 } else { 0.0 },
                    mem: if running { vm.maxmem() / 2 } else { 0 },
                    uptime: vm.uptime(),
                },
            );
        }
        drop(cluster);
        if let Ok(mut m) = self.metrics.lock() {
            *m = metrics;
        }
    }

    pub fn metrics(&self) -> Metrics {
        self.metrics.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// The canonical snapshot.
    pub fn snapshot(&self) -> StateSnapshot {
        let held_locks = self.locks.held();
        let c = self.cluster();
        let vms = c
            .vms
            .values()
            .map(|vm| VmSnapshot {
                vmid: vm.vmid,
                node: vm.node.clone(),
                name: vm.name(),
                template: vm.template(),
                status: vm.status,
                tags: vm.config.get("tags").cloned(),
                pool: vm.pool.clone(),
                lock: vm.lock.clone(),
                config: vm
                    .config
                    .iter()
                    .filter(|(k, _)| !VOLATILE_KEYS.contains(&k.as_str()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            })
            .collect();
        let pools = c
            .pools
            .iter()
            .map(|(id, p)| PoolSnapshot {
                poolid: id.clone(),
                comment: p.comment.clone(),
                vms: c.vms.values().filter(|v| v.pool.as_deref() == Some(id)).map(|v| v.vmid).collect(),
                storage: p.storage.iter().cloned().collect(),
            })
            .collect();
        let users = c
            .users
            .iter()
            .map(|(id, u)| UserSnapshot {
                userid: id.clone(),
                enable: u.enable,
                email: u.email.clone(),
                comment: u.comment.clone(),
                tokens: u.tokens.keys().cloned().collect(),
            })
            .collect();
        let acls = c
            .acls
            .iter()
            .map(|((path, kind, ugid, roleid), propagate)| AclEntry {
                path: path.clone(),
                kind: kind.clone(),
                ugid: ugid.clone(),
                roleid: roleid.clone(),
                propagate: *propagate,
            })
            .collect();
        let mut network = BTreeMap::new();
        let mut staged_network = BTreeMap::new();
        for (node, net) in &c.network {
            network.insert(node.clone(), net.applied.values().cloned().collect());
            if let Some(staged) = &net.staged {
                let changes = network_changes(&net.applied, staged);
                if !changes.is_empty() {
                    staged_network.insert(node.clone(), changes);
                }
            }
        }
        StateSnapshot {
            nodes: c.nodes.iter().map(|(n, s)| (n.clone(), s.online)).collect(),
            vms,
            pools,
            users,
            acls,
            network,
            staged_network,
            held_locks,
            running_tasks: c.tasks.values().filter(|t| t.endtime.is_none()).count(),
        }
    }
}

/// Differences between applied and staged interfaces.
pub(crate) fn network_changes(applied: &BTreeMap<String, IfaceConfig>, staged: &BTreeMap<String, IfaceConfig>) -> Vec<NetworkChange> {
    let mut changes = Vec::new();
    for (name, iface) in staged {
        match applied.get(name) {
            None => changes.push(NetworkChange::Add { iface: iface.clone() }),
            Some(old) => {
                let mut a = old.clone();
                let mut b = iface.clone();
                a.active = false;
                b.active = false;
                if a != b {
                    changes.push(NetworkChange::Modify { iface: iface.clone() });
                }
            }
        }
    }
    for name in applied.keys() {
        if !staged.contains_key(name) {
            changes.push(NetworkChange::Delete { iface: name.clone() });
        }
    }
    changes
}

/// Builds the initial cluster from the configuration.
pub(crate) fn initial_cluster(cfg: &SimConfig) -> Cluster {
    let mut c = Cluster { slowdown: 1.0, ..Cluster::default() };
    for n in &cfg.nodes {
        c.nodes.insert(n.name.clone(), NodeState { online: n.online, booted: Instant::now() });
        let applied = cfg
            .network
            .get(&n.name)
            .map(|ifaces| ifaces.iter().map(|i| (i.iface.clone(), IfaceConfig { active: true, ..i.clone() })).collect())
            .unwrap_or_default();
        c.network.insert(n.name.clone(), NodeNetwork { applied, staged: None, applying: false });
    }
    for p in &cfg.pools {
        c.pools.insert(p.poolid.clone(), Pool { comment: p.comment.clone(), storage: BTreeSet::new() });
    }
    for g in &cfg.guests {
        let mut config = BTreeMap::new();
        let disk = if g.template { format!("base-{}-disk-0", g.vmid) } else { format!("vm-{}-disk-0", g.vmid) };
        config.insert("name".into(), g.name.clone());
        config.insert("cores".into(), g.cores.to_string());
        config.insert("sockets".into(), "1".into());
        config.insert("memory".into(), g.memory_mib.to_string());
        config.insert("ostype".into(), "l26".into());
        config.insert("scsihw".into(), "virtio-scsi-single".into());
        config.insert("boot".into(), "order=scsi0;net0".into());
        config.insert("scsi0".into(), format!("{}:{disk},iothread=1,size={}G", g.storage, g.disk_gib));
        config.insert("net0".into(), format!("virtio={},bridge={}", crate::random::mac(), g.bridge));
        config.insert("vmgenid".into(), uuid());
        config.insert("smbios1".into(), format!("uuid={}", uuid()));
        if g.template {
            config.insert("template".into(), "1".into());
        }
        if let Some(tags) = &g.tags {
            config.insert("tags".into(), tags.clone());
        }
        if let Some(pool) = &g.pool {
            c.pools.entry(pool.clone()).or_default();
        }
        let running = g.running && !g.template;
        c.vms.insert(
            g.vmid,
            Vm {
                vmid: g.vmid,
                node: g.node.clone(),
                config,
                status: if running { RunState::Running } else { RunState::Stopped },
                started: running.then(Instant::now),
                lock: g.lock.clone(),
                pool: g.pool.clone(),
            },
        );
    }
    for u in &cfg.users {
        c.users.insert(
            u.userid.clone(),
            User {
                password: u.password.clone(),
                enable: u.enable,
                expire: 0,
                email: u.email.clone(),
                comment: None,
                firstname: None,
                lastname: None,
                privileges: u.privileges.iter().cloned().collect(),
                tokens: u
                    .tokens
                    .iter()
                    .map(|t| (t.tokenid.clone(), Token { secret: t.secret.clone(), privsep: t.privsep, comment: None, expire: 0 }))
                    .collect(),
            },
        );
    }
    for a in &cfg.acls {
        c.acls.insert((a.path.clone(), a.kind.clone(), a.ugid.clone(), a.role.clone()), a.propagate);
    }
    c
}

/// A random RFC 4122 v4 UUID string.
pub(crate) fn uuid() -> String {
    let h = crate::random::hex(16);
    format!("{}-{}-4{}-a{}-{}", &h[0..8], &h[8..12], &h[13..16], &h[17..20], &h[20..32])
}
