//! The monitoring module: what an operator looks at first.
//!
//! It owns the traffic-statistics tables and the `/api/v1/monitoring/traffic`
//! and `/api/v1/monitoring/summary` routes. Traffic is read from each managed
//! proxy over the servers module's SSH connections (see [`traffic`]); the
//! summary counts what the other modules report through their public
//! services. It never reads another module's tables. The event log itself
//! belongs to the platform (`gantry_core::eventlog`), because every module
//! writes to it in its own transactions.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::await_holding_lock)]

mod summary;
pub mod traffic;

pub use traffic::TrafficSettings;

use gantry_api::module::{Module, Mount, MountError};
use gantry_api::state::{AppState, Platform};
use gantry_store::ModuleMigration;
use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;

/// The module.
pub struct MonitoringModule {
    /// Traffic collection settings.
    pub traffic: TrafficSettings,
}

impl Module for MonitoringModule {
    fn name(&self) -> &'static str {
        "monitoring"
    }

    fn migrations(&self) -> Vec<ModuleMigration> {
        traffic::migrations()
    }

    fn routes(&self) -> OpenApiRouter<AppState> {
        summary::router().merge(traffic::router())
    }

    fn mount(&self, p: &Arc<Platform>) -> Result<Mount, MountError> {
        summary::mount(p)?;
        traffic::mount(p, &self.traffic)
    }
}
