//! The proxy module's errors, and how they map to job outcomes and API problems.

use crate::remote::RemoteError;
use gantry_core::jobs::JobError;
use gantry_core::{ServiceError, StoreError};

/// What a proxy operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The server has no Gantry layout yet.
    #[error("the proxy is not installed on server {0}; install it first")]
    NotInstalled(i64),
    /// Another replica or job is working on the server.
    #[error("another proxy operation is running on this server; try again when it ends")]
    Busy,
    /// The lease ran out and someone else took the server over.
    #[error("lost the server's reconcile lease to another worker; stopped here to leave the server to it")]
    LeaseLost,
    /// SSH could not reach the server.
    #[error("cannot reach the server: {0}")]
    Unreachable(String),
    /// `nginx -t` on the server rejected the staged generation; nothing was switched.
    #[error("nginx -t on the server rejected generation {number}; the previous generation keeps serving: {output}")]
    Rejected {
        /// The generation.
        number: i64,
        /// nginx's own output.
        output: String,
    },
    /// The switch, reload or verification failed and the previous generation was restored.
    #[error("generation {number} failed at {step} and was rolled back: {message}")]
    RolledBack {
        /// The generation.
        number: i64,
        /// `switch`, `reload` or `verify`.
        step: String,
        /// What happened.
        message: String,
    },
    /// A step on the server failed.
    #[error("{0}")]
    Remote(#[from] RemoteError),
    /// The request does not fit the server's state.
    #[error("{0}")]
    Invalid(String),
    /// A service call failed (e.g. a domain no longer validates).
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The TLS module could not say which certificates to serve, or lost one's files.
    #[error("certificates: {0}")]
    Certificates(String),
    /// Shutdown or lease loss stopped the work.
    #[error("cancelled")]
    Cancelled,
}

impl ProxyError {
    /// Whether a later retry may succeed without anyone changing anything.
    pub fn is_transient(&self) -> bool {
        match self {
            ProxyError::Busy | ProxyError::Unreachable(_) | ProxyError::LeaseLost => true,
            ProxyError::Remote(r) => r.is_transient(),
            ProxyError::Store(StoreError::Database(_)) | ProxyError::Certificates(_) => true,
            _ => false,
        }
    }

    /// The job outcome.
    pub fn into_job(self) -> JobError {
        match self {
            ProxyError::Cancelled => JobError::Cancelled,
            e if e.is_transient() => JobError::Transient(e.to_string()),
            e => JobError::Permanent(e.to_string()),
        }
    }
}

impl From<ProxyError> for ServiceError {
    fn from(e: ProxyError) -> Self {
        match e {
            ProxyError::Service(s) => s,
            ProxyError::Store(s) => s.into(),
            ProxyError::Invalid(m) => ServiceError::InvalidState(m),
            other => ServiceError::InvalidState(other.to_string()),
        }
    }
}
