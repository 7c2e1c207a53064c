//! What changes between two generations: a unified diff of the files and the
//! domains added, changed and removed.

use crate::model::{DomainChanges, DomainRef};
use crate::render::DomainDigest;
use similar::TextDiff;
use std::collections::{BTreeMap, BTreeSet};

/// Longest diff kept (a first apply of 10,000 domains is several MB of "added" lines).
const MAX_DIFF: usize = 1 << 20;

/// A unified diff, file by file, of `old` → `new` (3 lines of context).
pub fn unified_diff(old: &BTreeMap<String, String>, new: &BTreeMap<String, String>) -> String {
    let names: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    let mut out = String::new();
    for name in names {
        let (a, b) = (old.get(name), new.get(name));
        if a == b {
            continue;
        }
        let from = if a.is_some() { format!("a/{name}") } else { "/dev/null".to_string() };
        let to = if b.is_some() { format!("b/{name}") } else { "/dev/null".to_string() };
        let (a, b) = (a.map(String::as_str).unwrap_or(""), b.map(String::as_str).unwrap_or(""));
        let diff = TextDiff::from_lines(a, b);
        out.push_str(&diff.unified_diff().context_radius(3).header(&from, &to).to_string());
        if out.len() > MAX_DIFF {
            let mut cut = MAX_DIFF;
            while !out.is_char_boundary(cut) {
                cut -= 1;
            }
            out.truncate(cut);
            out.push_str("\n… (diff truncated at 1 MiB; the generation's files are complete)\n");
            break;
        }
    }
    out
}

/// Domains added, changed (different block) and removed, by id.
pub fn domain_changes(old: &BTreeMap<i64, DomainDigest>, new: &BTreeMap<i64, DomainDigest>) -> DomainChanges {
    let r = |id: &i64, d: &DomainDigest| DomainRef { id: *id, name: d.name.clone(), group_id: d.group_id };
    let mut c = DomainChanges::default();
    for (id, d) in new {
        match old.get(id) {
            None => c.added.push(r(id, d)),
            Some(o) if o.hash != d.hash => c.changed.push(r(id, d)),
            Some(_) => {}
        }
    }
    for (id, d) in old {
        if !new.contains_key(id) {
            c.removed.push(r(id, d));
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(name: &str, hash: &str) -> DomainDigest {
        DomainDigest { name: name.into(), group_id: 1, hash: hash.into() }
    }

    #[test]
    fn diffs_name_files_and_domains() {
        let mut a = BTreeMap::new();
        a.insert("group-1.conf".to_string(), "x\ny\nz\n".to_string());
        a.insert("group-2.conf".to_string(), "gone\n".to_string());
        let mut b = BTreeMap::new();
        b.insert("group-1.conf".to_string(), "x\nY\nz\n".to_string());
        b.insert("group-3.conf".to_string(), "new\n".to_string());
        let d = unified_diff(&a, &b);
        assert!(d.contains("--- a/group-1.conf\n+++ b/group-1.conf\n"), "{d}");
        assert!(d.contains("-y\n+Y\n"), "{d}");
        assert!(d.contains("--- a/group-2.conf\n+++ /dev/null\n"), "{d}");
        assert!(d.contains("--- /dev/null\n+++ b/group-3.conf\n"), "{d}");
        assert_eq!(unified_diff(&a, &a), "");

        let old = BTreeMap::from([(1, digest("a", "1")), (2, digest("b", "2")), (3, digest("c", "3"))]);
        let new = BTreeMap::from([(1, digest("a", "1")), (2, digest("b", "9")), (4, digest("d", "4"))]);
        let c = domain_changes(&old, &new);
        let names = |v: &Vec<DomainRef>| v.iter().map(|d| d.name.clone()).collect::<Vec<_>>();
        assert_eq!((names(&c.added), names(&c.changed), names(&c.removed)), (vec!["d".into()], vec!["b".into()], vec!["c".into()]));
    }
}
