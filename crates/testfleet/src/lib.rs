//! The test fleet: real Linux "servers" on this machine for Gantry's tests.
//!
//! A [`Fleet`] is N hosts, each a network namespace on a private bridge in
//! 198.18.0.0/15, with its own mount, pid and UTS namespaces, running the
//! real OpenSSH server (and, on demand, the real nginx) against host-private
//! copies of `/etc/nginx`, `/etc/ssh`, `/etc/passwd` & co., `/var/log`,
//! `/var/lib/nginx`, `/run`, `/home`, `/root` and `/tmp`. The machine itself is
//! the control plane and reaches the hosts through the bridge address (`.1`).
//!
//! Boundary: this crate only builds, drives and removes hosts. It knows
//! nothing about Gantry's SSH client or deployment logic; tests connect to the
//! hosts like Gantry would connect to any server, with the key, addresses and
//! host-key fingerprints exposed here. It needs root, iproute2,
//! openssh-server/-client, nginx and sudo (Debian packages).
//!
//! Safety: an `unreachable 198.18.0.0/15` route is installed before anything
//! else and never removed, hosts get no default route, and forwarding/NAT are
//! never touched, so fleet traffic cannot leave the machine. Every resource
//! name carries the run id, so concurrent runs never touch each other, and
//! runs whose owner process died are removed by the next run
//! ([`Fleet::cleanup_stale`]).
//!
//! Files: each run owns `/tmp/gantry-fleet-<run id>-<owner>/` (a tmpfs; base
//! overridable with `GANTRY_TESTFLEET_DIR`) holding the client key, `fleet.json`
//! and one `h<N>/` state dir per host, whose subdirectories are bind-mounted
//! over the real paths inside that host only.
//!
//! Tests should get their fleet through [`require_fleet`], which skips loudly
//! when not root, unless `CI=true`, where it fails.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cmd;
mod error;
mod hostfs;
mod net;
mod procs;
mod registry;

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

pub use error::{FleetError, Result};
pub use hostfs::{DEPLOY_USER, NOSUDO_USER};
pub use net::{FLEET_RANGE, Subnet};
pub use registry::{BASE_DIR_ENV, default_base_dir};

/// Most hosts one fleet can have (a /23 minus network, bridge and broadcast, rounded down).
pub const MAX_HOSTS: usize = 500;
/// Fleets up to this size get a /24, larger ones a /23.
const MAX_HOSTS_PER_24: usize = 250;
/// Name of the state file inside a run directory.
pub const STATE_FILE: &str = "fleet.json";
/// Parallel workers for per-host setup: the work is mostly fork/exec and
/// waiting, so a few more than the 2 cores CI machines have pays off.
const WORKERS: usize = 8;
const READY_TIMEOUT: Duration = Duration::from_secs(15);

/// How to build a fleet.
#[derive(Debug, Clone)]
pub struct FleetOptions {
    /// Number of hosts (1..=[`MAX_HOSTS`]).
    pub hosts: usize,
    /// Where run directories live; `None` means [`default_base_dir`].
    pub base_dir: Option<PathBuf>,
    /// A detached fleet outlives this process: it is not torn down on drop and
    /// not treated as stale when this process exits; remove it with
    /// [`Fleet::destroy`] (`gantry-testfleet down`) or `gantry-testfleet cleanup --all`.
    pub detached: bool,
}

impl FleetOptions {
    /// Options for an owned fleet of `hosts` hosts in the default base directory.
    pub fn new(hosts: usize) -> Self {
        FleetOptions { hosts, base_dir: None, detached: false }
    }
}

/// Serializable description of a fleet: what `gantry-testfleet up --state`
/// writes and what `down` reads. Also stored as `fleet.json` in the run dir.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FleetState {
    /// Run id (6 lowercase alphanumerics), part of every resource name.
    pub run_id: String,
    /// The run directory.
    pub dir: PathBuf,
    /// The fleet's private subnet.
    pub subnet: Subnet,
    /// The control plane's address on the bridge.
    pub control_addr: Ipv4Addr,
    /// The bridge interface.
    pub bridge: String,
    /// Whether the fleet outlives its creator.
    pub detached: bool,
    /// Path of the client private key (authorized for root, deploy, nosudo).
    pub client_key_path: PathBuf,
    /// The client public key line.
    pub client_public_key: String,
    /// The hosts.
    pub hosts: Vec<HostState>,
}

/// Serializable description of one host.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HostState {
    /// 0-based index.
    pub index: usize,
    /// Host name (also its hostname inside).
    pub name: String,
    /// Its address.
    pub addr: Ipv4Addr,
    /// Its network namespace (`ip netns exec <netns> ...`).
    pub netns: String,
    /// The control-plane end of its veth (enslaved to the bridge).
    pub veth: String,
    /// Its state directory (private trees that are mounted over the real paths).
    pub dir: PathBuf,
    /// Its host public key line (`ssh-ed25519 AAAA... root@hostN`).
    pub host_public_key: String,
    /// Its host key fingerprint (`SHA256:...`).
    pub host_key_fingerprint: String,
    /// Pid (on this machine) of the process holding the host's namespaces.
    pub holder_pid: u32,
}

