//! The Proxmox module's tables. No other crate reads them.
//!
//! - `pve_clusters`: connections (secrets encrypted with the keyring);
//! - `pve_blueprints`: stand blueprints the panel edits;
//! - `pve_deployments`, `pve_stands`, `pve_vms`: what was deployed for whom,
//!   with per-VM progress so a failed run resumes where it stopped;
//! - `pve_vmids`: the VMID ledger (unique per cluster: two deployments, even
//!   on two replicas, can never hold the same id);
//! - `pve_net_changes`: bridges Gantry created or made VLAN-aware, so
//!   cleanup can put the network back as it was.

use sea_orm::DbErr;
use sea_orm_migration::prelude::{ColumnDef, DeriveIden, Index, MigrationName, MigrationTrait, SchemaManager, Table};

macro_rules! entity {
    ($m:ident, $table:literal, { $($(#[$a:meta])* $f:ident : $t:ty),* $(,)? }) => {
        #[allow(missing_docs)]
        pub mod $m {
            use sea_orm::entity::prelude::*;
            #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
            #[sea_orm(table_name = $table)]
            pub struct Model {
                #[sea_orm(primary_key)]
                pub id: i64,
                $($(#[$a])* pub $f: $t,)*
            }
            #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
            pub enum Relation {}
            impl ActiveModelBehavior for ActiveModel {}
        }
    };
}

entity!(cluster, "pve_clusters", {
    name: String,
    /// JSON list of endpoints.
    endpoints: String,
    /// `token` or `password`.
    auth_kind: String,
    /// Token id (`user@realm!name`) or user id.
    auth_id: String,
    /// The token secret or password, encrypted.
    secret_enc: String,
    fingerprint: Option<String>,
    ca_pem: Option<String>,
    vmid_first: i64,
    vmid_last: i64,
    created_at: DateTimeUtc,
    updated_at: DateTimeUtc,
});

entity!(blueprint, "pve_blueprints", {
    name: String,
    /// The blueprint as JSON.
    spec: String,
    created_at: DateTimeUtc,
    updated_at: DateTimeUtc,
});

entity!(deployment, "pve_deployments", {
    cluster_id: i64,
    blueprint_name: String,
    /// The blueprint as deployed (JSON): later edits do not change a running stand.
    spec: String,
    /// `planned`, `running`, `done`, `partial`, `failed`, `cleaning`, `cleaned`.
    status: String,
    job_id: Option<i64>,
    /// The plan (JSON), with placement explanations.
    plan: String,
    /// Warnings (JSON list).
    warnings: String,
    created_by: String,
    created_at: DateTimeUtc,
    updated_at: DateTimeUtc,
});

entity!(stand, "pve_stands", {
    deployment_id: i64,
    userid: String,
    position: i32,
    pool_id: String,
    /// Gantry created the Proxmox user (so cleanup may remove it).
    user_created: bool,
    pool_created: bool,
    acl_set: bool,
    /// `pending`, `deploying`, `ready`, `failed`, `cleaning`, `removed`.
    status: String,
    error: Option<String>,
    /// A generated password, encrypted, until it has been shown once.
    password_enc: Option<String>,
    updated_at: DateTimeUtc,
});

entity!(vm, "pve_vms", {
    stand_id: i64,
    deployment_id: i64,
    cluster_id: i64,
    vm_key: String,
    name: String,
    node: String,
    vmid: i64,
    template_vmid: i64,
    template_node: String,
    /// `linked` or `full`.
    clone_mode: String,
    /// Target storage for full clones.
    storage: Option<String>,
    /// `planned`, `cloning`, `cloned`, `configured`, `ready`, `failed`, `destroyed`.
    status: String,
    error: Option<String>,
    attempts: i32,
    updated_at: DateTimeUtc,
});

entity!(vmid, "pve_vmids", {
    cluster_id: i64,
    vmid: i64,
    /// The deployment holding it.
    deployment_id: i64,
    created_at: DateTimeUtc,
});

entity!(net_change, "pve_net_changes", {
    cluster_id: i64,
    deployment_id: i64,
    node: String,
    iface: String,
    /// `created` (Gantry added the bridge) or `vlan_aware` (Gantry turned VLAN awareness on).
    action: String,
    created_at: DateTimeUtc,
});

#[derive(DeriveIden)]
enum PveClusters {
    Table,
    Id,
    Name,
    Endpoints,
    AuthKind,
    AuthId,
    SecretEnc,
    Fingerprint,
    CaPem,
    VmidFirst,
    VmidLast,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum PveBlueprints {
    Table,
    Id,
    Name,
    Spec,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum PveDeployments {
    Table,
    Id,
    ClusterId,
    BlueprintName,
    Spec,
    Status,
    JobId,
    Plan,
    Warnings,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum PveStands {
    Table,
    Id,
    DeploymentId,
    Userid,
    Position,
    PoolId,
    UserCreated,
    PoolCreated,
    AclSet,
    Status,
    Error,
    PasswordEnc,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum PveVms {
    Table,
    Id,
    StandId,
    DeploymentId,
    ClusterId,
    VmKey,
    Name,
    Node,
    Vmid,
    TemplateVmid,
    TemplateNode,
    CloneMode,
    Storage,
    Status,
    Error,
    Attempts,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum PveVmids {
    Table,
    Id,
    ClusterId,
    Vmid,
    DeploymentId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum PveNetChanges {
    Table,
    Id,
    ClusterId,
    DeploymentId,
    Node,
    Iface,
    Action,
    CreatedAt,
}

/// `pve_0001_stands`.
pub struct CreatePve;

impl MigrationName for CreatePve {
    fn name(&self) -> &str {
        "pve_0001_stands"
    }
}

fn id<T: sea_orm::Iden + 'static>(c: T) -> ColumnDef {
    ColumnDef::new(c).big_integer().not_null().auto_increment().primary_key().to_owned()
}
fn big<T: sea_orm::Iden + 'static>(c: T) -> ColumnDef {
    ColumnDef::new(c).big_integer().not_null().to_owned()
}
fn s<T: sea_orm::Iden + 'static>(c: T, n: u32) -> ColumnDef {
    ColumnDef::new(c).string_len(n).not_null().to_owned()
}
fn text<T: sea_orm::Iden + 'static>(c: T) -> ColumnDef {
    ColumnDef::new(c).text().not_null().to_owned()
}
fn ts<T: sea_orm::Iden + 'static>(c: T) -> ColumnDef {
    ColumnDef::new(c).timestamp_with_time_zone().not_null().to_owned()
}
fn flag<T: sea_orm::Iden + 'static>(c: T) -> ColumnDef {
    ColumnDef::new(c).boolean().not_null().default(false).to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for CreatePve {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(PveClusters::Table)
                .col(id(PveClusters::Id))
                .col(s(PveClusters::Name, 100))
                .col(text(PveClusters::Endpoints))
                .col(s(PveClusters::AuthKind, 16))
                .col(s(PveClusters::AuthId, 200))
                .col(text(PveClusters::SecretEnc))
                .col(ColumnDef::new(PveClusters::Fingerprint).string_len(100).null())
                .col(ColumnDef::new(PveClusters::CaPem).text().null())
                .col(big(PveClusters::VmidFirst))
                .col(big(PveClusters::VmidLast))
                .col(ts(PveClusters::CreatedAt))
                .col(ts(PveClusters::UpdatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("ux_pve_clusters_name").table(PveClusters::Table).col(PveClusters::Name).unique().to_owned())
            .await?;
        m.create_table(
            Table::create()
                .table(PveBlueprints::Table)
                .col(id(PveBlueprints::Id))
                .col(s(PveBlueprints::Name, 100))
                .col(text(PveBlueprints::Spec))
                .col(ts(PveBlueprints::CreatedAt))
                .col(ts(PveBlueprints::UpdatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create().name("ux_pve_blueprints_name").table(PveBlueprints::Table).col(PveBlueprints::Name).unique().to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(PveDeployments::Table)
                .col(id(PveDeployments::Id))
                .col(big(PveDeployments::ClusterId))
                .col(s(PveDeployments::BlueprintName, 100))
                .col(text(PveDeployments::Spec))
                .col(s(PveDeployments::Status, 16))
                .col(ColumnDef::new(PveDeployments::JobId).big_integer().null())
                .col(text(PveDeployments::Plan))
                .col(text(PveDeployments::Warnings))
                .col(s(PveDeployments::CreatedBy, 200))
                .col(ts(PveDeployments::CreatedAt))
                .col(ts(PveDeployments::UpdatedAt))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(PveStands::Table)
                .col(id(PveStands::Id))
                .col(big(PveStands::DeploymentId))
                .col(s(PveStands::Userid, 64))
                .col(ColumnDef::new(PveStands::Position).integer().not_null())
                .col(s(PveStands::PoolId, 64))
                .col(flag(PveStands::UserCreated))
                .col(flag(PveStands::PoolCreated))
                .col(flag(PveStands::AclSet))
                .col(s(PveStands::Status, 16))
                .col(ColumnDef::new(PveStands::Error).text().null())
                .col(ColumnDef::new(PveStands::PasswordEnc).text().null())
                .col(ts(PveStands::UpdatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_pve_stands_user")
                .table(PveStands::Table)
                .col(PveStands::DeploymentId)
                .col(PveStands::Userid)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(PveVms::Table)
                .col(id(PveVms::Id))
                .col(big(PveVms::StandId))
                .col(big(PveVms::DeploymentId))
                .col(big(PveVms::ClusterId))
                .col(s(PveVms::VmKey, 32))
                .col(s(PveVms::Name, 253))
                .col(s(PveVms::Node, 64))
                .col(big(PveVms::Vmid))
                .col(big(PveVms::TemplateVmid))
                .col(s(PveVms::TemplateNode, 64))
                .col(s(PveVms::CloneMode, 8))
                .col(ColumnDef::new(PveVms::Storage).string_len(100).null())
                .col(s(PveVms::Status, 16))
                .col(ColumnDef::new(PveVms::Error).text().null())
                .col(ColumnDef::new(PveVms::Attempts).integer().not_null().default(0))
                .col(ts(PveVms::UpdatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("ix_pve_vms_deployment").table(PveVms::Table).col(PveVms::DeploymentId).to_owned()).await?;
        m.create_table(
            Table::create()
                .table(PveVmids::Table)
                .col(id(PveVmids::Id))
                .col(big(PveVmids::ClusterId))
                .col(big(PveVmids::Vmid))
                .col(big(PveVmids::DeploymentId))
                .col(ts(PveVmids::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create().name("ux_pve_vmids").table(PveVmids::Table).col(PveVmids::ClusterId).col(PveVmids::Vmid).unique().to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(PveNetChanges::Table)
                .col(id(PveNetChanges::Id))
                .col(big(PveNetChanges::ClusterId))
                .col(big(PveNetChanges::DeploymentId))
                .col(s(PveNetChanges::Node, 64))
                .col(s(PveNetChanges::Iface, 32))
                .col(s(PveNetChanges::Action, 16))
                .col(ts(PveNetChanges::CreatedAt))
                .to_owned(),
        )
        .await?;
        Ok(())
    }
}
