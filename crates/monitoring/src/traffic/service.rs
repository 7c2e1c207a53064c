//! The traffic service: collection passes, their bookkeeping, and the views
//! the API serves.
//!
//! A pass on one server: take the server's lease (a conditional update of its
//! cursor row), read nginx's status page and the new part of the traffic log
//! over SSH (bounded in time and bytes), then commit counts and cursor
//! together (see [`super::store`]). What the log reading does is decided by
//! [`super::parse::plan`]; the remote steps are in [`super::remote`].

use super::TrafficSettings;
use super::error::TrafficError;
use super::parse::{Batch, Counts, Position, parse_stub, plan};
use super::remote::Remote;
use super::store::{Commit, DomainTotal, RangeQuery, StubSample, TrafficRepo, cursor};
use chrono::{DateTime, Utc};
use futures_util::StreamExt as _;
use gantry_core::ServiceError;
use gantry_core::eventlog::{Record, Severity};
use gantry_core::events::EventBus;
use gantry_proxy::ProxyService;
use gantry_proxy::model::InstallInfo;
use gantry_servers::ServersService;
use gantry_ssh::SshError;
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use utoipa::ToSchema;

/// Most bytes read from one log file in one pass; the rest waits for the next pass.
pub const READ_WINDOW: usize = 8 << 20;
/// Gantry renames the log to `access.log.1` once it is larger than this (and the previous `.1` was read to its end).
pub const DEFAULT_ROTATE_BYTES: u64 = 64 << 20;
/// Bound of a pass's remote part (SSH connect, status page, log reads).
const PASS_TIMEOUT: Duration = Duration::from_secs(45);
/// Bound of each remote command.
const STEP_TIMEOUT: Duration = Duration::from_secs(30);
/// A collection lease outlives any pass.
const LEASE_TTL: Duration = Duration::from_secs(120);
/// Servers collected at once.
const CONCURRENCY: usize = 4;
/// An on-demand collection answers within this; passes still running go on in the background.
const COLLECT_DEADLINE: Duration = Duration::from_secs(75);
/// Most domains a range view lists (by requests, descending).
const MAX_DOMAINS: usize = 500;
/// Longest range a view covers.
const MAX_RANGE_DAYS: i64 = 400;
/// Longest range served in minute points.
const MAX_MINUTE_RANGE: i64 = 24 * 3600;

/// How a server's pass ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PassResult {
    /// Read and stored.
    Ok,
    /// A step failed (see `error`); what could be read was stored.
    Failed,
    /// Another replica or request is collecting this server now.
    Busy,
    /// Another replica committed first; nothing of this pass was stored (its lines are counted by the other).
    Superseded,
    /// Still running when the request's deadline passed; it finishes in the background.
    Pending,
}

/// One server's collection outcome.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CollectResult {
    /// Server.
    pub server_id: i64,
    /// Its name.
    pub server_name: Option<String>,
    /// How it ended.
    pub result: PassResult,
    /// What failed.
    pub error: Option<String>,
    /// Log lines counted.
    pub lines: u64,
    /// Log lines that did not parse (skipped).
    pub skipped_lines: u64,
    /// Gantry rotated the log after this pass.
    pub rotated: bool,
    /// Duration, ms.
    pub duration_ms: u64,
}

/// Counts over a bucket or a range.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, ToSchema)]
pub struct TrafficCounts {
    /// Requests.
    pub requests: i64,
    /// 2xx responses.
    pub status_2xx: i64,
    /// 3xx responses.
    pub status_3xx: i64,
    /// 4xx responses.
    pub status_4xx: i64,
    /// 5xx responses.
    pub status_5xx: i64,
    /// Other status codes (1xx, 000, ≥ 600).
    pub status_other: i64,
    /// Bytes sent to clients.
    pub bytes_sent: i64,
    /// Mean upstream response time of the requests an upstream answered, ms (0 when none did).
    pub upstream_avg_ms: f64,
    /// Longest upstream response time, ms.
    pub upstream_max_ms: i64,
}

impl From<&Counts> for TrafficCounts {
    fn from(c: &Counts) -> Self {
        let avg = if c.upstream_count > 0 { c.upstream_ms_sum as f64 / c.upstream_count as f64 } else { 0.0 };
        Self {
            requests: c.requests,
            status_2xx: c.status_2xx,
            status_3xx: c.status_3xx,
            status_4xx: c.status_4xx,
            status_5xx: c.status_5xx,
            status_other: c.status_other,
            bytes_sent: c.bytes_sent,
            upstream_avg_ms: (avg * 10.0).round() / 10.0,
            upstream_max_ms: c.upstream_ms_max,
        }
    }
}

