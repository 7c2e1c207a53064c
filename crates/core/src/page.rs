//! Keyset pagination shared by every list endpoint.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;

/// Default page size when the caller gives no `limit`.
pub const DEFAULT_LIMIT: u64 = 50;
/// Upper bound on `limit`, so one request can never ask for the whole table.
pub const MAX_LIMIT: u64 = 500;

/// A page of results and the cursor for the next one.
#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    /// The rows of this page.
    pub items: Vec<T>,
    /// Opaque cursor to pass as `cursor` for the next page; absent on the last page.
    pub next: Option<Cursor>,
}

/// An opaque position in a list ordered by descending (or ascending) id.
///
/// It encodes the last id seen, so pages never skip or repeat rows while
/// rows are being added, unlike offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor(pub i64);

impl Cursor {
    /// Parses a cursor given by a client.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let bytes = URL_SAFE_NO_PAD
            .decode(raw)
            .map_err(|_| "cursor is not valid")?;
        let text = std::str::from_utf8(&bytes).map_err(|_| "cursor is not valid")?;
        let id = text.strip_prefix("id:").ok_or("cursor is not valid")?;
        id.parse::<i64>()
            .map(Cursor)
            .map_err(|_| "cursor is not valid")
    }

    /// The opaque string form handed to clients.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("id:{}", self.0))
    }
}

impl Serialize for Cursor {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.encode())
    }
}

/// A validated page request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// How many rows to return (1..=MAX_LIMIT).
    pub limit: u64,
    /// Where to continue from.
    pub after: Option<Cursor>,
}

impl PageRequest {
    /// Validates a raw `limit` and `cursor`.
    pub fn parse(limit: Option<u64>, cursor: Option<&str>) -> Result<Self, crate::FieldError> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if limit == 0 || limit > MAX_LIMIT {
            return Err(crate::FieldError::new(
                "limit",
                format!("must be between 1 and {MAX_LIMIT}"),
            ));
        }
        let after = match cursor {
            Some(c) if !c.is_empty() => {
                Some(Cursor::parse(c).map_err(|m| crate::FieldError::new("cursor", m))?)
            }
            _ => None,
        };
        Ok(Self { limit, after })
    }

    /// Builds the page from `limit + 1` fetched rows, which tells us whether there is a next page.
    pub fn finish<T>(&self, mut rows: Vec<T>, id_of: impl Fn(&T) -> i64) -> Page<T> {
        let limit = usize::try_from(self.limit).unwrap_or(usize::MAX);
        let next = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(|r| Cursor(id_of(r)))
        } else {
            None
        };
        Page { items: rows, next }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let c = Cursor(42);
        assert_eq!(Cursor::parse(&c.encode()), Ok(c));
        assert!(Cursor::parse("not base64 !").is_err());
        assert!(Cursor::parse(&URL_SAFE_NO_PAD.encode("id:x")).is_err());
    }

    #[test]
    fn limit_is_bounded() {
        assert!(PageRequest::parse(Some(0), None).is_err());
        assert!(PageRequest::parse(Some(MAX_LIMIT + 1), None).is_err());
        assert_eq!(
            PageRequest::parse(None, None).map(|p| p.limit),
            Ok(DEFAULT_LIMIT)
        );
    }

    #[test]
    fn finish_detects_next_page() {
        let req = PageRequest {
            limit: 2,
            after: None,
        };
        let page = req.finish(vec![5, 4, 3], |x| *x);
        assert_eq!(page.items, vec![5, 4]);
        assert_eq!(page.next, Some(Cursor(4)));
        let page = req.finish(vec![5, 4], |x| *x);
        assert_eq!(page.next, None);
    }
}
