//! Authentication: password login with throttling, browser sessions with CSRF
//! tokens, API tokens, and the short-lived credential cache.
//!
//! Every request authenticates by digest lookup: the database stores only
//! SHA-256 digests of session ids and API tokens. A small in-memory cache
//! (a few seconds) keeps the hot path off the database; revocations clear it
//! on this replica immediately and on other replicas through an
//! `auth.revoked` / `user.changed` event relayed from the outbox.

use crate::audit::{Actor, AuditDraft};
use crate::error::ServiceError;
use crate::eventlog::{Record, Severity};
use crate::events::{CredentialRevoked, DomainEvent, Event, EventHandler, UserChanged};
use crate::ids::{TokenId, UserId};
use crate::page::{Page, PageRequest};
use crate::repo::{AuditRepo, NewToken, SessionRecord, SessionRepo, TokenInfo, TokenRepo, Trail, UserRepo};
use crate::tokens::{self, API_TOKEN_PREFIX};
use crate::user::{NewPassword, Role, User, UserPatch, Username};
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How a request proved who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A browser session cookie; mutations must carry the CSRF token.
    Session {
        /// Digest of the cookie value.
        digest: String,
        /// The session's CSRF token.
        csrf_token: String,
    },
    /// An API token in `Authorization: Bearer`.
    Token {
        /// The token's id.
        id: TokenId,
        /// Digest of the token.
        digest: String,
    },
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The user.
    pub user_id: UserId,
    /// The user's login name.
    pub username: String,
    /// The user's display name.
    pub display_name: String,
    /// Effective role: the user's role, lowered to the token's role for tokens.
    pub role: Role,
    /// How they authenticated.
    pub credential: Credential,
}

impl Principal {
    /// Fails with 403 unless the effective role includes `required`.
    pub fn require(&self, required: Role) -> Result<(), ServiceError> {
        if self.role.allows(required) {
            Ok(())
        } else {
            Err(ServiceError::Forbidden(format!("this action needs the {required} role; you act as {}", self.role)))
        }
    }

    /// The actor record for audit entries.
    pub fn actor(&self, request_id: Option<String>, client_ip: Option<String>) -> Actor {
        Actor { user_id: Some(self.user_id), name: self.username.clone(), role: Some(self.role), request_id, client_ip }
    }
}

/// Tuning for authentication.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// Absolute session lifetime.
    pub session_ttl: Duration,
    /// A session unused for this long expires.
    pub session_idle: Duration,
    /// Failed logins (per username and per client IP) before throttling starts.
    pub max_failures: u32,
    /// Failures older than this are forgotten.
    pub failure_window: Duration,
    /// Longest enforced wait between attempts once throttled.
    pub max_lockout: Duration,
    /// How long a verified credential is trusted from memory.
    pub cache_ttl: Duration,
    /// Longest allowed API-token lifetime.
    pub max_token_ttl: Duration,
    /// Anyone may create a viewer account (`POST /api/v1/auth/register`).
    pub self_registration: bool,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            session_ttl: Duration::from_secs(12 * 3600),
            session_idle: Duration::from_secs(2 * 3600),
            max_failures: 5,
            failure_window: Duration::from_secs(15 * 60),
            max_lockout: Duration::from_secs(15 * 60),
            cache_ttl: Duration::from_secs(5),
            max_token_ttl: Duration::from_secs(2 * 365 * 24 * 3600),
            self_registration: false,
        }
    }
}

/// A successful login: the cookie value to set and the CSRF token to return.
#[derive(Debug)]
pub struct LoginSession {
    /// The cookie value (secret; only its digest is stored).
    pub cookie: SecretString,
    /// The CSRF token for `X-CSRF-Token`.
    pub csrf_token: String,
    /// The user.
    pub user: User,
    /// Absolute expiry.
    pub expires_at: DateTime<Utc>,
}

/// Tracks failed logins per key (`u:<name>` and `ip:<addr>`).
#[derive(Default)]
struct Throttle {
    entries: Mutex<HashMap<String, Failures>>,
}

