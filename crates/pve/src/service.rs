//! The module's service: clusters, blueprints, plans, deployments. Handlers
//! and the CLI call this; it calls Proxmox through [`PveClient`] and the
//! database through the module's tables.

use crate::blueprint::{Blueprint, SpecProblem};
use crate::client::{Auth, Connection, ErrorKind, PveClient, Trust};
use crate::error::{db_err, to_service};
use crate::model::{Endpoint, Fingerprint, PveUserId, TokenId, VmidRange};
use crate::placement::{Demand, Reservations};
use crate::plan::{ClusterView, Plan, PlanInput, TemplateInfo};
use crate::store::{blueprint, cluster, deployment, stand, vm, vmid};
use chrono::{DateTime, Utc};
use gantry_core::audit::{Actor, AuditDraft};
use gantry_core::jobs::{Job, NewJob, Waker};
use gantry_core::metrics::Counter;
use gantry_core::repo::Trail;
use gantry_core::secrets::Keyring;
use gantry_core::user::Role;
use gantry_core::{FieldError, ServiceError};
use gantry_store::Db;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set, TransactionTrait};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;
use utoipa::ToSchema;

/// Serializes network applies on one node.
pub(crate) type NetLock = Arc<tokio::sync::Mutex<()>>;

/// The deploy job's kind.
pub const DEPLOY_JOB: &str = "pve.deploy";
/// The cleanup job's kind.
pub const CLEANUP_JOB: &str = "pve.cleanup";
const SECRET_CONTEXT: &str = "pve.cluster.secret";
const PASSWORD_CONTEXT: &str = "pve.user.password";

/// Tuning (from `[pve]` in the config).
#[derive(Debug, Clone)]
pub struct PveSettings {
    /// Default VMID range for new clusters.
    pub vmid_range: VmidRange,
    /// Clones and other VM operations at once, cluster-wide.
    pub max_parallel: usize,
    /// VM operations at once per node.
    pub per_node: usize,
    /// Clones at once per storage (per node for local storage): Proxmox's storage lock serializes them anyway.
    pub per_storage: usize,
    /// Longest wait for one task (full clones of large disks take long).
    pub task_timeout: Duration,
    /// First task-polling interval.
    pub poll: Duration,
    /// Scale of retry backoff (1.0 in production; tests shrink it).
    pub retry_scale: f64,
    /// HTTP timeout per Proxmox request.
    pub request_timeout: Duration,
    /// Renew password tickets after this long (they live 2 h).
    pub ticket_renew_after: Duration,
    /// How long placed VMs keep counting as reservations after they are done (Proxmox's metrics lag).
    pub reservation_window: Duration,
}

impl Default for PveSettings {
    fn default() -> Self {
        PveSettings {
            vmid_range: VmidRange::default(),
            max_parallel: 16,
            per_node: 4,
            per_storage: 8,
            task_timeout: Duration::from_secs(3600),
            poll: Duration::from_millis(250),
            retry_scale: 1.0,
            request_timeout: Duration::from_secs(30),
            ticket_renew_after: Duration::from_secs(3600),
            reservation_window: Duration::from_secs(30),
        }
    }
}

/// A cluster as the API shows it (never its secret).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Cluster {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// API endpoints in fail-over order.
    pub endpoints: Vec<String>,
    /// `token` or `password`.
    pub auth: String,
    /// Token id or user id.
    pub auth_id: String,
    /// Pinned certificate fingerprint.
    pub fingerprint: Option<String>,
    /// Whether a CA bundle is configured.
    pub has_ca: bool,
    /// VMIDs Gantry allocates from.
    pub vmid_range: VmidRange,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Updated.
    pub updated_at: DateTime<Utc>,
}

/// Adding or changing a cluster.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClusterInput {
    /// Name.
    pub name: String,
    /// `https://host:8006`, one or more.
    pub endpoints: Vec<String>,
    /// API token id `user@realm!name` (or `username`).
    #[serde(default)]
    pub token_id: Option<String>,
    /// User `user@realm` for ticket auth (or `token_id`).
    #[serde(default)]
    pub username: Option<String>,
    /// The token secret or password; on update, omit to keep the stored one.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub secret: Option<SecretString>,
    /// SHA-256 fingerprint of the API certificate (or `ca_pem`).
    #[serde(default)]
    pub fingerprint: Option<String>,
    /// CA bundle that signed the API certificate (or `fingerprint`).
    #[serde(default)]
    pub ca_pem: Option<String>,
    /// First VMID Gantry may use.
    #[serde(default)]
    pub vmid_first: Option<u32>,
    /// Last VMID Gantry may use.
    #[serde(default)]
    pub vmid_last: Option<u32>,
}

/// What "test connection" found.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TestReport {
    /// Reachable, authenticated, quorate and all privileges present.
    pub ok: bool,
    /// Proxmox version.
    pub version: Option<String>,
    /// Quorum.
    pub quorate: Option<bool>,
    /// Nodes online.
    pub nodes_online: usize,
    /// Nodes in all.
    pub nodes_total: usize,
    /// node → online.
    pub nodes: BTreeMap<String, bool>,
    /// Privileges a deployment needs that the credentials lack on `/`.
    pub missing_privileges: Vec<String>,
    /// The failure, if the cluster could not be asked.
    pub error: Option<String>,
    /// Its kind.
    pub error_kind: Option<String>,
}

/// Privileges a deployment uses (checked on `/` by "test connection").
pub const NEEDED_PRIVILEGES: &[&str] = &[
    "VM.Allocate",
    "VM.Clone",
    "VM.Config.CPU",
    "VM.Config.Memory",
    "VM.Config.Network",
    "VM.Config.Disk",
    "VM.Config.Options",
    "VM.PowerMgmt",
    "VM.Audit",
    "Datastore.AllocateSpace",
    "Datastore.Audit",
    "Pool.Allocate",
    "Sys.Audit",
    "Sys.Modify",
    "User.Modify",
    "Permissions.Modify",
    "SDN.Use",
];

