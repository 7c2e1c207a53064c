//! The Proxmox endpoints Gantry uses, typed. Every request here is valid
//! against the official schema (`apidata.json`); the simulator rejects
//! anything else and the tests assert it never had to.

use crate::client::lenient;
use crate::client::{Method, PveClient, PveError, Upid, seg};
use crate::model::{NodeName, PoolId, PveUserId, RoleId};
use crate::params;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// `GET /version`.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
pub struct Version {
    /// e.g. `9.1.3`.
    #[serde(default, deserialize_with = "lenient::string")]
    pub version: String,
    /// e.g. `9.1`.
    #[serde(default, deserialize_with = "lenient::string")]
    pub release: String,
}

/// One item of `GET /cluster/status`.
#[derive(Debug, Clone, Deserialize)]
pub struct ClusterStatusItem {
    /// `cluster` or `node`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// Node or cluster name.
    #[serde(default, deserialize_with = "lenient::string")]
    pub name: String,
    /// Cluster item: quorate.
    #[serde(default, deserialize_with = "lenient::bool")]
    pub quorate: bool,
    /// Node item: online.
    #[serde(default, deserialize_with = "lenient::bool")]
    pub online: bool,
}

/// One item of `GET /cluster/resources`.
#[derive(Debug, Clone, Deserialize)]
pub struct Resource {
    /// `node/pve1`, `qemu/105`, `storage/pve1/local-lvm`.
    #[serde(default)]
    pub id: String,
    /// `node`, `qemu`, `lxc`, `storage`, `pool`…
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The node it is on.
    #[serde(default, deserialize_with = "lenient::string")]
    pub node: String,
    /// `online`/`offline` for nodes, `running`/`stopped`/`unknown` for guests, `available` for storage.
    #[serde(default, deserialize_with = "lenient::string")]
    pub status: String,
    /// CPU use as a fraction of `maxcpu`.
    #[serde(default, deserialize_with = "lenient::f64")]
    pub cpu: f64,
    /// CPUs.
    #[serde(default, deserialize_with = "lenient::f64")]
    pub maxcpu: f64,
    /// Memory used, bytes.
    #[serde(default, deserialize_with = "lenient::u64")]
    pub mem: u64,
    /// Memory size, bytes.
    #[serde(default, deserialize_with = "lenient::u64")]
    pub maxmem: u64,
    /// Disk used, bytes.
    #[serde(default, deserialize_with = "lenient::u64")]
    pub disk: u64,
    /// Disk size, bytes.
    #[serde(default, deserialize_with = "lenient::u64")]
    pub maxdisk: u64,
    /// Guests: VMID.
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub vmid: Option<u64>,
    /// Guests: name.
    #[serde(default, deserialize_with = "lenient::string")]
    pub name: String,
    /// Guests: is a template.
    #[serde(default, deserialize_with = "lenient::bool")]
    pub template: bool,
    /// Guests: pool.
    #[serde(default, deserialize_with = "lenient::string")]
    pub pool: String,
    /// Guests: lock (`clone`, `backup`…), empty when unlocked.
    #[serde(default, deserialize_with = "lenient::string")]
    pub lock: String,
    /// Guests: `;`-separated tags.
    #[serde(default, deserialize_with = "lenient::string")]
    pub tags: String,
    /// Storage: id.
    #[serde(default, deserialize_with = "lenient::string")]
    pub storage: String,
    /// Storage: shared between nodes.
    #[serde(default, deserialize_with = "lenient::bool")]
    pub shared: bool,
}

impl Resource {
    /// The guest's tags.
    pub fn tag_list(&self) -> Vec<String> {
        self.tags.split([';', ',', ' ']).filter(|t| !t.is_empty()).map(str::to_string).collect()
    }
}

/// One network interface of a node.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Iface {
    /// Name.
    pub iface: String,
    /// `bridge`, `eth`, `bond`, `vlan`…
    #[serde(rename = "type", default)]
    pub kind: String,
    /// Applied (running) rather than only staged.
    #[serde(default, deserialize_with = "lenient::bool")]
    pub active: bool,
    /// Bridges: VLAN-aware.
    #[serde(default, deserialize_with = "lenient::bool")]
    pub bridge_vlan_aware: bool,
    /// Bridges: ports, space-separated.
    #[serde(default, deserialize_with = "lenient::string")]
    pub bridge_ports: String,
}

