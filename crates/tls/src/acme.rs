//! ACME (RFC 8555) with instant-acme: accounts per directory, HTTP-01
//! issuance through the nginx of the domain's server, and renewal.
//!
//! HTTP goes through Gantry's own reqwest client (rustls with aws-lc-rs):
//! public CAs are trusted through the system's roots, a private CA through
//! the account's CA bundle. Every domain's port-80 block serves
//! `/.well-known/acme-challenge/` from a directory Gantry writes over SSH,
//! so the challenge works before the domain has any certificate and keeps
//! working when everything else redirects to HTTPS.

use crate::error::TlsError;
use crate::inspect;
use crate::service::{CertificateChanged, KEY_CONTEXT, TlsService, material_id};
use crate::store::{account, certificate, version};
use bytes::Bytes;
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use gantry_core::ServiceError;
use gantry_core::audit::{Actor, AuditDraft};
use gantry_core::events::DomainEvent;
use gantry_core::jobs::JobContext;
use gantry_core::repo::Trail;
use http_body_util::BodyExt as _;
use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, BodyWrapper, BytesResponse, ChallengeType, HttpClient, Identifier, NewAccount,
    NewOrder, OrderStatus, RetryPolicy,
};
use sea_orm::ActiveValue::Set;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, TransactionTrait};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::json;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use utoipa::ToSchema;

/// Let's Encrypt production.
pub const LETSENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";
/// Let's Encrypt staging.
pub const LETSENCRYPT_STAGING: &str = "https://acme-staging-v02.api.letsencrypt.org/directory";
const ACCOUNT_CONTEXT: &str = "tls.acme_account";

/// instant-acme's HTTP through reqwest.
struct Http(reqwest::Client);

impl HttpClient for Http {
    fn request(
        &self,
        req: http::Request<BodyWrapper<Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Result<BytesResponse, instant_acme::Error>> + Send>> {
        let client = self.0.clone();
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let body = match body.collect().await {
                Ok(c) => c.to_bytes(),
                Err(never) => match never {},
            };
            let resp = client
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await
                .map_err(|e| instant_acme::Error::Other(Box::new(e)))?;
            let (status, headers) = (resp.status(), resp.headers().clone());
            let bytes = resp.bytes().await.map_err(|e| instant_acme::Error::Other(Box::new(e)))?;
            let (mut head, ()) = http::Response::new(()).into_parts();
            head.status = status;
            head.headers = headers;
            Ok(BytesResponse { parts: head, body: Box::new(bytes) })
        })
    }
}

fn http_client(ca_bundle: Option<&str>) -> Result<Http, TlsError> {
    let mut b = reqwest::Client::builder().timeout(Duration::from_secs(30)).connect_timeout(Duration::from_secs(10));
    if let Some(pem) = ca_bundle.filter(|p| !p.trim().is_empty()) {
        let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
            .map_err(|e| TlsError::Invalid(format!("the account's CA bundle cannot be read: {e}")))?;
        b = b.tls_certs_merge(certs);
    }
    b.build().map(Http).map_err(|e| TlsError::Transport(e.to_string()))
}

/// A new ACME account.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountInput {
    /// A name (unique).
    pub name: String,
    /// `letsencrypt`, `letsencrypt-staging`, or leave out and give `directory_url`.
    pub preset: Option<String>,
    /// Any ACME directory (a company CA; Pebble in tests). `https://` only.
    pub directory_url: Option<String>,
    /// Contact e-mail for the CA (optional).
    pub contact: Option<String>,
    /// PEM roots to trust for this directory (a private CA).
    pub ca_bundle: Option<String>,
}

/// An ACME account as shown (credentials never leave Gantry).
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct AcmeAccount {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Directory URL.
    pub directory_url: String,
    /// Contact e-mail.
    pub contact: Option<String>,
    /// Whether a CA bundle is set.
    pub custom_ca: bool,
    /// Whether the account is registered with the CA yet (at first issuance).
    pub registered: bool,
    /// Created.
    pub created_at: DateTime<Utc>,
}

impl From<account::Model> for AcmeAccount {
    fn from(m: account::Model) -> Self {
        Self {
            id: m.id,
            name: m.name,
            directory_url: m.directory_url,
            contact: m.contact,
            custom_ca: m.ca_bundle.is_some(),
            registered: m.credentials_enc.is_some(),
            created_at: m.created_at,
        }
    }
}

