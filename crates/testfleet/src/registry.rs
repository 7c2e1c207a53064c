//! Which fleets exist on this machine, who owns them, and removing them.
//!
//! Every run first creates its run directory `<base>/gantry-fleet-<id>-<owner>`
//! and only then any kernel object, and it removes the directory last. So a
//! run directory exists for every fleet resource, and its name says whose it is:
//! `<pid>-<starttime>` of the owning process (the start time guards against pid
//! reuse), or `detached` for fleets made by `gantry-testfleet up`, which
//! outlive the process that made them. A run is stale when its owner process
//! is gone; stale runs are removed by the next run. Resource names all carry
//! the run id, so removing one run can never touch another.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{FleetError, Result};
use crate::{net, procs};

/// Prefix of run directory names.
pub(crate) const DIR_PREFIX: &str = "gantry-fleet-";
/// Length of a run id; 6 keeps `gf<id>h<n>` within Linux's 15-character interface names.
const ID_LEN: usize = 6;
/// Environment variable overriding the base directory (default /tmp).
pub const BASE_DIR_ENV: &str = "GANTRY_TESTFLEET_DIR";

/// Default base directory for run directories.
///
/// Deliberately not `std::env::temp_dir()`: all runs on a machine must find
/// each other's run directories to clean up after crashes, and TMPDIR differs
/// between shells and test runners.
pub fn default_base_dir() -> PathBuf {
    std::env::var_os(BASE_DIR_ENV).map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/tmp"))
}

/// Who keeps a fleet alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Owner {
    Process { pid: u32, start: u64 },
    Detached,
}

impl Owner {
    pub(crate) fn current() -> Result<Owner> {
        let pid = std::process::id();
        let start = procs::start_time(pid).ok_or_else(|| FleetError::State("cannot read our own /proc/self/stat".into()))?;
        Ok(Owner::Process { pid, start })
    }

    fn suffix(self) -> String {
        match self {
            Owner::Process { pid, start } => format!("{pid}-{start}"),
            Owner::Detached => "detached".into(),
        }
    }

    fn is_alive(self) -> bool {
        match self {
            Owner::Process { pid, start } => procs::alive(pid) && procs::start_time(pid) == Some(start),
            Owner::Detached => true,
        }
    }
}

/// A run directory found on disk.
#[derive(Debug, Clone)]
pub(crate) struct RunDir {
    pub id: String,
    pub owner: Owner,
    pub path: PathBuf,
}

pub(crate) fn valid_id(id: &str) -> bool {
    id.len() == ID_LEN && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

fn parse_name(name: &str) -> Option<(String, Owner)> {
    let rest = name.strip_prefix(DIR_PREFIX)?;
    let (id, owner) = rest.split_once('-')?;
    if !valid_id(id) {
        return None;
    }
    let owner = if owner == "detached" {
        Owner::Detached
    } else {
        let (pid, start) = owner.split_once('-')?;
        Owner::Process { pid: pid.parse().ok()?, start: start.parse().ok()? }
    };
    Some((id.to_owned(), owner))
}

/// All run directories under `base`.
pub(crate) fn list(base: &Path) -> Vec<RunDir> {
    let Ok(entries) = fs::read_dir(base) else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name();
            let (id, owner) = parse_name(name.to_str()?)?;
            e.file_type().ok()?.is_dir().then(|| RunDir { id, owner, path: e.path() })
        })
        .collect()
}

/// Holds the machine-wide fleet lock until dropped.
///
/// Subnet choice, run creation and stale cleanup happen under it, so two runs
/// starting at the same moment cannot pick the same subnet or both reap the
/// same stale run.
pub(crate) struct Lock {
    _file: File,
}

pub(crate) fn lock(base: &Path) -> Result<Lock> {
    let path = base.join("gantry-fleet.lock");
    let file = OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(FleetError::io("open", &path))?;
    file.lock().map_err(FleetError::io("lock", &path))?;
    Ok(Lock { _file: file })
}

fn new_id() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let mut x = nanos as u64
        ^ (u64::from(std::process::id()) << 32)
        ^ u64::from(COUNTER.fetch_add(1, Ordering::Relaxed)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    // splitmix64 finaliser: spreads close timestamps over the id space.
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    (0..ID_LEN)
        .map(|_| {
            let c = ALPHABET[(x % 36) as usize] as char;
            x /= 36;
            c
        })
        .collect()
}

