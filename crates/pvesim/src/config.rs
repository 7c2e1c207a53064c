//! The simulated cluster's configuration: nodes, storages, templates, network, users and timing.
//!
//! `SimConfig::default()` is the three-node demo cluster used by the demos and most tests.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

const GIB: u64 = 1024 * 1024 * 1024;

/// Everything the simulator needs to build its initial cluster state.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SimConfig {
    /// Name reported by `/cluster/status` and `/access/ticket`.
    pub cluster_name: String,
    /// Proxmox VE version reported by `/version`.
    pub version: String,
    /// Address the listeners bind to; must be a loopback address.
    pub listen: String,
    /// Cluster members; each gets its own HTTPS listener.
    pub nodes: Vec<NodeConfig>,
    /// Storage definitions (`/storage`).
    pub storages: Vec<StorageConfig>,
    /// Guests present at start: templates and ordinary VMs.
    pub guests: Vec<GuestConfig>,
    /// Applied network interfaces per node name.
    pub network: BTreeMap<String, Vec<IfaceConfig>>,
    /// Users with their passwords, tokens and global privileges.
    pub users: Vec<UserConfig>,
    /// Pools present at start.
    pub pools: Vec<PoolConfig>,
    /// ACL entries present at start.
    pub acls: Vec<AclConfig>,
    /// `next-id` datacenter option: the range `/cluster/nextid` searches.
    pub next_id: NextIdRange,
    /// Durations of every simulated operation.
    pub timing: Timing,
}

/// One cluster node.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct NodeConfig {
    /// Node name (`pve1`).
    pub name: String,
    /// CPU threads (`maxcpu`).
    pub cores: u32,
    /// Total memory in bytes (`maxmem`).
    pub memory: u64,
    /// Memory used by the host itself, before any guest runs.
    pub base_memory_used: u64,
    /// Host CPU load as a fraction of `maxcpu`, before any guest runs.
    pub base_cpu: f64,
    /// Whether the node starts online.
    pub online: bool,
    /// Address shown in `/cluster/status`.
    pub ip: String,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            name: "pve".into(),
            cores: 8,
            memory: 32 * GIB,
            base_memory_used: 2 * GIB,
            base_cpu: 0.02,
            online: true,
            ip: "10.0.0.1".into(),
        }
    }
}

/// One storage definition.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// Storage id (`local-lvm`).
    pub id: String,
    /// Plugin type (`lvmthin`, `dir`, `rbd`, ...).
    #[serde(rename = "type")]
    pub kind: String,
    /// Shared storages are reachable from every listed node with one cluster-wide lock.
    pub shared: bool,
    /// Nodes the storage is enabled on; empty means all nodes.
    pub nodes: Vec<String>,
    /// Capacity in bytes (per node for local storage).
    pub size: u64,
    /// Content types (`images,rootdir`).
    pub content: String,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            id: "local-lvm".into(),
            kind: "lvmthin".into(),
            shared: false,
            nodes: Vec::new(),
            size: 500 * GIB,
            content: "images,rootdir".into(),
        }
    }
}

/// A guest present at start (a template or an ordinary VM).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct GuestConfig {
    /// VM id.
    pub vmid: u32,
    /// VM name.
    pub name: String,
    /// Owning node.
    pub node: String,
    /// Storage holding its disk.
    pub storage: String,
    /// Disk size in GiB.
    pub disk_gib: u64,
    /// Cores.
    pub cores: u32,
    /// Memory in MiB.
    pub memory_mib: u64,
    /// Whether it is a template.
    pub template: bool,
    /// Whether it runs at start (ignored for templates).
    pub running: bool,
    /// Bridge of `net0`.
    pub bridge: String,
    /// A config lock (`backup`, `migrate`, ...) to simulate a stuck guest.
    pub lock: Option<String>,
    /// Tags (`a;b`).
    pub tags: Option<String>,
    /// Pool membership.
    pub pool: Option<String>,
}

impl Default for GuestConfig {
    fn default() -> Self {
        Self {
            vmid: 100,
            name: "vm".into(),
            node: "pve1".into(),
            storage: "local-lvm".into(),
            disk_gib: 10,
            cores: 2,
            memory_mib: 2048,
            template: false,
            running: false,
            bridge: "vmbr0".into(),
            lock: None,
            tags: None,
            pool: None,
        }
    }
}

