//! Platform routes: auth, users, tokens, audit, jobs, events, system.

pub mod audit;
pub mod auth;
pub mod eventlog;
pub mod events;
pub mod jobs;
pub mod system;
pub mod tokens;
pub mod users;

use serde::Deserialize;

/// Pagination query parameters shared by list endpoints.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page size, 1–500 (default 50).
    pub limit: Option<u64>,
    /// The `next` value of the previous page.
    pub cursor: Option<String>,
}

impl PageQuery {
    /// Validates into a page request.
    pub fn parse(&self) -> Result<gantry_core::page::PageRequest, crate::error::ApiError> {
        gantry_core::page::PageRequest::parse(self.limit, self.cursor.as_deref()).map_err(|e| crate::error::ApiError::validation(vec![e]))
    }
}

/// A page of results.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct PageOf<T> {
    /// The rows.
    pub items: Vec<T>,
    /// Cursor for the next page; absent on the last page.
    pub next: Option<String>,
}

impl<T> From<gantry_core::page::Page<T>> for PageOf<T> {
    fn from(p: gantry_core::page::Page<T>) -> Self {
        Self { items: p.items, next: p.next.map(|c| c.encode()) }
    }
}
