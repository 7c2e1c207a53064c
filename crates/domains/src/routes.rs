//! `/api/v1/domain-groups` and `/api/v1/domains`.

use crate::exchange::{self, Format, Report};
use crate::service::{Domain, DomainFilter, DomainGroup, DomainSort, DomainsService, GroupInput, OnDelete};
use crate::spec::DomainInput;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gantry_api::error::{ApiError, ApiResult};
use gantry_api::extract::{ApiJson, ApiPath, ApiQuery, IfMatch, Operator, Viewer, with_etag};
use gantry_api::routes::{PageOf, PageQuery};
use gantry_api::state::AppState;
use gantry_core::FieldError;
use gantry_core::page::Sort;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The module's routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_groups, create_group))
        .routes(routes!(get_group, update_group, delete_group))
        .routes(routes!(import_domains))
        .routes(routes!(export_domains))
        .routes(routes!(list_domains, create_domain))
        .routes(routes!(get_domain, update_domain, delete_domain))
        .routes(routes!(bulk_domains))
}

fn svc(st: &AppState) -> Result<std::sync::Arc<DomainsService>, ApiError> {
    st.service::<DomainsService>()
}

fn invalid(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::validation(vec![FieldError::new(field, message)])
}

/// A group to create, or changes to one.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupRequest {
    /// Unique name (a-z, 0-9, '.', '_', '-').
    pub name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Bind to this server; `null` unbinds (while preparing). Omit to keep.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub server_id: Option<Option<i64>>,
    /// Changes wait as a pending plan until an operator applies them.
    pub manual_approval: Option<bool>,
    /// Hand edits of this group's configuration on the server (drift) are repaired automatically.
    pub auto_repair: Option<bool>,
}

fn double_option<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
    Option::<i64>::deserialize(d).map(Some)
}

impl From<GroupRequest> for GroupInput {
    fn from(r: GroupRequest) -> Self {
        GroupInput {
            name: r.name,
            description: r.description,
            server_id: r.server_id,
            manual_approval: r.manual_approval,
            auto_repair: r.auto_repair,
        }
    }
}

/// Group list filters.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct GroupQuery {
    /// Substring of the name.
    pub q: Option<String>,
    /// Only groups bound to this server.
    pub server_id: Option<i64>,
    /// Page size.
    pub limit: Option<u64>,
    /// Cursor.
    pub cursor: Option<String>,
}

/// What to do with a deleted group's domains.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeleteGroupQuery {
    /// `delete` (delete them too) or `move` (to `move_to`). Required when the group has domains.
    pub domains: Option<String>,
    /// Target group for `domains=move`.
    pub move_to: Option<i64>,
}

/// Result of deleting a group.
#[derive(Serialize, ToSchema)]
pub struct GroupDeleted {
    /// The deleted group.
    pub id: i64,
    /// How many domains it had (deleted or moved).
    pub domains: u64,
}

/// Domain list filters.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DomainQuery {
    /// Substring of the name (Unicode or punycode).
    pub q: Option<String>,
    /// Only this group.
    pub group_id: Option<i64>,
    /// Only domains served by this server.
    pub server_id: Option<i64>,
    /// Only enabled (true) or disabled (false).
    pub enabled: Option<bool>,
    /// `name` (default), `id`; prefix `-` for descending.
    pub sort: Option<String>,
    /// Page size.
    pub limit: Option<u64>,
    /// Cursor.
    pub cursor: Option<String>,
}

/// A bulk action.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkRequest {
    /// The domains.
    pub ids: Vec<i64>,
    /// `enable`, `disable`, `move` or `delete`.
    pub action: String,
    /// Target group for `move`.
    pub group_id: Option<i64>,
}

/// How many domains a bulk action touched.
#[derive(Serialize, ToSchema)]
pub struct BulkResult {
    /// Domains changed.
    pub affected: u64,
}

/// An import.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    /// `yaml` or `csv`.
    pub format: Format,
    /// The file's text.
    pub content: String,
    /// Only report what would happen.
    pub dry_run: bool,
}

/// Export format.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    /// `yaml` (default) or `csv`.
    pub format: Option<Format>,
}

/// List domain groups.
#[utoipa::path(get, path = "/api/v1/domain-groups", tag = "domains", params(GroupQuery), responses((status = 200, body = PageOf<DomainGroup>)))]
async fn list_groups(State(st): State<AppState>, _: Viewer, ApiQuery(q): ApiQuery<GroupQuery>) -> ApiResult<Json<PageOf<DomainGroup>>> {
    let page = PageQuery { limit: q.limit, cursor: q.cursor }.parse()?;
    Ok(Json(svc(&st)?.list_groups(q.q.as_deref(), q.server_id, page).await?.into()))
}

