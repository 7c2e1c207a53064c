//! Durable background jobs: the contract modules implement and the runner
//! that executes them.
//!
//! Jobs live in one database table. A replica *claims* a job by taking a
//! lease (owner + expiry) in a single atomic statement sequence
//! (`FOR UPDATE SKIP LOCKED` on PostgreSQL and MariaDB, a single writer on
//! SQLite), renews the lease while the handler runs, and records the outcome
//! only if it still holds the lease. A replica that crashes simply stops
//! renewing; once the lease expires another replica claims the job again,
//! counting it as a new attempt. Failures are retried with exponential
//! backoff up to `max_attempts`.

use crate::events::{DomainEvent, EventBus, JobUpdated};
use crate::ids::{JobId, UserId};
use crate::repo::{EventRepo, JobRepo};
use crate::user::Role;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Most log lines kept per job; older lines are dropped first.
pub const MAX_LOG_LINES: usize = 200;
/// Longest kept log line, in characters.
pub const MAX_LOG_LINE: usize = 1000;

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Waiting to be claimed (possibly not before `run_after`).
    Queued,
    /// Claimed by a replica that holds its lease.
    Running,
    /// Finished successfully.
    Succeeded,
    /// Failed after its last attempt.
    Failed,
    /// Cancelled by a user before it finished.
    Cancelled,
}

impl JobStatus {
    /// Stable database string.
    pub fn as_str(&self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
        }
    }

    /// Parses the database string.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "queued" => JobStatus::Queued,
            "running" => JobStatus::Running,
            "succeeded" => JobStatus::Succeeded,
            "failed" => JobStatus::Failed,
            "cancelled" => JobStatus::Cancelled,
            _ => return None,
        })
    }

    /// Whether the job will not change any more.
    pub fn is_final(&self) -> bool {
        matches!(self, JobStatus::Succeeded | JobStatus::Failed | JobStatus::Cancelled)
    }
}

/// One line of a job's bounded log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LogLine {
    /// When it was written.
    pub at: DateTime<Utc>,
    /// `info`, `warn` or `error`.
    pub level: String,
    /// The text, at most [`MAX_LOG_LINE`] characters.
    pub message: String,
}

impl LogLine {
    /// A line stamped now, truncated to the bound.
    pub fn new(level: &str, message: &str) -> Self {
        let message: String = message.chars().take(MAX_LOG_LINE).collect();
        Self { at: Utc::now(), level: level.into(), message }
    }
}

/// A job to enqueue.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// Which handler runs it, e.g. `system.selfcheck`.
    pub kind: String,
    /// Handler input.
    pub payload: Value,
    /// Attempts before giving up (at least 1).
    pub max_attempts: i32,
    /// Not before this time.
    pub run_after: Option<DateTime<Utc>>,
    /// Who asked for it.
    pub created_by: Option<UserId>,
    /// Lowest role that sees its progress events.
    pub audience: Role,
}

impl NewJob {
    /// A job of `kind` with `payload`, three attempts, visible to viewers.
    pub fn new(kind: &str, payload: Value) -> Self {
        Self { kind: kind.into(), payload, max_attempts: 3, run_after: None, created_by: None, audience: Role::Viewer }
    }
}

/// A stored job.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Job {
    /// Id.
    #[schema(value_type = i64)]
    pub id: JobId,
    /// Handler kind.
    pub kind: String,
    /// Status.
    pub status: JobStatus,
    /// Handler input.
    pub payload: Value,
    /// Attempts started so far.
    pub attempts: i32,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// 0–100.
    pub progress: i32,
    /// Latest progress message.
    pub message: Option<String>,
    /// The last lines the handler logged.
    pub log: Vec<LogLine>,
    /// Handler output on success.
    pub result: Option<Value>,
    /// Why the last attempt failed.
    pub error: Option<String>,
    /// Who asked for it.
    #[schema(value_type = Option<i64>)]
    pub created_by: Option<UserId>,
    /// Lowest role that may see it.
    pub audience: Role,
    /// Replica holding the lease while running.
    pub lease_owner: Option<String>,
    /// When the lease runs out.
    pub lease_expires_at: Option<DateTime<Utc>>,
    /// Not before this time.
    pub run_after: DateTime<Utc>,
    /// Enqueued at.
    pub created_at: DateTime<Utc>,
    /// Last attempt started at.
    pub started_at: Option<DateTime<Utc>>,
    /// Finished at.
    pub finished_at: Option<DateTime<Utc>>,
}

