//! The event log: what happened in the fleet, for people (see `gantry_core::eventlog`).

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "platform_0002_event_log"
    }
}

#[derive(DeriveIden)]
enum EventLog {
    Table,
    Id,
    At,
    Severity,
    Module,
    Kind,
    EntityType,
    EntityId,
    EntityName,
    JobId,
    Message,
    Details,
    Audience,
    SearchText,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(EventLog::Table)
                .col(ColumnDef::new(EventLog::Id).big_integer().not_null().auto_increment().primary_key())
                .col(ColumnDef::new(EventLog::At).timestamp_with_time_zone().not_null())
                .col(ColumnDef::new(EventLog::Severity).small_integer().not_null())
                .col(ColumnDef::new(EventLog::Module).string_len(32).not_null())
                .col(ColumnDef::new(EventLog::Kind).string_len(64).not_null())
                .col(ColumnDef::new(EventLog::EntityType).string_len(64).null())
                .col(ColumnDef::new(EventLog::EntityId).string_len(128).null())
                .col(ColumnDef::new(EventLog::EntityName).string_len(200).null())
                .col(ColumnDef::new(EventLog::JobId).big_integer().null())
                .col(ColumnDef::new(EventLog::Message).string_len(1000).not_null())
                .col(ColumnDef::new(EventLog::Details).text().not_null())
                .col(ColumnDef::new(EventLog::Audience).string_len(16).not_null())
                // Lower-cased message + entity name + kind: case-insensitive search
                // that behaves the same on all three databases.
                .col(ColumnDef::new(EventLog::SearchText).string_len(1300).not_null())
                .to_owned(),
        )
        .await?;
        // Lists are newest first by id; these serve the usual filters and the pruning by time.
        let indexes: [(&str, Vec<EventLog>); 5] = [
            ("ix_event_log_at", vec![EventLog::At]),
            ("ix_event_log_module", vec![EventLog::Module, EventLog::Id]),
            ("ix_event_log_severity", vec![EventLog::Severity, EventLog::Id]),
            ("ix_event_log_entity", vec![EventLog::EntityType, EventLog::EntityId, EventLog::Id]),
            ("ix_event_log_job", vec![EventLog::JobId]),
        ];
        for (name, cols) in indexes {
            let mut idx = Index::create().name(name).table(EventLog::Table).to_owned();
            for c in cols {
                idx.col(c);
            }
            m.create_index(idx).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(EventLog::Table).to_owned()).await
    }
}
