//! The domains module's tables: `domain_groups`, `domains`, and
//! `domain_names`, which enforces "a name is served once per server" with a
//! unique index on (server key, name) across groups.

use sea_orm_migration::prelude::*;

pub mod group {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "domain_groups")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub name: String,
        pub description: String,
        pub server_id: Option<i64>,
        pub manual_approval: bool,
        /// Drift on the group's server is repaired automatically instead of waiting for an operator.
        pub auto_repair: bool,
        pub version: i64,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod domain {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "domains")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub group_id: i64,
        pub name: String,
        pub target_ip: String,
        pub target_port: i32,
        pub scheme: String,
        pub aliases: String,
        pub options: String,
        pub routes: String,
        pub enabled: bool,
        pub version: i64,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod name {
    use sea_orm::entity::prelude::*;

    /// One served name (a domain's name or alias) under a server key:
    /// `s<server id>` for bound groups, `g<group id>` while unbound.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "domain_names")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub server_key: String,
        pub name: String,
        pub domain_id: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

#[derive(DeriveIden)]
enum DomainGroups {
    Table,
    Id,
    Name,
    Description,
    ServerId,
    ManualApproval,
    AutoRepair,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Domains {
    Table,
    Id,
    GroupId,
    Name,
    TargetIp,
    TargetPort,
    Scheme,
    Aliases,
    Options,
    Routes,
    Enabled,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum DomainNames {
    Table,
    Id,
    ServerKey,
    Name,
    DomainId,
}

fn id<T: IntoIden>(c: T) -> ColumnDef {
    ColumnDef::new(c).big_integer().not_null().auto_increment().primary_key().to_owned()
}

fn ts<T: IntoIden>(c: T) -> ColumnDef {
    ColumnDef::new(c).timestamp_with_time_zone().not_null().to_owned()
}

/// `domains_0001_model`.
pub struct CreateDomains;

impl MigrationName for CreateDomains {
    fn name(&self) -> &str {
        "domains_0001_model"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateDomains {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(DomainGroups::Table)
                .col(id(DomainGroups::Id))
                .col(ColumnDef::new(DomainGroups::Name).string_len(64).not_null())
                .col(ColumnDef::new(DomainGroups::Description).text().not_null())
                .col(ColumnDef::new(DomainGroups::ServerId).big_integer().null())
                .col(ColumnDef::new(DomainGroups::ManualApproval).boolean().not_null().default(false))
                .col(ColumnDef::new(DomainGroups::Version).big_integer().not_null().default(1))
                .col(ts(DomainGroups::CreatedAt))
                .col(ts(DomainGroups::UpdatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create().name("ux_domain_groups_name").table(DomainGroups::Table).col(DomainGroups::Name).unique().to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("ix_domain_groups_server").table(DomainGroups::Table).col(DomainGroups::ServerId).to_owned())
            .await?;
        m.create_table(
            Table::create()
                .table(Domains::Table)
                .col(id(Domains::Id))
                .col(ColumnDef::new(Domains::GroupId).big_integer().not_null())
                .col(ColumnDef::new(Domains::Name).string_len(255).not_null())
                .col(ColumnDef::new(Domains::TargetIp).string_len(64).not_null())
                .col(ColumnDef::new(Domains::TargetPort).integer().not_null())
                .col(ColumnDef::new(Domains::Scheme).string_len(8).not_null())
                .col(ColumnDef::new(Domains::Aliases).text().not_null())
                .col(ColumnDef::new(Domains::Options).text().not_null())
                .col(ColumnDef::new(Domains::Routes).text().not_null())
                .col(ColumnDef::new(Domains::Enabled).boolean().not_null().default(true))
                .col(ColumnDef::new(Domains::Version).big_integer().not_null().default(1))
                .col(ts(Domains::CreatedAt))
                .col(ts(Domains::UpdatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_domains_group")
                        .from(Domains::Table, Domains::GroupId)
                        .to(DomainGroups::Table, DomainGroups::Id)
                        .on_delete(ForeignKeyAction::Restrict),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("ix_domains_group").table(Domains::Table).col(Domains::GroupId).to_owned()).await?;
        m.create_index(Index::create().name("ix_domains_name").table(Domains::Table).col(Domains::Name).to_owned()).await?;
        m.create_table(
            Table::create()
                .table(DomainNames::Table)
                .col(id(DomainNames::Id))
                .col(ColumnDef::new(DomainNames::ServerKey).string_len(32).not_null())
                .col(ColumnDef::new(DomainNames::Name).string_len(255).not_null())
                .col(ColumnDef::new(DomainNames::DomainId).big_integer().not_null())
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_domain_names_domain")
                        .from(DomainNames::Table, DomainNames::DomainId)
                        .to(Domains::Table, Domains::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_domain_names_server_name")
                .table(DomainNames::Table)
                .col(DomainNames::ServerKey)
                .col(DomainNames::Name)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("ix_domain_names_domain").table(DomainNames::Table).col(DomainNames::DomainId).to_owned()).await
    }
}

/// `domains_0002_auto_repair`: groups may ask the proxy to repair drift by itself.
pub struct AddAutoRepair;

impl MigrationName for AddAutoRepair {
    fn name(&self) -> &str {
        "domains_0002_auto_repair"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddAutoRepair {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(DomainGroups::Table)
                .add_column(ColumnDef::new(DomainGroups::AutoRepair).boolean().not_null().default(false))
                .to_owned(),
        )
        .await
    }
}
