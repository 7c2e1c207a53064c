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
    let found = std::env::var_os("PATH").map(|p| std::env::split_paths(&p).map(|d| d.join(name)).find(|c| c.is_file())).unwrap_or_default();
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

/// The built `gantry` binary under test: `GANTRY_BIN`, or `gantry` in the
/// target directory this test binary was built into.
pub fn gantry_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("GANTRY_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/deploy-<hash> -> target/<profile>/gantry
    let bin = exe.parent().and_then(Path::parent).map(|d| d.join("gantry")).expect("target directory");
    assert!(bin.is_file(), "{} is missing: build it first (cargo build -p gantry) or set GANTRY_BIN", bin.display());
    bin
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

/// Where clean roots live. Outside the clone: they are large and root-owned.
const ROOTS: &str = "/var/tmp/gantry-test-roots";

/// A clean Debian 12 root filesystem made by debootstrap, for running the
/// installers as they would run on a fresh server.
///
/// It shares the host's network namespace, because apt inside it must reach
/// the Debian mirror, so two things keep it from touching the host's
/// services: a `policy-rc.d` that stops package scripts from starting
/// daemons (as in container images), and a MariaDB drop-in with
/// `skip-networking` (the host's MariaDB holds 127.0.0.1:3306; Gantry talks
/// to its local MariaDB over the unix socket anyway). Dropping it kills
/// every process whose root is inside it, unmounts, and deletes it.
pub struct CleanRoot {
    path: PathBuf,
}

impl CleanRoot {
    /// Debootstraps a fresh root (about 30 s from deb.debian.org). None
    /// (skipped) when not root or without debootstrap outside CI.
    pub fn new(name: &str) -> Option<CleanRoot> {
        if !root_or_skip("a debootstrap root") {
            return None;
        }
        let debootstrap = tool("debootstrap", "apt-get install debootstrap")?;
        std::fs::create_dir_all(ROOTS).expect("create roots dir");
        sweep_stale_roots();
        let path = Path::new(ROOTS).join(format!("{name}-{}", std::process::id()));
        if path.exists() {
            remove_root(&path);
        }
        let mirror = std::env::var("GANTRY_TEST_DEBIAN_MIRROR").unwrap_or_else(|_| "http://deb.debian.org/debian".into());
        run(Command::new(&debootstrap).args(["--variant=minbase", "bookworm"]).arg(&path).arg(&mirror)).must("debootstrap");
        let root = CleanRoot { path };
        let p = &root.path;
        std::fs::write(
            p.join("usr/sbin/policy-rc.d"),
            "#!/bin/sh\n# Package scripts must not start daemons in this test root.\nexit 101\n",
        )
        .unwrap();
        run(Command::new("chmod").arg("0755").arg(p.join("usr/sbin/policy-rc.d"))).must("chmod policy-rc.d");
        std::fs::create_dir_all(p.join("etc/mysql/mariadb.conf.d")).unwrap();
        std::fs::write(
            p.join("etc/mysql/mariadb.conf.d/99-gantry-test.cnf"),
            "# The test root shares the host's network; the host's MariaDB holds port 3306.\n[mysqld]\nskip-networking\n",
        )
        .unwrap();
        std::fs::copy("/etc/resolv.conf", p.join("etc/resolv.conf")).expect("copy resolv.conf");
        for (src, dst, fstype) in
            [("proc", "proc", Some("proc")), ("/sys", "sys", None), ("/dev", "dev", None), ("/dev/pts", "dev/pts", None)]
        {
            let target = p.join(dst);
            std::fs::create_dir_all(&target).unwrap();
            let mut cmd = Command::new("mount");
            match fstype {
                Some(t) => cmd.args(["-t", t, src]),
                None => cmd.args(["--bind", src]),
            };
            run(cmd.arg(&target)).must("mount into the test root");
        }
        Some(root)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `sh -c script` inside the root with a clean environment and no stdin.
    pub fn exec(&self, script: &str) -> Run {
        run(Command::new("chroot").arg(&self.path).args([
            "/usr/bin/env",
            "-i",
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME=/root",
            "LANG=C.UTF-8",
            "/bin/sh",
            "-c",
            script,
        ]))
    }
}

impl Drop for CleanRoot {
    fn drop(&mut self) {
        remove_root(&self.path);
    }
}

/// Processes whose root directory is `root` or below it.
fn processes_in(root: &Path) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .filter(|pid| std::fs::read_link(format!("/proc/{pid}/root")).is_ok_and(|r| r.starts_with(root)))
        .collect()
}

/// Mount points at or below `root`, deepest first.
fn mounts_under(root: &Path) -> Vec<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut v: Vec<PathBuf> = info.lines().filter_map(|l| l.split(' ').nth(4)).map(PathBuf::from).filter(|m| m.starts_with(root)).collect();
    v.sort_by_key(|m| std::cmp::Reverse(m.components().count()));
    v
}