/// An ACME order for a domain.
#[derive(Debug, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct IssueInput {
    /// The account (default: the only one, or the first).
    pub account_id: Option<i64>,
}

fn db(e: sea_orm::DbErr) -> ServiceError {
    match e.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => {
            ServiceError::Conflict { field: "name".into(), message: "the name is taken".into() }
        }
        _ => gantry_core::StoreError::Database(e.to_string()).into(),
    }
}

/// When to renew: at `fraction` of the lifetime, minus up to a twentieth of it at random.
pub fn renew_at(not_before: DateTime<Utc>, not_after: DateTime<Utc>, fraction: f64, jitter_unit: f64) -> DateTime<Utc> {
    let life = (not_after - not_before).num_milliseconds().max(0) as f64;
    let at = life * fraction.clamp(0.05, 0.95) - life / 20.0 * jitter_unit.clamp(0.0, 1.0);
    not_before + ChronoDuration::milliseconds(at.max(0.0) as i64)
}

fn jitter() -> f64 {
    let b = gantry_core::tokens::random_bytes::<2>().unwrap_or([0, 0]);
    f64::from(u16::from_le_bytes(b)) / f64::from(u16::MAX)
}

impl TlsService {
    /// Adds an ACME account (registered with the CA at its first issuance).
    pub async fn create_account(&self, input: AccountInput, actor: &Actor) -> Result<AcmeAccount, ServiceError> {
        let mut errors = Vec::new();
        let name = input.name.trim().to_string();
        if name.is_empty() || name.chars().count() > 100 {
            errors.push(gantry_core::FieldError::new("name", "is required (at most 100 characters)"));
        }
        let url = match (input.preset.as_deref(), input.directory_url.as_deref()) {
            (Some("letsencrypt"), None) => Some(LETSENCRYPT.to_string()),
            (Some("letsencrypt-staging"), None) => Some(LETSENCRYPT_STAGING.to_string()),
            (Some(p), None) => {
                errors.push(gantry_core::FieldError::new("preset", format!("{p:?} is not letsencrypt or letsencrypt-staging")));
                None
            }
            (None, Some(u)) if u.starts_with("https://") && u.len() <= 1000 && !u.contains(char::is_whitespace) => Some(u.to_string()),
            (None, Some(_)) => {
                errors.push(gantry_core::FieldError::new("directory_url", "must be an https:// URL"));
                None
            }
            (Some(_), Some(_)) => {
                errors.push(gantry_core::FieldError::new("directory_url", "give either preset or directory_url"));
                None
            }
            (None, None) => {
                errors.push(gantry_core::FieldError::new("directory_url", "is required (or a preset)"));
                None
            }
        };
        let contact = input.contact.map(|c| c.trim().to_string()).filter(|c| !c.is_empty());
        if contact.as_deref().is_some_and(|c| !c.contains('@') || c.contains(char::is_whitespace) || c.len() > 320) {
            errors.push(gantry_core::FieldError::new("contact", "must be an e-mail address"));
        }
        let ca = input.ca_bundle.filter(|c| !c.trim().is_empty());
        if let Some(pem) = &ca
            && reqwest::Certificate::from_pem_bundle(pem.as_bytes()).map(|v| v.is_empty()).unwrap_or(true)
        {
            errors.push(gantry_core::FieldError::new("ca_bundle", "must hold one or more PEM certificates"));
        }
        let (Some(url), true) = (url, errors.is_empty()) else {
            return Err(ServiceError::Validation(errors));
        };
        let _w = self.db.write_guard().await;
        let txn = self.db.connection().begin().await.map_err(db)?;
        let m = account::ActiveModel {
            name: Set(name.clone()),
            directory_url: Set(url.clone()),
            contact: Set(contact),
            ca_bundle: Set(ca),
            credentials_enc: Set(None),
            created_at: Set(Utc::now()),
            ..Default::default()
        }
        .insert(&txn)
        .await
        .map_err(db)?;
        let trail = Trail::audit(AuditDraft::new(
            actor,
            "acme_account.create",
            "acme_account",
            Some(m.id.to_string()),
            json!({"after": {"name": name, "directory_url": url}}),
        ));
        gantry_store::write_trail(&txn, trail).await?;
        txn.commit().await.map_err(db)?;
        Ok(m.into())
    }

