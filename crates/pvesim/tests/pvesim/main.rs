//! One integration-test binary for the simulator (one link, one process: faster on 2 cores).
//! Every test starts its own simulator on ephemeral loopback ports with `Timing::fast()`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod access;
mod clone;
mod faults;
mod helpers;
mod network;
mod offline;
mod schema;
mod state;
