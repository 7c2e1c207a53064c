//! Import and export of a group's domains: YAML (every field) and CSV (the simple ones).
//!
//! Imports report line by line. A YAML document is a list of domains; each
//! list item is parsed on its own so a broken item names its own line and
//! the others still go through.

use crate::spec::DomainInput;
use gantry_core::FieldError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Import/export format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// YAML list of domains.
    Yaml,
    /// CSV with header `name,target_ip,target_port,scheme,enabled,aliases`.
    Csv,
}

/// One parsed input item with its line.
#[derive(Debug, Clone)]
pub struct Item {
    /// 1-based line where the item starts.
    pub line: usize,
    /// What it says.
    pub input: DomainInput,
    /// Parse errors (the item is rejected if any).
    pub errors: Vec<FieldError>,
}

/// What happened (or would happen) to one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// A new domain.
    Create,
    /// An existing domain (same name in the group) changes.
    Update,
    /// Already exactly like this.
    Unchanged,
    /// Invalid; see `errors`.
    Reject,
}

/// The report of one line.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Line {
    /// 1-based line number in the uploaded text.
    pub line: usize,
    /// The domain name given, if any.
    pub name: Option<String>,
    /// The outcome.
    pub action: Action,
    /// Why it was rejected.
    pub errors: Vec<FieldError>,
}

/// An import's result. With `dry_run`, nothing was changed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Report {
    /// Whether this was only a preview.
    pub dry_run: bool,
    /// Lines that create a domain.
    pub created: u64,
    /// Lines that change one.
    pub updated: u64,
    /// Lines already in place.
    pub unchanged: u64,
    /// Lines rejected.
    pub rejected: u64,
    /// Per line.
    pub lines: Vec<Line>,
}

/// Largest accepted import.
pub const MAX_IMPORT_BYTES: usize = 4 * 1024 * 1024;

/// Parses an import; a document that is not a list at all is a single field error.
pub fn parse(format: Format, content: &str) -> Result<Vec<Item>, FieldError> {
    if content.len() > MAX_IMPORT_BYTES {
        return Err(FieldError::new("content", "is larger than 4 MiB"));
    }
    match format {
        Format::Yaml => parse_yaml(content),
        Format::Csv => parse_csv(content),
    }
}

fn parse_yaml(content: &str) -> Result<Vec<Item>, FieldError> {
    // Split at top-level list items ("- " in column 0), remembering where each starts.
    let mut chunks: Vec<(usize, String)> = Vec::new();
    for (i, line) in content.lines().enumerate() {
        let t = line.trim_end();
        if t.starts_with("- ") || t == "-" {
            // The item's first line, re-indented as a mapping at column 0.
            chunks.push((i + 1, format!("{}\n", line.trim_start_matches('-').trim_start())));
        } else if t.trim().is_empty() || t.trim_start().starts_with('#') || t == "---" {
            if let Some(last) = chunks.last_mut() {
                last.1.push('\n');
            }
        } else if let Some(rest) = line.strip_prefix("  ") {
            match chunks.last_mut() {
                Some(last) => {
                    last.1.push_str(rest);
                    last.1.push('\n');
                }
                None => {
                    return Err(FieldError::new(
                        "content",
                        format!("line {}: expected a list of domains (lines starting with '- ')", i + 1),
                    ));
                }
            }
        } else {
            return Err(FieldError::new("content", format!("line {}: expected a list of domains (lines starting with '- ')", i + 1)));
        }
    }
    Ok(chunks
        .into_iter()
        .map(|(line, text)| match serde_norway::from_str::<DomainInput>(&text) {
            Ok(input) => Item { line, input, errors: Vec::new() },
            Err(e) => {
                let at = e.location().map(|l| format!("line {}, column {}: ", line + l.line() - 1, l.column())).unwrap_or_default();
                let name = text.lines().find_map(|l| l.strip_prefix("name:")).map(|n| n.trim().trim_matches('"').to_string());
                let msg = e.to_string();
                let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
                Item {
                    line,
                    input: DomainInput { name, ..Default::default() },
                    errors: vec![FieldError::new("content", format!("{at}{msg}"))],
                }
            }
        })
        .collect())
}

const CSV_HEADER: [&str; 6] = ["name", "target_ip", "target_port", "scheme", "enabled", "aliases"];

