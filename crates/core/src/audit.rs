//! The append-only audit trail and the request context every mutation carries.

use crate::ids::{AuditId, UserId};
use crate::user::Role;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

/// Who is acting and from where; passed from the HTTP layer (or the CLI, or a
/// background job) into every service call that changes something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The acting user; `None` for the system itself (startup, jobs, CLI).
    pub user_id: Option<UserId>,
    /// The acting user's name, or `system` / `cli`.
    pub name: String,
    /// The effective role at the time of the action.
    pub role: Option<Role>,
    /// The request id echoed in `X-Request-Id`, to join audit records with logs.
    pub request_id: Option<String>,
    /// The client's IP address as seen by Gantry.
    pub client_ip: Option<String>,
}

impl Actor {
    /// The system itself acting (bootstrap, background work).
    pub fn system(name: &str) -> Self {
        Self { user_id: None, name: name.to_string(), role: None, request_id: None, client_ip: None }
    }
}

/// An audit record about to be written.
#[derive(Debug, Clone)]
pub struct AuditDraft {
    /// Who did it.
    pub actor: Actor,
    /// Dotted verb, e.g. `user.create`, `token.revoke`, `auth.login_failed`.
    pub action: String,
    /// The kind of entity changed, e.g. `user`.
    pub entity_type: String,
    /// The entity's id, when it has one.
    pub entity_id: Option<String>,
    /// `{before, after}` or other summary, with secrets already redacted.
    pub summary: Value,
}

impl AuditDraft {
    /// Starts a record; the summary is redacted here so no caller can forget.
    pub fn new(actor: &Actor, action: &str, entity_type: &str, entity_id: Option<String>, mut summary: Value) -> Self {
        redact(&mut summary);
        Self { actor: actor.clone(), action: action.into(), entity_type: entity_type.into(), entity_id, summary }
    }
}

/// A stored audit record.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditRecord {
    /// Monotonic id (also the pagination key).
    #[schema(value_type = i64)]
    pub id: AuditId,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// The acting user's id, if a user acted.
    #[schema(value_type = Option<i64>)]
    pub actor_id: Option<UserId>,
    /// The acting user's name (kept even if the user is later renamed or removed).
    pub actor_name: String,
    /// The actor's effective role.
    pub actor_role: Option<Role>,
    /// What was done.
    pub action: String,
    /// The kind of entity.
    pub entity_type: String,
    /// The entity's id.
    pub entity_id: Option<String>,
    /// Request id, to find the matching log lines.
    pub request_id: Option<String>,
    /// Client address.
    pub client_ip: Option<String>,
    /// Before/after summary, secrets redacted.
    pub summary: Value,
}

/// Filters for listing the audit log; all optional, combined with AND.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Actor name, exact.
    pub actor: Option<String>,
    /// Entity type, exact.
    pub entity_type: Option<String>,
    /// Entity id, exact.
    pub entity_id: Option<String>,
    /// Action, exact or a prefix ending in `.` (e.g. `user.`).
    pub action: Option<String>,
    /// At or after.
    pub since: Option<DateTime<Utc>>,
    /// Before.
    pub until: Option<DateTime<Utc>>,
}

/// Substrings that mark an object key as holding a secret.
const SECRET_PARTS: &[&str] = &["password", "passphrase", "secret", "private_key", "master_key", "api_key", "credential"];

/// Whether a JSON key names a secret (`password`, `new_password`, `password_hash`,
/// `private_key`, `token`, `csrf_token`, …). Identifiers such as `token_id` are not secrets.
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    SECRET_PARTS.iter().any(|s| k.contains(s)) || k == "token" || k.ends_with("_token")
}

/// Replaces every secret-named value in a JSON tree with `"[redacted]"`.
pub fn redact(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if is_secret_key(k) && !v.is_null() {
                    *v = Value::String("[redacted]".into());
                } else {
                    redact(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_redacted_at_any_depth() {
        let mut v = json!({"after": {"password_hash": "x", "name": "a", "keys": [{"private_key": "pem"}]},
            "token_id": 3, "token": "gty_x", "csrf_token": "c", "new_password": "p"});
        redact(&mut v);
        assert_eq!(v["after"]["password_hash"], "[redacted]");
        assert_eq!(v["after"]["keys"][0]["private_key"], "[redacted]");
        assert_eq!(v["after"]["name"], "a");
        assert_eq!(v["token"], "[redacted]");
        assert_eq!(v["csrf_token"], "[redacted]");
        assert_eq!(v["new_password"], "[redacted]");
        assert_eq!(v["token_id"], 3);
    }
}