/// One network interface of a node.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(default, deny_unknown_fields)]
pub struct IfaceConfig {
    /// Interface name.
    pub iface: String,
    /// `bridge`, `eth`, `bond`, `vlan`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// Space-separated bridge ports.
    pub bridge_ports: Option<String>,
    /// VLAN-aware bridge.
    pub bridge_vlan_aware: bool,
    /// Allowed VLANs on a VLAN-aware bridge (`2-4094`).
    pub bridge_vids: Option<String>,
    /// Whether the interface is up (applied interfaces only).
    pub active: bool,
    /// Bring up at boot.
    pub autostart: bool,
    /// IPv4 CIDR.
    pub cidr: Option<String>,
    /// Free text.
    pub comments: Option<String>,
    /// MTU.
    pub mtu: Option<u32>,
}

impl Default for IfaceConfig {
    fn default() -> Self {
        Self {
            iface: "vmbr0".into(),
            kind: "bridge".into(),
            bridge_ports: None,
            bridge_vlan_aware: false,
            bridge_vids: None,
            active: true,
            autostart: true,
            cidr: None,
            comments: None,
            mtu: None,
        }
    }
}

/// A user account.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct UserConfig {
    /// `name@realm`.
    pub userid: String,
    /// Password for `/access/ticket`; `None` disables ticket login.
    pub password: Option<String>,
    /// Disabled users cannot log in.
    pub enable: bool,
    /// Privileges granted on `/` (propagating); `root@pam` always has all.
    pub privileges: Vec<String>,
    /// API tokens of this user.
    pub tokens: Vec<TokenConfig>,
    /// E-mail address.
    pub email: Option<String>,
}

impl Default for UserConfig {
    fn default() -> Self {
        Self { userid: "user@pve".into(), password: None, enable: true, privileges: Vec::new(), tokens: Vec::new(), email: None }
    }
}

/// An API token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TokenConfig {
    /// Token id (the part after `!`).
    pub tokenid: String,
    /// Secret (the UUID Proxmox shows once).
    pub secret: String,
    /// Privilege separation: when false the token has the user's full privileges.
    pub privsep: bool,
}

impl Default for TokenConfig {
    fn default() -> Self {
        Self { tokenid: "token".into(), secret: String::new(), privsep: false }
    }
}

/// A resource pool present at start.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default, deny_unknown_fields)]
pub struct PoolConfig {
    /// Pool id.
    pub poolid: String,
    /// Comment.
    pub comment: Option<String>,
}

/// An ACL entry present at start.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AclConfig {
    /// ACL path (`/pool/x`).
    pub path: String,
    /// Role id.
    pub role: String,
    /// User id, token id (`user@realm!id`) or group.
    pub ugid: String,
    /// `user`, `token` or `group`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Whether the entry applies to sub-paths.
    pub propagate: bool,
}

impl Default for AclConfig {
    fn default() -> Self {
        Self { path: "/".into(), role: "NoAccess".into(), ugid: String::new(), kind: "user".into(), propagate: true }
    }
}

/// The `next-id` datacenter option.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct NextIdRange {
    /// Inclusive lower bound.
    pub lower: u32,
    /// Exclusive upper bound.
    pub upper: u32,
}

impl Default for NextIdRange {
    fn default() -> Self {
        Self { lower: 100, upper: 1_000_000 }
    }
}

/// Durations of simulated operations, in milliseconds, all multiplied by `scale`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Timing {
    /// Multiplier applied to every duration below.
    pub scale: f64,
    /// Random spread applied to operation durations (0.3 = ±30 %); lock timeouts are exact.
    pub jitter: f64,
    /// Copy time of a linked clone.
    pub linked_clone_ms: u64,
    /// Copy time of a full clone per GiB of disk.
    pub full_clone_ms_per_gib: u64,
    /// Latency of the synchronous `PUT .../config`.
    pub config_put_ms: u64,
    /// Duration of the asynchronous `POST .../config` task.
    pub config_post_ms: u64,
    /// Duration of a start task.
    pub start_ms: u64,
    /// Duration of a stop or shutdown task.
    pub stop_ms: u64,
    /// Duration of a destroy task.
    pub destroy_ms: u64,
    /// Duration of a network apply (ifreload) task.
    pub network_apply_ms: u64,
    /// pvestatd loop: how often `/cluster/resources` and `/nodes` metrics refresh.
    pub metrics_lag_ms: u64,
    /// How long each clone holds its storage lock (volume allocation).
    pub storage_lock_hold_ms: u64,
    /// How long a clone waits for the storage lock before failing.
    pub storage_lock_timeout_ms: u64,
    /// How long a config change waits for the VM config lock (Proxmox: 1 s).
    pub vm_lock_timeout_ms: u64,
    /// Delay before every 401 answer (Proxmox: 3 s).
    pub auth_failure_delay_ms: u64,
    /// Ticket lifetime (Proxmox: 2 h).
    pub ticket_lifetime_ms: u64,
}

