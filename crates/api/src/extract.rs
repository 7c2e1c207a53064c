//! Extractors that turn requests into validated inputs or a problem response.
//!
//! axum's own rejections are plain text; these wrappers map each to the
//! problem+json class the API conventions promise (400, 413, 415, 422).

use crate::error::ApiError;
use crate::middleware::{ClientIp, RequestId};
use crate::state::AppState;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use gantry_core::audit::Actor;
use gantry_core::auth::{Credential, Principal};
use gantry_core::user::Role;
use serde::de::DeserializeOwned;

/// JSON body; rejects malformed JSON (400), unknown fields and wrong types (422),
/// a missing `Content-Type: application/json` (415) and oversized bodies (413).
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rej) => Err(json_rejection(rej)),
        }
    }
}

fn json_rejection(rej: JsonRejection) -> ApiError {
    match rej {
        JsonRejection::JsonSyntaxError(e) => {
            ApiError::bad_request("malformed_json", format!("the body is not valid JSON: {}", e.body_text()))
        }
        JsonRejection::JsonDataError(e) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            format!("the body does not match the expected shape: {}", e.body_text()),
        ),
        JsonRejection::MissingJsonContentType(_) => {
            ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "send the body as Content-Type: application/json")
        }
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "the request body is larger than allowed")
        }
        other => ApiError::bad_request("bad_request", other.body_text()),
    }
}

/// Path parameters; a malformed id is a 400, not a 500 or a plain-text reply.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|e: PathRejection| ApiError::bad_request("bad_path", e.body_text()))
    }
}

/// Query string; unknown or malformed parameters are a 400.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|e: QueryRejection| ApiError::bad_request("bad_query", e.body_text()))
    }
}

/// Where the request came from, for audit records and logs.
#[derive(Debug, Clone)]
pub struct Meta {
    /// The request id.
    pub request_id: Option<String>,
    /// The client address.
    pub client_ip: Option<String>,
    /// The browser, for session records.
    pub user_agent: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for Meta {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Meta {
            request_id: parts.extensions.get::<RequestId>().map(|r| r.0.clone()),
            client_ip: parts.extensions.get::<ClientIp>().and_then(|c| c.0.clone()),
            user_agent: parts.headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(|s| s.chars().take(255).collect()),
        })
    }
}

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "gantry_session";
/// The CSRF header mutating cookie-authenticated requests must carry.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// An authenticated caller and the actor record for their changes.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Who.
    pub principal: Principal,
    /// For audit records.
    pub actor: Actor,
}

fn session_cookie(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v.to_string())
}

async fn authenticate(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
    if let Some(c) = parts.extensions.get::<Caller>() {
        return Ok(c.clone());
    }
    let meta = Meta::from_request_parts(parts, state).await?;
    let bearer = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim);
    let principal = if let Some(token) = bearer {
        state.auth.authenticate_token(token).await?
    } else if let Some(cookie) = session_cookie(parts) {
        state.auth.authenticate_session(&cookie).await?
    } else {
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", "log in or send an API token (Authorization: Bearer …)"));
    };
    // Cookies ride along on cross-site requests; a header cannot, so
    // mutations authenticated by cookie must echo the session's CSRF token.
    if let Credential::Session { csrf_token, .. } = &principal.credential
        && !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS)
    {
        let sent = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
        if !gantry_core::tokens::constant_time_eq(sent, csrf_token) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "csrf_failed",
                "missing or wrong X-CSRF-Token header for a cookie-authenticated change",
            ));
        }
    }
    let actor = principal.actor(meta.request_id, meta.client_ip);
    let caller = Caller { principal, actor };
    parts.extensions.insert(caller.clone());
    Ok(caller)
}

macro_rules! role_extractor {
    ($(#[$m:meta])* $name:ident, $role:expr) => {
        $(#[$m])*
        pub struct $name(pub Caller);

        impl FromRequestParts<AppState> for $name {
            type Rejection = ApiError;

            async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
                let caller = authenticate(parts, state).await?;
                caller.principal.require($role)?;
                Ok($name(caller))
            }
        }
    };
}

role_extractor!(
    /// Any authenticated user (viewer and up).
    Viewer,
    Role::Viewer
);
role_extractor!(
    /// Operators and admins: may change infrastructure.
    Operator,
    Role::Operator
);
role_extractor!(
    /// Admins only.
    Admin,
    Role::Admin
);

/// The version from an `If-Match` header (`"3"` or `W/"3"`), if any.
pub struct IfMatch(pub Option<i64>);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let Some(raw) = parts.headers.get(header::IF_MATCH) else {
            return Ok(IfMatch(None));
        };
        let s = raw.to_str().unwrap_or("").trim();
        if s == "*" {
            return Ok(IfMatch(None));
        }
        let v = s.trim_start_matches("W/").trim_matches('"');
        v.parse::<i64>()
            .map(|n| IfMatch(Some(n)))
            .map_err(|_| ApiError::bad_request("bad_if_match", "If-Match must be an ETag this API returned, e.g. \"3\""))
    }
}

/// Builds the `ETag` header value for a version.
pub fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

/// A JSON response carrying `ETag: "<version>"`, for every versioned resource.
pub fn with_etag<T: serde::Serialize>(status: StatusCode, version: i64, body: T) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let mut res = (status, axum::Json(body)).into_response();
    if let Ok(v) = axum::http::HeaderValue::from_str(&etag(version)) {
        res.headers_mut().insert(header::ETAG, v);
    }
    res
}