/// An entry of `GET /access/acl`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Acl {
    /// The path (`/pool/x`).
    #[serde(default)]
    pub path: String,
    /// `user`, `group` or `token`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The user, group or token id.
    #[serde(default)]
    pub ugid: String,
    /// The role.
    #[serde(default)]
    pub roleid: String,
}

/// What a clone call needs.
#[derive(Debug, Clone)]
pub struct CloneRequest {
    /// The template's node (the call goes there).
    pub node: String,
    /// The template.
    pub template: u32,
    /// The new VMID.
    pub newid: u32,
    /// The new VM's name.
    pub name: String,
    /// Where the VM ends up (omitted when it is the template's node).
    pub target: Option<String>,
    /// Full clone (else linked).
    pub full: bool,
    /// Target storage (full clones only).
    pub storage: Option<String>,
    /// Description.
    pub description: String,
}

/// The calls Gantry makes; a thin typed layer over [`PveClient`].
impl PveClient {
    /// `GET /version`.
    pub async fn version(&self) -> Result<Version, PveError> {
        self.get("/version", vec![]).await
    }

    /// `GET /cluster/status`.
    pub async fn cluster_status(&self) -> Result<Vec<ClusterStatusItem>, PveError> {
        self.get("/cluster/status", vec![]).await
    }

    /// `GET /cluster/resources[?type=…]`.
    pub async fn resources(&self, kind: Option<&str>) -> Result<Vec<Resource>, PveError> {
        let p = match kind {
            Some(k) => params![("type", k)],
            None => vec![],
        };
        self.get("/cluster/resources", p).await
    }

    /// The caller's privileges on a path: `GET /access/permissions?path=`.
    pub async fn permissions(&self, path: &str) -> Result<BTreeMap<String, BTreeMap<String, Value>>, PveError> {
        self.get("/access/permissions", params![("path", path)]).await
    }