fn parse_csv(content: &str) -> Result<Vec<Item>, FieldError> {
    let mut r = csv::ReaderBuilder::new().has_headers(true).flexible(false).trim(csv::Trim::All).from_reader(content.as_bytes());
    let headers = r.headers().map_err(|e| FieldError::new("content", format!("the CSV header cannot be read: {e}")))?.clone();
    let cols: Vec<&str> = headers.iter().collect();
    if cols.first() != Some(&"name") || cols.iter().any(|c| !CSV_HEADER.contains(c)) {
        return Err(FieldError::new("content", format!("the CSV header must be a subset of {} starting with name", CSV_HEADER.join(","))));
    }
    let mut items = Vec::new();
    for rec in r.records() {
        let rec = match rec {
            Ok(rec) => rec,
            Err(e) => {
                let line = e.position().map(|p| p.line() as usize).unwrap_or(0);
                items.push(Item { line, input: DomainInput::default(), errors: vec![FieldError::new("content", e.to_string())] });
                continue;
            }
        };
        let line = rec.position().map(|p| p.line() as usize).unwrap_or(0);
        let mut input = DomainInput::default();
        let mut errors = Vec::new();
        for (col, value) in cols.iter().zip(rec.iter()) {
            if value.is_empty() {
                continue;
            }
            match *col {
                "name" => input.name = Some(value.to_string()),
                "target_ip" => input.target_ip = Some(value.to_string()),
                "target_port" => match value.parse() {
                    Ok(p) => input.target_port = Some(p),
                    Err(_) => errors.push(FieldError::new("target_port", format!("{value:?} is not a number"))),
                },
                "scheme" => match value {
                    "http" => input.scheme = Some(crate::model::Scheme::Http),
                    "https" => input.scheme = Some(crate::model::Scheme::Https),
                    _ => errors.push(FieldError::new("scheme", "must be http or https")),
                },
                "enabled" => match value {
                    "true" | "yes" | "1" => input.enabled = Some(true),
                    "false" | "no" | "0" => input.enabled = Some(false),
                    _ => errors.push(FieldError::new("enabled", "must be true or false")),
                },
                "aliases" => input.aliases = Some(value.split_whitespace().map(String::from).collect()),
                _ => {}
            }
        }
        items.push(Item { line, input, errors });
    }
    Ok(items)
}

/// Renders a group's domains.
pub fn render(format: Format, domains: &[DomainInput]) -> Result<String, String> {
    match format {
        Format::Yaml => serde_norway::to_string(domains).map_err(|e| e.to_string()),
        Format::Csv => {
            let mut w = csv::Writer::from_writer(Vec::new());
            w.write_record(CSV_HEADER).map_err(|e| e.to_string())?;
            for d in domains {
                let port = d.target_port.unwrap_or(80).to_string();
                let scheme = match d.scheme.unwrap_or_default() {
                    crate::model::Scheme::Http => "http",
                    crate::model::Scheme::Https => "https",
                };
                let enabled = d.enabled.unwrap_or(true).to_string();
                let aliases = d.aliases.clone().unwrap_or_default().join(" ");
                let row = [d.name.as_deref().unwrap_or(""), d.target_ip.as_deref().unwrap_or(""), &port, scheme, &enabled, &aliases];
                w.write_record(row).map_err(|e| e.to_string())?;
            }
            String::from_utf8(w.into_inner().map_err(|e| e.to_string())?).map_err(|e| e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_items_keep_their_lines() {
        let doc = "# shop\n- name: shop.example.com\n  target_ip: 10.0.0.5\n  aliases: [www.shop.example.com]\n\n- name: api.example.com\n  target_ip: 10.0.0.6\n  bogus: 1\n";
        let items = parse(Format::Yaml, doc).unwrap_or_default();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].line, 2);
        assert_eq!(items[0].input.aliases.as_deref(), Some(&["www.shop.example.com".to_string()][..]));
        assert_eq!(items[1].line, 6);
        assert!(items[1].errors[0].message.contains("bogus"), "{:?}", items[1].errors);
        assert!(items[1].errors[0].message.starts_with("line 8"), "{:?}", items[1].errors);
        assert!(parse(Format::Yaml, "name: x\n").is_err());
    }

    #[test]
    fn csv_round_trips() {
        let rows = vec![DomainInput {
            name: Some("a.example.com".into()),
            target_ip: Some("10.0.0.1".into()),
            aliases: Some(vec!["b.example.com".into()]),
            ..Default::default()
        }];
        let text = render(Format::Csv, &rows).unwrap_or_default();
        let items = parse(Format::Csv, &text).unwrap_or_default();
        assert_eq!(items[0].line, 2);
        assert_eq!(items[0].input.name.as_deref(), Some("a.example.com"));
        assert_eq!(items[0].input.aliases, Some(vec!["b.example.com".to_string()]));
        let bad = parse(Format::Csv, "name,target_ip,target_port\nx.com,10.0.0.1,eighty\n").unwrap_or_default();
        assert_eq!(bad[0].errors[0].field, "target_port");
    }
}
