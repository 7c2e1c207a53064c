//! The tasks module's tables: `tasks`, `task_labels`, `task_links`,
//! `task_attachments`, `tasks_settings` and `tasks_order` (one row that
//! serializes changes of the manual order across replicas).

use sea_orm_migration::prelude::*;

pub mod task {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "tasks")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub title: String,
        pub description: String,
        /// Lower-cased title and description, for case-insensitive search
        /// that behaves the same on every database (SQLite's LOWER is ASCII-only).
        pub search_text: String,
        pub priority: i16,
        pub due_date: Option<String>,
        /// `due_date`, or `9999-12-31` when there is none: a non-null key for
        /// keyset pagination (tasks without a date come last).
        pub due_key: String,
        pub assignee_id: Option<i64>,
        pub completed: bool,
        pub completed_at: Option<DateTimeUtc>,
        pub position: i64,
        pub attachment_count: i32,
        pub created_by: Option<i64>,
        pub version: i64,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod label {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "task_labels")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub task_id: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub label: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod link {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "task_links")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub task_id: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub kind: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub target_id: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod attachment {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "task_attachments")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub task_id: i64,
        pub filename: String,
        pub content_type: String,
        pub size: i64,
        pub sha256: String,
        /// `local` or `s3`: which configured store holds the object.
        pub store: String,
        pub object_key: String,
        pub created_by: Option<i64>,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod setting {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "tasks_settings")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub name: String,
        pub value: String,
        pub version: i64,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