/// How an attempt ended, as recorded by the runner.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Success, with the handler's result.
    Succeeded(Value),
    /// Failure to retry at the given time.
    Retry {
        /// Error text.
        error: String,
        /// When to try again.
        at: DateTime<Utc>,
    },
    /// Final failure.
    Failed(String),
}

/// Filters for listing jobs.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    /// Only these statuses.
    pub status: Option<JobStatus>,
    /// Only this kind.
    pub kind: Option<String>,
    /// Only jobs whose audience this role includes.
    pub visible_to: Option<Role>,
}

/// A handler failed; the runner decides about retries from the variant.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Worth retrying (timeouts, unreachable peers).
    #[error("{0}")]
    Transient(String),
    /// Retrying will not help (bad input, refused by the remote side).
    #[error("{0}")]
    Permanent(String),
    /// The job was cancelled or the replica is shutting down.
    #[error("cancelled")]
    Cancelled,
}

/// Progress reporting and cancellation for a running handler.
#[derive(Clone)]
pub struct JobContext {
    /// The job as claimed.
    pub job: Job,
    /// Cancelled on shutdown or when the lease is lost.
    pub cancel: CancellationToken,
    owner: String,
    repo: Arc<dyn JobRepo>,
    events: Arc<dyn EventRepo>,
    bus: EventBus,
}

impl JobContext {
    /// Reports progress (0–100) with a message that is also appended to the job log.
    pub async fn progress(&self, percent: i32, message: &str) {
        let percent = percent.clamp(0, 100);
        tracing::debug!(percent, message, "job progress");
        let line = LogLine::new("info", message);
        match self.repo.progress(self.job.id, &self.owner, percent, Some(message), Some(line)).await {
            Ok(true) => {}
            Ok(false) => self.cancel.cancel(),
            Err(e) => {
                tracing::warn!(job_id = %self.job.id, error = %e, "cannot record job progress")
            }
        }
        self.announce(JobStatus::Running, percent, Some(message.to_string())).await;
    }

    /// Writes an event-log entry linked to this job.
    pub async fn record(&self, record: crate::eventlog::Record) {
        match self.events.record(record.job(Some(self.job.id))).await {
            Ok(_) => self.bus.notify_written(),
            Err(e) => tracing::warn!(job_id = %self.job.id, error = %e, "cannot write to the event log"),
        }
    }

    /// Appends a line to the job log without changing progress.
    pub async fn log(&self, level: &str, message: &str) {
        if let Err(e) = self.repo.append_log(self.job.id, &self.owner, LogLine::new(level, message)).await {
            tracing::warn!(job_id = %self.job.id, error = %e, "cannot append to job log");
        }
    }

    async fn announce(&self, status: JobStatus, progress: i32, message: Option<String>) {
        announce(&self.events, &self.bus, &self.job, status, progress, message).await;
    }
}

async fn announce(events: &Arc<dyn EventRepo>, bus: &EventBus, job: &Job, status: JobStatus, progress: i32, message: Option<String>) {
    let ev = JobUpdated { job_id: job.id, kind: job.kind.clone(), status, progress, message, audience: job.audience };
    let mut draft = ev.draft();
    if status == JobStatus::Failed {
        draft.record = Some(failure_record(job));
    }
    match events.append(draft).await {
        Ok(_) => bus.notify_written(),
        Err(e) => tracing::warn!(job_id = %job.id, error = %e, "cannot write job event"),
    }
}

/// The module a job kind belongs to, for the event log.
pub fn module_of(kind: &str) -> &'static str {
    match kind.split('.').next().unwrap_or("") {
        "servers" => "servers",
        "proxy" => "proxy",
        "tls" => "tls",
        "pve" => "pve",
        "tasks" => "tasks",
        "monitoring" => "monitoring",
        "system" => "platform",
        _ => "jobs",
    }
}