/// Kills a root's processes (before anything else, so nothing holds its
/// mounts), unmounts, and deletes it without crossing into other
/// filesystems: a bind mount that failed to unmount is never followed.
fn remove_root(root: &Path) {
    for _ in 0..50 {
        let pids = processes_in(root);
        if pids.is_empty() {
            break;
        }
        for pid in pids {
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    for m in mounts_under(root) {
        if !Command::new("umount").arg(&m).status().is_ok_and(|s| s.success()) {
            let _ = Command::new("umount").arg("-l").arg(&m).status();
        }
    }
    let left = mounts_under(root);
    if !left.is_empty() {
        eprintln!("warning: not deleting {}: still mounted: {left:?}", root.display());
        return;
    }
    let _ = Command::new("rm").args(["-rf", "--one-file-system"]).arg(root).status();
}

/// Removes roots left by earlier runs that were killed before their Drop ran.
fn sweep_stale_roots() {
    let Ok(entries) = std::fs::read_dir(ROOTS) else { return };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let alive =
            name.rsplit('-').next().and_then(|p| p.parse::<u32>().ok()).is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
        if !alive {
            remove_root(&e.path());
        }
    }
}

/// Gantry in the clean root, seen from the host (the root shares its network).
pub struct GantryInRoot<'a> {
    pub root: &'a CleanRoot,
    pub port: u16,
}

impl GantryInRoot<'_> {
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// GET `path`: the body, then a line with the status code.
    pub fn get(&self, path: &str) -> Run {
        run(Command::new("curl").args(["-sS", "--max-time", "10", "-w", "\n%{http_code}"]).arg(self.url(path)))
    }

    /// The status code of a GET.
    pub fn status(&self, path: &str) -> String {
        run(Command::new("curl").args(["-sS", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code}"]).arg(self.url(path))).stdout
    }

    /// The status code of a login as `admin`.
    pub fn login(&self, password: &str) -> String {
        let body = serde_json::json!({"username": "admin", "password": password}).to_string();
        let r = run(Command::new("curl")
            .args(["-sS", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code}", "-H", "content-type: application/json", "-d"])
            .arg(body)
            .arg(self.url("/api/v1/auth/login")));
        r.stdout.trim().to_string()
    }

    /// The pid in the no-systemd mode's pid file, if that process runs.
    pub fn pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.root.path().join("run/gantry.pid"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .filter(|p| Path::new(&format!("/proc/{p}")).exists())
    }

    /// A query against the root's MariaDB over its socket, output trimmed.
    pub fn sql(&self, q: &str) -> String {
        self.root.exec(&format!("mariadb --protocol=socket -N -e \"{q}\"")).must("mariadb query").stdout.trim().to_string()
    }

    pub fn exists(&self, rel: &str) -> bool {
        self.root.path().join(rel).exists()
    }

    pub fn meta(&self, rel: &str) -> std::fs::Metadata {
        std::fs::metadata(self.root.path().join(rel)).unwrap_or_else(|e| panic!("/{rel}: {e}"))
    }

    pub fn uid(&self, user: &str) -> u32 {
        self.root.exec(&format!("id -u {user}")).must("id").stdout.trim().parse().unwrap()
    }

    pub fn gid(&self, group: &str) -> u32 {
        self.root.exec(&format!("getent group {group} | cut -d: -f3")).must("getent").stdout.trim().parse().unwrap()
    }
}
