//! Certificates: uploads, listing, what each domain serves, and the
//! material the proxy writes to servers. ACME issuance is in `acme.rs`.

use crate::inspect::{self, Inspected};
use crate::store::{account, certificate, version};
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use gantry_core::audit::{Actor, AuditDraft};
use gantry_core::eventlog::{Record, Severity};
use gantry_core::events::{DomainEvent, EventBus};
use gantry_core::jobs::{Job, NewJob, Waker};
use gantry_core::metrics::{Counter, Gauge};
use gantry_core::repo::{JobRepo, Trail};
use gantry_core::secrets::Keyring;
use gantry_core::user::Role;
use gantry_core::{FieldError, ServiceError};
use gantry_domains::DomainsService;
use gantry_domains::spec::TlsMode;
use gantry_proxy::ProxyService;
use gantry_proxy::tls::{CertificateSource, Material, TlsRequest};
use gantry_store::Db;
use sea_orm::ActiveValue::Set;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, TransactionTrait};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use utoipa::ToSchema;

/// Encryption context of stored private keys.
pub(crate) const KEY_CONTEXT: &str = "tls.certificate_key";
/// The ACME issuance (and renewal) job.
pub const ISSUE_JOB: &str = "tls.issue";

/// Settings from `[tls]`.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    /// How often the renewal loop looks for due certificates.
    pub renew_check_interval: Duration,
    /// Renew at this fraction of the lifetime (default two thirds).
    pub renew_fraction: f64,
    /// First retry delay after a failed issuance; doubles up to `retry_max`.
    pub retry_base: Duration,
    /// Longest retry delay.
    pub retry_max: Duration,
    /// How long issuance waits for the domain to be live on its server.
    pub live_timeout: Duration,
}

impl Default for TlsSettings {
    fn default() -> Self {
        Self {
            renew_check_interval: Duration::from_secs(3600),
            renew_fraction: 2.0 / 3.0,
            retry_base: Duration::from_secs(300),
            retry_max: Duration::from_secs(6 * 3600),
            live_timeout: Duration::from_secs(120),
        }
    }
}

/// An upload.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadInput {
    /// A name to recognise it by (default: its first DNS name and expiry).
    pub name: Option<String>,
    /// The chain in PEM, leaf first, then the intermediates.
    pub certificate: String,
    /// The private key in PEM (PKCS#8, RSA or EC; no passphrase). Never returned.
    pub private_key: String,
}

impl std::fmt::Debug for UploadInput {
    /// Never prints the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UploadInput").field("name", &self.name).field("private_key", &"[redacted]").finish_non_exhaustive()
    }
}

/// Where a certificate is used.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Usage {
    /// Domain id.
    pub domain_id: i64,
    /// Domain name.
    pub domain: String,
    /// The server serving it, if its group is bound.
    pub server_id: Option<i64>,
    /// That server's name.
    pub server: Option<String>,
}

/// A certificate as the API shows it (never its key).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Certificate {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// `upload` or `acme`.
    pub source: String,
    /// For ACME: the domain it is issued for.
    pub domain_id: Option<i64>,
    /// For ACME: the account.
    pub acme_account_id: Option<i64>,
    /// DNS names covered (wildcards as `*.example.com`).
    pub names: Vec<String>,
    /// Issuer (common name).
    pub issuer: String,
    /// Serial (hex).
    pub serial: String,
    /// Valid from.
    pub not_before: DateTime<Utc>,
    /// Valid until.
    pub not_after: DateTime<Utc>,
    /// Whole days left (negative when expired).
    pub days_left: i64,
    /// `ok`, the warning level (`expiring_30`, `expiring_14`, `expiring_7`, `expired`), or `not_issued` (ACME, no certificate yet).
    pub expiry: String,
    /// SHA-256 fingerprint of the leaf.
    pub fingerprint: String,
    /// `valid`, `pending` (ACME, not issued yet) or `failed`.
    pub status: String,
    /// Last issuance or renewal error (the CA's problem type and detail).
    pub last_error: Option<String>,
    /// Failed attempts in a row.
    pub failures: i32,
    /// ACME: when Gantry renews it.
    pub renew_after: Option<DateTime<Utc>>,
    /// ACME: the next attempt after a failure.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The issuance job queued or running.
    pub job_id: Option<i64>,
    /// Domains and servers using it.
    pub used_by: Vec<Usage>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Updated (a renewal changes it).
    pub updated_at: DateTime<Utc>,
}

