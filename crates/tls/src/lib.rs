//! The TLS module: certificates for the reverse proxy.
//!
//! It owns the `tls_certificates`, `tls_certificate_versions` and
//! `tls_acme_accounts` tables and the `/api/v1/certificates…` and
//! `/api/v1/domains/{id}/certificate…` routes. Uploads are checked at the
//! boundary ([`inspect`]); private keys are encrypted with the master
//! keyring and leave Gantry only as files written over SSH by the proxy.
//! ACME certificates are issued with HTTP-01 through the nginx of the
//! domain's server and renewed by a background loop.
//!
//! It talks to the proxy through [`gantry_proxy::tls::CertificateSource`]
//! (which certificate each HTTPS domain serves, and a certificate's files)
//! plus the proxy's public service (challenge files, reconciling servers),
//! and to domains through their public service and
//! [`gantry_domains::CertificateCheck`]. It never renders nginx text itself.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::await_holding_lock)]

pub mod acme;
pub mod error;
pub mod inspect;
mod routes;
mod service;
mod store;

pub use service::{Certificate, ISSUE_JOB, TlsService, TlsSettings, UploadInput, expiry_level};

use async_trait::async_trait;
use gantry_api::module::{Module, Mount, MountError, Worker};
use gantry_api::state::{AppState, Platform};
use gantry_core::jobs::{JobContext, JobError, JobHandler};
use gantry_domains::DomainsService;
use gantry_proxy::ProxyService;
use gantry_store::ModuleMigration;
use serde_json::Value;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use utoipa_axum::router::OpenApiRouter;

/// The module.
pub struct TlsModule {
    /// Tuning.
    pub settings: TlsSettings,
}

impl Module for TlsModule {
    fn name(&self) -> &'static str {
        "tls"
    }

    fn migrations(&self) -> Vec<ModuleMigration> {
        vec![ModuleMigration { module: "tls", step: Box::new(store::CreateTls) }]
    }

    fn routes(&self) -> OpenApiRouter<AppState> {
        routes::router()
    }

    fn mount(&self, p: &Arc<Platform>) -> Result<Mount, MountError> {
        let need = |what: &str| MountError { module: "tls", reason: format!("the {what} module must be mounted first") };
        let domains = p.service::<DomainsService>().map_err(|_| need("domains"))?;
        let proxy = p.service::<ProxyService>().map_err(|_| need("proxy"))?;
        let metrics = service::TlsMetrics {
            expiry: p.metrics.gauge(
                "gantry_certificate_expiry_timestamp_seconds",
                "When each certificate expires (Unix time; ACME certificates not issued yet are left out).",
                &["certificate_id"],
            ),
            renewals: p.metrics.counter(
                "gantry_certificate_renewals_total",
                "ACME issuance and renewal attempts by result (ok, failed).",
                &["result"],
            ),
            failing: p.metrics.gauge(
                "gantry_certificate_renewal_failing",
                "1 while a certificate's latest issuance or renewal attempt failed.",
                &["certificate_id"],
            ),
        };
        let svc = Arc::new(TlsService::new(
            p.db.clone(),
            p.keyring.clone(),
            domains.clone(),
            proxy.clone(),
            p.repos.jobs.clone(),
            p.jobs_waker.clone(),
            p.bus.clone(),
            self.settings.clone(),
            metrics,
        ));
        proxy.set_certificates(Arc::new(service::Source(svc.clone())));
        domains.set_certificate_check(Arc::new(service::Check(svc.clone())));
        p.provide(svc.clone());
        let s = svc.clone();
        let every = self.settings.renew_check_interval;
        let renew: Worker = Box::new(move |stop: CancellationToken| {
            Box::pin(async move {
                // The first look soon after start: renewals may have come due while Gantry was down.
                let mut wait = std::time::Duration::from_secs(2).min(every);
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(wait) => {}
                    }
                    wait = every;
                    match s.renew_due().await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(queued = n, "certificate renewals queued"),
                        Err(e) => tracing::warn!(error = %e, "certificate renewal check failed"),
                    }
                    if let Err(e) = s.refresh_metrics().await {
                        tracing::debug!(error = %e, "cannot refresh certificate expiry metrics");
                    }
                }
            })
        });
        Ok(Mount { jobs: vec![Arc::new(IssueJob(svc))], workers: vec![("tls-renewal", renew)], event_handlers: vec![] })
    }
}

struct IssueJob(Arc<TlsService>);

#[async_trait]
impl JobHandler for IssueJob {
    fn kind(&self) -> &'static str {
        ISSUE_JOB
    }

    async fn run(&self, ctx: JobContext) -> Result<Value, JobError> {
        let id = ctx.job.payload["certificate_id"].as_i64().ok_or_else(|| JobError::Permanent("payload lacks certificate_id".into()))?;
        self.0.run_issue(id, &ctx).await.map_err(error::TlsError::into_job)
    }
}
