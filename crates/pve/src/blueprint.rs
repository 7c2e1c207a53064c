//! A stand blueprint: what each user gets. The same shape is the YAML file
//! operators keep (`deployment_config.yml`), the JSON the API takes, and the
//! row the panel edits; every field is parsed into its newtype on the way in.

use crate::model::{CloneMode, NamePattern, NetAlias, PoolId, PveUserId, RoleId, Strategy};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use utoipa::ToSchema;

/// One VM of a stand.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VmSpec {
    /// The VM's key within the stand (`router`, `client`): letters, digits and '-'.
    pub key: String,
    /// The template: its name (one copy per node is fine) or its VMID.
    pub template: String,
    /// The VM name; placeholders `{user}`, `{realm}`, `{n}`, `{vm}`. Default `{user}-{vm}`.
    #[serde(default = "default_pattern")]
    #[schema(value_type = String)]
    pub name: NamePattern,
    /// vCPU cores; default: the template's.
    #[serde(default)]
    pub cores: Option<u16>,
    /// Memory in MiB; default: the template's.
    #[serde(default)]
    pub memory_mib: Option<u32>,
    /// Grow disks after cloning (never shrinks), e.g. `{disk: scsi0, size_gib: 20}`.
    #[serde(default)]
    pub disks: Vec<DiskSpec>,
    /// NICs in order (`net0`, `net1`, …) by network alias (`hq.100`, `lab`).
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub networks: Vec<NetAlias>,
    /// Linked (default) or full clone.
    #[serde(default)]
    pub clone: CloneMode,
    /// Target storage for full clones (default: the template's).
    #[serde(default)]
    pub storage: Option<String>,
    /// Start the VM once configured.
    #[serde(default)]
    pub start: bool,
}

/// A disk size for one of the VM's disks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DiskSpec {
    /// The disk key (`scsi0`, `virtio1`…).
    pub disk: String,
    /// Its size in GiB after deployment.
    pub size_gib: u32,
}

fn default_pattern() -> NamePattern {
    NamePattern::user_vm()
}

/// A stand blueprint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Blueprint {
    /// A name unique in Gantry (`net-lab`).
    pub name: String,
    /// What the stand is for.
    #[serde(default)]
    pub description: String,
    /// Placement strategy.
    #[serde(default)]
    pub strategy: Strategy,
    /// The role each user gets on their own pool.
    #[serde(default)]
    #[schema(value_type = String)]
    pub role: RoleId,
    /// Create users that do not exist yet (with a generated password shown once).
    #[serde(default = "yes")]
    pub create_users: bool,
    /// The VMs each user gets.
    pub vms: Vec<VmSpec>,
}

fn yes() -> bool {
    true
}

