//! The proxy service: what the API, the jobs and the reconciler call.
//!
//! Every operation that touches a server runs under that server's lease (a
//! row in `proxy_servers`), so across all replicas one worker at a time
//! reconciles a server; a crashed worker's lease lapses and the next one
//! finishes or undoes its in-flight generation first (see `apply.rs`).

use crate::error::ProxyError;
use crate::model::*;
use crate::remote::{Layout, MAIN_FILE_CONTENT, Remote};
use crate::render::{self, DomainDigest, GroupFile, RenderSettings, Rendered};
use crate::store::{GenerationHead, ProxyRepo, StateChanges, generation, state};
use chrono::Utc;
use gantry_core::audit::{Actor, AuditDraft};
use gantry_core::eventlog::{Record, Severity};
use gantry_core::events::{DomainEvent, EventBus};
use gantry_core::jobs::{Job, JobContext, NewJob, Waker};
use gantry_core::metrics::{Counter, Gauge, Histogram};
use gantry_core::page::{Page, PageRequest};
use gantry_core::repo::{JobRepo, Trail};
use gantry_core::user::Role;
use gantry_core::{ServiceError, StoreError};
use gantry_domains::{DomainsService, ServedGroup};
use gantry_servers::ServersService;
use gantry_ssh::Connection;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Job kinds.
pub const INSTALL_JOB: &str = "proxy.install";
/// Applies desired state, a rollback or a repair to one server.
pub const APPLY_JOB: &str = "proxy.apply";
/// Removes Gantry's configuration.
pub const UNINSTALL_JOB: &str = "proxy.uninstall";
/// Runs a fleet rollout.
pub const ROLLOUT_JOB: &str = "proxy.rollout";

/// Tuning of the module.
#[derive(Debug, Clone)]
pub struct ProxySettings {
    /// Dynamic reconciliation: domain changes go live by themselves (off: they wait as pending plans).
    pub auto_apply: bool,
    /// Quiet time after the last edit before a server is reconciled.
    pub debounce: Duration,
    /// Longest a burst of edits can hold a reconcile back.
    pub max_delay: Duration,
    /// How often every installed server's desired state is compared with its live one (catches missed events).
    pub reconcile_interval: Duration,
    /// How often Gantry reads back its files' hashes from each server (0 disables).
    pub drift_interval: Duration,
    /// How long a worker's hold on a server lasts without renewal.
    pub lease: Duration,
    /// How long an apply waits for nginx to show the new generation.
    pub verify_timeout: Duration,
    /// Generations kept in the database per server.
    pub keep_generations: u64,
    /// Servers applied at once in a rollout after the canary.
    pub rollout_parallel: usize,
    /// Failed servers a rollout tolerates before it stops.
    pub rollout_max_failures: usize,
    /// Default status port (per-server parameter `proxy_status_port` overrides).
    pub status_port: u16,
}

impl Default for ProxySettings {
    fn default() -> Self {
        Self {
            auto_apply: true,
            debounce: Duration::from_millis(500),
            max_delay: Duration::from_secs(5),
            reconcile_interval: Duration::from_secs(60),
            drift_interval: Duration::from_secs(300),
            lease: Duration::from_secs(60),
            verify_timeout: Duration::from_secs(10),
            keep_generations: 50,
            rollout_parallel: 4,
            rollout_max_failures: 0,
            status_port: 8089,
        }
    }
}

/// The module's metrics.
#[derive(Clone)]
pub struct ProxyMetrics {
    /// Applies by trigger and result.
    pub applies: Counter,
    /// Apply duration.
    pub apply_duration: Histogram,
    /// 1 for each server's current proxy status.
    pub status: Gauge,
    /// When each server's live generation went live.
    pub generation_applied: Gauge,
}

/// A server's proxy status changed.
#[derive(Debug, Clone, Serialize)]
pub struct ProxyStatusChanged {
    /// Server.
    pub server_id: i64,
    /// Before.
    pub from: ProxyStatus,
    /// After.
    pub to: ProxyStatus,
    /// Why.
    pub message: Option<String>,
}

impl DomainEvent for ProxyStatusChanged {
    const KIND: &'static str = "proxy.status_changed";
    fn entity(&self) -> Option<(&'static str, String)> {
        Some(("server", self.server_id.to_string()))
    }
    fn record(&self) -> Option<Record> {
        let why = self.message.as_deref().map(|m| format!(": {m}")).unwrap_or_default();
        let id = self.server_id;
        // Pending and applying come and go with every change; the apply itself is recorded by `ProxyApplied`.
        let (severity, kind, message) = match (self.from, self.to) {
            (_, ProxyStatus::Degraded) => (Severity::Error, "proxy.degraded", format!("Proxy on server #{id} is degraded{why}")),
            (_, ProxyStatus::Drifted) => {
                (Severity::Warning, "proxy.drifted", format!("Proxy on server #{id} drifted from its live generation{why}"))
            }
            (ProxyStatus::Degraded | ProxyStatus::Drifted, ProxyStatus::InSync) => {
                (Severity::Info, "proxy.recovered", format!("Proxy on server #{id} is in sync again (was {})", self.from.as_str()))
            }
            (ProxyStatus::Installing, ProxyStatus::InSync | ProxyStatus::Pending) => {
                (Severity::Info, "proxy.installed", format!("The proxy was installed on server #{id}"))
            }
            (_, ProxyStatus::Installing) => (Severity::Info, "proxy.installing", format!("Installing the proxy on server #{id}")),
            (_, ProxyStatus::NotInstalled) if self.from != ProxyStatus::Installing => {
                (Severity::Info, "proxy.uninstalled", format!("The proxy on server #{id} was uninstalled{why}"))
            }
            (ProxyStatus::Installing, ProxyStatus::NotInstalled) => {
                (Severity::Error, "proxy.install_failed", format!("Installing the proxy on server #{id} failed{why}"))
            }
            _ => return None,
        };
        Some(
            Record::new(severity, "proxy", kind, message)
                .entity("server", id, None)
                .details(serde_json::json!({ "from": self.from, "to": self.to, "message": self.message })),
        )
    }
}

