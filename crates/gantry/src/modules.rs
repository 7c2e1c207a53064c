//! The modules compiled into this binary. Adding a feature is one line here.

use crate::config::Config;
use gantry_api::module::Module;
use gantry_api::platform::PlatformModule;
use std::time::Duration;

/// Every module, in mount order (the platform first: others may rely on its tables).
pub fn all(cfg: &Config) -> Vec<Box<dyn Module>> {
    vec![Box::new(PlatformModule { event_retention: Duration::from_secs(cfg.events.retention_days * 86_400) })]
}
