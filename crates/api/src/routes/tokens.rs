//! `/api/v1/tokens`: API tokens for automation.

use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Viewer};
use crate::routes::PageOf;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use gantry_core::ids::TokenId;
use gantry_core::repo::TokenInfo;
use gantry_core::user::Role;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Routes of this group.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_tokens, create_token)).routes(routes!(revoke_token))
}

/// A token to create.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTokenRequest {
    /// A label, e.g. `ci-deploy`.
    pub name: String,
    /// Role the token acts with; defaults to yours and cannot exceed it.
    pub role: Option<Role>,
    /// Expiry (at most two years ahead). Either this or `expires_in_days`.
    pub expires_at: Option<DateTime<Utc>>,
    /// Expiry in days from now.
    pub expires_in_days: Option<u32>,
}

/// A created token. `token` is shown only in this response.
#[derive(Serialize, ToSchema)]
pub struct CreatedToken {
    /// Metadata.
    #[serde(flatten)]
    pub info: TokenInfo,
    /// The token for `Authorization: Bearer …`. Store it now: it cannot be shown again.
    pub token: String,
}

/// Token list parameters.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TokenQuery {
    /// Admins: list every user's tokens.
    pub all: Option<bool>,
    /// Page size.
    pub limit: Option<u64>,
    /// Cursor.
    pub cursor: Option<String>,
}

/// List your API tokens (admins: `all=true` for everyone's).
#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens", params(TokenQuery), responses((status = 200, body = PageOf<TokenInfo>)))]
async fn list_tokens(
    State(state): State<AppState>,
    Viewer(c): Viewer,
    ApiQuery(q): ApiQuery<TokenQuery>,
) -> ApiResult<Json<PageOf<TokenInfo>>> {
    let page = super::PageQuery { limit: q.limit, cursor: q.cursor }.parse()?;
    Ok(Json(state.auth.list_tokens(&c.principal, q.all.unwrap_or(false), page).await?.into()))
}

/// Create an API token. The token is returned once and stored only as a hash.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", request_body = NewTokenRequest,
    responses((status = 201, body = CreatedToken), (status = 422, body = crate::error::Problem)))]
async fn create_token(
    State(state): State<AppState>,
    Viewer(c): Viewer,
    ApiJson(req): ApiJson<NewTokenRequest>,
) -> ApiResult<(StatusCode, Json<CreatedToken>)> {
    let expires_at = match (req.expires_at, req.expires_in_days) {
        (Some(_), Some(_)) => {
            return Err(ApiError::validation(vec![gantry_core::FieldError::new(
                "expires_in_days",
                "give either expires_at or expires_in_days",
            )]));
        }
        (Some(at), None) => Some(at),
        (None, Some(days)) => Some(Utc::now() + chrono::Duration::days(i64::from(days))),
        (None, None) => None,
    };
    let (info, secret) = state.auth.create_token(&c.principal, &req.name, req.role, expires_at, &c.actor).await?;
    Ok((StatusCode::CREATED, Json(CreatedToken { info, token: secret.expose_secret().to_string() })))
}

/// Revoke an API token. It stops working at once on every replica.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens", params(("id" = i64, Path, description = "Token id")),
    responses((status = 200, body = TokenInfo), (status = 404, body = crate::error::Problem)))]
async fn revoke_token(State(state): State<AppState>, Viewer(c): Viewer, ApiPath(id): ApiPath<i64>) -> ApiResult<Json<TokenInfo>> {
    Ok(Json(state.auth.revoke_token(&c.principal, TokenId(id), &c.actor).await?))
}
