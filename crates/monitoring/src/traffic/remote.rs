//! What collection does on a server, over the servers module's pooled SSH connection.
//!
//! Like the proxy's steps, every script is a constant run as `sh -c SCRIPT
//! name ARGS…` (through `sudo -n` in sudo mode); paths and numbers travel as
//! positional arguments, never spliced into the script. The log is read
//! through one open file descriptor whose inode is checked first, so the
//! bytes always come from the file the cursor names, even if it is renamed
//! in between.

use gantry_ssh::{Cmd, Connection, Output, RunOptions, SshError};
use std::time::Duration;

/// Standard tool paths first: non-interactive SSH sessions and `sudo` give short PATHs.
const PATH_PREFIX: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH; export PATH\n";

/// The inode and size of the log, if it exists.
const STAT: &str = r#"if [ -f "$1" ]; then stat -c 'log %i %s' -- "$1"; else echo 'log none'; fi"#;

/// Reads up to MAX bytes from OFF of the file with inode INO, found as the log
/// or as its rotated copy `<log>.1`. Prints `ok SIZE N HELD NAME`, then the N
/// bytes; or `missing`. HELD says whether nginx (master or workers) still has a
/// file that is no longer the log open: nginx writes to a renamed log until it
/// reopens, so a rotated file is finished only once nobody holds it. HELD is
/// decided before SIZE is read, so "not held" and the size are final.
const READ: &str = r#"L=$1; INO=$2; OFF=$3; MAX=$4; PIDF=$5
for f in "$L" "$L.1"; do
  [ -f "$f" ] || continue
  exec 3<"$f" || continue
  id=$(stat -L -c '%d %i' /dev/fd/3) || { exec 3<&-; continue; }
  dev=${id% *}; ino=${id#* }
  if [ "$ino" != "$INO" ]; then exec 3<&-; continue; fi
  held=no
  if [ "$f" != "$L" ]; then
    m=$(cat "$PIDF" 2>/dev/null)
    if [ -n "$m" ] && kill -0 "$m" 2>/dev/null; then
      for p in $m $(ps -o pid= --ppid "$m" 2>/dev/null); do
        if stat -L -c '%d %i' /proc/"$p"/fd/* 2>/dev/null | grep -qx "$dev $INO"; then held=yes; break; fi
      done
    fi
  fi
  size=$(stat -L -c %s /dev/fd/3) || exit 3
  n=$((size - OFF))
  [ "$n" -lt 0 ] && n=0
  [ "$n" -gt "$MAX" ] && n=$MAX
  printf 'ok %s %s %s %s\n' "$size" "$n" "$held" "${f##*/}"
  if [ "$n" -gt 0 ]; then dd bs=65536 iflag=skip_bytes,count_bytes skip="$OFF" count="$n" status=none <&3 || exit 4; fi
  exit 0
done
echo missing"#;

/// Renames the log to `<log>.1` if it is still the file with inode INO, then
/// has nginx reopen its logs (USR1 to the master, what `nginx -s reopen` sends).
const ROTATE: &str = r#"L=$1; INO=$2; PIDF=$3
[ "$(stat -c %i -- "$L" 2>/dev/null)" = "$INO" ] || { echo moved; exit 0; }
mv -f -- "$L" "$L.1"
m=$(cat "$PIDF" 2>/dev/null)
if [ -n "$m" ] && kill -0 "$m" 2>/dev/null; then kill -USR1 "$m" && echo reopened; else echo stopped; fi"#;

/// A chunk of a log file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Chunk {
    /// The file's size when read.
    pub size: i64,
    /// The bytes from the requested offset (at most the window).
    pub bytes: Vec<u8>,
    /// nginx still has the file open although it is no longer the log.
    pub held: bool,
    /// It was found under the log's own name (not the rotated copy).
    pub at_log: bool,
}

/// A server's collection steps.
pub(crate) struct Remote<'a> {
    conn: &'a Connection,
    sudo: bool,
    timeout: Duration,
}

fn failure(step: &str, o: &Output) -> SshError {
    let mut text = o.stderr_text();
    if text.trim().is_empty() {
        text = o.stdout_text();
    }
    let text: String = text.trim().chars().take(500).collect();
    SshError::Session(format!("{step} failed (exit {}): {text}", o.exit.map_or("none".to_string(), |c| c.to_string())))
}

impl<'a> Remote<'a> {
    /// Wraps a connection.
    pub fn new(conn: &'a Connection, sudo: bool, timeout: Duration) -> Self {
        Self { conn, sudo, timeout }
    }