/// One host of a fleet. Obtain with [`Fleet::host`] or [`Fleet::hosts`].
#[derive(Debug)]
pub struct Host {
    index: usize,
    name: String,
    addr: Ipv4Addr,
    netns: String,
    veth: String,
    dir: PathBuf,
    /// `unshare` process that created the host's mount/pid/uts namespaces; its
    /// child is the host's init. Joining via /proc/<holder>/ns/* avoids
    /// needing the init's pid, which only the kernel knows cheaply.
    holder_pid: u32,
    key: Mutex<hostfs::HostKey>,
    link_down: AtomicBool,
}

impl Host {
    /// 0-based index in the fleet.
    pub fn index(&self) -> usize {
        self.index
    }
    /// Host name (`host0`, `host1`, ...), also the hostname inside the host.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The host's address (sshd listens on port 22 there).
    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }
    /// `addr:22`.
    pub fn ssh_addr(&self) -> SocketAddr {
        SocketAddr::from((self.addr, 22))
    }
    /// Name of the host's network namespace.
    pub fn netns(&self) -> &str {
        &self.netns
    }
    /// Name of the control-plane end of the host's veth.
    pub fn veth(&self) -> &str {
        &self.veth
    }
    /// The host's state directory on the real file system. Its subdirectories
    /// are what the host sees as its private paths (e.g. `etc-nginx` is the
    /// host's `/etc/nginx`), so tests may read them directly.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// The host public key line, `ssh-ed25519 AAAA... root@hostN`.
    pub fn host_public_key(&self) -> String {
        self.key.lock().unwrap_or_else(PoisonError::into_inner).public_line.clone()
    }
    /// The host key fingerprint as `ssh-keygen -lf` prints it (`SHA256:...`).
    pub fn host_key_fingerprint(&self) -> String {
        self.key.lock().unwrap_or_else(PoisonError::into_inner).fingerprint.clone()
    }
    /// A known_hosts line for this host: `<addr> ssh-ed25519 AAAA...`.
    pub fn known_hosts_line(&self) -> String {
        format!("{} {}", self.addr, self.host_public_key())
    }
    /// Whether [`Fleet::link_down`] is in effect.
    pub fn is_link_down(&self) -> bool {
        self.link_down.load(Ordering::SeqCst)
    }

    fn state(&self) -> HostState {
        let key = self.key.lock().unwrap_or_else(PoisonError::into_inner).clone();
        HostState {
            index: self.index,
            name: self.name.clone(),
            addr: self.addr,
            netns: self.netns.clone(),
            veth: self.veth.clone(),
            dir: self.dir.clone(),
            host_public_key: key.public_line,
            host_key_fingerprint: key.fingerprint,
            holder_pid: self.holder_pid,
        }
    }

    /// `nsenter` into all of the host's namespaces, then `program`.
    fn command(&self, program: &str) -> Command {
        let ns = format!("/proc/{}/ns", self.holder_pid);
        let mut c = cmd::tool("nsenter");
        c.arg(format!("--mount={ns}/mnt"))
            .arg(format!("--net={ns}/net"))
            .arg(format!("--uts={ns}/uts"))
            // pid_for_children: the holder itself stays in our pid namespace;
            // its children (the host's init and everything below) do not.
            .arg(format!("--pid={ns}/pid_for_children"))
            .arg("--")
            .arg(program);
        c
    }

    /// The host's process with pid `inner` (as seen inside the host), by its pid on this machine.
    fn find_inner_pid(&self, inner: u32) -> Option<procs::ProcInfo> {
        self.processes().into_iter().find(|p| p.pid_ns_depth > 1 && p.inner_pid == inner)
    }

    fn processes(&self) -> Vec<procs::ProcInfo> {
        let Some(ns) = procs::ns_id(&Path::new("/run/netns").join(&self.netns)) else { return Vec::new() };
        procs::in_netns(&HashSet::from([ns]))
    }

    fn sshd_pid_file(&self) -> PathBuf {
        self.dir.join("run/sshd.pid")
    }

    /// The sshd listener's pid on this machine, if it runs.
    fn sshd_process(&self) -> Option<u32> {
        let inner: u32 = fs::read_to_string(self.sshd_pid_file()).ok()?.trim().parse().ok()?;
        self.find_inner_pid(inner).filter(|p| p.cmdline.contains("sshd")).map(|p| p.pid)
    }

    fn log_tail(&self, rel: &str) -> String {
        let text = fs::read_to_string(self.dir.join(rel)).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }
}