    async fn account_row(&self, id: Option<i64>) -> Result<account::Model, TlsError> {
        let q = account::Entity::find();
        let m = match id {
            Some(id) => q.filter(account::Column::Id.eq(id)).one(self.db.connection()).await,
            None => q.order_by_asc(account::Column::Id).one(self.db.connection()).await,
        }
        .map_err(|e| TlsError::Service(db(e)))?;
        m.ok_or_else(|| TlsError::Invalid("no ACME account is configured: add one under Certificates → ACME accounts".into()))
    }

    /// The instant-acme account, registered with the CA at first use.
    async fn acme_account(&self, m: &account::Model) -> Result<Account, TlsError> {
        let http = || http_client(m.ca_bundle.as_deref()).map(|h| Box::new(h) as Box<dyn HttpClient>);
        if let Some(enc) = &m.credentials_enc {
            let plain = self.keyring.decrypt(ACCOUNT_CONTEXT, enc).map_err(|e| TlsError::Invalid(format!("account credentials: {e}")))?;
            let creds: AccountCredentials = serde_json::from_slice(plain.expose_secret())
                .map_err(|_| TlsError::Invalid("the stored account credentials are unreadable".into()))?;
            return Ok(Account::builder_with_http(http()?).from_credentials(creds).await?);
        }
        let contact: Vec<String> = m.contact.iter().map(|c| format!("mailto:{c}")).collect();
        let contact_refs: Vec<&str> = contact.iter().map(String::as_str).collect();
        let (account, creds) = Account::builder_with_http(http()?)
            .create(
                &NewAccount { contact: &contact_refs, terms_of_service_agreed: true, only_return_existing: false },
                m.directory_url.clone(),
                None,
            )
            .await?;
        let text = serde_json::to_vec(&creds).map_err(|e| TlsError::Invalid(e.to_string()))?;
        let enc = self.keyring.encrypt(ACCOUNT_CONTEXT, &text).map_err(|e| TlsError::Invalid(e.to_string()))?;
        let mut am: account::ActiveModel = m.clone().into();
        am.credentials_enc = Set(Some(enc));
        let _w = self.db.write_guard().await;
        am.update(self.db.connection()).await.map_err(|e| TlsError::Service(db(e)))?;
        Ok(account)
    }

    /// Asks for a certificate for a domain (and its aliases) with ACME: a job with live progress.
    pub async fn request_issue(&self, domain_id: i64, input: IssueInput, actor: &Actor) -> Result<gantry_core::jobs::Job, ServiceError> {
        let d = self.domains.get_domain(domain_id).await?;
        if d.options.tls != gantry_domains::spec::TlsMode::Acme {
            return Err(ServiceError::field("domain_id", format!("{} does not use ACME; set its tls option to acme first", d.name)));
        }
        let mut names = vec![d.name.clone()];
        names.extend(d.aliases.iter().cloned());
        if names.iter().any(|n| n.starts_with("*.")) {
            return Err(ServiceError::field(
                "domain_id",
                "wildcard names need the DNS-01 challenge, which Gantry does not offer; upload a wildcard certificate instead",
            ));
        }
        let acc = self.account_row(input.account_id).await.map_err(|e| ServiceError::field("account_id", e.to_string()))?;
        let row = match certificate::Entity::find()
            .filter(certificate::Column::DomainId.eq(domain_id))
            .one(self.db.connection())
            .await
            .map_err(db)?
        {
            Some(r) => r,
            None => {
                let now = Utc::now();
                let _w = self.db.write_guard().await;
                certificate::ActiveModel {
                    // The domain id keeps it unique even beside an upload named after the domain.
                    name: Set(format!("{} (ACME, domain {domain_id})", d.name)),
                    source: Set("acme".into()),
                    domain_id: Set(Some(domain_id)),
                    acme_account_id: Set(Some(acc.id)),
                    names: Set(serde_json::to_string(&names).unwrap_or_else(|_| "[]".into())),
                    issuer: Set(String::new()),
                    serial: Set(String::new()),
                    not_before: Set(now),
                    not_after: Set(now),
                    fingerprint: Set(String::new()),
                    material_id: Set(String::new()),
                    status: Set("pending".into()),
                    last_error: Set(None),
                    failures: Set(0),
                    renew_after: Set(None),
                    next_attempt_at: Set(None),
                    job_id: Set(None),
                    created_at: Set(now),
                    updated_at: Set(now),
                    ..Default::default()
                }
                .insert(self.db.connection())
                .await
                .map_err(db)?
            }
        };
        if input.account_id.is_some() && row.acme_account_id != Some(acc.id) {
            let mut am: certificate::ActiveModel = row.clone().into();
            am.acme_account_id = Set(Some(acc.id));
            let _w = self.db.write_guard().await;
            am.update(self.db.connection()).await.map_err(db)?;
        }
        let mut row = row;
        self.claim_busy(&mut row).await?;
        match self.enqueue_issue(&row, actor, "requested").await? {
            Some(job) => Ok(job),
            None => Err(ServiceError::InvalidState(format!("an issuance for {} is already queued or running", d.name))),
        }
    }

