//! Authentication (tickets, CSRF tokens, API tokens) and the privilege model (built-in roles,
//! ACL evaluation with propagation and pool inheritance).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use base64::Engine;
use sha2::{Digest, Sha256};

use crate::state::{Cluster, Sim};

/// Every privilege Proxmox VE 9 knows.
pub const ALL_PRIVILEGES: &[&str] = &[
    "Datastore.Allocate",
    "Datastore.AllocateSpace",
    "Datastore.AllocateTemplate",
    "Datastore.Audit",
    "Group.Allocate",
    "Mapping.Audit",
    "Mapping.Modify",
    "Mapping.Use",
    "Permissions.Modify",
    "Pool.Allocate",
    "Pool.Audit",
    "Realm.Allocate",
    "Realm.AllocateUser",
    "SDN.Allocate",
    "SDN.Audit",
    "SDN.Use",
    "Sys.AccessNetwork",
    "Sys.Audit",
    "Sys.Console",
    "Sys.Incoming",
    "Sys.Modify",
    "Sys.PowerMgmt",
    "Sys.Syslog",
    "User.Modify",
    "VM.Allocate",
    "VM.Audit",
    "VM.Backup",
    "VM.Clone",
    "VM.Config.CDROM",
    "VM.Config.CPU",
    "VM.Config.Cloudinit",
    "VM.Config.Disk",
    "VM.Config.HWType",
    "VM.Config.Memory",
    "VM.Config.Network",
    "VM.Config.Options",
    "VM.Console",
    "VM.GuestAgent.Audit",
    "VM.GuestAgent.FileRead",
    "VM.GuestAgent.FileSystemMgmt",
    "VM.GuestAgent.FileWrite",
    "VM.GuestAgent.Unrestricted",
    "VM.Migrate",
    "VM.PowerMgmt",
    "VM.Replicate",
    "VM.Snapshot",
    "VM.Snapshot.Rollback",
];

/// Built-in roles and their privileges (pveum.adoc).
pub fn builtin_roles() -> BTreeMap<&'static str, Vec<&'static str>> {
    let vm_all: Vec<&str> = ALL_PRIVILEGES.iter().copied().filter(|p| p.starts_with("VM.")).collect();
    let mut roles = BTreeMap::new();
    roles.insert("Administrator", ALL_PRIVILEGES.to_vec());
    roles.insert("NoAccess", Vec::new());
    roles.insert(
        "PVEAdmin",
        ALL_PRIVILEGES
            .iter()
            .copied()
            .filter(|p| !matches!(*p, "Permissions.Modify" | "Realm.Allocate" | "Sys.Modify" | "Sys.PowerMgmt"))
            .collect(),
    );
    roles.insert(
        "PVEAuditor",
        vec!["Datastore.Audit", "Mapping.Audit", "Pool.Audit", "SDN.Audit", "Sys.Audit", "VM.Audit", "VM.GuestAgent.Audit"],
    );
    roles.insert(
        "PVEDatastoreAdmin",
        vec!["Datastore.Allocate", "Datastore.AllocateSpace", "Datastore.AllocateTemplate", "Datastore.Audit"],
    );
    roles.insert("PVEDatastoreUser", vec!["Datastore.AllocateSpace", "Datastore.Audit"]);
    roles.insert("PVEMappingAdmin", vec!["Mapping.Audit", "Mapping.Modify", "Mapping.Use"]);
    roles.insert("PVEMappingUser", vec!["Mapping.Audit", "Mapping.Use"]);
    roles.insert("PVEPoolAdmin", vec!["Pool.Allocate", "Pool.Audit"]);
    roles.insert("PVEPoolUser", vec!["Pool.Audit"]);
    roles.insert("PVESDNAdmin", vec!["SDN.Allocate", "SDN.Audit", "SDN.Use"]);
    roles.insert("PVESDNUser", vec!["SDN.Audit", "SDN.Use"]);
    roles.insert(
        "PVESysAdmin",
        vec![
            "Permissions.Modify",
            "Sys.AccessNetwork",
            "Sys.Audit",
            "Sys.Console",
            "Sys.Incoming",
            "Sys.Modify",
            "Sys.PowerMgmt",
            "Sys.Syslog",
        ],
    );
    roles.insert("PVETemplateUser", vec!["VM.Audit", "VM.Clone"]);
    roles.insert("PVEUserAdmin", vec!["Group.Allocate", "Realm.AllocateUser", "User.Modify"]);
    roles.insert("PVEVMAdmin", vm_all);
    roles.insert(
        "PVEVMUser",
        vec![
            "VM.Audit",
            "VM.Backup",
            "VM.Config.CDROM",
            "VM.Config.Cloudinit",
            "VM.Console",
            "VM.GuestAgent.Audit",
            "VM.GuestAgent.Unrestricted",
            "VM.PowerMgmt",
        ],
    );
    roles
}

/// How a request authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Caller {
    /// `user@realm`.
    pub userid: String,
    /// `user@realm!tokenid` for token calls.
    pub tokenid: Option<String>,
}

impl Caller {
    /// The name tasks record (`user@realm!token` for tokens).
    pub fn task_user(&self) -> String {
        self.tokenid.clone().unwrap_or_else(|| self.userid.clone())
    }
    /// `ticket` or `token`.
    pub fn kind(&self) -> &'static str {
        if self.tokenid.is_some() { "token" } else { "ticket" }
    }
}