/// A running test fleet. Dropping it tears it down (best effort); call
/// [`Fleet::teardown`] to see errors.
pub struct Fleet {
    run_id: String,
    dir: PathBuf,
    subnet: Subnet,
    detached: bool,
    client_key_path: PathBuf,
    client_private_key: String,
    client_public_key: String,
    hosts: Vec<Host>,
    /// Holder processes we spawned, to reap after teardown (no zombies).
    children: Mutex<Vec<Child>>,
    /// Set once torn down or released; Drop then does nothing.
    finished: bool,
}

impl Fleet {
    /// Starts an owned fleet of `hosts` hosts. See [`Fleet::start_with`].
    pub fn start(hosts: usize) -> Result<Fleet> {
        Fleet::start_with(FleetOptions::new(hosts))
    }

    /// Starts a fleet: removes stale runs, installs the safety route, creates
    /// bridge, namespaces, users, keys and one sshd per host, and returns once
    /// every sshd answers on port 22 with an SSH banner.
    pub fn start_with(opts: FleetOptions) -> Result<Fleet> {
        check_root()?;
        if opts.hosts == 0 || opts.hosts > MAX_HOSTS {
            return Err(FleetError::InvalidHostCount { requested: opts.hosts, max: MAX_HOSTS });
        }
        check_prerequisites()?;
        let base = opts.base_dir.clone().unwrap_or_else(default_base_dir);
        hostfs::mkdir_p(&base)?;

        let lock = registry::lock(&base)?;
        if let Err(e) = registry::cleanup_locked(&base, false) {
            // Leftovers of a crashed run must not stop this run; they use
            // other names and another subnet.
            eprintln!("gantry-testfleet: warning: cleaning up stale fleets: {e}");
        }
        net::ensure_safety_route()?;
        let owner = if opts.detached { registry::Owner::Detached } else { registry::Owner::current()? };
        let run = registry::create_run_dir(&base, owner)?;
        if let Err(e) = registry::mount_tmpfs(&run.path, &run.id) {
            let _ = registry::destroy_run(&run.id, Some(&run.path));
            return Err(e);
        }

        let mut fleet = Fleet {
            run_id: run.id.clone(),
            dir: run.path.clone(),
            subnet: Subnet { network: Ipv4Addr::UNSPECIFIED, prefix: 24 },
            detached: opts.detached,
            client_key_path: run.path.join("client_ed25519"),
            client_private_key: String::new(),
            client_public_key: String::new(),
            hosts: Vec::new(),
            children: Mutex::new(Vec::new()),
            finished: false,
        };
        let built = fleet.claim_subnet(&base, opts.hosts).and_then(|()| {
            drop(lock);
            fleet.build(opts.hosts)
        });
        match built {
            Ok(()) => Ok(fleet),
            Err(e) => {
                if let Err(te) = fleet.teardown_inner() {
                    eprintln!("gantry-testfleet: warning: removing the half-built fleet: {te}");
                }
                Err(e)
            }
        }
    }

    /// Picks the subnet and creates the bridge; runs under the machine-wide lock.
    fn claim_subnet(&mut self, base: &Path, hosts: usize) -> Result<()> {
        let prefix = if hosts <= MAX_HOSTS_PER_24 { 24 } else { 23 };
        let mut used = net::used_slots()?;
        used.extend(registry::claimed_slots(base));
        self.subnet = net::choose_subnet(&self.run_id, prefix, &used)?;
        self.write_state()?;
        let bridge = registry::bridge_name(&self.run_id);
        // A fixed MAC keeps the bridge from changing its address as ports are
        // added, which would leave hosts with stale ARP entries.
        let slot = (u32::from(self.subnet.network) >> 8) & 0x1ff;
        let mac = format!("02:67:66:00:{:02x}:{:02x}", slot >> 8, slot & 0xff);
        net::ip_batch(
            &[
                format!("link add name {bridge} address {mac} type bridge forward_delay 0 stp_state 0"),
                format!("addr add {}/{} dev {bridge}", self.subnet.control_addr(), self.subnet.prefix),
                format!("link set dev {bridge} up"),
            ],
            false,
        )
    }

