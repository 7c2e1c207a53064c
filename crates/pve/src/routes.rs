//! `/api/v1/pve/…`: thin handlers over [`PveService`].

use crate::blueprint::Blueprint;
use crate::cleanup::{CleanupRequest, Orphan, OrphanResult};
use crate::config::{YamlError, parse_blueprint, render_blueprint};
use crate::plan::{Plan, TemplateInfo};
use crate::service::{Cluster, ClusterInput, Credential, Deployed, DeploymentView, PveService, StandRequest, StoredBlueprint, TestReport};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gantry_api::error::{ApiError, ApiResult};
use gantry_api::extract::{ApiJson, ApiPath, Operator, Viewer};
use gantry_api::state::AppState;
use gantry_core::FieldError;
use gantry_core::jobs::Job;
use serde::Deserialize;
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The module's routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_clusters, create_cluster))
        .routes(routes!(get_cluster, update_cluster, delete_cluster))
        .routes(routes!(test_cluster))
        .routes(routes!(templates))
        .routes(routes!(orphans))
        .routes(routes!(remove_orphans))
        .routes(routes!(list_blueprints, create_blueprint))
        .routes(routes!(get_blueprint, update_blueprint, delete_blueprint))
        .routes(routes!(import_blueprint))
        .routes(routes!(export_blueprint))
        .routes(routes!(plan))
        .routes(routes!(deploy))
        .routes(routes!(list_deployments))
        .routes(routes!(get_deployment))
        .routes(routes!(retry))
        .routes(routes!(cleanup))
        .routes(routes!(credentials))
}

fn svc(st: &AppState) -> Result<Arc<PveService>, ApiError> {
    st.service::<PveService>()
}

/// Every cluster (never a secret).
#[utoipa::path(get, path = "/api/v1/pve/clusters", tag = "pve", responses((status = 200, body = Vec<Cluster>)))]
async fn list_clusters(State(st): State<AppState>, _: Viewer) -> ApiResult<Json<Vec<Cluster>>> {
    Ok(Json(svc(&st)?.clusters().await?))
}

/// Add a cluster: endpoints, an API token (or user + password), and a pinned fingerprint or CA.
#[utoipa::path(post, path = "/api/v1/pve/clusters", tag = "pve", request_body = ClusterInput,
    responses((status = 201, body = Cluster), (status = 422, body = gantry_api::error::Problem)))]
async fn create_cluster(
    State(st): State<AppState>,
    Operator(c): Operator,
    ApiJson(b): ApiJson<ClusterInput>,
) -> ApiResult<(StatusCode, Json<Cluster>)> {
    Ok((StatusCode::CREATED, Json(svc(&st)?.create_cluster(b, &c.actor).await?)))
}

/// One cluster.
#[utoipa::path(get, path = "/api/v1/pve/clusters/{id}", tag = "pve", params(("id" = i64, Path, description = "Cluster id")),
    responses((status = 200, body = Cluster), (status = 404, body = gantry_api::error::Problem)))]
async fn get_cluster(State(st): State<AppState>, _: Viewer, ApiPath(id): ApiPath<i64>) -> ApiResult<Json<Cluster>> {
    Ok(Json(svc(&st)?.cluster(id).await?))
}

/// Change a cluster (omit `secret` to keep the stored one).
#[utoipa::path(put, path = "/api/v1/pve/clusters/{id}", tag = "pve", request_body = ClusterInput, params(("id" = i64, Path, description = "Cluster id")),
    responses((status = 200, body = Cluster), (status = 422, body = gantry_api::error::Problem)))]
async fn update_cluster(
    State(st): State<AppState>,
    Operator(c): Operator,
    ApiPath(id): ApiPath<i64>,
    ApiJson(b): ApiJson<ClusterInput>,
) -> ApiResult<Json<Cluster>> {
    Ok(Json(svc(&st)?.update_cluster(id, b, &c.actor).await?))
}

