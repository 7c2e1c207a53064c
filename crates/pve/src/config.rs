//! The YAML files operators keep: `connections.yml` (clusters),
//! `deployment_config.yml` (a blueprint) and `users.yml` (the users). Every
//! error names the file, line and column. Field values are parsed into their
//! newtypes while deserializing, so even "VLAN 5000" points at its line; rules
//! across fields are located by their path in the document.

use crate::blueprint::{Blueprint, SpecProblem, UserList};
use crate::model::PveUserId;
use serde::{Deserialize, Serialize};
use std::fmt;
use utoipa::ToSchema;

/// A problem in a YAML file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct YamlError {
    /// The file (as given).
    pub file: String,
    /// Line, from 1 (0 when unknown).
    pub line: usize,
    /// Column, from 1 (0 when unknown).
    pub column: usize,
    /// The field path, when known (`vms[1].networks[0]`).
    pub path: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if let Some(p) = &self.path {
            write!(f, "{p}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for YamlError {}

/// Where the scalar `value` first appears as a whole YAML scalar at or after `line`.
fn find_scalar(text: &str, value: &str, line: usize) -> Option<(usize, usize)> {
    let delim =
        |c: Option<char>| c.is_none_or(|c| c.is_whitespace() || matches!(c, '[' | ']' | ',' | '\'' | '"' | '-' | ':' | '#' | '{' | '}'));
    for (i, l) in text.lines().enumerate().skip(line.saturating_sub(1)) {
        let mut from = 0;
        while let Some(pos) = l[from..].find(value) {
            let at = from + pos;
            let before = l[..at].chars().next_back();
            let after = l[at + value.len()..].chars().next();
            if delim(before) && delim(after) && before != Some(':') {
                return Some((i + 1, at + 1));
            }
            from = at + value.len();
        }
    }
    None
}

fn syntax(file: &str, text: &str, e: serde_norway::Error) -> YamlError {
    let (mut line, mut column) = e.location().map(|l| (l.line(), l.column())).unwrap_or((0, 0));
    // A value rejected inside a sequence is reported at the sequence's start:
    // move to the quoted value itself.
    let full = e.to_string();
    if let Some(q) = full.split('\'').nth(1).filter(|q| !q.is_empty())
        && let Some((l, c)) = find_scalar(text, q, line.max(1))
    {
        (line, column) = (l, c);
    }
    // serde_norway prefixes the path ("vms[0].networks[1]: …"); keep the message whole.
    let msg = e.to_string();
    let msg = match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg,
    };
    let (path, message) = match msg.split_once(": ") {
        Some((p, m)) if !p.contains(' ') => (Some(p.to_string()), m.to_string()),
        _ => (None, msg),
    };
    YamlError { file: file.to_string(), line, column, path, message }
}

/// Finds where a path like `vms[1].key` sits in the text: the line of its
/// last key under the right list item (best effort; 0 when not found).
pub fn locate(text: &str, path: &str) -> (usize, usize) {
    let mut parts: Vec<(String, Option<usize>)> = Vec::new();
    for seg in path.split('.') {
        match seg.split_once('[') {
            Some((k, rest)) => parts.push((k.to_string(), rest.trim_end_matches(']').parse().ok())),
            None => parts.push((seg.to_string(), None)),
        }
    }
    let lines: Vec<&str> = text.lines().collect();
    let mut from = 0usize;
    let mut min_indent = 0usize;
    let mut found = (0, 0);
    for (key, idx) in parts {
        let mut hit = None;
        for (i, l) in lines.iter().enumerate().skip(from) {
            let trimmed = l.trim_start().trim_start_matches("- ");
            let indent = l.len() - l.trim_start().len();
            if i > from && indent < min_indent && !l.trim().is_empty() {
                break;
            }
            if trimmed.starts_with(&format!("{key}:")) {
                hit = Some((i, l.find(&key).unwrap_or(indent)));
                break;
            }
        }
        let Some((i, col)) = hit else { return found };
        found = (i + 1, col + 1);
        from = i;
        min_indent = col;
        if let Some(n) = idx {
            // The n-th "- " item after the key, at the item indent.
            let mut count = 0;
            let mut item = None;
            for (j, l) in lines.iter().enumerate().skip(i + 1) {
                let ind = l.len() - l.trim_start().len();
                if !l.trim().is_empty() && ind <= col && !l.trim_start().starts_with('-') {
                    break;
                }
                if l.trim_start().starts_with('-') {
                    if count == n {
                        item = Some((j, ind));
                        break;
                    }
                    if ind <= col + 2 {
                        count += 1;
                    }
                }
            }
            let Some((j, ind)) = item else { return found };
            found = (j + 1, ind + 1);
            from = j;
            min_indent = ind;
        }
    }
    found
}

fn problems(file: &str, text: &str, p: Vec<SpecProblem>) -> Result<(), Vec<YamlError>> {
    if p.is_empty() {
        return Ok(());
    }
    Err(p
        .into_iter()
        .map(|p| {
            let (line, column) = locate(text, &p.path);
            YamlError { file: file.to_string(), line, column, path: Some(p.path), message: p.message }
        })
        .collect())
}

/// Parses and checks a `deployment_config.yml`.
pub fn parse_blueprint(file: &str, text: &str) -> Result<Blueprint, Vec<YamlError>> {
    let bp: Blueprint = serde_norway::from_str(text).map_err(|e| vec![syntax(file, text, e)])?;
    problems(file, text, bp.check())?;
    Ok(bp)
}

/// The YAML of a blueprint (what export writes and import reads back).
pub fn render_blueprint(bp: &Blueprint) -> Result<String, String> {
    serde_norway::to_string(bp).map_err(|e| e.to_string())
}

#[derive(Deserialize)]
#[serde(untagged)]
enum UsersFile {
    Map(UserList),
    List(Vec<PveUserId>),
}

/// Parses a `users.yml`: either `users: [...]` or a bare list.
pub fn parse_users(file: &str, text: &str) -> Result<UserList, Vec<YamlError>> {
    // Untagged enums hide the location of the bad entry: try each shape for its own error.
    let list = match serde_norway::from_str::<UsersFile>(text) {
        Ok(UsersFile::Map(m)) => m,
        Ok(UsersFile::List(users)) => UserList { users },
        Err(_) => {
            let e = if text.trim_start().starts_with('-') {
                serde_norway::from_str::<Vec<PveUserId>>(text).err()
            } else {
                serde_norway::from_str::<UserList>(text).err()
            };
            return Err(vec![match e {
                Some(e) => syntax(file, text, e),
                None => YamlError {
                    file: file.into(),
                    line: 0,
                    column: 0,
                    path: None,
                    message: "expected `users:` with a list of user@realm".into(),
                },
            }]);
        }
    };
    let p = list.check();
    if p.is_empty() {
        return Ok(list);
    }
    // Bare lists have no `users:` key to locate: point at the n-th item.
    let bare = !text.trim_start().starts_with("users");
    Err(p
        .into_iter()
        .map(|p| {
            let path = if bare { p.path.replacen("users", "", 1) } else { p.path.clone() };
            let (line, column) = if bare { locate_item(text, &path) } else { locate(text, &p.path) };
            YamlError { file: file.to_string(), line, column, path: Some(p.path), message: p.message }
        })
        .collect())
}

fn locate_item(text: &str, path: &str) -> (usize, usize) {
    let n: usize = path.trim_matches(|c| c == '[' || c == ']').parse().unwrap_or(0);
    text.lines()
        .enumerate()
        .filter(|(_, l)| l.trim_start().starts_with('-'))
        .nth(n)
        .map(|(i, l)| (i + 1, l.len() - l.trim_start().len() + 1))
        .unwrap_or((0, 0))
}

/// One cluster in `connections.yml`. Secrets come from the environment or a
/// file, never from the YAML itself, so the file can live in git.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClusterFile {
    /// Name.
    pub name: String,
    /// Endpoints.
    pub endpoints: Vec<String>,
    /// API token id (or `username`).
    #[serde(default)]
    pub token_id: Option<String>,
    /// User for ticket login (or `token_id`).
    #[serde(default)]
    pub username: Option<String>,
    /// Environment variable holding the token secret or password.
    #[serde(default)]
    pub secret_env: Option<String>,
    /// File holding the token secret or password.
    #[serde(default)]
    pub secret_file: Option<String>,
    /// Certificate fingerprint.
    #[serde(default)]
    pub fingerprint: Option<String>,
    /// CA bundle file.
    #[serde(default)]
    pub ca_file: Option<String>,
    /// VMID range `first-last`.
    #[serde(default)]
    pub vmid_range: Option<String>,
}