/// A problem with a blueprint that per-field parsing cannot see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecProblem {
    /// Dotted path of the offending field (`vms[1].key`).
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl Blueprint {
    /// Rules across fields: names, keys unique, sizes sane.
    pub fn check(&self) -> Vec<SpecProblem> {
        let mut out = Vec::new();
        let mut p = |path: String, message: String| out.push(SpecProblem { path, message });
        let n = self.name.trim();
        if n.is_empty() || n.len() > 64 || !n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            p("name".into(), "the blueprint name must be 1-64 letters, digits, '-' or '_'".into());
        }
        if self.vms.is_empty() {
            p("vms".into(), "a blueprint needs at least one VM".into());
        }
        if self.vms.len() > 32 {
            p("vms".into(), "a blueprint may hold at most 32 VMs per user".into());
        }
        let mut keys = BTreeSet::new();
        let mut names = BTreeSet::new();
        for (i, vm) in self.vms.iter().enumerate() {
            let k = &vm.key;
            let key_ok = !k.is_empty() && k.len() <= 32 && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') && !k.starts_with('-');
            if !key_ok {
                p(format!("vms[{i}].key"), format!("VM key '{k}' must be 1-32 letters, digits or '-'"));
            } else if !keys.insert(k.clone()) {
                p(format!("vms[{i}].key"), format!("VM key '{k}' is used twice"));
            }
            // A pattern with {vm} differs per key, so only patterns without it can clash.
            if !vm.name.as_str().contains("{vm}") && !names.insert(vm.name.as_str().to_string()) {
                p(format!("vms[{i}].name"), format!("name pattern '{}' is used twice; VM names would clash", vm.name));
            } else if !vm.name.as_str().contains("{user}") && !vm.name.as_str().contains("{n}") {
                p(
                    format!("vms[{i}].name"),
                    "the name pattern must contain {user} or {n}, or every user's VM would get the same name".into(),
                );
            }
            if vm.template.trim().is_empty() {
                p(format!("vms[{i}].template"), "the template is required (a name or a VMID)".into());
            }
            if let Some(c) = vm.cores
                && !(1..=512).contains(&c)
            {
                p(format!("vms[{i}].cores"), "cores must be from 1 to 512".into());
            }
            if let Some(m) = vm.memory_mib
                && !(16..=4_194_304).contains(&m)
            {
                p(format!("vms[{i}].memory_mib"), "memory must be from 16 MiB to 4 TiB".into());
            }
            if vm.networks.len() > 32 {
                p(format!("vms[{i}].networks"), "at most 32 NICs (net0-net31)".into());
            }
            if vm.storage.is_some() && vm.clone == CloneMode::Linked {
                p(
                    format!("vms[{i}].storage"),
                    "a target storage applies to full clones only (Proxmox refuses it for linked clones)".into(),
                );
            }
            let mut disks = BTreeSet::new();
            for (j, d) in vm.disks.iter().enumerate() {
                let ok = ["scsi", "virtio", "sata", "ide"].iter().any(|b| {
                    d.disk.strip_prefix(b).is_some_and(|n| !n.is_empty() && n.len() <= 2 && n.chars().all(|c| c.is_ascii_digit()))
                });
                if !ok {
                    p(format!("vms[{i}].disks[{j}].disk"), format!("'{}' is not a disk key such as scsi0 or virtio1", d.disk));
                } else if !disks.insert(d.disk.clone()) {
                    p(format!("vms[{i}].disks[{j}].disk"), format!("disk '{}' is listed twice", d.disk));
                }
                if d.size_gib == 0 || d.size_gib > 65_536 {
                    p(format!("vms[{i}].disks[{j}].size_gib"), "the size must be from 1 to 65536 GiB".into());
                }
            }
        }
        out
    }

    /// The pool id of one user's stand in one deployment.
    pub fn pool_for(&self, deployment_id: i64, user: &PveUserId) -> Result<PoolId, crate::model::Invalid> {
        format!("gantry-{deployment_id}-{}", user.slug()).parse()
    }

    /// Every network alias the blueprint uses.
    pub fn aliases(&self) -> BTreeSet<NetAlias> {
        self.vms.iter().flat_map(|v| v.networks.iter().cloned()).collect()
    }
}

/// `users.yml`: the users to deploy for, in order (their position is `{n}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UserList {
    /// `user@realm` entries.
    #[schema(value_type = Vec<String>)]
    pub users: Vec<PveUserId>,
}

impl UserList {
    /// Duplicate users.
    pub fn check(&self) -> Vec<SpecProblem> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        if self.users.is_empty() {
            out.push(SpecProblem { path: "users".into(), message: "the user list is empty".into() });
        }
        // Pools and VM names use the user's slug (realm dropped, '.' and '_' folded): two users with
        // one slug would share a pool and see each other's VMs.
        let mut slugs: std::collections::BTreeMap<String, PveUserId> = std::collections::BTreeMap::new();
        for (i, u) in self.users.iter().enumerate() {
            if !seen.insert(u.clone()) {
                out.push(SpecProblem { path: format!("users[{i}]"), message: format!("{u} is listed twice") });
            } else if let Some(other) = slugs.insert(u.slug(), u.clone()) {
                out.push(SpecProblem {
                    path: format!("users[{i}]"),
                    message: format!("{u} and {other} would share the pool and VM names '{}'; deploy them separately", u.slug()),
                });
            }
        }
        out
    }
}
