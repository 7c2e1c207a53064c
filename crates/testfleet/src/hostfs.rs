//! The private files of one host.
//!
//! Each host's state directory holds the trees that are bind-mounted over the
//! real paths inside the host's mount namespace (see [`BIND_MOUNTS`]). Files
//! are copied from the real system at fleet start, so hosts look like a fresh
//! Debian with nginx and openssh-server installed, and edits inside a host
//! (users, nginx config, logs) never reach the real machine or other hosts.

use std::fs;
use std::io;
use std::net::Ipv4Addr;
use std::os::unix::fs::{PermissionsExt, chown, symlink};
use std::path::Path;

use crate::cmd;
use crate::error::{FleetError, Result};

/// `(directory in the host's state dir, path inside the host)`, in mount order.
///
/// `/run` comes first so that mount's own bookkeeping (/run/mount) lands in
/// the host's /run, not the machine's. `/tmp` comes last because the state
/// directories themselves live under /tmp: once it is covered, a host can no
/// longer see its own state dir, other hosts' dirs or the client private key,
/// which is exactly what we want.
pub(crate) const BIND_MOUNTS: &[(&str, &str)] = &[
    ("run", "/run"),
    ("etc-nginx", "/etc/nginx"),
    ("etc-ssh", "/etc/ssh"),
    ("etc/passwd", "/etc/passwd"),
    ("etc/shadow", "/etc/shadow"),
    ("etc/group", "/etc/group"),
    ("etc/gshadow", "/etc/gshadow"),
    ("etc/hosts", "/etc/hosts"),
    ("etc/hostname", "/etc/hostname"),
    ("etc/sudoers.d", "/etc/sudoers.d"),
    ("var-log", "/var/log"),
    ("var-lib-nginx", "/var/lib/nginx"),
    ("home", "/home"),
    ("root", "/root"),
    ("tmp", "/tmp"),
];

/// An fstab with all of the host's bind mounts, for one `mount --all` call
/// (one process instead of fifteen per host).
pub(crate) fn fstab(dir: &Path) -> Result<String> {
    let mut out = String::new();
    for (src, target) in BIND_MOUNTS {
        let src = dir.join(src);
        let src = src.to_str().filter(|s| !s.contains(char::is_whitespace)).ok_or_else(|| {
            FleetError::State(format!("fleet directory {} must be UTF-8 without whitespace (it goes into an fstab)", dir.display()))
        })?;
        out.push_str(&format!("{src} {target} none bind 0 0\n"));
    }
    Ok(out)
}

/// Real paths the host mounts over; they must exist on the machine.
pub(crate) fn required_targets() -> impl Iterator<Item = &'static str> {
    BIND_MOUNTS.iter().map(|(_, target)| *target)
}

/// Users every host has besides the system's own.
pub const DEPLOY_USER: &str = "deploy";
/// A user without any sudo rights.
pub const NOSUDO_USER: &str = "nosudo";

/// uids/gids of the fleet users, chosen once per fleet so they collide with no real user.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Users {
    deploy: u32,
    nosudo: u32,
}

impl Users {
    pub(crate) fn pick() -> Result<Users> {
        let passwd = read("/etc/passwd")?;
        let group = read("/etc/group")?;
        let taken =
            |id: u32| passwd.lines().chain(group.lines()).any(|l| l.split(':').nth(2).and_then(|f| f.parse::<u32>().ok()) == Some(id));
        let mut id = 2000;
        while taken(id) || taken(id + 1) {
            id += 2;
        }
        Ok(Users { deploy: id, nosudo: id + 1 })
    }

    fn all(self) -> [(&'static str, u32); 2] {
        [(DEPLOY_USER, self.deploy), (NOSUDO_USER, self.nosudo)]
    }
}

/// Login shell for the fleet users: bash when installed, like a normal Debian user.
fn shell() -> &'static str {
    if Path::new("/bin/bash").exists() { "/bin/bash" } else { "/bin/sh" }
}

