//! Server inventory rules, credentials, host-key trust, checks and probes.

use crate::model::*;
use crate::store::{self, Changes, ListFilter, ServerRepo};
use chrono::Utc;
use gantry_core::audit::{Actor, AuditDraft};
use gantry_core::eventlog::{Record, Severity};
use gantry_core::events::DomainEvent;
use gantry_core::jobs::{Job, NewJob};
use gantry_core::metrics::{Gauge, Histogram};
use gantry_core::page::{Page, PageRequest};
use gantry_core::repo::{JobRepo, Trail};
use gantry_core::secrets::Keyring;
use gantry_core::user::Role;
use gantry_core::{FieldError, ServiceError, StoreError};
use gantry_ssh::{Cmd, Connection, Pool, RunOptions, SshError, SshKey, Step, StepReport, Target, Timeouts};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Secret-column context for private keys (bound into the ciphertext).
const KEY_CONTEXT: &str = "servers.private_key";
/// Job kind of a server check.
pub const CHECK_JOB: &str = "servers.check";

/// Client credentials as given in a request.
#[derive(Debug, Clone)]
pub enum CredentialsInput {
    /// A pasted private key and its passphrase, if encrypted.
    Key {
        /// OpenSSH or PEM text.
        private_key: SecretString,
        /// Opens an encrypted key; never stored (the opened key is stored encrypted).
        passphrase: Option<SecretString>,
    },
    /// Generate an Ed25519 pair.
    Generate,
}

/// Raw input for creating or changing a server.
#[derive(Debug, Clone, Default)]
pub struct ServerInput {
    /// Name.
    pub name: Option<String>,
    /// Address.
    pub address: Option<String>,
    /// Port.
    pub port: Option<u32>,
    /// SSH user.
    pub ssh_user: Option<String>,
    /// Privilege mode.
    pub privilege: Option<Privilege>,
    /// Labels.
    pub labels: Option<BTreeMap<String, String>>,
    /// Description.
    pub description: Option<String>,
    /// Parameters.
    pub parameters: Option<BTreeMap<String, Value>>,
    /// Credentials.
    pub credentials: Option<CredentialsInput>,
    /// A host-key fingerprint to pin up front.
    pub host_key: Option<String>,
}

/// A server's status changed.
#[derive(Debug, Clone, Serialize)]
pub struct ServerStatusChanged {
    /// Server id.
    pub server_id: i64,
    /// Server name.
    pub name: String,
    /// Previous status.
    pub from: ServerStatus,
    /// New status.
    pub to: ServerStatus,
    /// Why.
    pub message: Option<String>,
}

impl DomainEvent for ServerStatusChanged {
    const KIND: &'static str = "server.status_changed";
    fn entity(&self) -> Option<(&'static str, String)> {
        Some(("server", self.server_id.to_string()))
    }
    fn record(&self) -> Option<Record> {
        let why = self.message.as_deref().map(|m| format!(": {m}")).unwrap_or_default();
        let (severity, kind, message) = match self.to {
            ServerStatus::Ok => (Severity::Info, "server.up", format!("Server {} is reachable (was {})", self.name, self.from.as_str())),
            ServerStatus::Unknown => return None,
            ServerStatus::Unreachable => (Severity::Error, "server.down", format!("Server {} is unreachable{why}", self.name)),
            ServerStatus::AuthFailed => {
                (Severity::Error, "server.auth_failed", format!("Server {} refused Gantry's login{why}", self.name))
            }
            ServerStatus::HostKeyChanged => {
                (Severity::Error, "server.host_key_changed", format!("Server {} presented a different host key{why}", self.name))
            }
        };
        Some(
            Record::new(severity, "servers", kind, message)
                .entity("server", self.server_id, Some(&self.name))
                .details(serde_json::json!({ "from": self.from, "to": self.to, "message": self.message })),
        )
    }
}

/// One step of a check, as stored in the job result.
#[derive(Debug, Clone, Serialize)]
pub struct CheckStep {
    /// `resolve`, `tcp`, `handshake`, `host_key`, `auth`, `privilege`, `facts`.
    pub step: String,
    /// Whether it passed.
    pub ok: bool,
    /// Milliseconds.
    pub duration_ms: u64,
    /// What happened.
    pub message: String,
}

impl From<&StepReport> for CheckStep {
    fn from(r: &StepReport) -> Self {
        Self { step: r.step.as_str().into(), ok: r.ok, duration_ms: r.duration.as_millis() as u64, message: r.message.clone() }
    }
}

