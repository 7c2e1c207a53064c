//! The implemented Proxmox API endpoints: one table of `(method, schema path template,
//! required privilege, handler)`, so tests can check every route against the schema.

mod access;
mod cluster;
mod network;
mod pools;
mod qemu;
mod tasks;

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use futures_util::future::BoxFuture;
use serde_json::Value;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::schema::parse_bool;
use crate::state::Sim;

/// What a handler gets.
pub(crate) struct Call {
    pub sim: Arc<Sim>,
    pub params: Params,
    /// `None` only for `POST /access/ticket` (world-accessible).
    pub caller: Option<Caller>,
    /// Node whose listener received the request.
    pub local: String,
}

impl Call {
    pub fn caller(&self) -> Result<&Caller, ApiError> {
        self.caller.as_ref().ok_or_else(|| ApiError::unauthorized("invalid PVE ticket"))
    }
}

type Handler = fn(Call) -> BoxFuture<'static, Result<Value, ApiError>>;

/// One implemented endpoint.
pub struct Route {
    /// HTTP method.
    pub method: &'static str,
    /// Schema path template.
    pub path: &'static str,
    /// `(ACL path template, privilege)` checked before the handler; placeholders are filled
    /// from the parameters.
    pub privilege: Option<(&'static str, &'static str)>,
    /// Whether the route needs no authentication.
    pub world: bool,
    handler: Handler,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

impl Route {
    pub(crate) fn call(&self, call: Call) -> BoxFuture<'static, Result<Value, ApiError>> {
        (self.handler)(call)
    }
}

macro_rules! route {
    ($m:literal, $p:literal, $priv:expr, $h:path) => {
        Route { method: $m, path: $p, privilege: $priv, world: false, handler: |c| Box::pin($h(c)) }
    };
}

fn build() -> Vec<Route> {
    const NODE_AUDIT: Option<(&str, &str)> = Some(("/nodes/{node}", "Sys.Audit"));
    const NODE_MODIFY: Option<(&str, &str)> = Some(("/nodes/{node}", "Sys.Modify"));
    const VM_AUDIT: Option<(&str, &str)> = Some(("/vms/{vmid}", "VM.Audit"));
    const VM_CONFIG: Option<(&str, &str)> = Some(("/vms/{vmid}", "VM.Config.Options"));
    const VM_POWER: Option<(&str, &str)> = Some(("/vms/{vmid}", "VM.PowerMgmt"));
    const USER_MODIFY: Option<(&str, &str)> = Some(("/access", "User.Modify"));
    const POOL_ALLOCATE: Option<(&str, &str)> = Some(("/pool/{poolid}", "Pool.Allocate"));
    vec![
        Route { method: "POST", path: "/access/ticket", privilege: None, world: true, handler: |c| Box::pin(access::ticket(c)) },
        route!("GET", "/version", None, cluster::version),
        route!("GET", "/cluster/status", Some(("/", "Sys.Audit")), cluster::status),
        route!("GET", "/cluster/resources", None, cluster::resources),
        route!("GET", "/cluster/nextid", None, cluster::nextid),
        route!("GET", "/nodes", None, cluster::nodes),
        route!("GET", "/nodes/{node}/status", NODE_AUDIT, cluster::node_status),
        route!("GET", "/nodes/{node}/storage", None, cluster::node_storage),
        route!("GET", "/storage", None, cluster::storage),
        route!("GET", "/nodes/{node}/qemu", None, qemu::list),
        route!("GET", "/nodes/{node}/qemu/{vmid}", VM_AUDIT, qemu::index),
        route!("GET", "/nodes/{node}/qemu/{vmid}/config", VM_AUDIT, qemu::get_config),
        route!("PUT", "/nodes/{node}/qemu/{vmid}/config", VM_CONFIG, qemu::put_config),
        route!("POST", "/nodes/{node}/qemu/{vmid}/config", VM_CONFIG, qemu::post_config),
        route!("PUT", "/nodes/{node}/qemu/{vmid}/resize", Some(("/vms/{vmid}", "VM.Config.Disk")), qemu::resize),
        route!("GET", "/nodes/{node}/qemu/{vmid}/status/current", VM_AUDIT, qemu::status_current),
        route!("POST", "/nodes/{node}/qemu/{vmid}/status/start", VM_POWER, qemu::start),
        route!("POST", "/nodes/{node}/qemu/{vmid}/status/stop", VM_POWER, qemu::stop),
        route!("POST", "/nodes/{node}/qemu/{vmid}/status/shutdown", VM_POWER, qemu::shutdown),
        route!("DELETE", "/nodes/{node}/qemu/{vmid}", Some(("/vms/{vmid}", "VM.Allocate")), qemu::destroy),
        route!("POST", "/nodes/{node}/qemu/{vmid}/clone", Some(("/vms/{vmid}", "VM.Clone")), qemu::clone),
        route!("GET", "/nodes/{node}/tasks", None, tasks::list),
        route!("GET", "/nodes/{node}/tasks/{upid}/status", None, tasks::status),
        route!("GET", "/nodes/{node}/tasks/{upid}/log", None, tasks::log),
        route!("GET", "/nodes/{node}/network", NODE_AUDIT, network::list),
        route!("POST", "/nodes/{node}/network", NODE_MODIFY, network::create),
        route!("PUT", "/nodes/{node}/network", NODE_MODIFY, network::apply),
        route!("DELETE", "/nodes/{node}/network", NODE_MODIFY, network::revert),
        route!("GET", "/nodes/{node}/network/{iface}", NODE_AUDIT, network::get),
        route!("PUT", "/nodes/{node}/network/{iface}", NODE_MODIFY, network::update),
        route!("DELETE", "/nodes/{node}/network/{iface}", NODE_MODIFY, network::delete),
        route!("GET", "/access/users", None, access::list_users),
        route!("POST", "/access/users", USER_MODIFY, access::create_user),
        route!("GET", "/access/users/{userid}", None, access::get_user),
        route!("PUT", "/access/users/{userid}", USER_MODIFY, access::update_user),
        route!("DELETE", "/access/users/{userid}", USER_MODIFY, access::delete_user),
        route!("POST", "/access/users/{userid}/token/{tokenid}", USER_MODIFY, access::create_token),
        route!("GET", "/access/roles", None, access::roles),
        route!("GET", "/access/acl", None, access::get_acl),
        route!("PUT", "/access/acl", Some(("{path}", "Permissions.Modify")), access::put_acl),
        route!("GET", "/access/permissions", None, access::permissions),
        route!("GET", "/pools", None, pools::list),
        route!("POST", "/pools", POOL_ALLOCATE, pools::create),
        route!("PUT", "/pools", POOL_ALLOCATE, pools::update),
        route!("DELETE", "/pools", POOL_ALLOCATE, pools::delete),
    ]
}

