//! The `/api2/json` front door, in the order pveproxy works: resolve the handler (501),
//! authenticate (401, delayed), proxy to the target node (595 if it is offline), verify
//! parameters against the schema (400), check the privilege (403), run the handler.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, Method, Uri};
use serde_json::{Value, json};

use crate::auth::{self, Caller};
use crate::error::ApiError;
use crate::routes::{self, Call, Params};
use crate::schema::{self, ValidationError};
use crate::server::LocalNode;
use crate::state::{RequestRecord, Sim};

/// Parses query string and body (form or JSON) into Perl-style string parameters.
fn collect_params(uri: &Uri, headers: &HeaderMap, body: &Bytes) -> BTreeMap<String, String> {
    let mut params = BTreeMap::new();
    if let Some(q) = uri.query() {
        for (k, v) in form_urlencoded::parse(q.as_bytes()) {
            params.insert(k.into_owned(), v.into_owned());
        }
    }
    if body.is_empty() {
        return params;
    }
    let is_json = headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("json"));
    if is_json {
        if let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) {
            for (k, v) in map {
                let s = match v {
                    Value::Null => continue,
                    Value::Bool(b) => {
                        if b {
                            "1".into()
                        } else {
                            "0".into()
                        }
                    }
                    Value::String(s) => s,
                    Value::Number(n) => n.to_string(),
                    Value::Array(items) => items
                        .iter()
                        .map(|i| match i {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        })
                        .collect::<Vec<_>>()
                        .join(","),
                    other @ Value::Object(_) => other.to_string(),
                };
                params.insert(k, s);
            }
        }
    } else {
        for (k, v) in form_urlencoded::parse(body) {
            params.insert(k.into_owned(), v.into_owned());
        }
    }
    params
}

