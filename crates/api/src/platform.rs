//! The platform itself, mounted through the same module contract as every
//! feature: its routes, the self-check job, housekeeping workers, cache
//! invalidation, and the scrape-time metrics.

use crate::module::{Module, Mount, MountError, Worker};
use crate::routes;
use crate::state::{AppState, LogControl, Platform};
use async_trait::async_trait;
use chrono::Utc;
use gantry_core::auth::CacheInvalidator;
use gantry_core::eventlog::RECORDED_KIND;
use gantry_core::events::{Event, EventHandler};
use gantry_core::jobs::{JobContext, JobError, JobHandler, JobStatus};
use gantry_core::metrics::{Counter, Gauge};
use gantry_store::ModuleMigration;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use utoipa_axum::router::OpenApiRouter;

/// The platform module.
pub struct PlatformModule {
    /// How long outbox events are kept.
    pub event_retention: Duration,
    /// How long event-log entries are kept.
    pub event_log_retention: Duration,
}

impl Module for PlatformModule {
    fn name(&self) -> &'static str {
        "platform"
    }

    fn migrations(&self) -> Vec<ModuleMigration> {
        gantry_store::migrate::platform()
    }

    fn routes(&self) -> OpenApiRouter<AppState> {
        routes::auth::router()
            .merge(routes::users::router())
            .merge(routes::tokens::router())
            .merge(routes::audit::router())
            .merge(routes::jobs::router())
            .merge(routes::events::router())
            .merge(routes::system::router())
            .merge(routes::eventlog::router())
    }

    fn mount(&self, p: &Arc<Platform>) -> Result<Mount, MountError> {
        register_metrics(p);
        let queue_depth =
            p.metrics.gauge("gantry_jobs", "Jobs in the queue by kind and status (queued, running, failed).", &["kind", "status"]);
        let oldest = p.metrics.gauge(
            "gantry_job_queue_oldest_age_seconds",
            "Age of the oldest queued job that is due, in seconds (0 when none waits).",
            &[],
        );
        let recorded = p.metrics.counter(
            "gantry_events_total",
            "Event-log entries recorded by any replica, by module and severity (every replica counts every entry).",
            &["module", "severity"],
        );
        let workers: Vec<(&'static str, Worker)> = vec![
            ("housekeeping", housekeeping(p.clone(), self.event_retention, self.event_log_retention)),
            ("job-metrics", job_metrics(p.clone(), queue_depth, oldest)),
        ];
        let mut event_handlers: Vec<Arc<dyn EventHandler>> =
            vec![Arc::new(CacheInvalidator(p.auth.clone())), Arc::new(EventLogCounter(recorded))];
        if let Some(c) = &p.log_control {
            event_handlers.push(Arc::new(LogLevelApplier(c.clone())));
        }
        Ok(Mount { jobs: vec![Arc::new(SelfCheck(p.clone()))], workers, event_handlers })
    }
}

fn register_metrics(p: &Arc<Platform>) {
    let backend = p.db.backend.as_str();
    p.metrics.collect("gantry_build_info", "Build information; always 1.", &["version", "database"], "gauge", move || {
        vec![(vec![env!("CARGO_PKG_VERSION").into(), backend.into()], 1.0)]
    });
    let db = p.db.clone();
    p.metrics.collect("gantry_db_pool_connections", "Database pool connections by state.", &["state"], "gauge", move || {
        let s = db.pool_stats();
        vec![(vec!["idle".into()], f64::from(s.idle)), (vec!["in_use".into()], f64::from(s.size.saturating_sub(s.idle)))]
    });
    let db = p.db.clone();
    p.metrics.collect("gantry_db_pool_max_connections", "Configured maximum of the database pool.", &[], "gauge", move || {
        vec![(vec![], f64::from(db.pool_stats().max))]
    });
    let ready = p.ready.clone();
    p.metrics.collect("gantry_ready", "1 when this replica is ready to serve.", &[], "gauge", move || {
        vec![(vec![], if ready.load(std::sync::atomic::Ordering::Relaxed) { 1.0 } else { 0.0 })]
    });
    p.metrics.collect("process_resident_memory_bytes", "Resident memory size in bytes.", &[], "gauge", || {
        resident_bytes().map(|b| vec![(vec![], b)]).unwrap_or_default()
    });
    let start = Utc::now().timestamp() as f64;
    p.metrics.collect(
        "process_start_time_seconds",
        "Start time of the process since the Unix epoch in seconds.",
        &[],
        "gauge",
        move || vec![(vec![], start)],
    );
}

/// Resident set size from `/proc/self/statm` (Linux).
pub fn resident_bytes() -> Option<f64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: f64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096.0)
}

/// Counts event-log entries as the relay delivers their announcements.
struct EventLogCounter(Counter);

impl EventHandler for EventLogCounter {
    fn handle(&self, event: &Event) {
        if event.kind == RECORDED_KIND {
            let field = |k: &str| event.payload.get(k).and_then(|v| v.as_str()).unwrap_or("unknown").to_string();
            self.0.inc(&[&field("module"), &field("severity")]);
        }
    }
}

/// Applies a log-level change made on any replica.
struct LogLevelApplier(Arc<dyn LogControl>);