/// A stored blueprint.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StoredBlueprint {
    /// Id.
    pub id: i64,
    /// The blueprint.
    pub spec: Blueprint,
    /// Updated.
    pub updated_at: DateTime<Utc>,
}

/// Plan or deploy: a blueprint (stored by name, or inline) for a list of users on a cluster.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StandRequest {
    /// The cluster.
    pub cluster_id: i64,
    /// A stored blueprint's name (or `spec`).
    #[serde(default)]
    pub blueprint: Option<String>,
    /// An inline blueprint (or `blueprint`).
    #[serde(default)]
    pub spec: Option<Blueprint>,
    /// `user@realm` entries.
    pub users: Vec<String>,
}

/// One VM of a deployment.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VmView {
    /// Row id.
    pub id: i64,
    /// Blueprint key.
    pub key: String,
    /// Name.
    pub name: String,
    /// Node.
    pub node: String,
    /// VMID.
    pub vmid: i64,
    /// Linked or full.
    pub clone_mode: String,
    /// Progress state.
    pub status: String,
    /// Why it failed.
    pub error: Option<String>,
}

/// One user's stand.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StandView {
    /// Row id.
    pub id: i64,
    /// The user.
    pub user: String,
    /// Their pool.
    pub pool: String,
    /// State.
    pub status: String,
    /// Why it failed.
    pub error: Option<String>,
    /// Gantry created the Proxmox user.
    pub user_created: bool,
    /// A generated password waits to be shown once.
    pub password_pending: bool,
    /// VMs.
    pub vms: Vec<VmView>,
}

/// A deployment with its stands.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeploymentView {
    /// Id.
    pub id: i64,
    /// Cluster.
    pub cluster_id: i64,
    /// Blueprint name.
    pub blueprint: String,
    /// `queued`, `running`, `done`, `partial`, `failed`, `cleaning`, `cleaned`.
    pub status: String,
    /// The current or last job.
    pub job_id: Option<i64>,
    /// Who started it.
    pub created_by: String,
    /// Warnings from planning.
    pub warnings: Vec<String>,
    /// VMs by state.
    pub counts: BTreeMap<String, u32>,
    /// Per user.
    pub stands: Vec<StandView>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Updated.
    pub updated_at: DateTime<Utc>,
}

/// A generated password, shown once.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Credential {
    /// The user.
    pub user: String,
    /// The password.
    pub password: String,
}

/// Deployment was accepted.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Deployed {
    /// The deployment.
    pub deployment: DeploymentView,
    /// The plan it follows.
    pub plan: Plan,
    /// The job carrying it out.
    pub job: Job,
}

/// The service.
pub struct PveService {
    pub(crate) db: Db,
    pub(crate) keyring: Arc<Keyring>,
    pub(crate) jobs: Arc<dyn gantry_core::repo::JobRepo>,
    pub(crate) waker: Waker,
    pub(crate) settings: PveSettings,
    /// Clients per cluster, rebuilt when the row changes.
    clients: std::sync::Mutex<HashMap<i64, (DateTime<Utc>, PveClient)>>,
    /// One network apply at a time per (cluster, node) in this process.
    pub(crate) net_locks: std::sync::Mutex<HashMap<(i64, String), NetLock>>,
    pub(crate) api_errors: Counter,
    pub(crate) vm_results: Counter,
    /// Concurrency limits per node and per storage, shared by every deployment in this process.
    semaphores: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Semaphore>>>,
}

impl PveService {
    /// Builds the service.
    pub fn new(
        db: Db,
        keyring: Arc<Keyring>,
        jobs: Arc<dyn gantry_core::repo::JobRepo>,
        waker: Waker,
        settings: PveSettings,
        api_errors: Counter,
        vm_results: Counter,
    ) -> Self {
        PveService {
            db,
            keyring,
            jobs,
            waker,
            settings,
            clients: std::sync::Mutex::new(HashMap::new()),
            net_locks: std::sync::Mutex::new(HashMap::new()),
            api_errors,
            vm_results,
            semaphores: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The semaphore for one limit (`{cluster}:node:{node}`, `{cluster}:{node}:{storage}`…).
    pub(crate) fn semaphore(&self, key: &str, permits: usize) -> Arc<tokio::sync::Semaphore> {
        match self.semaphores.lock() {
            Ok(mut m) => m.entry(key.to_string()).or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(permits.max(1)))).clone(),
            Err(_) => Arc::new(tokio::sync::Semaphore::new(permits.max(1))),
        }
    }

    /// Settings.
    pub fn settings(&self) -> &PveSettings {
        &self.settings
    }

    // ---- clusters ----

