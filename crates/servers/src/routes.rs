//! `/api/v1/servers`.

use crate::model::{Privilege, Server};
use crate::service::{CredentialsInput, ServerInput, ServersService};
use crate::store::ListFilter;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use gantry_api::error::{ApiError, ApiResult};
use gantry_api::extract::{Admin, ApiJson, ApiPath, ApiQuery, IfMatch, Operator, Viewer, with_etag};
use gantry_api::routes::{PageOf, PageQuery};
use gantry_api::state::AppState;
use gantry_core::jobs::Job;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The module's routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_servers, create_server))
        .routes(routes!(get_server, update_server, delete_server))
        .routes(routes!(check_server))
        .routes(routes!(accept_host_key))
}

/// Credentials: paste a key, or ask Gantry to generate one.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialsRequest {
    /// Private key, OpenSSH or PEM (Ed25519, ECDSA, RSA). Write-only.
    #[schema(value_type = Option<String>, format = Password)]
    pub private_key: Option<SecretString>,
    /// Passphrase of an encrypted key. Write-only; used to open the key, never stored.
    #[schema(value_type = Option<String>, format = Password)]
    pub passphrase: Option<SecretString>,
    /// Generate an Ed25519 key pair instead; the response shows the public key and how to authorize it.
    pub generate: Option<bool>,
}

/// A server to create, or changes to one (omitted fields stay).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerRequest {
    /// Unique name.
    pub name: Option<String>,
    /// IPv4, IPv6 or DNS name.
    pub address: Option<String>,
    /// SSH port (default 22).
    pub port: Option<u32>,
    /// SSH user (default root).
    pub ssh_user: Option<String>,
    /// `root` or `sudo` (passwordless).
    pub privilege: Option<Privilege>,
    /// Labels.
    pub labels: Option<BTreeMap<String, String>>,
    /// Description.
    pub description: Option<String>,
    /// Extra settings: nginx_conf_dir, proxy_listen_address, connect_timeout_seconds, command_timeout_seconds.
    #[schema(value_type = Option<Object>)]
    pub parameters: Option<BTreeMap<String, Value>>,
    /// SSH credentials (required on create).
    pub credentials: Option<CredentialsRequest>,
    /// Pin this host-key fingerprint up front (`SHA256:…`); otherwise the first successful connection pins it.
    pub host_key: Option<String>,
}

/// Accepting a changed host key.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptHostKey {
    /// The pending fingerprint, as compared on the server (`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub`).
    pub fingerprint: String,
}

/// Server list filters.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ServerQuery {
    /// Substring of name, address or description.
    pub q: Option<String>,
    /// Only this status.
    pub status: Option<crate::model::ServerStatus>,
    /// Only servers with this label, as `key=value`.
    pub label: Option<String>,
    /// Page size.
    pub limit: Option<u64>,
    /// Cursor.
    pub cursor: Option<String>,
}

/// What a delete detached.
#[derive(Serialize, ToSchema)]
pub struct Deleted {
    /// The deleted server.
    pub id: i64,
    /// What depended on it and was detached.
    pub detached: Vec<String>,
}

/// Delete options.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeleteQuery {
    /// Detach dependents (the answer lists them) instead of refusing.
    pub force: Option<bool>,
}

fn input(r: ServerRequest) -> Result<ServerInput, ApiError> {
    let credentials = match r.credentials {
        None => None,
        Some(c) if c.generate == Some(true) => {
            if c.private_key.is_some() {
                return Err(ApiError::validation(vec![gantry_core::FieldError::new(
                    "credentials",
                    "give either private_key or generate, not both",
                )]));
            }
            Some(CredentialsInput::Generate)
        }
        Some(c) => match c.private_key {
            Some(k) => Some(CredentialsInput::Key { private_key: k, passphrase: c.passphrase }),
            None => {
                return Err(ApiError::validation(vec![gantry_core::FieldError::new(
                    "credentials.private_key",
                    "give a private key or set generate: true",
                )]));
            }
        },
    };
    Ok(ServerInput {
        name: r.name,
        address: r.address,
        port: r.port,
        ssh_user: r.ssh_user,
        privilege: r.privilege,
        labels: r.labels,
        description: r.description,
        parameters: r.parameters,
        credentials,
        host_key: r.host_key,
    })
}

fn reply(status: StatusCode, s: Server) -> Response {
    with_etag(status, s.version, s)
}

