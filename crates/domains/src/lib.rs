//! The domains module: domain groups bound to servers, and the domains they
//! serve. This is the reverse proxy's desired state and its security
//! boundary: every value is parsed into a type from [`model`] that can be
//! written into nginx configuration without escaping, or rejected with a
//! field error that says why.
//!
//! It owns the `domain_groups`, `domains` and `domain_names` tables. Names
//! are unique per server across groups. Every change is committed together
//! with its audit record and a `domain.changed` / `domain_group.changed`
//! outbox event carrying the affected server ids, which the proxy module
//! reconciles from. It reads servers only through the servers module's
//! public service.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::await_holding_lock)]

pub mod exchange;
pub mod model;
mod routes;
mod service;
pub mod spec;
mod store;

pub use service::{
    CertificateCheck, Domain, DomainChanged, DomainFilter, DomainGroup, DomainGroupChanged, DomainsService, GroupInput, OnDelete, Ref,
    ServedDomain, ServedGroup, ServerDirectory,
};

use gantry_api::module::{Module, Mount, MountError};
use gantry_api::state::{AppState, Platform};
use gantry_servers::ServersService;
use gantry_store::ModuleMigration;
use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;

/// The module.
pub struct DomainsModule;

/// Server lookups through the servers module.
struct Servers(Arc<ServersService>);

#[async_trait::async_trait]
impl ServerDirectory for Servers {
    async fn name_of(&self, id: i64) -> Option<String> {
        self.0.get(id).await.ok().map(|s| s.name)
    }
}

/// Domain groups bound to a server are its dependents.
struct BoundGroups(Arc<DomainsService>);

#[async_trait::async_trait]
impl gantry_servers::ServerDependents for BoundGroups {
    async fn describe(&self, server_id: i64) -> Result<Vec<String>, gantry_core::ServiceError> {
        Ok(self.0.groups_on_server(server_id).await?.into_iter().map(|(_, name, n)| format!("domain group {name} ({n} domains)")).collect())
    }

    async fn detach(&self, server_id: i64, actor: &gantry_core::audit::Actor) -> Result<(), gantry_core::ServiceError> {
        for (id, _, _) in self.0.groups_on_server(server_id).await? {
            self.0.update_group(id, None, GroupInput { server_id: Some(None), ..Default::default() }, actor).await?;
        }
        Ok(())
    }
}

impl Module for DomainsModule {
    fn name(&self) -> &'static str {
        "domains"
    }

    fn migrations(&self) -> Vec<ModuleMigration> {
        vec![
            ModuleMigration { module: "domains", step: Box::new(store::CreateDomains) },
            ModuleMigration { module: "domains", step: Box::new(store::AddAutoRepair) },
        ]
    }

    fn routes(&self) -> OpenApiRouter<AppState> {
        routes::router()
    }

    fn mount(&self, p: &Arc<Platform>) -> Result<Mount, MountError> {
        let servers = p
            .service::<ServersService>()
            .map_err(|_| MountError { module: "domains", reason: "the servers module must be mounted first".into() })?;
        let svc = Arc::new(DomainsService::new(p.db.clone(), Arc::new(Servers(servers.clone())), p.bus.clone()));
        // A server is never deleted from under its groups: deleting it is refused, or with force the groups are unbound.
        servers.add_dependents(Arc::new(BoundGroups(svc.clone())));
        p.provide(svc);
        Ok(Mount::default())
    }
}
