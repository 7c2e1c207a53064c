//! Operations endpoints: `/livez`, `/readyz`, `/metrics`, system info and the self-check job.

use crate::error::ApiResult;
use crate::extract::{Operator, Viewer};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gantry_core::audit::AuditDraft;
use gantry_core::jobs::{Job, NewJob};
use gantry_core::repo::Trail;
use gantry_core::user::Role;
use serde::Serialize;
use serde_json::json;
use std::sync::atomic::Ordering;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The self-check job kind.
pub const SELFCHECK: &str = "system.selfcheck";

/// Routes of this group.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(livez))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
        .routes(routes!(info))
        .routes(routes!(selfcheck))
}

/// Readiness and its checks.
#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    pub status: String,
    /// Database reachable.
    pub database: bool,
    /// Migrations applied and workers started.
    pub started: bool,
}

/// Build and runtime facts.
#[derive(Serialize, ToSchema)]
pub struct SystemInfo {
    /// Gantry version.
    pub version: String,
    /// Database backend (`sqlite`, `mysql`, `postgres`).
    pub database: String,
    /// Migrations this binary knows.
    pub migrations: Vec<String>,
}

/// Liveness: the process answers. Never touches the database.
#[utoipa::path(get, path = "/livez", tag = "system", responses((status = 200, description = "alive", body = String)))]
async fn livez() -> &'static str {
    "ok"
}

/// Readiness: the database is reachable, migrations are done and the process is not shutting down.
#[utoipa::path(get, path = "/readyz", tag = "system", responses((status = 200, body = Readiness), (status = 503, body = Readiness)))]
async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let started = state.ready.load(Ordering::Acquire);
    let database = state.db.ping().await;
    let ok = started && database;
    let status = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(Readiness { status: if ok { "ready" } else { "not_ready" }.into(), database, started }))
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "system", responses((status = 200, description = "Prometheus text format", body = String)))]
async fn metrics(State(state): State<AppState>) -> Response {
    let mut res = state.metrics.encode().into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    res
}

/// Version, database backend and known migrations.
#[utoipa::path(get, path = "/api/v1/system/info", tag = "system", responses((status = 200, body = SystemInfo)))]
async fn info(State(state): State<AppState>, _: Viewer) -> Json<SystemInfo> {
    Json(SystemInfo {
        version: env!("CARGO_PKG_VERSION").into(),
        database: state.db.backend.as_str().into(),
        migrations: state.known_migrations.clone(),
    })
}

/// Start a self-check job: database, migrations, data directory, master key,
/// job queue and event relay, each reported as a progress step.
#[utoipa::path(post, path = "/api/v1/system/selfcheck", tag = "system", responses((status = 202, body = Job)))]
async fn selfcheck(State(state): State<AppState>, Operator(c): Operator) -> ApiResult<(StatusCode, Json<Job>)> {
    let mut job = NewJob::new(SELFCHECK, json!({}));
    job.created_by = Some(c.principal.user_id);
    job.audience = Role::Viewer;
    job.max_attempts = 1;
    let trail = Trail::audit(AuditDraft::new(&c.actor, "job.start", "job", None, json!({"kind": SELFCHECK})));
    let job = state.repos.jobs.enqueue(job, trail).await.map_err(gantry_core::ServiceError::from)?;
    state.jobs_waker.wake();
    Ok((StatusCode::ACCEPTED, Json(job)))
}
