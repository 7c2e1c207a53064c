//! `/api/v1/users`: account administration (admins only).

use super::{PageOf, PageQuery};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Admin, ApiJson, ApiPath, ApiQuery, IfMatch, with_etag};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use gantry_core::accounts::{ChangeUser, CreateUser};
use gantry_core::ids::UserId;
use gantry_core::page::Sort;
use gantry_core::repo::{UserFilter, UserSort};
use gantry_core::user::{Role, User};
use secrecy::SecretString;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Routes of this group.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_users, create_user)).routes(routes!(get_user, update_user))
}

/// A new user.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserRequest {
    /// Login name: 1–64 of `a-z 0-9 . _ -`.
    pub username: String,
    /// Display name.
    pub display_name: Option<String>,
    /// Role.
    pub role: Role,
    /// Initial password (at least 10 characters).
    #[schema(value_type = String, format = Password)]
    pub password: SecretString,
}

/// Changes to a user; omitted fields stay as they are.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserUpdate {
    /// Display name.
    pub display_name: Option<String>,
    /// Role.
    pub role: Option<Role>,
    /// Disable (ends sessions; tokens stop working) or enable.
    pub disabled: Option<bool>,
    /// Reset the password (ends the user's sessions).
    #[schema(value_type = Option<String>, format = Password)]
    pub password: Option<SecretString>,
}

/// User list filters.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UserQuery {
    /// Substring of username or display name.
    pub q: Option<String>,
    /// Only this role.
    pub role: Option<Role>,
    /// Only disabled (true) or enabled (false).
    pub disabled: Option<bool>,
    /// Order: `id` (default), `created_at`, `username`, `role`; prefix `-` for descending.
    pub sort: Option<String>,
    /// Page size.
    pub limit: Option<u64>,
    /// Cursor.
    pub cursor: Option<String>,
}

/// List users.
#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(UserQuery),
    responses((status = 200, body = PageOf<User>), (status = 403, body = crate::error::Problem)))]
async fn list_users(State(state): State<AppState>, _: Admin, ApiQuery(q): ApiQuery<UserQuery>) -> ApiResult<Json<PageOf<User>>> {
    let page = PageQuery { limit: q.limit, cursor: q.cursor }.parse()?;
    let sort = q.sort.as_deref().map(|s| Sort::parse(s, UserSort::ALLOWED)).transpose().map_err(|e| ApiError::validation(vec![e]))?;
    let filter = UserFilter { q: q.q, role: q.role, disabled: q.disabled, sort };
    Ok(Json(state.accounts.list(&filter, page).await?.into()))
}

/// Create a user.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = NewUserRequest,
    responses((status = 201, body = User), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn create_user(State(state): State<AppState>, Admin(c): Admin, ApiJson(req): ApiJson<NewUserRequest>) -> ApiResult<Response> {
    let input = CreateUser { username: req.username, display_name: req.display_name, role: req.role, password: req.password };
    let user = state.accounts.create(input, &c.actor).await?;
    let location = format!("/api/v1/users/{}", user.id);
    let mut res = with_etag(StatusCode::CREATED, user.version, user);
    if let Ok(v) = HeaderValue::from_str(&location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    Ok(res)
}

/// One user; the `ETag` carries its version for `If-Match`.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users", params(("id" = i64, Path, description = "User id")),
    responses((status = 200, body = User), (status = 404, body = crate::error::Problem)))]
async fn get_user(State(state): State<AppState>, _: Admin, ApiPath(id): ApiPath<i64>) -> ApiResult<Response> {
    let user = state.accounts.get(UserId(id)).await?;
    Ok(with_etag(StatusCode::OK, user.version, user))
}

/// Change a user. Send `If-Match` with the `ETag` you read to avoid overwriting someone else's change (412 if stale).
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", request_body = UserUpdate,
    params(("id" = i64, Path, description = "User id"), ("If-Match" = Option<String>, Header, description = "ETag from a previous read")),
    responses((status = 200, body = User), (status = 409, body = crate::error::Problem), (status = 412, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn update_user(
    State(state): State<AppState>,
    Admin(c): Admin,
    ApiPath(id): ApiPath<i64>,
    IfMatch(version): IfMatch,
    ApiJson(req): ApiJson<UserUpdate>,
) -> ApiResult<Response> {
    let change = ChangeUser { display_name: req.display_name, role: req.role, disabled: req.disabled, password: req.password };
    let user = state.accounts.update(UserId(id), version, change, &c.actor).await?;
    Ok(with_etag(StatusCode::OK, user.version, user))
}
