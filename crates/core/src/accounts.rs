//! User administration: what admins do to accounts, and the first-start bootstrap.

use crate::audit::{Actor, AuditDraft};
use crate::auth::{AuthService, hash_blocking};
use crate::error::{FieldError, ServiceError};
use crate::events::{DomainEvent, UserChanged};
use crate::ids::UserId;
use crate::page::{Page, PageRequest};
use crate::repo::{Trail, UserFilter, UserRepo};
use crate::user::{NewPassword, NewUser, Role, User, UserPatch, Username, parse_display_name};
use secrecy::SecretString;
use serde_json::json;
use std::sync::Arc;

/// Input for creating a user, as received (not yet validated).
#[derive(Debug, Clone)]
pub struct CreateUser {
    /// Login name.
    pub username: String,
    /// Display name.
    pub display_name: Option<String>,
    /// Role.
    pub role: Role,
    /// Initial password.
    pub password: SecretString,
}

/// Input for changing a user; `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct ChangeUser {
    /// Display name.
    pub display_name: Option<String>,
    /// Role.
    pub role: Option<Role>,
    /// Disabled flag.
    pub disabled: Option<bool>,
    /// New password (admin reset).
    pub password: Option<SecretString>,
}

/// Account administration.
pub struct AccountService {
    users: Arc<dyn UserRepo>,
    auth: Arc<AuthService>,
}

impl AccountService {
    /// Builds the service.
    pub fn new(users: Arc<dyn UserRepo>, auth: Arc<AuthService>) -> Self {
        Self { users, auth }
    }

    /// Lists users.
    pub async fn list(&self, filter: &UserFilter, page: PageRequest) -> Result<Page<User>, ServiceError> {
        Ok(self.users.list(filter, page).await?)
    }

    /// One user.
    pub async fn get(&self, id: UserId) -> Result<User, ServiceError> {
        self.users.get(id).await.map_err(|e| match e {
            crate::StoreError::NotFound => ServiceError::NotFound("user"),
            other => other.into(),
        })
    }

    /// Creates a user after validating every field.
    pub async fn create(&self, input: CreateUser, actor: &Actor) -> Result<User, ServiceError> {
        let mut errors = Vec::new();
        let username = Username::parse(&input.username).map_err(|m| errors.push(FieldError::new("username", m))).ok();
        let display_name = parse_display_name(input.display_name.as_deref().unwrap_or(""))
            .map_err(|m| errors.push(FieldError::new("display_name", m)))
            .ok();
        let password = NewPassword::parse(input.password).map_err(|m| errors.push(FieldError::new("password", m))).ok();
        let (Some(username), Some(display_name), Some(password)) = (username, display_name, password) else {
            return Err(ServiceError::Validation(errors));
        };
        let password_hash = hash_blocking(password.secret().clone()).await?;
        let summary = json!({"after": {"username": username.as_str(), "display_name": display_name, "role": input.role}});
        let trail = Trail::audit(AuditDraft::new(actor, "user.create", "user", None, summary));
        self.users.create(NewUser { username, display_name, role: input.role, password_hash }, trail).await.map_err(|e| match e {
            crate::StoreError::Conflict { field } => {
                ServiceError::Conflict { field, message: "a user with this username already exists".into() }
            }
            other => other.into(),
        })
    }

    /// Self-registration: creates a viewer account when `auth.self_registration` is on.
    pub async fn register(
        &self,
        username: String,
        display_name: Option<String>,
        password: SecretString,
        actor: &Actor,
    ) -> Result<User, ServiceError> {
        if !self.auth.settings().self_registration {
            return Err(ServiceError::Forbidden("self-registration is turned off; ask an admin for an account".into()));
        }
        self.auth.throttle_registration(actor.client_ip.as_deref())?;
        self.create(CreateUser { username, display_name, role: Role::Viewer, password }, actor).await
    }

    /// Changes a user. `if_match` is the version the caller last saw; without
    /// it the current version is used (last write wins, but still atomic).
    pub async fn update(&self, id: UserId, if_match: Option<i64>, input: ChangeUser, actor: &Actor) -> Result<User, ServiceError> {
        let before = self.get(id).await?;
        if let Some(v) = if_match
            && v != before.version
        {
            return Err(ServiceError::Stale { current: before.version });
        }
        let mut errors = Vec::new();
        let display_name = match input.display_name.as_deref().map(parse_display_name) {
            Some(Ok(n)) => Some(n),
            Some(Err(m)) => {
                errors.push(FieldError::new("display_name", m));
                None
            }
            None => None,
        };
        let password = match input.password.map(NewPassword::parse) {
            Some(Ok(p)) => Some(p),
            Some(Err(m)) => {
                errors.push(FieldError::new("password", m));
                None
            }
            None => None,
        };
        if !errors.is_empty() {
            return Err(ServiceError::Validation(errors));
        }
        let demotes_admin = before.role == Role::Admin
            && !before.disabled
            && (input.role.is_some_and(|r| r != Role::Admin) || input.disabled == Some(true));
        if demotes_admin && self.users.count_active_admins().await? <= 1 {
            return Err(ServiceError::InvalidState("this is the last enabled admin; make another user admin first".into()));
        }
        let password_hash = match password {
            Some(p) => Some(hash_blocking(p.secret().clone()).await?),
            None => None,
        };
        let resets_password = password_hash.is_some();
        let patch = UserPatch { display_name, role: input.role, disabled: input.disabled, password_hash };
        let after = json!({
            "display_name": patch.display_name.clone().unwrap_or_else(|| before.display_name.clone()),
            "role": patch.role.unwrap_or(before.role),
            "disabled": patch.disabled.unwrap_or(before.disabled),
            "login_reset": resets_password,
        });
        let summary =
            json!({"before": {"display_name": before.display_name, "role": before.role, "disabled": before.disabled}, "after": after});
        let mut changes = Vec::new();
        if patch.role.is_some_and(|r| r != before.role) {
            changes.push("role");
        }
        if patch.disabled.is_some_and(|d| d != before.disabled) {
            changes.push("disabled");
        }
        if resets_password {
            changes.push("password");
        }
        let mut trail = Trail::audit(AuditDraft::new(actor, "user.update", "user", Some(id.to_string()), summary));
        if !changes.is_empty() {
            trail = trail.with_event(UserChanged { user_id: id, change: changes.join(",") }.draft());
        }
        let user = self.users.update(id, before.version, patch, trail).await?;
        if user.disabled || resets_password {
            self.auth.end_sessions(id).await?;
        } else if !changes.is_empty() {
            self.auth.forget_user(id);
        }
        Ok(user)
    }

    /// On first start, creates `admin` with the given password or a random one.
    /// Returns the generated password (to print once) when one was generated.
    pub async fn bootstrap_admin(&self, password: Option<SecretString>) -> Result<Option<(User, Option<SecretString>)>, ServiceError> {
        if self.users.count().await? > 0 {
            return Ok(None);
        }
        let (password, generated) = match password {
            Some(p) => (p, false),
            None => (SecretString::from(crate::tokens::random_token(18)), true),
        };
        let actor = Actor::system("bootstrap");
        let user = self
            .create(
                CreateUser {
                    username: "admin".into(),
                    display_name: Some("Administrator".into()),
                    role: Role::Admin,
                    password: password.clone(),
                },
                &actor,
            )
            .await?;
        Ok(Some((user, generated.then_some(password))))
    }
}