/// Something that depends on servers (e.g. domain groups bound to one).
/// Other modules register one so a server is never deleted from under them.
#[async_trait::async_trait]
pub trait ServerDependents: Send + Sync {
    /// What depends on `server_id`, one line each (e.g. "domain group web (3 domains)").
    async fn describe(&self, server_id: i64) -> Result<Vec<String>, ServiceError>;
    /// Detaches them (e.g. unbinds the groups), audited as `actor`.
    async fn detach(&self, server_id: i64, actor: &Actor) -> Result<(), ServiceError>;
}

/// Metrics of the module.
#[derive(Clone)]
pub struct ServerMetrics {
    /// 1 when the server's last check or probe succeeded.
    pub up: Gauge,
    /// Duration of checks.
    pub check_duration: Histogram,
}

/// The servers service.
pub struct ServersService {
    repo: ServerRepo,
    jobs: Arc<dyn JobRepo>,
    keyring: Arc<Keyring>,
    /// Pooled SSH connections and the global fan-out bound.
    pub pool: Arc<Pool>,
    metrics: ServerMetrics,
    waker: gantry_core::jobs::Waker,
    bus: gantry_core::events::EventBus,
    dependents: std::sync::RwLock<Vec<Arc<dyn ServerDependents>>>,
}

fn field_errors(errors: &mut Vec<FieldError>, field: &str, r: Result<(), String>) {
    if let Err(m) = r {
        errors.push(FieldError::new(field, m));
    }
}

fn not_found(e: StoreError) -> ServiceError {
    match e {
        StoreError::NotFound => ServiceError::NotFound("server"),
        StoreError::Conflict { .. } => {
            ServiceError::Conflict { field: "name".into(), message: "a server with this name already exists".into() }
        }
        other => other.into(),
    }
}

fn authorize_command(public_line: &str) -> String {
    format!("mkdir -p ~/.ssh && chmod 700 ~/.ssh && echo '{public_line}' >> ~/.ssh/authorized_keys && chmod 600 ~/.ssh/authorized_keys")
}

impl ServersService {
    /// Builds the service.
    pub fn new(
        db: gantry_store::Db,
        jobs: Arc<dyn JobRepo>,
        keyring: Arc<Keyring>,
        pool: Arc<Pool>,
        metrics: ServerMetrics,
        waker: gantry_core::jobs::Waker,
        bus: gantry_core::events::EventBus,
    ) -> Self {
        Self { repo: ServerRepo { db }, jobs, keyring, pool, metrics, waker, bus, dependents: Default::default() }
    }

    /// Registers a module's dependents check (called while mounting).
    pub fn add_dependents(&self, d: Arc<dyn ServerDependents>) {
        if let Ok(mut v) = self.dependents.write() {
            v.push(d);
        }
    }

    fn dependents(&self) -> Vec<Arc<dyn ServerDependents>> {
        self.dependents.read().map(|v| v.clone()).unwrap_or_default()
    }

    fn to_view(&self, m: store::Model) -> Result<Server, ServiceError> {
        let corrupt = |what: &str| ServiceError::Internal(format!("stored server {} has invalid {what}", m.id));
        Ok(Server {
            id: m.id,
            name: m.name.clone(),
            address: m.address.clone(),
            port: u16::try_from(m.port).map_err(|_| corrupt("port"))?,
            ssh_user: m.ssh_user.clone(),
            privilege: if m.privilege == "sudo" { Privilege::Sudo } else { Privilege::Root },
            labels: serde_json::from_str(&m.labels).map_err(|_| corrupt("labels"))?,
            description: m.description.clone(),
            parameters: serde_json::from_str(&m.parameters).map_err(|_| corrupt("parameters"))?,
            credentials: CredentialInfo {
                kind: m.key_type.clone(),
                fingerprint: m.key_fingerprint.clone(),
                public_key: m.public_key.clone(),
                generated: m.key_generated,
            },
            authorize_command: m.key_generated.then(|| authorize_command(&m.public_key)),
            host_key: HostKeyInfo { pinned: m.host_key.clone(), pending: m.host_key_pending.clone() },
            status: ServerStatus::parse(&m.status).ok_or_else(|| corrupt("status"))?,
            status_message: m.status_message.clone(),
            last_seen_at: m.last_seen_at,
            last_checked_at: m.last_checked_at,
            facts: m.facts.as_deref().and_then(|f| serde_json::from_str(f).ok()),
            last_check_job_id: m.last_check_job_id,
            version: m.version,
            created_at: m.created_at,
            updated_at: m.updated_at,
        })
    }