/// The event-log entry of a job that failed for good.
fn failure_record(job: &Job) -> crate::eventlog::Record {
    let why = job.error.as_deref().unwrap_or("no reason recorded");
    crate::eventlog::Record::new(
        crate::eventlog::Severity::Error,
        module_of(&job.kind),
        "job.failed",
        format!("Job {} #{} failed after {} attempt(s): {why}", job.kind, job.id, job.attempts),
    )
    .entity("job", job.id, Some(&job.kind))
    .job(Some(job.id))
    .details(serde_json::json!({ "kind": job.kind, "attempts": job.attempts, "error": why }))
    .audience(job.audience)
}

/// Code that performs one kind of job.
#[async_trait]
pub trait JobHandler: Send + Sync {
    /// The kind this handler runs.
    fn kind(&self) -> &'static str;
    /// Runs one attempt. Long handlers should check `ctx.cancel` between steps.
    async fn run(&self, ctx: JobContext) -> Result<Value, JobError>;
}

/// Tuning for the runner.
#[derive(Debug, Clone)]
pub struct RunnerSettings {
    /// This replica's lease-owner name (hostname + random suffix).
    pub owner: String,
    /// Jobs run at once on this replica.
    pub concurrency: usize,
    /// How long a lease lasts before another replica may take the job over.
    pub lease: Duration,
    /// How often to look for work when idle.
    pub poll: Duration,
    /// First retry delay; doubles per attempt.
    pub backoff_base: Duration,
    /// Longest retry delay.
    pub backoff_max: Duration,
    /// How long shutdown waits for running jobs before cancelling them.
    pub drain: Duration,
}

/// Claims and runs jobs until shut down.
pub struct Runner {
    repo: Arc<dyn JobRepo>,
    events: Arc<dyn EventRepo>,
    bus: EventBus,
    handlers: HashMap<String, Arc<dyn JobHandler>>,
    settings: RunnerSettings,
    wake: Arc<tokio::sync::Notify>,
    runs: crate::metrics::Counter,
    durations: crate::metrics::Histogram,
}

/// A handle that lets request handlers wake the runner right after enqueueing.
#[derive(Clone, Default)]
pub struct Waker(Arc<tokio::sync::Notify>);

impl Waker {
    /// Tells the local runner there is work.
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

impl Runner {
    /// Builds a runner for the given handlers.
    pub fn new(
        repo: Arc<dyn JobRepo>,
        events: Arc<dyn EventRepo>,
        bus: EventBus,
        handlers: Vec<Arc<dyn JobHandler>>,
        settings: RunnerSettings,
        waker: &Waker,
        metrics: &crate::metrics::Registry,
    ) -> Self {
        let handlers = handlers.into_iter().map(|h| (h.kind().to_string(), h)).collect();
        let runs = metrics.counter(
            "gantry_job_attempts_total",
            "Job attempts finished on this replica, by kind and outcome.",
            &["kind", "outcome"],
        );
        let durations = metrics.histogram(
            "gantry_job_duration_seconds",
            "Duration of job attempts on this replica.",
            &["kind"],
            crate::metrics::DURATION_BUCKETS,
        );
        Self { repo, events, bus, handlers, settings, wake: waker.0.clone(), runs, durations }
    }

    /// The delay before retry number `attempt` (1-based), with ±20 % jitter.
    pub fn backoff(&self, attempt: i32) -> Duration {
        let exp = u32::try_from(attempt.saturating_sub(1).clamp(0, 20)).unwrap_or(0);
        let base = self.settings.backoff_base.saturating_mul(2u32.saturating_pow(exp));
        let capped = base.min(self.settings.backoff_max);
        let jitter = crate::tokens::random_bytes::<1>().map(|b| f64::from(b[0]) / 255.0).unwrap_or(0.5);
        capped.mul_f64(0.8 + 0.4 * jitter)
    }

