//! The event log: what happened in the fleet, for people.
//!
//! The outbox ([`crate::events`]) carries machine events between replicas
//! and is pruned after days; the event log keeps a readable record of what
//! mattered (a server going down, an apply rolled back, a certificate
//! renewed, a deployment failing, a login) with a severity, the module that
//! saw it, the entity and job it is about, a message and details.
//!
//! A [`Record`] is written in the same transaction as the change it
//! describes: a [`crate::events::DomainEvent`] may carry one (see
//! [`crate::events::DomainEvent::record`]), and the store writes it next to
//! the outbox event. Standalone observations (a collection failing, a login)
//! go through [`crate::repo::EventRepo::record`]. Each entry is also
//! announced on the outbox as `event.recorded`, so panels follow the log
//! live on every replica. Details pass through [`crate::audit::redact`], so
//! a secret-looking key never reaches the table.

use crate::ids::{EventId, JobId};
use crate::user::Role;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The outbox kind that announces a new entry.
pub const RECORDED_KIND: &str = "event.recorded";

/// How much an entry matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Normal operation worth keeping (an apply went live, a certificate was issued).
    Info,
    /// Something needs a look but nothing is down (drift, a failed login, a retry).
    Warning,
    /// Something failed (a server unreachable, an apply rolled back, a job failed).
    Error,
}

impl Severity {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Error => "error",
        }
    }

    /// The stored rank; filters use "at least".
    pub fn rank(self) -> i16 {
        match self {
            Self::Info => 1,
            Self::Warning => 2,
            Self::Error => 3,
        }
    }

    /// The severity of a stored rank.
    pub fn from_rank(rank: i16) -> Option<Self> {
        match rank {
            1 => Some(Self::Info),
            2 => Some(Self::Warning),
            3 => Some(Self::Error),
            _ => None,
        }
    }
}

impl std::str::FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "info" => Ok(Self::Info),
            "warning" => Ok(Self::Warning),
            "error" => Ok(Self::Error),
            other => Err(format!("unknown severity '{other}': use info, warning or error")),
        }
    }
}

/// An entry about to be written.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Severity.
    pub severity: Severity,
    /// The module that saw it (`servers`, `proxy`, `tls`, `pve`, `jobs`, `auth`, `monitoring`, ...).
    pub module: &'static str,
    /// Stable dotted kind, e.g. `server.down`, `proxy.rolled_back`.
    pub kind: String,
    /// The entity type it is about, e.g. `server`.
    pub entity_type: Option<String>,
    /// The entity's id.
    pub entity_id: Option<String>,
    /// The entity's name when it was written (kept if the entity is renamed or deleted).
    pub entity_name: Option<String>,
    /// The job it belongs to.
    pub job_id: Option<JobId>,
    /// One readable sentence.
    pub message: String,
    /// Structured details (redacted before writing).
    pub details: Value,
    /// The lowest role that may read it.
    pub audience: Role,
}

impl Record {
    /// A new entry visible to viewers.
    pub fn new(severity: Severity, module: &'static str, kind: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            severity,
            module,
            kind: kind.into(),
            entity_type: None,
            entity_id: None,
            entity_name: None,
            job_id: None,
            message: message.into(),
            details: Value::Null,
            audience: Role::Viewer,
        }
    }

    /// Names the entity it is about.
    pub fn entity(mut self, entity_type: &str, id: impl ToString, name: Option<&str>) -> Self {
        self.entity_type = Some(entity_type.to_string());
        self.entity_id = Some(id.to_string());
        self.entity_name = name.map(str::to_string);
        self
    }

    /// Links the job it belongs to.
    pub fn job(mut self, job: Option<JobId>) -> Self {
        self.job_id = job;
        self
    }

    /// Attaches details; secret-looking keys are redacted.
    pub fn details(mut self, mut details: Value) -> Self {
        crate::audit::redact(&mut details);
        self.details = details;
        self
    }

    /// Restricts who may read it.
    pub fn audience(mut self, role: Role) -> Self {
        self.audience = role;
        self
    }
}

/// A stored entry.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EventLogEntry {
    /// Monotonic id (also the pagination key).
    #[schema(value_type = i64)]
    pub id: EventId,
    /// When it was written.
    pub at: DateTime<Utc>,
    /// Severity.
    pub severity: Severity,
    /// The module that saw it.
    pub module: String,
    /// Stable dotted kind.
    pub kind: String,
    /// Entity type.
    pub entity_type: Option<String>,
    /// Entity id.
    pub entity_id: Option<String>,
    /// The entity's name when written.
    pub entity_name: Option<String>,
    /// The job it belongs to.
    #[schema(value_type = Option<i64>)]
    pub job_id: Option<JobId>,
    /// One readable sentence.
    pub message: String,
    /// Structured details, secrets redacted.
    pub details: Value,
    /// The lowest role that may read it.
    #[serde(skip)]
    #[schema(ignore)]
    pub audience: Role,
}

/// Filters for the event log; all optional, combined with AND.
#[derive(Debug, Clone)]
pub struct EventLogFilter {
    /// Only these modules.
    pub modules: Vec<String>,
    /// At least this severity.
    pub min_severity: Option<Severity>,
    /// Kind, exact or a prefix ending in a dot.
    pub kind: Option<String>,
    /// Entity type.
    pub entity_type: Option<String>,
    /// Entity id (with `entity_type`).
    pub entity_id: Option<String>,
    /// Job.
    pub job_id: Option<JobId>,
    /// Case-insensitive substring of the message or entity name.
    pub q: Option<String>,
    /// At or after.
    pub since: Option<DateTime<Utc>>,
    /// Before.
    pub until: Option<DateTime<Utc>>,
    /// Only entries this role may read.
    pub visible_to: Role,
}

impl Default for EventLogFilter {
    /// No filter, as seen by the least privileged role.
    fn default() -> Self {
        Self {
            modules: Vec::new(),
            min_severity: None,
            kind: None,
            entity_type: None,
            entity_id: None,
            job_id: None,
            q: None,
            since: None,
            until: None,
            visible_to: Role::Viewer,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn severities_round_trip_and_order() {
        for s in [Severity::Info, Severity::Warning, Severity::Error] {
            assert_eq!(s.as_str().parse::<Severity>(), Ok(s));
            assert_eq!(Severity::from_rank(s.rank()), Some(s));
        }
        assert!(Severity::Error > Severity::Warning && Severity::Warning > Severity::Info);
        assert!("fatal".parse::<Severity>().is_err_and(|e| e.contains("fatal")));
        assert_eq!(Severity::from_rank(0), None);
    }

    #[test]
    fn details_are_redacted() {
        let r = Record::new(Severity::Info, "servers", "server.up", "up").details(json!({"password": "hunter2", "host": "a"}));
        assert_eq!(r.details["password"], "[redacted]");
        assert_eq!(r.details["host"], "a");
    }
}