    /// Is this VMID free cluster-wide? (`GET /cluster/nextid?vmid=` answers 400 when taken.)
    pub async fn vmid_free(&self, vmid: u32) -> Result<bool, PveError> {
        match self.call(Method::Get, "/cluster/nextid", params![("vmid", vmid)]).await {
            Ok(_) => Ok(true),
            Err(e) if e.kind == crate::client::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `POST /nodes/{node}/qemu/{vmid}/clone`.
    pub async fn clone_vm(&self, r: &CloneRequest) -> Result<Upid, PveError> {
        let mut p = params![("newid", r.newid), ("name", &r.name), ("full", u8::from(r.full))];
        if let Some(t) = &r.target {
            p.push(("target".into(), t.clone()));
        }
        if let Some(s) = &r.storage {
            p.push(("storage".into(), s.clone()));
        }
        if !r.description.is_empty() {
            p.push(("description".into(), r.description.clone()));
        }
        let path = format!("/nodes/{}/qemu/{}/clone", seg(&r.node), r.template);
        upid(self.call(Method::Post, &path, p).await?)
    }

    /// `GET /nodes/{node}/qemu/{vmid}/config`.
    pub async fn vm_config(&self, node: &str, vmid: u32) -> Result<BTreeMap<String, Value>, PveError> {
        self.get(&format!("/nodes/{}/qemu/{vmid}/config", seg(node)), vec![]).await
    }

    /// `PUT /nodes/{node}/qemu/{vmid}/config` (synchronous).
    pub async fn set_vm_config(&self, node: &str, vmid: u32, p: Vec<(String, String)>) -> Result<(), PveError> {
        self.call(Method::Put, &format!("/nodes/{}/qemu/{vmid}/config", seg(node)), p).await.map(|_| ())
    }

    /// `PUT /nodes/{node}/qemu/{vmid}/resize` (grow a disk to an absolute size).
    pub async fn resize_disk(&self, node: &str, vmid: u32, disk: &str, size_gib: u32) -> Result<Option<Upid>, PveError> {
        let v = self
            .call(
                Method::Put,
                &format!("/nodes/{}/qemu/{vmid}/resize", seg(node)),
                params![("disk", disk), ("size", format!("{size_gib}G"))],
            )
            .await?;
        opt_upid(v)
    }

    /// `POST /nodes/{node}/qemu/{vmid}/status/{start|stop}`.
    pub async fn vm_power(&self, node: &str, vmid: u32, action: &str) -> Result<Upid, PveError> {
        upid(self.call(Method::Post, &format!("/nodes/{}/qemu/{vmid}/status/{action}", seg(node)), vec![]).await?)
    }

    /// `GET /nodes/{node}/qemu/{vmid}/status/current` → `status`.
    pub async fn vm_status(&self, node: &str, vmid: u32) -> Result<String, PveError> {
        let v: Value = self.get(&format!("/nodes/{}/qemu/{vmid}/status/current", seg(node)), vec![]).await?;
        Ok(v.get("status").and_then(Value::as_str).unwrap_or("unknown").to_string())
    }

    /// `DELETE /nodes/{node}/qemu/{vmid}?purge=1&destroy-unreferenced-disks=1`.
    pub async fn destroy_vm(&self, node: &str, vmid: u32) -> Result<Upid, PveError> {
        let p = params![("purge", 1), ("destroy-unreferenced-disks", 1)];
        upid(self.call(Method::Delete, &format!("/nodes/{}/qemu/{vmid}", seg(node)), p).await?)
    }

    /// `GET /nodes/{node}/network`.
    pub async fn network(&self, node: &NodeName) -> Result<Vec<Iface>, PveError> {
        self.get(&format!("/nodes/{}/network", seg(node.as_str())), vec![]).await
    }

    /// Stages a new VLAN-aware bridge: `POST /nodes/{node}/network`.
    pub async fn stage_bridge(&self, node: &NodeName, iface: &str, comment: &str) -> Result<(), PveError> {
        let p = params![("iface", iface), ("type", "bridge"), ("bridge_vlan_aware", 1), ("autostart", 1), ("comments", comment)];
        self.call(Method::Post, &format!("/nodes/{}/network", seg(node.as_str())), p).await.map(|_| ())
    }

    /// Stages an existing bridge's VLAN awareness: `PUT /nodes/{node}/network/{iface}`.
    pub async fn stage_vlan_aware(&self, node: &NodeName, iface: &Iface, aware: bool) -> Result<(), PveError> {
        let mut p = params![("type", "bridge")];
        if !iface.bridge_ports.is_empty() {
            p.push(("bridge_ports".into(), iface.bridge_ports.clone()));
        }
        if aware {
            p.push(("bridge_vlan_aware".into(), "1".into()));
        } else {
            p.push(("delete".into(), "bridge_vlan_aware".into()));
        }
        p.push(("autostart".into(), "1".into()));
        self.call(Method::Put, &format!("/nodes/{}/network/{}", seg(node.as_str()), seg(&iface.iface)), p).await.map(|_| ())
    }

    /// Stages removal of an interface: `DELETE /nodes/{node}/network/{iface}`.
    pub async fn stage_remove_iface(&self, node: &NodeName, iface: &str) -> Result<(), PveError> {
        self.call(Method::Delete, &format!("/nodes/{}/network/{}", seg(node.as_str()), seg(iface)), vec![]).await.map(|_| ())
    }

    /// Applies the staged network config: `PUT /nodes/{node}/network` (a task).
    pub async fn apply_network(&self, node: &NodeName) -> Result<Option<Upid>, PveError> {
        opt_upid(self.call(Method::Put, &format!("/nodes/{}/network", seg(node.as_str())), vec![]).await?)
    }

    /// Drops staged network changes: `DELETE /nodes/{node}/network`.
    pub async fn revert_network(&self, node: &NodeName) -> Result<(), PveError> {
        self.call(Method::Delete, &format!("/nodes/{}/network", seg(node.as_str())), vec![]).await.map(|_| ())
    }

    /// Does the user exist? (`GET /access/users/{userid}`.)
    pub async fn user_exists(&self, user: &PveUserId) -> Result<bool, PveError> {
        match self.call(Method::Get, &format!("/access/users/{}", seg(&user.to_string())), vec![]).await {
            Ok(_) => Ok(true),
            Err(e) if e.kind == crate::client::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `POST /access/users`.
    pub async fn create_user(&self, user: &PveUserId, password: Option<&str>, comment: &str) -> Result<(), PveError> {
        let mut p = params![("userid", user), ("comment", comment), ("enable", 1)];
        if let Some(pw) = password {
            p.push(("password".into(), pw.to_string()));
        }
        self.call(Method::Post, "/access/users", p).await.map(|_| ())
    }

    /// `DELETE /access/users/{userid}`.
    pub async fn delete_user(&self, user: &PveUserId) -> Result<(), PveError> {
        self.call(Method::Delete, &format!("/access/users/{}", seg(&user.to_string())), vec![]).await.map(|_| ())
    }

    /// `POST /pools`.
    pub async fn create_pool(&self, pool: &PoolId, comment: &str) -> Result<(), PveError> {
        self.call(Method::Post, "/pools", params![("poolid", pool), ("comment", comment)]).await.map(|_| ())
    }

    /// Adds VMs to a pool: `PUT /pools`.
    pub async fn pool_add_vms(&self, pool: &PoolId, vmids: &[u32]) -> Result<(), PveError> {
        let list: Vec<String> = vmids.iter().map(u32::to_string).collect();
        self.call(Method::Put, "/pools", params![("poolid", pool), ("vms", list.join(","))]).await.map(|_| ())
    }

    /// A pool's members' VMIDs (`GET /pools?poolid=`); `None` if the pool does not exist.
    pub async fn pool_members(&self, pool: &PoolId) -> Result<Option<Vec<u32>>, PveError> {
        match self.get::<Vec<Value>>("/pools", params![("poolid", pool)]).await {
            Ok(v) => Ok(Some(
                v.iter()
                    .flat_map(|p| p.get("members").and_then(Value::as_array).cloned().unwrap_or_default())
                    .filter_map(|m| m.get("vmid").and_then(|x| x.as_u64().or_else(|| x.as_str().and_then(|s| s.parse().ok()))))
                    .map(|x| x as u32)
                    .collect(),
            )),
            Err(e) if matches!(e.kind, crate::client::ErrorKind::NotFound) || e.message.contains("does not exist") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `DELETE /pools?poolid=` (the pool must be empty).
    pub async fn delete_pool(&self, pool: &PoolId) -> Result<(), PveError> {
        self.call(Method::Delete, "/pools", params![("poolid", pool)]).await.map(|_| ())
    }

    /// `GET /access/acl`.
    pub async fn acls(&self) -> Result<Vec<Acl>, PveError> {
        self.get("/access/acl", vec![]).await
    }

    /// Grants or (with `delete`) revokes a role for a user on a path: `PUT /access/acl`.
    pub async fn set_acl(&self, path: &str, role: &RoleId, user: &PveUserId, delete: bool) -> Result<(), PveError> {
        let mut p = params![("path", path), ("roles", role), ("users", user), ("propagate", 1)];
        if delete {
            p.push(("delete".into(), "1".into()));
        }
        self.call(Method::Put, "/access/acl", p).await.map(|_| ())
    }
}

fn upid(v: Value) -> Result<Upid, PveError> {
    match v.as_str().map(str::parse::<Upid>) {
        Some(Ok(u)) => Ok(u),
        _ => Err(PveError {
            kind: crate::client::ErrorKind::Other,
            status: None,
            op: "task".into(),
            message: format!("expected a UPID, got {v}"),
            errors: BTreeMap::new(),
        }),
    }
}

fn opt_upid(v: Value) -> Result<Option<Upid>, PveError> {
    if v.is_null() { Ok(None) } else { upid(v).map(Some) }
}
