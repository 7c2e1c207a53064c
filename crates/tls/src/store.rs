//! The TLS module's tables: certificates (what the panel lists), their
//! versions (the material: chain and encrypted key, by content id), and ACME
//! accounts. No other crate reads them.

use sea_orm::{DbBackend, DbErr};
use sea_orm_migration::prelude::{ColumnDef, DeriveIden, Index, MigrationName, MigrationTrait, SchemaManager, Table};

pub mod certificate {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "tls_certificates")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub name: String,
        /// `upload` or `acme`.
        pub source: String,
        /// For ACME certificates: the domain they are issued for (one each).
        pub domain_id: Option<i64>,
        pub acme_account_id: Option<i64>,
        /// JSON list of DNS names.
        pub names: String,
        pub issuer: String,
        pub serial: String,
        pub not_before: DateTimeUtc,
        pub not_after: DateTimeUtc,
        /// SHA-256 of the leaf.
        pub fingerprint: String,
        /// The version served now (content id of chain + key); empty until ACME first issues.
        pub material_id: String,
        /// `valid`, `pending` (ACME, never issued yet) or `failed` (last issuance failed).
        pub status: String,
        pub last_error: Option<String>,
        pub failures: i32,
        /// ACME: when to renew (two thirds of the lifetime, minus jitter).
        pub renew_after: Option<DateTimeUtc>,
        /// ACME: no new attempt before this (backoff after failures).
        pub next_attempt_at: Option<DateTimeUtc>,
        /// ACME: the issuance job queued or running (dedup across replicas).
        pub job_id: Option<i64>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod version {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "tls_certificate_versions")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub certificate_id: i64,
        pub material_id: String,
        pub chain_pem: String,
        /// The private key, encrypted with the master keyring.
        pub key_enc: String,
        pub serial: String,
        pub not_after: DateTimeUtc,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod account {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "tls_acme_accounts")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub name: String,
        pub directory_url: String,
        pub contact: Option<String>,
        /// PEM bundle of extra roots to trust for this directory (a private CA).
        pub ca_bundle: Option<String>,
        /// instant-acme's account credentials (JSON), encrypted; set at first use.
        pub credentials_enc: Option<String>,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