/// Builds a host's state directory (everything except keys).
pub(crate) fn prepare_host(dir: &Path, hostname: &str, addr: Ipv4Addr, users: Users, client_pub: &str) -> Result<()> {
    for sub in ["etc/sudoers.d", "etc-ssh/authorized_keys", "var-log/nginx", "var-lib-nginx", "home", "run/sshd"] {
        mkdir_p(&dir.join(sub))?;
    }
    copy_tree(Path::new("/etc/nginx"), &dir.join("etc-nginx"))?;
    mkdir_mode(&dir.join("root"), 0o700)?;
    mkdir_mode(&dir.join("tmp"), 0o1777)?;
    // sshd refuses to start unless its privilege separation dir is root-owned
    // and not group/world writable.
    set_mode(&dir.join("run/sshd"), 0o755)?;

    write_user_db(dir, users)?;

    let hosts = read("/etc/hosts").unwrap_or_default();
    write(&dir.join("etc/hosts"), &format!("{hosts}127.0.1.1\t{hostname}\n{addr}\t{hostname}\n"))?;
    write(&dir.join("etc/hostname"), &format!("{hostname}\n"))?;

    // Keep the system's sudoers.d files (policy shipped by packages), then add ours.
    if let Ok(entries) = fs::read_dir("/etc/sudoers.d") {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_file()) {
                let dst = dir.join("etc/sudoers.d").join(e.file_name());
                fs::copy(e.path(), &dst).map_err(FleetError::io("copy", &dst))?;
            }
        }
    }
    // sudo ignores sudoers.d files that are not 0440/0400 and root-owned, and
    // files whose name contains a dot.
    let sudoers = dir.join("etc/sudoers.d/gantry-testfleet");
    write(&sudoers, &format!("{DEPLOY_USER} ALL=(ALL) NOPASSWD:ALL\n"))?;
    set_mode(&sudoers, 0o440)?;

    for (name, id) in users.all() {
        let home = dir.join("home").join(name);
        mkdir_mode(&home, 0o755)?;
        chown(&home, Some(id), Some(id)).map_err(FleetError::io("chown", &home))?;
    }

    write(&dir.join("etc-ssh/sshd_config"), &sshd_config(hostname, addr))?;
    write_authorized_keys(dir, Some(client_pub))?;
    for f in ["var-log/wtmp", "var-log/btmp", "var-log/lastlog"] {
        write(&dir.join(f), "")?;
    }
    Ok(())
}

/// passwd/shadow/group/gshadow: the system's entries plus the fleet users.
fn write_user_db(dir: &Path, users: Users) -> Result<()> {
    let ours = |line: &str| users.all().iter().any(|(n, _)| line.split(':').next() == Some(n));
    let keep = |path: &str| -> Result<String> {
        let text = if Path::new(path).exists() { read(path)? } else { String::new() };
        Ok(text.lines().filter(|l| !ours(l)).map(|l| format!("{l}\n")).collect())
    };
    let sh = shell();

    let mut passwd = keep("/etc/passwd")?;
    let mut group = keep("/etc/group")?;
    let mut gshadow = keep("/etc/gshadow")?;
    let mut shadow = String::new();
    for line in keep("/etc/shadow")?.lines() {
        // With UsePAM=no, sshd rejects accounts whose password field starts
        // with "!" (locked), even for key logins; root must be able to log in.
        match line.split_once(':') {
            Some(("root", rest)) if rest.starts_with('!') => {
                let rest = rest.split_once(':').map(|(_, r)| r).unwrap_or("");
                shadow.push_str(&format!("root:*:{rest}\n"));
            }
            _ => shadow.push_str(&format!("{line}\n")),
        }
    }
    for (name, id) in users.all() {
        passwd.push_str(&format!("{name}:x:{id}:{id}:gantry test user:/home/{name}:{sh}\n"));
        // "*": no password can ever match, but the account is not locked.
        shadow.push_str(&format!("{name}:*:19000:0:99999:7:::\n"));
        group.push_str(&format!("{name}:x:{id}:\n"));
        gshadow.push_str(&format!("{name}:!::\n"));
    }
    write(&dir.join("etc/passwd"), &passwd)?;
    write(&dir.join("etc/group"), &group)?;
    write(&dir.join("etc/shadow"), &shadow)?;
    write(&dir.join("etc/gshadow"), &gshadow)?;
    set_mode(&dir.join("etc/shadow"), 0o640)?;
    set_mode(&dir.join("etc/gshadow"), 0o640)?;
    Ok(())
}

fn sshd_config(hostname: &str, addr: Ipv4Addr) -> String {
    format!(
        "# Written by gantry-testfleet for test host {hostname}.\n\
         ListenAddress {addr}\n\
         Port 22\n\
         AddressFamily inet\n\
         HostKey /etc/ssh/ssh_host_ed25519_key\n\
         PidFile /run/sshd.pid\n\
         AuthorizedKeysFile /etc/ssh/authorized_keys/%u\n\
         PermitRootLogin prohibit-password\n\
         PubkeyAuthentication yes\n\
         PasswordAuthentication no\n\
         KbdInteractiveAuthentication no\n\
         # Without PAM, sshd reads the host-private /etc/passwd and /etc/shadow directly.\n\
         UsePAM no\n\
         # The state dir lives under /tmp (world-writable), which StrictModes rejects.\n\
         StrictModes no\n\
         UseDNS no\n\
         PrintMotd no\n\
         PrintLastLog no\n\
         # Gantry opens many connections at once in benchmarks.\n\
         MaxStartups 200:30:400\n\
         MaxSessions 64\n\
         Subsystem sftp /usr/lib/openssh/sftp-server\n"
    )
}

