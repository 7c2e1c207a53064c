//! Errors shared by the repository traits and the platform services.

use serde::Serialize;

/// One invalid input field and why it was rejected; rendered in problem+json `errors`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// The input field, dotted for nested values (`parameters.nginx_dir`).
    pub field: String,
    /// A sentence a person can act on.
    pub message: String,
}

impl FieldError {
    /// Builds a field error.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

/// What a repository can fail with, independent of the database behind it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row does not exist (or is not visible to the caller).
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was violated; `field` names the input that collides.
    #[error("{field} conflicts with an existing record")]
    Conflict {
        /// The input field whose value is already taken.
        field: String,
    },
    /// An optimistic-concurrency check failed: the row changed since it was read.
    #[error("the record was changed by someone else (current version {current})")]
    Stale {
        /// The version now stored.
        current: i64,
    },
    /// The database could not be reached or refused the operation.
    #[error("database error: {0}")]
    Database(String),
    /// Stored data could not be decoded (a bug or a manual edit).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
}

/// What a platform service call can fail with; the API maps each variant to
/// one HTTP status and a stable problem `code`.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Input failed validation; one entry per field.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// No valid credentials were presented (or they expired).
    #[error("authentication required: {0}")]
    Unauthenticated(&'static str),
    /// Username or password wrong; deliberately does not say which.
    #[error("invalid username or password")]
    InvalidCredentials,
    /// Too many failed attempts; try again after the given number of seconds.
    #[error("too many failed attempts; retry in {retry_after} s")]
    Throttled {
        /// Seconds until the next attempt is allowed.
        retry_after: u64,
    },
    /// Authenticated, but not allowed to do this.
    #[error("{0}")]
    Forbidden(String),
    /// The entity does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A uniqueness rule was violated.
    #[error("{message}")]
    Conflict {
        /// The colliding field.
        field: String,
        /// What collides.
        message: String,
    },
    /// `If-Match` did not match the stored version.
    #[error("the resource was changed since you read it (current version {current})")]
    Stale {
        /// The version now stored.
        current: i64,
    },
    /// The request conflicts with the resource's state (e.g. the last admin).
    #[error("{0}")]
    InvalidState(String),
    /// Something failed on our side; the detail is logged, not returned.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ServiceError {
    /// A single-field validation error.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        ServiceError::Validation(vec![FieldError::new(field, message)])
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ServiceError::NotFound("resource"),
            StoreError::Conflict { field } => ServiceError::Conflict { message: format!("{field} is already taken"), field },
            StoreError::Stale { current } => ServiceError::Stale { current },
            StoreError::Database(m) | StoreError::Corrupt(m) => ServiceError::Internal(m),
        }
    }
}