impl Default for Timing {
    fn default() -> Self {
        Self::realistic()
    }
}

impl Timing {
    /// Durations close to a small real cluster.
    pub fn realistic() -> Self {
        Self {
            scale: 1.0,
            jitter: 0.3,
            linked_clone_ms: 3_000,
            full_clone_ms_per_gib: 2_000,
            config_put_ms: 350,
            config_post_ms: 500,
            start_ms: 1_500,
            stop_ms: 1_200,
            destroy_ms: 1_000,
            network_apply_ms: 2_000,
            metrics_lag_ms: 10_000,
            storage_lock_hold_ms: 800,
            storage_lock_timeout_ms: 10_000,
            vm_lock_timeout_ms: 1_000,
            auth_failure_delay_ms: 3_000,
            ticket_lifetime_ms: 7_200_000,
        }
    }

    /// Durations for tests: 20–50× faster, lock timeouts kept long relative to hold times.
    pub fn fast() -> Self {
        Self {
            scale: 1.0,
            jitter: 0.2,
            linked_clone_ms: 100,
            full_clone_ms_per_gib: 40,
            config_put_ms: 10,
            config_post_ms: 20,
            start_ms: 50,
            stop_ms: 40,
            destroy_ms: 30,
            network_apply_ms: 80,
            metrics_lag_ms: 300,
            storage_lock_hold_ms: 20,
            storage_lock_timeout_ms: 1_500,
            vm_lock_timeout_ms: 300,
            auth_failure_delay_ms: 100,
            ticket_lifetime_ms: 7_200_000,
        }
    }

    /// A preset by name (`fast` or `realistic`).
    pub fn preset(name: &str) -> Option<Self> {
        match name {
            "fast" => Some(Self::fast()),
            "realistic" => Some(Self::realistic()),
            _ => None,
        }
    }

    /// `ms` scaled, without jitter (lock timeouts, lags).
    pub fn exact(&self, ms: u64) -> Duration {
        let scale = if self.scale.is_finite() && self.scale > 0.0 { self.scale } else { 1.0 };
        Duration::from_secs_f64(ms as f64 * scale / 1000.0)
    }

    /// `ms` scaled and spread by `jitter` (operation durations).
    pub fn jittered(&self, ms: u64) -> Duration {
        let base = self.exact(ms).as_secs_f64();
        let jitter = self.jitter.clamp(0.0, 0.95);
        let factor = 1.0 + jitter * (crate::random::unit() * 2.0 - 1.0);
        Duration::from_secs_f64(base * factor)
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        demo()
    }
}

impl SimConfig {
    /// Parses a YAML (or JSON, a YAML subset) configuration; missing fields keep the demo defaults.
    pub fn from_yaml(text: &str) -> Result<Self, crate::SimError> {
        serde_norway::from_str(text).map_err(|e| crate::SimError::Config(e.to_string()))
    }

    /// Nodes a storage is enabled on.
    pub(crate) fn storage_nodes(&self, storage: &StorageConfig) -> Vec<String> {
        if storage.nodes.is_empty() { self.nodes.iter().map(|n| n.name.clone()).collect() } else { storage.nodes.clone() }
    }
}

/// The secret of the demo token `root@pam!gantry`.
pub const DEMO_TOKEN_SECRET: &str = "5c1f6a2e-7d8b-4c3e-9f10-6a2b3c4d5e6f";
/// The password of `root@pam` in the demo cluster.
pub const DEMO_ROOT_PASSWORD: &str = "pvesim-root";

