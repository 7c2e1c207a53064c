//! The module contract: how a feature crate plugs into Gantry.
//!
//! A module contributes, through one trait, its HTTP routes (with their
//! OpenAPI), its migrations, its job handlers, its long-running workers and
//! its event handlers, and registers its metrics on the shared registry while
//! mounting. Adding a module is a new crate plus one line in the binary's
//! module list. Modules talk to each other only through public service APIs
//! and typed domain events, never through each other's tables.

use crate::state::{AppState, Platform};
use futures_util::future::BoxFuture;
use gantry_core::events::EventHandler;
use gantry_core::jobs::JobHandler;
use gantry_store::ModuleMigration;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use utoipa_axum::router::OpenApiRouter;

/// A long-running background task; it must return soon after the token is cancelled.
pub type Worker = Box<dyn FnOnce(CancellationToken) -> BoxFuture<'static, ()> + Send>;

/// What a module hands to the platform when mounted.
#[derive(Default)]
pub struct Mount {
    /// Job kinds it runs.
    pub jobs: Vec<Arc<dyn JobHandler>>,
    /// Background loops (schedulers, probes, reconcilers).
    pub workers: Vec<(&'static str, Worker)>,
    /// Reactions to domain events on this replica.
    pub event_handlers: Vec<Arc<dyn EventHandler>>,
}

/// Why a module could not be mounted.
#[derive(Debug, thiserror::Error)]
#[error("module {module} failed to mount: {reason}")]
pub struct MountError {
    /// The module.
    pub module: &'static str,
    /// Why.
    pub reason: String,
}

/// A feature of Gantry.
pub trait Module: Send + Sync {
    /// Short name, used to tag migrations and logs (`servers`, `domains`, …).
    fn name(&self) -> &'static str;

    /// Migrations, in order. Names must be unique across all modules; prefix them with the module name.
    fn migrations(&self) -> Vec<ModuleMigration> {
        Vec::new()
    }

    /// Routes under `/api/v1`, documented with `#[utoipa::path]`. They are
    /// stateless: handlers reach the module's services with
    /// [`Platform::service`], registered in [`Module::mount`]. Keeping routes
    /// apart from mounting lets `gantry openapi` print the document without
    /// a database.
    fn routes(&self) -> OpenApiRouter<AppState> {
        OpenApiRouter::new()
    }

    /// Builds the module's services over the platform (registering them with
    /// [`Platform::provide`]) and returns its jobs, workers and event handlers.
    fn mount(&self, platform: &Arc<Platform>) -> Result<Mount, MountError>;
}
