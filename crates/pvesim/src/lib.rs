//! A faithful Proxmox VE API simulator for Gantry's integration tests, benchmark and demos.
//!
//! Boundary: this crate owns a simulated cluster (nodes, storages, guests, pools, users, ACLs,
//! node networks, tasks and locks) served over HTTPS on loopback, one listener per node, with
//! Proxmox's envelope, error messages, auth, lock timeouts, clone semantics, lagged metrics and
//! 595 answers for offline nodes. Every `/api2/json` request is validated against the official
//! 9.1.3 schema ([`schema`]). It does not talk to real Proxmox and knows nothing about Gantry.

mod api;
mod auth;
pub mod config;
mod control;
mod error;
mod faults;
mod locks;
mod random;
mod routes;
pub mod schema;
mod server;
mod state;
mod tasks;
mod tls;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::AtomicU32;
use std::sync::{Arc, Mutex};

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use config::{
    AclConfig, DEMO_ROOT_PASSWORD, DEMO_TOKEN_SECRET, GuestConfig, IfaceConfig, NextIdRange, NodeConfig, PoolConfig, SimConfig,
    StorageConfig, Timing, TokenConfig, UserConfig,
};
pub use error::{ApiError, SimError};
pub use faults::Fault;
pub use routes::{Route, implemented};
pub use state::{
    AclEntry, NetworkChange, PoolSnapshot, RequestRecord, RunState, SimStats, StateSnapshot, UserSnapshot, VOLATILE_KEYS, VmSnapshot,
};
pub use tasks::{UPID_REGEX, Upid, parse_upid};
pub use tls::fingerprint;

use state::{CertInfo, Sim};

/// Starts simulators.
#[derive(Debug)]
pub struct Simulator;

/// A running simulator; dropping it without [`SimHandle::shutdown`] leaves listeners running
/// until the runtime ends.
#[derive(Debug)]
pub struct SimHandle {
    sim: Arc<Sim>,
    urls: Vec<String>,
    metrics_task: tokio::task::JoinHandle<()>,
}

impl Simulator {
    /// Binds one HTTPS listener per node on the configured loopback address (ephemeral ports)
    /// and starts serving.
    pub async fn start(cfg: SimConfig) -> Result<SimHandle, SimError> {
        let ip: IpAddr = cfg.listen.parse().map_err(|_| SimError::NotLoopback(cfg.listen.clone()))?;
        if !ip.is_loopback() {
            return Err(SimError::NotLoopback(cfg.listen.clone()));
        }
        if cfg.nodes.is_empty() {
            return Err(SimError::Config("at least one node is required".into()));
        }
        for g in &cfg.guests {
            if !cfg.nodes.iter().any(|n| n.name == g.node) {
                return Err(SimError::Config(format!("guest {} is on unknown node '{}'", g.vmid, g.node)));
            }
        }
        schema::schema().map_err(|e| SimError::Schema(e.to_string()))?;
        let names: Vec<String> = cfg.nodes.iter().map(|n| n.name.clone()).collect();
        let cert = tls::generate(&names)?;
        let acceptor = TlsAcceptor::from(cert.config.clone());
        let online: BTreeMap<String, watch::Sender<bool>> =
            cfg.nodes.iter().map(|n| (n.name.clone(), watch::Sender::new(n.online))).collect();
        let sim = Arc::new(Sim {
            cluster: Mutex::new(state::initial_cluster(&cfg)),
            cfg,
            locks: locks::Locks::default(),
            faults: Mutex::new(faults::Faults::default()),
            requests: Mutex::new(Vec::new()),
            stats: Mutex::new(SimStats::default()),
            metrics: Mutex::new(state::Metrics::default()),
            online,
            cert: CertInfo { pem: cert.pem.clone(), fingerprint: cert.fingerprint.clone() },
            secret: random::hex(32),
            shutdown: CancellationToken::new(),
            tracker: TaskTracker::new(),
            pid: AtomicU32::new(0x0001_0000 + (random::u64() % 0x1000) as u32),
        });
        sim.refresh_metrics();
        let base =
            Router::new().merge(control::router()).route("/api2/json/{*rest}", axum::routing::any(api::dispatch)).with_state(sim.clone());
        let mut urls = Vec::new();
        for node in &sim.cfg.nodes {
            let listener = TcpListener::bind(SocketAddr::new(ip, 0)).await?;
            let addr = listener.local_addr()?;
            urls.push(format!("https://{addr}"));
            let router = base.clone().layer(axum::Extension(server::LocalNode(node.name.clone())));
            sim.tracker.spawn(server::serve_node(sim.clone(), node.name.clone(), addr, Some(listener), router, acceptor.clone()));
        }
        let metrics_sim = sim.clone();
        let metrics_task = tokio::spawn(async move {
            let lag = metrics_sim.timing().exact(metrics_sim.timing().metrics_lag_ms);
            let lag = lag.max(std::time::Duration::from_millis(1));
            loop {
                tokio::select! {
                    () = tokio::time::sleep(lag) => metrics_sim.refresh_metrics(),
                    () = metrics_sim.shutdown.cancelled() => return,
                }
            }
        });
        tracing::info!(?urls, "pvesim started");
        Ok(SimHandle { sim, urls, metrics_task })
    }
}

impl SimHandle {
    /// One base URL per node, in config order (`https://127.0.0.1:40123`).
    pub fn urls(&self) -> Vec<String> {
        self.urls.clone()
    }

    /// The base URL of a node's listener.
    pub fn url_of(&self, node: &str) -> Option<String> {
        self.sim.cfg.nodes.iter().position(|n| n.name == node).and_then(|i| self.urls.get(i).cloned())
    }

    /// SHA-256 fingerprint of the certificate, `AB:CD:...`.
    pub fn fingerprint(&self) -> String {
        self.sim.cert.fingerprint.clone()
    }

    /// The self-signed certificate in PEM (trust it as a CA).
    pub fn cert_pem(&self) -> String {
        self.sim.cert.pem.clone()
    }

    /// The configuration the simulator runs with.
    pub fn config(&self) -> &SimConfig {
        &self.sim.cfg
    }

    /// Canonical state snapshot.
    pub fn snapshot(&self) -> StateSnapshot {
        self.sim.snapshot()
    }

    /// Every API request so far.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.sim.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Requests whose parameters failed schema validation.
    pub fn schema_violations(&self) -> Vec<RequestRecord> {
        self.requests().into_iter().filter(|r| !r.schema_errors.is_empty()).collect()
    }

    /// Counters.
    pub fn stats(&self) -> SimStats {
        self.sim.stats().clone()
    }

    /// Arms a fault.
    pub fn inject(&self, fault: Fault) {
        control::apply_fault(&self.sim, fault);
    }

    /// Takes a node offline (its listener refuses connections, others answer 595) or back.
    pub fn set_node_online(&self, node: &str, online: bool) {
        self.sim.set_online(node, online);
    }

    /// Forces a pvestatd refresh now (tests that do not want to wait for the lag).
    pub fn refresh_metrics(&self) {
        self.sim.refresh_metrics();
    }

    /// Stops listeners and tasks and waits for them.
    pub async fn shutdown(self) {
        self.sim.shutdown.cancel();
        self.sim.tracker.close();
        self.metrics_task.abort();
        self.sim.tracker.wait().await;
    }
}
