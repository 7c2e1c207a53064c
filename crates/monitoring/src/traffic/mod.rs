//! Proxy traffic statistics.
//!
//! Every managed proxy logs one `gantry_stats` line per request (see
//! `gantry_proxy::render`) to `<conf_dir>/gantry/logs/access.log`. Every
//! `interval`, and on demand, each server with the proxy installed is read
//! over its SSH connection: nginx's `stub_status` page, and the part of the
//! log not read yet (bounded per pass; a rotated file is finished first;
//! Gantry rotates the log itself past a size). Lines become per-minute counts
//! per server and domain; minutes older than `minute_window` are folded into
//! hours, and hours older than `hour_retention` are pruned.
//!
//! A line is counted exactly once: counts and the log cursor are written in
//! one transaction whose cursor update is conditional on the cursor the pass
//! started from (see [`store`]). A short lease keeps two replicas from
//! reading the same server at once, but correctness does not depend on it.
//!
//! Tables: `traffic_minute`, `traffic_hour`, `traffic_stub`, `traffic_cursor`.
//! Routes: `GET /api/v1/monitoring/traffic`, `GET …/traffic/servers`,
//! `POST …/traffic/collect`. Servers are named through `ServersService`, and
//! which servers have a proxy comes from `ProxyService::installations`.

mod error;
mod parse;
mod remote;
mod routes;
mod service;
mod store;

pub use error::TrafficError;
pub use service::{
    CollectResult, DEFAULT_ROTATE_BYTES, DomainTraffic, PassResult, READ_WINDOW, RangeInput, ServerTraffic, TrafficCounts, TrafficPoint,
    TrafficService, TrafficView,
};

use async_trait::async_trait;
use gantry_api::module::{Mount, MountError, Worker};
use gantry_api::state::{AppState, Platform};
use gantry_proxy::ProxyService;
use gantry_servers::ServersService;
use gantry_store::ModuleMigration;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use utoipa_axum::router::OpenApiRouter;

/// Traffic collection settings (`[monitoring]` in the configuration).
#[derive(Debug, Clone)]
pub struct TrafficSettings {
    /// How often each proxy is read; zero turns collection off.
    pub interval: Duration,
    /// How long per-minute points are kept before they are folded into hours.
    pub minute_window: Duration,
    /// How long per-hour points are kept.
    pub hour_retention: Duration,
}

pub(crate) fn migrations() -> Vec<ModuleMigration> {
    vec![ModuleMigration { module: "monitoring", step: Box::new(store::CreateTraffic) }]
}

pub(crate) fn router() -> OpenApiRouter<AppState> {
    routes::router()
}

pub(crate) fn mount(p: &Arc<Platform>, s: &TrafficSettings) -> Result<Mount, MountError> {
    let need = |what: &str| MountError { module: "monitoring", reason: format!("the {what} module must be mounted first") };
    let servers = p.service::<ServersService>().map_err(|_| need("servers"))?;
    let proxy = p.service::<ProxyService>().map_err(|_| need("proxy"))?;
    let svc = Arc::new(TrafficService::new(p.db.clone(), servers.clone(), proxy, p.bus.clone(), s.clone()));
    servers.add_dependents(Arc::new(ForgetOnDelete(svc.clone())));
    register_metrics(p, &svc);
    p.provide(svc.clone());
    let mut mount = Mount::default();
    if !s.interval.is_zero() {
        let every = s.interval;
        let worker: Worker = Box::new(move |stop: CancellationToken| {
            Box::pin(async move {
                svc.refresh_snapshot().await;
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(every) => {}
                    }
                    // Shutdown cuts a pass short: nothing of it is committed, and its lease lapses by itself.
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = svc.tick() => {}
                    }
                }
            })
        });
        mount.workers.push(("traffic-collector", worker));
    }
    Ok(mount)
}

/// The metrics, read from the snapshot each pass updates (and each interval refreshes from the database).
fn register_metrics(p: &Platform, svc: &Arc<TrafficService>) {
    let servers = |pick: fn(&service::ServerSnapshot) -> Option<i64>| {
        let snap = svc.snapshot.clone();
        move || -> Vec<(Vec<String>, f64)> {
            snap.lock()
                .map(|s| s.servers.iter().filter_map(|(id, v)| pick(v).map(|n| (vec![id.to_string()], n as f64))).collect())
                .unwrap_or_default()
        }
    };
    p.metrics.collect(
        "gantry_proxy_requests_total",
        "Client requests nginx counted since it started (its stub_status counter at the last read), per server.",
        &["server_id"],
        "counter",
        servers(|v| v.requests),
    );
    let snap = svc.snapshot.clone();
    p.metrics.collect(
        "gantry_proxy_connections",
        "Client connections of nginx by state (active, reading, writing, waiting) at the last read, per server.",
        &["server_id", "state"],
        "gauge",
        move || {
            let Ok(s) = snap.lock() else { return Vec::new() };
            let mut out = Vec::new();
            for (id, v) in &s.servers {
                for (state, n) in [("active", v.active), ("reading", v.reading), ("writing", v.writing), ("waiting", v.waiting)] {
                    if let Some(n) = n {
                        out.push((vec![id.to_string(), state.to_string()], n as f64));
                    }
                }
            }
            out
        },
    );
    let snap = svc.snapshot.clone();
    p.metrics.collect(
        "gantry_traffic_collections_total",
        "Traffic collection passes on this replica by result (ok, failed).",
        &["result"],
        "counter",
        move || snap.lock().map(|s| vec![(vec!["ok".into()], s.ok as f64), (vec!["failed".into()], s.failed as f64)]).unwrap_or_default(),
    );
    p.metrics.collect(
        "gantry_traffic_last_success_timestamp_seconds",
        "When a server's traffic was last collected without a failure, Unix seconds.",
        &["server_id"],
        "gauge",
        servers(|v| v.last_success),
    );
}

/// A deleted server's collection state goes with it; its counts stay until they are pruned.
struct ForgetOnDelete(Arc<TrafficService>);

#[async_trait]
impl gantry_servers::ServerDependents for ForgetOnDelete {
    async fn describe(&self, _server_id: i64) -> Result<Vec<String>, gantry_core::ServiceError> {
        Ok(Vec::new())
    }

    async fn detach(&self, server_id: i64, _actor: &gantry_core::audit::Actor) -> Result<(), gantry_core::ServiceError> {
        self.0.forget(server_id).await.map_err(Into::into)
    }
}
