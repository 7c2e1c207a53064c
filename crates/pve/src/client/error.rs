//! What a Proxmox call can fail with, classified into kinds that each carry
//! a retry policy. Proxmox reports most failures as a 500 with a message, so
//! the message text (taken from pve-manager and qemu-server) decides the kind.

use std::collections::BTreeMap;
use std::time::Duration;

/// The kind of a Proxmox failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// A config, storage or cfs lock was not obtained in time (`can't lock file … got timeout`).
    LockTimeout,
    /// The object exists already (`VM 105 already exists`, `config file already exists`, `user … already exists`).
    AlreadyExists,
    /// The object does not exist.
    NotFound,
    /// The cluster has no quorum: `/etc/pve` is read-only.
    NoQuorum,
    /// pveproxy cannot reach the node (595/596/597) or the endpoint itself is unreachable.
    NodeUnreachable,
    /// Parameter verification failed; `errors` names the fields.
    ParameterInvalid,
    /// The credentials lack a privilege.
    PermissionDenied,
    /// The credentials were refused (bad token, password or expired ticket).
    Unauthenticated,
    /// The TLS certificate did not match the pinned fingerprint or CA.
    Tls,
    /// A task finished with an error exit status.
    TaskFailed,
    /// Anything else Proxmox refused.
    Other,
}

impl ErrorKind {
    /// The stable name used in metrics and problem documents.
    pub fn as_str(&self) -> &'static str {
        match self {
            ErrorKind::LockTimeout => "lock_timeout",
            ErrorKind::AlreadyExists => "already_exists",
            ErrorKind::NotFound => "not_found",
            ErrorKind::NoQuorum => "no_quorum",
            ErrorKind::NodeUnreachable => "node_unreachable",
            ErrorKind::ParameterInvalid => "parameter_invalid",
            ErrorKind::PermissionDenied => "permission_denied",
            ErrorKind::Unauthenticated => "unauthenticated",
            ErrorKind::Tls => "tls",
            ErrorKind::TaskFailed => "task_failed",
            ErrorKind::Other => "other",
        }
    }

    /// How often and how patiently to retry this kind; `None`: never.
    pub fn retry(&self) -> Option<RetryPolicy> {
        match self {
            // Locks clear when the other holder finishes: retry patiently.
            ErrorKind::LockTimeout => Some(RetryPolicy { attempts: 8, base: Duration::from_millis(500), max: Duration::from_secs(10) }),
            // A node that is rebooting or overloaded may answer again shortly.
            ErrorKind::NodeUnreachable => Some(RetryPolicy { attempts: 3, base: Duration::from_secs(1), max: Duration::from_secs(5) }),
            ErrorKind::NoQuorum => Some(RetryPolicy { attempts: 4, base: Duration::from_secs(2), max: Duration::from_secs(15) }),
            _ => None,
        }
    }
}

/// Jittered exponential backoff for one error kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total tries including the first.
    pub attempts: u32,
    /// The first delay.
    pub base: Duration,
    /// The largest delay.
    pub max: Duration,
}

impl RetryPolicy {
    /// The delay before try `attempt` (1 = the first retry): full jitter over
    /// an exponentially growing window, so parallel workers spread out.
    pub fn delay(&self, attempt: u32, scale: f64) -> Duration {
        let window = self.base.saturating_mul(1u32 << attempt.min(10)).min(self.max);
        let mut b = [0u8; 4];
        let r = if getrandom::fill(&mut b).is_ok() { u32::from_le_bytes(b) as f64 / u32::MAX as f64 } else { 0.5 };
        window.mul_f64((0.5 + r / 2.0) * scale)
    }
}

/// A failed Proxmox call.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{op}: {message}")]
pub struct PveError {
    /// The classification.
    pub kind: ErrorKind,
    /// HTTP status, when there was a response (595-597 included).
    pub status: Option<u16>,
    /// `METHOD /path` of the call, or `task UPID`.
    pub op: String,
    /// Proxmox's message, trimmed; never contains credentials.
    pub message: String,
    /// Per-parameter messages of a 400 "Parameter verification failed.".
    pub errors: BTreeMap<String, String>,
}

impl PveError {
    /// Classifies a response.
    pub fn from_response(op: String, status: u16, message: String, errors: BTreeMap<String, String>) -> Self {
        let kind = classify(status, &message, &errors);
        PveError { kind, status: Some(status), op, message, errors }
    }

