//! Proxy traffic statistics (placeholder until the collector lands).

use gantry_api::module::{Mount, MountError};
use gantry_api::state::{AppState, Platform};
use gantry_store::ModuleMigration;
use std::sync::Arc;
use std::time::Duration;
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
    Vec::new()
}

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
}

pub(crate) fn mount(_p: &Arc<Platform>, _s: &TrafficSettings) -> Result<Mount, MountError> {
    Ok(Mount::default())
}
