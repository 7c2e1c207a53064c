//! Errors: `SimError` for starting and configuring the simulator, `ApiError` for Proxmox-shaped
//! API answers (`{"data":null,"message":"...\n","errors":{...}}`).

use std::collections::BTreeMap;

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::json;

/// Failures of the simulator itself (not of simulated API calls).
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The configuration is unusable.
    #[error("invalid simulator configuration: {0}")]
    Config(String),
    /// Only loopback addresses may be bound.
    #[error("refusing to listen on non-loopback address '{0}'")]
    NotLoopback(String),
    /// Binding or accepting failed.
    #[error("listener error: {0}")]
    Io(#[from] std::io::Error),
    /// Certificate generation or TLS setup failed.
    #[error("TLS setup failed: {0}")]
    Tls(String),
    /// The embedded API schema could not be parsed.
    #[error("API schema error: {0}")]
    Schema(String),
}

/// An API error answer, shaped like Proxmox's JSON formatter output.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status (may be 595/596/597, which are Proxmox proxy codes, not HTTP ones).
    pub status: u16,
    /// Message without the trailing newline (added on output).
    pub message: String,
    /// Per-parameter errors, only for parameter verification failures.
    pub errors: BTreeMap<String, String>,
}

impl ApiError {
    /// An error with a status and message.
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Self { status, message: message.into(), errors: BTreeMap::new() }
    }

    /// 500 with a message: what Perl `die` becomes.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, message)
    }

    /// 400 "Parameter verification failed." with per-parameter errors.
    pub fn params(errors: BTreeMap<String, String>) -> Self {
        Self { status: 400, message: "Parameter verification failed.".into(), errors }
    }

    /// 400 for a single parameter (Perl `raise_param_exc`).
    pub fn param(name: &str, msg: impl Into<String>) -> Self {
        let mut errors = BTreeMap::new();
        errors.insert(name.to_string(), msg.into());
        Self::params(errors)
    }

    /// 401 "permission denied - ...".
    pub fn unauthorized(why: &str) -> Self {
        Self::new(401, format!("permission denied - {why}"))
    }

    /// 403 "Permission check failed (path, priv)".
    pub fn forbidden(path: &str, privilege: &str) -> Self {
        Self::new(403, format!("Permission check failed ({path}, {privilege})"))
    }

    /// 595: pveproxy could not connect to the target node.
    pub fn node_unreachable() -> Self {
        Self::new(595, "Connection refused")
    }

    /// The lock timeout message of `PVE::Tools::lock_file` for a VM config.
    pub fn vm_lock_timeout(vmid: u32) -> Self {
        Self::internal(format!("can't lock file '/var/lock/qemu-server/lock-{vmid}.conf' - got timeout"))
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        let mut body = json!({"data": null, "message": format!("{}\n", self.message)});
        if !self.errors.is_empty() {
            body["errors"] = json!(self.errors);
        }
        body
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.message)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, axum::Json(self.body())).into_response()
    }
}
