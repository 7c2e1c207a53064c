//! Typed domain events, the transactional outbox they are written to, and the
//! in-process bus that fans them out to SSE clients and event handlers.
//!
//! Events are rows in the database first. Every replica runs a relay that
//! tails the table and publishes new rows on its local bus, so a client
//! connected to replica A sees progress of a job running on replica B, and an
//! event written in the same transaction as a change is never lost if the
//! process stops right after the commit.

use crate::eventlog::Record;
use crate::ids::{EventId, UserId};
use crate::repo::EventRepo;
use crate::user::Role;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, broadcast};
use tokio_util::sync::CancellationToken;

/// How long the relay waits for an id gap to fill before passing it.
const GAP_GRACE_MS: i64 = 1500;

/// A typed event a module emits. Its `KIND` is the stable, dotted name clients filter on.
pub trait DomainEvent: Serialize {
    /// Stable kind, e.g. `job.updated`, `user.changed`, `domain.changed`.
    const KIND: &'static str;
    /// The entity the event is about, as `(type, id)`.
    fn entity(&self) -> Option<(&'static str, String)>;
    /// The lowest role allowed to see it on the event stream; `None` keeps it internal.
    fn audience(&self) -> Option<Role> {
        Some(Role::Viewer)
    }
    /// Restricts it to one user (plus admins), e.g. for personal notifications.
    fn owner(&self) -> Option<UserId> {
        None
    }
    /// The event-log entry this change deserves, if any; written in the same transaction.
    fn record(&self) -> Option<Record> {
        None
    }
    /// Converts it into a draft for the outbox.
    fn draft(&self) -> EventDraft {
        let (entity_type, entity_id) = match self.entity() {
            Some((t, id)) => (Some(t.to_string()), Some(id)),
            None => (None, None),
        };
        let mut payload = serde_json::to_value(self).unwrap_or(Value::Null);
        crate::audit::redact(&mut payload);
        EventDraft {
            kind: Self::KIND.to_string(),
            entity_type,
            entity_id,
            audience: self.audience(),
            owner: self.owner(),
            payload,
            record: self.record(),
        }
    }
}

/// An event about to be written to the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct EventDraft {
    /// Dotted kind.
    pub kind: String,
    /// Entity type.
    pub entity_type: Option<String>,
    /// Entity id.
    pub entity_id: Option<String>,
    /// Lowest role that may see it; `None` = internal only.
    pub audience: Option<Role>,
    /// Only this user (and admins) may see it.
    pub owner: Option<UserId>,
    /// Event body, secrets redacted.
    pub payload: Value,
    /// The event-log entry written with it.
    pub record: Option<Record>,
}

/// A stored event.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Event {
    /// Monotonic id; SSE clients resume with `Last-Event-ID`.
    #[schema(value_type = i64)]
    pub id: EventId,
    /// When it was written.
    pub at: DateTime<Utc>,
    /// Dotted kind.
    pub kind: String,
    /// Entity type.
    pub entity_type: Option<String>,
    /// Entity id.
    pub entity_id: Option<String>,
    /// Lowest role that may see it; `None` = internal only.
    #[serde(skip)]
    pub audience: Option<Role>,
    /// Only this user (and admins) may see it.
    #[serde(skip)]
    #[schema(ignore)]
    pub owner: Option<UserId>,
    /// Event body.
    pub payload: Value,
}

impl Event {
    /// Whether a caller with `role` (and id `user`) may see this event.
    pub fn visible_to(&self, user: crate::ids::UserId, role: Role) -> bool {
        let Some(min) = self.audience else {
            return false;
        };
        if !role.allows(min) {
            return false;
        }
        match self.owner {
            Some(owner) => owner == user || role == Role::Admin,
            None => true,
        }
    }
}

/// Reacts to events on this replica (cache invalidation, reconciliation triggers).
pub trait EventHandler: Send + Sync {
    /// Called for every event the relay publishes; must not block.
    fn handle(&self, event: &Event);
}

/// The in-process fan-out of stored events.
#[derive(Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Arc<Event>>,
    wake: Arc<Notify>,
    handlers: Arc<std::sync::RwLock<Vec<Arc<dyn EventHandler>>>>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new()
    }
}

