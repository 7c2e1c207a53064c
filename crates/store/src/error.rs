//! Mapping sea-orm errors to the store-independent [`StoreError`].

use gantry_core::StoreError;
use sea_orm::{DbErr, SqlErr};

/// Removes anything that looks like credentials in a URL from a driver message.
pub(crate) fn scrub(msg: &str) -> String {
    // Driver messages can echo the connection URL; drop `user:password@`.
    let mut out = String::with_capacity(msg.len());
    for word in msg.split(' ') {
        if !out.is_empty() {
            out.push(' ');
        }
        match (word.find("://"), word.rfind('@')) {
            (Some(s), Some(at)) if at > s => {
                out.push_str(&word[..s + 3]);
                out.push_str("***@");
                out.push_str(&word[at + 1..]);
            }
            _ => out.push_str(word),
        }
    }
    out
}

/// Converts a database error; unique violations become `Conflict` on `field`.
pub(crate) fn map(e: DbErr, field: &str) -> StoreError {
    match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => StoreError::Conflict { field: field.to_string() },
        _ => match e {
            DbErr::RecordNotFound(_) => StoreError::NotFound,
            other => StoreError::Database(scrub(&other.to_string())),
        },
    }
}

/// Converts a database error that has no user-facing field.
pub(crate) fn db(e: DbErr) -> StoreError {
    map(e, "value")
}

#[cfg(test)]
mod tests {
    #[test]
    fn urls_lose_their_credentials() {
        let s = super::scrub("error connecting to mysql://root:hunter2@db:3306/x failed");
        assert!(!s.contains("hunter2"));
        assert!(s.contains("mysql://***@db:3306/x"));
    }
}
