//! `/api/v1/certificates…` and `/api/v1/domains/{id}/certificate…`.

use crate::acme::{AccountInput, AcmeAccount, IssueInput};
use crate::service::{Certificate, TlsService, UploadInput};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use gantry_api::error::{ApiError, ApiResult};
use gantry_api::extract::{ApiJson, ApiPath, Operator, Viewer};
use gantry_api::state::AppState;
use gantry_core::jobs::Job;
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The module's routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, upload))
        .routes(routes!(get_one, delete_one))
        .routes(routes!(list_accounts, create_account))
        .routes(routes!(domain_tls))
        .routes(routes!(issue))
}

fn svc(st: &AppState) -> Result<Arc<TlsService>, ApiError> {
    st.service::<TlsService>()
}

/// Every certificate, soonest expiry first (never a private key).
#[utoipa::path(get, path = "/api/v1/certificates", tag = "certificates", responses((status = 200, body = Vec<Certificate>)))]
async fn list(State(st): State<AppState>, _: Viewer) -> ApiResult<Json<Vec<Certificate>>> {
    Ok(Json(svc(&st)?.list().await?))
}

/// Upload a PEM chain (leaf first) and its private key; checked, the key encrypted at rest.
#[utoipa::path(post, path = "/api/v1/certificates", tag = "certificates", request_body = UploadInput,
    responses((status = 201, body = Certificate), (status = 422, body = gantry_api::error::Problem)))]
async fn upload(
    State(st): State<AppState>,
    Operator(c): Operator,
    ApiJson(b): ApiJson<UploadInput>,
) -> ApiResult<(StatusCode, Json<Certificate>)> {
    Ok((StatusCode::CREATED, Json(svc(&st)?.upload(b, &c.actor).await?)))
}

/// One certificate, with the domains and servers using it.
#[utoipa::path(get, path = "/api/v1/certificates/{id}", tag = "certificates", params(("id" = i64, Path, description = "Certificate id")),
    responses((status = 200, body = Certificate), (status = 404, body = gantry_api::error::Problem)))]
async fn get_one(State(st): State<AppState>, _: Viewer, ApiPath(id): ApiPath<i64>) -> ApiResult<Json<Certificate>> {
    Ok(Json(svc(&st)?.get(id).await?))
}

/// Delete a certificate no domain serves.
#[utoipa::path(delete, path = "/api/v1/certificates/{id}", tag = "certificates", params(("id" = i64, Path, description = "Certificate id")),
    responses((status = 204), (status = 409, body = gantry_api::error::Problem)))]
async fn delete_one(State(st): State<AppState>, Operator(c): Operator, ApiPath(id): ApiPath<i64>) -> ApiResult<StatusCode> {
    svc(&st)?.delete(id, &c.actor).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// ACME accounts (credentials never leave Gantry).
#[utoipa::path(get, path = "/api/v1/certificates/acme-accounts", tag = "certificates", responses((status = 200, body = Vec<AcmeAccount>)))]
async fn list_accounts(State(st): State<AppState>, _: Viewer) -> ApiResult<Json<Vec<AcmeAccount>>> {
    Ok(Json(svc(&st)?.accounts().await?.into_iter().map(AcmeAccount::from).collect()))
}

/// Add an ACME account: a preset (Let's Encrypt, staging) or any directory, with an optional CA bundle.
#[utoipa::path(post, path = "/api/v1/certificates/acme-accounts", tag = "certificates", request_body = AccountInput,
    responses((status = 201, body = AcmeAccount), (status = 422, body = gantry_api::error::Problem)))]
async fn create_account(
    State(st): State<AppState>,
    Operator(c): Operator,
    ApiJson(b): ApiJson<AccountInput>,
) -> ApiResult<(StatusCode, Json<AcmeAccount>)> {
    Ok((StatusCode::CREATED, Json(svc(&st)?.create_account(b, &c.actor).await?)))
}

/// A domain's TLS: its ACME certificate, if any, and uploaded certificates that cover it.
#[derive(Debug, Serialize, ToSchema)]
pub struct DomainTls {
    /// The ACME certificate issued for it.
    pub acme: Option<Certificate>,
    /// Uploaded certificates whose names cover the domain and its aliases, latest expiry first.
    pub suggestions: Vec<Certificate>,
    /// The certificate served now, if any (uploaded or ACME).
    pub serving: Option<Certificate>,
}

/// A domain's certificate state and suggestions.
#[utoipa::path(get, path = "/api/v1/domains/{id}/certificate", tag = "certificates", params(("id" = i64, Path, description = "Domain id")),
    responses((status = 200, body = DomainTls), (status = 404, body = gantry_api::error::Problem)))]
async fn domain_tls(State(st): State<AppState>, _: Viewer, ApiPath(id): ApiPath<i64>) -> ApiResult<Json<DomainTls>> {
    Ok(Json(svc(&st)?.domain_tls(id).await?))
}

/// Issue (or renew now) a certificate for a domain with ACME: a job with live progress.
#[utoipa::path(post, path = "/api/v1/domains/{id}/certificate/issue", tag = "certificates", request_body = IssueInput,
    params(("id" = i64, Path, description = "Domain id")),
    responses((status = 202, body = Job), (status = 409, body = gantry_api::error::Problem), (status = 422, body = gantry_api::error::Problem)))]
async fn issue(
    State(st): State<AppState>,
    Operator(c): Operator,
    ApiPath(id): ApiPath<i64>,
    ApiJson(b): ApiJson<IssueInput>,
) -> ApiResult<(StatusCode, Json<Job>)> {
    Ok((StatusCode::ACCEPTED, Json(svc(&st)?.request_issue(id, b, &c.actor).await?)))
}

impl TlsService {
    /// A domain's TLS state.
    pub async fn domain_tls(&self, id: i64) -> Result<DomainTls, gantry_core::ServiceError> {
        let d = self.domains.get_domain(id).await?;
        let mut names = vec![d.name.clone()];
        names.extend(d.aliases.iter().cloned());
        let acme = self.for_domain(id).await?;
        let suggestions = self.suggestions(&names).await?;
        let serving = match (d.options.tls, d.options.certificate_id) {
            (gantry_domains::spec::TlsMode::Certificate, Some(c)) => self.get(c).await.ok(),
            (gantry_domains::spec::TlsMode::Acme, _) => acme.clone().filter(|c| c.status != "pending" && !c.fingerprint.is_empty()),
            _ => None,
        };
        Ok(DomainTls { acme, suggestions, serving })
    }
}