    /// A failure below HTTP (connection refused, TLS, timeout).
    pub fn transport(op: String, message: String, tls: bool) -> Self {
        let kind = if tls { ErrorKind::Tls } else { ErrorKind::NodeUnreachable };
        PveError { kind, status: None, op, message, errors: BTreeMap::new() }
    }

    /// A task that ended with an error exit status.
    pub fn task(upid: &str, exitstatus: &str) -> Self {
        let mut e = PveError::from_response(format!("task {upid}"), 500, exitstatus.to_string(), BTreeMap::new());
        if e.kind == ErrorKind::Other {
            e.kind = ErrorKind::TaskFailed;
        }
        e
    }

    /// The message with the field errors, for people.
    pub fn detail(&self) -> String {
        if self.errors.is_empty() {
            return self.message.clone();
        }
        let f: Vec<String> = self.errors.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        format!("{} ({})", self.message, f.join("; "))
    }
}

fn classify(status: u16, message: &str, errors: &BTreeMap<String, String>) -> ErrorKind {
    let m = message.to_ascii_lowercase();
    let any_field = |needle: &str| errors.values().any(|v| v.to_ascii_lowercase().contains(needle));
    match status {
        595..=597 => return ErrorKind::NodeUnreachable,
        401 => return ErrorKind::Unauthenticated,
        403 => return ErrorKind::PermissionDenied,
        _ => {}
    }
    if m.contains("got timeout") || m.contains("lock request timeout") || m.contains("can't lock file") || m.contains("got lock timeout") {
        ErrorKind::LockTimeout
    } else if m.contains("already exists") || any_field("already exists") {
        ErrorKind::AlreadyExists
    } else if m.contains("no quorum") || m.contains("cluster not ready") {
        ErrorKind::NoQuorum
    } else if status == 400 || !errors.is_empty() {
        ErrorKind::ParameterInvalid
    } else if status == 404 || m.contains("does not exist") || m.contains("no such") || m.contains("not found") {
        ErrorKind::NotFound
    } else if m.contains("permission check failed") || m.contains("permission denied") {
        ErrorKind::PermissionDenied
    } else {
        ErrorKind::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(status: u16, msg: &str) -> ErrorKind {
        PveError::from_response("op".into(), status, msg.into(), BTreeMap::new()).kind
    }

    #[test]
    fn classifies_proxmox_messages() {
        assert_eq!(kind(500, "can't lock file '/var/lock/qemu-server/lock-105.conf' - got timeout"), ErrorKind::LockTimeout);
        assert_eq!(kind(500, "cfs-lock 'storage-ceph' error: got lock request timeout"), ErrorKind::LockTimeout);
        assert_eq!(kind(500, "unable to create VM 105: config file already exists"), ErrorKind::AlreadyExists);
        assert_eq!(kind(500, "Configuration file 'nodes/pve1/qemu-server/7.conf' does not exist"), ErrorKind::NotFound);
        assert_eq!(kind(595, "Connection refused"), ErrorKind::NodeUnreachable);
        assert_eq!(kind(500, "cluster not ready - no quorum?"), ErrorKind::NoQuorum);
        assert_eq!(kind(403, "Permission check failed (/vms/9000, VM.Clone)"), ErrorKind::PermissionDenied);
        assert_eq!(kind(401, "permission denied - invalid PVE ticket"), ErrorKind::Unauthenticated);
        let mut f = BTreeMap::new();
        f.insert("vmid".to_string(), "VM 108 already exists".to_string());
        assert_eq!(PveError::from_response("op".into(), 400, "Parameter verification failed.".into(), f).kind, ErrorKind::AlreadyExists);
        let mut f = BTreeMap::new();
        f.insert("net0".to_string(), "invalid format".to_string());
        assert_eq!(PveError::from_response("op".into(), 400, "Parameter verification failed.".into(), f).kind, ErrorKind::ParameterInvalid);
        assert_eq!(PveError::task("UPID:x", "clone failed: out of space").kind, ErrorKind::TaskFailed);
    }

    #[test]
    fn backoff_grows_and_is_bounded() {
        let p = ErrorKind::LockTimeout.retry().unwrap_or(RetryPolicy { attempts: 0, base: Duration::ZERO, max: Duration::ZERO });
        assert!(p.delay(1, 1.0) >= Duration::from_millis(500));
        assert!(p.delay(9, 1.0) <= Duration::from_secs(10));
        assert!(ErrorKind::ParameterInvalid.retry().is_none());
    }
}