    async fn script(&self, name: &str, body: &str, args: &[&str], max_output: usize) -> Result<Output, SshError> {
        let mut cmd = Cmd::new("sh").arg("-c").arg(format!("{PATH_PREFIX}{body}")).arg(format!("gantry-{name}"));
        for a in args {
            cmd = cmd.arg(*a);
        }
        if self.sudo {
            cmd = cmd.sudo();
        }
        self.conn.run(&cmd, RunOptions { timeout: Some(self.timeout), max_output: Some(max_output), ..Default::default() }).await
    }

    /// nginx's `stub_status` page from the loopback status server.
    #[tracing::instrument(name = "traffic_stub_status", skip(self))]
    pub async fn stub_status(&self, status_port: u16) -> Result<String, SshError> {
        let r = self.conn.http_get_local("127.0.0.1", status_port, "gantry-status", "/gantry/nginx-status", Duration::from_secs(5)).await?;
        if r.status != 200 {
            return Err(SshError::Session(format!("the status page answered HTTP {}", r.status)));
        }
        Ok(r.text())
    }

    /// The log's (inode, size), if it exists.
    #[tracing::instrument(name = "traffic_stat", skip(self))]
    pub async fn stat(&self, log: &str) -> Result<Option<(i64, i64)>, SshError> {
        let o = self.script("traffic-stat", STAT, &[log], 4096).await?;
        if !o.success() {
            return Err(failure("stat of the traffic log", &o));
        }
        let text = o.stdout_text();
        let mut f = text.split_whitespace();
        match (f.next(), f.next(), f.next()) {
            (Some("log"), Some("none"), None) => Ok(None),
            (Some("log"), Some(i), Some(s)) => match (i.parse(), s.parse()) {
                (Ok(i), Ok(s)) => Ok(Some((i, s))),
                _ => Err(SshError::Session(format!("unexpected stat output: {:.80}", text.trim()))),
            },
            _ => Err(SshError::Session(format!("unexpected stat output: {:.80}", text.trim()))),
        }
    }

    /// Up to `max` bytes from `offset` of the file with `inode` (the log or its rotated copy); `None` if neither is it.
    #[tracing::instrument(name = "traffic_read", skip(self, pid_file))]
    pub async fn read(&self, log: &str, inode: i64, offset: i64, max: usize, pid_file: &str) -> Result<Option<Chunk>, SshError> {
        let (i, off, m) = (inode.to_string(), offset.to_string(), max.to_string());
        let o = self.script("traffic-read", READ, &[log, &i, &off, &m, pid_file], max + 4096).await?;
        if !o.success() || o.truncated {
            return Err(failure("reading the traffic log", &o));
        }
        let out = o.stdout;
        let nl = out.iter().position(|b| *b == b'\n').ok_or_else(|| SshError::Session("reading the traffic log: no header".into()))?;
        let header = String::from_utf8_lossy(&out[..nl]).into_owned();
        let f: Vec<&str> = header.split(' ').collect();
        match f.as_slice() {
            ["missing"] => Ok(None),
            ["ok", size, n, held, name] => {
                let bad = || SshError::Session(format!("reading the traffic log: bad header {header:.80}"));
                let size: i64 = size.parse().map_err(|_| bad())?;
                let n: usize = n.parse().map_err(|_| bad())?;
                let bytes = out[nl + 1..].to_vec();
                // The file can only have shrunk in between (truncation); then fewer bytes came, never more.
                if bytes.len() > n {
                    return Err(bad());
                }
                let log_name = log.rsplit('/').next().unwrap_or(log);
                Ok(Some(Chunk { size, bytes, held: *held == "yes", at_log: *name == log_name }))
            }
            _ => Err(SshError::Session(format!("reading the traffic log: bad header {header:.80}"))),
        }
    }

    /// Rotates the log if it is still `inode`; returns what happened (`reopened`, `stopped`, `moved`).
    #[tracing::instrument(name = "traffic_rotate", skip(self, pid_file))]
    pub async fn rotate(&self, log: &str, inode: i64, pid_file: &str) -> Result<String, SshError> {
        let i = inode.to_string();
        let o = self.script("traffic-rotate", ROTATE, &[log, &i, pid_file], 4096).await?;
        if !o.success() {
            return Err(failure("rotating the traffic log", &o));
        }
        Ok(o.stdout_text().trim().to_string())
    }
}