    /// Runs until `shutdown` is cancelled, then drains running jobs.
    pub async fn run(self, shutdown: CancellationToken) {
        let this = Arc::new(self);
        let kinds: Vec<String> = this.handlers.keys().cloned().collect();
        let slots = Arc::new(Semaphore::new(this.settings.concurrency.max(1)));
        let tracker = TaskTracker::new();
        // Cancelling this stops running handlers once the drain period is over.
        let hard_stop = CancellationToken::new();
        while !shutdown.is_cancelled() {
            let permit = tokio::select! {
                _ = shutdown.cancelled() => break,
                p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            };
            match this.repo.claim(&this.settings.owner, &kinds, this.settings.lease).await {
                Ok(Some(job)) => {
                    let runner = this.clone();
                    let cancel = hard_stop.child_token();
                    tracker.spawn(async move {
                        runner.execute(job, cancel).await;
                        drop(permit);
                    });
                }
                Ok(None) => {
                    drop(permit);
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = this.wake.notified() => {}
                        _ = tokio::time::sleep(this.settings.poll) => {}
                    }
                }
                Err(e) => {
                    drop(permit);
                    tracing::warn!(error = %e, "cannot claim jobs");
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(this.settings.poll * 2) => {}
                    }
                }
            }
        }
        tracker.close();
        if tokio::time::timeout(this.settings.drain, tracker.wait()).await.is_err() {
            tracing::warn!(
                "jobs still running after the drain period; cancelling them (their leases will expire and another replica retries them)"
            );
            hard_stop.cancel();
            tracker.wait().await;
        }
    }

    #[tracing::instrument(name = "job", skip_all, fields(job_id = %job.id, kind = %job.kind, attempt = job.attempts))]
    async fn execute(&self, job: Job, cancel: CancellationToken) {
        let Some(handler) = self.handlers.get(&job.kind).cloned() else {
            // claim() only returns kinds we handle; this is a safety net.
            let _ = self.repo.finish(job.id, &self.settings.owner, Outcome::Failed("no handler for this job kind".into())).await;
            return;
        };
        tracing::info!("job started");
        announce(&self.events, &self.bus, &job, JobStatus::Running, job.progress, None).await;
        let ctx = JobContext {
            job: job.clone(),
            cancel: cancel.clone(),
            owner: self.settings.owner.clone(),
            repo: self.repo.clone(),
            events: self.events.clone(),
            bus: self.bus.clone(),
        };
        // Renew the lease at a third of its length while the handler runs.
        let heartbeat = {
            let repo = self.repo.clone();
            let owner = self.settings.owner.clone();
            let lease = self.settings.lease;
            let cancel = cancel.clone();
            let id = job.id;
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = cancel.cancelled() => return,
                        _ = tokio::time::sleep(lease / 3) => {}
                    }
                    match repo.renew(id, &owner, lease).await {
                        Ok(true) => {}
                        Ok(false) => {
                            tracing::warn!(job_id = %id, "lease lost; stopping the job here");
                            cancel.cancel();
                            return;
                        }
                        Err(e) => tracing::warn!(job_id = %id, error = %e, "cannot renew lease"),
                    }
                }
            })
        };
        let started = std::time::Instant::now();
        let result = tokio::select! {
            r = handler.run(ctx) => r,
            _ = cancel.cancelled() => Err(JobError::Cancelled),
        };
        heartbeat.abort();
        let outcome_label = match &result {
            Ok(_) => "succeeded",
            Err(JobError::Cancelled) => "interrupted",
            Err(JobError::Permanent(_)) => "failed",
            Err(JobError::Transient(_)) => "error",
        };
        self.runs.inc(&[&job.kind, outcome_label]);
        self.durations.observe(&[&job.kind], started.elapsed().as_secs_f64());
        let outcome = match result {
            Ok(value) => Outcome::Succeeded(value),
            Err(JobError::Cancelled) => {
                // Leave the job to be re-claimed after its lease expires.
                tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, "job interrupted");
                return;
            }
            Err(JobError::Permanent(e)) => Outcome::Failed(e),
            Err(JobError::Transient(e)) if job.attempts < job.max_attempts => {
                let delay = chrono::Duration::from_std(self.backoff(job.attempts)).unwrap_or_default();
                Outcome::Retry { error: e, at: Utc::now() + delay }
            }
            Err(JobError::Transient(e)) => Outcome::Failed(e),
        };
        match self.repo.finish(job.id, &self.settings.owner, outcome).await {
            Ok(Some(done)) => {
                tracing::info!(status = done.status.as_str(), elapsed_ms = started.elapsed().as_millis() as u64, "job attempt ended");
                announce(&self.events, &self.bus, &done, done.status, done.progress, done.message.clone()).await;
            }
            Ok(None) => tracing::warn!("lease lost before the outcome was recorded; another replica owns the job"),
            Err(e) => tracing::error!(error = %e, "cannot record job outcome"),
        }
    }
}