impl EventBus {
    /// A bus whose subscribers may lag by up to 1024 events before missing some.
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(1024);
        Self { tx, wake: Arc::new(Notify::new()), handlers: Arc::default() }
    }

    /// Subscribes to events published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }

    /// Registers a handler called for every published event.
    pub fn add_handler(&self, handler: Arc<dyn EventHandler>) {
        if let Ok(mut hs) = self.handlers.write() {
            hs.push(handler);
        }
    }

    /// Tells the relay that this replica just wrote events, so they are
    /// published at once instead of at the next poll.
    pub fn notify_written(&self) {
        self.wake.notify_one();
    }

    fn publish(&self, event: Event) {
        let event = Arc::new(event);
        if let Ok(hs) = self.handlers.read() {
            for h in hs.iter() {
                h.handle(&event);
            }
        }
        // No subscribers is fine: nobody is watching right now.
        let _ = self.tx.send(event);
    }

    /// Tails the event table and publishes new rows until `shutdown`.
    ///
    /// Starts after the newest existing event, so a restart does not replay
    /// history to live clients (they resume with `Last-Event-ID` instead).
    pub async fn relay(self, repo: Arc<dyn EventRepo>, poll: Duration, shutdown: CancellationToken) {
        let mut last = loop {
            match repo.latest_id().await {
                Ok(id) => break id,
                Err(e) => {
                    tracing::warn!(error = %e, "event relay cannot read the event table; retrying");
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(poll) => {}
                    }
                }
            }
        };
        loop {
            match repo.after(last, 500).await {
                Ok(batch) => {
                    let full = batch.len() == 500;
                    let mut held = false;
                    for ev in batch {
                        // Ids are allocated before commit, so a younger id can
                        // become visible before an older one. Hold at a gap
                        // briefly so the older event is not skipped; a gap that
                        // persists (rolled-back insert, pruned row) is passed.
                        let gap = ev.id.0 > last.0 + 1;
                        if gap && Utc::now() - ev.at < chrono::Duration::milliseconds(GAP_GRACE_MS) {
                            held = true;
                            break;
                        }
                        last = ev.id;
                        self.publish(ev);
                    }
                    if full && !held {
                        continue;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "event relay poll failed"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(poll) => {}
            }
        }
    }
}

/// A job changed state or reported progress.
#[derive(Debug, Clone, Serialize)]
pub struct JobUpdated {
    /// The job.
    pub job_id: crate::ids::JobId,
    /// Its kind.
    pub kind: String,
    /// Its status.
    pub status: crate::jobs::JobStatus,
    /// 0–100.
    pub progress: i32,
    /// The latest progress message.
    pub message: Option<String>,
    /// Who started it (it is visible to them and to admins, and to operators/viewers by audience).
    #[serde(skip)]
    pub audience: Role,
}

impl DomainEvent for JobUpdated {
    const KIND: &'static str = "job.updated";
    fn entity(&self) -> Option<(&'static str, String)> {
        Some(("job", self.job_id.to_string()))
    }
    fn audience(&self) -> Option<Role> {
        Some(self.audience)
    }
}

/// A user account changed (role, disabled, password); replicas drop cached credentials.
#[derive(Debug, Clone, Serialize)]
pub struct UserChanged {
    /// The user.
    pub user_id: UserId,
    /// What changed, e.g. `role`, `disabled`, `password`.
    pub change: String,
}

impl DomainEvent for UserChanged {
    const KIND: &'static str = "user.changed";
    fn entity(&self) -> Option<(&'static str, String)> {
        Some(("user", self.user_id.to_string()))
    }
    fn audience(&self) -> Option<Role> {
        Some(Role::Admin)
    }
}

/// Credentials were revoked (logout, token revocation); replicas drop them from caches at once.
#[derive(Debug, Clone, Serialize)]
pub struct CredentialRevoked {
    /// The digest of a revoked session id; never the secret itself.
    pub digest: Option<String>,
    /// A revoked API token.
    pub token_id: Option<crate::ids::TokenId>,
}

impl DomainEvent for CredentialRevoked {
    const KIND: &'static str = "auth.revoked";
    fn entity(&self) -> Option<(&'static str, String)> {
        None
    }
    fn audience(&self) -> Option<Role> {
        None
    }
}
