//! The health summary behind the panel's dashboard: one request, one screen.
//!
//! Every count comes from the owning module's public service (or the
//! platform's repositories); a module that is not mounted, or that fails to
//! answer, leaves its tile empty with the reason instead of failing the
//! whole summary, because the dashboard is what an operator opens when
//! something is already wrong.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use gantry_api::error::ApiResult;
use gantry_api::extract::Viewer;
use gantry_api::module::MountError;
use gantry_api::state::{AppState, Platform};
use gantry_core::eventlog::Severity;
use gantry_core::jobs::JobStatus;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(summary))
}

pub(crate) fn mount(_p: &Arc<Platform>) -> Result<(), MountError> {
    Ok(())
}

/// One tile: counts by state, or why they are missing.
#[derive(Debug, Serialize, ToSchema)]
pub struct Tile {
    /// Counts by state (keys depend on the tile; see each field of [`Summary`]).
    pub counts: BTreeMap<String, u64>,
    /// Set when the counts could not be read; the tile shows it instead of numbers.
    pub error: Option<String>,
}

impl Tile {
    fn of(r: Result<BTreeMap<String, u64>, String>) -> Self {
        match r {
            Ok(counts) => Self { counts, error: None },
            Err(e) => Self { counts: BTreeMap::new(), error: Some(e) },
        }
    }
}

/// What the dashboard shows.
#[derive(Debug, Serialize, ToSchema)]
pub struct Summary {
    /// When it was computed.
    pub at: DateTime<Utc>,
    /// Servers by status: `ok`, `unreachable`, `auth_failed`, `host_key_changed`, `unknown`.
    pub servers: Tile,
    /// Proxies by status: `in_sync`, `pending`, `applying`, `degraded`, `drifted`, `installing`, `not_installed`.
    pub proxies: Tile,
    /// Certificates by expiry: `ok`, `expiring_30`, `expiring_14`, `expiring_7`, `expired`, plus `renewal_failing`.
    pub certificates: Tile,
    /// Jobs: `queued`, `running`, `failed` (failed jobs still in the queue table).
    pub jobs: Tile,
    /// Proxmox stands by status (`ready`, `deploying`, `failed`, ...).
    pub stands: Tile,
    /// Tasks: `open`, `overdue`.
    pub tasks: Tile,
    /// Event-log entries of the last 24 hours by severity: `info`, `warning`, `error`.
    pub events: Tile,
}

async fn tile<T, E: std::fmt::Display>(
    svc: Result<Arc<T>, gantry_api::error::ApiError>,
    name: &str,
    f: impl AsyncFnOnce(Arc<T>) -> Result<BTreeMap<String, u64>, E>,
) -> Tile {
    match svc {
        Ok(s) => Tile::of(f(s).await.map_err(|e| e.to_string())),
        Err(_) => Tile::of(Err(format!("the {name} module is not part of this binary"))),
    }
}

fn counted<I: IntoIterator<Item = String>>(keys: I) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for k in keys {
        *m.entry(k).or_insert(0) += 1;
    }
    m
}

/// Health at a glance: servers, proxies, certificates, jobs, stands, tasks and recent events.
#[utoipa::path(get, path = "/api/v1/monitoring/summary", tag = "monitoring",
    responses((status = 200, body = Summary), (status = 401, body = gantry_api::error::Problem)))]
async fn summary(State(p): State<AppState>, v: Viewer) -> ApiResult<Json<Summary>> {
    let now = Utc::now();
    let servers = tile(p.service::<gantry_servers::ServersService>(), "servers", async |s| s.status_counts().await);
    let proxies = tile(p.service::<gantry_proxy::ProxyService>(), "proxy", async |s| {
        s.states().await.map(|v| counted(v.into_iter().map(|st| st.status.as_str().to_string())))
    });
    let certificates = tile(p.service::<gantry_tls::TlsService>(), "TLS", async |s| {
        s.list().await.map(|certs| {
            let mut m = counted(certs.iter().map(|c| gantry_tls::expiry_level(c.not_after, now).0.to_string()));
            let failing = certs.iter().filter(|c| c.failures > 0).count() as u64;
            m.insert("renewal_failing".into(), failing);
            m
        })
    });
    let stands = tile(p.service::<gantry_pve::PveService>(), "Proxmox", async |s| {
        s.deployments().await.map(|ds| counted(ds.into_iter().flat_map(|d| d.stands.into_iter().map(|st| st.status))))
    });
    let tasks = tile(p.service::<gantry_tasks::TasksService>(), "tasks", async |s| {
        s.open_counts().await.map(|c| BTreeMap::from([("open".to_string(), c.open), ("overdue".to_string(), c.overdue)]))
    });
    let jobs = async {
        Tile::of(p.repos.jobs.counts().await.map_err(|e| e.to_string()).map(|rows| {
            let mut m = BTreeMap::from([("queued".to_string(), 0), ("running".to_string(), 0), ("failed".to_string(), 0)]);
            for (_, status, n) in rows {
                if matches!(status, JobStatus::Queued | JobStatus::Running | JobStatus::Failed) {
                    *m.entry(status.as_str().to_string()).or_insert(0) += n;
                }
            }
            m
        }))
    };
    let events = async {
        Tile::of(p.repos.events.count_records(now - ChronoDuration::hours(24), v.0.principal.role).await.map_err(|e| e.to_string()).map(
            |rows| {
                let mut m: BTreeMap<String, u64> =
                    [Severity::Info, Severity::Warning, Severity::Error].iter().map(|s| (s.as_str().to_string(), 0)).collect();
                for (s, n) in rows {
                    m.insert(s.as_str().to_string(), n);
                }
                m
            },
        ))
    };
    // Each read is one or two queries; they run concurrently.
    let (servers, proxies, certificates, stands, tasks, jobs, events) =
        tokio::join!(servers, proxies, certificates, stands, tasks, jobs, events);
    Ok(Json(Summary { at: now, servers, proxies, certificates, jobs, stands, tasks, events }))
}