/// Authorizes the client key for every login user (`Some`), or nobody (`None`).
pub(crate) fn write_authorized_keys(dir: &Path, client_pub: Option<&str>) -> Result<()> {
    let content = client_pub.map(|k| format!("{}\n", k.trim())).unwrap_or_default();
    for user in ["root", DEPLOY_USER, NOSUDO_USER] {
        // Written to a temp file and renamed, so a concurrent login sees either
        // the old or the new file, never a half-written one.
        let path = dir.join("etc-ssh/authorized_keys").join(user);
        let tmp = path.with_extension("tmp");
        write(&tmp, &content)?;
        set_mode(&tmp, 0o644)?;
        fs::rename(&tmp, &path).map_err(FleetError::io("rename", &path))?;
    }
    Ok(())
}

/// Generates (or replaces) the host's ed25519 host key; returns its public key line.
///
/// Fingerprints are computed separately ([`fingerprints`]) so a big fleet
/// needs one `ssh-keygen -lf` call instead of one per host.
pub(crate) fn gen_host_key(dir: &Path, hostname: &str) -> Result<String> {
    let key = host_key_path(dir);
    gen_keypair(&key, &format!("root@{hostname}"))?;
    Ok(read_path(&key.with_extension("pub"))?.trim().to_owned())
}

pub(crate) fn host_key_path(dir: &Path) -> std::path::PathBuf {
    dir.join("etc-ssh/ssh_host_ed25519_key")
}

/// Fingerprints (`SHA256:...`, as `ssh-keygen -lf` prints them) of public key
/// lines, in order, computed by one `ssh-keygen -lf` over a temporary file.
pub(crate) fn fingerprints(scratch: &Path, public_lines: &[String]) -> Result<Vec<String>> {
    let list = scratch.join("fingerprint-input.pub");
    write(&list, &public_lines.iter().map(|l| format!("{l}\n")).collect::<String>())?;
    let out = cmd::run(cmd::tool("ssh-keygen").arg("-lf").arg(&list))?;
    let _ = fs::remove_file(&list);
    let text = String::from_utf8_lossy(&out.stdout);
    let fps: Vec<String> = text.lines().filter_map(|l| l.split_whitespace().nth(1)).map(str::to_owned).collect();
    if fps.len() != public_lines.len() || !fps.iter().all(|f| f.starts_with("SHA256:")) {
        return Err(FleetError::State(format!("unexpected `ssh-keygen -lf` output: {text}")));
    }
    Ok(fps)
}

/// A host key as clients see it.
#[derive(Debug, Clone)]
pub(crate) struct HostKey {
    /// `ssh-ed25519 AAAA... comment`
    pub public_line: String,
    /// `SHA256:...` as `ssh-keygen -lf` prints it.
    pub fingerprint: String,
}

/// Creates an ed25519 key pair without passphrase, in OpenSSH private key format.
pub(crate) fn gen_keypair(path: &Path, comment: &str) -> Result<()> {
    for p in [path.to_path_buf(), path.with_extension("pub")] {
        match fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(FleetError::Io { op: "remove", path: p, source: e }),
        }
    }
    cmd::run(cmd::tool("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"]).arg(path)).map(|_| ())
}

/// Recursively copies a directory, keeping symlinks as symlinks (Debian's
/// sites-enabled/default is an absolute link, which inside the host resolves
/// to the host's own copy) and permission bits.
pub(crate) fn copy_tree(src: &Path, dst: &Path) -> Result<()> {
    let meta = fs::metadata(src).map_err(FleetError::io("stat", src))?;
    mkdir_p(dst)?;
    fs::set_permissions(dst, meta.permissions()).map_err(FleetError::io("chmod", dst))?;
    for entry in fs::read_dir(src).map_err(FleetError::io("read dir", src))? {
        let entry = entry.map_err(FleetError::io("read dir", src))?;
        let (from, to) = (entry.path(), dst.join(entry.file_name()));
        let kind = entry.file_type().map_err(FleetError::io("stat", &from))?;
        if kind.is_symlink() {
            let target = fs::read_link(&from).map_err(FleetError::io("readlink", &from))?;
            symlink(&target, &to).map_err(FleetError::io("symlink", &to))?;
        } else if kind.is_dir() {
            copy_tree(&from, &to)?;
        } else {
            fs::copy(&from, &to).map_err(FleetError::io("copy", &to))?;
        }
    }
    Ok(())
}

pub(crate) fn mkdir_p(path: &Path) -> Result<()> {
    fs::create_dir_all(path).map_err(FleetError::io("create dir", path))
}

fn mkdir_mode(path: &Path, mode: u32) -> Result<()> {
    mkdir_p(path)?;
    set_mode(path, mode)
}

pub(crate) fn set_mode(path: &Path, mode: u32) -> Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(FleetError::io("chmod", path))
}

pub(crate) fn write(path: &Path, content: &str) -> Result<()> {
    fs::write(path, content).map_err(FleetError::io("write", path))
}

fn read(path: &str) -> Result<String> {
    read_path(Path::new(path))
}

pub(crate) fn read_path(path: &Path) -> Result<String> {
    fs::read_to_string(path).map_err(FleetError::io("read", path))
}
