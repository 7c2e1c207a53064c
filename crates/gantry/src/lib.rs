//! The `gantry` binary's library half: configuration, startup and shutdown,
//! the CLI, and the list of modules. Kept as a library so the integration
//! tests start the very same application in-process on port 0.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::await_holding_lock)]

pub mod app;
pub mod cli;
pub mod config;
pub mod logging;
pub mod modules;
pub mod pve_cli;