/// A generation went live or failed.
#[derive(Debug, Clone, Serialize)]
pub struct ProxyApplied {
    /// Server.
    pub server_id: i64,
    /// Generation id.
    pub generation_id: i64,
    /// Its number.
    pub number: i64,
    /// `live`, `failed`, `interrupted`.
    pub result: GenerationStatus,
    /// Content hash.
    pub hash: String,
    /// Why it was made.
    pub trigger: Trigger,
    /// The failure.
    pub error: Option<String>,
}

impl DomainEvent for ProxyApplied {
    const KIND: &'static str = "proxy.applied";
    fn entity(&self) -> Option<(&'static str, String)> {
        Some(("server", self.server_id.to_string()))
    }
    fn record(&self) -> Option<Record> {
        let (id, n, trigger) = (self.server_id, self.number, self.trigger.as_str());
        let error = self.error.as_deref().unwrap_or("no reason recorded");
        let (severity, kind, message) = match (self.result, self.trigger) {
            (GenerationStatus::Live, Trigger::Rollback) => {
                (Severity::Warning, "proxy.rolled_back", format!("Server #{id} was rolled back to generation {n}"))
            }
            (GenerationStatus::Live, _) => (Severity::Info, "proxy.applied", format!("Generation {n} is live on server #{id} ({trigger})")),
            (GenerationStatus::Failed, _) => (
                Severity::Error,
                "proxy.apply_failed",
                format!("Generation {n} failed on server #{id} ({trigger}); the previous generation keeps serving: {error}"),
            ),
            (GenerationStatus::Interrupted, _) => {
                (Severity::Warning, "proxy.apply_interrupted", format!("Applying generation {n} on server #{id} was interrupted: {error}"))
            }
            _ => return None,
        };
        Some(Record::new(severity, "proxy", kind, message).entity("server", id, None).details(serde_json::json!({
            "generation_id": self.generation_id,
            "number": n,
            "trigger": trigger,
            "hash": self.hash,
            "error": self.error,
        })))
    }
}

/// Gantry's files on a server differ from the live generation.
#[derive(Debug, Clone, Serialize)]
pub struct ProxyDriftDetected {
    /// Server.
    pub server_id: i64,
    /// The differing paths.
    pub paths: Vec<String>,
    /// Whether an automatic repair was queued.
    pub repairing: bool,
}

impl DomainEvent for ProxyDriftDetected {
    const KIND: &'static str = "proxy.drift_detected";
    fn entity(&self) -> Option<(&'static str, String)> {
        Some(("server", self.server_id.to_string()))
    }
    fn record(&self) -> Option<Record> {
        let then = if self.repairing { "; a repair was queued" } else { "; waiting for an operator" };
        Some(
            Record::new(
                Severity::Warning,
                "proxy",
                "proxy.drift_detected",
                format!("{} file(s) on server #{} differ from the live generation{then}", self.paths.len(), self.server_id),
            )
            .entity("server", self.server_id, None)
            .details(serde_json::json!({ "paths": self.paths, "repairing": self.repairing })),
        )
    }
}

/// A rollout or one of its servers changed state.
#[derive(Debug, Clone, Serialize)]
pub struct RolloutUpdated {
    /// Rollout.
    pub rollout_id: i64,
    /// Its state.
    pub status: RolloutStatus,
    /// The server whose state changed, if one did.
    pub server_id: Option<i64>,
    /// That server's state.
    pub target_status: Option<TargetStatus>,
}

impl DomainEvent for RolloutUpdated {
    const KIND: &'static str = "proxy.rollout_updated";
    fn entity(&self) -> Option<(&'static str, String)> {
        Some(("rollout", self.rollout_id.to_string()))
    }
}

/// Where an apply takes its configuration from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Today's domains; `hold_manual` keeps manual-approval groups as they are live.
    Desired {
        /// Dynamic reconciliation: groups with manual approval keep their live files.
        hold_manual: bool,
    },
    /// The exact files of an earlier generation (rollback).
    Generation(i64),
}

/// One apply request.
#[derive(Debug, Clone)]
pub struct ApplyRequest {
    /// Why.
    pub trigger: Trigger,
    /// The operator's reason.
    pub reason: Option<String>,
    /// Who, as recorded on the generation.
    pub actor: String,
    /// Make a generation even if the content equals the live one (repairs).
    pub force: bool,
    /// What to apply.
    pub source: Source,
    /// Part of this rollout.
    pub rollout_id: Option<i64>,
    /// The job doing it.
    pub job_id: Option<i64>,
}