#[derive(DeriveIden)]
enum TlsCertificates {
    Table,
    Id,
    Name,
    Source,
    DomainId,
    AcmeAccountId,
    Names,
    Issuer,
    Serial,
    NotBefore,
    NotAfter,
    Fingerprint,
    MaterialId,
    Status,
    LastError,
    Failures,
    RenewAfter,
    NextAttemptAt,
    JobId,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum TlsCertificateVersions {
    Table,
    Id,
    CertificateId,
    MaterialId,
    ChainPem,
    KeyEnc,
    Serial,
    NotAfter,
    CreatedAt,
}

#[derive(DeriveIden)]
enum TlsAcmeAccounts {
    Table,
    Id,
    Name,
    DirectoryUrl,
    Contact,
    CaBundle,
    CredentialsEnc,
    CreatedAt,
}

/// `tls_0001_certificates`.
pub struct CreateTls;

impl MigrationName for CreateTls {
    fn name(&self) -> &str {
        "tls_0001_certificates"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateTls {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let ts = |c: TlsCertificates| ColumnDef::new(c).timestamp_with_time_zone().null().to_owned();
        let now = |c: TlsCertificates| ColumnDef::new(c).timestamp_with_time_zone().not_null().to_owned();
        // Validity dates run past 2038 (MySQL's TIMESTAMP ends there): DATETIME on MySQL.
        let mysql = m.get_database_backend() == DbBackend::MySql;
        let validity = |c: TlsCertificates| {
            let mut d = ColumnDef::new(c);
            if mysql {
                d.custom(sea_orm::sea_query::Alias::new("DATETIME(6)"));
            } else {
                d.timestamp_with_time_zone();
            }
            d.not_null().to_owned()
        };
        m.create_table(
            Table::create()
                .table(TlsCertificates::Table)
                .col(ColumnDef::new(TlsCertificates::Id).big_integer().not_null().auto_increment().primary_key())
                .col(ColumnDef::new(TlsCertificates::Name).string_len(200).not_null())
                .col(ColumnDef::new(TlsCertificates::Source).string_len(16).not_null())
                .col(ColumnDef::new(TlsCertificates::DomainId).big_integer().null())
                .col(ColumnDef::new(TlsCertificates::AcmeAccountId).big_integer().null())
                .col(ColumnDef::new(TlsCertificates::Names).text().not_null())
                .col(ColumnDef::new(TlsCertificates::Issuer).string_len(512).not_null())
                .col(ColumnDef::new(TlsCertificates::Serial).string_len(128).not_null())
                .col(validity(TlsCertificates::NotBefore))
                .col(validity(TlsCertificates::NotAfter))
                .col(ColumnDef::new(TlsCertificates::Fingerprint).string_len(64).not_null())
                .col(ColumnDef::new(TlsCertificates::MaterialId).string_len(64).not_null())
                .col(ColumnDef::new(TlsCertificates::Status).string_len(16).not_null())
                .col(ColumnDef::new(TlsCertificates::LastError).text().null())
                .col(ColumnDef::new(TlsCertificates::Failures).integer().not_null().default(0))
                .col(ts(TlsCertificates::RenewAfter))
                .col(ts(TlsCertificates::NextAttemptAt))
                .col(ColumnDef::new(TlsCertificates::JobId).big_integer().null())
                .col(now(TlsCertificates::CreatedAt))
                .col(now(TlsCertificates::UpdatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create().name("ux_tls_certificates_name").table(TlsCertificates::Table).col(TlsCertificates::Name).unique().to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_tls_certificates_domain")
                .table(TlsCertificates::Table)
                .col(TlsCertificates::DomainId)
                .unique()
                .to_owned(),
        )
        .await?;
        // Chains of a few certificates fit TEXT everywhere (64 KiB on MySQL; uploads are capped there).
        m.create_table(
            Table::create()
                .table(TlsCertificateVersions::Table)
                .col(ColumnDef::new(TlsCertificateVersions::Id).big_integer().not_null().auto_increment().primary_key())
                .col(ColumnDef::new(TlsCertificateVersions::CertificateId).big_integer().not_null())
                .col(ColumnDef::new(TlsCertificateVersions::MaterialId).string_len(64).not_null())
                .col(ColumnDef::new(TlsCertificateVersions::ChainPem).text().not_null())
                .col(ColumnDef::new(TlsCertificateVersions::KeyEnc).text().not_null())
                .col(ColumnDef::new(TlsCertificateVersions::Serial).string_len(128).not_null())
                .col({
                    let mut d = ColumnDef::new(TlsCertificateVersions::NotAfter);
                    if mysql {
                        d.custom(sea_orm::sea_query::Alias::new("DATETIME(6)"));
                    } else {
                        d.timestamp_with_time_zone();
                    }
                    d.not_null().to_owned()
                })
                .col(ColumnDef::new(TlsCertificateVersions::CreatedAt).timestamp_with_time_zone().not_null())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_tls_versions_material")
                .table(TlsCertificateVersions::Table)
                .col(TlsCertificateVersions::MaterialId)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_tls_versions_certificate")
                .table(TlsCertificateVersions::Table)
                .col(TlsCertificateVersions::CertificateId)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(TlsAcmeAccounts::Table)
                .col(ColumnDef::new(TlsAcmeAccounts::Id).big_integer().not_null().auto_increment().primary_key())
                .col(ColumnDef::new(TlsAcmeAccounts::Name).string_len(100).not_null())
                .col(ColumnDef::new(TlsAcmeAccounts::DirectoryUrl).string_len(1000).not_null())
                .col(ColumnDef::new(TlsAcmeAccounts::Contact).string_len(320).null())
                .col(ColumnDef::new(TlsAcmeAccounts::CaBundle).text().null())
                .col(ColumnDef::new(TlsAcmeAccounts::CredentialsEnc).text().null())
                .col(ColumnDef::new(TlsAcmeAccounts::CreatedAt).timestamp_with_time_zone().not_null())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create().name("ux_tls_acme_accounts_name").table(TlsAcmeAccounts::Table).col(TlsAcmeAccounts::Name).unique().to_owned(),
        )
        .await?;
        Ok(())
    }
}
