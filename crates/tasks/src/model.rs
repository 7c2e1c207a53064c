//! Task values parsed at the boundary: once a value has one of these types it
//! is valid, so the service and the store never check raw strings again.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::fmt;
use utoipa::ToSchema;

/// Longest title, in characters.
pub const TITLE_MAX: usize = 200;
/// Longest description, in characters (Markdown source).
pub const DESCRIPTION_MAX: usize = 20_000;
/// Most labels on one task.
pub const LABELS_MAX: usize = 20;
/// Longest label.
pub const LABEL_MAX: usize = 32;
/// Most links on one task.
pub const LINKS_MAX: usize = 50;

/// A trimmed title of 1–200 characters without control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Title(String);

impl Title {
    /// Trims and checks a title.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let t = raw.trim();
        if t.is_empty() {
            return Err("must not be empty".into());
        }
        let n = t.chars().count();
        if n > TITLE_MAX {
            return Err(format!("must be at most {TITLE_MAX} characters (got {n})"));
        }
        if t.chars().any(char::is_control) {
            return Err("must be one line without control characters".into());
        }
        Ok(Self(t.to_string()))
    }

    /// The title.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Markdown source of at most 20,000 characters. The panel renders it without raw HTML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description(String);

impl Description {
    /// Checks a description; surrounding blank lines are dropped.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let d = raw.trim_matches(|c: char| c == '\n' || c == '\r' || c == ' ');
        let n = d.chars().count();
        if n > DESCRIPTION_MAX {
            return Err(format!("must be at most {DESCRIPTION_MAX} characters (got {n})"));
        }
        if d.chars().any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r') {
            return Err("must not contain control characters".into());
        }
        Ok(Self(d.to_string()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How urgent a task is. Stored as 0–3 so it sorts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// Some day.
    Low,
    /// The default.
    #[default]
    Normal,
    /// Soon.
    High,
    /// Now.
    Urgent,
}

impl Priority {
    /// The stored rank.
    pub fn rank(self) -> i16 {
        match self {
            Priority::Low => 0,
            Priority::Normal => 1,
            Priority::High => 2,
            Priority::Urgent => 3,
        }
    }

    /// From the stored rank (unknown ranks read as normal).
    pub fn from_rank(r: i16) -> Self {
        match r {
            0 => Priority::Low,
            2 => Priority::High,
            3 => Priority::Urgent,
            _ => Priority::Normal,
        }
    }

    /// Parses `low|normal|high|urgent`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "low" => Ok(Priority::Low),
            "normal" => Ok(Priority::Normal),
            "high" => Ok(Priority::High),
            "urgent" => Ok(Priority::Urgent),
            other => Err(format!("must be one of low, normal, high, urgent (got {other:?})")),
        }
    }
}

/// A calendar date `YYYY-MM-DD`. Dates, not instants: a task is due on a day
/// wherever the team is, and the text form sorts correctly on every database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct DueDate(NaiveDate);

impl DueDate {
    /// Parses `YYYY-MM-DD` between the years 2000 and 9998.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let d = NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d").map_err(|_| format!("must be a date YYYY-MM-DD (got {raw:?})"))?;
        let y = chrono::Datelike::year(&d);
        if !(2000..=9998).contains(&y) {
            return Err("must be between the years 2000 and 9998".into());
        }
        Ok(Self(d))
    }

    /// The stored text form.
    pub fn key(&self) -> String {
        self.0.format("%Y-%m-%d").to_string()
    }
}

/// A label: 1–32 characters of `a-z 0-9 . _ -`, lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Label(String);

impl Label {
    /// Lower-cases and checks a label.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let l = raw.trim().to_lowercase();
        if l.is_empty() || l.chars().count() > LABEL_MAX {
            return Err(format!("each label must be 1-{LABEL_MAX} characters (got {raw:?})"));
        }
        if !l.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')) {
            return Err(format!("labels may contain only a-z, 0-9, '.', '_' and '-' (got {raw:?})"));
        }
        Ok(Self(l))
    }

    /// The label.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A list of labels: sorted, duplicates dropped, at most [`LABELS_MAX`].
    pub fn parse_set(raw: &[String]) -> Result<Vec<Label>, String> {
        let mut out = raw.iter().map(|l| Label::parse(l)).collect::<Result<Vec<_>, _>>()?;
        out.sort();
        out.dedup();
        if out.len() > LABELS_MAX {
            return Err(format!("at most {LABELS_MAX} labels"));
        }
        Ok(out)
    }
}