fn sign(secret: &str, data: &str) -> String {
    let mut h = Sha256::new();
    h.update(secret.as_bytes());
    h.update(b":");
    h.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(h.finalize())
}

/// Issues a ticket (`PVE:user@realm:HEXTIME::signature`) and remembers when it was issued.
pub(crate) fn issue_ticket(sim: &Sim, userid: &str) -> (String, String) {
    let now = chrono::Utc::now().timestamp();
    let plain = format!("PVE:{userid}:{now:08X}");
    // A nonce keeps tickets issued in the same second distinct, so each has its own lifetime.
    let nonce = crate::random::hex(8);
    let ticket = format!("{plain}::{}", sign(&sim.secret, &format!("{plain}:{nonce}")));
    let csrf = format!("{now:08X}:{}", sign(&sim.secret, &format!("csrf:{userid}:{now:08X}")));
    sim.cluster().tickets.insert(ticket.clone(), (userid.to_string(), Instant::now()));
    (ticket, csrf)
}

/// The user of a valid, unexpired ticket.
pub(crate) fn verify_ticket(sim: &Sim, ticket: &str) -> Option<String> {
    // Only tickets this simulator issued are valid: the table is the signature check.
    let lifetime = sim.timing().exact(sim.timing().ticket_lifetime_ms);
    let c = sim.cluster();
    let (user, issued) = c.tickets.get(ticket)?;
    if issued.elapsed() > lifetime {
        return None;
    }
    let enabled = c.users.get(user).is_some_and(|u| u.enable);
    enabled.then(|| user.clone())
}

/// Whether `csrf` belongs to `userid` (any time stamp we issued; tickets bound its life).
pub(crate) fn verify_csrf(sim: &Sim, userid: &str, csrf: &str) -> bool {
    let Some((hextime, sig)) = csrf.split_once(':') else {
        return false;
    };
    sign(&sim.secret, &format!("csrf:{userid}:{hextime}")) == sig
}

/// Resolves `PVEAPIToken=USER@REALM!TOKENID=SECRET`.
pub(crate) fn verify_token(cluster: &Cluster, header: &str) -> Option<Caller> {
    let rest = header.trim().strip_prefix("PVEAPIToken=")?;
    let (full, secret) = rest.split_once('=')?;
    let (userid, tokenid) = full.split_once('!')?;
    let user = cluster.users.get(userid)?;
    let token = user.tokens.get(tokenid)?;
    let now = chrono::Utc::now().timestamp().max(0) as u64;
    let valid = user.enable
        && token.secret == secret.trim()
        && (token.expire == 0 || token.expire > now)
        && (user.expire == 0 || user.expire > now);
    valid.then(|| Caller { userid: userid.to_string(), tokenid: Some(full.to_string()) })
}

/// Ancestors of an ACL path, most specific first (`/vms/100`, `/vms`, `/`).
fn ancestors(path: &str) -> Vec<String> {
    let mut out = vec![path.to_string()];
    let mut p = path.trim_end_matches('/').to_string();
    while let Some(idx) = p.rfind('/') {
        p.truncate(idx);
        out.push(if p.is_empty() { "/".into() } else { p.clone() });
        if p.is_empty() {
            break;
        }
    }
    out.dedup();
    out
}

/// Privileges an ACL subject (`user` or `token` ugid) has on `path`.
fn acl_privs(cluster: &Cluster, kind: &str, ugid: &str, path: &str) -> BTreeSet<String> {
    let roles = builtin_roles();
    let mut paths = vec![(path.to_string(), true)];
    for (i, a) in ancestors(path).into_iter().enumerate() {
        if i > 0 {
            paths.push((a, false));
        }
    }
    // Guests inherit from their pool (`/pool/<id>`), like Proxmox.
    if let Some(vmid) = path.strip_prefix("/vms/").and_then(|v| v.parse::<u32>().ok())
        && let Some(pool) = cluster.vms.get(&vmid).and_then(|v| v.pool.clone())
    {
        paths.push((format!("/pool/{pool}"), false));
    }
    let mut privs = BTreeSet::new();
    for ((p, k, u, role), propagate) in &cluster.acls {
        if k != kind || u != ugid {
            continue;
        }
        let applies = paths.iter().any(|(candidate, exact)| candidate == p && (*exact || *propagate));
        if applies && let Some(list) = roles.get(role.as_str()) {
            privs.extend(list.iter().map(|s| s.to_string()));
        }
    }
    privs
}

/// Effective privileges of a caller on `path`.
pub(crate) fn privileges(cluster: &Cluster, caller: &Caller, path: &str) -> BTreeSet<String> {
    if caller.userid == "root@pam" {
        return ALL_PRIVILEGES.iter().map(|s| s.to_string()).collect();
    }
    let Some(user) = cluster.users.get(&caller.userid) else {
        return BTreeSet::new();
    };
    let mut privs = user.privileges.clone();
    privs.extend(acl_privs(cluster, "user", &caller.userid, path));
    if let Some(full) = &caller.tokenid {
        let privsep = full.split_once('!').and_then(|(_, t)| user.tokens.get(t)).is_none_or(|t| t.privsep);
        if privsep {
            let token_privs = acl_privs(cluster, "token", full, path);
            privs = privs.intersection(&token_privs).cloned().collect();
        }
    }
    privs
}

/// Whether a caller has `privilege` on `path`.
pub(crate) fn has_privilege(cluster: &Cluster, caller: &Caller, path: &str, privilege: &str) -> bool {
    privileges(cluster, caller, path).contains(privilege)
}