/// One point of a series.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TrafficPoint {
    /// Start of the bucket.
    pub at: DateTime<Utc>,
    /// Its counts.
    #[serde(flatten)]
    pub counts: TrafficCounts,
}

/// A domain's totals over the range.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DomainTraffic {
    /// Domain (as nginx's `server_name` has it: ASCII, lower case).
    pub domain: String,
    /// The server that served it.
    pub server_id: i64,
    /// Requests.
    pub requests: i64,
    /// 5xx responses.
    pub status_5xx: i64,
    /// Bytes sent.
    pub bytes_sent: i64,
}

/// Traffic over a range.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TrafficView {
    /// First bucket's start.
    pub from: DateTime<Utc>,
    /// End of the range (exclusive).
    pub to: DateTime<Utc>,
    /// 60 (minute points) or 3600 (hour points).
    pub step_seconds: i64,
    /// One point per step, gaps filled with zeros.
    pub points: Vec<TrafficPoint>,
    /// Sums over the range.
    pub totals: TrafficCounts,
    /// Domains by requests, descending (at most 500).
    pub domains: Vec<DomainTraffic>,
}

/// A server's collection state and nginx's own counters.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ServerTraffic {
    /// Server.
    pub server_id: i64,
    /// Its name.
    pub name: String,
    /// The proxy is installed (collection runs).
    pub installed: bool,
    /// The last pass without a failure.
    pub last_collected_at: Option<DateTime<Utc>>,
    /// The last pass.
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// Why the last pass failed; empty once one succeeds.
    pub last_error: Option<String>,
    /// Collection is failing now.
    pub failing: bool,
    /// Consecutive failed passes.
    pub consecutive_failures: i32,
    /// Since when it fails.
    pub failing_since: Option<DateTime<Utc>>,
    /// Open client connections.
    pub active_connections: Option<i64>,
    /// Connections reading a request.
    pub reading: Option<i64>,
    /// Connections writing a response.
    pub writing: Option<i64>,
    /// Idle keep-alive connections.
    pub waiting: Option<i64>,
    /// Requests per second between the last two reads of nginx's counter.
    pub requests_per_second: Option<f64>,
    /// nginx's request counter (since it started).
    pub requests_total: Option<i64>,
    /// nginx's accepted connections.
    pub accepts_total: Option<i64>,
    /// nginx's handled connections.
    pub handled_total: Option<i64>,
    /// Log lines skipped because they did not parse.
    pub skipped_lines: i64,
}

/// Range filters, as received.
#[derive(Debug, Clone, Default)]
pub struct RangeInput {
    /// Only this server.
    pub server_id: Option<i64>,
    /// Only this domain.
    pub domain: Option<String>,
    /// RFC 3339; default one hour before `to`.
    pub from: Option<String>,
    /// RFC 3339; default now.
    pub to: Option<String>,
    /// 60 or 3600; default chosen from the range and what is stored.
    pub step_seconds: Option<i64>,
}

/// What the metrics read (updated by every pass and refreshed from the database each interval).
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    /// Per server: nginx's counters and the last success.
    pub servers: BTreeMap<i64, ServerSnapshot>,
    /// Passes on this replica by result.
    pub ok: u64,
    /// Failed passes on this replica.
    pub failed: u64,
}

/// One server in the snapshot.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct ServerSnapshot {
    pub requests: Option<i64>,
    pub active: Option<i64>,
    pub reading: Option<i64>,
    pub writing: Option<i64>,
    pub waiting: Option<i64>,
    pub last_success: Option<i64>,
}

impl From<&cursor::Model> for ServerSnapshot {
    fn from(r: &cursor::Model) -> Self {
        Self {
            requests: r.stub_requests,
            active: r.stub_active,
            reading: r.stub_reading,
            writing: r.stub_writing,
            waiting: r.stub_waiting,
            last_success: r.last_collected_at.map(|t| t.timestamp()),
        }
    }
}

/// What a pass gathered from the server.
struct Gathered {
    to: Position,
    batch: Batch,
    stub: Option<StubSample>,
    errors: Vec<String>,
    /// The followed log's size after the pass, when it was read.
    log_size: Option<i64>,
    conn: Option<(Arc<gantry_ssh::Connection>, bool)>,
}

