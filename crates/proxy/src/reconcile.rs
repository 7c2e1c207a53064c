//! Dynamic configuration: from domain events to applies, with no manual redeploys.
//!
//! - Every replica's event relay hands `domain.changed` and
//!   `domain_group.changed` events (with the affected server ids) to
//!   [`DomainEvents`], which forwards them to the debouncer.
//! - The debouncer waits until a server has been quiet for `debounce` (or
//!   edits kept coming for `max_delay`), then queues the work once across
//!   replicas: an apply job for one server, a rollout for several.
//! - A sweep compares every installed server's desired hash with its live one
//!   at `reconcile_interval`, which catches events missed while no replica
//!   ran, and queues the recovery of applies left in flight by a crash.
//! - A drift loop reads back file hashes at `drift_interval`.
//! - `server.status_changed` → `ok` installs the proxy on servers whose
//!   `proxy_auto_install` parameter is set.

use crate::error::ProxyError;
use crate::model::*;
use crate::service::{APPLY_JOB, ProxyService, ROLLOUT_JOB};
use crate::store::rollout;
use chrono::Utc;
use gantry_core::audit::Actor;
use gantry_core::events::{Event, EventHandler};
use gantry_core::jobs::NewJob;
use gantry_core::user::Role;
use sea_orm::ActiveValue::Set;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// What the event handler tells the reconciler.
#[derive(Debug)]
pub enum Signal {
    /// These servers' desired configuration changed.
    Changed(Vec<i64>),
    /// This server became reachable.
    ServerUp(i64),
}

/// Forwards domain and server events to the reconciler (never blocks the relay).
pub struct DomainEvents(pub mpsc::UnboundedSender<Signal>);

impl EventHandler for DomainEvents {
    fn handle(&self, e: &Event) {
        match e.kind.as_str() {
            "domain.changed" | "domain_group.changed" => {
                let ids: Vec<i64> = e.payload["server_ids"]
                    .as_array()
                    .map(|a| a.iter().filter_map(serde_json::Value::as_i64).collect())
                    .unwrap_or_default();
                if !ids.is_empty() {
                    let _ = self.0.send(Signal::Changed(ids));
                }
            }
            "server.status_changed" if e.payload["to"] == "ok" => {
                if let Some(id) = e.payload["server_id"].as_i64() {
                    let _ = self.0.send(Signal::ServerUp(id));
                }
            }
            _ => {}
        }
    }
}

impl ProxyService {
    /// Queues dynamic-reconciliation work for these servers (once across replicas).
    pub async fn reconcile(&self, server_ids: &[i64]) -> Result<(), ProxyError> {
        if server_ids.is_empty() {
            return Ok(());
        }
        let apply = |id: i64| {
            let mut j = NewJob::new(APPLY_JOB, json!({"server_id": id, "trigger": Trigger::Auto.as_str(), "actor": "system:proxy"}));
            j.audience = Role::Viewer;
            j
        };
        let row = rollout::ActiveModel {
            status: Set(RolloutStatus::Running.as_str().into()),
            reason: Set(Some("domain changes on several servers".into())),
            trigger: Set(Trigger::Auto.as_str().into()),
            actor: Set("system:proxy".into()),
            max_parallel: Set(i32::try_from(self.settings.rollout_parallel).unwrap_or(4)),
            max_failures: Set(i32::try_from(self.settings.rollout_max_failures).unwrap_or(0)),
            job_id: Set(None),
            created_at: Set(Utc::now()),
            finished_at: Set(None),
            ..Default::default()
        };
        let mut rollout_job = NewJob::new(ROLLOUT_JOB, json!({}));
        rollout_job.audience = Role::Viewer;
        if self.repo.enqueue_auto(server_ids, self.settings.lease * 2, apply, row, rollout_job).await?.is_some() {
            self.waker.wake();
            self.bus.notify_written();
        }
        Ok(())
    }