/// How an apply ended.
#[derive(Debug, Clone, Serialize)]
pub struct ApplyOutcome {
    /// The generation made (none when nothing changed).
    pub generation_id: Option<i64>,
    /// Its number.
    pub number: Option<i64>,
    /// The content hash now live.
    pub hash: String,
    /// Domain changes.
    pub changes: DomainChanges,
    /// Step durations.
    pub timings: Timings,
    /// Nothing to do.
    pub unchanged: bool,
}

/// A held server lease; release it when done.
pub(crate) struct Lease {
    pub(crate) server_id: i64,
    pub(crate) owner: String,
}

/// The proxy service.
pub struct ProxyService {
    pub(crate) repo: ProxyRepo,
    pub(crate) servers: Arc<ServersService>,
    pub(crate) domains: Arc<DomainsService>,
    pub(crate) jobs: Arc<dyn JobRepo>,
    pub(crate) waker: Waker,
    pub(crate) bus: EventBus,
    /// Tuning.
    pub settings: ProxySettings,
    /// This replica's name in leases.
    pub(crate) replica: String,
    pub(crate) metrics: ProxyMetrics,
    /// The sweep's memory: since when each server's live/desired difference (by desired hash) has been seen.
    pub(crate) sweep_seen: std::sync::Mutex<std::collections::HashMap<i64, (String, Instant)>>,
    /// Certificates (set by the TLS module when it mounts; without it every domain is HTTP only).
    pub(crate) certificates: std::sync::OnceLock<Arc<dyn crate::tls::CertificateSource>>,
}

/// The per-server settings that come from the server record.
pub(crate) struct ServerView {
    pub(crate) name: String,
    pub(crate) conf_dir: String,
    pub(crate) listen: Option<IpAddr>,
    pub(crate) status_port: u16,
    pub(crate) auto_install: bool,
}

pub(crate) fn parse<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T, ProxyError> {
    serde_json::from_str(text).map_err(|e| ProxyError::Store(StoreError::Corrupt(format!("{what}: {e}"))))
}