fn bridge(name: &str, ports: Option<&str>, vlan_aware: bool) -> IfaceConfig {
    IfaceConfig {
        iface: name.into(),
        kind: "bridge".into(),
        bridge_ports: ports.map(Into::into),
        bridge_vlan_aware: vlan_aware,
        bridge_vids: vlan_aware.then(|| "2-4094".to_string()),
        ..IfaceConfig::default()
    }
}

fn eth(name: &str) -> IfaceConfig {
    IfaceConfig { iface: name.into(), kind: "eth".into(), ..IfaceConfig::default() }
}

fn demo() -> SimConfig {
    let node = |name: &str, cores: u32, gib: u64, ip: &str| NodeConfig {
        name: name.into(),
        cores,
        memory: gib * GIB,
        base_memory_used: 2 * GIB + gib * GIB / 16,
        base_cpu: 0.02,
        online: true,
        ip: ip.into(),
    };
    let mut network = BTreeMap::new();
    for name in ["pve1", "pve2", "pve3"] {
        let mut ifaces = vec![eth("eno1"), eth("eno2"), bridge("vmbr0", Some("eno1"), false), bridge("hq", Some("eno2"), true)];
        if name == "pve1" {
            ifaces.push(bridge("lab", None, false));
        }
        network.insert(name.to_string(), ifaces);
    }
    let audit = ["Sys.Audit", "VM.Audit", "Datastore.Audit", "Pool.Audit", "SDN.Audit", "Mapping.Audit"];
    SimConfig {
        cluster_name: "gantry-demo".into(),
        version: "9.1.3".into(),
        listen: "127.0.0.1".into(),
        nodes: vec![node("pve1", 32, 128, "10.0.0.11"), node("pve2", 16, 64, "10.0.0.12"), node("pve3", 8, 32, "10.0.0.13")],
        storages: vec![
            StorageConfig {
                id: "local-lvm".into(),
                kind: "lvmthin".into(),
                shared: false,
                nodes: Vec::new(),
                size: 900 * GIB,
                content: "images,rootdir".into(),
            },
            StorageConfig {
                id: "ceph".into(),
                kind: "rbd".into(),
                shared: true,
                nodes: Vec::new(),
                size: 4096 * GIB,
                content: "images,rootdir".into(),
            },
        ],
        guests: vec![
            GuestConfig {
                vmid: 9000,
                name: "debian-12".into(),
                node: "pve1".into(),
                storage: "ceph".into(),
                disk_gib: 10,
                cores: 2,
                memory_mib: 2048,
                template: true,
                ..GuestConfig::default()
            },
            GuestConfig {
                vmid: 9001,
                name: "router".into(),
                node: "pve1".into(),
                storage: "ceph".into(),
                disk_gib: 4,
                cores: 1,
                memory_mib: 512,
                template: true,
                ..GuestConfig::default()
            },
            GuestConfig {
                vmid: 9002,
                name: "win-local".into(),
                node: "pve2".into(),
                storage: "local-lvm".into(),
                disk_gib: 40,
                cores: 4,
                memory_mib: 8192,
                template: true,
                ..GuestConfig::default()
            },
            GuestConfig {
                vmid: 100,
                name: "infra-dns".into(),
                node: "pve1".into(),
                storage: "local-lvm".into(),
                disk_gib: 8,
                cores: 2,
                memory_mib: 2048,
                running: true,
                tags: Some("infra".into()),
                ..GuestConfig::default()
            },
        ],
        network,
        users: vec![
            UserConfig {
                userid: "root@pam".into(),
                password: Some(DEMO_ROOT_PASSWORD.into()),
                enable: true,
                privileges: Vec::new(),
                tokens: vec![TokenConfig { tokenid: "gantry".into(), secret: DEMO_TOKEN_SECRET.into(), privsep: false }],
                email: None,
            },
            UserConfig {
                userid: "limited@pve".into(),
                password: Some("limited-pass".into()),
                enable: true,
                privileges: audit.iter().map(|p| p.to_string()).collect(),
                tokens: vec![TokenConfig { tokenid: "ro".into(), secret: "0a1b2c3d-0000-4000-8000-00000000ro00".into(), privsep: false }],
                email: None,
            },
        ],
        pools: Vec::new(),
        acls: Vec::new(),
        next_id: NextIdRange::default(),
        timing: Timing::realistic(),
    }
}