#[derive(Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

impl Throttle {
    fn wait_for(&self, key: &str, s: &AuthSettings) -> Option<Duration> {
        let map = self.entries.lock().ok()?;
        let f = map.get(key)?;
        let since = f.last.elapsed();
        if since > s.failure_window || f.count < s.max_failures {
            return None;
        }
        // 1 s after the threshold, doubling per further failure, capped.
        let exp = (f.count - s.max_failures).min(20);
        let wait = Duration::from_secs(1u64 << exp).min(s.max_lockout);
        wait.checked_sub(since).filter(|d| !d.is_zero())
    }

    fn fail(&self, key: String, s: &AuthSettings) {
        if let Ok(mut map) = self.entries.lock() {
            if map.len() > 100_000 {
                // Bound memory under a spray of usernames: forget stale entries first.
                map.retain(|_, f| f.last.elapsed() < s.failure_window);
            }
            let e = map.entry(key).or_insert(Failures { count: 0, last: Instant::now() });
            if e.last.elapsed() > s.failure_window {
                e.count = 0;
            }
            e.count += 1;
            e.last = Instant::now();
        }
    }

    fn clear(&self, key: &str) {
        if let Ok(mut map) = self.entries.lock() {
            map.remove(key);
        }
    }
}

/// Recently verified credentials, by digest.
#[derive(Default)]
struct CredentialCache {
    entries: Mutex<HashMap<String, (Principal, Instant)>>,
}

impl CredentialCache {
    fn get(&self, digest: &str, ttl: Duration) -> Option<Principal> {
        let map = self.entries.lock().ok()?;
        let (p, at) = map.get(digest)?;
        (at.elapsed() < ttl).then(|| p.clone())
    }

    fn put(&self, digest: String, p: Principal) {
        if let Ok(mut map) = self.entries.lock() {
            if map.len() > 10_000 {
                map.clear();
            }
            map.insert(digest, (p, Instant::now()));
        }
    }

    fn remove(&self, digest: &str) {
        if let Ok(mut map) = self.entries.lock() {
            map.remove(digest);
        }
    }

    fn remove_user(&self, user: UserId) {
        if let Ok(mut map) = self.entries.lock() {
            map.retain(|_, (p, _)| p.user_id != user);
        }
    }
}

/// Login, sessions, API tokens and password changes.
pub struct AuthService {
    users: Arc<dyn UserRepo>,
    sessions: Arc<dyn SessionRepo>,
    tokens: Arc<dyn TokenRepo>,
    audit: Arc<dyn AuditRepo>,
    settings: AuthSettings,
    throttle: Throttle,
    cache: CredentialCache,
    /// Last time a session's idle timer was written, to write at most once a minute.
    touched: Mutex<HashMap<String, Instant>>,
}

impl AuthService {
    /// Builds the service.
    pub fn new(
        users: Arc<dyn UserRepo>,
        sessions: Arc<dyn SessionRepo>,
        tokens: Arc<dyn TokenRepo>,
        audit: Arc<dyn AuditRepo>,
        settings: AuthSettings,
    ) -> Self {
        Self {
            users,
            sessions,
            tokens,
            audit,
            settings,
            throttle: Throttle::default(),
            cache: CredentialCache::default(),
            touched: Mutex::default(),
        }
    }

    /// The settings in force.
    pub fn settings(&self) -> &AuthSettings {
        &self.settings
    }

    /// Counts a self-registration from `client_ip`; past `max_failures`
    /// within the failure window, further ones from that address wait like
    /// failed logins do (each one costs an Argon2 hash).
    pub fn throttle_registration(&self, client_ip: Option<&str>) -> Result<(), ServiceError> {
        let key = format!("reg:{}", client_ip.unwrap_or("-"));
        if let Some(wait) = self.throttle.wait_for(&key, &self.settings) {
            return Err(ServiceError::Throttled { retry_after: wait.as_secs().max(1) });
        }
        self.throttle.fail(key, &self.settings);
        Ok(())
    }

