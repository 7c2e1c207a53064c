//! `/api/v1/audit`: the append-only audit log (admins).

use crate::error::{ApiError, ApiResult};
use crate::extract::{Admin, ApiQuery};
use crate::routes::{PageOf, PageQuery};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use gantry_core::audit::{AuditFilter, AuditRecord};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Routes of this group.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_audit))
}

/// Audit filters; all optional, combined with AND.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Actor username.
    pub actor: Option<String>,
    /// Entity type, e.g. `user`.
    pub entity_type: Option<String>,
    /// Entity id.
    pub entity_id: Option<String>,
    /// Action, exact (`user.create`) or prefix ending in a dot (`user.`).
    pub action: Option<String>,
    /// At or after (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// Before (RFC 3339).
    pub until: Option<DateTime<Utc>>,
    /// Page size.
    pub limit: Option<u64>,
    /// Cursor.
    pub cursor: Option<String>,
}

/// Browse the audit log, newest first.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = PageOf<AuditRecord>), (status = 403, body = crate::error::Problem)))]
async fn list_audit(State(state): State<AppState>, _: Admin, ApiQuery(q): ApiQuery<AuditQuery>) -> ApiResult<Json<PageOf<AuditRecord>>> {
    let page = PageQuery { limit: q.limit, cursor: q.cursor }.parse()?;
    if let (Some(s), Some(u)) = (q.since, q.until)
        && s >= u
    {
        return Err(ApiError::validation(vec![gantry_core::FieldError::new("until", "must be after since")]));
    }
    let filter = AuditFilter {
        actor: q.actor,
        entity_type: q.entity_type,
        entity_id: q.entity_id,
        action: q.action,
        since: q.since,
        until: q.until,
    };
    let page = state.repos.audit.list(&filter, page).await.map_err(gantry_core::ServiceError::from)?;
    Ok(Json(page.into()))
}