impl Gathered {
    fn failed(from: Position, error: String) -> Self {
        Self { to: from, batch: Batch::default(), stub: None, errors: vec![error], log_size: None, conn: None }
    }
}

/// The event-log entry of a pass that changes whether collection fails: one when a server's
/// collection starts failing, one when it works again; none for further failed passes.
fn transition(server_id: i64, name: Option<&str>, before: &cursor::Model, error: Option<&str>) -> Option<Record> {
    let who = name.unwrap_or("the server");
    let (severity, kind, message, details) = match (error, before.failures) {
        (Some(e), 0) => {
            (Severity::Warning, "traffic.collection_failed", format!("Traffic collection from {who} fails: {e}"), json!({ "error": e }))
        }
        (None, n) if n > 0 => (
            Severity::Info,
            "traffic.collection_recovered",
            format!("Traffic collection from {who} works again after {n} failed attempt{}", if n == 1 { "" } else { "s" }),
            json!({ "failed_passes": n, "failing_since": before.failing_since, "last_error": before.last_error }),
        ),
        _ => return None,
    };
    Some(Record::new(severity, "monitoring", kind, message).entity("server", server_id, name).details(details))
}

/// Error text for people: bounded, one line.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(500).collect()
}

fn i64_of(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The traffic service.
pub struct TrafficService {
    repo: TrafficRepo,
    servers: Arc<ServersService>,
    proxy: Arc<ProxyService>,
    settings: TrafficSettings,
    /// This replica's name in leases.
    replica: String,
    /// What the metrics report.
    pub(crate) snapshot: Arc<Mutex<Snapshot>>,
    /// Log size that triggers a rotation.
    rotate_bytes: AtomicU64,
    /// Wakes the event relay after an event-log entry was written.
    bus: EventBus,
}

impl TrafficService {
    /// Builds the service.
    pub fn new(
        db: gantry_store::Db,
        servers: Arc<ServersService>,
        proxy: Arc<ProxyService>,
        bus: EventBus,
        settings: TrafficSettings,
    ) -> Self {
        let host = std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()).unwrap_or_else(|| "gantry".into());
        let replica = format!("{}-{}", host.chars().take(40).collect::<String>(), gantry_core::tokens::random_token(6));
        Self {
            repo: TrafficRepo { db },
            servers,
            proxy,
            settings,
            replica,
            snapshot: Arc::default(),
            rotate_bytes: AtomicU64::new(DEFAULT_ROTATE_BYTES),
            bus,
        }
    }

    /// Sets the size beyond which Gantry rotates a server's traffic log (default 64 MiB).
    pub fn set_rotate_bytes(&self, bytes: u64) {
        self.rotate_bytes.store(bytes.max(1), Ordering::Relaxed);
    }

    // ----- collection -----

    /// Collects one server (`Some`) or every server with the proxy installed, now.
    /// Answers within a deadline; passes still running then finish in the background.
    pub async fn collect(self: &Arc<Self>, server_id: Option<i64>) -> Result<Vec<CollectResult>, TrafficError> {
        let installed = self.proxy.installations().await.map_err(ServiceError::from)?;
        let targets: Vec<(i64, InstallInfo)> = match server_id {
            Some(id) => {
                self.servers.get(id).await?;
                let info = installed.into_iter().find(|(s, _)| *s == id).ok_or(TrafficError::NotInstalled(id))?;
                vec![info]
            }
            None => installed,
        };
        let ids: Vec<i64> = targets.iter().map(|(id, _)| *id).collect();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let me = self.clone();
        // A task of its own: a client that goes away does not cut a pass (and its lease) short.
        tokio::spawn(async move {
            futures_util::stream::iter(targets)
                .for_each_concurrent(CONCURRENCY, |(id, info)| {
                    let (me, tx) = (me.clone(), tx.clone());
                    async move {
                        let _ = tx.send(me.collect_one(id, &info, Duration::from_secs(10)).await);
                    }
                })
                .await;
        });
        let deadline = tokio::time::Instant::now() + COLLECT_DEADLINE;
        let mut done: BTreeMap<i64, CollectResult> = BTreeMap::new();
        while done.len() < ids.len() {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(r)) => {
                    done.insert(r.server_id, r);
                }
                Ok(None) | Err(_) => break,
            }
        }
        Ok(ids
            .into_iter()
            .map(|id| {
                done.remove(&id).unwrap_or(CollectResult {
                    server_id: id,
                    server_name: None,
                    result: PassResult::Pending,
                    error: None,
                    lines: 0,
                    skipped_lines: 0,
                    rotated: false,
                    duration_ms: u64::try_from(COLLECT_DEADLINE.as_millis()).unwrap_or(u64::MAX),
                })
            })
            .collect())
    }

    /// One interval's work: every installed server, then folding and pruning, then the metrics' snapshot.
    pub async fn tick(self: &Arc<Self>) {
        match self.proxy.installations().await {
            Ok(targets) => {
                futures_util::stream::iter(targets)
                    .for_each_concurrent(CONCURRENCY, |(id, info)| async move {
                        let r = self.collect_one(id, &info, Duration::ZERO).await;
                        if r.result == PassResult::Failed {
                            tracing::debug!(server_id = id, error = r.error.as_deref().unwrap_or(""), "traffic collection failed");
                        }
                    })
                    .await;
            }
            Err(e) => tracing::warn!(error = %e, "cannot list the servers with a proxy"),
        }
        if let Err(e) = self.fold_and_prune(Utc::now()).await {
            tracing::warn!(error = %e, "traffic fold/prune failed");
        }
        self.refresh_snapshot().await;
    }

    /// Folds minutes older than the minute window into hours and prunes hours older than the retention.
    pub async fn fold_and_prune(&self, now: DateTime<Utc>) -> Result<(), TrafficError> {
        let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 2);
        let t = now.timestamp();
        let minute_cutoff = (t - secs(self.settings.minute_window)).div_euclid(3600) * 3600;
        let folded = self.repo.fold(minute_cutoff).await?;
        let hour_cutoff = (t - secs(self.settings.hour_retention)).div_euclid(3600) * 3600;
        let stub_cutoff = (t - secs(self.settings.minute_window)).div_euclid(60) * 60;
        let pruned = self.repo.prune(hour_cutoff, stub_cutoff).await?;
        if folded + pruned > 0 {
            tracing::debug!(folded, pruned, "traffic rows folded and pruned");
        }
        Ok(())
    }

    /// Reloads the metrics' view of every server from the database (passes on other replicas included).
    pub async fn refresh_snapshot(&self) {
        match self.repo.cursors().await {
            Ok(rows) => {
                if let Ok(mut s) = self.snapshot.lock() {
                    s.servers = rows.iter().map(|r| (r.server_id, ServerSnapshot::from(r))).collect();
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the traffic cursors"),
        }
    }

    /// One pass on one server, waiting up to `wait` for its lease.
    #[tracing::instrument(name = "traffic_collect", skip(self, info, wait))]
    async fn collect_one(&self, server_id: i64, info: &InstallInfo, wait: Duration) -> CollectResult {
        let started = Instant::now();
        let name = self.servers.get(server_id).await.ok().map(|s| s.name);
        let mut result = CollectResult {
            server_id,
            server_name: name.clone(),
            result: PassResult::Failed,
            error: None,
            lines: 0,
            skipped_lines: 0,
            rotated: false,
            duration_ms: 0,
        };
        let elapsed = |r: &mut CollectResult| r.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let owner = format!("{}/{}", self.replica, gantry_core::tokens::random_token(6));
        let row = match self.claim(server_id, &owner, wait).await {
            Ok(Some(row)) => row,
            Ok(None) => {
                result.result = PassResult::Busy;
                elapsed(&mut result);
                return result;
            }
            Err(e) => {
                result.error = Some(format!("database: {e}"));
                self.count(false);
                elapsed(&mut result);
                return result;
            }
        };
        let from = Position { inode: row.log_inode, offset: row.log_offset, rotated: row.rotated_inode.map(|i| (i, row.rotated_offset)) };
        let mut g = match tokio::time::timeout(PASS_TIMEOUT, self.gather(server_id, info, &row, from)).await {
            Ok(g) => g,
            Err(_) => Gathered::failed(from, format!("the collection took longer than {} s", PASS_TIMEOUT.as_secs())),
        };
        let error = (!g.errors.is_empty()).then(|| one_line(&g.errors.join("; ")));
        let record = transition(server_id, name.as_deref(), &row, error.as_deref());
        let (lines, skipped) = (g.batch.lines, g.batch.skipped);
        let commit = Commit {
            server_id,
            owner: owner.clone(),
            version: row.version,
            from,
            to: g.to,
            buckets: std::mem::take(&mut g.batch.buckets),
            skipped,
            stub: g.stub,
            at: Utc::now(),
            error: error.clone(),
            record,
        };
        let written = self.commit(&commit).await;
        result.lines = lines;
        result.skipped_lines = skipped;
        result.error = error.clone();
        match written {
            Ok(Some(now)) => {
                result.result = if error.is_some() { PassResult::Failed } else { PassResult::Ok };
                self.count(error.is_none());
                if let Ok(mut s) = self.snapshot.lock() {
                    s.servers.insert(server_id, ServerSnapshot::from(&now));
                }
                if let Some(r) = &commit.record {
                    self.bus.notify_written();
                    match r.severity {
                        Severity::Info => tracing::info!(server_id, kind = %r.kind, "{}", r.message),
                        _ => tracing::warn!(server_id, kind = %r.kind, "{}", r.message),
                    }
                }
                if error.is_none() {
                    result.rotated = self.maybe_rotate(server_id, info, &g).await;
                }
            }
            Ok(None) => {
                // Another replica committed first: its pass counted these lines, this one counts nothing.
                result.result = PassResult::Superseded;
                result.lines = 0;
                result.skipped_lines = 0;
                let _ = self.repo.release(server_id, &owner).await;
            }
            Err(e) => {
                result.result = PassResult::Failed;
                result.error = Some(one_line(&format!("cannot store the collection: {e}")));
                result.lines = 0;
                result.skipped_lines = 0;
                self.count(false);
                if let Err(e) = self.repo.release(server_id, &owner).await {
                    tracing::warn!(server_id, error = %e, "cannot release the traffic lease; it lapses by itself");
                }
            }
        }
        elapsed(&mut result);
        result
    }

    /// Takes the server's lease, waiting up to `wait` for another pass to end.
    async fn claim(&self, server_id: i64, owner: &str, wait: Duration) -> Result<Option<cursor::Model>, gantry_core::StoreError> {
        self.repo.ensure(server_id).await?;
        let deadline = Instant::now() + wait;
        loop {
            if let Some(row) = self.repo.claim(server_id, owner, LEASE_TTL).await? {
                return Ok(Some(row));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn count(&self, ok: bool) {
        if let Ok(mut s) = self.snapshot.lock() {
            if ok {
                s.ok += 1;
            } else {
                s.failed += 1;
            }
        }
    }

    /// Commits, retrying a failed transaction (a deadlock or a dropped connection) twice:
    /// the pass's data is in memory and a retry is conditional like the first try.
    async fn commit(&self, c: &Commit) -> Result<Option<cursor::Model>, gantry_core::StoreError> {
        let mut attempt = 0;
        loop {
            match self.repo.commit(c).await {
                Err(e) if attempt < 2 => {
                    attempt += 1;
                    tracing::debug!(server_id = c.server_id, error = %e, attempt, "traffic commit failed; retrying");
                    tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
                }
                other => return other,
            }
        }
    }

    /// Reads the server: status page, then the log. A failed step is recorded and the others still run.
    async fn gather(&self, server_id: i64, info: &InstallInfo, row: &cursor::Model, from: Position) -> Gathered {
        let (conn, sudo) = match self.servers.connect(server_id).await {
            Ok(c) => c,
            Err(e) => return Gathered::failed(from, format!("cannot reach the server: {e}")),
        };
        let remote = Remote::new(&conn, sudo, STEP_TIMEOUT);
        let mut errors = Vec::new();
        let now = Utc::now();
        let stub = match remote.stub_status(info.status_port).await {
            Ok(text) => match parse_stub(&text) {
                Some(s) => {
                    let delta = match row.stub_requests {
                        Some(prev) if s.requests >= prev => s.requests - prev,
                        // nginx restarted: its counter started again.
                        Some(_) => s.requests,
                        None => 0,
                    };
                    let rate = match (row.stub_requests, row.stub_at) {
                        (Some(_), Some(at)) if now > at => Some(delta as f64 / ((now - at).num_milliseconds() as f64 / 1000.0)),
                        _ => None,
                    };
                    Some(StubSample { stub: s, delta, rate: rate.map(|r| (r * 100.0).round() / 100.0) })
                }
                None => {
                    errors.push("the nginx status page did not answer with stub_status output".to_string());
                    None
                }
            },
            Err(e) => {
                errors.push(format!("nginx status page: {e}"));
                None
            }
        };
        let log = gantry_proxy::render::access_log_path(&info.conf_dir);
        let (to, batch, log_size) = match self.read_log(server_id, &remote, &log, &info.pid_file, from).await {
            Ok(r) => r,
            Err(e) => {
                errors.push(format!("traffic log: {e}"));
                (from, Batch::default(), None)
            }
        };
        Gathered { to, batch, stub, errors, log_size, conn: Some((conn.clone(), sudo)) }
    }

    /// Reads what is new in the log (and finishes a rotated one); returns the new position, the
    /// parsed lines and the followed file's size.
    async fn read_log(
        &self,
        server_id: i64,
        remote: &Remote<'_>,
        log: &str,
        pid_file: &str,
        from: Position,
    ) -> Result<(Position, Batch, Option<i64>), SshError> {
        let now = remote.stat(log).await?;
        let reads = plan(&from, now);
        if let Some(inode) = reads.abandoned {
            tracing::warn!(
                server_id,
                inode,
                "the log was rotated twice before the older file was read to its end; its unread lines are lost"
            );
        }
        if reads.truncated {
            tracing::info!(server_id, "the traffic log was truncated in place; reading it from the start");
        }
        let mut batch = Batch::default();
        let mut to = Position { inode: 0, offset: 0, rotated: None };
        if let Some((inode, offset)) = reads.rotated {
            match remote.read(log, inode, offset, READ_WINDOW, pid_file).await? {
                None => tracing::warn!(
                    server_id,
                    inode,
                    "the rotated traffic log is gone before it was read to its end; its unread lines are lost"
                ),
                Some(ch) => {
                    let used = batch.add_chunk(&ch.bytes, ch.bytes.len() >= READ_WINDOW);
                    let read_all = offset + i64_of(ch.bytes.len()) >= ch.size;
                    // Found under the log's own name, it was moved back and nginx may write to it:
                    // never finished here (the next pass follows it from this offset).
                    if !ch.held && !ch.at_log && read_all {
                        // Nobody writes to it any more and all of it was read: a last line
                        // without its newline will never be completed, so it is counted as is.
                        batch.add_line(&ch.bytes[used..]);
                    } else {
                        to.rotated = Some((inode, offset + i64_of(used)));
                    }
                }
            }
        }
        let mut size = None;
        if let Some((inode, offset)) = reads.current {
            to.inode = inode;
            to.offset = offset;
            // None: renamed and gone between the two steps; the next pass sees where it went.
            if let Some(ch) = remote.read(log, inode, offset, READ_WINDOW, pid_file).await? {
                let used = batch.add_chunk(&ch.bytes, ch.bytes.len() >= READ_WINDOW);
                to.offset = offset + i64_of(used);
                size = ch.at_log.then_some(ch.size);
            }
        }
        Ok((to, batch, size))
    }

    /// Renames a big log to `access.log.1` and has nginx reopen its logs, when the previous
    /// rotated file is finished. The next pass finishes the renamed file and follows the new one.
    async fn maybe_rotate(&self, server_id: i64, info: &InstallInfo, g: &Gathered) -> bool {
        let limit = i64::try_from(self.rotate_bytes.load(Ordering::Relaxed)).unwrap_or(i64::MAX);
        let (Some(size), Some((conn, sudo))) = (g.log_size, &g.conn) else { return false };
        if size <= limit || g.to.rotated.is_some() || g.to.inode == 0 {
            return false;
        }
        let log = gantry_proxy::render::access_log_path(&info.conf_dir);
        match Remote::new(conn, *sudo, STEP_TIMEOUT).rotate(&log, g.to.inode, &info.pid_file).await {
            Ok(how) => {
                tracing::info!(server_id, size, how = %how, "traffic log rotated");
                how != "moved"
            }
            Err(e) => {
                tracing::warn!(server_id, error = %e, "cannot rotate the traffic log; trying again next pass");
                false
            }
        }
    }

    /// A deleted server's collection state goes (its counts stay until they are pruned).
    pub async fn forget(&self, server_id: i64) -> Result<(), TrafficError> {
        self.repo.forget(server_id).await?;
        if let Ok(mut s) = self.snapshot.lock() {
            s.servers.remove(&server_id);
        }
        Ok(())
    }

    // ----- views -----

    /// Every server with the proxy installed or a collection state, by id.
    pub async fn servers(&self) -> Result<Vec<ServerTraffic>, TrafficError> {
        let installed: BTreeMap<i64, InstallInfo> = self.proxy.installations().await.map_err(ServiceError::from)?.into_iter().collect();
        let mut rows: BTreeMap<i64, Option<cursor::Model>> = installed.keys().map(|id| (*id, None)).collect();
        for r in self.repo.cursors().await? {
            rows.insert(r.server_id, Some(r));
        }
        let mut out = Vec::new();
        for (id, row) in rows {
            let name = match self.servers.get(id).await {
                Ok(s) => s.name,
                Err(ServiceError::NotFound(_)) => continue,
                Err(e) => return Err(e.into()),
            };
            let r = row.as_ref();
            out.push(ServerTraffic {
                server_id: id,
                name,
                installed: installed.contains_key(&id),
                last_collected_at: r.and_then(|r| r.last_collected_at),
                last_attempt_at: r.and_then(|r| r.last_attempt_at),
                last_error: r.and_then(|r| r.last_error.clone()),
                failing: r.is_some_and(|r| r.failures > 0),
                consecutive_failures: r.map_or(0, |r| r.failures),
                failing_since: r.and_then(|r| r.failing_since),
                active_connections: r.and_then(|r| r.stub_active),
                reading: r.and_then(|r| r.stub_reading),
                writing: r.and_then(|r| r.stub_writing),
                waiting: r.and_then(|r| r.stub_waiting),
                requests_per_second: r.and_then(|r| r.requests_per_second),
                requests_total: r.and_then(|r| r.stub_requests),
                accepts_total: r.and_then(|r| r.stub_accepts),
                handled_total: r.and_then(|r| r.stub_handled),
                skipped_lines: r.map_or(0, |r| r.lines_skipped),
            });
        }
        Ok(out)
    }

    /// Traffic over a range: points (zero-filled), totals and domains.
    pub async fn traffic(&self, input: RangeInput) -> Result<TrafficView, TrafficError> {
        let q = parse_range(&input, Utc::now(), self.settings.minute_window)?;
        let (stored, domains) = self.repo.range(&q, MAX_DOMAINS).await?;
        let mut total = Counts::default();
        let mut points = Vec::new();
        let mut at = q.from;
        while at < q.to {
            let c = stored.get(&at).copied().unwrap_or_default();
            total.merge(&c);
            points.push(TrafficPoint { at: DateTime::from_timestamp(at, 0).unwrap_or_default(), counts: TrafficCounts::from(&c) });
            at += q.step;
        }
        Ok(TrafficView {
            from: DateTime::from_timestamp(q.from, 0).unwrap_or_default(),
            to: DateTime::from_timestamp(q.to, 0).unwrap_or_default(),
            step_seconds: q.step,
            points,
            totals: TrafficCounts::from(&total),
            domains: domains
                .into_iter()
                .map(|DomainTotal { server_id, domain, counts }| DomainTraffic {
                    domain,
                    server_id,
                    requests: counts.requests,
                    status_5xx: counts.status_5xx,
                    bytes_sent: counts.bytes_sent,
                })
                .collect(),
        })
    }
}

fn timestamp(field: &'static str, v: Option<&str>) -> Result<Option<DateTime<Utc>>, TrafficError> {
    match v.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => DateTime::parse_from_rfc3339(s)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| TrafficError::invalid(field, "must be an RFC 3339 timestamp, e.g. 2026-12-06T08:00:00Z")),
    }
}

/// Validates a range request and decides its step.
pub(crate) fn parse_range(input: &RangeInput, now: DateTime<Utc>, minute_window: Duration) -> Result<RangeQuery, TrafficError> {
    let to = timestamp("to", input.to.as_deref())?.unwrap_or(now);
    let from = timestamp("from", input.from.as_deref())?.unwrap_or(to - chrono::Duration::hours(1));
    if from >= to {
        return Err(TrafficError::invalid("from", "must be before to"));
    }
    let span = (to - from).num_seconds();
    if span > MAX_RANGE_DAYS * 86_400 {
        return Err(TrafficError::invalid("from", format!("the range may span at most {MAX_RANGE_DAYS} days")));
    }
    let window = chrono::Duration::from_std(minute_window).unwrap_or(chrono::Duration::hours(48));
    let minutes_kept = from >= now - window;
    let step = match input.step_seconds {
        None if span <= MAX_MINUTE_RANGE && minutes_kept => 60,
        None => 3600,
        Some(60) if span > MAX_MINUTE_RANGE => {
            return Err(TrafficError::invalid("step_seconds", "minute points cover at most 24 hours; use 3600 for longer ranges"));
        }
        Some(60) if !minutes_kept => {
            return Err(TrafficError::invalid(
                "from",
                format!("minute points are kept for {} hours; use step_seconds=3600 for older data", window.num_hours()),
            ));
        }
        Some(s @ (60 | 3600)) => s,
        Some(_) => return Err(TrafficError::invalid("step_seconds", "must be 60 or 3600")),
    };
    let domain = match input.domain.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
        None => None,
        Some(d) if d.len() <= 253 && d.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'*')) => {
            Some(d.to_ascii_lowercase())
        }
        Some(_) => return Err(TrafficError::invalid("domain", "must be a domain name as configured (ASCII; IDNs in their xn-- form)")),
    };
    if input.server_id.is_some_and(|id| id <= 0) {
        return Err(TrafficError::invalid("server_id", "must be a positive server id"));
    }
    let (f, t) = (from.timestamp(), to.timestamp());
    Ok(RangeQuery { from: f.div_euclid(step) * step, to: t, step, server_id: input.server_id, domain })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn field(r: Result<RangeQuery, TrafficError>) -> &'static str {
        match r {
            Err(TrafficError::Invalid { field, .. }) => field,
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    #[test]
    fn ranges_pick_their_step_and_name_bad_parameters() {
        let now = at("2026-12-06T12:34:56Z");
        let w = Duration::from_secs(48 * 3600);
        let q = parse_range(&RangeInput::default(), now, w).unwrap();
        assert_eq!((q.step, q.to - q.from), (60, 3656), "the last hour in minutes, from aligned down to its minute");
        assert_eq!(q.from % 60, 0);
        let day = RangeInput { from: Some("2026-12-05T12:34:56Z".into()), ..Default::default() };
        assert_eq!(parse_range(&day, now, w).unwrap().step, 60);
        let week = RangeInput { from: Some("2026-11-29T00:00:00Z".into()), ..Default::default() };
        let q = parse_range(&week, now, w).unwrap();
        assert_eq!((q.step, q.from % 3600), (3600, 0));
        // Old but short: the minutes were folded, so hours.
        let old =
            RangeInput { from: Some("2026-12-01T00:00:00Z".into()), to: Some("2026-12-01T01:00:00+00:00".into()), ..Default::default() };
        assert_eq!(parse_range(&old, now, w).unwrap().step, 3600);
        assert_eq!(field(parse_range(&RangeInput { step_seconds: Some(60), ..old.clone() }, now, w)), "from");
        assert_eq!(field(parse_range(&RangeInput { step_seconds: Some(60), ..week }, now, w)), "step_seconds");
        assert_eq!(field(parse_range(&RangeInput { step_seconds: Some(300), ..Default::default() }, now, w)), "step_seconds");
        let backwards =
            RangeInput { from: Some("2026-12-06T12:00:00Z".into()), to: Some("2026-12-06T11:00:00Z".into()), ..Default::default() };
        assert_eq!(field(parse_range(&backwards, now, w)), "from");
        assert_eq!(field(parse_range(&RangeInput { to: Some("yesterday".into()), ..Default::default() }, now, w)), "to");
        assert_eq!(field(parse_range(&RangeInput { from: Some("2020-01-01".into()), ..Default::default() }, now, w)), "from");
        let long = RangeInput { from: Some("2020-01-01T00:00:00Z".into()), ..Default::default() };
        assert_eq!(field(parse_range(&long, now, w)), "from");
        assert_eq!(field(parse_range(&RangeInput { domain: Some("a b".into()), ..Default::default() }, now, w)), "domain");
        assert_eq!(
            parse_range(&RangeInput { domain: Some("Shop.Example.TEST".into()), ..Default::default() }, now, w).unwrap().domain.as_deref(),
            Some("shop.example.test")
        );
        assert_eq!(field(parse_range(&RangeInput { server_id: Some(0), ..Default::default() }, now, w)), "server_id");
    }

    #[test]
    fn averages_are_per_answered_request() {
        let c = Counts { requests: 4, upstream_ms_sum: 30, upstream_count: 2, upstream_ms_max: 20, ..Counts::default() };
        let t = TrafficCounts::from(&c);
        assert_eq!((t.upstream_avg_ms, t.upstream_max_ms), (15.0, 20));
        assert_eq!(TrafficCounts::from(&Counts::default()).upstream_avg_ms, 0.0);
    }
}
