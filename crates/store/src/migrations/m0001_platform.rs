//! Users, sessions, API tokens, the audit log, the event outbox and the job queue.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "platform_0001_initial"
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Username,
    DisplayName,
    Role,
    PasswordHash,
    Disabled,
    Version,
    CreatedAt,
    UpdatedAt,
    LastLoginAt,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Digest,
    UserId,
    CsrfToken,
    ExpiresAt,
    LastSeenAt,
    CreatedAt,
    ClientIp,
    UserAgent,
}

#[derive(DeriveIden)]
enum ApiTokens {
    Table,
    Id,
    UserId,
    Name,
    Prefix,
    Digest,
    Role,
    ExpiresAt,
    CreatedAt,
    LastUsedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Id,
    At,
    ActorId,
    ActorName,
    ActorRole,
    Action,
    EntityType,
    EntityId,
    RequestId,
    ClientIp,
    Summary,
}

#[derive(DeriveIden)]
enum Events {
    Table,
    Id,
    At,
    Kind,
    EntityType,
    EntityId,
    Audience,
    OwnerId,
    Payload,
}

#[derive(DeriveIden)]
enum Jobs {
    Table,
    Id,
    Kind,
    Status,
    Payload,
    Attempts,
    MaxAttempts,
    Progress,
    Message,
    Log,
    Result,
    Error,
    CreatedBy,
    Audience,
    LeaseOwner,
    LeaseExpiresAt,
    RunAfter,
    CreatedAt,
    UpdatedAt,
    StartedAt,
    FinishedAt,
}

fn id<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).big_integer().not_null().auto_increment().primary_key().to_owned()
}

fn ts<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).timestamp_with_time_zone().not_null().to_owned()
}

fn ts_null<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).timestamp_with_time_zone().null().to_owned()
}

fn text<T: IntoIden>(col: T, len: u32) -> ColumnDef {
    ColumnDef::new(col).string_len(len).not_null().to_owned()
}

