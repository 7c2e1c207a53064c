//! The tasks module: the team's work list next to the infrastructure it is about.
//!
//! It owns the `tasks`, `task_labels`, `task_links`, `task_attachments`,
//! `tasks_settings` and `tasks_order` tables and the `/api/v1/tasks` routes.
//! Values are parsed into the types of [`model`] at the boundary. Every
//! change is committed with its audit record and a `task.changed` outbox
//! event. Links to servers, domain groups, domains and Proxmox stands are
//! checked and named through those modules' public services (registered as
//! [`LinkTarget`]s while mounting); this module never reads their tables.
//! Attachment bytes go through the `object_store` crate (see [`storage`]);
//! the database holds only their rows.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::await_holding_lock)]

mod attach;
pub mod model;
mod routes;
mod service;
pub mod storage;
mod store;

pub use attach::{Attachment, S3Input, StorageInput, StorageView};
pub use service::{LinkTarget, OpenCounts, Task, TaskChanged, TaskInput, TasksService, TasksSettings};

use gantry_api::module::{Module, Mount, MountError, Worker};
use gantry_api::state::{AppState, Platform};
use gantry_core::ServiceError;
use gantry_store::ModuleMigration;
use model::LinkKind;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use utoipa_axum::router::OpenApiRouter;

/// The module.
pub struct TasksModule {
    /// Settings.
    pub settings: TasksSettings,
}

/// A lookup's "not found" is an answer (`None`); other failures stay errors.
fn found(r: Result<String, ServiceError>) -> Result<Option<String>, ServiceError> {
    match r {
        Ok(n) => Ok(Some(n)),
        Err(ServiceError::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

struct ServerNames(Arc<gantry_servers::ServersService>);

#[async_trait::async_trait]
impl LinkTarget for ServerNames {
    async fn name(&self, id: i64) -> Result<Option<String>, ServiceError> {
        found(self.0.get(id).await.map(|s| s.name))
    }
}

struct GroupNames(Arc<gantry_domains::DomainsService>);

#[async_trait::async_trait]
impl LinkTarget for GroupNames {
    async fn name(&self, id: i64) -> Result<Option<String>, ServiceError> {
        found(self.0.get_group(id).await.map(|g| g.name))
    }
}

struct DomainNames(Arc<gantry_domains::DomainsService>);

#[async_trait::async_trait]
impl LinkTarget for DomainNames {
    async fn name(&self, id: i64) -> Result<Option<String>, ServiceError> {
        found(self.0.get_domain(id).await.map(|d| d.name_unicode))
    }
}

struct StandNames(Arc<gantry_pve::PveService>);

#[async_trait::async_trait]
impl LinkTarget for StandNames {
    async fn name(&self, id: i64) -> Result<Option<String>, ServiceError> {
        self.0.stand_name(id).await
    }
}

impl Module for TasksModule {
    fn name(&self) -> &'static str {
        "tasks"
    }

    fn migrations(&self) -> Vec<ModuleMigration> {
        vec![ModuleMigration { module: "tasks", step: Box::new(store::CreateTasks) }]
    }

    fn routes(&self) -> OpenApiRouter<AppState> {
        routes::router()
    }

    fn mount(&self, p: &Arc<Platform>) -> Result<Mount, MountError> {
        let err = |reason: String| MountError { module: "tasks", reason };
        let files = attach::Files::new(&p.data_dir).map_err(|e| err(e.to_string()))?;
        let svc = Arc::new(TasksService::new(p.db.clone(), p.keyring.clone(), p.repos.users.clone(), self.settings.clone(), files));
        // Link targets are optional: a binary without one of these modules simply cannot link to its objects.
        if let Ok(s) = p.service::<gantry_servers::ServersService>() {
            svc.add_link_target(LinkKind::Server, Arc::new(ServerNames(s)));
        }
        if let Ok(d) = p.service::<gantry_domains::DomainsService>() {
            svc.add_link_target(LinkKind::DomainGroup, Arc::new(GroupNames(d.clone())));
            svc.add_link_target(LinkKind::Domain, Arc::new(DomainNames(d)));
        }
        if let Ok(v) = p.service::<gantry_pve::PveService>() {
            svc.add_link_target(LinkKind::PveStand, Arc::new(StandNames(v)));
        }
        p.provide(svc.clone());
        let mut workers: Vec<(&'static str, Worker)> = Vec::new();
        if !self.settings.sweep_interval.is_zero() {
            workers.push(("tasks-attachment-sweeper", sweep_loop(svc, self.settings.sweep_interval, self.settings.orphan_grace)));
        }
        Ok(Mount { workers, ..Default::default() })
    }
}

/// Removes attachment objects no row refers to (crash leftovers, failed deletes).
fn sweep_loop(svc: Arc<TasksService>, every: std::time::Duration, grace: std::time::Duration) -> Worker {
    Box::new(move |stop: CancellationToken| {
        Box::pin(async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(every) => {}
                }
                match svc.sweep(grace).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(removed = n, "attachment sweep"),
                    Err(e) => tracing::warn!(error = %e, "attachment sweep failed"),
                }
            }
        })
    })
}