/// What a task can be linked to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LinkKind {
    /// A managed server.
    Server,
    /// A domain group.
    DomainGroup,
    /// A domain.
    Domain,
    /// A Proxmox stand (one user's VMs in a deployment).
    PveStand,
}

impl LinkKind {
    /// The stored and query-string name.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkKind::Server => "server",
            LinkKind::DomainGroup => "domain_group",
            LinkKind::Domain => "domain",
            LinkKind::PveStand => "pve_stand",
        }
    }

    /// Parses a stored or query-string name.
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "server" => Ok(LinkKind::Server),
            "domain_group" => Ok(LinkKind::DomainGroup),
            "domain" => Ok(LinkKind::Domain),
            "pve_stand" => Ok(LinkKind::PveStand),
            other => Err(format!("kind must be one of server, domain_group, domain, pve_stand (got {other:?})")),
        }
    }
}

impl fmt::Display for LinkKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A link target as `kind:id`, e.g. `server:5` (the `link=` filter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LinkRef {
    /// What it points to.
    pub kind: LinkKind,
    /// The object's id.
    pub id: i64,
}

impl LinkRef {
    /// Parses `kind:id`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let (k, id) = raw.split_once(':').ok_or_else(|| format!("must be kind:id, e.g. server:5 (got {raw:?})"))?;
        let kind = LinkKind::parse(k)?;
        let id = id.parse::<i64>().ok().filter(|i| *i > 0).ok_or_else(|| format!("the id in {raw:?} must be a positive number"))?;
        Ok(Self { kind, id })
    }
}

/// An attachment's file name as shown and offered on download: the last path
/// component, without control characters or quotes, at most 200 characters.
pub fn clean_filename(raw: &str) -> Result<String, String> {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("").trim();
    let cleaned: String = base.chars().filter(|c| !c.is_control() && *c != '"').take(200).collect();
    if cleaned.is_empty() || cleaned == "." || cleaned == ".." {
        return Err("the upload needs a file name".into());
    }
    Ok(cleaned)
}

/// A content type as recorded: `type/subtype` of token characters, else `application/octet-stream`.
pub fn clean_content_type(raw: Option<&str>) -> String {
    let Some(ct) = raw.map(|s| s.split(';').next().unwrap_or("").trim().to_ascii_lowercase()) else {
        return "application/octet-stream".into();
    };
    let token = |s: &str| !s.is_empty() && s.len() <= 100 && s.chars().all(|c| c.is_ascii_alphanumeric() || "!#$&^_.+-".contains(c));
    match ct.split_once('/') {
        Some((t, s)) if token(t) && token(s) => ct,
        _ => "application/octet-stream".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_trimmed_and_bounded() {
        assert_eq!(Title::parse("  fix nginx  ").map(|t| t.0), Ok("fix nginx".into()));
        assert!(Title::parse("   ").is_err());
        assert!(Title::parse(&"x".repeat(201)).is_err());
        assert!(Title::parse(&"é".repeat(200)).is_ok(), "characters, not bytes");
        assert!(Title::parse("a\nb").is_err());
    }

    #[test]
    fn labels_are_normalized() {
        let l = Label::parse_set(&["Web".into(), "tls".into(), "web".into()]).unwrap_or_default();
        assert_eq!(l.iter().map(Label::as_str).collect::<Vec<_>>(), vec!["tls", "web"]);
        assert!(Label::parse("has space").is_err());
        assert!(Label::parse("").is_err());
        assert!(Label::parse_set(&(0..21).map(|i| format!("l{i}")).collect::<Vec<_>>()).is_err());
    }

    #[test]
    fn dates_links_and_files() {
        assert_eq!(DueDate::parse("2026-12-24").map(|d| d.key()), Ok("2026-12-24".into()));
        assert!(DueDate::parse("2026-02-30").is_err());
        assert!(DueDate::parse("24.12.2026").is_err());
        assert_eq!(LinkRef::parse("server:5"), Ok(LinkRef { kind: LinkKind::Server, id: 5 }));
        assert!(LinkRef::parse("server:-1").is_err());
        assert!(LinkRef::parse("vm:1").is_err());
        assert_eq!(clean_filename("C:\\Users\\x\\report \"q\".pdf"), Ok("report q.pdf".into()));
        assert!(clean_filename("../").is_err());
        assert_eq!(clean_content_type(Some("Text/Plain; charset=utf-8")), "text/plain");
        assert_eq!(clean_content_type(Some("text/html\r\nX: y")), "application/octet-stream");
        assert_eq!(Priority::parse("URGENT"), Ok(Priority::Urgent));
        assert_eq!(Priority::from_rank(Priority::High.rank()), Priority::High);
    }
}