    /// Checks a username and password and opens a session.
    ///
    /// Unknown users and wrong passwords take the same time and give the same
    /// error; both count towards throttling of the name and the client IP.
    #[tracing::instrument(skip_all, fields(username = %raw_username))]
    pub async fn login(
        &self,
        raw_username: &str,
        password: SecretString,
        client_ip: Option<String>,
        user_agent: Option<String>,
        request_id: Option<String>,
    ) -> Result<LoginSession, ServiceError> {
        let name_key = format!("u:{}", raw_username.trim().to_ascii_lowercase());
        let ip_key = format!("ip:{}", client_ip.as_deref().unwrap_or("-"));
        let wait = [&name_key, &ip_key].iter().filter_map(|k| self.throttle.wait_for(k, &self.settings)).max();
        if let Some(wait) = wait {
            return Err(ServiceError::Throttled { retry_after: wait.as_secs().max(1) });
        }
        let found = match Username::parse(raw_username) {
            Ok(name) => self.users.find_for_login(&name).await?,
            Err(_) => None,
        };
        let (user, hash) = match found {
            Some((u, h)) => (Some(u), h),
            None => (None, crate::password::decoy_hash().to_string()),
        };
        let ok = verify_blocking(password, hash).await? && user.as_ref().is_some_and(|u| !u.disabled);
        let actor = Actor {
            user_id: user.as_ref().map(|u| u.id),
            name: raw_username.chars().take(64).collect(),
            role: user.as_ref().map(|u| u.role),
            request_id: request_id.clone(),
            client_ip: client_ip.clone(),
        };
        let Some(user) = user.filter(|_| ok) else {
            self.throttle.fail(name_key, &self.settings);
            self.throttle.fail(ip_key, &self.settings);
            let mut record = Record::new(
                Severity::Warning,
                "auth",
                "auth.login_failed",
                format!("Failed login for '{}' from {}", actor.name, client_ip.as_deref().unwrap_or("an unknown address")),
            )
            .details(json!({ "client_ip": client_ip, "request_id": request_id }))
            .audience(Role::Admin);
            // An unknown name is not an entity, but it is what the operator searches for.
            match actor.user_id {
                Some(id) => record = record.entity("user", id, Some(&actor.name)),
                None => record.entity_name = Some(actor.name.clone()),
            }
            let trail = Trail::audit(AuditDraft::new(&actor, "auth.login_failed", "session", None, json!({"username": actor.name})))
                .with_record(record);
            self.audit.write(trail).await?;
            return Err(ServiceError::InvalidCredentials);
        };
        self.throttle.clear(&name_key);
        self.throttle.clear(&ip_key);
        let cookie = tokens::random_token(32);
        let digest = tokens::digest(&cookie);
        let now = Utc::now();
        let expires_at = now + chrono::Duration::from_std(self.settings.session_ttl).unwrap_or_default();
        let csrf_token = tokens::random_token(32);
        self.sessions
            .create(SessionRecord {
                digest,
                user_id: user.id,
                csrf_token: csrf_token.clone(),
                expires_at,
                last_seen_at: now,
                created_at: now,
                client_ip,
                user_agent,
            })
            .await?;
        self.users.touch_login(user.id, now).await?;
        let record = Record::new(
            Severity::Info,
            "auth",
            "auth.login",
            format!("{} logged in from {}", user.username, actor.client_ip.as_deref().unwrap_or("an unknown address")),
        )
        .entity("user", user.id, Some(user.username.as_str()))
        .details(json!({ "client_ip": actor.client_ip, "request_id": request_id }))
        .audience(Role::Admin);
        let trail =
            Trail::audit(AuditDraft::new(&actor, "auth.login", "session", Some(user.id.to_string()), json!({}))).with_record(record);
        self.audit.write(trail).await?;
        Ok(LoginSession { cookie: SecretString::from(cookie), csrf_token, user, expires_at })
    }