    fn parse_credentials(&self, c: CredentialsInput, name: &str, errors: &mut Vec<FieldError>) -> Option<(SshKey, bool)> {
        match c {
            CredentialsInput::Generate => match SshKey::generate(&format!("gantry@{name}")) {
                Ok(k) => Some((k, true)),
                Err(e) => {
                    errors.push(FieldError::new("credentials", e.to_string()));
                    None
                }
            },
            CredentialsInput::Key { private_key, passphrase } => match SshKey::parse(&private_key, passphrase.as_ref()) {
                Ok(k) => Some((k, false)),
                Err(e) => {
                    let field = match e {
                        gantry_ssh::KeyError::NeedsPassphrase | gantry_ssh::KeyError::WrongPassphrase => "credentials.passphrase",
                        _ => "credentials.private_key",
                    };
                    errors.push(FieldError::new(field, e.to_string()));
                    None
                }
            },
        }
    }

    fn encrypt_key(&self, key: &SshKey) -> Result<String, ServiceError> {
        let text = key.to_openssh().map_err(|e| ServiceError::Internal(e.to_string()))?;
        self.keyring.encrypt(KEY_CONTEXT, text.expose_secret().as_bytes()).map_err(|e| ServiceError::Internal(e.to_string()))
    }

    /// Lists servers.
    pub async fn list(&self, filter: &ListFilter, page: PageRequest) -> Result<Page<Server>, ServiceError> {
        let rows = self.repo.list(filter, page.after.as_ref().map(|c| c.id), page.limit).await.map_err(not_found)?;
        let views = rows.into_iter().map(|m| self.to_view(m)).collect::<Result<Vec<_>, _>>()?;
        Ok(page.finish(views, |s| s.id))
    }

    /// One server.
    pub async fn get(&self, id: i64) -> Result<Server, ServiceError> {
        self.to_view(self.repo.get(id).await.map_err(not_found)?)
    }

    /// Creates a server after validating every field.
    pub async fn create(&self, input: ServerInput, actor: &Actor) -> Result<Server, ServiceError> {
        let mut errors = Vec::new();
        let name = match input.name.as_deref().map(ServerName::parse) {
            Some(Ok(n)) => Some(n),
            Some(Err(m)) => {
                errors.push(FieldError::new("name", m));
                None
            }
            None => {
                errors.push(FieldError::new("name", "is required"));
                None
            }
        };
        let address = match input.address.as_deref().map(Address::parse) {
            Some(Ok(a)) => Some(a),
            Some(Err(m)) => {
                errors.push(FieldError::new("address", m));
                None
            }
            None => {
                errors.push(FieldError::new("address", "is required"));
                None
            }
        };
        let port = input.port.unwrap_or(22);
        field_errors(&mut errors, "port", if (1..=65535).contains(&port) { Ok(()) } else { Err("must be 1–65535".into()) });
        let user =
            parse_ssh_user(input.ssh_user.as_deref().unwrap_or("root")).map_err(|m| errors.push(FieldError::new("ssh_user", m))).ok();
        let privilege = input.privilege.unwrap_or(if user.as_deref() == Some("root") { Privilege::Root } else { Privilege::Sudo });
        if privilege == Privilege::Root && user.as_deref().is_some_and(|u| u != "root") {
            errors.push(FieldError::new("privilege", "root mode needs ssh_user root; use sudo for other users"));
        }
        let labels = parse_labels(&input.labels.unwrap_or_default()).map_err(|e| errors.extend(e)).ok();
        let parameters = parse_parameters(&input.parameters.unwrap_or_default()).map_err(|e| errors.extend(e)).ok();
        let description = input.description.unwrap_or_default();
        if description.chars().count() > 1000 {
            errors.push(FieldError::new("description", "must be at most 1000 characters"));
        }
        let host_key = match input.host_key.as_deref().map(parse_fingerprint) {
            Some(Ok(f)) => Some(f),
            Some(Err(m)) => {
                errors.push(FieldError::new("host_key", m));
                None
            }
            None => None,
        };
        let key = match input.credentials {
            Some(c) => self.parse_credentials(c, name.as_ref().map(|n| n.as_str()).unwrap_or("server"), &mut errors),
            None => {
                errors.push(FieldError::new("credentials", "give a private_key or ask to generate one"));
                None
            }
        };
        let (Some(name), Some(address), Some(user), Some(labels), Some(parameters), Some((key, generated)), true) =
            (name, address, user, labels, parameters, key, errors.is_empty())
        else {
            return Err(ServiceError::Validation(errors));
        };
        let now = Utc::now();
        let model = store::ActiveModel {
            name: sea_orm::ActiveValue::Set(name.as_str().to_string()),
            address: sea_orm::ActiveValue::Set(address.host()),
            port: sea_orm::ActiveValue::Set(i32::try_from(port).unwrap_or(22)),
            ssh_user: sea_orm::ActiveValue::Set(user),
            privilege: sea_orm::ActiveValue::Set(privilege.as_str().into()),
            labels: sea_orm::ActiveValue::Set(serde_json::to_string(&labels).unwrap_or_else(|_| "{}".into())),
            description: sea_orm::ActiveValue::Set(description),
            parameters: sea_orm::ActiveValue::Set(serde_json::to_string(&parameters).unwrap_or_else(|_| "{}".into())),
            key_enc: sea_orm::ActiveValue::Set(self.encrypt_key(&key)?),
            key_type: sea_orm::ActiveValue::Set(key.kind()),
            key_fingerprint: sea_orm::ActiveValue::Set(key.fingerprint()),
            public_key: sea_orm::ActiveValue::Set(key.public_line()),
            key_generated: sea_orm::ActiveValue::Set(generated),
            host_key: sea_orm::ActiveValue::Set(host_key),
            host_key_pending: sea_orm::ActiveValue::Set(None),
            status: sea_orm::ActiveValue::Set(ServerStatus::Unknown.as_str().into()),
            status_message: sea_orm::ActiveValue::Set(None),
            last_seen_at: sea_orm::ActiveValue::Set(None),
            last_checked_at: sea_orm::ActiveValue::Set(None),
            facts: sea_orm::ActiveValue::Set(None),
            last_check_job_id: sea_orm::ActiveValue::Set(None),
            version: sea_orm::ActiveValue::Set(1),
            created_at: sea_orm::ActiveValue::Set(now),
            updated_at: sea_orm::ActiveValue::Set(now),
            ..Default::default()
        };
        let summary = json!({"after": {"name": name.as_str(), "address": address.host(), "port": port,
            "client_key": {"type": key.kind(), "fingerprint": key.fingerprint(), "generated": generated}}});
        let trail = Trail::audit(AuditDraft::new(actor, "server.create", "server", None, summary));
        let row = self.repo.insert(model, trail).await.map_err(not_found)?;
        self.to_view(row)
    }

