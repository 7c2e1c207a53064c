//! The proxy module: Gantry's reverse-proxy deployment.
//!
//! It installs nginx on a server over SSH and sets up a Gantry-managed
//! layout beside the operator's own files; renders the server's domain
//! groups (from `gantry-domains`, already validated) into numbered
//! **generations**; applies each one atomically (stage, `nginx -t` on the
//! server, switch the live pointer, graceful reload, verify through nginx,
//! roll back on any failure); reconciles domain changes by itself with a
//! debounce; detects drift; and rolls changes out across many servers with a
//! canary and a failure threshold.
//!
//! It owns the `proxy_servers`, `proxy_generations`, `proxy_rollouts` and
//! `proxy_rollout_targets` tables and the `/api/v1/servers/{id}/proxy…` and
//! `/api/v1/proxy/…` routes. It reads domains only through
//! [`gantry_domains::DomainsService::served_by`] and reaches servers only
//! through [`gantry_servers::ServersService::connect`] (so every remote step
//! runs on a pooled, host-key-pinned SSH connection).
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::await_holding_lock)]

mod apply;
mod drift;
pub mod error;
pub mod model;
pub mod plan;
mod reconcile;
pub mod remote;
pub mod render;
mod rollout;
mod routes;
mod service;
mod store;
pub mod tls;

pub use error::ProxyError;
pub use rollout::RolloutInput;
pub use service::{
    APPLY_JOB, ApplyOutcome, ApplyRequest, INSTALL_JOB, ProxyMetrics, ProxyService, ProxySettings, ROLLOUT_JOB, Source, UNINSTALL_JOB,
};

use async_trait::async_trait;
use gantry_api::module::{Module, Mount, MountError, Worker};
use gantry_api::state::{AppState, Platform};
use gantry_core::jobs::{JobContext, JobError, JobHandler};
use gantry_domains::DomainsService;
use gantry_servers::ServersService;
use gantry_store::ModuleMigration;
use model::Trigger;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use utoipa_axum::router::OpenApiRouter;

/// The module.
pub struct ProxyModule {
    /// Tuning.
    pub settings: ProxySettings,
}

impl Module for ProxyModule {
    fn name(&self) -> &'static str {
        "proxy"
    }

    fn migrations(&self) -> Vec<ModuleMigration> {
        vec![ModuleMigration { module: "proxy", step: Box::new(store::CreateProxy) }]
    }

    fn routes(&self) -> OpenApiRouter<AppState> {
        routes::router()
    }

    fn mount(&self, p: &Arc<Platform>) -> Result<Mount, MountError> {
        let need = |what: &str| MountError { module: "proxy", reason: format!("the {what} module must be mounted first") };
        let servers = p.service::<ServersService>().map_err(|_| need("servers"))?;
        let domains = p.service::<DomainsService>().map_err(|_| need("domains"))?;
        let metrics = ProxyMetrics {
            applies: p.metrics.counter(
                "gantry_proxy_applies_total",
                "Proxy applies by trigger and result (live, unchanged, rejected, rolled_back, error).",
                &["trigger", "result"],
            ),
            apply_duration: p.metrics.histogram(
                "gantry_proxy_apply_duration_seconds",
                "Duration of proxy applies, from render to verified.",
                &[],
                &[0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0],
            ),
            status: p.metrics.gauge("gantry_proxy_status", "1 for each server's current proxy status.", &["server_id", "status"]),
            generation_applied: p.metrics.gauge(
                "gantry_proxy_generation_applied_timestamp_seconds",
                "When each server's live generation went live (Unix time).",
                &["server_id"],
            ),
        };
        let svc = Arc::new(ProxyService::new(
            p.db.clone(),
            servers.clone(),
            domains,
            p.repos.jobs.clone(),
            p.jobs_waker.clone(),
            p.bus.clone(),
            self.settings.clone(),
            metrics,
        ));
        servers.add_dependents(Arc::new(ForgetOnDelete(svc.clone())));
        p.provide(svc.clone());
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let mut workers: Vec<(&'static str, Worker)> = Vec::new();
        let s = svc.clone();
        workers.push(("proxy-debounce", Box::new(move |stop: CancellationToken| Box::pin(reconcile::debounce_loop(s, rx, stop)))));
        let s = svc.clone();
        let interval = self.settings.reconcile_interval;
        workers.push((
            "proxy-sweep",
            Box::new(move |stop: CancellationToken| {
                Box::pin(async move {
                    reconcile::every(Duration::from_secs(2).min(interval), interval, stop, || {
                        let s = s.clone();
                        async move {
                            if let Err(e) = s.sweep().await {
                                tracing::warn!(error = %e, "proxy reconcile sweep failed");
                            }
                        }
                    })
                    .await
                })
            }),
        ));
        // Every replica re-reads the shared state, so gauges agree whichever replica made the change.
        let s = svc.clone();
        workers.push((
            "proxy-metrics",
            Box::new(move |stop: CancellationToken| {
                Box::pin(async move {
                    reconcile::every(Duration::from_secs(1), Duration::from_secs(15), stop, || {
                        let s = s.clone();
                        async move {
                            if let Err(e) = s.refresh_metrics().await {
                                tracing::debug!(error = %e, "cannot refresh proxy metrics");
                            }
                        }
                    })
                    .await
                })
            }),
        ));
        if !self.settings.drift_interval.is_zero() {
            let s = svc.clone();
            let interval = self.settings.drift_interval;
            workers.push((
                "proxy-drift",
                Box::new(move |stop: CancellationToken| {
                    Box::pin(async move {
                        reconcile::every(interval, interval, stop, || {
                            let s = s.clone();
                            async move {
                                if let Err(e) = s.drift_sweep().await {
                                    tracing::warn!(error = %e, "proxy drift sweep failed");
                                }
                            }
                        })
                        .await
                    })
                }),
            ));
        }
        Ok(Mount {
            jobs: vec![
                Arc::new(InstallJob(svc.clone())),
                Arc::new(ApplyJob(svc.clone())),
                Arc::new(UninstallJob(svc.clone())),
                Arc::new(RolloutJob(svc)),
            ],
            workers,
            event_handlers: vec![Arc::new(reconcile::DomainEvents(tx))],
        })
    }
}

