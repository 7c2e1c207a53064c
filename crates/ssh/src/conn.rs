//! One SSH connection: opened step by step, reused for many operations.

use crate::SshError;
use crate::keys::SshKey;
use crate::quote::Cmd;
use russh::ChannelMsg;
use russh::client::{self, Handle};
use russh::keys::{HashAlg, PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// A step of opening a connection or running a command, for reports and errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// Resolving the address.
    Resolve,
    /// Opening the TCP connection.
    Tcp,
    /// The SSH protocol handshake.
    Handshake,
    /// Comparing the host key with the pinned one.
    HostKey,
    /// Public-key authentication.
    Auth,
    /// Running a command.
    Command,
}

impl Step {
    /// Stable name used in job results and the panel.
    pub fn as_str(&self) -> &'static str {
        match self {
            Step::Resolve => "resolve",
            Step::Tcp => "tcp",
            Step::Handshake => "handshake",
            Step::HostKey => "host_key",
            Step::Auth => "auth",
            Step::Command => "command",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome of one step while connecting.
#[derive(Debug, Clone)]
pub struct StepReport {
    /// Which step.
    pub step: Step,
    /// Whether it succeeded.
    pub ok: bool,
    /// How long it took.
    pub duration: Duration,
    /// What happened, for a person.
    pub message: String,
}

/// Where and as whom to connect.
#[derive(Clone, Debug)]
pub struct Target {
    /// The server's id in Gantry (for spans and the pool).
    pub server_id: i64,
    /// Address: IP literal or DNS name.
    pub host: String,
    /// SSH port.
    pub port: u16,
    /// SSH user.
    pub user: String,
    /// The client key.
    pub key: SshKey,
    /// The pinned host-key fingerprint (`SHA256:…`); `None` trusts on first use.
    pub pinned_host_key: Option<String>,
}

impl Target {
    /// Identifies the connection parameters; a pooled connection is reused only for the same signature.
    pub(crate) fn signature(&self) -> String {
        format!("{}|{}|{}|{}|{:?}", self.host, self.port, self.user, self.key.fingerprint(), self.pinned_host_key)
    }
}

/// Time bounds.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Resolve + TCP connect.
    pub connect: Duration,
    /// SSH handshake and authentication.
    pub handshake: Duration,
    /// Default bound for one command.
    pub command: Duration,
    /// Keepalive interval on idle connections.
    pub keepalive: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            handshake: Duration::from_secs(10),
            command: Duration::from_secs(60),
            keepalive: Duration::from_secs(15),
        }
    }
}

/// A finished command.
#[derive(Debug, Clone, Default)]
pub struct Output {
    /// Exit status; `None` if the server sent none (killed by a signal).
    pub exit: Option<u32>,
    /// Standard output, up to the bound.
    pub stdout: Vec<u8>,
    /// Standard error, up to the bound.
    pub stderr: Vec<u8>,
    /// Whether output beyond the bound was dropped.
    pub truncated: bool,
}

impl Output {
    /// Exit status 0.
    pub fn success(&self) -> bool {
        self.exit == Some(0)
    }

    /// Standard output as text (lossy).
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Standard error as text (lossy).
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// Options for one command.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Bound for this command (default: [`Timeouts::command`]).
    pub timeout: Option<Duration>,
    /// Bytes written to the command's standard input, then EOF.
    pub stdin: Option<Vec<u8>>,
    /// Most bytes kept of stdout and of stderr each (default 1 MiB).
    pub max_output: Option<usize>,
    /// Stops the command when cancelled.
    pub cancel: Option<CancellationToken>,
}

/// Checks the server's host key against the pin inside the handshake, so a
/// changed key aborts the connection before any credential is sent.
pub(crate) struct HostKeyCheck {
    pinned: Option<String>,
    seen: Arc<Mutex<Option<String>>>,
}

impl client::Handler for HostKeyCheck {
    type Error = russh::Error;

    async fn check_server_key(&mut self, key: &PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        let PublicKeyOrCertificate::PublicKey { key, .. } = key else {
            // Host certificates need a CA trust model Gantry does not configure.
            return Ok(false);
        };
        let fp = key.fingerprint(HashAlg::Sha256).to_string();
        let ok = self.pinned.as_ref().is_none_or(|p| *p == fp);
        if let Ok(mut s) = self.seen.lock() {
            *s = Some(fp);
        }
        Ok(ok)
    }
}

/// An authenticated SSH connection.
pub struct Connection {
    pub(crate) handle: Handle<HostKeyCheck>,
    /// The server's host-key fingerprint (`SHA256:…`).
    pub host_key: String,
    pub(crate) signature: String,
    pub(crate) last_used: Mutex<Instant>,
    timeouts: Timeouts,
    pub(crate) server_id: i64,
}

fn timed_out(step: Step, d: Duration) -> SshError {
    SshError::Timeout { step, seconds: d.as_secs().max(1) }
}