fn cookie_ticket(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix("PVEAuthCookie=").map(str::to_string))
        .map(|raw| form_urlencoded::parse(format!("t={raw}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or(raw))
}

/// Authenticates a request: token header, or ticket cookie plus CSRF on writes.
fn authenticate(sim: &Sim, method: &Method, headers: &HeaderMap) -> Result<Caller, ApiError> {
    if let Some(authz) = headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok())
        && authz.starts_with("PVEAPIToken")
    {
        return auth::verify_token(&sim.cluster(), authz).ok_or_else(|| ApiError::unauthorized("invalid token value!"));
    }
    let Some(ticket) = cookie_ticket(headers) else {
        return Err(ApiError::unauthorized("no ticket"));
    };
    let user = auth::verify_ticket(sim, &ticket).ok_or_else(|| ApiError::unauthorized("invalid PVE ticket"))?;
    if method != Method::GET {
        let csrf = headers.get("CSRFPreventionToken").and_then(|v| v.to_str().ok()).unwrap_or("");
        if !auth::verify_csrf(sim, &user, csrf) {
            return Err(ApiError::unauthorized("invalid csrf token"));
        }
    }
    Ok(Caller { userid: user, tokenid: None })
}

/// Fills `{name}` placeholders of an ACL path from the parameters.
fn acl_path(template: &str, params: &Params) -> String {
    let mut out = template.to_string();
    for (k, v) in &params.0 {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    out
}

/// The node a `/nodes/{node}/...` request is proxied to.
fn target_node(path: &str) -> Option<String> {
    let mut segs = path.split('/').filter(|s| !s.is_empty());
    (segs.next() == Some("nodes")).then(|| segs.next().map(schema::percent_decode)).flatten()
}

/// The `/api2/json/*` handler.
pub(crate) async fn dispatch(
    State(sim): State<Arc<Sim>>,
    Extension(local): Extension<LocalNode>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().strip_prefix("/api2/json").unwrap_or(uri.path()).to_string();
    let params = collect_params(&uri, &headers, &body);
    let mut record = RequestRecord {
        method: method.to_string(),
        path: path.clone(),
        template: None,
        params: params
            .iter()
            .map(|(k, v)| {
                let masked = matches!(k.as_str(), "password" | "cipassword");
                (k.clone(), if masked { "********".into() } else { v.clone() })
            })
            .collect(),
        status: 200,
        auth: "none".into(),
        schema_errors: BTreeMap::new(),
        message: None,
        listener: local.0.clone(),
        time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    };
    let result = handle(&sim, &method, &path, params, &headers, &local.0, &mut record).await;
    let response = match result {
        Ok(data) => axum::Json(json!({ "data": data })).into_response(),
        Err(err) => {
            record.status = err.status;
            record.message = Some(err.message.clone());
            if err.status == 401 {
                // pveproxy: "always delay unauthorized calls by 3 seconds".
                let delay = sim.timing().exact(sim.timing().auth_failure_delay_ms);
                tokio::time::sleep(delay).await;
            }
            let reason: String = err.message.chars().map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { ' ' }).take(200).collect();
            let mut resp = err.into_response();
            if let Ok(phrase) = hyper::ext::ReasonPhrase::try_from(reason) {
                resp.extensions_mut().insert(phrase);
            }
            resp
        }
    };
    tracing::debug!(method = %record.method, path = %record.path, status = record.status, "api request");
    {
        let mut stats = sim.stats();
        stats.requests += 1;
        *stats.by_status.entry(record.status).or_default() += 1;
        if let Some(t) = &record.template {
            *stats.by_route.entry(format!("{} {t}", record.method)).or_default() += 1;
        }
        if !record.schema_errors.is_empty() {
            stats.schema_violations += 1;
        }
    }
    if let Ok(mut log) = sim.requests.lock() {
        log.push(record);
    }
    response
}

async fn handle(
    sim: &Arc<Sim>,
    method: &Method,
    path: &str,
    params: BTreeMap<String, String>,
    headers: &HeaderMap,
    local: &str,
    record: &mut RequestRecord,
) -> Result<Value, ApiError> {
    let method_s = method.as_str();
    // Validate up front so every request's schema errors are recorded, even when auth fails.
    let checked = schema::check(method_s, path, &params);
    let route_match = match &checked {
        Ok(m) => Some(m.clone()),
        Err(ValidationError::Params(errors)) => {
            record.schema_errors = errors.clone();
            schema::lookup(method_s, path).ok()
        }
        Err(e @ ValidationError::NotImplemented { .. }) => {
            record.schema_errors = BTreeMap::from([(String::new(), e.to_string())]);
            return Err(ApiError::new(501, e.to_string()));
        }
        Err(e @ ValidationError::Unavailable(_)) => return Err(ApiError::internal(e.to_string())),
    };
    let Some(route_match) = route_match else {
        return Err(ApiError::new(501, format!("Method '{method_s} {path}' not implemented")));
    };
    record.template = Some(route_match.template.clone());
    let Some(route) = routes::find(method_s, &route_match.template) else {
        return Err(ApiError::new(501, format!("Method '{method_s} {path}' not implemented")));
    };
    let caller = if route.world {
        None
    } else {
        let caller = authenticate(sim, method, headers)?;
        record.auth = caller.kind().into();
        Some(caller)
    };
    if let Some((status, message)) = sim.faults().take_api_error(path) {
        return Err(ApiError::new(status, message));
    }
    if let Some(node) = target_node(path)
        && sim.node_exists(&node)
        && !sim.is_online(&node)
    {
        return Err(ApiError::node_unreachable());
    }
    if let Err(ValidationError::Params(errors)) = checked {
        return Err(ApiError::params(errors));
    }
    let mut all = params;
    for (k, v) in route_match.path_params {
        all.insert(k, v);
    }
    let params = Params(all);
    if let (Some(caller), Some((tmpl, privilege))) = (&caller, route.privilege) {
        let acl = acl_path(tmpl, &params);
        if !auth::has_privilege(&sim.cluster(), caller, &acl, privilege) {
            return Err(ApiError::forbidden(&acl, privilege));
        }
    }
    route.call(Call { sim: sim.clone(), params, caller, local: local.to_string() }).await
}