    /// One sweep: queue every installed server whose live hash is not what dynamic reconciliation wants,
    /// and every server with an apply left in flight by a stopped worker.
    pub async fn sweep(&self) -> Result<usize, ProxyError> {
        let now = Utc::now();
        let mut due = Vec::new();
        for row in self.repo.all().await? {
            if !row.installed {
                continue;
            }
            if row.inflight_generation_id.is_some() {
                if row.lease_until.is_none_or(|t| t < now) {
                    due.push(row.server_id);
                }
                continue;
            }
            let Ok(info) = Self::install_info(&row) else { continue };
            let Ok(view) = self.server_view(row.server_id).await else { continue };
            let settings = Self::render_settings(&info, &view);
            let live = self.live(&row).await?;
            let (auto, _) = match self.desired(row.server_id, &settings, live.as_ref(), true).await {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(server_id = row.server_id, error = %e, "cannot render the desired configuration");
                    continue;
                }
            };
            if row.hold_hash.as_deref() == Some(auto.hash.as_str()) {
                // Rolled back by an operator, and nothing changed since.
                continue;
            }
            if row.live_hash.as_deref() != Some(auto.hash.as_str()) && !self.settings.auto_apply {
                if ProxyStatus::parse(&row.status) == Some(ProxyStatus::InSync) {
                    let msg = "changes wait for an operator: dynamic reconciliation is off (proxy.auto_apply)".to_string();
                    self.set_state(&row, ProxyStatus::Pending, Some(msg), Default::default(), Default::default()).await?;
                }
                continue;
            }
            if row.live_hash.as_deref() != Some(auto.hash.as_str()) {
                let newest = self.repo.generations(row.server_id, None, 1).await?;
                let failed_before = newest.first().is_some_and(|g| crate::apply::failed_on_config(g, &auto.hash));
                if !failed_before && self.missed(row.server_id, &auto.hash) {
                    due.push(row.server_id);
                }
                continue;
            }
            self.settled_in_sweep(row.server_id);
            // Live equals what may go live by itself; anything else waits for approval.
            let status = ProxyStatus::parse(&row.status);
            if status == Some(ProxyStatus::InSync) {
                let (full, held) = self.desired(row.server_id, &settings, live.as_ref(), false).await?;
                if full.hash != auto.hash {
                    let msg = format!("changes in {} wait for approval; see the plan", held.join(", "));
                    self.set_state(&row, ProxyStatus::Pending, Some(msg), Default::default(), Default::default()).await?;
                }
            }
        }
        let n = due.len();
        self.reconcile(&due).await?;
        Ok(n)
    }

    /// Whether a difference between live and desired has outlived the debounce:
    /// the sweep is for changes whose events nobody handled, and must not cut
    /// into an editing burst the debouncer is still collecting (that would
    /// turn one reload into two).
    fn missed(&self, server_id: i64, hash: &str) -> bool {
        let Ok(mut seen) = self.sweep_seen.lock() else { return true };
        let now = Instant::now();
        let first = match seen.get(&server_id) {
            Some((h, t)) if h == hash => *t,
            _ => {
                seen.insert(server_id, (hash.to_string(), now));
                now
            }
        };
        now.duration_since(first) >= self.settings.max_delay + self.settings.debounce
    }

    fn settled_in_sweep(&self, server_id: i64) {
        if let Ok(mut seen) = self.sweep_seen.lock() {
            seen.remove(&server_id);
        }
    }

    /// Installs the proxy on a server that just became reachable, if its parameters ask for it.
    pub async fn auto_install(&self, server_id: i64) -> Result<(), ProxyError> {
        let view = self.server_view(server_id).await?;
        if !view.auto_install {
            return Ok(());
        }
        self.repo.ensure(server_id).await?;
        if self.repo.claim_install(server_id).await? {
            self.bus.notify_written();
            self.start_install(server_id, &Actor::system("proxy auto-install")).await?;
        }
        Ok(())
    }

    /// Checks drift on every installed server (bounded parallelism; busy servers are skipped).
    pub async fn drift_sweep(self: &Arc<Self>) -> Result<(), ProxyError> {
        let ids: Vec<i64> =
            self.repo.all().await?.into_iter().filter(|r| r.installed && r.inflight_generation_id.is_none()).map(|r| r.server_id).collect();
        let limit = Arc::new(tokio::sync::Semaphore::new(8));
        let mut tasks = tokio::task::JoinSet::new();
        for id in ids {
            let (svc, limit) = (self.clone(), limit.clone());
            tasks.spawn(async move {
                let Ok(_p) = limit.acquire_owned().await else { return };
                match svc.check_drift(id).await {
                    Ok(_) | Err(ProxyError::Busy) => {}
                    Err(e) => tracing::debug!(server_id = id, error = %e, "drift check skipped"),
                }
            });
        }
        while tasks.join_next().await.is_some() {}
        Ok(())
    }
}

/// The debouncer: coalesces bursts of changes per server into one reconcile.
pub async fn debounce_loop(svc: Arc<ProxyService>, mut rx: mpsc::UnboundedReceiver<Signal>, stop: CancellationToken) {
    // server → (first change in this burst, latest change)
    let mut pending: HashMap<i64, (Instant, Instant)> = HashMap::new();
    loop {
        let (debounce, max_delay) = (svc.settings.debounce, svc.settings.max_delay);
        let next = pending.values().map(|(first, last)| (*last + debounce).min(*first + max_delay)).min();
        let sleep = next.map(|t| t.saturating_duration_since(Instant::now())).unwrap_or(Duration::from_secs(3600));
        tokio::select! {
            _ = stop.cancelled() => return,
            sig = rx.recv() => match sig {
                None => return,
                Some(Signal::Changed(ids)) if !svc.settings.auto_apply => {
                    // Nothing goes live by itself; the sweep marks the servers pending.
                    let _ = ids;
                    continue;
                }
                Some(Signal::Changed(ids)) => {
                    let now = Instant::now();
                    for id in ids {
                        pending.entry(id).and_modify(|e| e.1 = now).or_insert((now, now));
                    }
                    continue;
                }
                Some(Signal::ServerUp(id)) => {
                    let s = svc.clone();
                    tokio::spawn(async move {
                        if let Err(e) = s.auto_install(id).await {
                            tracing::warn!(server_id = id, error = %e, "cannot start the automatic proxy install");
                        }
                    });
                    continue;
                }
            },
            _ = tokio::time::sleep(sleep) => {}
        }
        let now = Instant::now();
        let due: Vec<i64> =
            pending.iter().filter(|(_, (first, last))| now >= *last + debounce || now >= *first + max_delay).map(|(id, _)| *id).collect();
        for id in &due {
            pending.remove(id);
        }
        if let Err(e) = svc.reconcile(&due).await {
            tracing::warn!(error = %e, servers = ?due, "cannot queue reconciliation; the sweep retries");
        }
    }
}

/// Runs `f` every `every` (first run after `first`), until stopped.
pub async fn every<F, Fut>(first: Duration, every: Duration, stop: CancellationToken, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut wait = first;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        f().await;
        wait = every;
    }
}
