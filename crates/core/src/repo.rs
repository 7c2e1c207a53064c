//! Repository traits: the only way services reach persistence.
//!
//! The store crate implements them with sea-orm for SQLite, MySQL/MariaDB and
//! PostgreSQL. Every mutating method takes a [`Trail`]: the audit record and
//! outbox events that must be committed in the same transaction as the
//! change itself, so a change is never stored without its trail (or the
//! other way round).

use crate::StoreError;
use crate::audit::{AuditDraft, AuditFilter, AuditRecord};
use crate::events::{Event, EventDraft};
use crate::ids::{EventId, JobId, TokenId, UserId};
use crate::jobs::{Job, JobFilter, LogLine, NewJob, Outcome};
use crate::page::{Page, PageRequest};
use crate::user::{NewUser, Role, User, UserPatch, Username};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::time::Duration;

/// Result alias for repositories.
pub type StoreResult<T> = Result<T, StoreError>;

/// What is written alongside a change, in the same transaction.
#[derive(Debug, Clone, Default)]
pub struct Trail {
    /// The audit record (every mutation by a person has one).
    pub audit: Option<AuditDraft>,
    /// Outbox events for the relay.
    pub events: Vec<EventDraft>,
    /// Event-log entries that need no outbox event of their own.
    pub records: Vec<crate::eventlog::Record>,
}

impl Trail {
    /// A trail with just an audit record.
    pub fn audit(draft: AuditDraft) -> Self {
        Self { audit: Some(draft), events: Vec::new(), records: Vec::new() }
    }

    /// Adds an outbox event.
    pub fn with_event(mut self, event: EventDraft) -> Self {
        self.events.push(event);
        self
    }

    /// Adds an event-log entry.
    pub fn with_record(mut self, record: crate::eventlog::Record) -> Self {
        self.records.push(record);
        self
    }
}

/// Filters for listing users.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    /// Substring of username or display name.
    pub q: Option<String>,
    /// Only this role.
    pub role: Option<Role>,
    /// Only disabled (true) or enabled (false) users.
    pub disabled: Option<bool>,
    /// Order; default by id ascending.
    pub sort: Option<crate::page::Sort<UserSort>>,
}

/// Fields users can be sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserSort {
    /// Creation order.
    Id,
    /// Login name.
    Username,
    /// Role.
    Role,
}

impl UserSort {
    /// The names accepted in `?sort=`.
    pub const ALLOWED: &'static [(&'static str, UserSort)] =
        &[("id", UserSort::Id), ("created_at", UserSort::Id), ("username", UserSort::Username), ("role", UserSort::Role)];
}

/// Users and their password hashes.
#[async_trait]
pub trait UserRepo: Send + Sync {
    /// Creates a user; `Conflict{field:"username"}` if the name is taken.
    async fn create(&self, user: NewUser, trail: Trail) -> StoreResult<User>;
    /// One user by id.
    async fn get(&self, id: UserId) -> StoreResult<User>;
    /// A user and its password hash by login name.
    async fn find_for_login(&self, username: &Username) -> StoreResult<Option<(User, String)>>;
    /// The password hash of a user.
    async fn password_hash(&self, id: UserId) -> StoreResult<String>;
    /// Lists users by ascending id.
    async fn list(&self, filter: &UserFilter, page: PageRequest) -> StoreResult<Page<User>>;
    /// Applies a patch if the stored version still equals `expected_version`.
    async fn update(&self, id: UserId, expected_version: i64, patch: UserPatch, trail: Trail) -> StoreResult<User>;
    /// Records a successful login.
    async fn touch_login(&self, id: UserId, at: DateTime<Utc>) -> StoreResult<()>;
    /// Number of enabled admins (so the last one cannot be demoted or disabled).
    async fn count_active_admins(&self) -> StoreResult<u64>;
    /// Number of users at all (first-start bootstrap).
    async fn count(&self) -> StoreResult<u64>;
}

/// A stored browser session, found by the digest of its cookie value.
#[derive(Debug, Clone)]
pub struct SessionRecord {
    /// SHA-256 of the cookie value.
    pub digest: String,
    /// Owner.
    pub user_id: UserId,
    /// The CSRF token mutating requests must echo.
    pub csrf_token: String,
    /// Absolute expiry.
    pub expires_at: DateTime<Utc>,
    /// Last request seen (throttled), for idle expiry.
    pub last_seen_at: DateTime<Utc>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Client address at login.
    pub client_ip: Option<String>,
    /// Browser at login.
    pub user_agent: Option<String>,
}

/// Browser sessions.
#[async_trait]
pub trait SessionRepo: Send + Sync {
    /// Stores a new session.
    async fn create(&self, session: SessionRecord) -> StoreResult<()>;
    /// Finds a session and its user.
    async fn find(&self, digest: &str) -> StoreResult<Option<(SessionRecord, User)>>;
    /// Updates the idle timer.
    async fn touch(&self, digest: &str, at: DateTime<Utc>) -> StoreResult<()>;
    /// Deletes one session.
    async fn delete(&self, digest: &str, trail: Trail) -> StoreResult<()>;
    /// Deletes all sessions of a user except `keep`; returns the removed digests.
    async fn delete_for_user(&self, user: UserId, keep: Option<&str>) -> StoreResult<Vec<String>>;
    /// Removes expired sessions.
    async fn prune(&self, now: DateTime<Utc>, idle_before: DateTime<Utc>) -> StoreResult<u64>;
}