/// A certificate changed (uploaded, issued, renewed, failed, deleted).
#[derive(Debug, Clone, Serialize)]
pub struct CertificateChanged {
    /// Id.
    pub certificate_id: i64,
    /// What happened: `uploaded`, `issued`, `renewed`, `renewal_failed`, `deleted`.
    pub what: String,
    /// Detail (an error's text for failures).
    pub detail: Option<String>,
}

impl DomainEvent for CertificateChanged {
    const KIND: &'static str = "certificate.changed";
    fn entity(&self) -> Option<(&'static str, String)> {
        Some(("certificate", self.certificate_id.to_string()))
    }
    fn record(&self) -> Option<Record> {
        let id = self.certificate_id;
        let detail = self.detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default();
        let (severity, message) = match self.what.as_str() {
            "issued" => (Severity::Info, format!("Certificate #{id} was issued{detail}")),
            "renewed" => (Severity::Info, format!("Certificate #{id} was renewed{detail}")),
            "renewal_failed" => (Severity::Error, format!("Renewing certificate #{id} failed{detail}")),
            "uploaded" => (Severity::Info, format!("Certificate #{id} was uploaded")),
            "deleted" => (Severity::Info, format!("Certificate #{id} was deleted")),
            other => (Severity::Info, format!("Certificate #{id}: {other}{detail}")),
        };
        Some(
            Record::new(severity, "tls", format!("certificate.{}", self.what), message)
                .entity("certificate", id, None)
                .details(serde_json::json!({ "what": self.what, "detail": self.detail })),
        )
    }
}

/// The warning level for an expiry: 30, 14 and 7 days ahead.
pub fn expiry_level(not_after: DateTime<Utc>, now: DateTime<Utc>) -> (&'static str, i64) {
    let left = not_after - now;
    let days = left.num_days();
    let level = if left <= ChronoDuration::zero() {
        "expired"
    } else if left <= ChronoDuration::days(7) {
        "expiring_7"
    } else if left <= ChronoDuration::days(14) {
        "expiring_14"
    } else if left <= ChronoDuration::days(30) {
        "expiring_30"
    } else {
        "ok"
    };
    (level, days)
}

/// The content id of a chain and key: names the files on servers.
pub(crate) fn material_id(chain_pem: &str, key_pem: &str) -> String {
    gantry_core::tokens::digest(&format!("{chain_pem}\n{key_pem}")).chars().take(32).collect()
}

/// The TLS service.
pub struct TlsService {
    pub(crate) db: Db,
    pub(crate) keyring: Arc<Keyring>,
    pub(crate) domains: Arc<DomainsService>,
    pub(crate) proxy: Arc<ProxyService>,
    pub(crate) jobs: Arc<dyn JobRepo>,
    pub(crate) waker: Waker,
    pub(crate) bus: EventBus,
    pub(crate) settings: TlsSettings,
    pub(crate) metrics: TlsMetrics,
    /// Certificate ids this replica reports expiry for (another replica may delete one).
    pub(crate) reported: std::sync::Mutex<std::collections::BTreeSet<i64>>,
}

/// The module's metrics.
#[derive(Clone)]
pub struct TlsMetrics {
    /// When each certificate expires.
    pub expiry: Gauge,
    /// Issuance and renewal attempts by result (counted once, by the replica that ran them).
    pub renewals: Counter,
    /// 1 while a certificate's latest issuance or renewal attempt failed.
    pub failing: Gauge,
}

fn db_err(e: sea_orm::DbErr) -> ServiceError {
    match e.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => {
            ServiceError::Conflict { field: "name".into(), message: "a certificate with this name exists".into() }
        }
        _ => gantry_core::StoreError::Database(e.to_string()).into(),
    }
}

