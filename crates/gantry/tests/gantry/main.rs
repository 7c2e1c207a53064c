#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Gantry's integration tests, all linked into ONE test binary.
//!
//! Linking is the slow part of a Rust test build on a 2-core machine, so
//! every integration test module is declared here instead of living in its
//! own `tests/*.rs` file (which would be a separate binary each).
//!
//! Tests start the real application in-process on port 0 with a fresh
//! database each (SQLite always; MariaDB and PostgreSQL when
//! `GANTRY_TEST_MYSQL_URL` / `GANTRY_TEST_POSTGRES_URL` are set; with
//! `CI=true` a configured database that cannot be reached fails the test),
//! and drive it over HTTP. `cli` tests run the built `gantry` binary.

mod helpers;

mod audit;
mod auth;
mod cli;
mod domains;
mod events;
mod fleet;
mod jobs;
mod monitoring_rules;
mod ops;
mod problems;
mod proxy;
mod pve;
mod pve_cli;
mod servers;
mod tasks;
mod tls;
mod tokens;
mod traffic;
mod users;