impl Connection {
    /// Connects and authenticates, recording each step in `reports`.
    #[tracing::instrument(name = "ssh_connect", skip_all, fields(server_id = target.server_id, host = %target.host, port = target.port))]
    pub async fn open(target: &Target, timeouts: &Timeouts, reports: &mut Vec<StepReport>) -> Result<Connection, SshError> {
        let mut report = |step: Step, started: Instant, res: Result<String, &SshError>| {
            let (ok, message) = match res {
                Ok(m) => (true, m),
                Err(e) => (false, e.to_string()),
            };
            reports.push(StepReport { step, ok, duration: started.elapsed(), message });
        };

        let t = Instant::now();
        let resolved = tokio::time::timeout(timeouts.connect, tokio::net::lookup_host((target.host.as_str(), target.port))).await;
        let addrs: Vec<std::net::SocketAddr> = match resolved {
            Err(_) => {
                let e = timed_out(Step::Resolve, timeouts.connect);
                report(Step::Resolve, t, Err(&e));
                return Err(e);
            }
            Ok(Err(err)) => {
                let e = SshError::Resolve { host: target.host.clone(), reason: err.to_string() };
                report(Step::Resolve, t, Err(&e));
                return Err(e);
            }
            Ok(Ok(a)) => a.collect(),
        };
        let Some(addr) = addrs.first().copied() else {
            let e = SshError::Resolve { host: target.host.clone(), reason: "no addresses".into() };
            report(Step::Resolve, t, Err(&e));
            return Err(e);
        };
        report(Step::Resolve, t, Ok(format!("{} → {}", target.host, addr.ip())));

        let t = Instant::now();
        let stream = match tokio::time::timeout(timeouts.connect, TcpStream::connect(addr)).await {
            Err(_) => {
                let e = timed_out(Step::Tcp, timeouts.connect);
                report(Step::Tcp, t, Err(&e));
                return Err(e);
            }
            Ok(Err(err)) => {
                let e = SshError::Connect { addr: addr.to_string(), reason: err.to_string() };
                report(Step::Tcp, t, Err(&e));
                return Err(e);
            }
            Ok(Ok(s)) => s,
        };
        let _ = stream.set_nodelay(true);
        report(Step::Tcp, t, Ok(format!("port {} open", target.port)));

        let t = Instant::now();
        let seen = Arc::new(Mutex::new(None));
        let handler = HostKeyCheck { pinned: target.pinned_host_key.clone(), seen: seen.clone() };
        let config = Arc::new(client::Config {
            inactivity_timeout: None,
            keepalive_interval: Some(timeouts.keepalive),
            keepalive_max: 3,
            nodelay: true,
            ..Default::default()
        });
        let handshake = tokio::time::timeout(timeouts.handshake, client::connect_stream(config, stream, handler)).await;
        let seen_fp = seen.lock().ok().and_then(|s| s.clone());
        let mut handle = match handshake {
            Err(_) => {
                let e = timed_out(Step::Handshake, timeouts.handshake);
                report(Step::Handshake, t, Err(&e));
                return Err(e);
            }
            Ok(Err(err)) => {
                if let (Some(expected), Some(actual)) = (&target.pinned_host_key, &seen_fp)
                    && expected != actual
                {
                    report(Step::Handshake, t, Ok("SSH protocol negotiated".into()));
                    let e = SshError::HostKeyChanged { expected: expected.clone(), actual: actual.clone() };
                    report(Step::HostKey, t, Err(&e));
                    return Err(e);
                }
                let e = SshError::Handshake(err.to_string());
                report(Step::Handshake, t, Err(&e));
                return Err(e);
            }
            Ok(Ok(h)) => h,
        };
        let host_key = seen_fp.unwrap_or_default();
        report(Step::Handshake, t, Ok("SSH protocol negotiated".into()));
        let pin_note = if target.pinned_host_key.is_some() { "matches the pinned key" } else { "first seen; it will be pinned" };
        report(Step::HostKey, t, Ok(format!("{host_key} {pin_note}")));

        let t = Instant::now();
        let auth = async {
            let hash = handle.best_supported_rsa_hash().await.ok().flatten().flatten();
            handle.authenticate_publickey(target.user.clone(), PrivateKeyWithHashAlg::new(target.key.inner(), hash)).await
        };
        match tokio::time::timeout(timeouts.handshake, auth).await {
            Err(_) => {
                let e = timed_out(Step::Auth, timeouts.handshake);
                report(Step::Auth, t, Err(&e));
                return Err(e);
            }
            Ok(Err(err)) => {
                let e = SshError::Session(err.to_string());
                report(Step::Auth, t, Err(&e));
                return Err(e);
            }
            Ok(Ok(r)) if !r.success() => {
                let e = SshError::AuthFailed { user: target.user.clone() };
                report(Step::Auth, t, Err(&e));
                return Err(e);
            }
            Ok(Ok(_)) => report(Step::Auth, t, Ok(format!("logged in as {}", target.user))),
        }
        Ok(Connection {
            handle,
            host_key,
            signature: target.signature(),
            last_used: Mutex::new(Instant::now()),
            timeouts: *timeouts,
            server_id: target.server_id,
        })
    }