    /// The issuance job: order, HTTP-01 through the domain's server, finalize, store, roll out.
    pub(crate) async fn run_issue(&self, certificate_id: i64, ctx: &JobContext) -> Result<serde_json::Value, TlsError> {
        let row = self.row(certificate_id).await?;
        // Everything that can fail happens before the write that releases the claim.
        let out = match self.issue_steps(&row, ctx).await {
            Ok((chain, key)) => match (inspect::leaf_facts(&chain), self.keyring.encrypt(KEY_CONTEXT, key.as_bytes())) {
                (Some(facts), Ok(key_enc)) => Ok((chain, key, facts, key_enc)),
                (None, _) => Err(TlsError::Invalid("the CA sent a certificate Gantry cannot read".into())),
                (_, Err(e)) => Err(TlsError::Invalid(format!("cannot encrypt the new key: {e}"))),
            },
            Err(e) => Err(e),
        };
        // The claim ends with the job, whatever happened.
        let fresh = self.row(certificate_id).await?;
        let mut am: certificate::ActiveModel = fresh.clone().into();
        am.job_id = Set(None);
        am.updated_at = Set(Utc::now());
        self.metrics.renewals.inc(&[if out.is_ok() { "ok" } else { "failed" }]);
        self.metrics.failing.set(&[&certificate_id.to_string()], if out.is_ok() { 0.0 } else { 1.0 });
        let (event, result) = match out {
            Ok((chain, key, facts, key_enc)) => {
                let renewal = fresh.status == "valid";
                let inspect::LeafFacts { names, issuer, serial, not_before, not_after, fingerprint } = facts;
                let material = material_id(&chain, &key);
                am.names = Set(serde_json::to_string(&names).unwrap_or_else(|_| "[]".into()));
                am.issuer = Set(issuer.chars().take(500).collect());
                am.serial = Set(serial.clone());
                am.not_before = Set(not_before);
                am.not_after = Set(not_after);
                am.fingerprint = Set(fingerprint);
                am.material_id = Set(material.clone());
                am.status = Set("valid".into());
                am.last_error = Set(None);
                am.failures = Set(0);
                am.next_attempt_at = Set(None);
                am.renew_after = Set(Some(renew_at(not_before, not_after, self.settings.renew_fraction, jitter())));
                let v = version::ActiveModel {
                    certificate_id: Set(certificate_id),
                    material_id: Set(material),
                    chain_pem: Set(chain),
                    key_enc: Set(key_enc),
                    serial: Set(serial.clone()),
                    not_after: Set(not_after),
                    created_at: Set(Utc::now()),
                    ..Default::default()
                };
                let what = if renewal { "renewed" } else { "issued" };
                (
                    CertificateChanged {
                        certificate_id,
                        what: what.into(),
                        detail: Some(format!("serial {serial}, valid until {not_after}")),
                    },
                    Ok((Some(v), json!({"certificate_id": certificate_id, "serial": serial, "not_after": not_after, "what": what}))),
                )
            }
            Err(e) => {
                let failures = fresh.failures.saturating_add(1);
                let base = self.settings.retry_base.as_secs_f64() * 2f64.powi(failures.saturating_sub(1).min(16));
                let delay = base.min(self.settings.retry_max.as_secs_f64());
                am.failures = Set(failures);
                am.last_error = Set(Some(e.to_string().chars().take(2000).collect()));
                am.next_attempt_at = Set(Some(Utc::now() + ChronoDuration::milliseconds((delay * 1000.0) as i64)));
                if fresh.status != "valid" {
                    am.status = Set("failed".into());
                }
                (CertificateChanged { certificate_id, what: "renewal_failed".into(), detail: Some(e.to_string()) }, Err(e))
            }
        };
        let _w = self.db.write_guard().await;
        let txn = self.db.connection().begin().await.map_err(|e| TlsError::Service(db(e)))?;
        let mut stored_version = false;
        if let Ok((Some(v), _)) = &result {
            v.clone().insert(&txn).await.map_err(|e| TlsError::Service(db(e)))?;
            stored_version = true;
        }
        let saved = am.update(&txn).await.map_err(|e| TlsError::Service(db(e)))?;
        let trail = Trail::default().with_event(event.draft());
        gantry_store::write_trail(&txn, trail).await.map_err(|e| TlsError::Service(e.into()))?;
        txn.commit().await.map_err(|e| TlsError::Service(db(e)))?;
        self.bus.notify_written();
        drop(_w);
        if stored_version {
            ctx.progress(95, "certificate stored; rolling it out to the servers that serve the domain").await;
            self.roll_out(&saved).await;
        }
        result.map(|(_, v)| v)
    }

