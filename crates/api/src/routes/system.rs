//! Operations endpoints: `/livez`, `/readyz`, `/metrics`, system info and the self-check job.

use crate::error::{ApiError, ApiResult};
use crate::extract::{Admin, ApiJson, Operator, Viewer};
use crate::state::{AppState, LogControl};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gantry_core::FieldError;
use gantry_core::audit::AuditDraft;
use gantry_core::eventlog::{Record, Severity};
use gantry_core::events::EventDraft;
use gantry_core::jobs::{Job, NewJob};
use gantry_core::repo::Trail;
use gantry_core::user::Role;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;
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
        .routes(routes!(get_log_level, set_log_level))
}

/// The outbox kind that carries a log-level change to every replica.
pub const LOG_LEVEL_KIND: &str = "system.log_level";

/// The log filter of this replica.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct LogLevel {
    /// `tracing` directives in force, e.g. `info` or `info,gantry_proxy=debug`.
    pub level: String,
    /// What the configuration set (`log_level`); a restart returns to it.
    #[serde(default, skip_deserializing)]
    pub configured: String,
}

fn log_control(state: &AppState) -> ApiResult<&Arc<dyn LogControl>> {
    state
        .log_control
        .as_ref()
        .ok_or_else(|| ApiError::new(StatusCode::CONFLICT, "not_supported", "this process was started without a reloadable log subscriber"))
}

/// The log level in force (admins).
#[utoipa::path(get, path = "/api/v1/system/log-level", tag = "system",
    responses((status = 200, body = LogLevel), (status = 403, body = crate::error::Problem)))]
async fn get_log_level(State(state): State<AppState>, _: Admin) -> ApiResult<Json<LogLevel>> {
    let c = log_control(&state)?;
    Ok(Json(LogLevel { level: c.current(), configured: c.configured() }))
}

/// Change the log level on every replica until they restart (admins).
///
/// Accepts `tracing` directives: a level (`error`, `warn`, `info`, `debug`,
/// `trace`) optionally followed by per-crate overrides
/// (`info,gantry_proxy=debug`). The change is audited and reaches the other
/// replicas through the event outbox.
#[utoipa::path(put, path = "/api/v1/system/log-level", tag = "system", request_body = LogLevel,
    responses((status = 200, body = LogLevel), (status = 422, body = crate::error::Problem)))]
async fn set_log_level(State(state): State<AppState>, Admin(c): Admin, ApiJson(body): ApiJson<LogLevel>) -> ApiResult<Json<LogLevel>> {
    let control = log_control(&state)?.clone();
    let level = body.level.trim().to_string();
    if level.is_empty() || level.len() > 500 {
        return Err(ApiError::validation(vec![FieldError::new("level", "must be 1 to 500 characters of tracing directives")]));
    }
    control.check(&level).map_err(|e| ApiError::validation(vec![FieldError::new("level", e)]))?;
    let previous = control.current();
    let event = EventDraft {
        kind: LOG_LEVEL_KIND.into(),
        entity_type: None,
        entity_id: None,
        audience: None,
        owner: None,
        payload: json!({ "level": level }),
        record: Some(
            Record::new(Severity::Info, "platform", "system.log_level", format!("Log level set to '{level}' by {}", c.actor.name))
                .details(json!({ "from": previous, "to": level }))
                .audience(Role::Admin),
        ),
    };
    let trail = Trail::audit(AuditDraft::new(&c.actor, "system.log_level", "system", None, json!({ "from": previous, "to": level })))
        .with_event(event);
    state.repos.audit.write(trail).await.map_err(gantry_core::ServiceError::from)?;
    state.bus.notify_written();
    // Applied here at once; the other replicas apply it when the relay delivers the event.
    control.set(&level).map_err(ApiError::internal)?;
    Ok(Json(LogLevel { level: control.current(), configured: control.configured() }))
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