/// Remove a cluster no deployment uses.
#[utoipa::path(delete, path = "/api/v1/pve/clusters/{id}", tag = "pve", params(("id" = i64, Path, description = "Cluster id")),
    responses((status = 204), (status = 409, body = gantry_api::error::Problem)))]
async fn delete_cluster(State(st): State<AppState>, Operator(c): Operator, ApiPath(id): ApiPath<i64>) -> ApiResult<StatusCode> {
    svc(&st)?.delete_cluster(id, &c.actor).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Test the connection: version, quorum, nodes online, missing privileges.
#[utoipa::path(post, path = "/api/v1/pve/clusters/{id}/test", tag = "pve", params(("id" = i64, Path, description = "Cluster id")),
    responses((status = 200, body = TestReport)))]
async fn test_cluster(State(st): State<AppState>, _: Operator, ApiPath(id): ApiPath<i64>) -> ApiResult<Json<TestReport>> {
    Ok(Json(svc(&st)?.test_cluster(id).await?))
}

/// Templates across the cluster (with their storages and locks).
#[utoipa::path(get, path = "/api/v1/pve/clusters/{id}/templates", tag = "pve", params(("id" = i64, Path, description = "Cluster id")),
    responses((status = 200, body = Vec<TemplateInfo>)))]
async fn templates(State(st): State<AppState>, _: Viewer, ApiPath(id): ApiPath<i64>) -> ApiResult<Json<Vec<TemplateInfo>>> {
    Ok(Json(svc(&st)?.templates(id).await?))
}

/// VMs tagged by Gantry that belong to no live stand, and clones left locked.
#[utoipa::path(get, path = "/api/v1/pve/clusters/{id}/orphans", tag = "pve", params(("id" = i64, Path, description = "Cluster id")),
    responses((status = 200, body = Vec<Orphan>)))]
async fn orphans(State(st): State<AppState>, _: Viewer, ApiPath(id): ApiPath<i64>) -> ApiResult<Json<Vec<Orphan>>> {
    Ok(Json(svc(&st)?.orphans(id).await?))
}

/// Which orphans to remove.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrphanRemoval {
    /// VMIDs (each must still be an orphan).
    pub vmids: Vec<u32>,
}

/// Stop and destroy orphans.
#[utoipa::path(post, path = "/api/v1/pve/clusters/{id}/orphans/remove", tag = "pve", request_body = OrphanRemoval,
    params(("id" = i64, Path, description = "Cluster id")), responses((status = 200, body = Vec<OrphanResult>)))]
async fn remove_orphans(
    State(st): State<AppState>,
    Operator(c): Operator,
    ApiPath(id): ApiPath<i64>,
    ApiJson(b): ApiJson<OrphanRemoval>,
) -> ApiResult<Json<Vec<OrphanResult>>> {
    Ok(Json(svc(&st)?.remove_orphans(id, &b.vmids, &c.actor).await?))
}

/// Stand blueprints.
#[utoipa::path(get, path = "/api/v1/pve/blueprints", tag = "pve", responses((status = 200, body = Vec<StoredBlueprint>)))]
async fn list_blueprints(State(st): State<AppState>, _: Viewer) -> ApiResult<Json<Vec<StoredBlueprint>>> {
    Ok(Json(svc(&st)?.blueprints().await?))
}

/// Create a blueprint.
#[utoipa::path(post, path = "/api/v1/pve/blueprints", tag = "pve", request_body = Blueprint,
    responses((status = 201, body = StoredBlueprint), (status = 422, body = gantry_api::error::Problem)))]
async fn create_blueprint(
    State(st): State<AppState>,
    Operator(c): Operator,
    ApiJson(b): ApiJson<Blueprint>,
) -> ApiResult<(StatusCode, Json<StoredBlueprint>)> {
    Ok((StatusCode::CREATED, Json(svc(&st)?.save_blueprint(None, b, &c.actor).await?)))
}