    fn build(&mut self, count: usize) -> Result<()> {
        let t = Instant::now();
        hostfs::gen_keypair(&self.client_key_path, &format!("gantry-testfleet@{}", self.run_id))?;
        self.client_private_key = hostfs::read_path(&self.client_key_path)?;
        self.client_public_key = hostfs::read_path(&self.client_key_path.with_extension("pub"))?.trim().to_owned();
        let users = hostfs::Users::pick()?;

        // Files and keys first (no kernel objects yet, cheap to fail).
        let (run_id, dir, subnet, client_pub) = (&self.run_id, &self.dir, self.subnet, &self.client_public_key);
        let keys = par_map(count, |i| {
            let hdir = dir.join(format!("h{i}"));
            let name = format!("host{i}");
            hostfs::mkdir_p(&hdir)?;
            hostfs::prepare_host(&hdir, &name, subnet.host_addr(i), users, client_pub)?;
            hostfs::gen_host_key(&hdir, &name)
        })?;
        let fingerprints = hostfs::fingerprints(dir, &keys)?;
        let keys: Vec<hostfs::HostKey> =
            keys.into_iter().zip(fingerprints).map(|(public_line, fingerprint)| hostfs::HostKey { public_line, fingerprint }).collect();
        debug_timing("files and keys", t);

        // One `ip` process creates all namespaces and veths. The veth's far end
        // is created directly inside the host namespace as eth0, like a NIC.
        let bridge = registry::bridge_name(run_id);
        let mut lines = Vec::with_capacity(count * 3);
        for i in 0..count {
            let (ns, veth) = (registry::netns_name(run_id, i), registry::veth_name(run_id, i));
            lines.push(format!("netns add {ns}"));
            lines.push(format!("link add name {veth} type veth peer name eth0 netns {ns}"));
            lines.push(format!("link set dev {veth} master {bridge} up"));
        }
        net::ip_batch(&lines, false)?;
        debug_timing("links", t);

        let children = &self.children;
        let hosts = par_map(count, |i| {
            let hdir = dir.join(format!("h{i}"));
            let name = format!("host{i}");
            let netns = registry::netns_name(run_id, i);
            let child = spawn_holder(&hdir, &name, &netns, subnet.host_addr(i), subnet.prefix)?;
            let holder_pid = child.id();
            children.lock().unwrap_or_else(PoisonError::into_inner).push(child);
            let key = keys.get(i).cloned().ok_or_else(|| FleetError::State(format!("no host key for host {i}")))?;
            let host = Host {
                index: i,
                name,
                addr: subnet.host_addr(i),
                netns,
                veth: registry::veth_name(run_id, i),
                dir: hdir,
                holder_pid,
                key: Mutex::new(key),
                link_down: AtomicBool::new(false),
            };
            wait_holder_ready(&host, children)?;
            start_sshd_process(&host)?;
            probe_ssh(host.addr, READY_TIMEOUT)?;
            Ok(host)
        })?;
        self.hosts = hosts;
        debug_timing("hosts", t);
        self.write_state()
    }

