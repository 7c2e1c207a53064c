//! How Proxmox failures reach Gantry's callers.

use crate::client::{ErrorKind, PveError};
use gantry_core::{FieldError, ServiceError};

/// Maps a Proxmox failure seen while serving a request: parameter errors
/// name the fields, everything else says which cluster call failed. The
/// caller's own credentials are not involved, so a refused token is a
/// state problem of the stored cluster (409), not a 401.
pub fn to_service(e: PveError) -> ServiceError {
    match e.kind {
        ErrorKind::ParameterInvalid if !e.errors.is_empty() => {
            ServiceError::Validation(e.errors.iter().map(|(k, v)| FieldError::new(format!("proxmox.{k}"), v.clone())).collect())
        }
        ErrorKind::NotFound => ServiceError::InvalidState(format!("Proxmox: {}", e.detail())),
        kind => ServiceError::InvalidState(format!("Proxmox ({}): {} failed: {}", kind.as_str(), e.op, e.detail())),
    }
}

/// Store failures.
pub fn db_err(e: sea_orm::DbErr) -> ServiceError {
    match e.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => {
            ServiceError::Conflict { field: "name".into(), message: "the name is already taken".into() }
        }
        _ => gantry_core::StoreError::Database(e.to_string()).into(),
    }
}