/// `connections.yml`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectionsFile {
    /// Clusters.
    pub clusters: Vec<ClusterFile>,
}

/// Parses `connections.yml` (secrets are resolved by the caller).
pub fn parse_connections(file: &str, text: &str) -> Result<ConnectionsFile, Vec<YamlError>> {
    let c: ConnectionsFile = serde_norway::from_str(text).map_err(|e| vec![syntax(file, text, e)])?;
    let mut p = Vec::new();
    for (i, cl) in c.clusters.iter().enumerate() {
        if cl.secret_env.is_none() && cl.secret_file.is_none() {
            p.push(SpecProblem {
                path: format!("clusters[{i}].name"),
                message: "give secret_env or secret_file for the token secret or password".into(),
            });
        }
        if let Some(r) = &cl.vmid_range
            && let Err(e) = r.parse::<crate::model::VmidRange>()
        {
            p.push(SpecProblem { path: format!("clusters[{i}].vmid_range"), message: e.0 });
        }
    }
    problems(file, text, p)?;
    Ok(c)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const BP: &str = "name: net-lab
strategy: balanced
vms:
  - key: router
    template: router
    name: \"{user}-router\"
    networks: [hq.100, lab]
    start: true
  - key: client
    template: debian-12
    memory_mib: 2048
    networks:
      - hq.100
      - hq.5000
";

    #[test]
    fn bad_vlan_points_at_its_line() {
        let e = parse_blueprint("deployment_config.yml", BP).unwrap_err();
        assert_eq!(e.len(), 1);
        assert_eq!((e[0].line, e[0].column), (14, 9), "{e:?}");
        assert!(e[0].message.contains("1 to 4094"), "{}", e[0]);
        assert!(e[0].to_string().starts_with("deployment_config.yml:14:9:"));
    }

    #[test]
    fn cross_field_errors_are_located() {
        let text = BP.replace("hq.5000", "hq.200").replace("key: client", "key: router");
        let e = parse_blueprint("d.yml", &text).unwrap_err();
        assert_eq!(e[0].path.as_deref(), Some("vms[1].key"));
        assert_eq!(e[0].line, 9, "{e:?}");
    }

    #[test]
    fn users_files() {
        let u = parse_users("users.yml", "users:\n  - student1@pve\n  - student2@pve\n").unwrap();
        assert_eq!(u.users.len(), 2);
        let u = parse_users("users.yml", "- a@pve\n- b@pve\n").unwrap();
        assert_eq!(u.users.len(), 2);
        let e = parse_users("users.yml", "users:\n  - student1@pve\n  - student2\n").unwrap_err();
        assert_eq!(e[0].line, 3, "{e:?}");
        let e = parse_users("users.yml", "- a@pve\n- b@pve\n- a@pve\n").unwrap_err();
        assert_eq!(e[0].line, 3, "{e:?}");
    }

    #[test]
    fn unknown_fields_and_round_trip() {
        let e = parse_blueprint("d.yml", "name: x\nvms:\n  - key: a\n    template: t\n    colour: red\n").unwrap_err();
        assert_eq!(e[0].line, 5, "{e:?}");
        let bp = parse_blueprint("d.yml", &BP.replace("hq.5000", "hq.200")).unwrap();
        let again = parse_blueprint("d.yml", &render_blueprint(&bp).unwrap()).unwrap();
        assert_eq!(bp, again);
    }
}
