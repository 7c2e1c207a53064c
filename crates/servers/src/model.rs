//! Server inventory types, parsed once at the API boundary.

use chrono::{DateTime, Utc};
use gantry_core::FieldError;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::IpAddr;
use utoipa::ToSchema;

/// A server's unique name: 1–64 of `a-z 0-9 . _ -`, starting with a letter or digit (lowercased).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ServerName(String);

impl ServerName {
    /// Parses and normalizes.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let s = raw.trim().to_ascii_lowercase();
        if s.is_empty() || s.len() > 64 {
            return Err("must be 1 to 64 characters".into());
        }
        if !s.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Err("must start with a letter or digit".into());
        }
        if let Some(c) = s.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))) {
            return Err(format!("may contain only a-z, 0-9, '.', '_' and '-' (found {c:?})"));
        }
        Ok(Self(s))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where to reach a server: an IP literal or a DNS name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// IPv4 or IPv6 literal.
    Ip(IpAddr),
    /// A DNS name (lowercase, no trailing dot).
    Dns(String),
}

impl Address {
    /// Parses an address.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let s = raw.trim();
        let unbracketed = s.strip_prefix('[').and_then(|r| r.strip_suffix(']')).unwrap_or(s);
        if let Ok(ip) = unbracketed.parse::<IpAddr>() {
            if ip.is_unspecified() || ip.is_multicast() {
                return Err("must be a unicast address".into());
            }
            return Ok(Address::Ip(ip));
        }
        let name = s.to_ascii_lowercase();
        if name.is_empty() || name.len() > 253 {
            return Err("must be an IP address or a DNS name of at most 253 characters".into());
        }
        if name.ends_with('.') {
            return Err("must not end with a dot".into());
        }
        for label in name.split('.') {
            let ok = !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
            if !ok {
                return Err(format!("{raw:?} is neither an IP address nor a valid DNS name"));
            }
        }
        if name.split('.').next_back().is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit())) {
            return Err(format!("{raw:?} is not a valid IP address"));
        }
        Ok(Address::Dns(name))
    }

    /// The text used to connect.
    pub fn host(&self) -> String {
        match self {
            Address::Ip(ip) => ip.to_string(),
            Address::Dns(n) => n.clone(),
        }
    }
}

/// A login name on the server: `[a-z_][a-z0-9_-]{0,31}`.
pub fn parse_ssh_user(raw: &str) -> Result<String, String> {
    let s = raw.trim();
    let ok = !s.is_empty()
        && s.len() <= 32
        && s.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if ok {
        Ok(s.to_string())
    } else {
        Err("must be a POSIX user name: a-z, 0-9, '_' or '-', starting with a letter or '_', at most 32".into())
    }
}

/// How Gantry gains root on the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum Privilege {
    /// The SSH user is root.
    #[default]
    Root,
    /// The SSH user runs privileged commands with `sudo -n` (no password).
    Sudo,
}

impl Privilege {
    /// Stable string.
    pub fn as_str(&self) -> &'static str {
        match self {
            Privilege::Root => "root",
            Privilege::Sudo => "sudo",
        }
    }
}

/// Availability as last observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ServerStatus {
    /// Never checked.
    Unknown,
    /// Reachable, authenticated, privileged.
    Ok,
    /// Address does not resolve, port closed or filtered, or the session broke.
    Unreachable,
    /// The key was refused, or sudo needs a password.
    AuthFailed,
    /// The host key differs from the pinned one; every operation is refused until an admin accepts it.
    HostKeyChanged,
}

impl ServerStatus {
    /// Stable string.
    pub fn as_str(&self) -> &'static str {
        match self {
            ServerStatus::Unknown => "unknown",
            ServerStatus::Ok => "ok",
            ServerStatus::Unreachable => "unreachable",
            ServerStatus::AuthFailed => "auth_failed",
            ServerStatus::HostKeyChanged => "host_key_changed",
        }
    }

    /// Parses the stored string.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "unknown" => ServerStatus::Unknown,
            "ok" => ServerStatus::Ok,
            "unreachable" => ServerStatus::Unreachable,
            "auth_failed" => ServerStatus::AuthFailed,
            "host_key_changed" => ServerStatus::HostKeyChanged,
            _ => return None,
        })
    }
}

