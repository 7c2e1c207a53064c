//! The atomic apply: render → stage + `nginx -t` → switch + reload → verify,
//! with rollback to the previous generation on any failure after the switch,
//! and recovery of an apply that a crashed worker left in flight.
//!
//! A generation row is written before anything touches the server and is
//! marked in flight on the server's row; its status follows the steps
//! (`staged` → `switching` → `live` | `failed` | `interrupted`). Whoever
//! takes the server's lease next and finds an in-flight generation first
//! makes the server consistent: if the live pointer names the new generation
//! and nginx serves it, the apply is completed; otherwise the previous
//! generation is switched back and verified.

use crate::error::ProxyError;
use crate::model::*;
use crate::plan;
use crate::remote::{Layout, Remote, RemoteError};
use crate::render::{self, DomainDigest, Rendered};
use crate::service::{ApplyOutcome, ApplyRequest, Lease, ProxyApplied, ProxyService, Source, parse, progress};
use crate::store::{GenerationHead, StateChanges, generation, state};
use chrono::Utc;
use gantry_core::events::DomainEvent;
use gantry_core::jobs::JobContext;
use gantry_core::repo::Trail;
use sea_orm::ActiveValue::Set;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Domains whose routing is checked through nginx after a switch, at most.
const MAX_DOMAIN_CHECKS: usize = 64;

/// What one generation is, loaded or rendered.
struct Target {
    files: BTreeMap<String, String>,
    domains: BTreeMap<i64, DomainDigest>,
    hash: String,
}