    /// The run id; every resource of this fleet has it in its name.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }
    /// The run directory (client key, host state dirs, `fleet.json`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// The fleet's subnet.
    pub fn subnet(&self) -> Subnet {
        self.subnet
    }
    /// The control plane's address on the bridge (`.1`), reachable from every host.
    pub fn control_addr(&self) -> Ipv4Addr {
        self.subnet.control_addr()
    }
    /// The bridge interface name.
    pub fn bridge(&self) -> String {
        registry::bridge_name(&self.run_id)
    }
    /// All hosts.
    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }
    /// Host `index` (0-based).
    pub fn host(&self, index: usize) -> Result<&Host> {
        self.hosts.get(index).ok_or(FleetError::NoSuchHost { index, count: self.hosts.len() })
    }
    /// The client private key (ed25519, OpenSSH format, no passphrase),
    /// authorized for `root`, `deploy` and `nosudo` on every host.
    pub fn client_private_key(&self) -> &str {
        &self.client_private_key
    }
    /// The client public key line.
    pub fn client_public_key(&self) -> &str {
        &self.client_public_key
    }
    /// Path of the client private key file (mode 0600), for `ssh -i`.
    pub fn client_key_path(&self) -> &Path {
        &self.client_key_path
    }
    /// known_hosts content for all hosts (one line per host, current keys).
    pub fn known_hosts(&self) -> String {
        self.hosts.iter().map(|h| format!("{}\n", h.known_hosts_line())).collect()
    }
    /// Writes [`Fleet::known_hosts`] to `path`.
    pub fn write_known_hosts(&self, path: &Path) -> Result<()> {
        hostfs::write(path, &self.known_hosts())
    }

    /// The serializable description of the fleet.
    pub fn state(&self) -> FleetState {
        FleetState {
            run_id: self.run_id.clone(),
            dir: self.dir.clone(),
            subnet: self.subnet,
            control_addr: self.subnet.control_addr(),
            bridge: self.bridge(),
            detached: self.detached,
            client_key_path: self.client_key_path.clone(),
            client_public_key: self.client_public_key.clone(),
            hosts: self.hosts.iter().map(Host::state).collect(),
        }
    }

    fn write_state(&self) -> Result<()> {
        let json = serde_json::to_string_pretty(&self.state()).map_err(|e| FleetError::State(e.to_string()))?;
        let path = self.dir.join(STATE_FILE);
        let tmp = self.dir.join(format!("{STATE_FILE}.tmp"));
        hostfs::write(&tmp, &json)?;
        fs::rename(&tmp, &path).map_err(FleetError::io("rename", &path))
    }

    // ----- running things inside hosts -----

    /// A `Command` that runs `program` inside host `index` (its mount, network,
    /// pid and UTS namespaces; cwd `/`; PATH set to the usual system dirs).
    /// Add arguments and run it as usual.
    pub fn command(&self, index: usize, program: &str) -> Result<Command> {
        Ok(self.host(index)?.command(program))
    }

    /// Runs `argv` inside host `index` and returns its output whatever the exit status.
    pub fn exec(&self, index: usize, argv: &[&str]) -> Result<Output> {
        let (program, args) = argv.split_first().ok_or_else(|| FleetError::State("exec needs a program".into()))?;
        cmd::output(self.command(index, program)?.args(args))
    }

    /// Runs a `sh -c` script inside host `index` and returns its output whatever the exit status.
    pub fn sh(&self, index: usize, script: &str) -> Result<Output> {
        self.exec(index, &["sh", "-c", script])
    }

    /// Like [`Fleet::sh`], but fails unless the script exits 0; returns stdout.
    pub fn sh_ok(&self, index: usize, script: &str) -> Result<String> {
        let out = cmd::run(self.command(index, "sh")?.args(["-c", script]))?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    // ----- sshd -----

    /// Starts the host's sshd (no-op if it runs). Waits until it listens,
    /// and, unless the link is down, until it answers with an SSH banner.
    pub fn start_sshd(&self, index: usize) -> Result<()> {
        let host = self.host(index)?;
        if host.sshd_process().is_some() {
            return Ok(());
        }
        start_sshd_process(host)?;
        if !host.is_link_down() {
            probe_ssh(host.addr, READY_TIMEOUT)?;
        }
        Ok(())
    }

    /// Stops the host's sshd listener (like `systemctl stop ssh`: established
    /// sessions survive, new connections are refused).
    pub fn stop_sshd(&self, index: usize) -> Result<()> {
        let host = self.host(index)?;
        if let Some(pid) = host.sshd_process() {
            procs::signal(&[pid], "TERM");
            if !procs::wait_gone(&[pid], Duration::from_secs(5)) {
                procs::signal(&[pid], "KILL");
                if !procs::wait_gone(&[pid], Duration::from_secs(2)) {
                    return Err(FleetError::Timeout { what: format!("sshd of {} to exit", host.name), after: Duration::from_secs(7) });
                }
            }
        }
        let _ = fs::remove_file(host.sshd_pid_file());
        Ok(())
    }

    /// Whether the host's sshd listener runs.
    pub fn sshd_running(&self, index: usize) -> Result<bool> {
        Ok(self.host(index)?.sshd_process().is_some())
    }

    /// Replaces the host key with a fresh ed25519 key and restarts sshd (if it
    /// ran). Returns the new fingerprint (also exposed via [`Host`]).
    pub fn replace_host_key(&self, index: usize) -> Result<String> {
        let host = self.host(index)?;
        let was_running = host.sshd_process().is_some();
        if was_running {
            self.stop_sshd(index)?;
        }
        let public_line = hostfs::gen_host_key(&host.dir, &host.name)?;
        let fingerprint = hostfs::fingerprints(&host.dir, std::slice::from_ref(&public_line))?.remove(0);
        *host.key.lock().unwrap_or_else(PoisonError::into_inner) = hostfs::HostKey { public_line, fingerprint: fingerprint.clone() };
        if was_running {
            self.start_sshd(index)?;
        }
        self.write_state()?;
        Ok(fingerprint)
    }

    /// Makes sshd reject the client key for every user (authorized_keys emptied).
    pub fn refuse_client_key(&self, index: usize) -> Result<()> {
        hostfs::write_authorized_keys(&self.host(index)?.dir, None)
    }

    /// Undoes [`Fleet::refuse_client_key`].
    pub fn accept_client_key(&self, index: usize) -> Result<()> {
        hostfs::write_authorized_keys(&self.host(index)?.dir, Some(&self.client_public_key))
    }

    // ----- network -----

    /// Takes the host off the network (its veth goes down): packets to it are
    /// dropped, so connections time out rather than being refused.
    pub fn link_down(&self, index: usize) -> Result<()> {
        let host = self.host(index)?;
        net::set_link(&host.veth, false)?;
        host.link_down.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// Puts the host back on the network; waits until its sshd (if running) answers again.
    pub fn link_up(&self, index: usize) -> Result<()> {
        let host = self.host(index)?;
        net::set_link(&host.veth, true)?;
        host.link_down.store(false, Ordering::SeqCst);
        if host.sshd_process().is_some() {
            probe_ssh(host.addr, READY_TIMEOUT)?;
        }
        Ok(())
    }

    // ----- nginx -----

    /// Starts the real nginx inside the host (`/usr/sbin/nginx` with the
    /// host's own /etc/nginx) and waits until its master runs.
    pub fn start_nginx(&self, index: usize) -> Result<()> {
        if self.nginx_running(index)? {
            return Ok(());
        }
        cmd::run(&mut self.command(index, "/usr/sbin/nginx")?)?;
        wait_until(Duration::from_secs(5), "nginx master to start", || self.nginx_running(index).unwrap_or(false))
    }

    /// Stops every nginx in the host (master first, then leftovers), like `nginx -s stop`.
    pub fn stop_nginx(&self, index: usize) -> Result<()> {
        let host = self.host(index)?;
        let nginx = |masters_only: bool| -> Vec<u32> {
            host.processes()
                .into_iter()
                .filter(|p| if masters_only { p.cmdline.starts_with("nginx: master") } else { p.cmdline.starts_with("nginx:") })
                .map(|p| p.pid)
                .collect()
        };
        let masters = nginx(true);
        procs::signal(&masters, "TERM");
        procs::wait_gone(&masters, Duration::from_secs(5));
        let rest = nginx(false);
        procs::signal(&rest, "TERM");
        if !procs::wait_gone(&rest, Duration::from_secs(3)) {
            procs::signal(&nginx(false), "KILL");
        }
        wait_until(Duration::from_secs(3), "nginx to stop", || nginx(false).is_empty())
    }

    /// Whether an nginx master process runs inside the host (whoever started it).
    pub fn nginx_running(&self, index: usize) -> Result<bool> {
        Ok(self.host(index)?.processes().iter().any(|p| p.cmdline.starts_with("nginx: master")))
    }

    // ----- lifecycle -----

    /// Tears the fleet down: kills every process in its hosts (nginx masters
    /// first), deletes veths, namespaces, the bridge and the run directory.
    /// The safety route stays.
    pub fn teardown(mut self) -> Result<()> {
        self.teardown_inner()
    }

    /// Leaves the fleet running after this value is dropped (for
    /// `gantry-testfleet up`); returns its state for a later [`Fleet::destroy`].
    /// An owned (not detached) fleet released this way becomes stale when this
    /// process exits and is then removed by the next run.
    pub fn release(mut self) -> FleetState {
        self.finished = true;
        self.state()
    }

    fn teardown_inner(&mut self) -> Result<()> {
        self.finished = true;
        let result = registry::destroy_run(&self.run_id, Some(&self.dir));
        // The holders exited when their namespaces' inits were killed; reap them.
        let mut children = self.children.lock().unwrap_or_else(PoisonError::into_inner);
        let deadline = Instant::now() + Duration::from_secs(2);
        for child in children.iter_mut() {
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(5));
            }
        }
        children.clear();
        result
    }

    /// Removes a fleet described by `state` (e.g. one made by `gantry-testfleet up`).
    pub fn destroy(state: &FleetState) -> Result<()> {
        check_root()?;
        let name_ok = state
            .dir
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(&format!("{}{}-", registry::DIR_PREFIX, state.run_id)));
        if !registry::valid_id(&state.run_id) || !name_ok {
            return Err(FleetError::State(format!("{} is not the run directory of run {:?}", state.dir.display(), state.run_id)));
        }
        registry::destroy_run(&state.run_id, Some(&state.dir))
    }

    /// Removes fleets of earlier runs whose owner process is dead (crashed or
    /// killed test runs) from the default base directory. Called automatically
    /// by [`Fleet::start`]. Returns the removed run ids.
    pub fn cleanup_stale() -> Result<Vec<String>> {
        Fleet::cleanup_in(&default_base_dir(), false)
    }

    /// Removes stale fleets under `base`, and with `include_detached` also the
    /// detached ones (`gantry-testfleet cleanup --all`). Fleets whose owner is
    /// alive are never touched.
    pub fn cleanup_in(base: &Path, include_detached: bool) -> Result<Vec<String>> {
        check_root()?;
        let _lock = registry::lock(base)?;
        registry::cleanup_locked(base, include_detached)
    }
}