/// One blueprint.
#[utoipa::path(get, path = "/api/v1/pve/blueprints/{id}", tag = "pve", params(("id" = i64, Path, description = "Blueprint id")),
    responses((status = 200, body = StoredBlueprint)))]
async fn get_blueprint(State(st): State<AppState>, _: Viewer, ApiPath(id): ApiPath<i64>) -> ApiResult<Json<StoredBlueprint>> {
    Ok(Json(svc(&st)?.blueprint(id).await?))
}

/// Replace a blueprint (running deployments keep their own copy).
#[utoipa::path(put, path = "/api/v1/pve/blueprints/{id}", tag = "pve", request_body = Blueprint, params(("id" = i64, Path, description = "Blueprint id")),
    responses((status = 200, body = StoredBlueprint), (status = 422, body = gantry_api::error::Problem)))]
async fn update_blueprint(
    State(st): State<AppState>,
    Operator(c): Operator,
    ApiPath(id): ApiPath<i64>,
    ApiJson(b): ApiJson<Blueprint>,
) -> ApiResult<Json<StoredBlueprint>> {
    Ok(Json(svc(&st)?.save_blueprint(Some(id), b, &c.actor).await?))
}

/// Delete a blueprint.
#[utoipa::path(delete, path = "/api/v1/pve/blueprints/{id}", tag = "pve", params(("id" = i64, Path, description = "Blueprint id")), responses((status = 204)))]
async fn delete_blueprint(State(st): State<AppState>, Operator(c): Operator, ApiPath(id): ApiPath<i64>) -> ApiResult<StatusCode> {
    svc(&st)?.delete_blueprint(id, &c.actor).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A `deployment_config.yml` to import.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct YamlImport {
    /// The YAML text.
    pub yaml: String,
    /// Replace the blueprint of the same name if it exists.
    #[serde(default)]
    pub replace: bool,
}

fn yaml_problem(errs: Vec<YamlError>) -> ApiError {
    ApiError::validation(
        errs.into_iter()
            .map(|e| {
                FieldError::new(
                    e.path.clone().unwrap_or_else(|| "yaml".into()),
                    format!("line {}, column {}: {}", e.line, e.column, e.message),
                )
            })
            .collect(),
    )
}

/// Import a blueprint from YAML; errors name line and column.
#[utoipa::path(post, path = "/api/v1/pve/blueprints/import", tag = "pve", request_body = YamlImport,
    responses((status = 201, body = StoredBlueprint), (status = 422, body = gantry_api::error::Problem)))]
async fn import_blueprint(
    State(st): State<AppState>,
    Operator(c): Operator,
    ApiJson(b): ApiJson<YamlImport>,
) -> ApiResult<(StatusCode, Json<StoredBlueprint>)> {
    let bp = parse_blueprint("deployment_config.yml", &b.yaml).map_err(yaml_problem)?;
    let s = svc(&st)?;
    let existing = if b.replace { s.blueprint_by_name(&bp.name).await.ok().map(|x| x.id) } else { None };
    Ok((StatusCode::CREATED, Json(s.save_blueprint(existing, bp, &c.actor).await?)))
}

/// Export a blueprint as `deployment_config.yml`.
#[utoipa::path(get, path = "/api/v1/pve/blueprints/{id}/export", tag = "pve", params(("id" = i64, Path, description = "Blueprint id")),
    responses((status = 200, description = "text/yaml", body = String)))]
async fn export_blueprint(State(st): State<AppState>, _: Viewer, ApiPath(id): ApiPath<i64>) -> ApiResult<Response> {
    let b = svc(&st)?.blueprint(id).await?;
    let text = render_blueprint(&b.spec).map_err(ApiError::internal)?;
    let mut res = text.into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/yaml; charset=utf-8"));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{}.yml\"", b.spec.name)) {
        res.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(res)
}