/// Labels: up to 32 `key: value` pairs for grouping and filtering.
pub fn parse_labels(raw: &BTreeMap<String, String>) -> Result<BTreeMap<String, String>, Vec<FieldError>> {
    let mut errors = Vec::new();
    if raw.len() > 32 {
        errors.push(FieldError::new("labels", "at most 32 labels"));
    }
    for (k, v) in raw {
        let key_ok = !k.is_empty()
            && k.len() <= 63
            && k.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && k.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-' | '/'));
        if !key_ok {
            errors.push(FieldError::new(format!("labels.{k}"), "keys are 1–63 of a-z, 0-9, '.', '_', '-', '/'"));
        }
        if v.chars().count() > 128 || v.chars().any(char::is_control) {
            errors.push(FieldError::new(format!("labels.{k}"), "values are at most 128 characters without control characters"));
        }
    }
    if errors.is_empty() { Ok(raw.clone()) } else { Err(errors) }
}

/// The extra settings a server may carry, each validated by type.
pub const PARAMETERS: &[(&str, &str)] = &[
    ("nginx_conf_dir", "absolute path of the nginx configuration directory (default /etc/nginx)"),
    ("proxy_listen_address", "IP address the reverse proxy listens on (default: all)"),
    ("connect_timeout_seconds", "SSH connect timeout, 1–60 (default 5)"),
    ("command_timeout_seconds", "remote command timeout, 1–3600 (default 60)"),
    ("proxy_status_port", "port of the proxy's loopback status server, 1024–65535 (default 8089)"),
    ("proxy_auto_install", "boolean: install the reverse proxy as soon as the server is reachable"),
];

fn safe_abs_path(s: &str) -> bool {
    s.starts_with('/')
        && s.len() <= 255
        && s.split('/').all(|c| c != "..")
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-'))
}

/// Validates extra parameters against [`PARAMETERS`].
pub fn parse_parameters(raw: &BTreeMap<String, Value>) -> Result<BTreeMap<String, Value>, Vec<FieldError>> {
    let mut errors = Vec::new();
    for (k, v) in raw {
        let field = format!("parameters.{k}");
        let ok = match k.as_str() {
            "nginx_conf_dir" => v.as_str().is_some_and(safe_abs_path),
            "proxy_listen_address" => v.as_str().is_some_and(|s| s.parse::<IpAddr>().is_ok()),
            "connect_timeout_seconds" => v.as_u64().is_some_and(|n| (1..=60).contains(&n)),
            "command_timeout_seconds" => v.as_u64().is_some_and(|n| (1..=3600).contains(&n)),
            "proxy_status_port" => v.as_u64().is_some_and(|n| (1024..=65535).contains(&n)),
            "proxy_auto_install" => v.is_boolean(),
            _ => {
                let known: Vec<&str> = PARAMETERS.iter().map(|(k, _)| *k).collect();
                errors.push(FieldError::new(field, format!("unknown parameter; known: {}", known.join(", "))));
                continue;
            }
        };
        if !ok {
            let why = PARAMETERS.iter().find(|(n, _)| n == k).map(|(_, d)| *d).unwrap_or("invalid");
            errors.push(FieldError::new(field, format!("must be an {why}")));
        }
    }
    if errors.is_empty() { Ok(raw.clone()) } else { Err(errors) }
}

/// A pinned or pending host-key fingerprint: `SHA256:` and 43 base64 characters.
pub fn parse_fingerprint(raw: &str) -> Result<String, String> {
    let s = raw.trim();
    let body = s.strip_prefix("SHA256:").ok_or("must look like SHA256:… (as printed by ssh-keygen -lf)")?;
    if body.len() != 43 || !body.chars().all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '/') {
        return Err("must look like SHA256:… followed by 43 base64 characters".into());
    }
    Ok(s.to_string())
}

