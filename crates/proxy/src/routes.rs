//! `/api/v1/servers/{id}/proxy…` and `/api/v1/proxy/…`.

use crate::model::*;
use crate::rollout::RolloutInput;
use crate::service::ProxyService;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use gantry_api::error::{ApiError, ApiResult};
use gantry_api::extract::{ApiJson, ApiPath, ApiQuery, Operator, Viewer};
use gantry_api::routes::{PageOf, PageQuery};
use gantry_api::state::AppState;
use gantry_core::ServiceError;
use gantry_core::jobs::Job;
use serde::Deserialize;
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The module's routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_states))
        .routes(routes!(get_state))
        .routes(routes!(install))
        .routes(routes!(get_plan))
        .routes(routes!(apply))
        .routes(routes!(list_generations))
        .routes(routes!(get_generation))
        .routes(routes!(rollback))
        .routes(routes!(check_drift))
        .routes(routes!(uninstall))
        .routes(routes!(list_rollouts, create_rollout))
        .routes(routes!(get_rollout))
        .routes(routes!(domain_state))
}

fn svc(st: &AppState) -> Result<Arc<ProxyService>, ApiError> {
    st.service::<ProxyService>()
}

fn e(err: crate::error::ProxyError) -> ApiError {
    ApiError::from(ServiceError::from(err))
}

/// An apply request.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ApplyBody {
    /// Why (shown on the generation; at most 500 characters).
    pub reason: Option<String>,
    /// Make a new generation and reload even if nothing changed (repairs drift).
    pub force: Option<bool>,
}

/// A rollback request.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct RollbackBody {
    /// Why.
    pub reason: Option<String>,
}

/// An uninstall request.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct UninstallBody {
    /// Also remove the nginx package.
    pub remove_package: Option<bool>,
}

/// A rollout request.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct RolloutBody {
    /// Servers, in order; omit for every installed server with pending changes.
    pub server_ids: Option<Vec<i64>>,
    /// The server applied first, alone (default: the first of `server_ids`).
    pub canary_server_id: Option<i64>,
    /// Servers applied at once after the canary (1–64, default from configuration).
    pub max_parallel: Option<usize>,
    /// Failed servers tolerated before the rollout stops (default 0).
    pub max_failures: Option<usize>,
    /// Why.
    pub reason: Option<String>,
}

/// Server id and generation number.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct GenerationPath {
    /// Server id.
    pub id: i64,
    /// Generation number.
    pub number: i64,
}

/// Every server's proxy.
#[utoipa::path(get, path = "/api/v1/proxy/servers", tag = "proxy", responses((status = 200, body = Vec<ProxyState>)))]
async fn list_states(State(st): State<AppState>, _: Viewer) -> ApiResult<Json<Vec<ProxyState>>> {
    Ok(Json(svc(&st)?.states().await.map_err(e)?))
}

/// A server's proxy: install, status, live generation, drift.
#[utoipa::path(get, path = "/api/v1/servers/{id}/proxy", tag = "proxy", params(("id" = i64, Path, description = "Server id")),
    responses((status = 200, body = ProxyState), (status = 404, body = gantry_api::error::Problem)))]
async fn get_state(State(st): State<AppState>, _: Viewer, ApiPath(id): ApiPath<i64>) -> ApiResult<Json<ProxyState>> {
    Ok(Json(svc(&st)?.state(id).await.map_err(e)?))
}

/// Install nginx and Gantry's layout (a job; idempotent), then apply the current configuration.
#[utoipa::path(post, path = "/api/v1/servers/{id}/proxy/install", tag = "proxy", params(("id" = i64, Path, description = "Server id")),
    responses((status = 202, body = Job), (status = 404, body = gantry_api::error::Problem)))]
async fn install(State(st): State<AppState>, Operator(c): Operator, ApiPath(id): ApiPath<i64>) -> ApiResult<(StatusCode, Json<Job>)> {
    Ok((StatusCode::ACCEPTED, Json(svc(&st)?.start_install(id, &c.actor).await.map_err(e)?)))
}

/// What applying now would change: unified diff, domains added/changed/removed, whether nginx reloads.
#[utoipa::path(get, path = "/api/v1/servers/{id}/proxy/plan", tag = "proxy", params(("id" = i64, Path, description = "Server id")),
    responses((status = 200, body = Plan), (status = 409, body = gantry_api::error::Problem)))]
async fn get_plan(State(st): State<AppState>, _: Viewer, ApiPath(id): ApiPath<i64>) -> ApiResult<Json<Plan>> {
    Ok(Json(svc(&st)?.plan(id).await.map_err(e)?))
}

/// Apply the desired configuration (a job): stage, nginx -t, switch, reload, verify; rolled back on failure.
#[utoipa::path(post, path = "/api/v1/servers/{id}/proxy/apply", tag = "proxy", request_body = ApplyBody,
    params(("id" = i64, Path, description = "Server id")),
    responses((status = 202, body = Job), (status = 409, body = gantry_api::error::Problem), (status = 422, body = gantry_api::error::Problem)))]
async fn apply(
    State(st): State<AppState>,
    Operator(c): Operator,
    ApiPath(id): ApiPath<i64>,
    ApiJson(b): ApiJson<ApplyBody>,
) -> ApiResult<(StatusCode, Json<Job>)> {
    Ok((StatusCode::ACCEPTED, Json(svc(&st)?.start_apply(id, b.reason, b.force.unwrap_or(false), &c.actor).await.map_err(e)?)))
}

/// A server's generations, newest first.
#[utoipa::path(get, path = "/api/v1/servers/{id}/proxy/generations", tag = "proxy", params(("id" = i64, Path, description = "Server id"), PageQuery),
    responses((status = 200, body = PageOf<GenerationSummary>)))]
