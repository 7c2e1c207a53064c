//! The servers module: the inventory of Linux servers Gantry manages.
//!
//! It owns the `servers` table (name, address, SSH settings, encrypted
//! client key, pinned host key, status, facts), the `/api/v1/servers`
//! routes, the `servers.check` job (resolve → TCP → handshake → host key →
//! auth → privilege → facts), and a probe loop that keeps every server's
//! status current. Other modules reach servers through [`ServersService`]
//! (`connect` returns a pooled SSH connection and refuses servers whose host
//! key changed); all SSH goes through `gantry-ssh`.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::await_holding_lock)]

pub mod model;
mod routes;
mod service;
mod store;

pub use service::{
    CHECK_JOB, CheckStep, CredentialsInput, ServerDependents, ServerInput, ServerMetrics, ServerStatusChanged, ServersService,
};

use async_trait::async_trait;
use gantry_api::module::{Module, Mount, MountError, Worker};
use gantry_api::state::{AppState, Platform};
use gantry_core::eventlog::{Record, Severity};
use gantry_core::jobs::{JobContext, JobError, JobHandler};
use gantry_ssh::{Pool, Timeouts};
use gantry_store::ModuleMigration;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use utoipa_axum::router::OpenApiRouter;

/// Settings of the module.
#[derive(Debug, Clone)]
pub struct ServersSettings {
    /// Seconds between availability probes of each server (0 disables probing).
    pub probe_interval: Duration,
    /// Servers worked on at once (probes, checks, later deployments).
    pub concurrency: usize,
    /// Close pooled SSH connections idle this long.
    pub idle_timeout: Duration,
    /// SSH time bounds.
    pub timeouts: Timeouts,
}

impl Default for ServersSettings {
    fn default() -> Self {
        Self {
            probe_interval: Duration::from_secs(60),
            concurrency: 64,
            idle_timeout: Duration::from_secs(300),
            timeouts: Timeouts::default(),
        }
    }
}

/// The module.
pub struct ServersModule {
    /// Settings.
    pub settings: ServersSettings,
}

impl Module for ServersModule {
    fn name(&self) -> &'static str {
        "servers"
    }

    fn migrations(&self) -> Vec<ModuleMigration> {
        vec![ModuleMigration { module: "servers", step: Box::new(store::CreateServers) }]
    }

    fn routes(&self) -> OpenApiRouter<AppState> {
        routes::router()
    }

    fn mount(&self, p: &Arc<Platform>) -> Result<Mount, MountError> {
        let metrics = ServerMetrics {
            up: p.metrics.gauge("gantry_server_up", "1 when the server's last check or probe succeeded, by server name.", &["server"]),
            check_duration: p.metrics.histogram(
                "gantry_server_check_duration_seconds",
                "Duration of server checks.",
                &[],
                &[0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0],
            ),
        };
        let pool = Arc::new(Pool::new(self.settings.timeouts, self.settings.idle_timeout, self.settings.concurrency));
        let svc = Arc::new(ServersService::new(
            p.db.clone(),
            p.repos.jobs.clone(),
            p.keyring.clone(),
            pool,
            metrics,
            p.jobs_waker.clone(),
            p.bus.clone(),
        ));
        p.provide(svc.clone());
        let mut workers: Vec<(&'static str, Worker)> =
            vec![("ssh-pool-reaper", reap_loop(svc.pool.clone())), ("servers-metrics", metrics_loop(svc.clone()))];
        if !self.settings.probe_interval.is_zero() {
            workers.push(("servers-probe", probe_loop(svc.clone(), self.settings.probe_interval)));
        }
        Ok(Mount { jobs: vec![Arc::new(CheckJob(svc))], workers, ..Default::default() })
    }
}

struct CheckJob(Arc<ServersService>);

#[async_trait]
impl JobHandler for CheckJob {
    fn kind(&self) -> &'static str {
        CHECK_JOB
    }

    async fn run(&self, ctx: JobContext) -> Result<Value, JobError> {
        let id = ctx.job.payload["server_id"].as_i64().ok_or_else(|| JobError::Permanent("payload lacks server_id".into()))?;
        let (ok, steps, facts) = self.0.check(id, Some(&ctx)).await.map_err(|e| JobError::Permanent(e.to_string()))?;
        let result = json!({"ok": ok, "steps": steps, "facts": facts});
        let name = self.0.get(id).await.map(|s| s.name).unwrap_or_else(|_| format!("#{id}"));
        let record = match steps.iter().find(|s| !s.ok) {
            None => Record::new(Severity::Info, "servers", "server.check_passed", format!("Check of server {name} passed")),
            Some(s) => Record::new(
                Severity::Warning,
                "servers",
                "server.check_failed",
                format!("Check of server {name} failed at {}: {}", s.step, s.message),
            ),
        };
        ctx.record(record.entity("server", id, Some(&name)).details(json!({ "steps": steps }))).await;
        if ok {
            Ok(result)
        } else {
            let failed =
                steps.iter().find(|s| !s.ok).map(|s| format!("{}: {}", s.step, s.message)).unwrap_or_else(|| "check failed".into());
            ctx.log("error", &result.to_string()).await;
            Err(JobError::Permanent(failed))
        }
    }
}

/// Re-reads every server's status every 15 s, so `gantry_server_up` is the
/// same on every replica whichever replica probed or checked the server.
fn metrics_loop(svc: Arc<ServersService>) -> Worker {
    Box::new(move |stop: CancellationToken| {
        Box::pin(async move {
            loop {
                if let Err(e) = svc.refresh_metrics().await {
                    tracing::debug!(error = %e, "cannot refresh server metrics");
                }
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(15)) => {}
                }
            }
        })
    })
}

/// Closes idle pooled SSH connections every minute, whether or not probing is on.
fn reap_loop(pool: Arc<Pool>) -> Worker {
    Box::new(move |stop: CancellationToken| {
        Box::pin(async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(60)) => {}
                }
                let closed = pool.reap().await;
                if closed > 0 {
                    tracing::debug!(closed, "closed idle SSH connections");
                }
            }
        })
    })
}

/// Probes every server at the interval (±20 % jitter), bounded by the pool's limit.
fn probe_loop(svc: Arc<ServersService>, every: Duration) -> Worker {
    Box::new(move |stop: CancellationToken| {
        Box::pin(async move {
            loop {
                let jitter = gantry_core::tokens::random_bytes::<1>().map(|b| f64::from(b[0]) / 255.0).unwrap_or(0.5);
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(every.mul_f64(0.8 + 0.4 * jitter)) => {}
                }
                let ids = match svc.ids().await {
                    Ok(ids) => ids,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot list servers to probe");
                        continue;
                    }
                };
                let limit = svc.pool.limit.clone();
                let s = svc.clone();
                let probes = gantry_ssh::fan_out(ids, limit, Duration::from_secs(30), move |id| {
                    let s = s.clone();
                    async move { s.probe(id).await.map_err(|e| gantry_ssh::SshError::Session(e.to_string())) }
                });
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = probes => {}
                }
            }
        })
    })
}