/// Plan a deployment: VM → node, VMID, clone mode, with every node's score. Changes nothing.
#[utoipa::path(post, path = "/api/v1/pve/stands/plan", tag = "pve", request_body = StandRequest,
    responses((status = 200, body = Plan), (status = 422, body = gantry_api::error::Problem)))]
async fn plan(State(st): State<AppState>, _: Operator, ApiJson(b): ApiJson<StandRequest>) -> ApiResult<Json<Plan>> {
    Ok(Json(svc(&st)?.plan(&b).await?))
}

/// Deploy: plan, reserve VMIDs, and run the deployment as a job with live progress.
#[utoipa::path(post, path = "/api/v1/pve/stands/deploy", tag = "pve", request_body = StandRequest,
    responses((status = 202, body = Deployed), (status = 422, body = gantry_api::error::Problem)))]
async fn deploy(
    State(st): State<AppState>,
    Operator(c): Operator,
    ApiJson(b): ApiJson<StandRequest>,
) -> ApiResult<(StatusCode, Json<Deployed>)> {
    Ok((StatusCode::ACCEPTED, Json(svc(&st)?.deploy(&b, &c.actor).await?)))
}

/// Deployments, newest first, with per-user and per-VM state.
#[utoipa::path(get, path = "/api/v1/pve/deployments", tag = "pve", responses((status = 200, body = Vec<DeploymentView>)))]
async fn list_deployments(State(st): State<AppState>, _: Viewer) -> ApiResult<Json<Vec<DeploymentView>>> {
    Ok(Json(svc(&st)?.deployments().await?))
}

/// One deployment: user → VMs (node, VMID, status, error).
#[utoipa::path(get, path = "/api/v1/pve/deployments/{id}", tag = "pve", params(("id" = i64, Path, description = "Deployment id")),
    responses((status = 200, body = DeploymentView), (status = 404, body = gantry_api::error::Problem)))]
async fn get_deployment(State(st): State<AppState>, _: Viewer, ApiPath(id): ApiPath<i64>) -> ApiResult<Json<DeploymentView>> {
    Ok(Json(svc(&st)?.deployment(id).await?))
}

/// Resume a failed or partial deployment where it stopped.
#[utoipa::path(post, path = "/api/v1/pve/deployments/{id}/retry", tag = "pve", params(("id" = i64, Path, description = "Deployment id")),
    responses((status = 202, body = Job), (status = 409, body = gantry_api::error::Problem)))]
async fn retry(State(st): State<AppState>, Operator(c): Operator, ApiPath(id): ApiPath<i64>) -> ApiResult<(StatusCode, Json<Job>)> {
    Ok((StatusCode::ACCEPTED, Json(svc(&st)?.retry(id, &c.actor).await?)))
}

/// Clean up a deployment (or some users' stands): also the rollback of a failed deployment.
#[utoipa::path(post, path = "/api/v1/pve/deployments/{id}/cleanup", tag = "pve", request_body = CleanupRequest,
    params(("id" = i64, Path, description = "Deployment id")), responses((status = 202, body = Job), (status = 409, body = gantry_api::error::Problem)))]
async fn cleanup(
    State(st): State<AppState>,
    Operator(c): Operator,
    ApiPath(id): ApiPath<i64>,
    ApiJson(b): ApiJson<CleanupRequest>,
) -> ApiResult<(StatusCode, Json<Job>)> {
    Ok((StatusCode::ACCEPTED, Json(svc(&st)?.request_cleanup(id, b, &c.actor).await?)))
}

/// The passwords generated for new Proxmox users, shown once (then deleted).
#[utoipa::path(post, path = "/api/v1/pve/deployments/{id}/credentials", tag = "pve", params(("id" = i64, Path, description = "Deployment id")),
    responses((status = 200, body = Vec<Credential>)))]
async fn credentials(State(st): State<AppState>, Operator(c): Operator, ApiPath(id): ApiPath<i64>) -> ApiResult<Json<Vec<Credential>>> {
    Ok(Json(svc(&st)?.take_credentials(id, &c.actor).await?))
}