/// Create a domain group, bound to a server or not.
#[utoipa::path(post, path = "/api/v1/domain-groups", tag = "domains", request_body = GroupRequest,
    responses((status = 201, body = DomainGroup), (status = 409, body = gantry_api::error::Problem), (status = 422, body = gantry_api::error::Problem)))]
async fn create_group(State(st): State<AppState>, Operator(c): Operator, ApiJson(r): ApiJson<GroupRequest>) -> ApiResult<Response> {
    let g = svc(&st)?.create_group(r.into(), &c.actor).await?;
    Ok(with_etag(StatusCode::CREATED, g.version, g))
}

/// One domain group.
#[utoipa::path(get, path = "/api/v1/domain-groups/{id}", tag = "domains", params(("id" = i64, Path, description = "Group id")),
    responses((status = 200, body = DomainGroup), (status = 404, body = gantry_api::error::Problem)))]
async fn get_group(State(st): State<AppState>, _: Viewer, ApiPath(id): ApiPath<i64>) -> ApiResult<Response> {
    let g = svc(&st)?.get_group(id).await?;
    Ok(with_etag(StatusCode::OK, g.version, g))
}

/// Rename, describe, bind or move a group (send `If-Match`).
#[utoipa::path(patch, path = "/api/v1/domain-groups/{id}", tag = "domains", request_body = GroupRequest,
    params(("id" = i64, Path, description = "Group id"), ("If-Match" = Option<String>, Header, description = "ETag from a previous read")),
    responses((status = 200, body = DomainGroup), (status = 409, body = gantry_api::error::Problem), (status = 412, body = gantry_api::error::Problem)))]
async fn update_group(
    State(st): State<AppState>,
    Operator(c): Operator,
    ApiPath(id): ApiPath<i64>,
    IfMatch(v): IfMatch,
    ApiJson(r): ApiJson<GroupRequest>,
) -> ApiResult<Response> {
    let g = svc(&st)?.update_group(id, v, r.into(), &c.actor).await?;
    Ok(with_etag(StatusCode::OK, g.version, g))
}

/// Delete a group. If it has domains, say what happens to them: `domains=delete` or `domains=move&move_to=<group>`.
#[utoipa::path(delete, path = "/api/v1/domain-groups/{id}", tag = "domains", params(("id" = i64, Path, description = "Group id"), DeleteGroupQuery),
    responses((status = 200, body = GroupDeleted), (status = 409, body = gantry_api::error::Problem)))]
async fn delete_group(
    State(st): State<AppState>,
    Operator(c): Operator,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<DeleteGroupQuery>,
) -> ApiResult<Json<GroupDeleted>> {
    let mode = match (q.domains.as_deref(), q.move_to) {
        (None, _) => OnDelete::Refuse,
        (Some("delete"), None) => OnDelete::Delete,
        (Some("move"), Some(t)) => OnDelete::MoveTo(t),
        (Some("move"), None) => return Err(invalid("move_to", "is required with domains=move")),
        (Some(other), _) => return Err(invalid("domains", format!("{other:?} is not delete or move"))),
    };
    let n = svc(&st)?.delete_group(id, mode, &c.actor).await?;
    Ok(Json(GroupDeleted { id, domains: n }))
}

/// Import domains into a group from YAML or CSV. With `dry_run` nothing changes; the report says, line by line, what would be created, updated, left unchanged or rejected.
#[utoipa::path(post, path = "/api/v1/domain-groups/{id}/import", tag = "domains", request_body = ImportRequest,
    params(("id" = i64, Path, description = "Group id")), responses((status = 200, body = Report), (status = 422, body = gantry_api::error::Problem)))]
async fn import_domains(
    State(st): State<AppState>,
    Operator(c): Operator,
    ApiPath(id): ApiPath<i64>,
    ApiJson(r): ApiJson<ImportRequest>,
) -> ApiResult<Json<Report>> {
    let items = exchange::parse(r.format, &r.content).map_err(|e| ApiError::validation(vec![e]))?;
    Ok(Json(svc(&st)?.import(id, items, r.dry_run, &c.actor).await?))
}

/// Export a group's domains as YAML (every field) or CSV (the simple fields).
#[utoipa::path(get, path = "/api/v1/domain-groups/{id}/export", tag = "domains", params(("id" = i64, Path, description = "Group id"), ExportQuery),
    responses((status = 200, description = "text/yaml or text/csv", body = String)))]