    fn cluster_view(m: &cluster::Model) -> Cluster {
        Cluster {
            id: m.id,
            name: m.name.clone(),
            endpoints: serde_json::from_str(&m.endpoints).unwrap_or_default(),
            auth: m.auth_kind.clone(),
            auth_id: m.auth_id.clone(),
            fingerprint: m.fingerprint.clone(),
            has_ca: m.ca_pem.is_some(),
            vmid_range: VmidRange { first: m.vmid_first as u32, last: m.vmid_last as u32 },
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }

    /// All clusters.
    pub async fn clusters(&self) -> Result<Vec<Cluster>, ServiceError> {
        let rows = cluster::Entity::find().order_by_asc(cluster::Column::Name).all(self.db.connection()).await.map_err(db_err)?;
        Ok(rows.iter().map(Self::cluster_view).collect())
    }

    pub(crate) async fn cluster_row(&self, id: i64) -> Result<cluster::Model, ServiceError> {
        cluster::Entity::find_by_id(id).one(self.db.connection()).await.map_err(db_err)?.ok_or(ServiceError::NotFound("cluster"))
    }

    /// One cluster.
    pub async fn cluster(&self, id: i64) -> Result<Cluster, ServiceError> {
        Ok(Self::cluster_view(&self.cluster_row(id).await?))
    }

    /// One cluster by name.
    pub async fn cluster_by_name(&self, name: &str) -> Result<Cluster, ServiceError> {
        let m = cluster::Entity::find().filter(cluster::Column::Name.eq(name)).one(self.db.connection()).await.map_err(db_err)?;
        m.map(|m| Self::cluster_view(&m)).ok_or(ServiceError::NotFound("cluster"))
    }

    /// Parses cluster input; `existing` supplies the secret when the update omits it.
    fn parse_cluster(&self, b: &ClusterInput, existing: Option<&cluster::Model>) -> Result<cluster::ActiveModel, ServiceError> {
        let mut errs = Vec::new();
        let name = b.name.trim();
        if name.is_empty() || name.len() > 100 || !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
            errs.push(FieldError::new("name", "1-100 letters, digits, '-', '_' or '.'"));
        }
        let mut eps = Vec::new();
        if b.endpoints.is_empty() {
            errs.push(FieldError::new("endpoints", "at least one endpoint (https://host:8006)"));
        }
        for (i, e) in b.endpoints.iter().enumerate() {
            match e.parse::<Endpoint>() {
                Ok(e) => eps.push(e.to_string()),
                Err(x) => errs.push(FieldError::new(format!("endpoints[{i}]"), x.0)),
            }
        }
        let (kind, auth_id) = match (&b.token_id, &b.username) {
            (Some(t), None) => match t.parse::<TokenId>() {
                Ok(t) => ("token", t.to_string()),
                Err(x) => {
                    errs.push(FieldError::new("token_id", x.0));
                    ("token", String::new())
                }
            },
            (None, Some(u)) => match u.parse::<PveUserId>() {
                Ok(u) => ("password", u.to_string()),
                Err(x) => {
                    errs.push(FieldError::new("username", x.0));
                    ("password", String::new())
                }
            },
            _ => {
                errs.push(FieldError::new("token_id", "give either token_id (API token, recommended) or username (password login)"));
                ("token", String::new())
            }
        };
        let fingerprint = match b.fingerprint.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            Some(f) => match f.parse::<Fingerprint>() {
                Ok(f) => Some(f.to_string()),
                Err(x) => {
                    errs.push(FieldError::new("fingerprint", x.0));
                    None
                }
            },
            None => None,
        };
        let ca = b.ca_pem.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
        if let Some(pem) = &ca
            && let Err(m) = Trust::check_ca(pem)
        {
            errs.push(FieldError::new("ca_pem", m));
        }
        if fingerprint.is_none() && ca.is_none() {
            errs.push(FieldError::new(
                "fingerprint",
                "give the API certificate's SHA-256 fingerprint (Datacenter → node → Certificates) or a CA bundle; Gantry never connects unverified",
            ));
        }
        let range = match (b.vmid_first, b.vmid_last) {
            (None, None) => {
                existing.map(|m| VmidRange { first: m.vmid_first as u32, last: m.vmid_last as u32 }).unwrap_or(self.settings.vmid_range)
            }
            (Some(a), Some(z)) => match VmidRange::new(a, z) {
                Ok(r) => r,
                Err(x) => {
                    errs.push(FieldError::new("vmid_first", x.0));
                    self.settings.vmid_range
                }
            },
            _ => {
                errs.push(FieldError::new("vmid_first", "give both vmid_first and vmid_last"));
                self.settings.vmid_range
            }
        };
        let secret_enc = match (b.secret.as_ref().map(|s| s.expose_secret()).filter(|s| !s.is_empty()), existing) {
            (Some(s), _) => self.keyring.encrypt(SECRET_CONTEXT, s.as_bytes()).map_err(|e| ServiceError::Internal(e.to_string()))?,
            (None, Some(m)) if m.auth_kind == kind => m.secret_enc.clone(),
            _ => {
                errs.push(FieldError::new("secret", "the token secret or password is required"));
                String::new()
            }
        };
        if !errs.is_empty() {
            return Err(ServiceError::Validation(errs));
        }
        let now = Utc::now();
        Ok(cluster::ActiveModel {
            name: Set(name.to_string()),
            endpoints: Set(serde_json::to_string(&eps).unwrap_or_default()),
            auth_kind: Set(kind.to_string()),
            auth_id: Set(auth_id),
            secret_enc: Set(secret_enc),
            fingerprint: Set(fingerprint),
            ca_pem: Set(ca),
            vmid_first: Set(range.first as i64),
            vmid_last: Set(range.last as i64),
            updated_at: Set(now),
            ..Default::default()
        })
    }

    /// Adds a cluster.
    pub async fn create_cluster(&self, b: ClusterInput, actor: &Actor) -> Result<Cluster, ServiceError> {
        let mut am = self.parse_cluster(&b, None)?;
        am.created_at = Set(Utc::now());
        let _w = self.db.write_guard().await;
        let txn = self.db.connection().begin().await.map_err(db_err)?;
        let m = am.insert(&txn).await.map_err(db_err)?;
        let trail = Trail::audit(AuditDraft::new(
            actor,
            "pve.cluster.create",
            "pve_cluster",
            Some(m.id.to_string()),
            json!({"name": m.name, "auth": m.auth_kind}),
        ));
        gantry_store::write_trail(&txn, trail).await?;
        txn.commit().await.map_err(db_err)?;
        Ok(Self::cluster_view(&m))
    }

    /// Changes a cluster (omit `secret` to keep it).
    pub async fn update_cluster(&self, id: i64, b: ClusterInput, actor: &Actor) -> Result<Cluster, ServiceError> {
        let old = self.cluster_row(id).await?;
        let mut am = self.parse_cluster(&b, Some(&old))?;
        am.id = Set(id);
        let _w = self.db.write_guard().await;
        let txn = self.db.connection().begin().await.map_err(db_err)?;
        let m = am.update(&txn).await.map_err(db_err)?;
        let trail =
            Trail::audit(AuditDraft::new(actor, "pve.cluster.update", "pve_cluster", Some(id.to_string()), json!({"name": m.name})));
        gantry_store::write_trail(&txn, trail).await?;
        txn.commit().await.map_err(db_err)?;
        self.forget_client(id);
        Ok(Self::cluster_view(&m))
    }

    /// Removes a cluster that no live deployment uses.
    pub async fn delete_cluster(&self, id: i64, actor: &Actor) -> Result<(), ServiceError> {
        let m = self.cluster_row(id).await?;
        let live = deployment::Entity::find()
            .filter(deployment::Column::ClusterId.eq(id))
            .filter(deployment::Column::Status.ne("cleaned"))
            .all(self.db.connection())
            .await
            .map_err(db_err)?;
        if !live.is_empty() {
            let ids: Vec<String> = live.iter().map(|d| d.id.to_string()).collect();
            return Err(ServiceError::InvalidState(format!("deployments {} still use this cluster; clean them up first", ids.join(", "))));
        }
        let _w = self.db.write_guard().await;
        let txn = self.db.connection().begin().await.map_err(db_err)?;
        cluster::Entity::delete_by_id(id).exec(&txn).await.map_err(db_err)?;
        let trail =
            Trail::audit(AuditDraft::new(actor, "pve.cluster.delete", "pve_cluster", Some(id.to_string()), json!({"name": m.name})));
        gantry_store::write_trail(&txn, trail).await?;
        txn.commit().await.map_err(db_err)?;
        self.forget_client(id);
        Ok(())
    }

    fn forget_client(&self, id: i64) {
        if let Ok(mut c) = self.clients.lock() {
            c.remove(&id);
        }
    }

    /// The pooled client for a cluster (rebuilt after the cluster row changes).
    pub async fn client(&self, id: i64) -> Result<PveClient, ServiceError> {
        let m = self.cluster_row(id).await?;
        if let Ok(c) = self.clients.lock()
            && let Some((at, client)) = c.get(&id)
            && *at == m.updated_at
        {
            return Ok(client.clone());
        }
        let client = self.build_client(&m)?;
        if let Ok(mut c) = self.clients.lock() {
            c.insert(id, (m.updated_at, client.clone()));
        }
        Ok(client)
    }

    fn build_client(&self, m: &cluster::Model) -> Result<PveClient, ServiceError> {
        let secret = self.keyring.decrypt(SECRET_CONTEXT, &m.secret_enc).map_err(|e| ServiceError::Internal(e.to_string()))?;
        let secret = SecretString::from(String::from_utf8_lossy(secret.expose_secret()).to_string());
        let corrupt = |what: &str| ServiceError::Internal(format!("stored cluster {} has an invalid {what}", m.id));
        let auth = if m.auth_kind == "token" {
            Auth::Token { id: m.auth_id.parse().map_err(|_| corrupt("token id"))?, secret }
        } else {
            Auth::Password { user: m.auth_id.parse().map_err(|_| corrupt("user"))?, password: secret }
        };
        let trust = match (&m.fingerprint, &m.ca_pem) {
            (Some(f), _) => Trust::Fingerprint(f.parse().map_err(|_| corrupt("fingerprint"))?),
            (None, Some(ca)) => Trust::Ca(ca.clone()),
            (None, None) => return Err(corrupt("trust setting")),
        };
        let endpoints: Vec<String> = serde_json::from_str(&m.endpoints).map_err(|_| corrupt("endpoint list"))?;
        let endpoints = endpoints.iter().map(|e| e.parse()).collect::<Result<Vec<Endpoint>, _>>().map_err(|_| corrupt("endpoint"))?;
        let conn = Connection {
            endpoints,
            auth,
            trust,
            timeout: self.settings.request_timeout,
            ticket_renew_after: self.settings.ticket_renew_after,
        };
        let counter = self.api_errors.clone();
        let cid = m.id.to_string();
        PveClient::with_error_hook(conn, Arc::new(move |k: ErrorKind| counter.inc(&[&cid, k.as_str()]))).map_err(to_service)
    }

    /// "Test connection": version, quorum, nodes online and missing privileges.
    pub async fn test_cluster(&self, id: i64) -> Result<TestReport, ServiceError> {
        let c = self.client(id).await?;
        Ok(test_client(&c).await)
    }

    /// Templates across the cluster.
    pub async fn templates(&self, id: i64) -> Result<Vec<TemplateInfo>, ServiceError> {
        let c = self.client(id).await?;
        Ok(ClusterView::load(&c, false).await.map_err(to_service)?.templates)
    }

    // ---- blueprints ----

    fn stored(m: &blueprint::Model) -> Result<StoredBlueprint, ServiceError> {
        let spec =
            serde_json::from_str(&m.spec).map_err(|e| ServiceError::Internal(format!("stored blueprint {} is corrupt: {e}", m.id)))?;
        Ok(StoredBlueprint { id: m.id, spec, updated_at: m.updated_at })
    }

    /// All blueprints.
    pub async fn blueprints(&self) -> Result<Vec<StoredBlueprint>, ServiceError> {
        let rows = blueprint::Entity::find().order_by_asc(blueprint::Column::Name).all(self.db.connection()).await.map_err(db_err)?;
        rows.iter().map(Self::stored).collect()
    }

    /// One blueprint by id.
    pub async fn blueprint(&self, id: i64) -> Result<StoredBlueprint, ServiceError> {
        let m = blueprint::Entity::find_by_id(id)
            .one(self.db.connection())
            .await
            .map_err(db_err)?
            .ok_or(ServiceError::NotFound("blueprint"))?;
        Self::stored(&m)
    }

    /// One blueprint by name.
    pub async fn blueprint_by_name(&self, name: &str) -> Result<StoredBlueprint, ServiceError> {
        let m = blueprint::Entity::find().filter(blueprint::Column::Name.eq(name)).one(self.db.connection()).await.map_err(db_err)?;
        Self::stored(&m.ok_or(ServiceError::NotFound("blueprint"))?)
    }

    /// Creates or (with `id`) replaces a blueprint.
    pub async fn save_blueprint(&self, id: Option<i64>, spec: Blueprint, actor: &Actor) -> Result<StoredBlueprint, ServiceError> {
        check_spec(&spec)?;
        let now = Utc::now();
        let json = serde_json::to_string(&spec).map_err(|e| ServiceError::Internal(e.to_string()))?;
        let _w = self.db.write_guard().await;
        let txn = self.db.connection().begin().await.map_err(db_err)?;
        let m = match id {
            Some(id) => {
                blueprint::Entity::find_by_id(id).one(&txn).await.map_err(db_err)?.ok_or(ServiceError::NotFound("blueprint"))?;
                blueprint::ActiveModel {
                    id: Set(id),
                    name: Set(spec.name.clone()),
                    spec: Set(json),
                    updated_at: Set(now),
                    ..Default::default()
                }
                .update(&txn)
                .await
                .map_err(db_err)?
            }
            None => blueprint::ActiveModel {
                name: Set(spec.name.clone()),
                spec: Set(json),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            }
            .insert(&txn)
            .await
            .map_err(db_err)?,
        };
        let action = if id.is_some() { "pve.blueprint.update" } else { "pve.blueprint.create" };
        gantry_store::write_trail(
            &txn,
            Trail::audit(AuditDraft::new(actor, action, "pve_blueprint", Some(m.id.to_string()), json!({"name": m.name}))),
        )
        .await?;
        txn.commit().await.map_err(db_err)?;
        Self::stored(&m)
    }

    /// Deletes a blueprint (deployments keep their own copy).
    pub async fn delete_blueprint(&self, id: i64, actor: &Actor) -> Result<(), ServiceError> {
        let b = self.blueprint(id).await?;
        let _w = self.db.write_guard().await;
        let txn = self.db.connection().begin().await.map_err(db_err)?;
        blueprint::Entity::delete_by_id(id).exec(&txn).await.map_err(db_err)?;
        gantry_store::write_trail(
            &txn,
            Trail::audit(AuditDraft::new(
                actor,
                "pve.blueprint.delete",
                "pve_blueprint",
                Some(id.to_string()),
                json!({"name": b.spec.name}),
            )),
        )
        .await?;
        txn.commit().await.map_err(db_err)?;
        Ok(())
    }

    // ---- plans and deployments ----

    async fn resolve_request(&self, r: &StandRequest) -> Result<(Blueprint, Vec<PveUserId>), ServiceError> {
        let bp = match (&r.blueprint, &r.spec) {
            (Some(name), None) => self.blueprint_by_name(name).await?.spec,
            (None, Some(spec)) => {
                check_spec(spec)?;
                spec.clone()
            }
            _ => {
                return Err(ServiceError::field(
                    "blueprint",
                    "give either blueprint (a stored blueprint's name) or spec (an inline blueprint)",
                ));
            }
        };
        let mut users = Vec::new();
        let mut errs = Vec::new();
        for (i, u) in r.users.iter().enumerate() {
            match u.parse::<PveUserId>() {
                Ok(u) => users.push(u),
                Err(e) => errs.push(FieldError::new(format!("users[{i}]"), e.0)),
            }
        }
        if errs.is_empty() {
            let list = crate::blueprint::UserList { users: users.clone() };
            errs.extend(list.check().into_iter().map(|p| FieldError::new(p.path, p.message)));
        }
        if users.len() > 1000 {
            errs.push(FieldError::new("users", "at most 1000 users per deployment"));
        }
        if !errs.is_empty() {
            return Err(ServiceError::Validation(errs));
        }
        Ok((bp, users))
    }

    /// Load Gantry has placed on a cluster that Proxmox may not show yet:
    /// VMs of deployments that are queued or running, and VMs finished within the reservation window.
    pub(crate) async fn reservations(&self, cluster_id: i64) -> Result<Reservations, ServiceError> {
        let recent = Utc::now() - chrono::Duration::from_std(self.settings.reservation_window).unwrap_or_default();
        let rows = vm::Entity::find().filter(vm::Column::ClusterId.eq(cluster_id)).all(self.db.connection()).await.map_err(db_err)?;
        let specs: BTreeMap<i64, Blueprint> = deployment::Entity::find()
            .filter(deployment::Column::ClusterId.eq(cluster_id))
            .filter(deployment::Column::Status.is_in(["queued", "running"]))
            .all(self.db.connection())
            .await
            .map_err(db_err)?
            .into_iter()
            .filter_map(|d| serde_json::from_str(&d.spec).ok().map(|s| (d.id, s)))
            .collect();
        let mut r = Reservations::default();
        for v in rows {
            let in_flight = specs.contains_key(&v.deployment_id) && !matches!(v.status.as_str(), "failed" | "destroyed");
            let just_done = v.status == "ready" && v.updated_at > recent;
            if !(in_flight || just_done) {
                continue;
            }
            let spec = specs.get(&v.deployment_id).and_then(|b| b.vms.iter().find(|s| s.key == v.vm_key));
            let mem = spec.and_then(|s| s.memory_mib).unwrap_or(1024) as u64 * (1 << 20);
            let cores = spec.and_then(|s| s.cores).unwrap_or(1) as f64;
            r.add(&v.node, Demand { mem, cores });
        }
        Ok(r)
    }

    async fn ledger(&self, cluster_id: i64) -> Result<BTreeSet<u32>, ServiceError> {
        Ok(vmid::Entity::find()
            .filter(vmid::Column::ClusterId.eq(cluster_id))
            .all(self.db.connection())
            .await
            .map_err(db_err)?
            .into_iter()
            .map(|v| v.vmid as u32)
            .collect())
    }

    /// The plan for a request, without changing anything.
    pub async fn plan(&self, r: &StandRequest) -> Result<Plan, ServiceError> {
        let (bp, users) = self.resolve_request(r).await?;
        let c = self.client(r.cluster_id).await?;
        let m = self.cluster_row(r.cluster_id).await?;
        let view = ClusterView::load(&c, true).await.map_err(to_service)?;
        let input = PlanInput {
            blueprint: &bp,
            users: &users,
            deployment_id: 0,
            reservations: self.reservations(r.cluster_id).await?,
            ledger: self.ledger(r.cluster_id).await?,
            range: VmidRange { first: m.vmid_first as u32, last: m.vmid_last as u32 },
        };
        Ok(crate::plan::make(&view, input))
    }

    /// Plans, records the deployment with its VMIDs reserved in the ledger, and queues the job.
    pub async fn deploy(&self, r: &StandRequest, actor: &Actor) -> Result<Deployed, ServiceError> {
        let (bp, users) = self.resolve_request(r).await?;
        let c = self.client(r.cluster_id).await?;
        let m = self.cluster_row(r.cluster_id).await?;
        let range = VmidRange { first: m.vmid_first as u32, last: m.vmid_last as u32 };
        // Another deployment (maybe on another replica) may take the same ids between
        // planning and reserving: the ledger's unique index refuses the loser, which re-plans.
        for _attempt in 0..6 {
            let view = ClusterView::load(&c, true).await.map_err(to_service)?;
            let _w = self.db.write_guard().await;
            let txn = self.db.connection().begin().await.map_err(db_err)?;
            let now = Utc::now();
            let d = deployment::ActiveModel {
                cluster_id: Set(r.cluster_id),
                blueprint_name: Set(bp.name.clone()),
                spec: Set(serde_json::to_string(&bp).unwrap_or_default()),
                status: Set("queued".into()),
                job_id: Set(None),
                plan: Set(String::new()),
                warnings: Set("[]".into()),
                created_by: Set(actor.name.clone()),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            }
            .insert(&txn)
            .await
            .map_err(db_err)?;
            let input = PlanInput {
                blueprint: &bp,
                users: &users,
                deployment_id: d.id,
                reservations: self.reservations(r.cluster_id).await?,
                ledger: self.ledger(r.cluster_id).await?,
                range,
            };
            let plan = crate::plan::make(&view, input);
            if !plan.errors.is_empty() {
                txn.rollback().await.map_err(db_err)?;
                return Err(ServiceError::Validation(plan.errors.iter().map(|e| FieldError::new("plan", e.clone())).collect()));
            }
            let mut clash = false;
            for (pos, s) in plan.stands.iter().enumerate() {
                let st = stand::ActiveModel {
                    deployment_id: Set(d.id),
                    userid: Set(s.user.clone()),
                    position: Set(pos as i32),
                    pool_id: Set(s.pool.clone()),
                    user_created: Set(false),
                    pool_created: Set(false),
                    acl_set: Set(false),
                    status: Set("pending".into()),
                    error: Set(None),
                    password_enc: Set(None),
                    updated_at: Set(now),
                    ..Default::default()
                }
                .insert(&txn)
                .await
                .map_err(db_err)?;
                for v in &s.vms {
                    let ins = vmid::ActiveModel {
                        cluster_id: Set(r.cluster_id),
                        vmid: Set(v.vmid as i64),
                        deployment_id: Set(d.id),
                        created_at: Set(now),
                        ..Default::default()
                    }
                    .insert(&txn)
                    .await;
                    if let Err(e) = ins {
                        if matches!(e.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_))) {
                            clash = true;
                            break;
                        }
                        return Err(db_err(e));
                    }
                    vm::ActiveModel {
                        stand_id: Set(st.id),
                        deployment_id: Set(d.id),
                        cluster_id: Set(r.cluster_id),
                        vm_key: Set(v.key.clone()),
                        name: Set(v.name.clone()),
                        node: Set(v.node.clone()),
                        vmid: Set(v.vmid as i64),
                        template_vmid: Set(v.template_vmid as i64),
                        template_node: Set(v.template_node.clone()),
                        clone_mode: Set(match v.clone_mode {
                            crate::model::CloneMode::Linked => "linked".into(),
                            crate::model::CloneMode::Full => "full".into(),
                        }),
                        storage: Set(v.storage.clone()),
                        status: Set("planned".into()),
                        error: Set(None),
                        attempts: Set(0),
                        updated_at: Set(now),
                        ..Default::default()
                    }
                    .insert(&txn)
                    .await
                    .map_err(db_err)?;
                }
                if clash {
                    break;
                }
            }
            if clash {
                txn.rollback().await.map_err(db_err)?;
                drop(_w);
                tracing::info!("VMIDs taken by a concurrent deployment; planning again");
                continue;
            }
            let mut job = NewJob::new(DEPLOY_JOB, json!({"deployment_id": d.id}));
            job.created_by = actor.user_id;
            job.audience = Role::Viewer;
            job.max_attempts = 1;
            let job = gantry_store::insert_job(&txn, job).await?;
            deployment::ActiveModel {
                id: Set(d.id),
                job_id: Set(Some(job.id.0)),
                plan: Set(serde_json::to_string(&plan).unwrap_or_default()),
                warnings: Set(serde_json::to_string(&plan.warnings).unwrap_or_default()),
                ..Default::default()
            }
            .update(&txn)
            .await
            .map_err(db_err)?;
            let trail = Trail::audit(AuditDraft::new(
                actor,
                "pve.deploy",
                "pve_deployment",
                Some(d.id.to_string()),
                json!({"cluster_id": r.cluster_id, "blueprint": bp.name, "users": users.len(), "vms": plan.per_node.values().sum::<u32>()}),
            ));
            gantry_store::write_trail(&txn, trail).await?;
            txn.commit().await.map_err(db_err)?;
            drop(_w);
            self.waker.wake();
            let deployment = self.deployment(d.id).await?;
            return Ok(Deployed { deployment, plan, job });
        }
        Err(ServiceError::Conflict { field: "users".into(), message: "VMIDs kept clashing with concurrent deployments; try again".into() })
    }

    /// All deployments, newest first (with stands).
    pub async fn deployments(&self) -> Result<Vec<DeploymentView>, ServiceError> {
        let rows = deployment::Entity::find().order_by_desc(deployment::Column::Id).all(self.db.connection()).await.map_err(db_err)?;
        let mut out = Vec::new();
        for d in rows {
            out.push(self.view(d).await?);
        }
        Ok(out)
    }

    /// One deployment.
    pub async fn deployment(&self, id: i64) -> Result<DeploymentView, ServiceError> {
        let d = self.deployment_row(id).await?;
        self.view(d).await
    }

    /// A stand's label for other modules' links: `<user> in deployment <id> (<blueprint>)`, or `None` if it does not exist.
    pub async fn stand_name(&self, stand_id: i64) -> Result<Option<String>, ServiceError> {
        let Some(s) = stand::Entity::find_by_id(stand_id).one(self.db.connection()).await.map_err(db_err)? else {
            return Ok(None);
        };
        let d = self.deployment_row(s.deployment_id).await?;
        Ok(Some(format!("{} in deployment {} ({})", s.userid, d.id, d.blueprint_name)))
    }

    pub(crate) async fn deployment_row(&self, id: i64) -> Result<deployment::Model, ServiceError> {
        deployment::Entity::find_by_id(id).one(self.db.connection()).await.map_err(db_err)?.ok_or(ServiceError::NotFound("deployment"))
    }

    async fn view(&self, d: deployment::Model) -> Result<DeploymentView, ServiceError> {
        let stands = stand::Entity::find()
            .filter(stand::Column::DeploymentId.eq(d.id))
            .order_by_asc(stand::Column::Position)
            .all(self.db.connection())
            .await
            .map_err(db_err)?;
        let vms = vm::Entity::find()
            .filter(vm::Column::DeploymentId.eq(d.id))
            .order_by_asc(vm::Column::Id)
            .all(self.db.connection())
            .await
            .map_err(db_err)?;
        let mut counts = BTreeMap::new();
        for v in &vms {
            *counts.entry(v.status.clone()).or_insert(0) += 1;
        }
        let stands = stands
            .into_iter()
            .map(|s| StandView {
                id: s.id,
                user: s.userid.clone(),
                pool: s.pool_id.clone(),
                status: s.status.clone(),
                error: s.error.clone(),
                user_created: s.user_created,
                password_pending: s.password_enc.is_some(),
                vms: vms
                    .iter()
                    .filter(|v| v.stand_id == s.id)
                    .map(|v| VmView {
                        id: v.id,
                        key: v.vm_key.clone(),
                        name: v.name.clone(),
                        node: v.node.clone(),
                        vmid: v.vmid,
                        clone_mode: v.clone_mode.clone(),
                        status: v.status.clone(),
                        error: v.error.clone(),
                    })
                    .collect(),
            })
            .collect();
        Ok(DeploymentView {
            id: d.id,
            cluster_id: d.cluster_id,
            blueprint: d.blueprint_name,
            status: d.status,
            job_id: d.job_id,
            created_by: d.created_by,
            warnings: serde_json::from_str(&d.warnings).unwrap_or_default(),
            counts,
            stands,
            created_at: d.created_at,
            updated_at: d.updated_at,
        })
    }

    /// The generated passwords of a deployment's new users, once: they are deleted as they are returned.
    pub async fn take_credentials(&self, id: i64, actor: &Actor) -> Result<Vec<Credential>, ServiceError> {
        self.deployment_row(id).await?;
        let _w = self.db.write_guard().await;
        let txn = self.db.connection().begin().await.map_err(db_err)?;
        let rows = stand::Entity::find()
            .filter(stand::Column::DeploymentId.eq(id))
            .filter(stand::Column::PasswordEnc.is_not_null())
            .all(&txn)
            .await
            .map_err(db_err)?;
        let mut out = Vec::new();
        for s in rows {
            let Some(enc) = &s.password_enc else { continue };
            let pw = self.keyring.decrypt(PASSWORD_CONTEXT, enc).map_err(|e| ServiceError::Internal(e.to_string()))?;
            out.push(Credential { user: s.userid.clone(), password: String::from_utf8_lossy(pw.expose_secret()).to_string() });
            stand::ActiveModel { id: Set(s.id), password_enc: Set(None), ..Default::default() }.update(&txn).await.map_err(db_err)?;
        }
        let trail = Trail::audit(AuditDraft::new(
            actor,
            "pve.credentials.reveal",
            "pve_deployment",
            Some(id.to_string()),
            json!({"users": out.len()}),
        ));
        gantry_store::write_trail(&txn, trail).await?;
        txn.commit().await.map_err(db_err)?;
        Ok(out)
    }

    pub(crate) fn encrypt_password(&self, pw: &str) -> Result<String, ServiceError> {
        self.keyring.encrypt(PASSWORD_CONTEXT, pw.as_bytes()).map_err(|e| ServiceError::Internal(e.to_string()))
    }

    /// Queues a job for a deployment unless one is queued or running (`kind`: deploy or cleanup).
    pub(crate) async fn queue(
        &self,
        id: i64,
        kind: &str,
        payload: serde_json::Value,
        status: &str,
        actor: &Actor,
        action: &str,
    ) -> Result<Job, ServiceError> {
        let d = self.deployment_row(id).await?;
        if let Some(j) = d.job_id
            && self.jobs.get(gantry_core::ids::JobId(j)).await.map(|job| !job.status.is_final()).unwrap_or(true)
        {
            return Err(ServiceError::InvalidState(format!("job {j} is still working on deployment {id}; wait for it to finish")));
        }
        let mut job = NewJob::new(kind, payload);
        job.created_by = actor.user_id;
        job.audience = Role::Viewer;
        job.max_attempts = 1;
        let _w = self.db.write_guard().await;
        let txn = self.db.connection().begin().await.map_err(db_err)?;
        let job = gantry_store::insert_job(&txn, job).await?;
        // The claim: only the request that still sees the job it checked takes the deployment
        // (a double click or another replica loses and gets a 409).
        let mut claim = deployment::Entity::update_many()
            .col_expr(deployment::Column::JobId, sea_orm::sea_query::Expr::value(job.id.0))
            .col_expr(deployment::Column::Status, sea_orm::sea_query::Expr::value(status))
            .col_expr(deployment::Column::UpdatedAt, sea_orm::sea_query::Expr::value(Utc::now()))
            .filter(deployment::Column::Id.eq(id));
        claim = match d.job_id {
            Some(j) => claim.filter(deployment::Column::JobId.eq(j)),
            None => claim.filter(deployment::Column::JobId.is_null()),
        };
        if claim.exec(&txn).await.map_err(db_err)?.rows_affected == 0 {
            txn.rollback().await.map_err(db_err)?;
            return Err(ServiceError::InvalidState(format!("another request just started work on deployment {id}; reload and try again")));
        }
        gantry_store::write_trail(
            &txn,
            Trail::audit(AuditDraft::new(actor, action, "pve_deployment", Some(id.to_string()), json!({"job_id": job.id.0}))),
        )
        .await?;
        txn.commit().await.map_err(db_err)?;
        drop(_w);
        self.waker.wake();
        Ok(job)
    }

    /// Resumes a failed or partial deployment where it stopped.
    pub async fn retry(&self, id: i64, actor: &Actor) -> Result<Job, ServiceError> {
        let d = self.deployment_row(id).await?;
        if matches!(d.status.as_str(), "cleaning" | "cleaned") {
            return Err(ServiceError::InvalidState(format!("deployment {id} is {}; deploy again instead", d.status)));
        }
        self.queue(id, DEPLOY_JOB, json!({"deployment_id": id}), "queued", actor, "pve.deploy.retry").await
    }
}