/// What Gantry shows about a server's credentials (never the key itself).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CredentialInfo {
    /// Key algorithm, e.g. `ssh-ed25519`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `SHA256:…` of the client key.
    pub fingerprint: String,
    /// The public key (`authorized_keys` line).
    pub public_key: String,
    /// Whether Gantry generated the key pair.
    pub generated: bool,
}

/// The host key as pinned and as last seen.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HostKeyInfo {
    /// The pinned fingerprint (set by the first successful connection or by the operator).
    pub pinned: Option<String>,
    /// A different fingerprint the server presented; waits for an admin to accept it.
    pub pending: Option<String>,
}

/// A server as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Server {
    /// Id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// IP or DNS name.
    pub address: String,
    /// SSH port.
    pub port: u16,
    /// SSH user.
    pub ssh_user: String,
    /// How Gantry gains root.
    pub privilege: Privilege,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Free text.
    pub description: String,
    /// Validated extra settings.
    #[schema(value_type = Object)]
    pub parameters: BTreeMap<String, Value>,
    /// The client key (type, fingerprint, public key).
    pub credentials: CredentialInfo,
    /// For generated keys: the one-line command that authorizes the key on the server.
    pub authorize_command: Option<String>,
    /// Host-key pinning.
    pub host_key: HostKeyInfo,
    /// Availability.
    pub status: ServerStatus,
    /// Why the last check or probe failed.
    pub status_message: Option<String>,
    /// Last successful contact.
    pub last_seen_at: Option<DateTime<Utc>>,
    /// Last check run.
    pub last_checked_at: Option<DateTime<Utc>>,
    /// Facts from the last successful check (OS, arch, disk, init, nginx, ports).
    #[schema(value_type = Option<Object>)]
    pub facts: Option<Value>,
    /// The latest check job (`GET /api/v1/jobs/{id}` has its steps).
    pub last_check_job_id: Option<i64>,
    /// Optimistic-concurrency version (`ETag`).
    pub version: i64,
    /// Created at.
    pub created_at: DateTime<Utc>,
    /// Updated at.
    pub updated_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(Address::parse("10.0.0.1"), Ok(Address::Ip("10.0.0.1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0])))));
        assert!(matches!(Address::parse("[2001:db8::1]"), Ok(Address::Ip(_))));
        assert_eq!(Address::parse("Proxy-1.Example.com"), Ok(Address::Dns("proxy-1.example.com".into())));
        for bad in ["", "0.0.0.0", "224.0.0.1", "a..b", "-a.com", "a.com.", "x;reboot", "a b", "999.1.1.1", "a$(x).com"] {
            assert!(Address::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn users_labels_parameters_fingerprints() {
        assert!(parse_ssh_user("deploy").is_ok());
        for bad in ["", "Root", "a b", "x;y", "$(id)", "-x"] {
            assert!(parse_ssh_user(bad).is_err(), "{bad:?}");
        }
        let mut l = BTreeMap::new();
        l.insert("env".to_string(), "prod".to_string());
        assert!(parse_labels(&l).is_ok());
        l.insert("Bad Key".to_string(), "x".to_string());
        assert!(parse_labels(&l).is_err());
        let mut p = BTreeMap::new();
        p.insert("nginx_conf_dir".to_string(), Value::from("/etc/nginx"));
        assert!(parse_parameters(&p).is_ok());
        p.insert("nginx_conf_dir".to_string(), Value::from("/etc/../root"));
        assert!(parse_parameters(&p).is_err());
        let mut p = BTreeMap::new();
        p.insert("rm_rf".to_string(), Value::from(true));
        assert!(parse_parameters(&p).is_err());
        assert!(parse_fingerprint("SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s").is_ok());
        assert!(parse_fingerprint("MD5:aa").is_err());
    }
}