    /// Changes a server (optimistic concurrency with `if_match`).
    pub async fn update(&self, id: i64, if_match: Option<i64>, input: ServerInput, actor: &Actor) -> Result<Server, ServiceError> {
        let before = self.get(id).await?;
        if let Some(v) = if_match
            && v != before.version
        {
            return Err(ServiceError::Stale { current: before.version });
        }
        let mut errors = Vec::new();
        let mut c = Changes::default();
        if let Some(n) = input.name.as_deref() {
            match ServerName::parse(n) {
                Ok(n) => c.name = Some(n.as_str().to_string()),
                Err(m) => errors.push(FieldError::new("name", m)),
            }
        }
        if let Some(a) = input.address.as_deref() {
            match Address::parse(a) {
                Ok(a) => c.address = Some(a.host()),
                Err(m) => errors.push(FieldError::new("address", m)),
            }
        }
        if let Some(p) = input.port {
            if (1..=65535).contains(&p) {
                c.port = i32::try_from(p).ok();
            } else {
                errors.push(FieldError::new("port", "must be 1–65535"));
            }
        }
        if let Some(u) = input.ssh_user.as_deref() {
            match parse_ssh_user(u) {
                Ok(u) => c.ssh_user = Some(u),
                Err(m) => errors.push(FieldError::new("ssh_user", m)),
            }
        }
        let user = c.ssh_user.clone().unwrap_or(before.ssh_user.clone());
        let privilege = input.privilege.unwrap_or(before.privilege);
        if privilege == Privilege::Root && user != "root" {
            errors.push(FieldError::new("privilege", "root mode needs ssh_user root; use sudo for other users"));
        }
        c.privilege = input.privilege.map(|p| p.as_str().to_string());
        if let Some(l) = &input.labels {
            match parse_labels(l) {
                Ok(l) => c.labels = serde_json::to_string(&l).ok(),
                Err(e) => errors.extend(e),
            }
        }
        if let Some(p) = &input.parameters {
            match parse_parameters(p) {
                Ok(p) => c.parameters = serde_json::to_string(&p).ok(),
                Err(e) => errors.extend(e),
            }
        }
        if let Some(d) = input.description {
            if d.chars().count() > 1000 {
                errors.push(FieldError::new("description", "must be at most 1000 characters"));
            }
            c.description = Some(d);
        }
        if let Some(h) = input.host_key.as_deref() {
            match parse_fingerprint(h) {
                Ok(f) => {
                    c.host_key = Some(Some(f));
                    c.host_key_pending = Some(None);
                }
                Err(m) => errors.push(FieldError::new("host_key", m)),
            }
        }
        let mut new_key = None;
        if let Some(cred) = input.credentials
            && let Some((k, generated)) = self.parse_credentials(cred, &before.name, &mut errors)
        {
            new_key = Some((k, generated));
        }
        if !errors.is_empty() {
            return Err(ServiceError::Validation(errors));
        }
        if let Some((k, generated)) = &new_key {
            c.key = Some((self.encrypt_key(k)?, k.kind(), k.fingerprint(), k.public_line(), *generated));
        }
        let summary = json!({
            "before": {"name": before.name, "address": before.address, "port": before.port, "ssh_user": before.ssh_user, "privilege": before.privilege, "client_key": {"fingerprint": before.credentials.fingerprint}},
            "after": {"name": c.name, "address": c.address, "port": c.port, "ssh_user": c.ssh_user, "privilege": c.privilege,
                "client_key": new_key.as_ref().map(|(k, g)| json!({"type": k.kind(), "fingerprint": k.fingerprint(), "generated": g}))},
        });
        let trail = Trail::audit(AuditDraft::new(actor, "server.update", "server", Some(id.to_string()), summary));
        let row = self.repo.update(id, Some(before.version), c, trail).await.map_err(not_found)?;
        self.pool.forget(id).await;
        self.to_view(row)
    }

