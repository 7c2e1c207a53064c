//! `/api/v1/auth`: login, logout, the current user, password change.

use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, Meta, SESSION_COOKIE, Viewer};
use crate::state::{AppState, CookieSecure};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use gantry_core::auth::Credential;
use gantry_core::ids::UserId;
use gantry_core::user::{Role, User};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Routes of this group.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(me))
        .routes(routes!(change_password))
        .routes(routes!(options))
        .routes(routes!(register))
}

/// Credentials for a browser login.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Login name.
    pub username: String,
    /// Password.
    #[schema(value_type = String, format = Password)]
    pub password: SecretString,
}

/// A started session.
#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    /// The user.
    pub user: User,
    /// Send this as `X-CSRF-Token` on every mutating request.
    pub csrf_token: String,
    /// When the session ends at the latest.
    pub expires_at: DateTime<Utc>,
}

/// Who is calling.
#[derive(Serialize, ToSchema)]
pub struct Me {
    /// User id.
    #[schema(value_type = i64)]
    pub id: UserId,
    /// Login name.
    pub username: String,
    /// Display name.
    pub display_name: String,
    /// Effective role (a token's role may be lower than the user's).
    pub role: Role,
    /// `session` or `token`.
    pub auth: String,
    /// The CSRF token of the current session (absent for API tokens).
    pub csrf_token: Option<String>,
}

/// A password change.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    /// The current password.
    #[schema(value_type = String, format = Password)]
    pub current_password: SecretString,
    /// The new password (at least 10 characters).
    #[schema(value_type = String, format = Password)]
    pub new_password: SecretString,
}

fn secure(state: &AppState, headers: &HeaderMap) -> bool {
    match state.settings.cookie_secure {
        CookieSecure::Always => true,
        CookieSecure::Never => false,
        CookieSecure::Auto => {
            state.settings.public_https
                || (state.settings.trust_forwarded_headers
                    && headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()) == Some("https"))
        }
    }
}

fn cookie(value: &str, max_age: i64, secure: bool) -> Result<HeaderValue, ApiError> {
    let s =
        format!("{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{}", if secure { "; Secure" } else { "" });
    HeaderValue::from_str(&s).map_err(|e| ApiError::internal(format!("cookie header: {e}")))
}

/// Log in with a username and password.
///
/// Sets the `gantry_session` cookie (HttpOnly, SameSite=Strict) and returns
/// the CSRF token that mutating requests must carry as `X-CSRF-Token`.
/// Repeated failures are throttled per username and per client address.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, body = crate::error::Problem), (status = 429, body = crate::error::Problem)))]
async fn login(State(state): State<AppState>, meta: Meta, headers: HeaderMap, ApiJson(req): ApiJson<LoginRequest>) -> ApiResult<Response> {
    let session = state.auth.login(&req.username, req.password, meta.client_ip, meta.user_agent, meta.request_id).await?;
    let max_age = i64::try_from(state.auth.settings().session_ttl.as_secs()).unwrap_or(43_200);
    let set = cookie(secrecy::ExposeSecret::expose_secret(&session.cookie), max_age, secure(&state, &headers))?;
    let body = LoginResponse { user: session.user, csrf_token: session.csrf_token, expires_at: session.expires_at };
    let mut res = Json(body).into_response();
    res.headers_mut().insert(header::SET_COOKIE, set);
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

/// End the current browser session.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 204), (status = 401, body = crate::error::Problem), (status = 403, body = crate::error::Problem)))]
async fn logout(State(state): State<AppState>, headers: HeaderMap, Viewer(c): Viewer) -> ApiResult<Response> {
    state.auth.logout(&c.principal, &c.actor).await?;
    let mut res = StatusCode::NO_CONTENT.into_response();
    res.headers_mut().insert(header::SET_COOKIE, cookie("", 0, secure(&state, &headers))?);
    Ok(res)
}

/// The authenticated caller.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth",
    responses((status = 200, body = Me), (status = 401, body = crate::error::Problem)))]
async fn me(Viewer(c): Viewer) -> Json<Me> {
    let p = c.principal;
    let (auth, csrf_token) = match p.credential {
        Credential::Session { csrf_token, .. } => ("session", Some(csrf_token)),
        Credential::Token { .. } => ("token", None),
    };
    Json(Me { id: p.user_id, username: p.username, display_name: p.display_name, role: p.role, auth: auth.into(), csrf_token })
}

/// Change your own password. Your other sessions are ended.
#[utoipa::path(post, path = "/api/v1/auth/password", tag = "auth", request_body = PasswordChange,
    responses((status = 204), (status = 422, body = crate::error::Problem)))]
async fn change_password(State(state): State<AppState>, Viewer(c): Viewer, ApiJson(req): ApiJson<PasswordChange>) -> ApiResult<StatusCode> {
    state.auth.change_own_password(&c.principal, req.current_password, req.new_password, &c.actor).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What the login page may offer.
#[derive(Serialize, ToSchema)]
pub struct AuthOptions {
    /// `POST /api/v1/auth/register` is open.
    pub self_registration: bool,
}

/// What the login page may offer (no authentication needed).
#[utoipa::path(get, path = "/api/v1/auth/options", tag = "auth", responses((status = 200, body = AuthOptions)))]
async fn options(State(state): State<AppState>) -> Json<AuthOptions> {
    Json(AuthOptions { self_registration: state.auth.settings().self_registration })
}

/// A self-registration.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// Login name.
    pub username: String,
    /// Display name.
    pub display_name: Option<String>,
    /// Password (at least 10 characters).
    #[schema(value_type = String, format = Password)]
    pub password: SecretString,
}

/// Create your own account with the viewer role, when `auth.self_registration` is on.
///
/// Log in afterwards with `POST /api/v1/auth/login`. An admin can raise the role.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", request_body = RegisterRequest,
    responses((status = 201, body = User), (status = 403, body = crate::error::Problem), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn register(State(state): State<AppState>, meta: Meta, ApiJson(req): ApiJson<RegisterRequest>) -> ApiResult<Response> {
    let actor = gantry_core::audit::Actor {
        user_id: None,
        name: "self-registration".into(),
        role: None,
        request_id: meta.request_id,
        client_ip: meta.client_ip,
    };
    let user = state.accounts.register(req.username, req.display_name, req.password, &actor).await.map_err(|e| match e {
        gantry_core::ServiceError::Forbidden(m) => ApiError::new(StatusCode::FORBIDDEN, "registration_disabled", m),
        other => other.into(),
    })?;
    Ok((StatusCode::CREATED, Json(user)).into_response())
}