    async fn issue_steps(&self, row: &certificate::Model, ctx: &JobContext) -> Result<(String, String), TlsError> {
        let domain_id = row.domain_id.ok_or_else(|| TlsError::Invalid("only ACME certificates are issued".into()))?;
        let d = self.domains.get_domain(domain_id).await?;
        let mut names = vec![d.name.clone()];
        names.extend(d.aliases.iter().cloned());
        let server = d.server.as_ref().map(|s| s.id).ok_or_else(|| {
            TlsError::Invalid(format!("{}'s group is not bound to a server, so nothing can answer the HTTP-01 challenge", d.name))
        })?;
        ctx.progress(5, &format!("waiting until {} is live on its server (the challenge is answered there)", d.name)).await;
        let deadline = tokio::time::Instant::now() + self.settings.live_timeout;
        loop {
            match self.proxy.domain_state(domain_id).await {
                Ok(s) if s.served => break,
                Ok(s) if tokio::time::Instant::now() >= deadline => {
                    return Err(TlsError::Invalid(format!("{} is not live on its server: {}", d.name, s.detail)));
                }
                Err(e) if tokio::time::Instant::now() >= deadline => return Err(TlsError::Proxy(e.to_string())),
                _ => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        }
        let acc_row = self.account_row(row.acme_account_id).await?;
        ctx.progress(15, &format!("ACME account {} at {}", acc_row.name, acc_row.directory_url)).await;
        let account = self.acme_account(&acc_row).await?;
        let ids: Vec<Identifier> = names.iter().map(|n| Identifier::Dns(n.clone())).collect();
        let mut order = account.new_order(&NewOrder::new(&ids)).await?;
        ctx.progress(25, &format!("order placed for {}", names.join(", "))).await;
        let mut tokens = Vec::new();
        let placed = self.answer_challenges(&mut order, server, &mut tokens, ctx).await;
        let result = match placed {
            Ok(()) => self.finish_order(&mut order, ctx).await,
            Err(e) => Err(e),
        };
        for t in &tokens {
            if let Err(e) = self.proxy.remove_challenge(server, t).await {
                tracing::warn!(server_id = server, error = %e, "cannot remove an ACME challenge file");
            }
        }
        result
    }

    async fn answer_challenges(
        &self,
        order: &mut instant_acme::Order,
        server: i64,
        tokens: &mut Vec<String>,
        ctx: &JobContext,
    ) -> Result<(), TlsError> {
        let mut authorizations = order.authorizations();
        while let Some(a) = authorizations.next().await {
            let mut authz = a?;
            if authz.status == AuthorizationStatus::Valid {
                continue;
            }
            let ident = authz.identifier().to_string();
            let mut challenge = authz
                .challenge(ChallengeType::Http01)
                .ok_or_else(|| TlsError::Invalid(format!("the CA offers no HTTP-01 challenge for {ident}")))?;
            let token = challenge.token.clone();
            let answer = challenge.key_authorization();
            self.proxy.put_challenge(server, &token, answer.as_str()).await.map_err(|e| TlsError::Proxy(e.to_string()))?;
            tokens.push(token);
            challenge.set_ready().await?;
            ctx.progress(40, &format!("HTTP-01 answer for {ident} placed on the server; the CA is checking it")).await;
        }
        Ok(())
    }

    async fn finish_order(&self, order: &mut instant_acme::Order, ctx: &JobContext) -> Result<(String, String), TlsError> {
        let retry = RetryPolicy::new().initial_delay(Duration::from_millis(250)).backoff(1.5).timeout(Duration::from_secs(90));
        let status = order.poll_ready(&retry).await?;
        if status != OrderStatus::Ready {
            // The CA's own reason is on the failed challenge.
            let mut authorizations = order.authorizations();
            while let Some(a) = authorizations.next().await {
                let authz = a?;
                for c in &authz.challenges {
                    if let Some(p) = &c.error {
                        return Err(TlsError::Ca {
                            kind: p.r#type.clone().unwrap_or_else(|| "about:blank".into()),
                            detail: format!("{}: {}", authz.identifier(), p.detail.clone().unwrap_or_default()),
                        });
                    }
                }
            }
            return Err(TlsError::Invalid(format!("the order ended {status:?} without a reason from the CA")));
        }
        ctx.progress(70, "challenges valid; finalizing with a fresh key").await;
        let key = order.finalize().await?;
        let chain = order.poll_certificate(&retry).await?;
        ctx.progress(85, "certificate issued").await;
        Ok((chain, key))
    }

    /// Queues renewals that are due (and retries whose backoff ended), once across replicas.
    pub async fn renew_due(&self) -> Result<usize, ServiceError> {
        let now = Utc::now();
        let rows =
            certificate::Entity::find().filter(certificate::Column::Source.eq("acme")).all(self.db.connection()).await.map_err(db)?;
        let mut n = 0;
        for mut r in rows {
            if self.claim_busy(&mut r).await? {
                continue;
            }
            // Only certificates a domain still asks for are renewed; a deleted domain's certificate goes too.
            let Some(domain_id) = r.domain_id else { continue };
            let d = match self.domains.get_domain(domain_id).await {
                Ok(d) if d.options.tls == gantry_domains::spec::TlsMode::Acme => d,
                Ok(_) => continue,
                Err(ServiceError::NotFound(_)) => {
                    self.delete(r.id, &Actor::system("tls")).await?;
                    continue;
                }
                Err(e) => return Err(e),
            };
            // A renamed domain or changed aliases need a certificate for the new names now.
            let mut want: Vec<String> = std::iter::once(d.name.clone()).chain(d.aliases.iter().cloned()).collect();
            let mut have: Vec<String> = serde_json::from_str(&r.names).unwrap_or_default();
            want.sort();
            have.sort();
            let renamed = r.status == "valid" && want != have;
            let due = match r.status.as_str() {
                "valid" => renamed || r.renew_after.is_some_and(|t| t <= now),
                "failed" => true,
                _ => false,
            };
            if due && r.next_attempt_at.is_none_or(|t| t <= now) {
                let reason = match (r.status.as_str(), renamed) {
                    (_, true) => "the domain's names changed",
                    ("valid", _) => "renewal due",
                    _ => "retry after a failure",
                };
                if self.enqueue_issue(&r, &Actor::system("tls"), reason).await?.is_some() {
                    n += 1;
                }
            }
        }
        Ok(n)
    }

    /// Whether an issuance for this certificate is queued or running. A claim whose job
    /// died with its replica (or was cancelled) is released here, so renewals never stop.
    pub(crate) async fn claim_busy(&self, r: &mut certificate::Model) -> Result<bool, ServiceError> {
        let Some(job) = r.job_id else { return Ok(false) };
        let finished = match self.jobs.get(gantry_core::ids::JobId(job)).await {
            Ok(j) => !matches!(j.status, gantry_core::jobs::JobStatus::Queued | gantry_core::jobs::JobStatus::Running),
            Err(gantry_core::StoreError::NotFound) => true,
            Err(e) => return Err(e.into()),
        };
        if !finished {
            return Ok(true);
        }
        let _w = self.db.write_guard().await;
        certificate::Entity::update_many()
            .col_expr(certificate::Column::JobId, sea_orm::sea_query::Expr::value(Option::<i64>::None))
            .filter(certificate::Column::Id.eq(r.id))
            .filter(certificate::Column::JobId.eq(job))
            .exec(self.db.connection())
            .await
            .map_err(db)?;
        r.job_id = None;
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_is_at_the_fraction_minus_jitter() {
        let nb = DateTime::<Utc>::from_timestamp(0, 0).unwrap_or_default();
        let na = nb + ChronoDuration::days(90);
        assert_eq!(renew_at(nb, na, 2.0 / 3.0, 0.0), nb + ChronoDuration::days(60));
        // Full jitter: a twentieth of the lifetime (4.5 days) earlier.
        assert_eq!(renew_at(nb, na, 2.0 / 3.0, 1.0), nb + ChronoDuration::days(60) - ChronoDuration::hours(108));
        // Out-of-range settings are clamped, never past expiry.
        assert!(renew_at(nb, na, 5.0, 0.0) < na);
    }
}
