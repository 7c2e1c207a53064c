//! Gantry's core: the vocabulary every other crate speaks.
//!
//! This crate owns the domain types that are parsed once at the boundary
//! (usernames, roles, ids, cursors), the platform services that hold business
//! rules (authentication, users, API tokens), the secret-handling primitives
//! (master key, password hashing, token digests), the contracts for durable
//! background jobs and live events, and the repository traits that the store
//! crate implements.
//!
//! It knows nothing about HTTP or SQL: the API crate adapts it to axum and the
//! store crate adapts it to sea-orm. That is why every service here talks to
//! persistence only through the traits in [`repo`].
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::await_holding_lock)]

pub mod accounts;
pub mod audit;
pub mod auth;
pub mod error;
pub mod eventlog;
pub mod events;
pub mod ids;
pub mod jobs;
pub mod metrics;
pub mod page;
pub mod password;
pub mod repo;
pub mod secrets;
pub mod tokens;
pub mod user;

pub use error::{FieldError, ServiceError, StoreError};
