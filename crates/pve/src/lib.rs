//! The Proxmox VE module: stands of VMs for lists of users.
//!
//! It owns the `pve_*` tables (clusters, blueprints, deployments, stands,
//! VMs, the VMID ledger and the network changes Gantry made) and the
//! `/api/v1/pve/…` routes. Everything that talks to Proxmox goes through
//! [`client::PveClient`]; [`api`] types the endpoints used. Pure decisions
//! live apart from I/O: [`placement`] scores nodes, [`plan`] turns a
//! blueprint and a user list into VM → node/VMID/clone mode, [`config`]
//! reads the YAML files; [`deploy`] and [`cleanup`] carry plans out as
//! durable jobs. It depends on no other feature module.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::await_holding_lock)]

pub mod api;
pub mod blueprint;
pub mod cleanup;
pub mod client;
pub mod config;
pub mod deploy;
pub mod error;
pub mod model;
pub mod placement;
pub mod plan;
mod routes;
pub mod service;
mod store;

pub use service::{CLEANUP_JOB, DEPLOY_JOB, PveService, PveSettings};

use async_trait::async_trait;
use gantry_api::module::{Module, Mount, MountError, Worker};
use gantry_api::state::{AppState, Platform};
use gantry_core::eventlog::{Record, Severity};
use gantry_core::jobs::{JobContext, JobError, JobHandler};
use gantry_store::ModuleMigration;
use serde_json::{Value, json};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use utoipa_axum::router::OpenApiRouter;

/// The module.
pub struct PveModule {
    /// Tuning.
    pub settings: PveSettings,
}

impl Module for PveModule {
    fn name(&self) -> &'static str {
        "pve"
    }

    fn migrations(&self) -> Vec<ModuleMigration> {
        vec![ModuleMigration { module: "pve", step: Box::new(store::CreatePve) }]
    }

    fn routes(&self) -> OpenApiRouter<AppState> {
        routes::router()
    }

    fn mount(&self, p: &Arc<Platform>) -> Result<Mount, MountError> {
        let api_errors = p.metrics.counter(
            "gantry_pve_api_errors_total",
            "Failed Proxmox API calls by cluster and error kind.",
            &["cluster_id", "kind"],
        );
        let vm_results =
            p.metrics.counter("gantry_pve_vms_deployed_total", "VMs a deployment finished, by result (ready, failed).", &["result"]);
        let svc = Arc::new(PveService::new(
            p.db.clone(),
            p.keyring.clone(),
            p.repos.jobs.clone(),
            p.jobs_waker.clone(),
            self.settings.clone(),
            api_errors,
            vm_results,
        ));
        p.provide(svc.clone());
        let stands = p.metrics.gauge("gantry_pve_stands", "Proxmox stands by state (ready, deploying, failed, ...).", &["state"]);
        let s = svc.clone();
        // Every replica re-reads the shared state, so the gauge agrees whichever replica deployed.
        let stand_metrics: Worker = Box::new(move |stop: CancellationToken| {
            Box::pin(async move {
                loop {
                    match s.deployments().await {
                        Ok(ds) => {
                            let mut counts = std::collections::BTreeMap::<String, f64>::new();
                            for st in ds.into_iter().flat_map(|d| d.stands) {
                                *counts.entry(st.status).or_default() += 1.0;
                            }
                            stands.replace(counts.into_iter().map(|(k, v)| (vec![k], v)));
                        }
                        Err(e) => tracing::debug!(error = %e, "cannot refresh Proxmox stand metrics"),
                    }
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(std::time::Duration::from_secs(30)) => {}
                    }
                }
            })
        });
        Ok(Mount {
            jobs: vec![Arc::new(DeployJob(svc.clone())), Arc::new(CleanupJob(svc))],
            workers: vec![("pve-metrics", stand_metrics)],
            event_handlers: vec![],
        })
    }
}

struct DeployJob(Arc<PveService>);

#[async_trait]
impl JobHandler for DeployJob {
    fn kind(&self) -> &'static str {
        DEPLOY_JOB
    }

    async fn run(&self, ctx: JobContext) -> Result<Value, JobError> {
        let id = ctx.job.payload["deployment_id"].as_i64().ok_or_else(|| JobError::Permanent("payload lacks deployment_id".into()))?;
        let out = self.0.run_deploy(id, &ctx).await.map_err(|e| JobError::Permanent(e.to_string()))?;
        let (ready, total) = (out["ready"].as_u64().unwrap_or(0), out["total"].as_u64().unwrap_or(0));
        let status = out["status"].as_str().unwrap_or("unknown");
        let severity = match status {
            "done" => Severity::Info,
            "partial" => Severity::Warning,
            _ => Severity::Error,
        };
        let message = format!("Deployment #{id} finished {status}: {ready} of {total} VMs ready");
        ctx.record(
            Record::new(severity, "pve", format!("pve.deploy_{status}"), message)
                .entity("pve_deployment", id, None)
                .details(json!({ "status": status, "ready": ready, "total": total })),
        )
        .await;
        Ok(out)
    }
}

struct CleanupJob(Arc<PveService>);

#[async_trait]
impl JobHandler for CleanupJob {
    fn kind(&self) -> &'static str {
        CLEANUP_JOB
    }

    async fn run(&self, ctx: JobContext) -> Result<Value, JobError> {
        let p = &ctx.job.payload;
        let id = p["deployment_id"].as_i64().ok_or_else(|| JobError::Permanent("payload lacks deployment_id".into()))?;
        let users = p["users"].as_array().map(|a| a.iter().filter_map(|u| u.as_str().map(str::to_string)).collect());
        let remove_users = p["remove_users"].as_bool().unwrap_or(true);
        let partial = users.is_some();
        let out = self.0.run_cleanup(id, users, remove_users, &ctx).await.map_err(|e| JobError::Permanent(e.to_string()))?;
        let status = out["status"].as_str().unwrap_or("unknown");
        let failures = out["failures"].as_array().map_or(0, Vec::len);
        let (severity, message) = if failures == 0 {
            (Severity::Info, format!("Cleanup of deployment #{id} finished ({status}{})", if partial { ", selected users" } else { "" }))
        } else {
            (Severity::Error, format!("Cleanup of deployment #{id} left {failures} failure(s) ({status}); run it again to retry"))
        };
        ctx.record(
            Record::new(severity, "pve", "pve.cleanup", message)
                .entity("pve_deployment", id, None)
                .details(json!({ "status": status, "failures": out["failures"] })),
        )
        .await;
        Ok(out)
    }
}