    /// Ends the caller's session.
    pub async fn logout(&self, principal: &Principal, actor: &Actor) -> Result<(), ServiceError> {
        let Credential::Session { digest, .. } = &principal.credential else {
            return Err(ServiceError::InvalidState("logout ends a browser session; revoke API tokens instead".into()));
        };
        self.cache.remove(digest);
        let trail = Trail::audit(AuditDraft::new(actor, "auth.logout", "session", Some(principal.user_id.to_string()), json!({})))
            .with_event(CredentialRevoked { digest: Some(digest.clone()), token_id: None }.draft());
        self.sessions.delete(digest, trail).await?;
        Ok(())
    }

    /// Resolves a session cookie.
    pub async fn authenticate_session(&self, cookie: &str) -> Result<Principal, ServiceError> {
        let digest = tokens::digest(cookie);
        if let Some(p) = self.cache.get(&digest, self.settings.cache_ttl) {
            return Ok(p);
        }
        let Some((session, user)) = self.sessions.find(&digest).await? else {
            return Err(ServiceError::Unauthenticated("session expired or unknown"));
        };
        let now = Utc::now();
        let idle = chrono::Duration::from_std(self.settings.session_idle).unwrap_or_default();
        if session.expires_at <= now || session.last_seen_at + idle <= now {
            return Err(ServiceError::Unauthenticated("session expired"));
        }
        if user.disabled {
            return Err(ServiceError::Unauthenticated("account disabled"));
        }
        self.touch_session(&digest, now).await;
        let p = Principal {
            user_id: user.id,
            username: user.username.to_string(),
            display_name: user.display_name.clone(),
            role: user.role,
            credential: Credential::Session { digest: digest.clone(), csrf_token: session.csrf_token },
        };
        self.cache.put(digest, p.clone());
        Ok(p)
    }

    async fn touch_session(&self, digest: &str, now: DateTime<Utc>) {
        let due = self
            .touched
            .lock()
            .map(|mut m| {
                let due = m.get(digest).is_none_or(|t| t.elapsed() > Duration::from_secs(60));
                if due {
                    if m.len() > 10_000 {
                        m.clear();
                    }
                    m.insert(digest.to_string(), Instant::now());
                }
                due
            })
            .unwrap_or(false);
        if due && let Err(e) = self.sessions.touch(digest, now).await {
            tracing::warn!(error = %e, "cannot update session idle timer");
        }
    }

    /// Resolves a bearer token.
    pub async fn authenticate_token(&self, token: &str) -> Result<Principal, ServiceError> {
        if !token.starts_with(API_TOKEN_PREFIX) {
            return Err(ServiceError::Unauthenticated("malformed API token"));
        }
        let digest = tokens::digest(token);
        if let Some(p) = self.cache.get(&digest, self.settings.cache_ttl) {
            return Ok(p);
        }
        let Some((info, user)) = self.tokens.find(&digest).await? else {
            return Err(ServiceError::Unauthenticated("unknown API token"));
        };
        let now = Utc::now();
        if info.revoked_at.is_some() {
            return Err(ServiceError::Unauthenticated("API token revoked"));
        }
        if info.expires_at.is_some_and(|e| e <= now) {
            return Err(ServiceError::Unauthenticated("API token expired"));
        }
        if user.disabled {
            return Err(ServiceError::Unauthenticated("account disabled"));
        }
        if info.last_used_at.is_none_or(|t| now - t > chrono::Duration::seconds(60))
            && let Err(e) = self.tokens.touch(info.id, now).await
        {
            tracing::warn!(error = %e, "cannot record token use");
        }
        let p = Principal {
            user_id: user.id,
            username: user.username.to_string(),
            display_name: user.display_name.clone(),
            // A token never acts above its owner's current role.
            role: info.role.min(user.role),
            credential: Credential::Token { id: info.id, digest: digest.clone() },
        };
        self.cache.put(digest, p.clone());
        Ok(p)
    }