    /// Deletes a server. Dependents (domain groups, once that module exists)
    /// must be detached explicitly with `force`; the answer lists them.
    pub async fn delete(&self, id: i64, force: bool, actor: &Actor) -> Result<Vec<String>, ServiceError> {
        let s = self.get(id).await?;
        let mut dependents: Vec<String> = Vec::new();
        for d in self.dependents() {
            dependents.extend(d.describe(id).await?);
        }
        if !dependents.is_empty() && !force {
            return Err(ServiceError::InvalidState(format!(
                "{} depend on this server: {}; delete with force=true to detach them",
                dependents.len(),
                dependents.join(", ")
            )));
        }
        for d in self.dependents() {
            d.detach(id, actor).await?;
        }
        let trail = Trail::audit(AuditDraft::new(
            actor,
            "server.delete",
            "server",
            Some(id.to_string()),
            json!({"before": {"name": s.name, "address": s.address}, "detached": dependents}),
        ));
        self.repo.delete(id, trail).await.map_err(not_found)?;
        self.pool.forget(id).await;
        self.metrics.up.remove(&[&s.name]);
        Ok(dependents)
    }

    /// Pins the pending host key after an admin compared it out of band.
    pub async fn accept_host_key(&self, id: i64, fingerprint: &str, actor: &Actor) -> Result<Server, ServiceError> {
        let s = self.get(id).await?;
        let fp = parse_fingerprint(fingerprint).map_err(|m| ServiceError::field("fingerprint", m))?;
        if s.host_key.pending.as_deref() != Some(fp.as_str()) {
            return Err(ServiceError::field(
                "fingerprint",
                "must equal the pending host key the server presented (compare it on the server with ssh-keygen -lf)",
            ));
        }
        let c = Changes {
            host_key: Some(Some(fp.clone())),
            host_key_pending: Some(None),
            status: Some(ServerStatus::Unknown.as_str().into()),
            ..Default::default()
        };
        let summary = json!({"before": {"host_key": s.host_key.pinned}, "after": {"host_key": fp}});
        let trail = Trail::audit(AuditDraft::new(actor, "server.host_key_accept", "server", Some(id.to_string()), summary));
        let row = self.repo.update(id, None, c, trail).await.map_err(not_found)?;
        self.pool.forget(id).await;
        self.to_view(row)
    }

    /// Enqueues a check job.
    pub async fn start_check(&self, id: i64, actor: &Actor) -> Result<Job, ServiceError> {
        let s = self.get(id).await?;
        let mut job = NewJob::new(CHECK_JOB, json!({"server_id": id}));
        job.created_by = actor.user_id;
        job.audience = Role::Viewer;
        job.max_attempts = 1;
        let trail = Trail::audit(AuditDraft::new(actor, "server.check", "server", Some(id.to_string()), json!({"name": s.name})));
        let job = self.jobs.enqueue(job, trail).await?;
        self.repo.set_last_check(id, job.id.0).await.map_err(not_found)?;
        self.waker.wake();
        Ok(job)
    }

