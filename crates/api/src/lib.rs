//! Gantry's HTTP layer.
//!
//! This crate owns everything between a socket and a service call: the
//! axum router, authentication extractors (session cookie + CSRF, bearer
//! tokens, role checks), problem+json errors, request ids, HTTP metrics, the
//! SSE event stream, the generated OpenAPI document and Swagger UI, and the
//! [`module::Module`] contract through which feature crates contribute their
//! routes, migrations, jobs, workers and event handlers.
//!
//! Handlers stay thin: extract and validate, call one service, map the result.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::await_holding_lock)]

pub mod error;
pub mod extract;
pub mod middleware;
pub mod module;
pub mod platform;
pub mod routes;
pub mod state;
pub mod ui;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::IntoResponse;
use error::ApiError;
use state::AppState;
use std::sync::Arc;
use tower_http::catch_panic::CatchPanicLayer;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

/// The OpenAPI document's static part; paths come from the routers.
#[derive(OpenApi)]
#[openapi(
    info(title = "Gantry API", description = "Self-hosted infrastructure control plane. Conventions: docs/api.md."),
    modifiers(&SecuritySchemes),
    security(("session" = []), ("token" = [])),
    tags(
        (name = "auth", description = "Login, sessions, the current user"),
        (name = "users", description = "Accounts and roles (admins)"),
        (name = "tokens", description = "API tokens for automation"),
        (name = "audit", description = "Append-only audit log (admins)"),
        (name = "jobs", description = "Durable background jobs"),
        (name = "events", description = "Live event stream (SSE)"),
        (name = "system", description = "Health, metrics, diagnostics"),
    )
)]
pub struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("session", SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(extract::SESSION_COOKIE))));
        components.add_security_scheme("csrf", SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-CSRF-Token"))));
        components.add_security_scheme("token", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
    }
}

/// Builds the OpenAPI document and the router from all modules' routes.
pub fn split(routes: OpenApiRouter<AppState>) -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi()).merge(routes).split_for_parts()
}

/// The OpenAPI document for the given routes, as served at `/api/openapi.json`.
pub fn openapi(routes: OpenApiRouter<AppState>) -> utoipa::openapi::OpenApi {
    let (_, mut api) = split(routes);
    api.info.version = env!("CARGO_PKG_VERSION").to_string();
    api
}

/// The complete HTTP application.
pub fn app(platform: AppState, routes: OpenApiRouter<AppState>) -> Router {
    let (router, mut api) = split(routes);
    api.info.version = env!("CARGO_PKG_VERSION").to_string();
    let max_body = platform.settings.max_body_bytes;
    router
        .merge(SwaggerUi::new("/api/docs").url("/api/openapi.json", api))
        .fallback(ui::serve)
        .method_not_allowed_fallback(method_not_allowed)
        .route_layer(from_fn(middleware::record_route))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(CatchPanicLayer::custom(|_| ApiError::internal("handler panicked").into_response()))
        .layer(from_fn_with_state(platform.clone(), middleware::observe))
        .layer(from_fn(middleware::security_headers))
        .with_state(platform)
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this endpoint does not accept that method; see /api/docs")
}

/// Re-exported so the binary does not depend on utoipa-axum directly.
pub use utoipa_axum::router::OpenApiRouter as ModuleRouter;

/// Convenience for tests and the binary: the platform as an `Arc`.
pub fn shared(p: state::Platform) -> AppState {
    Arc::new(p)
}
