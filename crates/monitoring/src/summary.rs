//! The health summary behind the panel's dashboard (placeholder).

use gantry_api::module::MountError;
use gantry_api::state::{AppState, Platform};
use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
}

pub(crate) fn mount(_p: &Arc<Platform>) -> Result<(), MountError> {
    Ok(())
}