    /// Changes the caller's own password after checking the current one, and
    /// ends their other sessions.
    pub async fn change_own_password(
        &self,
        principal: &Principal,
        current: SecretString,
        new: SecretString,
        actor: &Actor,
    ) -> Result<(), ServiceError> {
        let new = NewPassword::parse(new).map_err(|m| ServiceError::field("new_password", m))?;
        let hash = self.users.password_hash(principal.user_id).await?;
        if !verify_blocking(current, hash).await? {
            return Err(ServiceError::field("current_password", "is not correct"));
        }
        let new_hash = hash_blocking(new.secret().clone()).await?;
        let user = self.users.get(principal.user_id).await?;
        let trail = Trail::audit(AuditDraft::new(actor, "user.password_change", "user", Some(user.id.to_string()), json!({})))
            .with_event(UserChanged { user_id: user.id, change: "password".into() }.draft());
        self.users.update(user.id, user.version, UserPatch { password_hash: Some(new_hash), ..Default::default() }, trail).await?;
        let keep = match &principal.credential {
            Credential::Session { digest, .. } => Some(digest.as_str()),
            Credential::Token { .. } => None,
        };
        for d in self.sessions.delete_for_user(user.id, keep).await? {
            self.cache.remove(&d);
        }
        Ok(())
    }

    /// Creates an API token for the caller. Returns the metadata and the
    /// token itself, which is shown once and stored only as a digest.
    pub async fn create_token(
        &self,
        principal: &Principal,
        name: &str,
        role: Option<Role>,
        expires_at: Option<DateTime<Utc>>,
        actor: &Actor,
    ) -> Result<(TokenInfo, SecretString), ServiceError> {
        let mut errors = Vec::new();
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            errors.push(crate::FieldError::new("name", "must be 1 to 100 characters without control characters"));
        }
        let role = role.unwrap_or(principal.role);
        if !principal.role.allows(role) {
            errors.push(crate::FieldError::new("role", format!("cannot exceed your own role ({})", principal.role)));
        }
        let now = Utc::now();
        if let Some(e) = expires_at {
            let max = now + chrono::Duration::from_std(self.settings.max_token_ttl).unwrap_or_default();
            if e <= now {
                errors.push(crate::FieldError::new("expires_at", "must be in the future"));
            } else if e > max {
                errors.push(crate::FieldError::new("expires_at", "must be within two years"));
            }
        }
        if !errors.is_empty() {
            return Err(ServiceError::Validation(errors));
        }
        let secret = format!("{API_TOKEN_PREFIX}{}", tokens::random_token(32));
        let prefix: String = secret.chars().take(API_TOKEN_PREFIX.len() + 6).collect();
        let new = NewToken {
            user_id: principal.user_id,
            name: name.to_string(),
            prefix: prefix.clone(),
            digest: tokens::digest(&secret),
            role,
            expires_at,
        };
        let summary = json!({"after": {"name": name, "role": role, "prefix": prefix, "expires_at": expires_at}});
        let trail = Trail::audit(AuditDraft::new(actor, "token.create", "token", None, summary));
        let info = self.tokens.create(new, trail).await?;
        Ok((info, SecretString::from(secret)))
    }

    /// Lists the caller's tokens (admins may list everyone's with `all`).
    pub async fn list_tokens(&self, principal: &Principal, all: bool, page: PageRequest) -> Result<Page<TokenInfo>, ServiceError> {
        if all {
            principal.require(Role::Admin)?;
            return Ok(self.tokens.list(None, page).await?);
        }
        Ok(self.tokens.list(Some(principal.user_id), page).await?)
    }

    /// Revokes a token owned by the caller (admins: any token).
    pub async fn revoke_token(&self, principal: &Principal, id: TokenId, actor: &Actor) -> Result<TokenInfo, ServiceError> {
        let info = self.tokens.get(id).await.map_err(|e| not_found(e, "token"))?;
        if info.user_id != principal.user_id && principal.role != Role::Admin {
            // Same answer as a missing token: do not reveal other users' token ids.
            return Err(ServiceError::NotFound("token"));
        }
        if info.revoked_at.is_some() {
            return Ok(info);
        }
        // The outbox event makes other replicas drop the token from their caches.
        let trail = Trail::audit(AuditDraft::new(actor, "token.revoke", "token", Some(id.to_string()), json!({"name": info.name})))
            .with_event(CredentialRevoked { digest: None, token_id: Some(id) }.draft());
        let digest = self.tokens.revoke(id, Utc::now(), trail).await?;
        self.cache.remove(&digest);
        Ok(self.tokens.get(id).await?)
    }

    /// Drops every cached credential of a user (role change, disable, password reset).
    pub fn forget_user(&self, user: UserId) {
        self.cache.remove_user(user);
    }

    /// Drops a cached API token by id.
    pub fn forget_token(&self, id: TokenId) {
        if let Ok(mut map) = self.cache.entries.lock() {
            map.retain(|_, (p, _)| !matches!(&p.credential, Credential::Token { id: t, .. } if *t == id));
        }
    }

    /// Drops one cached credential by digest.
    pub fn forget_digest(&self, digest: &str) {
        self.cache.remove(digest);
    }

    /// Ends all sessions of a user (after disabling or a password reset by an admin).
    pub async fn end_sessions(&self, user: UserId) -> Result<(), ServiceError> {
        for d in self.sessions.delete_for_user(user, None).await? {
            self.cache.remove(&d);
        }
        self.cache.remove_user(user);
        Ok(())
    }
}