fn text_null<T: IntoIden>(col: T, len: u32) -> ColumnDef {
    ColumnDef::new(col).string_len(len).null().to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Users::Table)
                .col(id(Users::Id))
                .col(text(Users::Username, 64))
                .col(text(Users::DisplayName, 128))
                .col(text(Users::Role, 16))
                .col(text(Users::PasswordHash, 255))
                .col(ColumnDef::new(Users::Disabled).boolean().not_null().default(false))
                .col(ColumnDef::new(Users::Version).big_integer().not_null().default(1))
                .col(ts(Users::CreatedAt))
                .col(ts(Users::UpdatedAt))
                .col(ts_null(Users::LastLoginAt))
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("ux_users_username").table(Users::Table).col(Users::Username).unique().to_owned()).await?;

        m.create_table(
            Table::create()
                .table(Sessions::Table)
                .col(ColumnDef::new(Sessions::Digest).string_len(64).not_null().primary_key())
                .col(ColumnDef::new(Sessions::UserId).big_integer().not_null())
                .col(text(Sessions::CsrfToken, 64))
                .col(ts(Sessions::ExpiresAt))
                .col(ts(Sessions::LastSeenAt))
                .col(ts(Sessions::CreatedAt))
                .col(text_null(Sessions::ClientIp, 64))
                .col(text_null(Sessions::UserAgent, 255))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_sessions_user")
                        .from(Sessions::Table, Sessions::UserId)
                        .to(Users::Table, Users::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("ix_sessions_user").table(Sessions::Table).col(Sessions::UserId).to_owned()).await?;

        m.create_table(
            Table::create()
                .table(ApiTokens::Table)
                .col(id(ApiTokens::Id))
                .col(ColumnDef::new(ApiTokens::UserId).big_integer().not_null())
                .col(text(ApiTokens::Name, 100))
                .col(text(ApiTokens::Prefix, 16))
                .col(text(ApiTokens::Digest, 64))
                .col(text(ApiTokens::Role, 16))
                .col(ts_null(ApiTokens::ExpiresAt))
                .col(ts(ApiTokens::CreatedAt))
                .col(ts_null(ApiTokens::LastUsedAt))
                .col(ts_null(ApiTokens::RevokedAt))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_api_tokens_user")
                        .from(ApiTokens::Table, ApiTokens::UserId)
                        .to(Users::Table, Users::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("ux_api_tokens_digest").table(ApiTokens::Table).col(ApiTokens::Digest).unique().to_owned())
            .await?;
        m.create_index(Index::create().name("ix_api_tokens_user").table(ApiTokens::Table).col(ApiTokens::UserId).to_owned()).await?;

        // No foreign key to users: audit records outlive the accounts they mention.
        m.create_table(
            Table::create()
                .table(AuditLog::Table)
                .col(id(AuditLog::Id))
                .col(ts(AuditLog::At))
                .col(ColumnDef::new(AuditLog::ActorId).big_integer().null())
                .col(text(AuditLog::ActorName, 64))
                .col(text_null(AuditLog::ActorRole, 16))
                .col(text(AuditLog::Action, 64))
                .col(text(AuditLog::EntityType, 64))
                .col(text_null(AuditLog::EntityId, 128))
                .col(text_null(AuditLog::RequestId, 64))
                .col(text_null(AuditLog::ClientIp, 64))
                .col(ColumnDef::new(AuditLog::Summary).text().not_null())
                .to_owned(),
        )
        .await?;
        for (name, cols) in [
            ("ix_audit_at", vec![AuditLog::At]),
            ("ix_audit_entity", vec![AuditLog::EntityType, AuditLog::EntityId]),
            ("ix_audit_actor", vec![AuditLog::ActorName]),
            ("ix_audit_action", vec![AuditLog::Action]),
        ] {
            let mut idx = Index::create().name(name).table(AuditLog::Table).to_owned();
            for c in cols {
                idx.col(c);
            }
            m.create_index(idx).await?;
        }

        m.create_table(
            Table::create()
                .table(Events::Table)
                .col(id(Events::Id))
                .col(ts(Events::At))
                .col(text(Events::Kind, 64))
                .col(text_null(Events::EntityType, 64))
                .col(text_null(Events::EntityId, 128))
                .col(text_null(Events::Audience, 16))
                .col(ColumnDef::new(Events::OwnerId).big_integer().null())
                .col(ColumnDef::new(Events::Payload).text().not_null())
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("ix_events_at").table(Events::Table).col(Events::At).to_owned()).await?;

        m.create_table(
            Table::create()
                .table(Jobs::Table)
                .col(id(Jobs::Id))
                .col(text(Jobs::Kind, 64))
                .col(text(Jobs::Status, 16))
                .col(ColumnDef::new(Jobs::Payload).text().not_null())
                .col(ColumnDef::new(Jobs::Attempts).integer().not_null().default(0))
                .col(ColumnDef::new(Jobs::MaxAttempts).integer().not_null().default(3))
                .col(ColumnDef::new(Jobs::Progress).integer().not_null().default(0))
                .col(ColumnDef::new(Jobs::Message).text().null())
                .col(ColumnDef::new(Jobs::Log).text().not_null())
                .col(ColumnDef::new(Jobs::Result).text().null())
                .col(ColumnDef::new(Jobs::Error).text().null())
                .col(ColumnDef::new(Jobs::CreatedBy).big_integer().null())
                .col(text(Jobs::Audience, 16))
                .col(text_null(Jobs::LeaseOwner, 128))
                .col(ts_null(Jobs::LeaseExpiresAt))
                .col(ts(Jobs::RunAfter))
                .col(ts(Jobs::CreatedAt))
                .col(ts(Jobs::UpdatedAt))
                .col(ts_null(Jobs::StartedAt))
                .col(ts_null(Jobs::FinishedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("ix_jobs_due").table(Jobs::Table).col(Jobs::Status).col(Jobs::RunAfter).to_owned()).await?;
        m.create_index(Index::create().name("ix_jobs_kind").table(Jobs::Table).col(Jobs::Kind).to_owned()).await?;
        Ok(())
    }
}
