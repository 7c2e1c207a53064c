//! Everything the proxy does on a server, over one pooled SSH connection.
//!
//! Every remote step is a constant POSIX shell script run as `sh -c SCRIPT
//! name ARGS…` (through `sudo -n` in sudo mode): values travel only as
//! quoted positional arguments or as a tar stream on stdin, never spliced
//! into script text. The layout on the server, under nginx's configuration
//! directory `C` (default `/etc/nginx`):
//!
//! ```text
//! C/conf.d/gantry.conf           include of the live generation (+ server_tokens off)
//! C/gantry/generations/<N>/      one directory per generation (00-gantry.conf, group-<id>.conf)
//! C/gantry/staging/<N>/          a generation being validated
//! C/gantry/live -> generations/<N>   the live pointer, switched with one rename(2)
//! C/gantry/logs/access.log       the domains' traffic log (read and rotated by the monitoring module)
//! <main include dir>/gantry-main.conf   worker_shutdown_timeout, when nginx.conf has a main-level include
//! ```
//!
//! Validation runs the server's own `nginx -t` on its full configuration in
//! a private mount namespace where the staged directory is bind-mounted over
//! the live one: nginx checks exactly what it would load after the switch,
//! with the operator's own files, while the running nginx and the rest of
//! the system see nothing.

use crate::model::{OsFamily, os_family};
use gantry_ssh::{Cmd, Connection, HttpReply, Output, RunOptions, SshError};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Standard tool paths first: non-interactive SSH sessions and `sudo` give short PATHs.
const PATH_PREFIX: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH; export PATH\n";

/// Prints what the install needs to know about the host.
const PROBE: &str = r#"C=$1
[ -r /etc/os-release ] && . /etc/os-release
echo "os_id=${ID:-unknown}"
echo "os_like=${ID_LIKE:-}"
echo "os_name=${PRETTY_NAME:-unknown}"
if [ -d /run/systemd/system ]; then echo init=systemd; else echo init=other; fi
for p in apt-get dnf yum unshare tar sha256sum; do command -v "$p" >/dev/null 2>&1 && echo "has_$p=yes"; done
if command -v nginx >/dev/null 2>&1; then echo "nginx_version=$(nginx -v 2>&1 | sed 's|.*nginx/||')"; fi
[ -f "$C/nginx.conf" ] && echo conf=yes
[ -f /proc/net/if_inet6 ] && echo ipv6=yes
exit 0"#;

/// Installs the nginx package with the family's package manager.
const PACKAGE: &str = r#"set -e
case "$1" in
  apt) export DEBIAN_FRONTEND=noninteractive; apt-get update -qq; apt-get install -y -qq --no-install-recommends nginx ;;
  dnf) dnf install -y -q nginx ;;
  yum) yum install -y -q nginx ;;
  *) echo "unknown package manager $1" >&2; exit 2 ;;
esac
nginx -v 2>&1 | sed 's|.*nginx/||'"#;