    /// The connection target of a server, with its decrypted key.
    pub async fn target(&self, id: i64) -> Result<(Target, store::Model), ServiceError> {
        let m = self.repo.get(id).await.map_err(not_found)?;
        let plain = self.keyring.decrypt(KEY_CONTEXT, &m.key_enc).map_err(|e| ServiceError::Internal(format!("server {id} key: {e}")))?;
        let text = SecretString::from(String::from_utf8_lossy(plain.expose_secret()).into_owned());
        let key = SshKey::parse(&text, None).map_err(|e| ServiceError::Internal(format!("server {id} key: {e}")))?;
        let t = Target {
            server_id: m.id,
            host: m.address.clone(),
            port: u16::try_from(m.port).unwrap_or(22),
            user: m.ssh_user.clone(),
            key,
            pinned_host_key: m.host_key.clone(),
        };
        Ok((t, m))
    }

    /// A pooled connection for other modules' remote work. Refused while the host key is in question.
    pub async fn connect(&self, id: i64) -> Result<(Arc<Connection>, bool), ServiceError> {
        let (t, m) = self.target(id).await?;
        if m.status == ServerStatus::HostKeyChanged.as_str() {
            return Err(ServiceError::InvalidState(format!(
                "server {} presented a changed host key; an admin must accept it first",
                m.name
            )));
        }
        let conn = self.pool.get(&t).await.map_err(|e| ServiceError::InvalidState(e.to_string()))?;
        Ok((conn, m.privilege == "sudo"))
    }

    fn timeouts(m: &store::Model, base: Timeouts) -> Timeouts {
        let params: BTreeMap<String, Value> = serde_json::from_str(&m.parameters).unwrap_or_default();
        let mut t = base;
        if let Some(s) = params.get("connect_timeout_seconds").and_then(Value::as_u64) {
            t.connect = Duration::from_secs(s);
        }
        if let Some(s) = params.get("command_timeout_seconds").and_then(Value::as_u64) {
            t.command = Duration::from_secs(s);
        }
        t
    }