impl std::fmt::Debug for Fleet {
    // Hand-written so that test failure output never contains the private key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet")
            .field("run_id", &self.run_id)
            .field("dir", &self.dir)
            .field("subnet", &self.subnet)
            .field("detached", &self.detached)
            .field("hosts", &self.hosts)
            .finish_non_exhaustive()
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        if self.finished || self.detached {
            return;
        }
        if let Err(e) = self.teardown_inner() {
            eprintln!("gantry-testfleet: warning: tearing down fleet {} on drop: {e}", self.run_id);
        }
    }
}

/// Starts a fleet for a test, or skips it.
///
/// * not root and `CI` unset/false: prints a loud SKIPPED banner to stderr and
///   returns `None`; the test should `return` (it passes, so look for the banner);
/// * not root and `CI=true` (or any value but `0`/`false`): panics, because on
///   CI a skipped fleet test would silently hide a broken setup;
/// * any other setup error: panics with the error.
///
/// ```no_run
/// let Some(fleet) = gantry_testfleet::require_fleet(3) else { return };
/// assert_eq!(fleet.hosts().len(), 3);
/// ```
#[expect(clippy::panic, reason = "a test helper: failing the calling test is its job")]
pub fn require_fleet(hosts: usize) -> Option<Fleet> {
    match Fleet::start(hosts) {
        Ok(fleet) => Some(fleet),
        Err(e @ FleetError::NeedsRoot { .. }) => {
            if on_ci() {
                panic!("gantry-testfleet: {e}; CI is set, so fleet tests must not be skipped (run them as root)");
            }
            eprintln!(
                "\n\
                 ************************************************************************\n\
                 *** SKIPPED: this test needs the gantry test fleet, which needs root. ***\n\
                 *** {e}\n\
                 *** Run as root (e.g. `sudo -E cargo nextest run`); with CI=true this fails.\n\
                 ************************************************************************\n"
            );
            None
        }
        Err(e) => panic!("gantry-testfleet: could not start a {hosts}-host fleet: {e}"),
    }
}