/// Creates a fresh run directory (mode 0700: it holds the client private key).
pub(crate) fn create_run_dir(base: &Path, owner: Owner) -> Result<RunDir> {
    let existing: HashSet<String> = list(base).into_iter().map(|r| r.id).collect();
    for _ in 0..50 {
        let id = new_id();
        if existing.contains(&id) || Path::new(&format!("/sys/class/net/{}", bridge_name(&id))).exists() {
            continue;
        }
        let path = base.join(format!("{DIR_PREFIX}{id}-{}", owner.suffix()));
        match fs::create_dir(&path) {
            Ok(()) => {
                crate::hostfs::set_mode(&path, 0o700)?;
                return Ok(RunDir { id, owner, path });
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(FleetError::Io { op: "create dir", path, source: e }),
        }
    }
    Err(FleetError::State("could not find an unused run id".into()))
}

pub(crate) fn bridge_name(id: &str) -> String {
    format!("gfb{id}")
}

pub(crate) fn veth_name(id: &str, index: usize) -> String {
    format!("gf{id}h{index}")
}

pub(crate) fn netns_name(id: &str, index: usize) -> String {
    format!("gf{id}n{index}")
}

/// /24 slots claimed by other runs' state files (a run claims its subnet
/// there before its bridge route exists).
pub(crate) fn claimed_slots(base: &Path) -> HashSet<u32> {
    let mut used = HashSet::new();
    for run in list(base) {
        if let Ok(text) = fs::read_to_string(run.path.join(crate::STATE_FILE))
            && let Ok(state) = serde_json::from_str::<crate::FleetState>(&text)
        {
            used.extend(net::subnet_slots(state.subnet));
        }
    }
    used
}

/// Removes stale runs (owner dead) and, with `include_detached`, detached ones too.
/// Must be called with the lock held. Returns the ids removed.
pub(crate) fn cleanup_locked(base: &Path, include_detached: bool) -> Result<Vec<String>> {
    let mut removed = Vec::new();
    let mut errors = Vec::new();
    for run in list(base) {
        let remove = match run.owner {
            Owner::Detached => include_detached,
            owner => !owner.is_alive(),
        };
        if !remove {
            continue;
        }
        match destroy_run(&run.id, Some(&run.path)) {
            Ok(()) => removed.push(run.id),
            Err(e) => errors.push(format!("{}: {e}", run.id)),
        }
    }
    if errors.is_empty() { Ok(removed) } else { Err(FleetError::Teardown(errors.join("; "))) }
}

/// Names of the network namespaces of run `id`.
pub(crate) fn netns_of(id: &str) -> Vec<String> {
    let prefix = format!("gf{id}n");
    names_in("/run/netns", &prefix)
}

/// Names of the interfaces of run `id` in this (the control plane's) namespace.
pub(crate) fn links_of(id: &str) -> Vec<String> {
    let mut links = names_in("/sys/class/net", &format!("gf{id}h"));
    links.extend(names_in("/sys/class/net", &bridge_name(id)).into_iter().filter(|n| *n == bridge_name(id)));
    links
}

fn names_in(dir: &str, prefix: &str) -> Vec<String> {
    let Ok(entries) = fs::read_dir(dir) else { return Vec::new() };
    entries.flatten().filter_map(|e| e.file_name().to_str().map(str::to_owned)).filter(|n| n.starts_with(prefix)).collect()
}

/// Removes everything of run `id`: processes, veths, namespaces, bridge, and
/// (when given) its run directory. Never touches the safety route. Safe to
/// call on partially built or already removed runs.
pub(crate) fn destroy_run(id: &str, dir: Option<&Path>) -> Result<()> {
    if !valid_id(id) {
        return Err(FleetError::State(format!("refusing to destroy run with malformed id {id:?}")));
    }
    let t = std::time::Instant::now();
    let mut problems = Vec::new();
    let namespaces = netns_of(id);
    let ns_ids: HashSet<procs::NsId> = namespaces.iter().filter_map(|n| procs::ns_id(&Path::new("/run/netns").join(n))).collect();
    // Processes must be gone before their namespace loses its name: after
    // that, nothing could find them any more.
    let mut survivors = procs::kill_all_in(&ns_ids);
    if !survivors.is_empty() {
        survivors = procs::kill_all_in(&ns_ids);
    }
    if !survivors.is_empty() {
        problems.push(format!("processes survived SIGKILL: {survivors:?}"));
    }

    crate::debug_timing("teardown: processes killed", t);
    // Deleting the namespaces first lets the kernel destroy all veths in one
    // batched namespace cleanup; deleting 100 veths one by one costs ~20 ms
    // each (an RCU grace period per device).
    let _ = net::ip_batch(&netns_of(id).iter().map(|n| format!("netns del {n}")).collect::<Vec<_>>(), true);
    let bridge = bridge_name(id);
    let veths_gone = || links_of(id).iter().all(|l| *l == bridge);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !veths_gone() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    for attempt in 0..2 {
        // Whatever is left (a namespace still referenced from elsewhere keeps
        // its veth alive) is deleted explicitly: veths, then namespaces, then
        // the bridge. Removing one end of a veth removes its peer.
        let links = links_of(id);
        let mut lines: Vec<String> = links.iter().filter(|l| **l != bridge).map(|l| format!("link del dev {l}")).collect();
        lines.extend(netns_of(id).iter().map(|n| format!("netns del {n}")));
        if links.contains(&bridge) {
            lines.push(format!("link del dev {bridge}"));
        }
        // With -force, ip exits non-zero if any line failed (typically a
        // link that vanished with its namespace); we verify below instead.
        let _ = net::ip_batch(&lines, true);

        let (ns_left, links_left) = (netns_of(id), links_of(id));
        if ns_left.is_empty() && links_left.is_empty() {
            break;
        }
        if attempt == 1 {
            problems.push(format!("left behind namespaces {ns_left:?} and links {links_left:?}"));
        }
    }
    crate::debug_timing("teardown: links and namespaces deleted", t);
    if let Some(dir) = dir {
        if let Err(e) = unmount_all(dir) {
            problems.push(e.to_string());
        }
        match fs::remove_dir_all(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => problems.push(format!("removing {}: {e}", dir.display())),
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(FleetError::Teardown(format!("run {id}: {}", problems.join("; ")))) }
}

/// Mounts a tmpfs on the run directory.
///
/// A fleet writes and later deletes thousands of small files (100 hosts x
/// nginx config, keys, users); on a busy ext4 with `discard` that alone took
/// seconds, on tmpfs it takes milliseconds. Hosts never see this mount: their
/// /tmp is covered by a private one.
pub(crate) fn mount_tmpfs(dir: &Path, id: &str) -> Result<()> {
    crate::cmd::run(
        crate::cmd::tool("mount").args(["-t", "tmpfs", "-o", "mode=0700,nosuid,nodev"]).arg(format!("gantry-fleet-{id}")).arg(dir),
    )
    .map(|_| ())
}

fn is_mount_point(dir: &Path) -> bool {
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else { return false };
    let dir = dir.to_string_lossy();
    info.lines().any(|l| l.split_whitespace().nth(4) == Some(&*dir))
}

/// Unmounts whatever is mounted on `dir` (our tmpfs), lazily if it is busy.
fn unmount_all(dir: &Path) -> Result<()> {
    for _ in 0..4 {
        if !is_mount_point(dir) {
            return Ok(());
        }
        if crate::cmd::run(crate::cmd::tool("umount").arg(dir)).is_err() {
            // Busy (say, a shell of someone inspecting the fleet has its cwd
            // there): detach it now, the kernel frees it when released.
            let _ = crate::cmd::run(crate::cmd::tool("umount").arg("--lazy").arg(dir));
        }
    }
    if is_mount_point(dir) { Err(FleetError::Teardown(format!("cannot unmount {}", dir.display()))) } else { Ok(()) }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn run_dir_names_round_trip() {
        let (id, owner) = parse_name("gantry-fleet-abc123-42-9999").unwrap();
        assert_eq!(id, "abc123");
        assert_eq!(owner, Owner::Process { pid: 42, start: 9999 });
        assert_eq!(parse_name("gantry-fleet-zz0011-detached").unwrap().1, Owner::Detached);
        assert!(parse_name("gantry-fleet-ABC123-detached").is_none());
        assert!(parse_name("gantry-fleet-abc12-detached").is_none());
        assert!(parse_name("gantry-fleet.lock").is_none());
        let id = new_id();
        assert!(valid_id(&id), "{id}");
        assert!(veth_name(&id, 499).len() <= 15);
        assert!(bridge_name(&id).len() <= 15);
    }
}