    /// Runs the full check, step by step; records status, facts and the pinned key.
    pub async fn check(
        &self,
        id: i64,
        job: Option<&gantry_core::jobs::JobContext>,
    ) -> Result<(bool, Vec<CheckStep>, Option<Value>), ServiceError> {
        let progress = async |pct: i32, msg: String| {
            if let Some(j) = job {
                j.progress(pct, &msg).await;
            }
        };
        let started = Instant::now();
        let (target, m) = self.target(id).await?;
        let timeouts = Self::timeouts(&m, self.pool.timeouts);
        let mut reports = Vec::new();
        progress(5, format!("connecting to {}:{}", target.host, target.port)).await;
        let opened = Connection::open(&target, &timeouts, &mut reports).await;
        let mut steps: Vec<CheckStep> = reports.iter().map(CheckStep::from).collect();
        for (i, s) in steps.iter().enumerate() {
            let pct = 10 + 10 * i32::try_from(i).unwrap_or(0);
            progress(pct, format!("{}: {} ({})", s.step, if s.ok { "ok" } else { "FAILED" }, s.message)).await;
        }
        let conn = match opened {
            Ok(c) => c,
            Err(e) => {
                self.record_failure(&m, &e, true).await;
                self.metrics.check_duration.observe(&[], started.elapsed().as_secs_f64());
                return Ok((false, steps, None));
            }
        };
        let sudo = m.privilege == "sudo";
        // Privilege.
        let t = Instant::now();
        let priv_cmd = if sudo { Cmd::new("true").sudo() } else { Cmd::new("id").arg("-u") };
        let priv_res = conn.run(&priv_cmd, RunOptions { timeout: Some(timeouts.command), ..Default::default() }).await;
        let (priv_ok, priv_msg) = match &priv_res {
            Ok(o) if sudo && o.success() => (true, "sudo -n works without a password".to_string()),
            Ok(o) if sudo => (false, format!("sudo needs a password or is not allowed for {}: {}", m.ssh_user, o.stderr_text().trim())),
            Ok(o) if o.stdout_text().trim() == "0" => (true, "logged in as root".to_string()),
            Ok(_) => (false, format!("{} is not root; use privilege mode sudo", m.ssh_user)),
            Err(e) => (false, e.to_string()),
        };
        steps.push(CheckStep {
            step: "privilege".into(),
            ok: priv_ok,
            duration_ms: t.elapsed().as_millis() as u64,
            message: priv_msg.clone(),
        });
        progress(75, format!("privilege: {} ({priv_msg})", if priv_ok { "ok" } else { "FAILED" })).await;
        if !priv_ok {
            self.set_status(&m, ServerStatus::AuthFailed, Some(priv_msg), Some(&conn.host_key), None).await;
            conn.close().await;
            self.metrics.check_duration.observe(&[], started.elapsed().as_secs_f64());
            return Ok((false, steps, None));
        }
        // Facts.
        let t = Instant::now();
        let mut facts_cmd = Cmd::new("sh").arg("-c").arg(FACTS_SCRIPT);
        if sudo {
            facts_cmd = facts_cmd.sudo();
        }
        let facts = match conn.run(&facts_cmd, RunOptions { timeout: Some(timeouts.command), ..Default::default() }).await {
            Ok(o) if o.success() => Some(parse_facts(&o.stdout_text())),
            Ok(o) => {
                steps.push(CheckStep {
                    step: "facts".into(),
                    ok: false,
                    duration_ms: t.elapsed().as_millis() as u64,
                    message: o.stderr_text(),
                });
                None
            }
            Err(e) => {
                steps.push(CheckStep {
                    step: "facts".into(),
                    ok: false,
                    duration_ms: t.elapsed().as_millis() as u64,
                    message: e.to_string(),
                });
                None
            }
        };
        let Some(facts) = facts else {
            self.set_status(&m, ServerStatus::Unreachable, Some("could not read facts".into()), Some(&conn.host_key), None).await;
            return Ok((false, steps, None));
        };
        let summary = format!(
            "{} {} on {}, {} MiB free, init {}, nginx {}",
            facts["os_id"].as_str().unwrap_or("?"),
            facts["os_version"].as_str().unwrap_or(""),
            facts["arch"].as_str().unwrap_or("?"),
            facts["disk_free_mib"].as_u64().unwrap_or(0),
            facts["init"].as_str().unwrap_or("?"),
            facts["nginx_version"].as_str().unwrap_or("not installed"),
        );
        steps.push(CheckStep { step: "facts".into(), ok: true, duration_ms: t.elapsed().as_millis() as u64, message: summary.clone() });
        progress(95, format!("facts: ok ({summary})")).await;
        self.set_status(&m, ServerStatus::Ok, None, Some(&conn.host_key), Some(facts.clone())).await;
        conn.close().await;
        self.metrics.check_duration.observe(&[], started.elapsed().as_secs_f64());
        Ok((true, steps, Some(facts)))
    }

    /// A light probe: one round trip on a pooled connection.
    pub async fn probe(&self, id: i64) -> Result<(), ServiceError> {
        let (target, m) = self.target(id).await?;
        let attempt = async {
            let conn = self.pool.get(&target).await?;
            match conn.run(&Cmd::new("true"), RunOptions { timeout: Some(Duration::from_secs(5)), ..Default::default() }).await {
                Ok(_) => Ok(conn.host_key.clone()),
                Err(_) => {
                    // A stale pooled connection: retry once on a fresh one.
                    self.pool.forget(id).await;
                    let conn = self.pool.get(&target).await?;
                    conn.run(&Cmd::new("true"), RunOptions { timeout: Some(Duration::from_secs(5)), ..Default::default() }).await?;
                    Ok::<_, SshError>(conn.host_key.clone())
                }
            }
        };
        match attempt.await {
            Ok(hk) => self.set_status(&m, ServerStatus::Ok, None, Some(&hk), None).await,
            Err(e) => self.record_failure(&m, &e, false).await,
        }
        Ok(())
    }

    async fn record_failure(&self, m: &store::Model, e: &SshError, _full: bool) {
        let status = match e {
            SshError::HostKeyChanged { .. } => ServerStatus::HostKeyChanged,
            SshError::AuthFailed { .. } => ServerStatus::AuthFailed,
            SshError::Timeout { step: Step::Auth, .. } => ServerStatus::AuthFailed,
            _ => ServerStatus::Unreachable,
        };
        let pending = match e {
            SshError::HostKeyChanged { actual, .. } => Some(Some(actual.clone())),
            _ => None,
        };
        self.write_status(m, status, Some(e.to_string()), None, None, pending).await;
    }

    async fn set_status(
        &self,
        m: &store::Model,
        status: ServerStatus,
        message: Option<String>,
        host_key: Option<&str>,
        facts: Option<Value>,
    ) {
        // Trust on first use: pin the key the first successful connection saw.
        let pin = (status == ServerStatus::Ok && m.host_key.is_none()).then(|| host_key.map(str::to_string)).flatten().map(Some);
        self.write_status(m, status, message, pin, facts, None).await;
    }