/// Keeps replicas' credential caches in step with revocations written elsewhere.
pub struct CacheInvalidator(pub Arc<AuthService>);

impl EventHandler for CacheInvalidator {
    fn handle(&self, event: &Event) {
        match event.kind.as_str() {
            k if k == CredentialRevoked::KIND => {
                if let Some(d) = event.payload.get("digest").and_then(|v| v.as_str()) {
                    self.0.forget_digest(d);
                }
                if let Some(id) = event.payload.get("token_id").and_then(|v| v.as_i64()) {
                    self.0.forget_token(TokenId(id));
                }
            }
            k if k == UserChanged::KIND => {
                if let Some(id) = event.payload.get("user_id").and_then(|v| v.as_i64()) {
                    self.0.forget_user(UserId(id));
                }
            }
            _ => {}
        }
    }
}

fn not_found(e: crate::StoreError, what: &'static str) -> ServiceError {
    match e {
        crate::StoreError::NotFound => ServiceError::NotFound(what),
        other => other.into(),
    }
}

/// Verifies a password off the async runtime.
pub async fn verify_blocking(password: SecretString, hash: String) -> Result<bool, ServiceError> {
    tokio::task::spawn_blocking(move || crate::password::verify(&password, &hash))
        .await
        .map_err(|e| ServiceError::Internal(format!("password check task failed: {e}")))
}

/// Hashes a password off the async runtime.
pub async fn hash_blocking(password: SecretString) -> Result<String, ServiceError> {
    tokio::task::spawn_blocking(move || crate::password::hash(&password))
        .await
        .map_err(|e| ServiceError::Internal(format!("password hash task failed: {e}")))?
        .map_err(|e| ServiceError::Internal(e.to_string()))
}

/// Exposes nothing secret in `Debug` output of a session.
impl std::fmt::Display for LoginSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "session for {} until {}", self.user.username, self.expires_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_kicks_in_after_threshold_and_doubles() {
        let s = AuthSettings { max_failures: 3, ..Default::default() };
        let t = Throttle::default();
        for _ in 0..2 {
            t.fail("u:a".into(), &s);
        }
        assert!(t.wait_for("u:a", &s).is_none());
        t.fail("u:a".into(), &s);
        let w1 = t.wait_for("u:a", &s).unwrap_or_default();
        assert!(w1 > Duration::ZERO && w1 <= Duration::from_secs(1));
        t.fail("u:a".into(), &s);
        let w2 = t.wait_for("u:a", &s).unwrap_or_default();
        assert!(w2 > Duration::from_secs(1) && w2 <= Duration::from_secs(2));
        t.clear("u:a");
        assert!(t.wait_for("u:a", &s).is_none());
        assert!(t.wait_for("u:other", &s).is_none());
    }
}