/// Reads the operator's configuration: http-level directives Gantry would
/// otherwise set, the pid file, and the main-level include directory.
/// Fails (with nginx's message) when the current configuration is broken.
const INSPECT: &str = r#"C=$1
err=$(mktemp)
if ! nginx -T >"$err.out" 2>"$err"; then cat "$err" >&2; rm -f "$err" "$err.out"; exit 3; fi
awk -v G="$C/gantry/" -v INC="$C/conf.d/gantry.conf" '
  /^# configuration file / { f = $4; sub(/:$/, "", f); next }
  f == INC || index(f, G) == 1 || f ~ /\/gantry-main\.conf$/ { next }
  { sub(/#.*/, "") }
  $1 ~ /^(server_tokens|worker_shutdown_timeout|server_names_hash_bucket_size|server_names_hash_max_size)$/ { print "set=" $1 }
  $1 == "pid" { v = $2; sub(/;.*/, "", v); print "pid=" v }
' "$err.out"
rm -f "$err" "$err.out"
awk '
  { line = $0; sub(/#.*/, "", line) }
  depth == 0 && line ~ /^[ \t]*include[ \t]+[^ \t;]+\/\*\.conf[ \t]*;/ { p = line; sub(/^[ \t]*include[ \t]+/, "", p); sub(/\/\*\.conf.*/, "", p); print "main_dir=" p }
  { n = gsub(/\{/, "{", line); m = gsub(/\}/, "}", line); depth += n - m }
' "$C/nginx.conf"
nginx -V 2>&1 | tr ' ' '\n' | sed -n 's/^--pid-path=/default_pid=/p'
exit 0"#;

/// Creates the directories and the live pointer (idempotent).
const LAYOUT: &str = r#"set -e
C=$1; G="$C/gantry"
mkdir -p "$G/generations/0" "$G/staging" "$G/logs" "$C/conf.d"
chmod 755 "$G" "$G/generations" "$G/staging" "$G/logs"
[ -L "$G/live" ] || ln -s generations/0 "$G/live""#;

/// Runs `nginx -t`; prints nginx's output.
const TEST: &str = r#"nginx -t 2>&1"#;

/// Checks that the include file is part of the loaded configuration.
const INCLUDED: &str = r##"nginx -T 2>/dev/null | grep -qF "# configuration file $1:""##;

/// Starts nginx or reloads it; enables it at boot under systemd.
const START: &str = r#"set -e
if [ "$1" = systemd ]; then
  systemctl enable nginx >/dev/null 2>&1 || true
  if systemctl is-active --quiet nginx; then systemctl reload nginx; echo reloaded; else systemctl start nginx; echo started; fi
elif [ -f "$2" ] && kill -0 "$(cat "$2")" 2>/dev/null; then nginx -s reload; echo reloaded
else nginx; echo started
fi"#;

/// Unpacks a generation from stdin into staging and validates it in a private mount namespace.
/// Also makes the traffic log's directory, which `nginx -t` needs and servers installed before it existed lack.
const STAGE: &str = r#"G=$1; N=$2; S="$G/staging/$N"
rm -rf "$S" && mkdir -p "$S" "$G/logs" || exit 3
tar -x -o -C "$S" -f - || { echo "cannot unpack the generation into $S" >&2; exit 3; }
live=$(readlink -f "$G/live") || exit 3
out=$(unshare -m sh -c 'mount --bind "$1" "$2" || exit 90; exec nginx -t 2>&1' gantry-validate "$S" "$live" 2>&1)
rc=$?
printf '%s\n' "$out"
[ $rc -eq 0 ] || rm -rf "$S"
exit $rc"#;

/// Moves a staged generation into place, switches the live pointer atomically, reloads, and prunes.
const SWITCH: &str = r#"set -e
G=$1; N=$2; MODE=$3; PIDF=$4; shift 4
if [ -d "$G/staging/$N" ]; then rm -rf "$G/generations/$N"; mv "$G/staging/$N" "$G/generations/$N"; fi
[ -d "$G/generations/$N" ] || { echo "generation $N is not on the server" >&2; exit 4; }
master=$(cat "$PIDF" 2>/dev/null || true)
if [ -n "$master" ] && kill -0 "$master" 2>/dev/null; then
  echo "workers_before=$(ps -o pid= --ppid "$master" 2>/dev/null | tr -d ' ' | sort | tr '\n' ,)"
else master=""; fi
ln -sfn "generations/$N" "$G/.live.new"
mv -Tf "$G/.live.new" "$G/live"
sync "$G/live" 2>/dev/null || true
set +e
if [ "$MODE" = systemd ]; then
  if [ -n "$master" ]; then out=$(systemctl reload nginx 2>&1); else out=$(systemctl start nginx 2>&1); fi
else
  if [ -n "$master" ]; then out=$(nginx -s reload 2>&1); else out=$(nginx 2>&1); fi
fi
rc=$?
set -e
[ $rc -eq 0 ] || { printf '%s\n' "$out" >&2; exit 5; }
[ -n "$master" ] && echo reloaded || echo started
for d in "$G"/generations/*; do
  n=${d##*/}; keep=no
  [ "$n" = "$N" ] && keep=yes
  for k in "$@"; do [ "$n" = "$k" ] && keep=yes; done
  [ $keep = yes ] || rm -rf -- "$d"
done
rm -rf "$G/staging"/* 2>/dev/null || true"#;

/// The live pointer and nginx's master and workers.
const STATUS: &str = r#"G=$1; PIDF=$2
echo "live=$(readlink "$G/live" 2>/dev/null)"
master=$(cat "$PIDF" 2>/dev/null || true)
if [ -n "$master" ] && kill -0 "$master" 2>/dev/null; then
  echo "master=$master"
  echo "workers=$(ps -o pid= --ppid "$master" 2>/dev/null | tr -d ' ' | sort | tr '\n' ,)"
fi
exit 0"#;

/// SHA-256 of every live file, and of the include file.
const READBACK: &str = r#"G=$1; INC=$2
echo "live=$(readlink "$G/live" 2>/dev/null)"
if [ -d "$G/live/" ]; then (cd "$G/live/" && for f in * .[!.]*; do [ -e "$f" ] && sha256sum -- "$f"; done); fi
if [ -f "$INC" ]; then echo "include=$(sha256sum < "$INC" | cut -d' ' -f1)"; else echo include=missing; fi
exit 0"#;

/// Removes Gantry's configuration (and optionally the package), reloading nginx first.
const UNINSTALL: &str = r#"set -e
C=$1; INC=$2; MAIN=$3; MODE=$4; PIDF=$5; PKG=$6
rm -f -- "$INC"
[ -n "$MAIN" ] && rm -f -- "$MAIN"
master=$(cat "$PIDF" 2>/dev/null || true)
if [ -n "$master" ] && kill -0 "$master" 2>/dev/null; then
  nginx -t >/dev/null 2>&1 || { echo "nginx -t fails without Gantry's files; nginx was not reloaded" >&2; exit 6; }
  if [ "$MODE" = systemd ]; then systemctl reload nginx; else nginx -s reload; fi
fi
rm -rf -- "$C/gantry"
case "$PKG" in
  apt) export DEBIAN_FRONTEND=noninteractive; apt-get remove -y -qq nginx nginx-common ;;
  dnf) dnf remove -y -q nginx ;;
  yum) yum remove -y -q nginx ;;
esac
echo removed"#;

/// What went wrong on the server, by step.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RemoteError {
    /// SSH failed (unreachable, timeout, session broke).
    #[error("{0}")]
    Ssh(#[from] SshError),
    /// A step ran and failed; `output` is the server's own message.
    #[error("{step} failed: {output}")]
    Step {
        /// Which step.
        step: &'static str,
        /// What the server said (nginx's messages for validation and reload).
        output: String,
    },
    /// `nginx -t` rejected the staged generation.
    #[error("nginx -t rejected the configuration: {0}")]
    Invalid(String),
    /// The server cannot host Gantry's layout.
    #[error("{0}")]
    Unsupported(String),
}

impl RemoteError {
    /// Whether retrying later may help (the server was unreachable or timed out).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            RemoteError::Ssh(SshError::Connect { .. } | SshError::Timeout { .. } | SshError::Resolve { .. } | SshError::Session(_))
        )
    }
}

fn kv(text: &str) -> BTreeMap<String, String> {
    text.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.trim().to_string(), v.trim().to_string())).collect()
}

fn trimmed(o: &Output) -> String {
    let mut s = o.stderr_text();
    let out = o.stdout_text();
    if !out.trim().is_empty() {
        if !s.is_empty() && !s.ends_with('\n') {
            s.push('\n');
        }
        s.push_str(&out);
    }
    s.trim().chars().take(8000).collect()
}

/// What the probe found.
#[derive(Debug, Clone)]
pub struct Probe {
    /// `ID`.
    pub os_id: String,
    /// `PRETTY_NAME`.
    pub os_name: String,
    /// The family, if supported.
    pub family: Option<OsFamily>,
    /// Which package manager to use.
    pub package_manager: Option<&'static str>,
    /// systemd runs.
    pub systemd: bool,
    /// The installed nginx's version.
    pub nginx_version: Option<String>,
    /// nginx.conf exists in the configuration directory.
    pub has_conf: bool,
    /// IPv6 is available.
    pub ipv6: bool,
    /// Tools Gantry needs that are missing.
    pub missing_tools: Vec<&'static str>,
}

/// What the inspection of the operator's configuration found.
#[derive(Debug, Clone, Default)]
pub struct Inspection {
    /// Directives set outside Gantry's files.
    pub operator_directives: std::collections::BTreeSet<String>,
    /// The pid file.
    pub pid_file: String,
    /// A main-level include directory.
    pub main_dir: Option<String>,
}

/// nginx's state on the server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NginxStatus {
    /// The generation number the live pointer names (0 = the empty one).
    pub live_number: Option<i64>,
    /// Master pid, if running.
    pub master: Option<u32>,
    /// Worker pids, sorted, comma-joined.
    pub workers: String,
}

/// The hashes read back for drift detection.
#[derive(Debug, Clone, Default)]
pub struct Readback {
    /// The live pointer's generation number.
    pub live_number: Option<i64>,
    /// File name → SHA-256 of the live directory's files.
    pub files: BTreeMap<String, String>,
    /// SHA-256 of the include file (`None`: missing).
    pub include: Option<String>,
}

/// A server's layout paths.
#[derive(Debug, Clone)]
pub struct Layout {
    /// nginx's configuration directory.
    pub conf_dir: String,
}

impl Layout {
    /// Gantry's directory.
    pub fn root(&self) -> String {
        format!("{}/gantry", self.conf_dir)
    }
    /// The include file in conf.d.
    pub fn include_file(&self) -> String {
        format!("{}/conf.d/gantry.conf", self.conf_dir)
    }
    /// The live directory.
    pub fn live_dir(&self) -> String {
        format!("{}/gantry/live", self.conf_dir)
    }
    /// The include file's content.
    pub fn include_content(&self, server_tokens: bool) -> String {
        let mut s = String::from("# Managed by Gantry: serves the live generation of Gantry's configuration.\n");
        s.push_str("# Your own files in this directory and elsewhere are left alone.\n");
        if server_tokens {
            s.push_str("server_tokens off;\n");
        }
        s.push_str(&format!("include {}/*.conf;\n", self.live_dir()));
        s
    }
}

/// The main-level file's content.
pub const MAIN_FILE_CONTENT: &str =
    "# Managed by Gantry: old workers get this long to finish requests after a graceful reload.\nworker_shutdown_timeout 30s;\n";

/// A connection to one server, with its privilege mode.
pub struct Remote<'a> {
    conn: &'a Connection,
    sudo: bool,
    /// Bound for quick steps.
    pub timeout: Duration,
}

impl<'a> Remote<'a> {
    /// Wraps a connection.
    pub fn new(conn: &'a Connection, sudo: bool, timeout: Duration) -> Self {
        Self { conn, sudo, timeout }
    }

    async fn script(&self, name: &str, body: &str, args: &[&str], stdin: Option<Vec<u8>>, timeout: Duration) -> Result<Output, SshError> {
        let mut cmd = Cmd::new("sh").arg("-c").arg(format!("{PATH_PREFIX}{body}")).arg(format!("gantry-{name}"));
        for a in args {
            cmd = cmd.arg(*a);
        }
        if self.sudo {
            cmd = cmd.sudo();
        }
        self.conn.run(&cmd, RunOptions { timeout: Some(timeout), stdin, ..Default::default() }).await
    }

    /// Reads OS, init, tools and nginx.
    pub async fn probe(&self, conf_dir: &str) -> Result<Probe, RemoteError> {
        let o = self.script("probe", PROBE, &[conf_dir], None, self.timeout).await?;
        if !o.success() {
            return Err(RemoteError::Step { step: "probe", output: trimmed(&o) });
        }
        let m = kv(&o.stdout_text());
        let get = |k: &str| m.get(k).cloned().unwrap_or_default();
        let family = os_family(&get("os_id"), &get("os_like"));
        let package_manager = match family {
            Some(OsFamily::Debian) if m.contains_key("has_apt-get") => Some("apt"),
            Some(OsFamily::Rhel) if m.contains_key("has_dnf") => Some("dnf"),
            Some(OsFamily::Rhel) if m.contains_key("has_yum") => Some("yum"),
            _ => None,
        };
        let missing_tools = ["unshare", "tar", "sha256sum"].into_iter().filter(|t| !m.contains_key(&format!("has_{t}"))).collect();
        Ok(Probe {
            os_id: get("os_id"),
            os_name: get("os_name"),
            family,
            package_manager,
            systemd: get("init") == "systemd",
            nginx_version: m.get("nginx_version").filter(|v| !v.is_empty()).cloned(),
            has_conf: m.contains_key("conf"),
            ipv6: m.contains_key("ipv6"),
            missing_tools,
        })
    }

    /// Installs nginx; returns its version.
    pub async fn install_package(&self, manager: &str) -> Result<String, RemoteError> {
        let o = self.script("package", PACKAGE, &[manager], None, Duration::from_secs(900)).await?;
        if !o.success() {
            return Err(RemoteError::Step { step: "package install", output: trimmed(&o) });
        }
        Ok(o.stdout_text().lines().last().unwrap_or_default().trim().to_string())
    }

    /// Reads what the operator's configuration sets.
    pub async fn inspect(&self, conf_dir: &str) -> Result<Inspection, RemoteError> {
        let o = self.script("inspect", INSPECT, &[conf_dir], None, self.timeout).await?;
        if o.exit == Some(3) {
            return Err(RemoteError::Step { step: "nginx -T (the current configuration must be valid first)", output: trimmed(&o) });
        }
        if !o.success() {
            return Err(RemoteError::Step { step: "inspect", output: trimmed(&o) });
        }
        let text = o.stdout_text();
        let mut i = Inspection::default();
        for line in text.lines() {
            match line.split_once('=') {
                Some(("set", d)) => {
                    i.operator_directives.insert(d.trim().to_string());
                }
                Some(("pid", p)) => i.pid_file = p.trim().to_string(),
                Some(("main_dir", d)) if i.main_dir.is_none() && d.trim().starts_with('/') => i.main_dir = Some(d.trim().to_string()),
                Some(("default_pid", p)) if i.pid_file.is_empty() => i.pid_file = p.trim().to_string(),
                _ => {}
            }
        }
        if i.pid_file.is_empty() {
            i.pid_file = "/run/nginx.pid".into();
        }
        Ok(i)
    }

    /// Creates Gantry's directories and the live pointer.
    pub async fn layout(&self, conf_dir: &str) -> Result<(), RemoteError> {
        let o = self.script("layout", LAYOUT, &[conf_dir], None, self.timeout).await?;
        if o.success() { Ok(()) } else { Err(RemoteError::Step { step: "layout", output: trimmed(&o) }) }
    }

    /// Writes a file atomically.
    pub async fn upload(&self, path: &str, content: &str) -> Result<(), RemoteError> {
        Ok(self.conn.upload_atomic(path, content.as_bytes(), 0o644, None, self.sudo).await?)
    }

    /// Certificate material ids whose files are on the server (creates the directory).
    pub async fn certs_present(&self, conf_dir: &str) -> Result<BTreeSet<String>, RemoteError> {
        let o = self.script("certs", crate::tls::CERTS_LIST, &[conf_dir], None, self.timeout).await?;
        if !o.success() {
            return Err(RemoteError::Step { step: "certs", output: trimmed(&o) });
        }
        Ok(o.stdout_text().lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect())
    }

    /// Writes a certificate's files: the key first (0600), then the chain, so a `.crt` never exists without its key.
    pub async fn put_cert(&self, conf_dir: &str, id: &str, m: &crate::tls::Material) -> Result<(), RemoteError> {
        use secrecy::ExposeSecret as _;
        let dir = crate::render::certs_dir(conf_dir);
        self.conn.upload_atomic(&format!("{dir}/{id}.key"), m.key_pem.expose_secret().as_bytes(), 0o600, None, self.sudo).await?;
        self.conn.upload_atomic(&format!("{dir}/{id}.crt"), m.chain_pem.as_bytes(), 0o644, None, self.sudo).await?;
        Ok(())
    }

    /// Removes certificate files no kept generation refers to (best effort).
    pub async fn prune_certs(&self, conf_dir: &str) -> Result<(), RemoteError> {
        let o = self.script("certs-prune", crate::tls::CERTS_PRUNE, &[conf_dir], None, self.timeout).await?;
        if o.success() { Ok(()) } else { Err(RemoteError::Step { step: "certs-prune", output: trimmed(&o) }) }
    }

    /// Writes an ACME HTTP-01 answer where the rendered configuration serves it.
    pub async fn put_challenge(&self, conf_dir: &str, token: &str, key_authorization: &str) -> Result<(), RemoteError> {
        if !crate::tls::valid_token(token) {
            return Err(RemoteError::Step { step: "challenge", output: "the CA sent a token that is not base64url".into() });
        }
        let o = self.script("challenge", crate::tls::CHALLENGE_DIR, &[conf_dir], None, self.timeout).await?;
        if !o.success() {
            return Err(RemoteError::Step { step: "challenge", output: trimmed(&o) });
        }
        let path = format!("{}/{token}", crate::render::acme_dir(conf_dir));
        Ok(self.conn.upload_atomic(&path, key_authorization.as_bytes(), 0o644, None, self.sudo).await?)
    }

    /// Removes an ACME HTTP-01 answer (best effort).
    pub async fn remove_challenge(&self, conf_dir: &str, token: &str) -> Result<(), RemoteError> {
        if !crate::tls::valid_token(token) {
            return Ok(());
        }
        let path = format!("{}/{token}", crate::render::acme_dir(conf_dir));
        self.remove(&[&path]).await
    }

    /// Removes files (best effort).
    pub async fn remove(&self, paths: &[&str]) -> Result<(), RemoteError> {
        let o = self.script("remove", r#"rm -f -- "$@""#, paths, None, self.timeout).await?;
        if o.success() { Ok(()) } else { Err(RemoteError::Step { step: "remove", output: trimmed(&o) }) }
    }

    /// `nginx -t` on the current files.
    pub async fn test_config(&self) -> Result<(), RemoteError> {
        let o = self.script("test", TEST, &[], None, self.timeout).await?;
        if o.success() { Ok(()) } else { Err(RemoteError::Invalid(trimmed(&o))) }
    }

    /// Whether nginx loads `path`.
    pub async fn is_included(&self, path: &str) -> Result<bool, RemoteError> {
        Ok(self.script("included", INCLUDED, &[path], None, self.timeout).await?.success())
    }

    /// Starts or reloads nginx.
    pub async fn start(&self, systemd: bool, pid_file: &str) -> Result<String, RemoteError> {
        let mode = if systemd { "systemd" } else { "direct" };
        let o = self.script("start", START, &[mode, pid_file], None, self.timeout).await?;
        if o.success() {
            Ok(o.stdout_text().trim().to_string())
        } else {
            Err(RemoteError::Step { step: "start nginx", output: trimmed(&o) })
        }
    }

    /// Uploads generation `number` into staging and validates it with `nginx -t`.
    pub async fn stage(&self, layout: &Layout, number: i64, files: &BTreeMap<String, String>) -> Result<String, RemoteError> {
        let archive = tar_of(files).map_err(|e| RemoteError::Step { step: "pack", output: e })?;
        let n = number.to_string();
        let root = layout.root();
        let o = self.script("stage", STAGE, &[&root, &n], Some(archive), self.timeout).await?;
        match o.exit {
            Some(0) => Ok(trimmed(&o)),
            Some(90) => Err(RemoteError::Step {
                step: "validation",
                output: format!("cannot bind-mount the staged generation in a private mount namespace (unshare -m): {}", trimmed(&o)),
            }),
            Some(3) => Err(RemoteError::Step { step: "upload", output: trimmed(&o) }),
            _ => Err(RemoteError::Invalid(trimmed(&o))),
        }
    }

    /// Switches the live pointer to generation `number` and reloads; keeps `keep` generations on disk.
    pub async fn switch(&self, layout: &Layout, number: i64, systemd: bool, pid_file: &str, keep: &[i64]) -> Result<String, RemoteError> {
        let n = number.to_string();
        let mode = if systemd { "systemd" } else { "direct" };
        let keep: Vec<String> = keep.iter().map(i64::to_string).collect();
        let root = layout.root();
        let mut args: Vec<&str> = vec![&root, &n, mode, pid_file];
        args.extend(keep.iter().map(String::as_str));
        let o = self.script("switch", SWITCH, &args, None, self.timeout).await?;
        if o.success() {
            Ok(kv(&o.stdout_text()).get("workers_before").cloned().unwrap_or_default())
        } else {
            let step = if o.exit == Some(5) { "reload" } else { "switch" };
            Err(RemoteError::Step { step, output: trimmed(&o) })
        }
    }

    /// The live pointer and nginx's processes.
    pub async fn status(&self, layout: &Layout, pid_file: &str) -> Result<NginxStatus, RemoteError> {
        let root = layout.root();
        let o = self.script("status", STATUS, &[&root, pid_file], None, self.timeout).await?;
        let m = kv(&o.stdout_text());
        Ok(NginxStatus {
            live_number: m.get("live").and_then(|l| l.strip_prefix("generations/")).and_then(|n| n.parse().ok()),
            master: m.get("master").and_then(|p| p.parse().ok()),
            workers: m.get("workers").cloned().unwrap_or_default(),
        })
    }

    /// Reads back the hashes of Gantry's files.
    pub async fn readback(&self, layout: &Layout) -> Result<Readback, RemoteError> {
        let (root, inc) = (layout.root(), layout.include_file());
        let o = self.script("readback", READBACK, &[&root, &inc], None, self.timeout).await?;
        if !o.success() {
            return Err(RemoteError::Step { step: "read back", output: trimmed(&o) });
        }
        let mut r = Readback::default();
        for line in o.stdout_text().lines() {
            if let Some(l) = line.strip_prefix("live=") {
                r.live_number = l.strip_prefix("generations/").and_then(|n| n.parse().ok());
            } else if let Some(h) = line.strip_prefix("include=") {
                r.include = (h != "missing").then(|| h.to_string());
            } else if let Some((hash, name)) = line.split_once("  ") {
                r.files.insert(name.to_string(), hash.to_string());
            }
        }
        Ok(r)
    }

    /// Reads one file (bounded).
    pub async fn read(&self, path: &str) -> Result<String, RemoteError> {
        Ok(String::from_utf8_lossy(&self.conn.read_file(path, 16 << 20, self.sudo).await?).into_owned())
    }

    /// Removes Gantry's files, reloads nginx, and with `package` removes nginx too.
    pub async fn uninstall(
        &self,
        layout: &Layout,
        main_file: Option<&str>,
        systemd: bool,
        pid_file: &str,
        package: Option<&str>,
    ) -> Result<(), RemoteError> {
        let mode = if systemd { "systemd" } else { "direct" };
        let inc = layout.include_file();
        let args = [layout.conf_dir.as_str(), &inc, main_file.unwrap_or(""), mode, pid_file, package.unwrap_or("")];
        let o = self.script("uninstall", UNINSTALL, &args, None, Duration::from_secs(900)).await?;
        if o.success() { Ok(()) } else { Err(RemoteError::Step { step: "uninstall", output: trimmed(&o) }) }
    }

    /// `GET path` on the server's own `addr:port` with `Host: host`, through the SSH connection.
    pub async fn http_get(&self, addr: &str, port: u16, host: &str, path: &str) -> Result<HttpReply, RemoteError> {
        Ok(self.conn.http_get_local(addr, port, host, path, Duration::from_secs(5)).await?)
    }
}

/// Packs files into a tar stream (mode 0644, owner root, mtime 0: the same files give the same bytes).
pub fn tar_of(files: &BTreeMap<String, String>) -> Result<Vec<u8>, String> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, content) in files {
        let mut h = tar::Header::new_ustar();
        h.set_path(name).map_err(|e| format!("{name}: {e}"))?;
        h.set_size(content.len() as u64);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_cksum();
        b.append(&h, content.as_bytes()).map_err(|e| format!("{name}: {e}"))?;
    }
    b.into_inner().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tar_streams_are_deterministic_and_readable() {
        let mut files = BTreeMap::new();
        files.insert("00-gantry.conf".to_string(), "a\n".to_string());
        files.insert("group-1.conf".to_string(), "bb\n".to_string());
        let a = tar_of(&files).unwrap_or_default();
        assert_eq!(a, tar_of(&files).unwrap_or_default());
        let mut ar = tar::Archive::new(a.as_slice());
        let names: Vec<String> =
            ar.entries().into_iter().flatten().flatten().filter_map(|e| e.path().ok().map(|p| p.display().to_string())).collect();
        assert_eq!(names, vec!["00-gantry.conf", "group-1.conf"]);
    }

    #[test]
    fn key_values() {
        let m = kv("a=1\nb = x=y\nnoise\n");
        assert_eq!(m.get("a").map(String::as_str), Some("1"));
        assert_eq!(m.get("b").map(String::as_str), Some("x=y"));
        assert_eq!(m.len(), 2);
    }
}