/// An API token's metadata (never the token itself).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TokenInfo {
    /// Id.
    #[schema(value_type = i64)]
    pub id: TokenId,
    /// Owner.
    #[schema(value_type = i64)]
    pub user_id: UserId,
    /// Owner-chosen label.
    pub name: String,
    /// The first characters of the token, to recognize it.
    pub prefix: String,
    /// Role the token acts with (never above its owner's current role).
    pub role: Role,
    /// Expiry.
    pub expires_at: Option<DateTime<Utc>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last successful use (updated at most once a minute).
    pub last_used_at: Option<DateTime<Utc>>,
    /// Revocation time; a revoked token never authenticates again.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A token to store.
#[derive(Debug, Clone)]
pub struct NewToken {
    /// Owner.
    pub user_id: UserId,
    /// Label.
    pub name: String,
    /// Display prefix.
    pub prefix: String,
    /// SHA-256 of the token.
    pub digest: String,
    /// Role.
    pub role: Role,
    /// Expiry.
    pub expires_at: Option<DateTime<Utc>>,
}

/// API tokens.
#[async_trait]
pub trait TokenRepo: Send + Sync {
    /// Stores a token.
    async fn create(&self, token: NewToken, trail: Trail) -> StoreResult<TokenInfo>;
    /// Finds a token by digest, with its owner.
    async fn find(&self, digest: &str) -> StoreResult<Option<(TokenInfo, User)>>;
    /// One token.
    async fn get(&self, id: TokenId) -> StoreResult<TokenInfo>;
    /// Tokens of a user (or all, for admins), newest first.
    async fn list(&self, user: Option<UserId>, page: PageRequest) -> StoreResult<Page<TokenInfo>>;
    /// Revokes a token; returns its digest so caches can drop it.
    async fn revoke(&self, id: TokenId, at: DateTime<Utc>, trail: Trail) -> StoreResult<String>;
    /// Records a use.
    async fn touch(&self, id: TokenId, at: DateTime<Utc>) -> StoreResult<()>;
}

/// The append-only audit log.
#[async_trait]
pub trait AuditRepo: Send + Sync {
    /// Appends a record on its own (for events without another change, e.g. a failed login).
    async fn append(&self, draft: AuditDraft) -> StoreResult<()>;
    /// Writes a trail (audit record and outbox events) on its own, for changes that have no row of their own.
    async fn write(&self, trail: Trail) -> StoreResult<()>;
    /// Lists records, newest first.
    async fn list(&self, filter: &AuditFilter, page: PageRequest) -> StoreResult<Page<AuditRecord>>;
}

/// The event outbox.
#[async_trait]
pub trait EventRepo: Send + Sync {
    /// Appends an event on its own.
    async fn append(&self, draft: EventDraft) -> StoreResult<EventId>;
    /// Events with id greater than `after`, ascending, at most `limit`.
    async fn after(&self, after: EventId, limit: u64) -> StoreResult<Vec<Event>>;
    /// The newest id (0 when empty).
    async fn latest_id(&self) -> StoreResult<EventId>;
    /// Deletes events older than `before`.
    async fn prune(&self, before: DateTime<Utc>) -> StoreResult<u64>;
    /// Writes an event-log entry on its own (and its `event.recorded` announcement).
    async fn record(&self, record: crate::eventlog::Record) -> StoreResult<crate::eventlog::EventLogEntry>;
    /// Event-log entries, newest first.
    async fn list_records(
        &self,
        filter: &crate::eventlog::EventLogFilter,
        page: crate::page::PageRequest,
    ) -> StoreResult<crate::page::Page<crate::eventlog::EventLogEntry>>;
    /// Entry counts by severity since `since`, for the dashboard.
    async fn count_records(&self, since: DateTime<Utc>, visible_to: Role) -> StoreResult<Vec<(crate::eventlog::Severity, u64)>>;
    /// Deletes event-log entries older than `before`.
    async fn prune_records(&self, before: DateTime<Utc>) -> StoreResult<u64>;
}

/// The durable job queue.
#[async_trait]
pub trait JobRepo: Send + Sync {
    /// Enqueues a job.
    async fn enqueue(&self, job: NewJob, trail: Trail) -> StoreResult<Job>;
    /// Atomically claims the next due job of one of `kinds` (queued and due,
    /// or running with an expired lease) for `owner`, counting an attempt.
    async fn claim(&self, owner: &str, kinds: &[String], lease: Duration) -> StoreResult<Option<Job>>;
    /// Extends the lease; `false` if `owner` no longer holds it.
    async fn renew(&self, id: JobId, owner: &str, lease: Duration) -> StoreResult<bool>;
    /// Records progress; `false` if `owner` no longer holds the lease.
    async fn progress(&self, id: JobId, owner: &str, percent: i32, message: Option<&str>, line: Option<LogLine>) -> StoreResult<bool>;
    /// Appends a log line.
    async fn append_log(&self, id: JobId, owner: &str, line: LogLine) -> StoreResult<bool>;
    /// Records the outcome of an attempt; `None` if the lease was lost.
    async fn finish(&self, id: JobId, owner: &str, outcome: Outcome) -> StoreResult<Option<Job>>;
    /// Cancels a queued or running job.
    async fn cancel(&self, id: JobId, trail: Trail) -> StoreResult<Job>;
    /// One job.
    async fn get(&self, id: JobId) -> StoreResult<Job>;
    /// Jobs, newest first.
    async fn list(&self, filter: &JobFilter, page: PageRequest) -> StoreResult<Page<Job>>;
    /// Counts by status, for metrics.
    async fn counts(&self) -> StoreResult<Vec<(String, crate::jobs::JobStatus, u64)>>;
    /// When the oldest queued job that is due became due (`None` when nothing waits).
    async fn oldest_due(&self) -> StoreResult<Option<DateTime<Utc>>>;
}
