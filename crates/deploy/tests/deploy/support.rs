//! What the delivery tests share: the repository root, finding a tool (or
//! skipping, or failing under `CI=true`), running a command and keeping its
//! output, and clean Debian roots made with debootstrap.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repository root")
}

/// Whether this run is CI, where a missing tool fails instead of skipping.
pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Finds `name` on PATH. Without it: panics under `CI=true` (naming
/// `install`, how to get it), otherwise prints SKIPPED and returns None.
pub fn tool(name: &str, install: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join(name)).find(|c| c.is_file()))
        .unwrap_or_default();
    if found.is_none() {
        assert!(!ci(), "{name} is not installed, but CI=true requires it ({install}; scripts/test installs it)");
        eprintln!("SKIPPED: {name} is not installed ({install}; scripts/test installs it)");
    }
    found
}

/// Whether this process may use root-only features (chroot, mounts).
pub fn root_or_skip(what: &str) -> bool {
    // SAFETY-free check: `id -u` avoids a libc dependency in the test crate.
    let uid = Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string()).unwrap_or_default();
    if uid == "0" {
        return true;
    }
    assert!(!ci(), "{what} needs root, and CI=true requires it");
    eprintln!("SKIPPED: {what} needs root");
    false
}

/// The outcome of a command: its status and stdout+stderr together.
#[derive(Debug)]
pub struct Run {
    pub ok: bool,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// stdout followed by stderr, for assertion messages and searches.
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// Panics with the command's output unless it succeeded.
    #[track_caller]
    pub fn must(self, what: &str) -> Run {
        assert!(self.ok, "{what} failed ({:?}):\n--- stdout\n{}\n--- stderr\n{}", self.code, self.stdout, self.stderr);
        self
    }
}

/// Runs a command to completion with no stdin.
pub fn run(cmd: &mut Command) -> Run {
    let out = cmd.stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    Run {
        ok: out.status.success(),
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Every file under `dir` (recursively) whose name ends with one of `suffixes`.
pub fn files(dir: &Path, suffixes: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if suffixes.iter().any(|s| p.to_string_lossy().ends_with(s)) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}