fn on_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
}

fn check_root() -> Result<()> {
    let status = fs::read_to_string("/proc/self/status").map_err(FleetError::io("read", "/proc/self/status"))?;
    // "Uid: real effective saved fs"
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u32>().ok())
        .ok_or_else(|| FleetError::State("cannot read the effective uid".into()))?;
    if euid == 0 { Ok(()) } else { Err(FleetError::NeedsRoot { uid: euid }) }
}

fn check_prerequisites() -> Result<()> {
    let tools = [
        ("ip", "iproute2"),
        ("nsenter", "util-linux"),
        ("unshare", "util-linux"),
        ("mount", "mount"),
        ("kill", "procps"),
        ("ssh-keygen", "openssh-client"),
        ("sshd", "openssh-server"),
        ("nginx", "nginx"),
        ("sudo", "sudo"),
    ];
    for (tool, package) in tools {
        if cmd::which(tool).is_none() {
            return Err(FleetError::MissingPrerequisite { what: format!("program `{tool}`"), packages: package.into() });
        }
    }
    for target in hostfs::required_targets() {
        if !Path::new(target).exists() {
            return Err(FleetError::MissingPrerequisite {
                what: format!("{target} (hosts mount their own copy over it)"),
                packages: "nginx openssh-server sudo".into(),
            });
        }
    }
    Ok(())
}

/// Runs `f(0..n)` on a few threads; returns results in index order, or the first error.
fn par_map<T: Send>(n: usize, f: impl Fn(usize) -> Result<T> + Sync) -> Result<Vec<T>> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<T>>>> = Mutex::new((0..n).map(|_| None).collect());
    let failed = AtomicBool::new(false);
    thread::scope(|s| {
        for _ in 0..WORKERS.min(n) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= n || failed.load(Ordering::SeqCst) {
                        break;
                    }
                    let r = f(i);
                    if r.is_err() {
                        failed.store(true, Ordering::SeqCst);
                    }
                    if let Some(slot) = results.lock().unwrap_or_else(PoisonError::into_inner).get_mut(i) {
                        *slot = Some(r);
                    }
                }
            });
        }
    });
    let results = results.into_inner().unwrap_or_else(PoisonError::into_inner);
    let mut out = Vec::with_capacity(n);
    let mut first_err = None;
    for r in results {
        match r {
            Some(Ok(v)) => out.push(v),
            Some(Err(e)) => {
                first_err.get_or_insert(e);
            }
            None => {}
        }
    }
    match first_err {
        Some(e) => Err(e),
        None if out.len() == n => Ok(out),
        None => Err(FleetError::State("parallel host setup stopped early".into())),
    }
}