impl EventHandler for LogLevelApplier {
    fn handle(&self, event: &Event) {
        if event.kind != routes::system::LOG_LEVEL_KIND {
            return;
        }
        if let Some(level) = event.payload.get("level").and_then(|v| v.as_str())
            && self.0.current() != level
        {
            match self.0.set(level) {
                Ok(()) => tracing::info!(level, "log level changed"),
                Err(e) => tracing::warn!(error = %e, "cannot apply the log level another replica set"),
            }
        }
    }
}

/// Prunes expired sessions, old outbox events and old event-log entries, hourly.
fn housekeeping(p: Arc<Platform>, retention: Duration, log_retention: Duration) -> Worker {
    Box::new(move |stop: CancellationToken| {
        Box::pin(async move {
            loop {
                let now = Utc::now();
                let idle = chrono::Duration::from_std(p.auth.settings().session_idle).unwrap_or_default();
                match p.repos.sessions.prune(now, now - idle).await {
                    Ok(n) if n > 0 => tracing::info!(removed = n, "pruned expired sessions"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "cannot prune sessions"),
                }
                let keep = chrono::Duration::from_std(retention).unwrap_or_else(|_| chrono::Duration::days(30));
                match p.repos.events.prune(now - keep).await {
                    Ok(n) if n > 0 => tracing::info!(removed = n, "pruned old events"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "cannot prune events"),
                }
                let keep = chrono::Duration::from_std(log_retention).unwrap_or_else(|_| chrono::Duration::days(30));
                match p.repos.events.prune_records(now - keep).await {
                    Ok(n) if n > 0 => tracing::info!(removed = n, "pruned old event-log entries"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "cannot prune the event log"),
                }
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
                }
            }
        })
    })
}

/// Refreshes the job-queue gauges every 15 s (scrapes must not query the database).
fn job_metrics(p: Arc<Platform>, gauge: Gauge, oldest: Gauge) -> Worker {
    Box::new(move |stop: CancellationToken| {
        Box::pin(async move {
            let mut seen: Vec<(String, String)> = Vec::new();
            loop {
                if let Ok(counts) = p.repos.jobs.counts().await {
                    for (k, s) in seen.drain(..) {
                        gauge.remove(&[&k, &s]);
                    }
                    for (kind, status, n) in counts {
                        if matches!(status, JobStatus::Queued | JobStatus::Running | JobStatus::Failed) {
                            gauge.set(&[&kind, status.as_str()], n as f64);
                            seen.push((kind, status.as_str().to_string()));
                        }
                    }
                }
                if let Ok(due) = p.repos.jobs.oldest_due().await {
                    let age = due.map(|d| (Utc::now() - d).num_milliseconds().max(0) as f64 / 1000.0).unwrap_or(0.0);
                    oldest.set(&[], age);
                }
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(15)) => {}
                }
            }
        })
    })
}

/// `system.selfcheck`: checks each part of the platform and reports it as a step.
struct SelfCheck(Arc<Platform>);

#[async_trait]
impl JobHandler for SelfCheck {
    fn kind(&self) -> &'static str {
        crate::routes::system::SELFCHECK
    }

    async fn run(&self, ctx: JobContext) -> Result<Value, JobError> {
        let p = &self.0;
        let mut report = serde_json::Map::new();

        let t = std::time::Instant::now();
        if !p.db.ping().await {
            return Err(JobError::Permanent("database: not reachable".into()));
        }
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        report.insert("database".into(), json!({"ok": true, "backend": p.db.backend.as_str(), "latency_ms": ms}));
        ctx.progress(20, &format!("database reachable ({}, {ms:.1} ms)", p.db.backend.as_str())).await;

        report.insert("migrations".into(), json!({"ok": true, "known": p.known_migrations.len()}));
        ctx.progress(40, &format!("{} migrations known and applied", p.known_migrations.len())).await;

        let probe = p.data_dir.join(format!(".selfcheck-{}", ctx.job.id));
        let writable = tokio::fs::write(&probe, b"ok").await.is_ok();
        let _ = tokio::fs::remove_file(&probe).await;
        if !writable {
            return Err(JobError::Permanent(format!("data directory {} is not writable", p.data_dir.display())));
        }
        report.insert("data_dir".into(), json!({"ok": true, "path": p.data_dir.display().to_string()}));
        ctx.progress(60, "data directory writable").await;

        let roundtrip = p
            .keyring
            .encrypt("selfcheck", b"probe")
            .and_then(|c| p.keyring.decrypt("selfcheck", &c))
            .map(|v| secrecy::ExposeSecret::expose_secret(&v).as_slice() == b"probe")
            .unwrap_or(false);
        if !roundtrip {
            return Err(JobError::Permanent("master key: encrypt/decrypt round trip failed".into()));
        }
        report.insert("master_key".into(), json!({"ok": true, "key_id": p.keyring.active_id()}));
        ctx.progress(80, &format!("master key {} works", p.keyring.active_id())).await;

        let counts = p.repos.jobs.counts().await.map_err(|e| JobError::Transient(e.to_string()))?;
        let failed: u64 = counts.iter().filter(|c| c.1 == JobStatus::Failed).map(|c| c.2).sum();
        let queued: u64 = counts.iter().filter(|c| c.1 == JobStatus::Queued).map(|c| c.2).sum();
        report.insert("jobs".into(), json!({"ok": true, "queued": queued, "failed": failed}));
        ctx.progress(95, &format!("job queue: {queued} queued, {failed} failed")).await;

        Ok(Value::Object(report))
    }
}
