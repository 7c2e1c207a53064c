//! `/api/v1/monitoring/events`: the event log (what happened, for people).

use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiQuery, Viewer};
use crate::routes::{PageOf, PageQuery};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use gantry_core::FieldError;
use gantry_core::eventlog::{EventLogEntry, EventLogFilter, Severity};
use gantry_core::ids::JobId;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Routes of this group.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_events))
}

/// Event-log filters; all optional, combined with AND.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventLogQuery {
    /// Modules, comma-separated (`servers,proxy`).
    pub module: Option<String>,
    /// At least this severity: `info`, `warning` or `error`.
    pub severity: Option<String>,
    /// Kind, exact (`server.down`) or a prefix ending in a dot (`proxy.`).
    pub kind: Option<String>,
    /// Entity type, e.g. `server`.
    pub entity_type: Option<String>,
    /// Entity id (with `entity_type`).
    pub entity_id: Option<String>,
    /// Job id.
    pub job_id: Option<i64>,
    /// Case-insensitive text in the message, the entity name or the kind.
    pub q: Option<String>,
    /// At or after (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// Before (RFC 3339).
    pub until: Option<DateTime<Utc>>,
    /// Page size.
    pub limit: Option<u64>,
    /// Cursor.
    pub cursor: Option<String>,
}

const MODULES: &[&str] = &["auth", "jobs", "monitoring", "platform", "proxy", "pve", "servers", "tasks", "tls"];

/// Browse the event log, newest first. Login events are shown to admins only.
#[utoipa::path(get, path = "/api/v1/monitoring/events", tag = "monitoring", params(EventLogQuery),
    responses((status = 200, body = PageOf<EventLogEntry>), (status = 422, body = crate::error::Problem)))]
async fn list_events(
    State(state): State<AppState>,
    v: Viewer,
    ApiQuery(q): ApiQuery<EventLogQuery>,
) -> ApiResult<Json<PageOf<EventLogEntry>>> {
    let page = PageQuery { limit: q.limit, cursor: q.cursor }.parse()?;
    let mut errors = Vec::new();
    let modules: Vec<String> =
        q.module.as_deref().unwrap_or("").split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect();
    if let Some(m) = modules.iter().find(|m| !MODULES.contains(&m.as_str())) {
        errors.push(FieldError::new("module", format!("unknown module '{m}': use {}", MODULES.join(", "))));
    }
    let min_severity = match q.severity.as_deref().map(str::parse::<Severity>).transpose() {
        Ok(s) => s,
        Err(e) => {
            errors.push(FieldError::new("severity", e));
            None
        }
    };
    if q.entity_id.is_some() && q.entity_type.is_none() {
        errors.push(FieldError::new("entity_id", "needs entity_type"));
    }
    if let (Some(s), Some(u)) = (q.since, q.until)
        && s >= u
    {
        errors.push(FieldError::new("until", "must be after since"));
    }
    if q.q.as_deref().is_some_and(|s| s.chars().count() > 200) {
        errors.push(FieldError::new("q", "at most 200 characters"));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let filter = EventLogFilter {
        modules,
        min_severity,
        kind: q.kind,
        entity_type: q.entity_type,
        entity_id: q.entity_id,
        job_id: q.job_id.map(JobId),
        q: q.q,
        since: q.since,
        until: q.until,
        visible_to: v.0.principal.role,
    };
    let page = state.repos.events.list_records(&filter, page).await.map_err(gantry_core::ServiceError::from)?;
    Ok(Json(page.into()))
}