async fn export_domains(
    State(st): State<AppState>,
    _: Viewer,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> ApiResult<Response> {
    let format = q.format.unwrap_or(Format::Yaml);
    let rows = svc(&st)?.export(id).await?;
    let text = exchange::render(format, &rows).map_err(ApiError::internal)?;
    let (ct, ext) = match format {
        Format::Yaml => ("text/yaml; charset=utf-8", "yaml"),
        Format::Csv => ("text/csv; charset=utf-8", "csv"),
    };
    let mut res = text.into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"domains-group-{id}.{ext}\"")) {
        res.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(res)
}

/// Search, filter and page through domains across groups.
#[utoipa::path(get, path = "/api/v1/domains", tag = "domains", params(DomainQuery), responses((status = 200, body = PageOf<Domain>)))]
async fn list_domains(State(st): State<AppState>, _: Viewer, ApiQuery(q): ApiQuery<DomainQuery>) -> ApiResult<Json<PageOf<Domain>>> {
    let page = PageQuery { limit: q.limit, cursor: q.cursor }.parse()?;
    let sort = q.sort.as_deref().map(|s| Sort::parse(s, DomainSort::ALLOWED)).transpose().map_err(|e| ApiError::validation(vec![e]))?;
    let f = DomainFilter { q: q.q, group_id: q.group_id, server_id: q.server_id, enabled: q.enabled, sort };
    Ok(Json(svc(&st)?.list_domains(&f, page).await?.into()))
}

/// Create a domain in a group.
#[utoipa::path(post, path = "/api/v1/domains", tag = "domains", request_body = DomainInput,
    responses((status = 201, body = Domain), (status = 409, body = gantry_api::error::Problem), (status = 422, body = gantry_api::error::Problem)))]
async fn create_domain(State(st): State<AppState>, Operator(c): Operator, ApiJson(r): ApiJson<DomainInput>) -> ApiResult<Response> {
    let d = svc(&st)?.create_domain(r, &c.actor).await?;
    Ok(with_etag(StatusCode::CREATED, d.version, d))
}

/// One domain, with where it is served (group → server).
#[utoipa::path(get, path = "/api/v1/domains/{id}", tag = "domains", params(("id" = i64, Path, description = "Domain id")),
    responses((status = 200, body = Domain), (status = 404, body = gantry_api::error::Problem)))]
async fn get_domain(State(st): State<AppState>, _: Viewer, ApiPath(id): ApiPath<i64>) -> ApiResult<Response> {
    let d = svc(&st)?.get_domain(id).await?;
    Ok(with_etag(StatusCode::OK, d.version, d))
}

/// Change a domain; omitted fields stay, options merge field by field (send `If-Match`).
#[utoipa::path(patch, path = "/api/v1/domains/{id}", tag = "domains", request_body = DomainInput,
    params(("id" = i64, Path, description = "Domain id"), ("If-Match" = Option<String>, Header, description = "ETag from a previous read")),
    responses((status = 200, body = Domain), (status = 409, body = gantry_api::error::Problem), (status = 412, body = gantry_api::error::Problem), (status = 422, body = gantry_api::error::Problem)))]
async fn update_domain(
    State(st): State<AppState>,
    Operator(c): Operator,
    ApiPath(id): ApiPath<i64>,
    IfMatch(v): IfMatch,
    ApiJson(r): ApiJson<DomainInput>,
) -> ApiResult<Response> {
    let d = svc(&st)?.update_domain(id, v, r, &c.actor).await?;
    Ok(with_etag(StatusCode::OK, d.version, d))
}

/// Delete a domain.
#[utoipa::path(delete, path = "/api/v1/domains/{id}", tag = "domains", params(("id" = i64, Path, description = "Domain id")),
    responses((status = 204), (status = 404, body = gantry_api::error::Problem)))]
async fn delete_domain(State(st): State<AppState>, Operator(c): Operator, ApiPath(id): ApiPath<i64>) -> ApiResult<StatusCode> {
    svc(&st)?.delete_domain(id, &c.actor).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Enable, disable, move or delete many domains at once (all or nothing).
#[utoipa::path(post, path = "/api/v1/domains/bulk", tag = "domains", request_body = BulkRequest,
    responses((status = 200, body = BulkResult), (status = 409, body = gantry_api::error::Problem), (status = 422, body = gantry_api::error::Problem)))]
async fn bulk_domains(State(st): State<AppState>, Operator(c): Operator, ApiJson(r): ApiJson<BulkRequest>) -> ApiResult<Json<BulkResult>> {
    let affected = svc(&st)?.bulk(&r.ids, &r.action, r.group_id, &c.actor).await?;
    Ok(Json(BulkResult { affected }))
}