/// Quotes `s` for sh.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Starts the process that owns a host's namespaces.
///
/// `ip netns exec` puts it into the host's network namespace; `unshare` then
/// creates private mount, UTS and pid namespaces and forks the host's init
/// (pid 1 inside, reaping orphans like nginx's daemonized master, and taking
/// every host process with it when killed). The init script configures the
/// network, mounts the private trees, reports "ready" through fd 3, and then
/// sleeps forever.
fn spawn_holder(dir: &Path, name: &str, netns: &str, addr: Ipv4Addr, prefix: u8) -> Result<Child> {
    let d = |rel: &str| sh_quote(&dir.join(rel).to_string_lossy());
    hostfs::write(&dir.join("fstab"), &hostfs::fstab(dir)?)?;
    hostfs::write(&dir.join("net.batch"), &format!("link set dev lo up\naddr add {addr}/{prefix} dev eth0\nlink set dev eth0 up\n"))?;
    // Few processes per host: every fork/exec counts when starting 100 hosts.
    let mut script = String::from("set -e\n");
    // Opened before /tmp is covered: the fd keeps pointing at the real file.
    script.push_str(&format!("exec 3>{}\n", d("init.status")));
    script.push_str(&format!("echo {name} >/proc/sys/kernel/hostname\n"));
    script.push_str(&format!("ip -batch {}\n", d("net.batch")));
    // Our copy of the mount table still holds the machine's named network
    // namespaces (ours and other runs'); dropping them keeps us from pinning
    // other runs' namespaces after they delete them.
    script.push_str("umount -l /run/netns 2>/dev/null || true\n");
    script.push_str(&format!("mount --all --fstab {}\n", d("fstab")));
    script.push_str("echo ready >&3\nexec 3>&- </dev/null >/dev/null 2>&1\nwhile :; do sleep 3600; done\n");

    // Run from a file rather than `sh -c`, so `ps` on the machine shows a
    // short, recognisable command line. sh keeps the file open while reading
    // it, so covering /tmp halfway through does not cut the script off.
    let script_path = dir.join("init.sh");
    hostfs::write(&script_path, &script)?;
    let log_path = dir.join("init.log");
    let log = File::create(&log_path).map_err(FleetError::io("create", &log_path))?;
    let mut c = cmd::tool("ip");
    c.args(["netns", "exec", netns, "unshare", "--mount", "--propagation", "private", "--uts", "--pid", "--fork", "--kill-child"])
        .args(["--mount-proc", "--", "sh"])
        .arg(&script_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        // Its own process group: a Ctrl-C aimed at the test runner must not
        // half-kill hosts; the next run's stale cleanup removes them cleanly.
        .process_group(0);
    c.spawn().map_err(|source| FleetError::Spawn { program: "ip netns exec ... unshare".into(), source })
}

fn wait_holder_ready(host: &Host, children: &Mutex<Vec<Child>>) -> Result<()> {
    let status = host.dir.join("init.status");
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if fs::read_to_string(&status).is_ok_and(|s| s.trim() == "ready") {
            return Ok(());
        }
        let exited = children
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter_mut()
            .find(|c| c.id() == host.holder_pid)
            .is_some_and(|c| matches!(c.try_wait(), Ok(Some(_))));
        if exited || Instant::now() >= deadline {
            return Err(FleetError::CommandFailed {
                command: format!("host {} init (see {})", host.name, host.dir.join("init.log").display()),
                status: if exited { "exited".into() } else { "timed out".into() },
                stderr: host.log_tail("init.log"),
            });
        }
        thread::sleep(Duration::from_millis(3));
    }
}

/// Launches sshd in the host (it daemonizes; the host's init adopts it) and
/// waits for its pid file, which sshd writes only after binding its socket.
fn start_sshd_process(host: &Host) -> Result<()> {
    let pid_file = host.sshd_pid_file();
    let _ = fs::remove_file(&pid_file);
    cmd::run(host.command("/usr/sbin/sshd").args(["-f", "/etc/ssh/sshd_config", "-E", "/var/log/sshd.log"]))?;
    let deadline = Instant::now() + READY_TIMEOUT;
    while !fs::read_to_string(&pid_file).is_ok_and(|s| !s.trim().is_empty()) {
        if Instant::now() >= deadline {
            return Err(FleetError::Timeout {
                what: format!("sshd of {} to write its pid file; sshd.log:\n{}", host.name, host.log_tail("var-log/sshd.log")),
                after: READY_TIMEOUT,
            });
        }
        thread::sleep(Duration::from_millis(3));
    }
    Ok(())
}

/// Waits until `addr:22` answers with an SSH banner.
fn probe_ssh(addr: Ipv4Addr, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    let sock = SocketAddr::from((addr, 22));
    loop {
        if let Ok(mut stream) = TcpStream::connect_timeout(&sock, Duration::from_millis(500)) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let mut buf = [0u8; 8];
            if stream.read_exact(&mut buf).is_ok() && &buf == b"SSH-2.0-" {
                return Ok(());
            }
        }
        if Instant::now() >= deadline {
            return Err(FleetError::Timeout { what: format!("an SSH banner from {sock}"), after: timeout });
        }
        thread::sleep(Duration::from_millis(20));
    }
}

fn wait_until(timeout: Duration, what: &str, mut f: impl FnMut() -> bool) -> Result<()> {
    let deadline = Instant::now() + timeout;
    while !f() {
        if Instant::now() >= deadline {
            return Err(FleetError::Timeout { what: what.into(), after: timeout });
        }
        thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

/// Prints phase timings when GANTRY_TESTFLEET_DEBUG is set (for tuning big fleets).
fn debug_timing(phase: &str, since: Instant) {
    if std::env::var_os("GANTRY_TESTFLEET_DEBUG").is_some() {
        eprintln!("gantry-testfleet: {phase}: {:?}", since.elapsed());
    }
}