/// A server with the proxy installed is not deleted by accident: the delete
/// names it, and with `force` Gantry forgets the proxy (its files stay on the
/// server, which Gantry can no longer reach). A deleted server's generations go too.
struct ForgetOnDelete(Arc<ProxyService>);

#[async_trait]
impl gantry_servers::ServerDependents for ForgetOnDelete {
    async fn describe(&self, server_id: i64) -> Result<Vec<String>, gantry_core::ServiceError> {
        Ok(self
            .0
            .installed(server_id)
            .await?
            .then(|| "the reverse proxy installed by Gantry (uninstall it first to remove its files)".to_string())
            .into_iter()
            .collect())
    }

    async fn detach(&self, server_id: i64, _actor: &gantry_core::audit::Actor) -> Result<(), gantry_core::ServiceError> {
        self.0.forget(server_id).await.map_err(Into::into)
    }
}

fn server_id(ctx: &JobContext) -> Result<i64, JobError> {
    ctx.job.payload["server_id"].as_i64().ok_or_else(|| JobError::Permanent("payload lacks server_id".into()))
}

struct InstallJob(Arc<ProxyService>);

#[async_trait]
impl JobHandler for InstallJob {
    fn kind(&self) -> &'static str {
        INSTALL_JOB
    }

    async fn run(&self, ctx: JobContext) -> Result<Value, JobError> {
        let id = server_id(&ctx)?;
        self.0.install(id, Some(&ctx)).await.map_err(ProxyError::into_job)
    }
}

struct ApplyJob(Arc<ProxyService>);

#[async_trait]
impl JobHandler for ApplyJob {
    fn kind(&self) -> &'static str {
        APPLY_JOB
    }

    async fn run(&self, ctx: JobContext) -> Result<Value, JobError> {
        let p = &ctx.job.payload;
        let id = server_id(&ctx)?;
        let trigger = p["trigger"].as_str().and_then(Trigger::parse).unwrap_or(Trigger::Manual);
        if matches!(trigger, Trigger::Auto) {
            // From now on, new changes need a new job.
            self.0.dequeue(id, ctx.job.id.0).await.map_err(ProxyError::into_job)?;
        }
        let source = match (trigger, p["generation_id"].as_i64()) {
            (Trigger::Rollback, Some(g)) => Source::Generation(g),
            (Trigger::Manual, _) => Source::Desired { hold_manual: false },
            _ => Source::Desired { hold_manual: true },
        };
        let req = ApplyRequest {
            trigger,
            reason: p["reason"].as_str().map(String::from),
            actor: p["actor"].as_str().unwrap_or("system:proxy").to_string(),
            force: p["force"].as_bool().unwrap_or(false),
            source,
            rollout_id: None,
            job_id: Some(ctx.job.id.0),
        };
        let out = self.0.apply(id, req, Some(&ctx)).await.map_err(ProxyError::into_job)?;
        if out.unchanged {
            ctx.progress(100, "nothing to change: the live configuration is the desired one").await;
        }
        Ok(json!(out))
    }
}

struct UninstallJob(Arc<ProxyService>);

#[async_trait]
impl JobHandler for UninstallJob {
    fn kind(&self) -> &'static str {
        UNINSTALL_JOB
    }

    async fn run(&self, ctx: JobContext) -> Result<Value, JobError> {
        let id = server_id(&ctx)?;
        let pkg = ctx.job.payload["remove_package"].as_bool().unwrap_or(false);
        self.0.uninstall(id, pkg, Some(&ctx)).await.map_err(ProxyError::into_job)
    }
}

struct RolloutJob(Arc<ProxyService>);

#[async_trait]
impl JobHandler for RolloutJob {
    fn kind(&self) -> &'static str {
        ROLLOUT_JOB
    }

    async fn run(&self, ctx: JobContext) -> Result<Value, JobError> {
        let id = ctx.job.payload["rollout_id"].as_i64().ok_or_else(|| JobError::Permanent("payload lacks rollout_id".into()))?;
        let r = self.0.run_rollout(id, Some(&ctx)).await.map_err(ProxyError::into_job)?;
        Ok(json!(r))
    }
}

#[cfg(test)]
mod render_tests;