impl ProxyService {
    /// Builds the service.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        db: gantry_store::Db,
        servers: Arc<ServersService>,
        domains: Arc<DomainsService>,
        jobs: Arc<dyn JobRepo>,
        waker: Waker,
        bus: EventBus,
        settings: ProxySettings,
        metrics: ProxyMetrics,
    ) -> Self {
        let host = std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()).unwrap_or_else(|| "gantry".into());
        let replica = format!("{}-{}", host.chars().take(40).collect::<String>(), gantry_core::tokens::random_token(6));
        Self {
            repo: ProxyRepo { db },
            servers,
            domains,
            jobs,
            waker,
            bus,
            settings,
            replica,
            metrics,
            sweep_seen: Default::default(),
            certificates: Default::default(),
        }
    }

    // ----- leases -----

    /// Takes a server's lease, waiting up to `wait` for another worker to finish.
    pub(crate) async fn lease(&self, server_id: i64, wait: Duration) -> Result<Lease, ProxyError> {
        self.repo.ensure(server_id).await?;
        let owner = format!("{}/{}", self.replica, gantry_core::tokens::random_token(6));
        let deadline = Instant::now() + wait;
        loop {
            if self.repo.acquire(server_id, &owner, self.settings.lease).await? {
                return Ok(Lease { server_id, owner });
            }
            if Instant::now() >= deadline {
                return Err(ProxyError::Busy);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Renews a lease between steps; stops the work if another worker took over.
    pub(crate) async fn renew(&self, l: &Lease) -> Result<(), ProxyError> {
        if self.repo.renew(l.server_id, &l.owner, self.settings.lease).await? { Ok(()) } else { Err(ProxyError::LeaseLost) }
    }

    pub(crate) async fn release(&self, l: Lease) {
        if let Err(e) = self.repo.release(l.server_id, &l.owner).await {
            tracing::warn!(server_id = l.server_id, error = %e, "cannot release the proxy lease; it lapses by itself");
        }
    }

    // ----- servers and rendering -----

    pub(crate) async fn server_view(&self, server_id: i64) -> Result<ServerView, ProxyError> {
        let s = self.servers.get(server_id).await?;
        let p = &s.parameters;
        Ok(ServerView {
            name: s.name,
            conf_dir: p.get("nginx_conf_dir").and_then(Value::as_str).unwrap_or("/etc/nginx").trim_end_matches('/').to_string(),
            listen: p.get("proxy_listen_address").and_then(Value::as_str).and_then(|a| a.parse().ok()),
            status_port: p
                .get("proxy_status_port")
                .and_then(Value::as_u64)
                .and_then(|n| u16::try_from(n).ok())
                .unwrap_or(self.settings.status_port),
            auto_install: p.get("proxy_auto_install").and_then(Value::as_bool).unwrap_or(false),
        })
    }

    pub(crate) fn install_info(row: &state::Model) -> Result<InstallInfo, ProxyError> {
        match (&row.install, row.installed) {
            (Some(text), true) => parse(text, "install info"),
            _ => Err(ProxyError::NotInstalled(row.server_id)),
        }
    }

    pub(crate) fn render_settings(info: &InstallInfo, view: &ServerView) -> RenderSettings {
        RenderSettings {
            listen: view.listen,
            ipv6: info.ipv6,
            status_port: info.status_port,
            operator_directives: info.operator_directives.clone(),
            conf_dir: info.conf_dir.clone(),
            http2_directive: render::has_http2_directive(&info.nginx_version),
            tls: BTreeMap::new(),
            access_log: Some(render::access_log_path(&info.conf_dir)),
        }
    }

    /// Registers the certificate source (the TLS module calls this while mounting).
    pub fn set_certificates(&self, source: Arc<dyn crate::tls::CertificateSource>) {
        let _ = self.certificates.set(source);
    }

    /// The certificate each HTTPS domain of `groups` serves now.
    async fn tls_bindings(&self, groups: &[ServedGroup]) -> Result<BTreeMap<i64, String>, ProxyError> {
        let requests: Vec<crate::tls::TlsRequest> = groups
            .iter()
            .flat_map(|g| g.domains.iter())
            .filter(|d| d.spec.options.tls != gantry_domains::spec::TlsMode::None)
            .map(|d| crate::tls::TlsRequest { domain_id: d.id, mode: d.spec.options.tls, certificate_id: d.spec.options.certificate_id })
            .collect();
        match (requests.is_empty(), self.certificates.get()) {
            (false, Some(src)) => src.bindings(&requests).await.map_err(ProxyError::Certificates),
            _ => Ok(BTreeMap::new()),
        }
    }

    pub(crate) async fn connect(&self, server_id: i64) -> Result<(Arc<Connection>, bool), ProxyError> {
        self.servers.connect(server_id).await.map_err(|e| ProxyError::Unreachable(e.to_string()))
    }

    pub(crate) fn remote<'a>(&self, conn: &'a Connection, sudo: bool) -> Remote<'a> {
        Remote::new(conn, sudo, self.settings.verify_timeout.max(Duration::from_secs(30)))
    }

    /// The generation that is live, with its files and domains.
    pub(crate) async fn live(&self, row: &state::Model) -> Result<Option<generation::Model>, ProxyError> {
        match row.live_generation_id {
            Some(id) => Ok(self.repo.generation(id).await?),
            None => Ok(None),
        }
    }

    /// Renders today's state for a server; with `hold_manual`, manual-approval groups keep their live files.
    pub(crate) async fn desired(
        &self,
        server_id: i64,
        settings: &RenderSettings,
        live: Option<&generation::Model>,
        hold_manual: bool,
    ) -> Result<(Rendered, Vec<String>), ProxyError> {
        let groups = self.domains.served_by(server_id).await?;
        let mut with_tls = settings.clone();
        with_tls.tls = self.tls_bindings(&groups).await?;
        let settings = &with_tls;
        let live_files: BTreeMap<String, String> = match live {
            Some(g) => parse(&g.files, "generation files")?,
            None => BTreeMap::new(),
        };
        let live_domains: BTreeMap<i64, DomainDigest> = match live {
            Some(g) => parse(&g.domains, "generation domains")?,
            None => BTreeMap::new(),
        };
        let mut files = Vec::new();
        let mut held = Vec::new();
        for g in &groups {
            let fresh = render::render_group(g, settings);
            if hold_manual && g.manual_approval {
                let current = live_files.get(&fresh.name);
                if current != Some(&fresh.content) {
                    held.push(g.name.clone());
                }
                if let Some(content) = current {
                    let domains = live_domains.iter().filter(|(_, d)| d.group_id == g.id).map(|(id, d)| (*id, d.clone())).collect();
                    files.push(GroupFile { group_id: g.id, name: fresh.name, content: content.clone(), domains });
                }
                continue;
            }
            files.push(fresh);
        }
        Ok((render::assemble(files, settings), held))
    }

    /// Groups bound to the server (for drift repair decisions).
    pub(crate) async fn groups(&self, server_id: i64) -> Result<Vec<ServedGroup>, ProxyError> {
        Ok(self.domains.served_by(server_id).await?)
    }

    // ----- status -----

    /// Changes the server's status (with an event when it changes) plus other columns.
    pub(crate) async fn set_state(
        &self,
        row: &state::Model,
        status: ProxyStatus,
        message: Option<String>,
        mut changes: StateChanges,
        mut trail: Trail,
    ) -> Result<state::Model, ProxyError> {
        let from = ProxyStatus::parse(&row.status).unwrap_or(ProxyStatus::NotInstalled);
        if from != status || row.status_message != message {
            trail = trail.with_event(ProxyStatusChanged { server_id: row.server_id, from, to: status, message: message.clone() }.draft());
        }
        changes.status = Some(status.as_str().into());
        changes.status_message = Some(message);
        let m = self.repo.update(row.server_id, changes, trail).await?;
        self.after_write(row.server_id, from, status);
        Ok(m)
    }

    /// Publishes written events at once and keeps the status gauge current.
    pub(crate) fn after_write(&self, server_id: i64, from: ProxyStatus, to: ProxyStatus) {
        self.bus.notify_written();
        if from != to {
            let id = server_id.to_string();
            self.metrics.status.remove(&[&id, from.as_str()]);
            self.metrics.status.set(&[&id, to.as_str()], 1.0);
        }
    }

    /// Sets the status and live-generation gauges from the shared state.
    pub async fn refresh_metrics(&self) -> Result<(), ProxyError> {
        let states = self.states().await?;
        let status = states.iter().map(|st| (vec![st.server_id.to_string(), st.status.as_str().to_string()], 1.0));
        self.metrics.status.replace(status);
        let applied = states.iter().filter_map(|st| {
            st.live.as_ref().and_then(|g| g.finished_at).map(|at| (vec![st.server_id.to_string()], at.timestamp() as f64))
        });
        self.metrics.generation_applied.replace(applied);
        Ok(())
    }

    // ----- views -----

    pub(crate) fn summary(g: &GenerationHead) -> GenerationSummary {
        let count = |n: i32| usize::try_from(n).unwrap_or(0);
        GenerationSummary {
            id: g.id,
            server_id: g.server_id,
            number: g.number,
            hash: g.hash.clone(),
            status: GenerationStatus::parse(&g.status).unwrap_or(GenerationStatus::Failed),
            trigger: Trigger::parse(&g.trigger).unwrap_or(Trigger::Manual),
            reason: g.reason.clone(),
            actor: g.actor.clone(),
            added: count(g.added),
            changed: count(g.changed),
            removed: count(g.removed),
            rollback_of: g.rollback_of,
            rollout_id: g.rollout_id,
            job_id: g.job_id,
            error: g.error.clone(),
            created_at: g.created_at,
            finished_at: g.finished_at,
        }
    }

    async fn view(&self, row: state::Model, name: String) -> Result<ProxyState, ProxyError> {
        let live = match row.live_generation_id {
            Some(id) => self.repo.generation_head(id).await?.map(|g| Self::summary(&g)),
            None => None,
        };
        let install = match &row.install {
            Some(t) if row.installed => Some(parse(t, "install info")?),
            _ => None,
        };
        let drift = match &row.drift {
            Some(t) => Some(parse(t, "drift report")?),
            None => None,
        };
        Ok(ProxyState {
            server_id: row.server_id,
            server_name: name,
            status: ProxyStatus::parse(&row.status).unwrap_or(ProxyStatus::NotInstalled),
            status_message: row.status_message,
            install,
            live,
            inflight_generation_id: row.inflight_generation_id,
            drift,
            drift_checked_at: row.drift_checked_at,
            version: row.version,
            updated_at: row.updated_at,
        })
    }

    /// A server's proxy state.
    pub async fn state(&self, server_id: i64) -> Result<ProxyState, ProxyError> {
        let s = self.servers.get(server_id).await?;
        let row = self.repo.ensure(server_id).await?;
        self.view(row, s.name).await
    }

    /// Every server's proxy state, by server id.
    pub async fn states(&self) -> Result<Vec<ProxyState>, ProxyError> {
        let mut out = Vec::new();
        for id in self.servers.ids().await? {
            out.push(self.state(id).await?);
        }
        Ok(out)
    }

    /// What applying now would change (everything desired, manual-approval groups included).
    pub async fn plan(&self, server_id: i64) -> Result<Plan, ProxyError> {
        let view = self.server_view(server_id).await?;
        let row = self.repo.ensure(server_id).await?;
        let info = Self::install_info(&row)?;
        let settings = Self::render_settings(&info, &view);
        let live = self.live(&row).await?;
        let (desired, _) = self.desired(server_id, &settings, live.as_ref(), false).await?;
        let (_, held) = self.desired(server_id, &settings, live.as_ref(), true).await?;
        let (live_files, live_domains): (BTreeMap<String, String>, BTreeMap<i64, DomainDigest>) = match &live {
            Some(g) => (parse(&g.files, "files")?, parse(&g.domains, "domains")?),
            None => (BTreeMap::new(), BTreeMap::new()),
        };
        Ok(Plan {
            server_id,
            live_number: live.as_ref().map(|g| g.number),
            live_hash: row.live_hash.clone(),
            reload_needed: row.live_hash.as_deref() != Some(desired.hash.as_str()),
            diff: crate::plan::unified_diff(&live_files, &desired.files),
            domains: crate::plan::domain_changes(&live_domains, &desired.domains),
            desired_hash: desired.hash,
            awaiting_approval: held,
        })
    }

    /// Writes an ACME HTTP-01 answer on a server; every domain's port-80 block serves it.
    /// No lease: challenge files live beside the generations, not in them.
    pub async fn put_challenge(&self, server_id: i64, token: &str, key_authorization: &str) -> Result<(), ProxyError> {
        let info = Self::install_info(&self.repo.ensure(server_id).await?)?;
        let (conn, sudo) = self.connect(server_id).await?;
        Ok(self.remote(&conn, sudo).put_challenge(&info.conf_dir, token, key_authorization).await?)
    }

    /// Removes an ACME HTTP-01 answer (best effort).
    pub async fn remove_challenge(&self, server_id: i64, token: &str) -> Result<(), ProxyError> {
        let info = Self::install_info(&self.repo.ensure(server_id).await?)?;
        let (conn, sudo) = self.connect(server_id).await?;
        Ok(self.remote(&conn, sudo).remove_challenge(&info.conf_dir, token).await?)
    }

    /// Whether a domain's latest version is live on its server.
    pub async fn domain_state(&self, domain_id: i64) -> Result<DomainLiveState, ProxyError> {
        let d = self.domains.get_domain(domain_id).await?;
        let Some(server) = d.server.as_ref().map(|s| s.id) else {
            return Ok(DomainLiveState {
                domain_id,
                server_id: None,
                live_number: None,
                up_to_date: false,
                served: false,
                detail: "its group is not bound to a server".into(),
            });
        };
        let row = self.repo.ensure(server).await?;
        let Ok(info) = Self::install_info(&row) else {
            return Ok(DomainLiveState {
                domain_id,
                server_id: Some(server),
                live_number: None,
                up_to_date: false,
                served: false,
                detail: "the proxy is not installed on its server".into(),
            });
        };
        let view = self.server_view(server).await?;
        let live = self.live(&row).await?;
        let (desired, _) = self.desired(server, &Self::render_settings(&info, &view), live.as_ref(), false).await?;
        let live_domains: BTreeMap<i64, DomainDigest> = match &live {
            Some(g) => parse(&g.domains, "domains")?,
            None => BTreeMap::new(),
        };
        let (want, have) = (desired.domains.get(&domain_id), live_domains.get(&domain_id));
        let served = have.is_some();
        let up_to_date = want.map(|w| &w.hash) == have.map(|h| &h.hash);
        let detail = match (want, have, up_to_date) {
            (_, _, true) if served => "the live configuration serves its latest version",
            (_, _, true) => "not served, as intended (disabled)",
            (Some(_), Some(_), false) => "an older version is live; the change is pending",
            (Some(_), None, false) => "not live yet; the change is pending",
            (None, _, false) => "still served; its removal is pending",
        };
        Ok(DomainLiveState {
            domain_id,
            server_id: Some(server),
            live_number: live.map(|g| g.number),
            up_to_date,
            served,
            detail: detail.into(),
        })
    }

    /// A server's generations, newest first.
    pub async fn generations(&self, server_id: i64, page: PageRequest) -> Result<Page<GenerationSummary>, ProxyError> {
        self.servers.get(server_id).await?;
        let rows = self.repo.generations(server_id, page.after.as_ref().map(|c| c.id), page.limit).await?;
        let items = rows.iter().map(Self::summary).collect();
        Ok(page.finish(items, |g| g.number))
    }

    /// One generation with its files and diff.
    pub async fn generation(&self, server_id: i64, number: i64) -> Result<GenerationDetail, ProxyError> {
        let g = self.repo.generation_by_number(server_id, number).await?.ok_or(ServiceError::NotFound("generation"))?;
        Ok(GenerationDetail {
            summary: Self::summary(&GenerationHead::from(&g)),
            files: parse(&g.files, "files")?,
            diff: g.diff.clone(),
            changes: parse(&g.changes, "changes")?,
            nginx_output: g.nginx_output.clone(),
            timings: parse(&g.timings, "timings")?,
        })
    }

    // ----- jobs -----

    async fn enqueue(
        &self,
        kind: &str,
        payload: Value,
        actor: &Actor,
        action: &str,
        server_id: i64,
        summary: Value,
    ) -> Result<Job, ProxyError> {
        let mut job = NewJob::new(kind, payload);
        job.created_by = actor.user_id;
        job.audience = Role::Viewer;
        job.max_attempts = 3;
        let trail = Trail::audit(AuditDraft::new(actor, action, "server", Some(server_id.to_string()), summary));
        let job = self.jobs.enqueue(job, trail).await?;
        self.waker.wake();
        Ok(job)
    }

    /// Queues the install.
    pub async fn start_install(&self, server_id: i64, actor: &Actor) -> Result<Job, ProxyError> {
        let s = self.servers.get(server_id).await?;
        self.repo.ensure(server_id).await?;
        self.enqueue(INSTALL_JOB, json!({"server_id": server_id}), actor, "proxy.install", server_id, json!({"server": s.name})).await
    }

    /// Queues an apply of today's state (everything, manual-approval groups included).
    pub async fn start_apply(&self, server_id: i64, reason: Option<String>, force: bool, actor: &Actor) -> Result<Job, ProxyError> {
        let row = self.repo.ensure(server_id).await?;
        Self::install_info(&row)?;
        let reason = clean_reason(reason)?;
        let payload = json!({"server_id": server_id, "trigger": "manual", "reason": reason, "force": force, "actor": actor.name});
        self.enqueue(APPLY_JOB, payload, actor, "proxy.apply", server_id, json!({"reason": reason, "force": force})).await
    }

    /// Queues a rollback to an earlier successful generation (itself a new generation).
    pub async fn start_rollback(&self, server_id: i64, number: i64, reason: Option<String>, actor: &Actor) -> Result<Job, ProxyError> {
        let row = self.repo.ensure(server_id).await?;
        Self::install_info(&row)?;
        let g = self.repo.generation_by_number(server_id, number).await?.ok_or(ServiceError::NotFound("generation"))?;
        if !matches!(GenerationStatus::parse(&g.status), Some(GenerationStatus::Live | GenerationStatus::Superseded)) {
            return Err(ProxyError::Invalid(format!(
                "generation {number} never went live ({}); only generations that served can be rolled back to",
                g.status
            )));
        }
        let reason = clean_reason(reason)?;
        let payload = json!({"server_id": server_id, "trigger": "rollback", "generation_id": g.id, "reason": reason, "actor": actor.name});
        self.enqueue(
            APPLY_JOB,
            payload,
            actor,
            "proxy.rollback",
            server_id,
            json!({"to_generation": number, "hash": g.hash, "reason": reason}),
        )
        .await
    }

    /// Queues the uninstall.
    pub async fn start_uninstall(&self, server_id: i64, remove_package: bool, actor: &Actor) -> Result<Job, ProxyError> {
        let row = self.repo.ensure(server_id).await?;
        Self::install_info(&row)?;
        self.enqueue(
            UNINSTALL_JOB,
            json!({"server_id": server_id, "remove_package": remove_package}),
            actor,
            "proxy.uninstall",
            server_id,
            json!({"remove_package": remove_package}),
        )
        .await
    }

    /// Clears the auto-apply slot once its job starts.
    pub async fn dequeue(&self, server_id: i64, job_id: i64) -> Result<(), ProxyError> {
        Ok(self.repo.dequeue(server_id, job_id).await?)
    }

    /// Whether the proxy is installed on a server.
    pub async fn installed(&self, server_id: i64) -> Result<bool, ProxyError> {
        Ok(self.repo.get(server_id).await?.is_some_and(|r| r.installed))
    }

    /// Every server with the proxy installed, with what its install found (the monitoring module
    /// reads their traffic log and status page).
    pub async fn installations(&self) -> Result<Vec<(i64, InstallInfo)>, ProxyError> {
        Ok(self.repo.all().await?.iter().filter_map(|row| Self::install_info(row).ok().map(|i| (row.server_id, i))).collect())
    }

    /// Forgets a deleted server's proxy record and generations.
    pub async fn forget(&self, server_id: i64) -> Result<(), ProxyError> {
        Ok(self.repo.forget(server_id).await?)
    }

    // ----- install / uninstall -----

    /// Installs nginx and Gantry's layout, then applies the current desired state (generation 1).
    pub async fn install(&self, server_id: i64, ctx: Option<&JobContext>) -> Result<Value, ProxyError> {
        let lease = self.lease(server_id, self.settings.lease * 2).await?;
        let r = self.install_locked(server_id, &lease, ctx).await;
        self.release(lease).await;
        let info = r?;
        progress(ctx, 85, "applying the current configuration").await;
        let outcome = self
            .apply(
                server_id,
                ApplyRequest {
                    trigger: Trigger::Install,
                    reason: Some("install".into()),
                    actor: "system:proxy".into(),
                    force: false,
                    source: Source::Desired { hold_manual: false },
                    rollout_id: None,
                    job_id: ctx.map(|c| c.job.id.0),
                },
                ctx,
            )
            .await?;
        progress(ctx, 100, "installed").await;
        Ok(json!({"install": info, "apply": outcome}))
    }

    async fn install_locked(&self, server_id: i64, lease: &Lease, ctx: Option<&JobContext>) -> Result<InstallInfo, ProxyError> {
        let view = self.server_view(server_id).await?;
        let row = self.repo.ensure(server_id).await?;
        let was_installed = row.installed;
        if !was_installed {
            self.set_state(&row, ProxyStatus::Installing, None, StateChanges::default(), Trail::default()).await?;
        }
        let r = self.install_steps(server_id, &view, lease, ctx).await;
        let row = self.repo.ensure(server_id).await?;
        match r {
            Ok(info) => {
                let text = serde_json::to_string(&info).map_err(|e| ProxyError::Invalid(e.to_string()))?;
                let changes = StateChanges { installed: Some(true), install: Some(Some(text)), ..Default::default() };
                self.set_state(&row, ProxyStatus::Pending, Some("installed; applying the configuration".into()), changes, Trail::default())
                    .await?;
                Ok(info)
            }
            Err(e) => {
                let status = if was_installed { ProxyStatus::Degraded } else { ProxyStatus::NotInstalled };
                self.set_state(&row, status, Some(format!("install failed: {e}")), StateChanges::default(), Trail::default()).await?;
                Err(e)
            }
        }
    }

    async fn install_steps(
        &self,
        server_id: i64,
        view: &ServerView,
        lease: &Lease,
        ctx: Option<&JobContext>,
    ) -> Result<InstallInfo, ProxyError> {
        let (conn, sudo) = self.connect(server_id).await?;
        let remote = self.remote(&conn, sudo);
        progress(ctx, 5, &format!("connected to {}; detecting the OS", view.name)).await;
        let probe = remote.probe(&view.conf_dir).await?;
        progress(ctx, 15, &format!("{} ({}), init {}", probe.os_name, probe.os_id, if probe.systemd { "systemd" } else { "other" })).await;
        if !probe.missing_tools.is_empty() {
            return Err(ProxyError::Invalid(format!(
                "the server lacks {} (util-linux and coreutils), which Gantry needs to validate and switch configurations",
                probe.missing_tools.join(", ")
            )));
        }
        let (version, installed_package) = match &probe.nginx_version {
            Some(v) => {
                progress(ctx, 30, &format!("nginx {v} is already installed")).await;
                (v.clone(), false)
            }
            None => {
                let (Some(family), Some(manager)) = (probe.family, probe.package_manager) else {
                    return Err(ProxyError::Invalid(format!(
                        "unsupported operating system {} ({}): Gantry installs nginx with apt on Debian/Ubuntu and dnf on RHEL-like systems; install nginx yourself and run the install again",
                        probe.os_name, probe.os_id
                    )));
                };
                progress(ctx, 20, &format!("installing nginx with {manager} ({family:?} family)")).await;
                self.renew(lease).await?;
                let v = remote.install_package(manager).await?;
                progress(ctx, 40, &format!("nginx {v} installed")).await;
                (v, true)
            }
        };
        let family = probe.family.unwrap_or(OsFamily::Debian);
        if !probe.has_conf {
            return Err(ProxyError::Invalid(format!(
                "{}/nginx.conf does not exist; set the server parameter nginx_conf_dir to nginx's configuration directory",
                view.conf_dir
            )));
        }
        self.renew(lease).await?;
        let inspection = remote.inspect(&view.conf_dir).await?;
        progress(ctx, 50, &format!("nginx configuration read; pid file {}", inspection.pid_file)).await;
        let layout = Layout { conf_dir: view.conf_dir.clone() };
        remote.layout(&view.conf_dir).await?;
        let server_tokens = !inspection.operator_directives.contains("server_tokens");
        remote.upload(&layout.include_file(), &layout.include_content(server_tokens)).await?;
        let mut notes = Vec::new();
        let main_file = match &inspection.main_dir {
            Some(dir) if !inspection.operator_directives.contains("worker_shutdown_timeout") => {
                let path = format!("{dir}/gantry-main.conf");
                remote.upload(&path, MAIN_FILE_CONTENT).await?;
                Some(path)
            }
            Some(_) => None,
            None => {
                if !inspection.operator_directives.contains("worker_shutdown_timeout") {
                    notes.push("nginx.conf has no main-level include directory, so Gantry did not set worker_shutdown_timeout; add `worker_shutdown_timeout 30s;` to nginx.conf to bound graceful reloads".into());
                }
                None
            }
        };
        progress(ctx, 60, "layout written; validating with nginx -t").await;
        let undo = async |remote: &Remote<'_>| {
            let mut paths = vec![layout.include_file()];
            paths.extend(main_file.clone());
            let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
            let _ = remote.remove(&refs).await;
        };
        if let Err(e) = remote.test_config().await {
            undo(&remote).await;
            return Err(e.into());
        }
        if !remote.is_included(&layout.include_file()).await? {
            undo(&remote).await;
            return Err(ProxyError::Invalid(format!(
                "nginx does not load {}: nginx.conf must include {}/conf.d/*.conf inside http {{}}",
                layout.include_file(),
                view.conf_dir
            )));
        }
        self.renew(lease).await?;
        let how = remote.start(probe.systemd, &inspection.pid_file).await?;
        if !probe.systemd {
            notes.push("no systemd: Gantry started nginx directly; make sure your init starts nginx at boot".into());
        }
        progress(ctx, 75, &format!("nginx {how}{}", if probe.systemd { " and enabled at boot" } else { "" })).await;
        let mut operator_directives: BTreeSet<String> = inspection.operator_directives.clone();
        operator_directives.retain(|d| render::HTTP_DEFAULTS.contains(&d.as_str()) || d == "server_tokens");
        Ok(InstallInfo {
            os_id: probe.os_id,
            os_name: probe.os_name,
            os_family: family,
            nginx_version: version,
            installed_package,
            systemd: probe.systemd,
            conf_dir: view.conf_dir.clone(),
            pid_file: inspection.pid_file,
            main_include_dir: inspection.main_dir,
            operator_directives,
            status_port: view.status_port,
            ipv6: probe.ipv6,
            notes,
            installed_at: Utc::now(),
        })
    }

    /// Removes Gantry's configuration (and with `remove_package`, nginx).
    pub async fn uninstall(&self, server_id: i64, remove_package: bool, ctx: Option<&JobContext>) -> Result<Value, ProxyError> {
        let lease = self.lease(server_id, self.settings.lease * 2).await?;
        let r = async {
            let row = self.repo.ensure(server_id).await?;
            let info = Self::install_info(&row)?;
            let (conn, sudo) = self.connect(server_id).await?;
            let remote = self.remote(&conn, sudo);
            let layout = Layout { conf_dir: info.conf_dir.clone() };
            let main = info.main_include_dir.as_ref().map(|d| format!("{d}/gantry-main.conf"));
            let pkg = remove_package.then_some(match info.os_family {
                OsFamily::Debian => "apt",
                OsFamily::Rhel => "dnf",
            });
            progress(ctx, 30, "removing Gantry's configuration and reloading nginx").await;
            remote.uninstall(&layout, main.as_deref(), info.systemd, &info.pid_file, pkg).await?;
            if !remove_package {
                // The reload is asynchronous: wait until nginx no longer loads Gantry's part.
                let deadline = Instant::now() + self.settings.verify_timeout;
                while remote
                    .http_get("127.0.0.1", info.status_port, "gantry-status", render::MARKER_PATH)
                    .await
                    .is_ok_and(|r| r.status == 200)
                {
                    if Instant::now() >= deadline {
                        return Err(ProxyError::Invalid("nginx still serves Gantry's configuration after the reload".into()));
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            let changes = StateChanges {
                installed: Some(false),
                install: Some(None),
                live: Some((None, None)),
                inflight: Some(None),
                drift: Some(None),
                ..Default::default()
            };
            self.set_state(&row, ProxyStatus::NotInstalled, Some("uninstalled".into()), changes, Trail::default()).await?;
            progress(ctx, 100, if remove_package { "uninstalled; nginx removed" } else { "uninstalled; nginx stays installed" }).await;
            Ok::<_, ProxyError>(json!({"removed_package": remove_package}))
        }
        .await;
        self.release(lease).await;
        r
    }
}

/// Reports job progress when running as a job.
pub(crate) async fn progress(ctx: Option<&JobContext>, pct: i32, msg: &str) {
    if let Some(c) = ctx {
        c.progress(pct, msg).await;
    }
}

fn clean_reason(reason: Option<String>) -> Result<Option<String>, ProxyError> {
    match reason.map(|r| r.trim().to_string()).filter(|r| !r.is_empty()) {
        Some(r) if r.chars().count() > 500 => Err(ServiceError::field("reason", "must be at most 500 characters").into()),
        Some(r) if r.chars().any(char::is_control) => Err(ServiceError::field("reason", "must not contain control characters").into()),
        other => Ok(other),
    }
}
