//! `/api/v1/jobs`: background job status, progress and logs.

use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiPath, ApiQuery, Operator, Viewer};
use crate::routes::{PageOf, PageQuery};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use gantry_core::audit::AuditDraft;
use gantry_core::events::{DomainEvent, JobUpdated};
use gantry_core::ids::JobId;
use gantry_core::jobs::{Job, JobFilter, JobStatus};
use gantry_core::repo::Trail;
use gantry_core::{ServiceError, StoreError};
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Routes of this group.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_jobs)).routes(routes!(get_job)).routes(routes!(cancel_job))
}

/// Job list filters.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct JobQuery {
    /// Only this status.
    pub status: Option<JobStatus>,
    /// Only this kind.
    pub kind: Option<String>,
    /// Page size.
    pub limit: Option<u64>,
    /// Cursor.
    pub cursor: Option<String>,
}

fn not_found(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound => ApiError::not_found("job"),
        other => ServiceError::from(other).into(),
    }
}

/// List jobs you may see, newest first.
#[utoipa::path(get, path = "/api/v1/jobs", tag = "jobs", params(JobQuery), responses((status = 200, body = PageOf<Job>)))]
async fn list_jobs(State(state): State<AppState>, Viewer(c): Viewer, ApiQuery(q): ApiQuery<JobQuery>) -> ApiResult<Json<PageOf<Job>>> {
    let page = PageQuery { limit: q.limit, cursor: q.cursor }.parse()?;
    let filter = JobFilter { status: q.status, kind: q.kind, visible_to: Some(c.principal.role) };
    Ok(Json(state.repos.jobs.list(&filter, page).await.map_err(not_found)?.into()))
}

/// One job with its progress, bounded log, result or error.
#[utoipa::path(get, path = "/api/v1/jobs/{id}", tag = "jobs", params(("id" = i64, Path, description = "Job id")),
    responses((status = 200, body = Job), (status = 404, body = crate::error::Problem)))]
async fn get_job(State(state): State<AppState>, Viewer(c): Viewer, ApiPath(id): ApiPath<i64>) -> ApiResult<Json<Job>> {
    let job = state.repos.jobs.get(JobId(id)).await.map_err(not_found)?;
    if !c.principal.role.allows(job.audience) {
        return Err(ApiError::not_found("job"));
    }
    Ok(Json(job))
}

/// Cancel a queued or running job. A running handler stops at its next step.
#[utoipa::path(post, path = "/api/v1/jobs/{id}/cancel", tag = "jobs", params(("id" = i64, Path, description = "Job id")),
    responses((status = 200, body = Job), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem)))]
async fn cancel_job(State(state): State<AppState>, Operator(c): Operator, ApiPath(id): ApiPath<i64>) -> ApiResult<Json<Job>> {
    let job = state.repos.jobs.get(JobId(id)).await.map_err(not_found)?;
    if job.status.is_final() {
        return Err(ServiceError::InvalidState(format!("the job already ended ({})", job.status.as_str())).into());
    }
    let ev = JobUpdated {
        job_id: job.id,
        kind: job.kind.clone(),
        status: JobStatus::Cancelled,
        progress: job.progress,
        message: Some("cancelled".into()),
        audience: job.audience,
    };
    let trail = Trail::audit(AuditDraft::new(&c.actor, "job.cancel", "job", Some(job.id.to_string()), json!({"kind": job.kind})))
        .with_event(ev.draft());
    let job = state.repos.jobs.cancel(job.id, trail).await.map_err(not_found)?;
    state.bus.notify_written();
    Ok(Json(job))
}
