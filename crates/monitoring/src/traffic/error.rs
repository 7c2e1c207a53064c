//! The traffic module's errors and how they map to API problems.

use gantry_core::{ServiceError, StoreError};

/// What a traffic operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum TrafficError {
    /// The server has no Gantry-managed proxy, so there is nothing to read.
    #[error("the proxy is not installed on server {0}; there is no traffic to collect")]
    NotInstalled(i64),
    /// A request parameter is invalid.
    #[error("{field}: {message}")]
    Invalid {
        /// The parameter.
        field: &'static str,
        /// Why.
        message: String,
    },
    /// A service call failed (e.g. the server does not exist).
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl TrafficError {
    /// A 422 naming `field`.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid { field, message: message.into() }
    }
}

impl From<TrafficError> for ServiceError {
    fn from(e: TrafficError) -> Self {
        match e {
            TrafficError::Invalid { field, message } => ServiceError::field(field, message),
            TrafficError::Service(s) => s,
            TrafficError::Store(s) => s.into(),
            other @ TrafficError::NotInstalled(_) => ServiceError::InvalidState(other.to_string()),
        }
    }
}
