//! `/api/v1/monitoring/traffic…`: traffic over a range, per-server collection state, collect now.

use super::error::TrafficError;
use super::service::{CollectResult, RangeInput, ServerTraffic, TrafficService, TrafficView};
use axum::Json;
use axum::extract::State;
use gantry_api::error::{ApiError, ApiResult};
use gantry_api::extract::{ApiJson, ApiQuery, Operator, Viewer};
use gantry_api::state::AppState;
use gantry_core::ServiceError;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The traffic routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_traffic)).routes(routes!(list_servers)).routes(routes!(collect))
}

fn svc(st: &AppState) -> Result<Arc<TrafficService>, ApiError> {
    st.service::<TrafficService>()
}

fn e(err: TrafficError) -> ApiError {
    ApiError::from(ServiceError::from(err))
}

/// Range and filters. Timestamps are RFC 3339 and are checked by the service, so a bad one is a 422 naming it.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TrafficQuery {
    /// Only this server.
    pub server_id: Option<i64>,
    /// Only this domain (as configured; IDNs in their `xn--` form).
    pub domain: Option<String>,
    /// Start (RFC 3339); default one hour before `to`.
    pub from: Option<String>,
    /// End (RFC 3339); default now.
    pub to: Option<String>,
    /// 60 or 3600; by default minutes for ranges up to 24 hours inside the minute window, else hours.
    pub step_seconds: Option<i64>,
}

/// A collection request.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct CollectBody {
    /// Only this server (default: every server with the proxy installed).
    pub server_id: Option<i64>,
}

/// The outcome of a collection.
#[derive(Serialize, ToSchema)]
pub struct CollectResponse {
    /// One entry per server, by id.
    pub results: Vec<CollectResult>,
}

/// Requests, status classes, bytes and upstream latency over a range, per minute or per hour
/// (zero-filled), with totals and the busiest domains.
#[utoipa::path(get, path = "/api/v1/monitoring/traffic", operation_id = "get_traffic", tag = "monitoring", params(TrafficQuery),
    responses((status = 200, body = TrafficView), (status = 422, body = gantry_api::error::Problem)))]
async fn get_traffic(State(st): State<AppState>, _: Viewer, ApiQuery(q): ApiQuery<TrafficQuery>) -> ApiResult<Json<TrafficView>> {
    let input = RangeInput { server_id: q.server_id, domain: q.domain, from: q.from, to: q.to, step_seconds: q.step_seconds };
    Ok(Json(svc(&st)?.traffic(input).await.map_err(e)?))
}

/// Every proxy server's collection state (last success, last error) and nginx's own counters.
#[utoipa::path(get, path = "/api/v1/monitoring/traffic/servers", operation_id = "list_traffic_servers", tag = "monitoring",
    responses((status = 200, body = Vec<ServerTraffic>)))]
async fn list_servers(State(st): State<AppState>, _: Viewer) -> ApiResult<Json<Vec<ServerTraffic>>> {
    Ok(Json(svc(&st)?.servers().await.map_err(e)?))
}

/// Collect now, from one server or all, and wait for the result (bounded; passes still running
/// at the deadline are `pending` and finish in the background).
#[utoipa::path(post, path = "/api/v1/monitoring/traffic/collect", operation_id = "collect_traffic", tag = "monitoring", request_body = CollectBody,
    responses((status = 200, body = CollectResponse), (status = 404, body = gantry_api::error::Problem),
        (status = 409, body = gantry_api::error::Problem)))]
async fn collect(State(st): State<AppState>, _: Operator, ApiJson(b): ApiJson<CollectBody>) -> ApiResult<Json<CollectResponse>> {
    Ok(Json(CollectResponse { results: svc(&st)?.collect(b.server_id).await.map_err(e)? }))
}