    async fn write_status(
        &self,
        m: &store::Model,
        status: ServerStatus,
        message: Option<String>,
        pin: Option<Option<String>>,
        facts: Option<Value>,
        pending: Option<Option<String>>,
    ) {
        let now = Utc::now();
        let from = ServerStatus::parse(&m.status).unwrap_or(ServerStatus::Unknown);
        let mut trail = Trail::default();
        if from != status {
            trail = trail.with_event(
                ServerStatusChanged { server_id: m.id, name: m.name.clone(), from, to: status, message: message.clone() }.draft(),
            );
        }
        if let Some(Some(fp)) = &pin {
            trail.audit = Some(AuditDraft::new(
                &Actor::system("servers"),
                "server.host_key_pin",
                "server",
                Some(m.id.to_string()),
                json!({"host_key": fp}),
            ));
        }
        let seen = (status == ServerStatus::Ok).then_some(now);
        let checked = facts.is_some().then_some(now);
        let res = self.repo.observe(m.id, status.as_str(), message, seen, checked, facts.map(|f| f.to_string()), pin, pending, trail).await;
        if let Err(e) = res {
            tracing::warn!(server_id = m.id, error = %e, "cannot record server status");
        } else if from != status {
            self.bus.notify_written();
        }
        self.metrics.up.set(&[&m.name], if status == ServerStatus::Ok { 1.0 } else { 0.0 });
    }

    /// Sets `gantry_server_up` from the stored statuses (servers never checked are left out).
    pub async fn refresh_metrics(&self) -> Result<(), ServiceError> {
        let rows = self.repo.all().await.map_err(not_found)?;
        self.metrics.up.replace(
            rows.into_iter()
                .filter(|m| m.status != ServerStatus::Unknown.as_str())
                .map(|m| (vec![m.name], if m.status == ServerStatus::Ok.as_str() { 1.0 } else { 0.0 })),
        );
        Ok(())
    }

    /// How many servers are in each status (for the dashboard).
    pub async fn status_counts(&self) -> Result<BTreeMap<String, u64>, ServiceError> {
        let mut counts = BTreeMap::new();
        for m in self.repo.all().await.map_err(not_found)? {
            *counts.entry(m.status).or_insert(0) += 1;
        }
        Ok(counts)
    }

    /// Every server id (for the probe loop).
    pub async fn ids(&self) -> Result<Vec<i64>, ServiceError> {
        Ok(self.repo.all().await.map_err(not_found)?.into_iter().map(|m| m.id).collect())
    }
}

/// Prints `key=value` facts; a constant script, no input is interpolated.
const FACTS_SCRIPT: &str = r#"[ -r /etc/os-release ] && . /etc/os-release
echo "os_id=${ID:-unknown}"
echo "os_version=${VERSION_ID:-}"
echo "os_name=${PRETTY_NAME:-}"
echo "arch=$(uname -m)"
echo "kernel=$(uname -r)"
echo "disk_free_kb=$(df -Pk / | awk 'NR==2 {print $4}')"
if [ -d /run/systemd/system ]; then echo init=systemd; else echo "init=$(cat /proc/1/comm 2>/dev/null || echo unknown)"; fi
if command -v nginx >/dev/null 2>&1; then echo "nginx_version=$(nginx -v 2>&1 | sed 's|.*nginx/||')"; else echo nginx_version=; fi
for p in 80 443; do
  line=$(ss -Hltnp "sport = :$p" 2>/dev/null | head -n1)
  if [ -z "$line" ]; then echo "port_$p=free"; elif echo "$line" | grep -q nginx; then echo "port_$p=nginx"; else echo "port_$p=other"; fi
done"#;

fn parse_facts(text: &str) -> Value {
    let mut m = serde_json::Map::new();
    for line in text.lines() {
        if let Some((k, v)) = line.split_once('=') {
            m.insert(k.trim().to_string(), Value::from(v.trim()));
        }
    }
    let kb: u64 = m.get("disk_free_kb").and_then(|v| v.as_str()).and_then(|s| s.parse().ok()).unwrap_or(0);
    m.insert("disk_free_mib".into(), Value::from(kb / 1024));
    let nginx = m.get("nginx_version").and_then(|v| v.as_str()).filter(|s| !s.is_empty()).map(String::from);
    m.insert("nginx_installed".into(), Value::from(nginx.is_some()));
    if nginx.is_none() {
        m.insert("nginx_version".into(), Value::Null);
    }
    Value::Object(m)
}