    /// Whether the connection has gone away.
    pub fn is_closed(&self) -> bool {
        self.handle.is_closed()
    }

    /// Ends the connection.
    pub async fn close(&self) {
        let _ = self.handle.disconnect(russh::Disconnect::ByApplication, "", "en").await;
    }

    /// Runs a command and collects its output.
    pub async fn run(&self, cmd: &Cmd, opts: RunOptions) -> Result<Output, SshError> {
        let line = cmd.to_command_line().map_err(|e| SshError::InvalidCommand(e.to_string()))?;
        let program = cmd.argv().iter().find(|a| !matches!(a.as_str(), "sudo" | "-n" | "--")).cloned().unwrap_or_default();
        let span = tracing::info_span!("ssh_run", server_id = self.server_id, program = %program);
        self.run_line(line, opts).instrument(span).await
    }

    async fn run_line(&self, line: String, opts: RunOptions) -> Result<Output, SshError> {
        if let Ok(mut t) = self.last_used.lock() {
            *t = Instant::now();
        }
        let bound = opts.timeout.unwrap_or(self.timeouts.command);
        let max = opts.max_output.unwrap_or(1 << 20);
        let cancel = opts.cancel.clone().unwrap_or_default();
        let work = async {
            let mut ch = self.handle.channel_open_session().await.map_err(|e| SshError::Session(e.to_string()))?;
            ch.exec(true, line.into_bytes()).await.map_err(|e| SshError::Session(e.to_string()))?;
            if let Some(input) = opts.stdin.as_deref() {
                ch.data(input).await.map_err(|e| SshError::Session(e.to_string()))?;
            }
            ch.eof().await.map_err(|e| SshError::Session(e.to_string()))?;
            let mut out = Output::default();
            let keep = |buf: &mut Vec<u8>, data: &[u8], truncated: &mut bool| {
                let room = max.saturating_sub(buf.len());
                if data.len() > room {
                    *truncated = true;
                }
                buf.extend_from_slice(&data[..data.len().min(room)]);
            };
            while let Some(msg) = ch.wait().await {
                match msg {
                    ChannelMsg::Data { data } => keep(&mut out.stdout, &data, &mut out.truncated),
                    ChannelMsg::ExtendedData { data, ext: 1 } => keep(&mut out.stderr, &data, &mut out.truncated),
                    ChannelMsg::ExitStatus { exit_status } => out.exit = Some(exit_status),
                    _ => {}
                }
            }
            Ok(out)
        };
        tokio::select! {
            r = tokio::time::timeout(bound, work) => r.map_err(|_| timed_out(Step::Command, bound))?,
            _ = cancel.cancelled() => Err(SshError::Cancelled),
        }
    }

    /// Writes `content` to `path` atomically: a temporary file in the same
    /// directory, flushed to disk, given its mode (and owner), then renamed
    /// over the target. Readers see the old file or the new one, never a part.
    pub async fn upload_atomic(&self, path: &str, content: &[u8], mode: u32, owner: Option<&str>, sudo: bool) -> Result<(), SshError> {
        const SCRIPT: &str = r#"set -e
dir=$(dirname -- "$1")
tmp=$(mktemp -- "$dir/.gantry-upload.XXXXXX")
trap 'rm -f -- "$tmp"' EXIT
cat > "$tmp"
sync -- "$tmp" 2>/dev/null || sync
chmod -- "$2" "$tmp"
if [ -n "$3" ]; then chown -- "$3" "$tmp"; fi
mv -f -- "$tmp" "$1"
trap - EXIT"#;
        let mut cmd = Cmd::new("sh").arg("-c").arg(SCRIPT).arg("gantry-upload").arg(path).arg(format!("{mode:o}")).arg(owner.unwrap_or(""));
        if sudo {
            cmd = cmd.sudo();
        }
        let out = self.run(&cmd, RunOptions { stdin: Some(content.to_vec()), ..Default::default() }).await?;
        if out.success() { Ok(()) } else { Err(SshError::Session(format!("upload to {path} failed: {}", out.stderr_text().trim()))) }
    }

    /// Reads a file (at most `max` bytes).
    pub async fn read_file(&self, path: &str, max: usize, sudo: bool) -> Result<Vec<u8>, SshError> {
        let mut cmd = Cmd::new("cat").arg("--").arg(path);
        if sudo {
            cmd = cmd.sudo();
        }
        let out = self.run(&cmd, RunOptions { max_output: Some(max), ..Default::default() }).await?;
        if out.success() { Ok(out.stdout) } else { Err(SshError::Session(format!("cannot read {path}: {}", out.stderr_text().trim()))) }
    }
}
