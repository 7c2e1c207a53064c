//! Finding and killing the processes that live inside fleet hosts.
//!
//! We read /proc directly instead of calling `ip netns pids` once per host:
//! one scan answers "which processes are in which of these N namespaces" for a
//! whole 100-host fleet, which keeps teardown fast. Signals are sent with the
//! `kill` program because the workspace forbids `unsafe` (no libc calls).

use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use crate::cmd;

/// Identity of a namespace: the (device, inode) pair of its nsfs file.
pub(crate) type NsId = (u64, u64);

/// The namespace behind an nsfs path such as `/run/netns/x` or `/proc/1/ns/net`.
pub(crate) fn ns_id(path: &Path) -> Option<NsId> {
    fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// What teardown needs to know about one process.
#[derive(Debug, Clone)]
pub(crate) struct ProcInfo {
    pub pid: u32,
    /// The pid as seen from the innermost pid namespace (1 for a host's init).
    pub inner_pid: u32,
    /// How many pid namespaces the process is nested in (1 = the machine's).
    pub pid_ns_depth: usize,
    pub net_ns: Option<NsId>,
    pub cmdline: String,
}

/// All live (non-zombie) processes on the machine.
pub(crate) fn scan() -> Vec<ProcInfo> {
    let Ok(entries) = fs::read_dir("/proc") else { return Vec::new() };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        if let Some(info) = read_proc(pid) {
            out.push(info);
        }
    }
    out
}

fn read_proc(pid: u32) -> Option<ProcInfo> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let mut inner_pid = pid;
    let mut depth = 1;
    for line in status.lines() {
        if let Some(v) = line.strip_prefix("State:") {
            // Zombies have left their namespaces already; they only wait for a
            // parent to reap them and must not keep teardown looping.
            if v.trim_start().starts_with('Z') || v.trim_start().starts_with('X') {
                return None;
            }
        } else if let Some(v) = line.strip_prefix("NSpid:") {
            let pids: Vec<u32> = v.split_whitespace().filter_map(|p| p.parse().ok()).collect();
            depth = pids.len().max(1);
            inner_pid = pids.last().copied().unwrap_or(pid);
        }
    }
    let net_ns = ns_id(Path::new(&format!("/proc/{pid}/ns/net")));
    let cmdline = fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " ").trim_end().to_owned())
        .unwrap_or_default();
    Some(ProcInfo { pid, inner_pid, pid_ns_depth: depth, net_ns, cmdline })
}

/// Whether `pid` exists and is not a zombie.
pub(crate) fn alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state is the first field after the parenthesised command name,
        // which itself may contain spaces and parentheses.
        Ok(stat) => stat.rsplit_once(')').map(|(_, rest)| rest.trim_start()).is_some_and(|rest| !rest.starts_with(['Z', 'X'])),
        Err(_) => false,
    }
}

/// The start time of `pid` (field 22 of /proc/pid/stat, in clock ticks since boot).
///
/// Together with the pid it identifies a process across pid reuse, which is
/// how a run directory names its owner.
pub(crate) fn start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    // rest starts at field 3 (state); field 22 is therefore index 19.
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Sends `signal` (e.g. "TERM") to every pid, ignoring pids that are gone.
pub(crate) fn signal(pids: &[u32], signal: &str) {
    if pids.is_empty() {
        return;
    }
    let mut c = cmd::tool("kill");
    c.arg("-s").arg(signal).arg("--");
    for pid in pids {
        c.arg(pid.to_string());
    }
    // Races with exiting processes make `kill` report "no such process"; the
    // caller re-scans afterwards, so the exit status carries no information.
    let _ = cmd::output(&mut c);
}

/// Waits until none of `pids` is alive, or `timeout` passed. Returns whether all are gone.
pub(crate) fn wait_gone(pids: &[u32], timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if pids.iter().all(|&p| !alive(p)) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Processes whose network namespace is one of `netns`.
pub(crate) fn in_netns(netns: &HashSet<NsId>) -> Vec<ProcInfo> {
    scan().into_iter().filter(|p| p.net_ns.is_some_and(|ns| netns.contains(&ns))).collect()
}

fn is_nginx_master(p: &ProcInfo) -> bool {
    p.cmdline.starts_with("nginx: master process")
}

/// Kills every process inside the given network namespaces.
///
/// Order matters: nginx masters first (a master respawns workers killed
/// before it), then each host's init (pid 1 of the host's pid namespace;
/// the kernel kills and reaps everything else in that pid namespace with it),
/// then whatever is left (processes that joined only the network namespace),
/// TERM before KILL, in bounded rounds. Returns the pids that survived.
pub(crate) fn kill_all_in(netns: &HashSet<NsId>) -> Vec<u32> {
    if netns.is_empty() {
        return Vec::new();
    }
    let masters: Vec<u32> = in_netns(netns).iter().filter(|p| is_nginx_master(p)).map(|p| p.pid).collect();
    if !masters.is_empty() {
        signal(&masters, "TERM");
        if !wait_gone(&masters, Duration::from_secs(2)) {
            signal(&masters, "KILL");
            wait_gone(&masters, Duration::from_millis(500));
        }
    }

    let inits: Vec<u32> = in_netns(netns).iter().filter(|p| p.pid_ns_depth > 1 && p.inner_pid == 1).map(|p| p.pid).collect();
    if !inits.is_empty() {
        // A pid-namespace init ignores TERM from outside (no handler), so KILL
        // is the only signal that works; nothing in a test host needs a
        // graceful shutdown.
        signal(&inits, "KILL");
        wait_gone(&inits, Duration::from_secs(2));
    }

    for _round in 0..5 {
        let left: Vec<u32> = in_netns(netns).iter().map(|p| p.pid).collect();
        if left.is_empty() {
            return Vec::new();
        }
        signal(&left, "TERM");
        if wait_gone(&left, Duration::from_millis(500)) {
            continue;
        }
        let left: Vec<u32> = in_netns(netns).iter().map(|p| p.pid).collect();
        signal(&left, "KILL");
        wait_gone(&left, Duration::from_secs(1));
    }
    in_netns(netns).iter().map(|p| p.pid).collect()
}
