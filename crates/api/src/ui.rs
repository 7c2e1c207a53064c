//! The embedded admin panel.
//!
//! `web/dist` (the Vite build) is embedded into release binaries; debug
//! builds read it from disk, so UI work needs no Rust rebuild. When the panel
//! was not built (no Node on the machine), `/` explains how to build it and
//! the API keeps working. Every panel response carries a strict
//! Content-Security-Policy: the panel has no inline scripts or styles and
//! talks only to its own origin.

use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};

#[derive(rust_embed::RustEmbed)]
#[folder = "../../web/dist"]
#[allow_missing = true]
struct Assets;

/// The policy every panel response carries.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; \
connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// Paths the SPA fallback must never answer (they belong to the API or operations).
fn reserved(path: &str) -> bool {
    path.starts_with("/api/") || path == "/api" || matches!(path, "/livez" | "/readyz" | "/metrics")
}

/// Whether the panel is built into (or, in debug builds, next to) this binary.
pub fn built() -> bool {
    Assets::get("index.html").is_some()
}

fn with_headers(mut res: Response, cache: &'static str) -> Response {
    let h = res.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    res
}

fn file(path: &str) -> Option<Response> {
    let f = Assets::get(path)?;
    let mime = f.metadata.mimetype().to_string();
    let mut res = f.data.into_owned().into_response();
    if let Ok(v) = HeaderValue::from_str(&mime) {
        res.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    // Vite content-hashes everything under assets/, so those never change.
    let cache = if path.starts_with("assets/") { "public, max-age=31536000, immutable" } else { "no-cache" };
    Some(with_headers(res, cache))
}

/// Serves a panel file, or `index.html` for client-side routes (SPA fallback).
pub async fn serve(method: Method, uri: Uri) -> Response {
    let path = uri.path();
    if reserved(path) || !matches!(method, Method::GET | Method::HEAD) {
        return crate::error::ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint; see /api/docs").into_response();
    }
    let rel = path.trim_start_matches('/');
    if !rel.is_empty()
        && let Some(res) = file(rel)
    {
        return res;
    }
    // Missing hashed assets are real 404s, not the app shell.
    if rel.starts_with("assets/") {
        return with_headers(StatusCode::NOT_FOUND.into_response(), "no-cache");
    }
    match file("index.html") {
        Some(res) => res,
        None => not_built(),
    }
}

fn not_built() -> Response {
    let page = Html(concat!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Gantry</title></head><body>",
        "<h1>Gantry</h1><p>The admin panel was not built into this binary. ",
        "Install Node.js 20+ and npm, then build it with <code>npm --prefix web ci &amp;&amp; npm --prefix web run build</code> ",
        "and rebuild Gantry, or use the README's run command (<code>./scripts/run</code>), which does both.</p>",
        "<p>The API works without it: <a href=\"/api/docs\">API documentation</a>.</p></body></html>"
    ));
    with_headers(page.into_response(), "no-cache")
}