/// List servers.
#[utoipa::path(get, path = "/api/v1/servers", tag = "servers", params(ServerQuery), responses((status = 200, body = PageOf<Server>)))]
async fn list_servers(State(st): State<AppState>, _: Viewer, ApiQuery(q): ApiQuery<ServerQuery>) -> ApiResult<Json<PageOf<Server>>> {
    let page = PageQuery { limit: q.limit, cursor: q.cursor }.parse()?;
    let label = match q.label.as_deref().map(|l| l.split_once('=')) {
        Some(Some((k, v))) => Some((k.to_string(), v.to_string())),
        Some(None) => return Err(ApiError::validation(vec![gantry_core::FieldError::new("label", "use key=value")])),
        None => None,
    };
    let filter = ListFilter { q: q.q, status: q.status.map(|s| s.as_str().to_string()), label };
    Ok(Json(st.service::<ServersService>()?.list(&filter, page).await?.into()))
}

/// Add a server. Credentials are write-only: the answer shows the key type and fingerprint.
#[utoipa::path(post, path = "/api/v1/servers", tag = "servers", request_body = ServerRequest,
    responses((status = 201, body = Server), (status = 409, body = gantry_api::error::Problem), (status = 422, body = gantry_api::error::Problem)))]
async fn create_server(State(st): State<AppState>, Operator(c): Operator, ApiJson(r): ApiJson<ServerRequest>) -> ApiResult<Response> {
    let s = st.service::<ServersService>()?.create(input(r)?, &c.actor).await?;
    Ok(reply(StatusCode::CREATED, s))
}

/// One server.
#[utoipa::path(get, path = "/api/v1/servers/{id}", tag = "servers", params(("id" = i64, Path, description = "Server id")),
    responses((status = 200, body = Server), (status = 404, body = gantry_api::error::Problem)))]
async fn get_server(State(st): State<AppState>, _: Viewer, ApiPath(id): ApiPath<i64>) -> ApiResult<Response> {
    Ok(reply(StatusCode::OK, st.service::<ServersService>()?.get(id).await?))
}

/// Change a server (send `If-Match`).
#[utoipa::path(patch, path = "/api/v1/servers/{id}", tag = "servers", request_body = ServerRequest,
    params(("id" = i64, Path, description = "Server id"), ("If-Match" = Option<String>, Header, description = "ETag from a previous read")),
    responses((status = 200, body = Server), (status = 412, body = gantry_api::error::Problem), (status = 422, body = gantry_api::error::Problem)))]
async fn update_server(
    State(st): State<AppState>,
    Operator(c): Operator,
    ApiPath(id): ApiPath<i64>,
    IfMatch(v): IfMatch,
    ApiJson(r): ApiJson<ServerRequest>,
) -> ApiResult<Response> {
    Ok(reply(StatusCode::OK, st.service::<ServersService>()?.update(id, v, input(r)?, &c.actor).await?))
}

/// Delete a server; refused while something depends on it unless `force=true`.
#[utoipa::path(delete, path = "/api/v1/servers/{id}", tag = "servers", params(("id" = i64, Path, description = "Server id"), DeleteQuery),
    responses((status = 200, body = Deleted), (status = 409, body = gantry_api::error::Problem)))]
async fn delete_server(
    State(st): State<AppState>,
    Operator(c): Operator,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<DeleteQuery>,
) -> ApiResult<Json<Deleted>> {
    let detached = st.service::<ServersService>()?.delete(id, q.force.unwrap_or(false), &c.actor).await?;
    Ok(Json(Deleted { id, detached }))
}

/// Check a server step by step (a job; follow it on the event stream).
#[utoipa::path(post, path = "/api/v1/servers/{id}/check", tag = "servers", params(("id" = i64, Path, description = "Server id")),
    responses((status = 202, body = Job), (status = 404, body = gantry_api::error::Problem)))]
async fn check_server(State(st): State<AppState>, Operator(c): Operator, ApiPath(id): ApiPath<i64>) -> ApiResult<(StatusCode, Json<Job>)> {
    Ok((StatusCode::ACCEPTED, Json(st.service::<ServersService>()?.start_check(id, &c.actor).await?)))
}

/// Trust the server's new host key (admins, audited). Until then every operation on the server is refused.
#[utoipa::path(post, path = "/api/v1/servers/{id}/host-key/accept", tag = "servers", request_body = AcceptHostKey,
    params(("id" = i64, Path, description = "Server id")),
    responses((status = 200, body = Server), (status = 422, body = gantry_api::error::Problem)))]
async fn accept_host_key(
    State(st): State<AppState>,
    Admin(c): Admin,
    ApiPath(id): ApiPath<i64>,
    ApiJson(r): ApiJson<AcceptHostKey>,
) -> ApiResult<Response> {
    Ok(reply(StatusCode::OK, st.service::<ServersService>()?.accept_host_key(id, &r.fingerprint, &c.actor).await?))
}
