//! Keyset pagination and sorting shared by every list endpoint.

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

/// An opaque position in a list: the last row's id and, for lists sorted by
/// another column, that row's sort key.
///
/// Keyset positions instead of offsets mean pages never skip or repeat rows
/// while rows are being added or removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// The last row's id (the tie-breaker of every order).
    pub id: i64,
    /// The last row's sort-key value, when sorted by something other than id.
    pub key: Option<String>,
}

const BAD_CURSOR: &str = "cursor is not valid (pass the `next` value of the previous page unchanged)";

impl Cursor {
    /// A position by id alone.
    pub fn id(id: i64) -> Self {
        Self { id, key: None }
    }

    /// Parses a cursor given by a client.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| BAD_CURSOR)?;
        let text = std::str::from_utf8(&bytes).map_err(|_| BAD_CURSOR)?;
        if let Some(id) = text.strip_prefix("id:") {
            return id.parse::<i64>().map(Cursor::id).map_err(|_| BAD_CURSOR);
        }
        let rest = text.strip_prefix("k:").ok_or(BAD_CURSOR)?;
        let (id, key) = rest.split_once(':').ok_or(BAD_CURSOR)?;
        Ok(Cursor { id: id.parse().map_err(|_| BAD_CURSOR)?, key: Some(key.to_string()) })
    }

    /// The opaque string form handed to clients.
    pub fn encode(&self) -> String {
        match &self.key {
            None => URL_SAFE_NO_PAD.encode(format!("id:{}", self.id)),
            Some(k) => URL_SAFE_NO_PAD.encode(format!("k:{}:{k}", self.id)),
        }
    }
}

impl Serialize for Cursor {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.encode())
    }
}

/// A validated page request.
#[derive(Debug, Clone, PartialEq, Eq)]
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
            return Err(crate::FieldError::new("limit", format!("must be between 1 and {MAX_LIMIT}")));
        }
        let after = match cursor {
            Some(c) if !c.is_empty() => Some(Cursor::parse(c).map_err(|m| crate::FieldError::new("cursor", m))?),
            _ => None,
        };
        Ok(Self { limit, after })
    }

    /// Builds the page from `limit + 1` fetched rows, which tells us whether there is a next page.
    pub fn finish<T>(&self, rows: Vec<T>, id_of: impl Fn(&T) -> i64) -> Page<T> {
        self.finish_keyed(rows, |r| Cursor::id(id_of(r)))
    }

    /// Like [`PageRequest::finish`] for lists sorted by a key other than id.
    pub fn finish_keyed<T>(&self, mut rows: Vec<T>, cursor_of: impl Fn(&T) -> Cursor) -> Page<T> {
        let limit = usize::try_from(self.limit).unwrap_or(usize::MAX);
        let next = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(cursor_of)
        } else {
            None
        };
        Page { items: rows, next }
    }
}

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// Smallest first.
    #[default]
    Asc,
    /// Largest first.
    Desc,
}

/// A validated `sort` parameter: a field from an allowed set, `-` for descending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort<F> {
    /// The field.
    pub field: F,
    /// The direction.
    pub direction: Direction,
}

impl<F: Copy> Sort<F> {
    /// Parses `name` or `-name` against `(name, field)` pairs.
    pub fn parse(raw: &str, allowed: &[(&str, F)]) -> Result<Self, crate::FieldError> {
        let (direction, name) = match raw.strip_prefix('-') {
            Some(n) => (Direction::Desc, n),
            None => (Direction::Asc, raw),
        };
        allowed.iter().find(|(n, _)| *n == name).map(|(_, f)| Sort { field: *f, direction }).ok_or_else(|| {
            let names: Vec<&str> = allowed.iter().map(|(n, _)| *n).collect();
            crate::FieldError::new("sort", format!("must be one of {} (prefix with - for descending)", names.join(", ")))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let c = Cursor::id(42);
        assert_eq!(Cursor::parse(&c.encode()), Ok(c));
        let k = Cursor { id: 7, key: Some("name:with:colons".into()) };
        assert_eq!(Cursor::parse(&k.encode()), Ok(k));
        assert!(Cursor::parse("not base64 !").is_err());
        assert!(Cursor::parse(&URL_SAFE_NO_PAD.encode("id:x")).is_err());
        assert!(Cursor::parse(&URL_SAFE_NO_PAD.encode("k:x:y")).is_err());
    }

    #[test]
    fn sort_parses_direction_and_rejects_unknown_fields() {
        let allowed = [("username", 1), ("created_at", 2)];
        assert_eq!(Sort::parse("-username", &allowed).map(|s| (s.field, s.direction)), Ok((1, Direction::Desc)));
        assert_eq!(Sort::parse("created_at", &allowed).map(|s| (s.field, s.direction)), Ok((2, Direction::Asc)));
        assert!(Sort::parse("password_hash", &allowed).is_err());
    }

    #[test]
    fn limit_is_bounded() {
        assert!(PageRequest::parse(Some(0), None).is_err());
        assert!(PageRequest::parse(Some(MAX_LIMIT + 1), None).is_err());
        assert_eq!(PageRequest::parse(None, None).map(|p| p.limit), Ok(DEFAULT_LIMIT));
    }

    #[test]
    fn finish_detects_next_page() {
        let req = PageRequest { limit: 2, after: None };
        let page = req.finish(vec![5, 4, 3], |x| *x);
        assert_eq!(page.items, vec![5, 4]);
        assert_eq!(page.next, Some(Cursor::id(4)));
        let page = req.finish(vec![5, 4], |x| *x);
        assert_eq!(page.next, None);
    }
}