impl From<Rendered> for Target {
    fn from(r: Rendered) -> Self {
        Target { files: r.files, domains: r.domains, hash: r.hash }
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The name to send as `Host` for a domain (a wildcard needs a concrete label).
fn probe_host(name: &str) -> String {
    match name.strip_prefix("*.") {
        Some(rest) => format!("gantry-check.{rest}"),
        None => name.to_string(),
    }
}

impl ProxyService {
    /// Applies to one server under its lease (waiting for another worker if needed).
    pub async fn apply(&self, server_id: i64, req: ApplyRequest, ctx: Option<&JobContext>) -> Result<ApplyOutcome, ProxyError> {
        let lease = self.lease(server_id, self.settings.lease * 2).await?;
        let started = Instant::now();
        let r = self.apply_locked(server_id, &req, &lease, ctx).await;
        self.release(lease).await;
        let result = match &r {
            Ok(o) if o.unchanged => "unchanged",
            Ok(_) => "live",
            Err(ProxyError::Rejected { .. }) => "rejected",
            Err(ProxyError::RolledBack { .. }) => "rolled_back",
            Err(_) => "error",
        };
        self.metrics.applies.inc(&[req.trigger.as_str(), result]);
        self.metrics.apply_duration.observe(&[], started.elapsed().as_secs_f64());
        r
    }

    async fn apply_locked(
        &self,
        server_id: i64,
        req: &ApplyRequest,
        lease: &Lease,
        ctx: Option<&JobContext>,
    ) -> Result<ApplyOutcome, ProxyError> {
        let t0 = Instant::now();
        let mut row = self.repo.ensure(server_id).await?;
        let info = Self::install_info(&row)?;
        if let Some(inflight) = row.inflight_generation_id {
            progress(ctx, 5, &format!("recovering generation {inflight}, left in flight by an interrupted apply")).await;
            self.recover(&row, &info, lease).await?;
            row = self.repo.ensure(server_id).await?;
        }
        let view = self.server_view(server_id).await?;
        let settings = Self::render_settings(&info, &view);
        let live = self.live(&row).await?;
        // What dynamic reconciliation may apply (manual-approval groups held back) and the full
        // desired state; together they decide in_sync vs pending and which groups wait.
        let (auto, held) = self.desired(server_id, &settings, live.as_ref(), true).await?;
        let full = if held.is_empty() { auto.clone() } else { self.desired(server_id, &settings, live.as_ref(), false).await?.0 };
        let (target, rollback_of): (Target, Option<i64>) = match req.source {
            Source::Desired { hold_manual: true } => (auto.clone().into(), None),
            Source::Desired { hold_manual: false } => (full.clone().into(), None),
            Source::Generation(id) => {
                let g = self
                    .repo
                    .generation(id)
                    .await?
                    .filter(|g| g.server_id == server_id)
                    .ok_or(ProxyError::Invalid(format!("generation {id} does not belong to server {server_id}")))?;
                (Target { files: parse(&g.files, "files")?, domains: parse(&g.domains, "domains")?, hash: g.hash.clone() }, Some(g.id))
            }
        };
        if req.trigger == Trigger::Auto && row.hold_hash.as_deref() == Some(auto.hash.as_str()) {
            // An operator rolled back and nothing changed since: the rollback stays.
            return Ok(ApplyOutcome {
                generation_id: None,
                number: None,
                hash: row.live_hash.clone().unwrap_or_default(),
                changes: DomainChanges::default(),
                timings: Timings::default(),
                unchanged: true,
            });
        }
        let full_hash = full.hash.clone();
        let outcome_note = Note { held: held.clone(), rollback: rollback_of.is_some() };
        let (live_files, live_domains): (BTreeMap<String, String>, BTreeMap<i64, DomainDigest>) = match &live {
            Some(g) => (parse(&g.files, "files")?, parse(&g.domains, "domains")?),
            None => (BTreeMap::new(), BTreeMap::new()),
        };
        let render_ms = ms(t0.elapsed());
        if !req.force && row.live_hash.as_deref() == Some(target.hash.as_str()) {
            let (status, message) = settled(&target.hash, &full_hash, &outcome_note);
            // Nothing to apply says nothing about hand edits: a drifted server stays drifted until repaired.
            let current = ProxyStatus::parse(&row.status);
            if current != Some(ProxyStatus::Drifted) && (current != Some(status) || row.status_message != message) {
                self.set_state(&row, status, message, StateChanges::default(), Trail::default()).await?;
            }
            return Ok(ApplyOutcome {
                generation_id: None,
                number: None,
                hash: target.hash,
                changes: DomainChanges::default(),
                timings: Timings { render_ms, total_ms: ms(t0.elapsed()), ..Default::default() },
                unchanged: true,
            });
        }
        if req.trigger == Trigger::Auto && !req.force {
            // Dynamic reconciliation does not retry a configuration that already failed;
            // a new edit (a new hash) or an operator's apply does.
            let newest = self.repo.generations(server_id, None, 1).await?;
            if let Some(last) = newest.first().filter(|l| failed_on_config(l, &target.hash)) {
                return Err(ProxyError::Invalid(format!(
                    "this configuration already failed as generation {}; change the domains or apply it by hand",
                    last.number
                )));
            }
        }
        // Reach the server before recording anything: an unreachable server is a
        // retry later, not a failed generation.
        let (conn, sudo) = self.connect(server_id).await?;
        let changes = plan::domain_changes(&live_domains, &target.domains);
        let diff = plan::unified_diff(&live_files, &target.files);
        let from_status = ProxyStatus::parse(&row.status).unwrap_or(ProxyStatus::Pending);
        let g = self
            .repo
            .begin_generation(
                generation::ActiveModel {
                    server_id: Set(server_id),
                    number: Set(0),
                    hash: Set(target.hash.clone()),
                    files: Set(json_text(&target.files)?),
                    domains: Set(json_text(&target.domains)?),
                    diff: Set(diff),
                    changes: Set(json_text(&changes)?),
                    added: Set(i32::try_from(changes.added.len()).unwrap_or(i32::MAX)),
                    changed: Set(i32::try_from(changes.changed.len()).unwrap_or(i32::MAX)),
                    removed: Set(i32::try_from(changes.removed.len()).unwrap_or(i32::MAX)),
                    status: Set(GenerationStatus::Staged.as_str().into()),
                    trigger: Set(req.trigger.as_str().into()),
                    reason: Set(req.reason.clone()),
                    actor: Set(req.actor.chars().take(64).collect()),
                    rollback_of: Set(rollback_of),
                    rollout_id: Set(req.rollout_id),
                    job_id: Set(req.job_id),
                    previous_id: Set(live.as_ref().map(|l| l.id)),
                    error: Set(None),
                    nginx_output: Set(None),
                    timings: Set(json_text(&Timings::default())?),
                    created_at: Set(Utc::now()),
                    finished_at: Set(None),
                    ..Default::default()
                },
                Trail::default().with_event(
                    crate::service::ProxyStatusChanged { server_id, from: from_status, to: ProxyStatus::Applying, message: None }.draft(),
                ),
            )
            .await?;
        self.after_write(server_id, from_status, ProxyStatus::Applying);
        let mut timings = Timings { render_ms, ..Default::default() };
        let remote = self.remote(&conn, sudo);
        let r = self.push(&remote, &g, &target, &changes, live.as_ref(), &info, &view.listen, lease, ctx, &mut timings).await;
        timings.total_ms = ms(t0.elapsed());
        let row = self.repo.ensure(server_id).await?;
        match r {
            Ok(()) => {
                let mut am: generation::ActiveModel = g.clone().into();
                am.status = Set(GenerationStatus::Live.as_str().into());
                am.finished_at = Set(Some(Utc::now()));
                am.timings = Set(json_text(&timings)?);
                let (status, message) = settled(&target.hash, &full_hash, &outcome_note);
                let event = applied(&g, GenerationStatus::Live, None);
                self.finish(
                    &row,
                    am,
                    live.as_ref().map(|l| l.id),
                    (status, message),
                    StateChanges {
                        live: Some((Some(g.id), Some(g.hash.clone()))),
                        inflight: Some(None),
                        drift: Some(None),
                        // A rollback holds until the domains change; any other apply ends the hold.
                        hold_hash: Some(rollback_of.map(|_| auto.hash.clone())),
                        ..Default::default()
                    },
                    event,
                )
                .await?;
                let protect: Vec<i64> = [Some(g.id)].into_iter().flatten().collect();
                if let Err(e) = self.repo.prune(server_id, self.settings.keep_generations, &protect).await {
                    tracing::warn!(server_id, error = %e, "cannot prune old generations");
                }
                progress(ctx, 100, &format!("generation {} is live ({})", g.number, &g.hash[..12])).await;
                Ok(ApplyOutcome { generation_id: Some(g.id), number: Some(g.number), hash: g.hash, changes, timings, unchanged: false })
            }
            Err(e) => {
                let (output, error) = match &e {
                    ProxyError::Rejected { output, .. } => (Some(output.clone()), e.to_string()),
                    ProxyError::RolledBack { message, .. } => (Some(message.clone()), e.to_string()),
                    other => (None, other.to_string()),
                };
                if matches!(e, ProxyError::LeaseLost | ProxyError::Cancelled) {
                    // Whoever holds the server now recovers the generation.
                    return Err(e);
                }
                let mut am: generation::ActiveModel = g.clone().into();
                am.status = Set(GenerationStatus::Failed.as_str().into());
                am.finished_at = Set(Some(Utc::now()));
                am.error = Set(Some(error.chars().take(4000).collect()));
                am.nginx_output = Set(output);
                am.timings = Set(json_text(&timings)?);
                let event = applied(&g, GenerationStatus::Failed, Some(error.clone()));
                let message = format!(
                    "generation {} failed; generation {} keeps serving: {error}",
                    g.number,
                    live.as_ref().map(|l| l.number).unwrap_or(0)
                );
                self.finish(
                    &row,
                    am,
                    None,
                    (ProxyStatus::Degraded, Some(message.chars().take(2000).collect())),
                    StateChanges { inflight: Some(None), ..Default::default() },
                    event,
                )
                .await?;
                Err(e)
            }
        }
    }

    /// Records a generation's end with the server's new state and an event.
    async fn finish(
        &self,
        row: &state::Model,
        g: generation::ActiveModel,
        superseded: Option<i64>,
        (status, message): (ProxyStatus, Option<String>),
        mut changes: StateChanges,
        event: ProxyApplied,
    ) -> Result<(), ProxyError> {
        let from = ProxyStatus::Applying;
        let mut trail = Trail::default().with_event(event.draft());
        trail = trail.with_event(
            crate::service::ProxyStatusChanged { server_id: row.server_id, from, to: status, message: message.clone() }.draft(),
        );
        changes.status = Some(status.as_str().into());
        changes.status_message = Some(message);
        self.repo.finish_generation(g, superseded, row.server_id, changes, trail).await?;
        self.after_write(row.server_id, from, status);
        Ok(())
    }

    /// The server side of an apply: stage and validate, switch and reload, verify; roll back on failure after the switch.
    #[allow(clippy::too_many_arguments)]
    async fn push(
        &self,
        remote: &Remote<'_>,
        g: &generation::Model,
        target: &Target,
        changes: &DomainChanges,
        previous: Option<&generation::Model>,
        info: &InstallInfo,
        listen: &Option<std::net::IpAddr>,
        lease: &Lease,
        ctx: Option<&JobContext>,
        timings: &mut Timings,
    ) -> Result<(), ProxyError> {
        let layout = Layout { conf_dir: info.conf_dir.clone() };
        let t = Instant::now();
        self.sync_certs(remote, &info.conf_dir, &target.files).await?;
        progress(ctx, 20, &format!("uploading generation {} and validating it with nginx -t", g.number)).await;
        remote.stage(&layout, g.number, &target.files).await.map_err(|e| match e {
            RemoteError::Invalid(output) => ProxyError::Rejected { number: g.number, output },
            other => ProxyError::Remote(other),
        })?;
        timings.stage_ms = ms(t.elapsed());
        self.renew(lease).await?;
        let mut am: generation::ActiveModel = g.clone().into();
        am.status = Set(GenerationStatus::Switching.as_str().into());
        self.repo.update_generation(am).await?;
        let t = Instant::now();
        progress(ctx, 50, &format!("switching to generation {} and reloading nginx", g.number)).await;
        let prev_number = previous.map(|p| p.number).unwrap_or(0);
        let keep = self.keep_on_disk(g.server_id, prev_number).await?;
        let switched = remote.switch(&layout, g.number, info.systemd, &info.pid_file, &keep).await;
        let workers_before = match switched {
            Ok(w) => w,
            Err(e) => {
                let step = match &e {
                    RemoteError::Step { step, .. } => step.to_string(),
                    _ => "switch".to_string(),
                };
                let message = self.roll_back(remote, &layout, info, previous, listen, &keep, &e.to_string()).await;
                return Err(ProxyError::RolledBack { number: g.number, step, message });
            }
        };
        timings.switch_ms = ms(t.elapsed());
        let t = Instant::now();
        progress(ctx, 70, "verifying: generation marker and domain routing through nginx").await;
        let same = previous.is_some_and(|p| p.hash == target.hash);
        let checks: Vec<(i64, String, String)> = changes
            .added
            .iter()
            .chain(changes.changed.iter())
            .filter_map(|d| target.domains.get(&d.id).map(|t| (d.id, t.name.clone(), t.hash.clone())))
            .take(MAX_DOMAIN_CHECKS)
            .collect();
        let reloaded_from = same.then_some(workers_before.as_str());
        if let Err(why) = self.verify(remote, &layout, info, &target.hash, &checks, listen, reloaded_from).await {
            let message = self.roll_back(remote, &layout, info, previous, listen, &keep, &why).await;
            return Err(ProxyError::RolledBack { number: g.number, step: "verify".into(), message });
        }
        timings.verify_ms = ms(t.elapsed());
        // Old certificates (and their keys) leave the server once no kept generation needs them;
        // always, so keys go even after HTTPS was turned off long ago.
        if let Err(e) = remote.prune_certs(&info.conf_dir).await {
            tracing::warn!(server_id = g.server_id, error = %e, "cannot prune old certificate files; the next apply tries again");
        }
        Ok(())
    }

    /// Makes sure every certificate the generation refers to is on the server before `nginx -t` reads it.
    async fn sync_certs(&self, remote: &Remote<'_>, conf_dir: &str, files: &BTreeMap<String, String>) -> Result<(), ProxyError> {
        let wanted = crate::tls::referenced(files);
        if wanted.is_empty() {
            return Ok(());
        }
        let present = remote.certs_present(conf_dir).await?;
        let Some(source) = self.certificates.get() else {
            return Err(ProxyError::Certificates("the TLS module is not mounted".into()));
        };
        for id in wanted.difference(&present) {
            let m = source
                .material(id)
                .await
                .map_err(ProxyError::Certificates)?
                .ok_or_else(|| {
                    ProxyError::Invalid(format!(
                        "the configuration refers to a certificate Gantry no longer stores (files {id}.crt/.key); it was deleted: choose another certificate for the domains that used it"
                    ))
                })?;
            remote.put_cert(conf_dir, id, &m).await?;
        }
        Ok(())
    }

    /// Generation numbers to keep on the server: the previous live one (for rollback) and the newest few.
    async fn keep_on_disk(&self, server_id: i64, previous: i64) -> Result<Vec<i64>, ProxyError> {
        let mut keep = self.repo.recent_numbers(server_id, 4).await?;
        keep.push(previous);
        Ok(keep)
    }

    /// Switches back to `previous` (generation 0, the empty one, when there is none) and checks it serves.
    #[allow(clippy::too_many_arguments)]
    async fn roll_back(
        &self,
        remote: &Remote<'_>,
        layout: &Layout,
        info: &InstallInfo,
        previous: Option<&generation::Model>,
        listen: &Option<std::net::IpAddr>,
        keep: &[i64],
        why: &str,
    ) -> String {
        let number = previous.map(|p| p.number).unwrap_or(0);
        let back = match remote.switch(layout, number, info.systemd, &info.pid_file, keep).await {
            Ok(_) => match previous {
                Some(p) => self.verify(remote, layout, info, &p.hash, &[], listen, None).await,
                None => Ok(()),
            },
            Err(e) => Err(e.to_string()),
        };
        match back {
            Ok(()) => format!("{why}; switched back to generation {number}, which serves again"),
            Err(e) => format!("{why}; switching back to generation {number} failed too: {e}"),
        }
    }

    /// Waits until nginx serves `hash` (and, after a same-content reload, new workers), then checks each domain's route.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn verify(
        &self,
        remote: &Remote<'_>,
        layout: &Layout,
        info: &InstallInfo,
        hash: &str,
        domains: &[(i64, String, String)],
        listen: &Option<std::net::IpAddr>,
        reloaded_from: Option<&str>,
    ) -> Result<(), String> {
        let deadline = Instant::now() + self.settings.verify_timeout;
        let mut last: String;
        loop {
            match remote.http_get("127.0.0.1", info.status_port, "gantry-status", render::MARKER_PATH).await {
                Ok(r) if r.status == 200 && r.text().trim() == hash => break,
                Ok(r) => last = format!("the marker answered {} {:?}", r.status, r.text().trim().chars().take(80).collect::<String>()),
                Err(e) => last = e.to_string(),
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "nginx did not load generation {} within {} s ({last})",
                    &hash[..12.min(hash.len())],
                    self.settings.verify_timeout.as_secs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if let Some(before) = reloaded_from {
            // Same content as before: the marker cannot tell, so wait for the reload's new workers.
            loop {
                let s = remote.status(layout, &info.pid_file).await.map_err(|e| e.to_string())?;
                if s.master.is_none() {
                    return Err("nginx's master process is not running".into());
                }
                if s.workers != before && !s.workers.is_empty() {
                    break;
                }
                if Instant::now() >= deadline {
                    return Err("nginx did not start new workers after the reload".into());
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        // Right after a reload, old workers may still accept a connection or two
        // until they take the master's shutdown signal, so each check retries
        // until the deadline instead of trusting the first answer.
        let addr = listen.map(|ip| ip.to_string()).unwrap_or_else(|| "127.0.0.1".into());
        for (id, name, dhash) in domains {
            let want = format!("{id} {dhash}");
            let host = probe_host(name);
            loop {
                let why = match remote.http_get(&addr, 80, &host, render::ROUTE_PATH).await {
                    Ok(r) if r.status == 200 && r.text().trim() == want => break,
                    Ok(r) => format!(
                        "{name} is not routed by its new server block (answered {} {:?}, expected {want:?})",
                        r.status,
                        r.text().trim().chars().take(80).collect::<String>()
                    ),
                    Err(e) => format!("{name} did not answer through nginx: {e}"),
                };
                if Instant::now() >= deadline {
                    return Err(why);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        Ok(())
    }

    /// Makes a server consistent after an apply was interrupted: completes it when the new
    /// generation is switched and serving, otherwise restores the previous one.
    pub(crate) async fn recover(&self, row: &state::Model, info: &InstallInfo, lease: &Lease) -> Result<(), ProxyError> {
        let Some(id) = row.inflight_generation_id else { return Ok(()) };
        let server_id = row.server_id;
        let g = self.repo.generation(id).await?;
        let Some(g) = g else {
            self.repo.update(server_id, StateChanges { inflight: Some(None), ..Default::default() }, Trail::default()).await?;
            return Ok(());
        };
        let previous = match g.previous_id {
            Some(p) => self.repo.generation(p).await?,
            None => None,
        };
        let view = self.server_view(server_id).await?;
        let layout = Layout { conf_dir: info.conf_dir.clone() };
        let (conn, sudo) = self.connect(server_id).await?;
        let remote = self.remote(&conn, sudo);
        self.renew(lease).await?;
        let status = remote.status(&layout, &info.pid_file).await?;
        let domains: BTreeMap<i64, DomainDigest> = parse(&g.domains, "domains")?;
        let checks: Vec<(i64, String, String)> =
            domains.iter().take(MAX_DOMAIN_CHECKS).map(|(id, d)| (*id, d.name.clone(), d.hash.clone())).collect();
        let mut completed = false;
        if status.live_number == Some(g.number) {
            if status.master.is_none() {
                let _ = remote.start(info.systemd, &info.pid_file).await;
            }
            let mut ok = self.verify(&remote, &layout, info, &g.hash, &checks, &view.listen, None).await;
            if ok.is_err() {
                // Switched but perhaps never reloaded.
                let _ = remote.start(info.systemd, &info.pid_file).await;
                ok = self.verify(&remote, &layout, info, &g.hash, &checks, &view.listen, None).await;
            }
            completed = ok.is_ok();
        }
        let row = self.repo.ensure(server_id).await?;
        if completed {
            let mut am: generation::ActiveModel = g.clone().into();
            am.status = Set(GenerationStatus::Live.as_str().into());
            am.finished_at = Set(Some(Utc::now()));
            am.error = Set(Some("completed by recovery after the applying worker stopped".into()));
            let event = applied(&g, GenerationStatus::Live, None);
            let changes = StateChanges { live: Some((Some(g.id), Some(g.hash.clone()))), inflight: Some(None), ..Default::default() };
            self.finish(&row, am, previous.as_ref().map(|p| p.id), (ProxyStatus::InSync, None), changes, event).await?;
            tracing::info!(server_id, generation = g.number, "recovered an interrupted apply: completed it");
            return Ok(());
        }
        // Not (verifiably) switched: the previous generation must serve.
        let keep = self.keep_on_disk(server_id, previous.as_ref().map(|p| p.number).unwrap_or(0)).await?;
        let message = self
            .roll_back(
                &remote,
                &layout,
                info,
                previous.as_ref(),
                &view.listen,
                &keep,
                "the applying worker stopped before the generation was verified",
            )
            .await;
        let mut am: generation::ActiveModel = g.clone().into();
        am.status = Set(GenerationStatus::Interrupted.as_str().into());
        am.finished_at = Set(Some(Utc::now()));
        am.error = Set(Some(message.clone()));
        let event = applied(&g, GenerationStatus::Interrupted, Some(message.clone()));
        let failed_back = message.contains("failed too");
        let status = if failed_back { ProxyStatus::Degraded } else { ProxyStatus::Pending };
        let msg = if failed_back { Some(message) } else { None };
        self.finish(&row, am, None, (status, msg), StateChanges { inflight: Some(None), ..Default::default() }, event).await?;
        tracing::info!(server_id, generation = g.number, "recovered an interrupted apply: restored the previous generation");
        Ok(())
    }
}

/// Whether `g` failed because of its configuration (nginx rejected or did not load it),
/// which dynamic reconciliation does not retry for the same content.
pub(crate) fn failed_on_config(g: &GenerationHead, hash: &str) -> bool {
    g.status == GenerationStatus::Failed.as_str() && g.hash == hash && g.nginx_output.is_some()
}

/// Why a server may stay pending after an apply.
struct Note {
    /// Manual-approval groups whose changes wait.
    held: Vec<String>,
    /// The apply was a rollback.
    rollback: bool,
}

/// The status after an apply: in sync, or pending (with the reason) when the full desired state differs.
fn settled(live_hash: &str, full_hash: &str, note: &Note) -> (ProxyStatus, Option<String>) {
    if live_hash == full_hash {
        return (ProxyStatus::InSync, None);
    }
    let why = if note.rollback {
        "rolled back: today's domains differ from the live generation (see the plan); the rollback stays until the domains change or someone applies".to_string()
    } else if !note.held.is_empty() {
        format!("changes in {} wait for approval (manual approval); see the plan", note.held.join(", "))
    } else {
        "changes are pending; see the plan".to_string()
    };
    (ProxyStatus::Pending, Some(why))
}

/// The event for a generation's end (its own trigger, as recorded).
fn applied(g: &generation::Model, result: GenerationStatus, error: Option<String>) -> ProxyApplied {
    ProxyApplied {
        server_id: g.server_id,
        generation_id: g.id,
        number: g.number,
        result,
        hash: g.hash.clone(),
        trigger: Trigger::parse(&g.trigger).unwrap_or(Trigger::Auto),
        error,
    }
}

fn json_text<T: serde::Serialize>(v: &T) -> Result<String, ProxyError> {
    serde_json::to_string(v).map_err(|e| ProxyError::Invalid(e.to_string()))
}