#[derive(DeriveIden)]
pub(crate) enum Tasks {
    Table,
    Id,
    Title,
    Description,
    SearchText,
    Priority,
    DueDate,
    DueKey,
    AssigneeId,
    Completed,
    CompletedAt,
    Position,
    AttachmentCount,
    CreatedBy,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum TaskLabels {
    Table,
    TaskId,
    Label,
}

#[derive(DeriveIden)]
enum TaskLinks {
    Table,
    TaskId,
    Kind,
    TargetId,
}

#[derive(DeriveIden)]
enum TaskAttachments {
    Table,
    Id,
    TaskId,
    Filename,
    ContentType,
    Size,
    Sha256,
    Store,
    ObjectKey,
    CreatedBy,
    CreatedAt,
}

#[derive(DeriveIden)]
enum TasksSettings {
    Table,
    Name,
    Value,
    Version,
    UpdatedAt,
}

#[derive(DeriveIden)]
pub(crate) enum TasksOrder {
    Table,
    Id,
    N,
}

/// `tasks_0001_tracker`.
pub struct CreateTasks;

impl MigrationName for CreateTasks {
    fn name(&self) -> &str {
        "tasks_0001_tracker"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateTasks {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let ts = |c: Tasks| ColumnDef::new(c).timestamp_with_time_zone().not_null().to_owned();
        // MySQL's TEXT stops at 64 KiB (a 20,000-character description of
        // 4-byte characters is 80 KB), so long text is LONGTEXT there. The
        // search copy is compared byte-wise: it is lower-cased already, and
        // MySQL's default _ci collation would also fold accents, unlike
        // SQLite and PostgreSQL.
        let mysql = m.get_database_backend() == sea_orm::DbBackend::MySql;
        let long = |c: Tasks, binary: bool| {
            let mut d = ColumnDef::new(c);
            if mysql {
                d.custom(Alias::new(if binary { "LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin" } else { "LONGTEXT" }));
            } else {
                d.text();
            }
            d.not_null().to_owned()
        };
        m.create_table(
            Table::create()
                .table(Tasks::Table)
                .col(ColumnDef::new(Tasks::Id).big_integer().not_null().auto_increment().primary_key())
                .col(ColumnDef::new(Tasks::Title).string_len(255).not_null())
                .col(long(Tasks::Description, false))
                .col(long(Tasks::SearchText, true))
                .col(ColumnDef::new(Tasks::Priority).small_integer().not_null())
                .col(ColumnDef::new(Tasks::DueDate).string_len(10).null())
                .col(ColumnDef::new(Tasks::DueKey).string_len(10).not_null())
                .col(ColumnDef::new(Tasks::AssigneeId).big_integer().null())
                .col(ColumnDef::new(Tasks::Completed).boolean().not_null())
                .col(ColumnDef::new(Tasks::CompletedAt).timestamp_with_time_zone().null())
                .col(ColumnDef::new(Tasks::Position).big_integer().not_null())
                .col(ColumnDef::new(Tasks::AttachmentCount).integer().not_null().default(0))
                .col(ColumnDef::new(Tasks::CreatedBy).big_integer().null())
                .col(ColumnDef::new(Tasks::Version).big_integer().not_null().default(1))
                .col(ts(Tasks::CreatedAt))
                .col(ts(Tasks::UpdatedAt))
                .to_owned(),
        )
        .await?;
        // One index per sort order, with id as the keyset tie-breaker.
        for (name, col) in [
            ("ix_tasks_position", Tasks::Position),
            ("ix_tasks_due", Tasks::DueKey),
            ("ix_tasks_priority", Tasks::Priority),
            ("ix_tasks_created", Tasks::CreatedAt),
            ("ix_tasks_updated", Tasks::UpdatedAt),
        ] {
            m.create_index(Index::create().name(name).table(Tasks::Table).col(col).col(Tasks::Id).to_owned()).await?;
        }
        m.create_index(
            Index::create().name("ix_tasks_open").table(Tasks::Table).col(Tasks::Completed).col(Tasks::Position).col(Tasks::Id).to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("ix_tasks_assignee").table(Tasks::Table).col(Tasks::AssigneeId).to_owned()).await?;

        m.create_table(
            Table::create()
                .table(TaskLabels::Table)
                .col(ColumnDef::new(TaskLabels::TaskId).big_integer().not_null())
                .col(ColumnDef::new(TaskLabels::Label).string_len(32).not_null())
                .primary_key(Index::create().col(TaskLabels::TaskId).col(TaskLabels::Label))
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("ix_task_labels_label").table(TaskLabels::Table).col(TaskLabels::Label).to_owned()).await?;

        m.create_table(
            Table::create()
                .table(TaskLinks::Table)
                .col(ColumnDef::new(TaskLinks::TaskId).big_integer().not_null())
                .col(ColumnDef::new(TaskLinks::Kind).string_len(16).not_null())
                .col(ColumnDef::new(TaskLinks::TargetId).big_integer().not_null())
                .primary_key(Index::create().col(TaskLinks::TaskId).col(TaskLinks::Kind).col(TaskLinks::TargetId))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create().name("ix_task_links_target").table(TaskLinks::Table).col(TaskLinks::Kind).col(TaskLinks::TargetId).to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(TaskAttachments::Table)
                .col(ColumnDef::new(TaskAttachments::Id).big_integer().not_null().auto_increment().primary_key())
                .col(ColumnDef::new(TaskAttachments::TaskId).big_integer().not_null())
                .col(ColumnDef::new(TaskAttachments::Filename).string_len(255).not_null())
                .col(ColumnDef::new(TaskAttachments::ContentType).string_len(255).not_null())
                .col(ColumnDef::new(TaskAttachments::Size).big_integer().not_null())
                .col(ColumnDef::new(TaskAttachments::Sha256).string_len(64).not_null())
                .col(ColumnDef::new(TaskAttachments::Store).string_len(8).not_null())
                .col(ColumnDef::new(TaskAttachments::ObjectKey).string_len(255).not_null())
                .col(ColumnDef::new(TaskAttachments::CreatedBy).big_integer().null())
                .col(ColumnDef::new(TaskAttachments::CreatedAt).timestamp_with_time_zone().not_null())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create().name("ix_task_attachments_task").table(TaskAttachments::Table).col(TaskAttachments::TaskId).to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_task_attachments_key")
                .table(TaskAttachments::Table)
                .col(TaskAttachments::Store)
                .col(TaskAttachments::ObjectKey)
                .unique()
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(TasksSettings::Table)
                .col(ColumnDef::new(TasksSettings::Name).string_len(32).not_null().primary_key())
                .col(ColumnDef::new(TasksSettings::Value).text().not_null())
                .col(ColumnDef::new(TasksSettings::Version).big_integer().not_null())
                .col(ColumnDef::new(TasksSettings::UpdatedAt).timestamp_with_time_zone().not_null())
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(TasksOrder::Table)
                .col(ColumnDef::new(TasksOrder::Id).integer().not_null().primary_key())
                .col(ColumnDef::new(TasksOrder::N).big_integer().not_null())
                .to_owned(),
        )
        .await?;
        let mut seed = Query::insert();
        seed.into_table(TasksOrder::Table).columns([TasksOrder::Id, TasksOrder::N]);
        seed.values([1.into(), 0.into()]).map_err(|e| DbErr::Custom(e.to_string()))?;
        m.exec_stmt(seed).await
    }
}
