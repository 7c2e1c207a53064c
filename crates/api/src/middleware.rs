//! Per-request plumbing: request ids, the tracing span, HTTP metrics, and
//! the client address.

use crate::state::AppState;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Instant;
use tracing::Instrument;

/// `X-Request-Id`.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

tokio::task_local! {
    /// The current request's id, readable from error rendering without threading it through.
    pub static REQUEST_ID: String;
}

/// The request id, also stored in request extensions for extractors.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// The client address as Gantry sees it.
#[derive(Debug, Clone)]
pub struct ClientIp(pub Option<String>);

/// Accepts a caller's request id if it is short and tame; otherwise makes one.
fn request_id(req: &Request) -> String {
    req.headers()
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|s| !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .map(str::to_string)
        .unwrap_or_else(|| gantry_core::tokens::random_token(12))
}

fn client_ip(req: &Request, trust_forwarded: bool) -> Option<String> {
    if trust_forwarded
        && let Some(first) = req
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.split(',').next())
            .map(str::trim)
            .and_then(|s| s.parse::<std::net::IpAddr>().ok())
    {
        return Some(first.to_string());
    }
    req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string())
}

/// Where the routing layer leaves the matched route template for [`observe`],
/// which runs before routing and so cannot see `MatchedPath` itself.
#[derive(Clone, Default)]
pub struct RouteSlot(Arc<OnceLock<String>>);

/// Records the matched route template; installed with `route_layer`.
pub async fn record_route(req: Request, next: Next) -> Response {
    if let (Some(slot), Some(path)) = (req.extensions().get::<RouteSlot>(), req.extensions().get::<MatchedPath>()) {
        let _ = slot.0.set(path.as_str().to_string());
        tracing::Span::current().record("route", path.as_str());
    }
    next.run(req).await
}

/// Request id, span, access log line and RED metrics for every request.
pub async fn observe(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request_id(&req);
    let method = req.method().clone();
    let ip = client_ip(&req, state.settings.trust_forwarded_headers);
    let slot = RouteSlot::default();
    req.extensions_mut().insert(RequestId(id.clone()));
    req.extensions_mut().insert(ClientIp(ip));
    req.extensions_mut().insert(slot.clone());
    let span = tracing::info_span!("http", request_id = %id, method = %method, route = tracing::field::Empty);
    let mut res = REQUEST_ID.scope(id.clone(), next.run(req).instrument(span.clone())).await;
    // Unmatched paths share one label so that scanners cannot inflate cardinality.
    let route = slot.0.get().cloned().unwrap_or_else(|| "unmatched".into());
    let status = res.status().as_u16();
    let elapsed = started.elapsed().as_secs_f64();
    state.http_metrics.requests.inc(&[method.as_str(), &route, &status.to_string()]);
    state.http_metrics.duration.observe(&[method.as_str(), &route], elapsed);
    span.in_scope(|| {
        if status >= 500 {
            tracing::warn!(status, elapsed_ms = elapsed * 1000.0, "request");
        } else {
            tracing::info!(status, elapsed_ms = elapsed * 1000.0, "request");
        }
    });
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(X_REQUEST_ID.clone(), v);
    }
    res
}

/// Baseline security headers on every response.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.entry("x-content-type-options").or_insert(HeaderValue::from_static("nosniff"));
    h.entry("referrer-policy").or_insert(HeaderValue::from_static("same-origin"));
    h.entry("x-frame-options").or_insert(HeaderValue::from_static("DENY"));
    res
}
