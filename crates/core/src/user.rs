//! Users and roles.

use crate::ids::UserId;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// What a user (or a token acting for one) may do. Ordered: `Viewer < Operator < Admin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads everything, changes nothing.
    Viewer,
    /// Changes infrastructure (servers, domains, deployments, stands, tasks).
    Operator,
    /// Everything, including users.
    Admin,
}

impl Role {
    /// The stable string stored in the database and shown in the API.
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    /// Whether this role includes everything `required` may do.
    pub fn allows(&self, required: Role) -> bool {
        *self >= required
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "viewer" => Ok(Role::Viewer),
            "operator" => Ok(Role::Operator),
            "admin" => Ok(Role::Admin),
            other => Err(format!("unknown role {other:?}; expected admin, operator or viewer")),
        }
    }
}

/// A login name: 1–64 characters of `a-z 0-9 . _ -`, starting with a letter or digit.
///
/// Lowercased on input so that `Admin` and `admin` can never be two accounts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Username(String);

impl Username {
    /// Parses and normalizes a username.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let s = raw.trim().to_ascii_lowercase();
        if s.is_empty() || s.len() > 64 {
            return Err("must be 1 to 64 characters".into());
        }
        let first_ok = s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
        if !first_ok {
            return Err("must start with a letter or digit".into());
        }
        if let Some(bad) = s.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))) {
            return Err(format!("must contain only a-z, 0-9, '.', '_' and '-' (found {bad:?})"));
        }
        Ok(Self(s))
    }

    /// The normalized name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Minimum password length. Length beats composition rules (NIST SP 800-63B).
pub const MIN_PASSWORD_LEN: usize = 10;
/// Maximum password length; bounds the Argon2 input.
pub const MAX_PASSWORD_LEN: usize = 1024;

/// A password that meets the policy. Never printed: `Debug` is redacted by `SecretString`.
#[derive(Debug, Clone)]
pub struct NewPassword(SecretString);

impl NewPassword {
    /// Checks the policy: 10 to 1024 characters, not only whitespace.
    pub fn parse(raw: SecretString) -> Result<Self, String> {
        let len = raw.expose_secret().chars().count();
        if len < MIN_PASSWORD_LEN {
            return Err(format!("must be at least {MIN_PASSWORD_LEN} characters"));
        }
        if len > MAX_PASSWORD_LEN {
            return Err(format!("must be at most {MAX_PASSWORD_LEN} characters"));
        }
        if raw.expose_secret().trim().is_empty() {
            return Err("must not be only whitespace".into());
        }
        Ok(Self(raw))
    }

    /// The secret itself, for hashing.
    pub fn secret(&self) -> &SecretString {
        &self.0
    }
}

/// A display name: free text, trimmed, at most 128 characters, no control characters.
pub fn parse_display_name(raw: &str) -> Result<String, String> {
    let s = raw.trim();
    if s.chars().count() > 128 {
        return Err("must be at most 128 characters".into());
    }
    if s.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(s.to_string())
}

/// A stored user, without its password hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct User {
    /// Stable id.
    #[schema(value_type = i64)]
    pub id: UserId,
    /// Login name (lowercase).
    #[schema(value_type = String)]
    pub username: Username,
    /// Human name shown in the panel.
    pub display_name: String,
    /// What the user may do.
    pub role: Role,
    /// A disabled user cannot log in and its sessions and tokens stop working.
    pub disabled: bool,
    /// Optimistic-concurrency version, also sent as the `ETag`.
    pub version: i64,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
    /// When the account was last changed.
    pub updated_at: DateTime<Utc>,
    /// When the user last logged in successfully.
    pub last_login_at: Option<DateTime<Utc>>,
}

/// The values needed to create a user.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Login name.
    pub username: Username,
    /// Display name.
    pub display_name: String,
    /// Role.
    pub role: Role,
    /// Argon2id PHC string.
    pub password_hash: String,
}

/// A partial update of a user by an admin; `None` leaves a field unchanged.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    /// New display name.
    pub display_name: Option<String>,
    /// New role.
    pub role: Option<Role>,
    /// Disable or enable.
    pub disabled: Option<bool>,
    /// New password hash (admin reset).
    pub password_hash: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_normalized_and_checked() {
        assert_eq!(Username::parse(" Alice ").map(|u| u.0), Ok("alice".to_string()));
        for bad in ["", "-x", "a b", "a;b", "a\nb", "ä", &"x".repeat(65)] {
            assert!(Username::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn roles_are_ordered() {
        assert!(Role::Admin.allows(Role::Operator));
        assert!(Role::Operator.allows(Role::Viewer));
        assert!(!Role::Viewer.allows(Role::Operator));
        assert_eq!("operator".parse::<Role>(), Ok(Role::Operator));
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn password_policy() {
        assert!(NewPassword::parse(SecretString::from("short")).is_err());
        assert!(NewPassword::parse(SecretString::from(" ".repeat(12))).is_err());
        assert!(NewPassword::parse(SecretString::from("correct horse")).is_ok());
    }
}