async fn list_generations(
    State(st): State<AppState>,
    _: Viewer,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<PageOf<GenerationSummary>>> {
    Ok(Json(svc(&st)?.generations(id, q.parse()?).await.map_err(e)?.into()))
}

/// One generation: files, diff against its predecessor, domain changes, nginx output, timings.
#[utoipa::path(get, path = "/api/v1/servers/{id}/proxy/generations/{number}", tag = "proxy", params(GenerationPath),
    responses((status = 200, body = GenerationDetail), (status = 404, body = gantry_api::error::Problem)))]
async fn get_generation(State(st): State<AppState>, _: Viewer, ApiPath(p): ApiPath<GenerationPath>) -> ApiResult<Json<GenerationDetail>> {
    Ok(Json(svc(&st)?.generation(p.id, p.number).await.map_err(e)?))
}

/// Roll back to an earlier generation that served (a job; itself a new generation with the old bytes).
#[utoipa::path(post, path = "/api/v1/servers/{id}/proxy/generations/{number}/rollback", tag = "proxy", params(GenerationPath),
    request_body = RollbackBody,
    responses((status = 202, body = Job), (status = 404, body = gantry_api::error::Problem), (status = 409, body = gantry_api::error::Problem)))]
async fn rollback(
    State(st): State<AppState>,
    Operator(c): Operator,
    ApiPath(p): ApiPath<GenerationPath>,
    ApiJson(b): ApiJson<RollbackBody>,
) -> ApiResult<(StatusCode, Json<Job>)> {
    Ok((StatusCode::ACCEPTED, Json(svc(&st)?.start_rollback(p.id, p.number, b.reason, &c.actor).await.map_err(e)?)))
}

/// Read back Gantry's files on the server now and compare them with the live generation.
#[utoipa::path(post, path = "/api/v1/servers/{id}/proxy/drift/check", tag = "proxy", params(("id" = i64, Path, description = "Server id")),
    responses((status = 200, body = DriftReport), (status = 409, body = gantry_api::error::Problem)))]
async fn check_drift(State(st): State<AppState>, _: Operator, ApiPath(id): ApiPath<i64>) -> ApiResult<Json<DriftReport>> {
    Ok(Json(svc(&st)?.check_drift(id).await.map_err(e)?))
}

/// Remove Gantry's configuration from the server (a job); optionally the nginx package too.
#[utoipa::path(post, path = "/api/v1/servers/{id}/proxy/uninstall", tag = "proxy", request_body = UninstallBody,
    params(("id" = i64, Path, description = "Server id")),
    responses((status = 202, body = Job), (status = 409, body = gantry_api::error::Problem)))]
async fn uninstall(
    State(st): State<AppState>,
    Operator(c): Operator,
    ApiPath(id): ApiPath<i64>,
    ApiJson(b): ApiJson<UninstallBody>,
) -> ApiResult<(StatusCode, Json<Job>)> {
    Ok((StatusCode::ACCEPTED, Json(svc(&st)?.start_uninstall(id, b.remove_package.unwrap_or(false), &c.actor).await.map_err(e)?)))
}

/// Fleet rollouts, newest first.
#[utoipa::path(get, path = "/api/v1/proxy/rollouts", tag = "proxy", params(PageQuery), responses((status = 200, body = PageOf<Rollout>)))]
async fn list_rollouts(State(st): State<AppState>, _: Viewer, ApiQuery(q): ApiQuery<PageQuery>) -> ApiResult<Json<PageOf<Rollout>>> {
    Ok(Json(svc(&st)?.rollouts(q.parse()?).await.map_err(e)?.into()))
}

/// Roll the desired configuration out to many servers: canary first, then bounded parallelism, stopping at the failure threshold.
#[utoipa::path(post, path = "/api/v1/proxy/rollouts", tag = "proxy", request_body = RolloutBody,
    responses((status = 202, body = Rollout), (status = 422, body = gantry_api::error::Problem)))]
async fn create_rollout(
    State(st): State<AppState>,
    Operator(c): Operator,
    ApiJson(b): ApiJson<RolloutBody>,
) -> ApiResult<(StatusCode, Json<Rollout>)> {
    let input = RolloutInput {
        server_ids: b.server_ids,
        canary: b.canary_server_id,
        max_parallel: b.max_parallel,
        max_failures: b.max_failures,
        reason: b.reason,
    };
    Ok((StatusCode::ACCEPTED, Json(svc(&st)?.start_rollout(input, Trigger::Manual, &c.actor).await.map_err(e)?)))
}

/// One rollout with every server's state.
#[utoipa::path(get, path = "/api/v1/proxy/rollouts/{id}", tag = "proxy", params(("id" = i64, Path, description = "Rollout id")),
    responses((status = 200, body = Rollout), (status = 404, body = gantry_api::error::Problem)))]
async fn get_rollout(State(st): State<AppState>, _: Viewer, ApiPath(id): ApiPath<i64>) -> ApiResult<Json<Rollout>> {
    Ok(Json(svc(&st)?.rollout(id).await.map_err(e)?))
}

/// Whether a domain's latest version is live on its server's proxy.
#[utoipa::path(get, path = "/api/v1/domains/{id}/proxy", tag = "proxy", params(("id" = i64, Path, description = "Domain id")),
    responses((status = 200, body = DomainLiveState), (status = 404, body = gantry_api::error::Problem)))]
async fn domain_state(State(st): State<AppState>, _: Viewer, ApiPath(id): ApiPath<i64>) -> ApiResult<Json<DomainLiveState>> {
    Ok(Json(svc(&st)?.domain_state(id).await.map_err(e)?))
}