impl TlsService {
    /// Builds the service.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        db: Db,
        keyring: Arc<Keyring>,
        domains: Arc<DomainsService>,
        proxy: Arc<ProxyService>,
        jobs: Arc<dyn JobRepo>,
        waker: Waker,
        bus: EventBus,
        settings: TlsSettings,
        metrics: TlsMetrics,
    ) -> Self {
        Self { db, keyring, domains, proxy, jobs, waker, bus, settings, metrics, reported: Default::default() }
    }

    pub(crate) async fn row(&self, id: i64) -> Result<certificate::Model, ServiceError> {
        certificate::Entity::find_by_id(id).one(self.db.connection()).await.map_err(db_err)?.ok_or(ServiceError::NotFound("certificate"))
    }

    fn names_of(m: &certificate::Model) -> Vec<String> {
        serde_json::from_str(&m.names).unwrap_or_default()
    }

    /// Domains that use a certificate: by upload id, or the ACME certificate's own domain.
    async fn usage(&self, m: &certificate::Model) -> Result<Vec<Usage>, ServiceError> {
        let mut out = Vec::new();
        let ids: Vec<i64> = match (m.source.as_str(), m.domain_id) {
            ("acme", Some(d)) => vec![d],
            _ => self.domains.domains_using_certificate(m.id).await?,
        };
        for id in ids {
            if let Ok(d) = self.domains.get_domain(id).await
                && (m.source != "acme" || d.options.tls == TlsMode::Acme)
            {
                out.push(Usage {
                    domain_id: d.id,
                    domain: d.name.clone(),
                    server_id: d.server.as_ref().map(|s| s.id),
                    server: d.server.as_ref().map(|s| s.name.clone()),
                });
            }
        }
        Ok(out)
    }

    async fn view(&self, m: certificate::Model) -> Result<Certificate, ServiceError> {
        let (level, days) = expiry_level(m.not_after, Utc::now());
        let used_by = self.usage(&m).await?;
        // Before its first issuance an ACME certificate has no dates worth reporting.
        let issued = !m.material_id.is_empty();
        if issued {
            self.metrics.expiry.set(&[&m.id.to_string()], m.not_after.timestamp() as f64);
            if let Ok(mut r) = self.reported.lock() {
                r.insert(m.id);
            }
        }
        Ok(Certificate {
            id: m.id,
            names: Self::names_of(&m),
            name: m.name,
            source: m.source,
            domain_id: m.domain_id,
            acme_account_id: m.acme_account_id,
            issuer: m.issuer,
            serial: m.serial,
            not_before: m.not_before,
            not_after: m.not_after,
            days_left: days,
            expiry: if issued { level.into() } else { "not_issued".into() },
            fingerprint: m.fingerprint,
            status: m.status,
            last_error: m.last_error,
            failures: m.failures,
            renew_after: m.renew_after,
            next_attempt_at: m.next_attempt_at,
            job_id: m.job_id,
            used_by,
            created_at: m.created_at,
            updated_at: m.updated_at,
        })
    }

    /// Every certificate, soonest expiry first.
    pub async fn list(&self) -> Result<Vec<Certificate>, ServiceError> {
        let rows = certificate::Entity::find()
            .order_by_asc(certificate::Column::NotAfter)
            .order_by_asc(certificate::Column::Id)
            .all(self.db.connection())
            .await
            .map_err(db_err)?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(self.view(r).await?);
        }
        Ok(out)
    }

    /// Refreshes the expiry metric from the table: every certificate's series, and none for
    /// certificates gone since (deleted on any replica).
    pub async fn refresh_metrics(&self) -> Result<(), ServiceError> {
        let certs = self.list().await?;
        self.metrics.failing.replace(certs.iter().map(|c| (vec![c.id.to_string()], if c.failures > 0 { 1.0 } else { 0.0 })));
        let ids: std::collections::BTreeSet<i64> = certs.into_iter().filter(|c| !c.fingerprint.is_empty()).map(|c| c.id).collect();
        let gone: Vec<i64> = match self.reported.lock() {
            Ok(mut r) => {
                let gone = r.difference(&ids).copied().collect();
                r.retain(|id| ids.contains(id));
                gone
            }
            Err(_) => Vec::new(),
        };
        for id in gone {
            self.metrics.expiry.remove(&[&id.to_string()]);
        }
        Ok(())
    }

    /// One certificate.
    pub async fn get(&self, id: i64) -> Result<Certificate, ServiceError> {
        let m = self.row(id).await?;
        self.view(m).await
    }

    /// The ACME certificate of a domain, if any.
    pub async fn for_domain(&self, domain_id: i64) -> Result<Option<Certificate>, ServiceError> {
        let m = certificate::Entity::find()
            .filter(certificate::Column::DomainId.eq(domain_id))
            .one(self.db.connection())
            .await
            .map_err(db_err)?;
        match m {
            Some(m) => Ok(Some(self.view(m).await?)),
            None => Ok(None),
        }
    }

    /// Uploaded certificates whose names cover all of `names` and that have not expired, newest expiry first.
    pub async fn suggestions(&self, names: &[String]) -> Result<Vec<Certificate>, ServiceError> {
        let now = Utc::now();
        let mut out: Vec<Certificate> = Vec::new();
        for c in self.list().await? {
            if c.source == "upload" && c.not_after > now && names.iter().all(|n| inspect::covers_any(&c.names, n)) {
                out.push(c);
            }
        }
        out.sort_by_key(|c| std::cmp::Reverse(c.not_after));
        Ok(out)
    }

    /// Checks and stores an uploaded certificate.
    pub async fn upload(&self, input: UploadInput, actor: &Actor) -> Result<Certificate, ServiceError> {
        let key = SecretString::from(input.private_key);
        let checked: Inspected = inspect::inspect(&input.certificate, key.expose_secret(), Utc::now())
            .map_err(|p| ServiceError::Validation(vec![FieldError::new(p.field(), p.to_string())]))?;
        let name = match input.name.map(|n| n.trim().to_string()).filter(|n| !n.is_empty()) {
            Some(n) if n.chars().count() > 200 => return Err(ServiceError::field("name", "must be at most 200 characters")),
            Some(n) => n,
            None => format!("{} (until {})", checked.names[0], checked.not_after.format("%Y-%m-%d")),
        };
        let key_text = normalised_key(key.expose_secret());
        let material = material_id(&checked.chain_pem, &key_text);
        let key_enc = self.keyring.encrypt(KEY_CONTEXT, key_text.as_bytes()).map_err(|e| ServiceError::Internal(e.to_string()))?;
        let known =
            version::Entity::find().filter(version::Column::MaterialId.eq(&material)).one(self.db.connection()).await.map_err(db_err)?;
        if let Some(v) = known {
            return Err(ServiceError::field(
                "certificate",
                format!("this certificate and key are already uploaded (certificate {})", v.certificate_id),
            ));
        }
        let now = Utc::now();
        let _w = self.db.write_guard().await;
        let txn = self.db.connection().begin().await.map_err(db_err)?;
        let row = certificate::ActiveModel {
            name: Set(name.clone()),
            source: Set("upload".into()),
            domain_id: Set(None),
            acme_account_id: Set(None),
            names: Set(serde_json::to_string(&checked.names).unwrap_or_else(|_| "[]".into())),
            issuer: Set(checked.issuer.chars().take(500).collect()),
            serial: Set(checked.serial.chars().take(120).collect()),
            not_before: Set(checked.not_before),
            not_after: Set(checked.not_after),
            fingerprint: Set(checked.fingerprint.clone()),
            material_id: Set(material.clone()),
            status: Set("valid".into()),
            last_error: Set(None),
            failures: Set(0),
            renew_after: Set(None),
            next_attempt_at: Set(None),
            job_id: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await
        .map_err(db_err)?;
        version::ActiveModel {
            certificate_id: Set(row.id),
            material_id: Set(material),
            chain_pem: Set(checked.chain_pem.clone()),
            key_enc: Set(key_enc),
            serial: Set(checked.serial.chars().take(120).collect()),
            not_after: Set(checked.not_after),
            created_at: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await
        .map_err(|e| match e.sql_err() {
            Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => {
                ServiceError::field("certificate", "this certificate and key are already uploaded")
            }
            _ => db_err(e),
        })?;
        let summary = json!({"after": {"name": name, "names": checked.names, "issuer": checked.issuer, "serial": checked.serial,
            "not_after": checked.not_after, "fingerprint": checked.fingerprint}});
        let trail = Trail::audit(AuditDraft::new(actor, "certificate.upload", "certificate", Some(row.id.to_string()), summary))
            .with_event(CertificateChanged { certificate_id: row.id, what: "uploaded".into(), detail: None }.draft());
        gantry_store::write_trail(&txn, trail).await?;
        txn.commit().await.map_err(db_err)?;
        self.bus.notify_written();
        drop(_w);
        self.view(row).await
    }

    /// Deletes a certificate no domain uses.
    pub async fn delete(&self, id: i64, actor: &Actor) -> Result<(), ServiceError> {
        let m = self.row(id).await?;
        let used = self.usage(&m).await?;
        if !used.is_empty() {
            let names: Vec<String> = used.iter().map(|u| u.domain.clone()).collect();
            return Err(ServiceError::Conflict {
                field: "id".into(),
                message: format!(
                    "the certificate is served for {}; switch those domains to another certificate (or tls: none) first",
                    names.join(", ")
                ),
            });
        }
        let _w = self.db.write_guard().await;
        let txn = self.db.connection().begin().await.map_err(db_err)?;
        version::Entity::delete_many().filter(version::Column::CertificateId.eq(id)).exec(&txn).await.map_err(db_err)?;
        certificate::Entity::delete_by_id(id).exec(&txn).await.map_err(db_err)?;
        let trail = Trail::audit(AuditDraft::new(
            actor,
            "certificate.delete",
            "certificate",
            Some(id.to_string()),
            json!({"before": {"name": m.name, "names": Self::names_of(&m)}}),
        ))
        .with_event(CertificateChanged { certificate_id: id, what: "deleted".into(), detail: None }.draft());
        gantry_store::write_trail(&txn, trail).await?;
        txn.commit().await.map_err(db_err)?;
        self.bus.notify_written();
        drop(_w);
        self.metrics.expiry.remove(&[&id.to_string()]);
        Ok(())
    }

    /// Servers that serve any of these domains (to reconcile after a certificate changes).
    pub(crate) async fn servers_of(&self, domain_ids: &[i64]) -> Vec<i64> {
        let mut out = Vec::new();
        for id in domain_ids {
            if let Ok(d) = self.domains.get_domain(*id).await
                && let Some(s) = d.server
                && !out.contains(&s.id)
            {
                out.push(s.id);
            }
        }
        out
    }

    /// After a certificate's material changed: the servers using it reconcile (each reloads only if its bytes changed).
    pub(crate) async fn roll_out(&self, m: &certificate::Model) {
        let domains: Vec<i64> = match self.usage(m).await {
            Ok(u) => u.into_iter().map(|u| u.domain_id).collect(),
            Err(_) => Vec::new(),
        };
        let servers = self.servers_of(&domains).await;
        if let Err(e) = self.proxy.reconcile(&servers).await {
            tracing::warn!(certificate_id = m.id, error = %e, "cannot queue the rollout of a new certificate; the proxy sweep will");
        }
    }

    /// Queues an issuance (or renewal) job for a certificate row, once across replicas.
    pub(crate) async fn enqueue_issue(&self, m: &certificate::Model, actor: &Actor, reason: &str) -> Result<Option<Job>, ServiceError> {
        let mut job = NewJob::new(ISSUE_JOB, json!({"certificate_id": m.id, "reason": reason}));
        job.created_by = actor.user_id;
        job.audience = Role::Viewer;
        job.max_attempts = 1;
        let _w = self.db.write_guard().await;
        let txn = self.db.connection().begin().await.map_err(db_err)?;
        // The claim: only the replica whose update sees no job queued enqueues one.
        let claimed = certificate::Entity::update_many()
            .col_expr(certificate::Column::JobId, sea_orm::sea_query::Expr::value(-1i64))
            .filter(certificate::Column::Id.eq(m.id))
            .filter(certificate::Column::JobId.is_null())
            .exec(&txn)
            .await
            .map_err(db_err)?;
        if claimed.rows_affected == 0 {
            txn.rollback().await.map_err(db_err)?;
            return Ok(None);
        }
        let job = gantry_store::insert_job(&txn, job).await?;
        certificate::Entity::update_many()
            .col_expr(certificate::Column::JobId, sea_orm::sea_query::Expr::value(job.id.0))
            .filter(certificate::Column::Id.eq(m.id))
            .exec(&txn)
            .await
            .map_err(db_err)?;
        let trail = Trail::audit(AuditDraft::new(
            actor,
            "certificate.issue",
            "certificate",
            Some(m.id.to_string()),
            json!({"names": Self::names_of(m), "reason": reason}),
        ));
        gantry_store::write_trail(&txn, trail).await?;
        txn.commit().await.map_err(db_err)?;
        drop(_w);
        self.waker.wake();
        Ok(Some(job))
    }

    /// ACME accounts.
    pub async fn accounts(&self) -> Result<Vec<account::Model>, ServiceError> {
        account::Entity::find().order_by_asc(account::Column::Id).all(self.db.connection()).await.map_err(db_err)
    }
}

/// The key as stored: its PEM blocks only (comments and whitespace around them dropped).
fn normalised_key(key_pem: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in key_pem.lines() {
        let l = line.trim();
        if l.starts_with("-----BEGIN ") {
            inside = true;
        }
        if inside {
            out.push_str(l);
            out.push('\n');
        }
        if l.starts_with("-----END ") {
            inside = false;
        }
    }
    out
}

/// What the proxy asks for, answered from the tables.
pub(crate) struct Source(pub Arc<TlsService>);

#[async_trait::async_trait]
impl CertificateSource for Source {
    async fn bindings(&self, requests: &[TlsRequest]) -> Result<BTreeMap<i64, String>, String> {
        let mut out = BTreeMap::new();
        let c = self.0.db.connection();
        for r in requests {
            let row = match (r.mode, r.certificate_id) {
                (TlsMode::Certificate, Some(id)) => certificate::Entity::find_by_id(id).one(c).await,
                (TlsMode::Acme, _) => certificate::Entity::find().filter(certificate::Column::DomainId.eq(r.domain_id)).one(c).await,
                _ => continue,
            }
            .map_err(|e| e.to_string())?;
            if let Some(m) = row.filter(|m| !m.material_id.is_empty()) {
                out.insert(r.domain_id, m.material_id);
            }
        }
        Ok(out)
    }

    async fn material(&self, id: &str) -> Result<Option<Material>, String> {
        let v = version::Entity::find()
            .filter(version::Column::MaterialId.eq(id))
            .one(self.0.db.connection())
            .await
            .map_err(|e| e.to_string())?;
        let Some(v) = v else { return Ok(None) };
        let key = self.0.keyring.decrypt(KEY_CONTEXT, &v.key_enc).map_err(|e| format!("certificate key {id}: {e}"))?;
        let key = SecretString::from(String::from_utf8_lossy(key.expose_secret()).into_owned());
        Ok(Some(Material { chain_pem: v.chain_pem, key_pem: key }))
    }
}

/// Lets the domains module check `certificate_id` on writes.
pub(crate) struct Check(pub Arc<TlsService>);

#[async_trait::async_trait]
impl gantry_domains::CertificateCheck for Check {
    async fn check(&self, id: i64, names: &[String]) -> Result<(), String> {
        let m = match self.0.row(id).await {
            Ok(m) => m,
            Err(_) => return Err(format!("certificate {id} does not exist")),
        };
        if m.source != "upload" {
            return Err(format!("certificate {id} is an ACME certificate of another domain; choose tls: acme for this one"));
        }
        let covered = TlsService::names_of(&m);
        let missing: Vec<&String> = names.iter().filter(|n| !inspect::covers_any(&covered, n)).collect();
        if !missing.is_empty() {
            return Err(format!(
                "certificate {id} ({}) does not cover {}",
                covered.join(", "),
                missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            ));
        }
        if m.not_after <= Utc::now() {
            return Err(format!("certificate {id} expired on {}", m.not_after.to_rfc3339()));
        }
        Ok(())
    }
}
