//! One API error type, rendered as RFC 9457 `application/problem+json`.
//!
//! Every failure a handler can produce ends up here with a stable machine
//! `code`. Server-side failures (5xx) are logged with their cause and the
//! request id, and the client gets only a generic detail plus the request id.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gantry_core::{FieldError, ServiceError};
use serde::Serialize;

/// The problem document.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the problem type: `urn:gantry:problem:<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short, human summary of the problem type.
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// Stable machine code, e.g. `validation_failed`.
    pub code: String,
    /// What went wrong in this occurrence.
    pub detail: String,
    /// Field-level validation errors.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Request id, to find the matching log lines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// An error a handler returns.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine code.
    pub code: &'static str,
    /// Human detail (for 5xx: generic).
    pub detail: String,
    /// Field errors.
    pub errors: Vec<FieldError>,
    /// Seconds for `Retry-After` (429, 503).
    pub retry_after: Option<u64>,
    /// The internal cause of a 5xx, logged but never returned.
    pub cause: Option<String>,
}

impl ApiError {
    /// An error with status, code and detail.
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self { status, code, detail: detail.into(), errors: Vec::new(), retry_after: None, cause: None }
    }

    /// 400 with `code`.
    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    /// 404.
    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", format!("{what} not found"))
    }

    /// 422 with field errors.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = match errors.as_slice() {
            [one] => format!("{}: {}", one.field, one.message),
            _ => format!("{} fields are invalid", errors.len()),
        };
        Self { errors, ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", detail) }
    }

    /// 500; the cause is logged, not returned.
    pub fn internal(cause: impl Into<String>) -> Self {
        Self {
            cause: Some(cause.into()),
            ..Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "an internal error occurred; the request id identifies it in the log",
            )
        }
    }

    fn title(&self) -> &'static str {
        self.status.canonical_reason().unwrap_or("Error")
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Validation(errors) => ApiError::validation(errors),
            ServiceError::Unauthenticated(why) => ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", why),
            ServiceError::InvalidCredentials => {
                ApiError::new(StatusCode::UNAUTHORIZED, "invalid_credentials", "invalid username or password")
            }
            ServiceError::Throttled { retry_after } => ApiError {
                retry_after: Some(retry_after),
                ..ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_attempts",
                    format!("too many failed attempts; try again in {retry_after} s"),
                )
            },
            ServiceError::Forbidden(why) => ApiError::new(StatusCode::FORBIDDEN, "forbidden", why),
            ServiceError::NotFound(what) => ApiError::not_found(what),
            ServiceError::Conflict { field, message } => ApiError {
                errors: vec![FieldError::new(field, message.clone())],
                ..ApiError::new(StatusCode::CONFLICT, "conflict", message)
            },
            ServiceError::Stale { current } => ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                "stale",
                format!("the resource was changed since you read it; reload it (current version {current})"),
            ),
            ServiceError::InvalidState(why) => ApiError::new(StatusCode::CONFLICT, "invalid_state", why),
            ServiceError::Internal(cause) => ApiError::internal(cause),
        }
    }
}

/// The request id of the current request, set by the middleware in a task-local.
pub(crate) fn current_request_id() -> Option<String> {
    crate::middleware::REQUEST_ID.try_with(|id| id.clone()).ok()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let request_id = current_request_id();
        if self.status.is_server_error() {
            tracing::error!(
                code = self.code,
                cause = self.cause.as_deref().unwrap_or(&self.detail),
                request_id = request_id.as_deref().unwrap_or("-"),
                "request failed"
            );
        }
        let problem = Problem {
            kind: format!("urn:gantry:problem:{}", self.code),
            title: self.title().to_string(),
            status: self.status.as_u16(),
            code: self.code.to_string(),
            detail: self.detail.clone(),
            errors: self.errors,
            request_id,
        };
        let mut res = (self.status, Json(problem)).into_response();
        res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if let Some(s) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&s.to_string())
        {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        if self.status == StatusCode::PAYLOAD_TOO_LARGE {
            // The rest of the body is never read: the connection cannot carry
            // another request, so tell the client not to reuse it.
            res.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        res
    }
}

/// Result alias for handlers.
pub type ApiResult<T> = Result<T, ApiError>;