/// Every implemented endpoint.
pub fn routes() -> &'static [Route] {
    static ROUTES: OnceLock<Vec<Route>> = OnceLock::new();
    ROUTES.get_or_init(build)
}

/// The implemented `(method, path template)` pairs.
pub fn implemented() -> Vec<(&'static str, &'static str)> {
    routes().iter().map(|r| (r.method, r.path)).collect()
}

/// Finds the route for a resolved schema template.
pub(crate) fn find(method: &str, template: &str) -> Option<&'static Route> {
    routes().iter().find(|r| r.method == method && r.path == template)
}

/// Request parameters (query, body and path placeholders) as strings, the way Perl sees them.
#[derive(Debug, Clone, Default)]
pub(crate) struct Params(pub BTreeMap<String, String>);

impl Params {
    pub fn str(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str)
    }
    pub fn string(&self, k: &str) -> Option<String> {
        self.0.get(k).cloned()
    }
    pub fn req(&self, k: &str) -> Result<&str, ApiError> {
        self.str(k).ok_or_else(|| ApiError::param(k, crate::schema::MSG_MISSING))
    }
    pub fn bool(&self, k: &str) -> Option<bool> {
        self.str(k).and_then(parse_bool)
    }
    pub fn u32(&self, k: &str) -> Result<Option<u32>, ApiError> {
        match self.str(k) {
            None => Ok(None),
            Some(v) => {
                v.trim().parse::<u32>().map(Some).map_err(|_| ApiError::param(k, format!("type check ('integer') failed - got '{v}'")))
            }
        }
    }
    pub fn vmid(&self) -> Result<u32, ApiError> {
        self.u32("vmid")?.ok_or_else(|| ApiError::param("vmid", crate::schema::MSG_MISSING))
    }
    pub fn node(&self) -> Result<String, ApiError> {
        self.req("node").map(str::to_string)
    }
}

/// Splits a Proxmox list parameter (`a,b c;d`).
pub(crate) fn split_list(v: &str) -> Vec<String> {
    v.split(|c: char| c == ',' || c == ';' || c.is_whitespace()).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

/// `1`/`0` the way Perl answers booleans.
pub(crate) fn flag(b: bool) -> u8 {
    u8::from(b)
}