/// Asks a cluster for its version, quorum, nodes and the caller's privileges on `/`
/// (shared by the API and the CLI's direct mode).
pub async fn test_client(c: &PveClient) -> TestReport {
    let mut r = TestReport {
        ok: false,
        version: None,
        quorate: None,
        nodes_online: 0,
        nodes_total: 0,
        nodes: BTreeMap::new(),
        missing_privileges: vec![],
        error: None,
        error_kind: None,
    };
    let res = async {
        r.version = Some(c.version().await?.version);
        for i in c.cluster_status().await? {
            if i.kind == "cluster" {
                r.quorate = Some(i.quorate);
            } else if i.kind == "node" {
                r.nodes.insert(i.name.clone(), i.online);
            }
        }
        // A single node without a cluster reports no cluster item: it is quorate by itself.
        if r.quorate.is_none() {
            r.quorate = Some(true);
        }
        let perms = c.permissions("/").await?;
        let have: BTreeSet<String> =
            perms.get("/").map(|m| m.iter().filter(|(_, v)| truthy(v)).map(|(k, _)| k.clone()).collect()).unwrap_or_default();
        r.missing_privileges = NEEDED_PRIVILEGES.iter().filter(|p| !have.contains(**p)).map(|p| p.to_string()).collect();
        Ok::<(), crate::client::PveError>(())
    }
    .await;
    if let Err(e) = res {
        r.error = Some(format!("{}: {}", e.op, e.detail()));
        r.error_kind = Some(e.kind.as_str().to_string());
    }
    r.nodes_total = r.nodes.len();
    r.nodes_online = r.nodes.values().filter(|o| **o).count();
    r.ok = r.error.is_none() && r.quorate == Some(true) && r.missing_privileges.is_empty() && r.nodes_online > 0;
    r
}

fn truthy(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Bool(b) => *b,
        serde_json::Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        serde_json::Value::String(s) => s == "1",
        _ => false,
    }
}

/// Cross-field blueprint rules as field errors.
pub fn check_spec(spec: &Blueprint) -> Result<(), ServiceError> {
    let p: Vec<SpecProblem> = spec.check();
    if p.is_empty() { Ok(()) } else { Err(ServiceError::Validation(p.into_iter().map(|p| FieldError::new(p.path, p.message)).collect())) }
}
