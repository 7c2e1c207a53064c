//! The TLS module's errors and how they map to job outcomes.

use gantry_core::ServiceError;
use gantry_core::jobs::JobError;

/// What issuance can fail with.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The CA answered with a problem document (RFC 7807 / RFC 8555 §6.7).
    #[error("the CA refused: {kind}: {detail}")]
    Ca {
        /// Problem type, e.g. `urn:ietf:params:acme:error:unauthorized`.
        kind: String,
        /// The CA's detail text.
        detail: String,
    },
    /// The CA could not be reached or answered garbage.
    #[error("cannot talk to the ACME directory: {0}")]
    Transport(String),
    /// Something about the domain or account prevents issuance.
    #[error("{0}")]
    Invalid(String),
    /// The proxy could not place the challenge.
    #[error("cannot place the HTTP-01 answer on the server: {0}")]
    Proxy(String),
    /// A service call failed.
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl TlsError {
    /// The job outcome (issuance jobs are retried by the renewal loop, not the job runner).
    pub fn into_job(self) -> JobError {
        JobError::Permanent(self.to_string())
    }
}

impl From<instant_acme::Error> for TlsError {
    fn from(e: instant_acme::Error) -> Self {
        match e {
            instant_acme::Error::Api(p) => TlsError::Ca {
                kind: p.r#type.unwrap_or_else(|| "about:blank".into()),
                detail: p.detail.unwrap_or_else(|| format!("HTTP {}", p.status.unwrap_or(0))),
            },
            other => TlsError::Transport(other.to_string()),
        }
    }
}
