//! Attachments: staging an upload, storing it, the row that makes it exist,
//! downloads, deletes, the orphan sweeper and the storage setting.
//!
//! Order of an upload, and why nothing is left half-done:
//! 1. The request body is streamed into a temporary file under
//!    `<data_dir>/tmp` (size-limited, hashed). An interrupted upload ends
//!    here: the temporary file is removed on drop, the store is untouched.
//! 2. The object is written under a fresh key. A failed multipart upload is
//!    aborted.
//! 3. The row is inserted in one transaction with the audit record and the
//!    event. If that fails (or the task was deleted meanwhile) the object is
//!    deleted at once.
//!
//! A crash between 2 and 3 leaves an object without a row; the sweeper
//! deletes objects that no row names once they are older than the grace
//! period. Deleting a task removes its rows first and then the objects, so
//! the same sweeper finishes a delete that could not reach the store.

use crate::service::{TaskChanged, TasksService, UserRef, db, not_found};
use crate::storage::{Bucket, S3Stored, StorageError, StorageKind, StorageStored, seal_secret};
use crate::store::{attachment, setting, task};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use gantry_core::audit::{Actor, AuditDraft};
use gantry_core::events::DomainEvent;
use gantry_core::repo::Trail;
use gantry_core::{FieldError, ServiceError};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, TransactionTrait};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Mutex;
use utoipa::ToSchema;

/// Key prefix of every attachment object.
const ROOT: &str = "tasks";

/// An attachment as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Attachment {
    /// Id.
    pub id: i64,
    /// The task.
    pub task_id: i64,
    /// File name as uploaded (last path component).
    pub filename: String,
    /// Content type as uploaded.
    pub content_type: String,
    /// Size in bytes.
    pub size: i64,
    /// SHA-256 of the content, hex.
    pub sha256: String,
    /// Who uploaded it.
    pub created_by: Option<UserRef>,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// The storage setting as the API shows it (no secret).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StorageView {
    /// Where new attachments go.
    pub kind: StorageKind,
    /// Largest accepted attachment, bytes (`tasks.max_attachment_bytes`).
    pub max_bytes: u64,
    /// S3 settings, when configured.
    pub s3: Option<S3View>,
}

/// S3 settings without the secret.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct S3View {
    /// Bucket.
    pub bucket: String,
    /// Endpoint URL (empty: AWS).
    pub endpoint: String,
    /// Region.
    pub region: String,
    /// Key prefix.
    pub prefix: String,
    /// Access key id.
    pub access_key_id: String,
    /// Plain HTTP allowed.
    pub allow_http: bool,
    /// A secret key is stored (it is never shown).
    pub secret_set: bool,
}

/// A new storage setting.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StorageInput {
    /// Where new attachments go.
    pub kind: StorageKind,
    /// S3 settings; required for `s3`.
    pub s3: Option<S3Input>,
}

/// S3 settings as given.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct S3Input {
    /// Bucket (must exist).
    pub bucket: String,
    /// Endpoint URL, e.g. `https://minio.example:9000`; empty for AWS.
    #[serde(default)]
    pub endpoint: String,
    /// Region (`us-east-1` when the store does not care).
    pub region: String,
    /// Key prefix inside the bucket.
    #[serde(default)]
    pub prefix: String,
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key; omit to keep the stored one.
    #[schema(value_type = Option<String>, format = Password)]
    pub secret_access_key: Option<secrecy::SecretString>,
    /// Allow a plain-HTTP endpoint.
    #[serde(default)]
    pub allow_http: bool,
}

/// An upload being staged in a temporary file.
pub struct Staging {
    file: tempfile::NamedTempFile,
    hasher: Sha256,
    size: u64,
    max: u64,
}

/// A completely received upload.
pub struct Staged {
    file: tempfile::NamedTempFile,
    sha256: String,
    size: u64,
}

/// Why staging an upload stopped.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// Over `tasks.max_attachment_bytes`.
    #[error("the attachment is larger than the limit of {0} bytes (tasks.max_attachment_bytes)")]
    TooLarge(u64),
    /// The temporary file could not be written.
    #[error("staging an upload: {0}")]
    Io(String),
}

impl Staging {
    /// Adds a chunk; refuses once the limit is passed.
    pub fn write(&mut self, chunk: &[u8]) -> Result<(), StageError> {
        self.size += chunk.len() as u64;
        if self.size > self.max {
            return Err(StageError::TooLarge(self.max));
        }
        self.hasher.update(chunk);
        self.file.write_all(chunk).map_err(|e| StageError::Io(e.to_string()))
    }

    /// The whole upload.
    pub fn finish(mut self) -> Result<Staged, StageError> {
        self.file.flush().map_err(|e| StageError::Io(e.to_string()))?;
        let sha256 = self.hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
        Ok(Staged { file: self.file, sha256, size: self.size })
    }
}

/// The stores and their cached clients.
pub struct Files {
    local: Bucket,
    staging: PathBuf,
    s3: Mutex<Option<(i64, Bucket)>>,
}

impl Files {
    /// The local store under `<data_dir>/attachments`, staging in `<data_dir>/tmp`.
    pub fn new(data_dir: &std::path::Path) -> Result<Self, StorageError> {
        let staging = data_dir.join("tmp");
        std::fs::create_dir_all(&staging).map_err(|e| StorageError::Io(format!("creating {}: {e}", staging.display())))?;
        Ok(Self { local: Bucket::local(&data_dir.join("attachments"))?, staging, s3: Mutex::new(None) })
    }

    /// The store named on a row (`local` or `s3`), with the current S3 client.
    pub(crate) async fn bucket(&self, svc: &TasksService, store: &str) -> Result<Bucket, ServiceError> {
        if store == StorageKind::Local.as_str() {
            return Ok(self.local.clone());
        }
        let (version, stored) = svc.storage_row().await?;
        if let Ok(g) = self.s3.lock()
            && let Some((v, b)) = g.as_ref()
            && *v == version
        {
            return Ok(b.clone());
        }
        let s3 =
            stored.s3.ok_or_else(|| ServiceError::InvalidState("attachments are stored in S3, but no S3 storage is configured".into()))?;
        let b = Bucket::s3(&s3, &svc.keyring).map_err(storage)?;
        if let Ok(mut g) = self.s3.lock() {
            *g = Some((version, b.clone()));
        }
        Ok(b)
    }

    pub(crate) async fn delete(&self, svc: &TasksService, store: &str, key: &str) -> Result<(), ServiceError> {
        self.bucket(svc, store).await?.delete(key).await.map_err(storage)
    }
}

fn storage(e: StorageError) -> ServiceError {
    match e {
        StorageError::Missing => ServiceError::NotFound("attachment object"),
        other => ServiceError::Internal(other.to_string()),
    }
}

impl TasksService {
    /// Starts staging an upload.
    pub fn staging(&self) -> Result<Staging, ServiceError> {
        let file = tempfile::Builder::new()
            .prefix("upload-")
            .tempfile_in(&self.files.staging)
            .map_err(|e| ServiceError::Internal(format!("creating a staging file: {e}")))?;
        Ok(Staging { file, hasher: Sha256::new(), size: 0, max: self.settings.max_attachment_bytes })
    }

    /// Largest accepted attachment.
    pub fn max_attachment_bytes(&self) -> u64 {
        self.settings.max_attachment_bytes
    }

    pub(crate) async fn storage_row(&self) -> Result<(i64, StorageStored), ServiceError> {
        match setting::Entity::find_by_id("storage".to_string()).one(self.db.connection()).await.map_err(db)? {
            None => Ok((0, StorageStored::default())),
            Some(r) => {
                Ok((r.version, serde_json::from_str(&r.value).map_err(|e| ServiceError::Internal(format!("stored storage setting: {e}")))?))
            }
        }
    }

    fn attachment_view(a: attachment::Model, names: &std::collections::HashMap<i64, String>) -> Attachment {
        Attachment {
            id: a.id,
            task_id: a.task_id,
            filename: a.filename,
            content_type: a.content_type,
            size: a.size,
            sha256: a.sha256,
            created_by: a.created_by.map(|id| UserRef { id, username: names.get(&id).cloned().unwrap_or_else(|| format!("user #{id}")) }),
            created_at: a.created_at,
        }
    }

    /// Login names through the service's cached user directory (the one task views use).
    async fn usernames(&self, ids: impl IntoIterator<Item = i64>) -> std::collections::HashMap<i64, String> {
        let ids: std::collections::BTreeSet<i64> = ids.into_iter().collect();
        self.user_map(&ids).await.into_iter().filter(|(id, _)| ids.contains(id)).map(|(id, u)| (id, u.0)).collect()
    }

    /// A task's attachments, oldest first.
    pub async fn attachments(&self, task_id: i64) -> Result<Vec<Attachment>, ServiceError> {
        self.exists(task_id).await?;
        let rows = attachment::Entity::find()
            .filter(attachment::Column::TaskId.eq(task_id))
            .order_by_asc(attachment::Column::Id)
            .all(self.db.connection())
            .await
            .map_err(db)?;
        let names = self.usernames(rows.iter().filter_map(|r| r.created_by)).await;
        Ok(rows.into_iter().map(|a| Self::attachment_view(a, &names)).collect())
    }

    /// Stores a staged upload as an attachment of `task_id`.
    pub async fn add_attachment(
        &self,
        task_id: i64,
        filename: &str,
        content_type: Option<&str>,
        staged: Staged,
        actor: &Actor,
    ) -> Result<Attachment, ServiceError> {
        let filename = crate::model::clean_filename(filename).map_err(|m| ServiceError::field("file", m))?;
        let content_type = crate::model::clean_content_type(content_type);
        let t = self.exists(task_id).await?;
        let (_, setting) = self.storage_row().await?;
        let kind = setting.kind;
        let bucket = self.files.bucket(self, kind.as_str()).await?;
        let rand = gantry_core::tokens::random_token(12).replace(['-', '_'], "0");
        let key = format!("{ROOT}/{task_id}/{}-{rand}", Utc::now().format("%Y%m%d%H%M%S"));
        let file = tokio::fs::File::open(staged.file.path())
            .await
            .map_err(|e| ServiceError::Internal(format!("reading the staged upload: {e}")))?;
        bucket.put_file(&key, file, staged.size).await.map_err(|e| ServiceError::Internal(e.to_string()))?;
        let now = Utc::now();
        let saved = async {
            let _w = self.db.write_guard().await;
            let txn = self.db.connection().begin().await.map_err(db)?;
            // Counting first write-locks the task row, so a concurrent task
            // delete either sees this attachment or makes this find nothing
            // (the task was deleted while the bytes were uploading).
            let counted = task::Entity::update_many()
                .col_expr(task::Column::AttachmentCount, Expr::col(task::Column::AttachmentCount).add(1))
                .filter(task::Column::Id.eq(task_id))
                .exec(&txn)
                .await
                .map_err(db)?;
            if counted.rows_affected != 1 {
                return Err(ServiceError::NotFound("task"));
            }
            let row = attachment::ActiveModel {
                task_id: Set(task_id),
                filename: Set(filename.clone()),
                content_type: Set(content_type.clone()),
                size: Set(i64::try_from(staged.size).unwrap_or(i64::MAX)),
                sha256: Set(staged.sha256.clone()),
                store: Set(kind.as_str().to_string()),
                object_key: Set(key.clone()),
                created_by: Set(actor.user_id.map(|u| u.0)),
                created_at: Set(now),
                ..Default::default()
            }
            .insert(&txn)
            .await
            .map_err(db)?;
            let summary =
                json!({"after": {"filename": filename, "size": staged.size, "content_type": content_type, "sha256": staged.sha256}});
            let trail = Trail::audit(AuditDraft::new(actor, "task.attachment_add", "task", Some(task_id.to_string()), summary))
                .with_event(TaskChanged { task_id, change: "attachment_added", title: t.title.clone() }.draft());
            gantry_store::write_trail(&txn, trail).await?;
            txn.commit().await.map_err(db)?;
            Ok::<_, ServiceError>(row)
        }
        .await;
        match saved {
            Ok(row) => {
                let names = self.usernames(row.created_by).await;
                Ok(Self::attachment_view(row, &names))
            }
            Err(e) => {
                if let Err(de) = bucket.delete(&key).await {
                    tracing::warn!(error = %de, key, "could not remove the object of a failed upload; the sweeper will");
                }
                Err(not_found(e))
            }
        }
    }

    async fn attachment_row(&self, task_id: i64, id: i64) -> Result<attachment::Model, ServiceError> {
        attachment::Entity::find_by_id(id)
            .filter(attachment::Column::TaskId.eq(task_id))
            .one(self.db.connection())
            .await
            .map_err(db)?
            .ok_or(ServiceError::NotFound("attachment"))
    }

    /// An attachment and a stream of its bytes.
    pub async fn download(
        &self,
        task_id: i64,
        id: i64,
    ) -> Result<(Attachment, futures_util::stream::BoxStream<'static, Result<Bytes, StorageError>>), ServiceError> {
        let a = self.attachment_row(task_id, id).await?;
        let bucket = self.files.bucket(self, &a.store).await?;
        let stream = bucket.get(&a.object_key).await.map_err(storage)?;
        Ok((Self::attachment_view(a, &Default::default()), stream))
    }

    /// Deletes an attachment: the row first, then the object.
    pub async fn delete_attachment(&self, task_id: i64, id: i64, actor: &Actor) -> Result<(), ServiceError> {
        let a = {
            let _w = self.db.write_guard().await;
            let txn = self.db.connection().begin().await.map_err(db)?;
            let a = attachment::Entity::find_by_id(id)
                .filter(attachment::Column::TaskId.eq(task_id))
                .one(&txn)
                .await
                .map_err(db)?
                .ok_or(ServiceError::NotFound("attachment"))?;
            // Of two concurrent deletes only the one that removed the row goes on.
            let gone = attachment::Entity::delete_by_id(id).exec(&txn).await.map_err(db)?;
            if gone.rows_affected != 1 {
                return Err(ServiceError::NotFound("attachment"));
            }
            task::Entity::update_many()
                .col_expr(task::Column::AttachmentCount, Expr::col(task::Column::AttachmentCount).sub(1))
                .filter(task::Column::Id.eq(task_id))
                .exec(&txn)
                .await
                .map_err(db)?;
            let trail = Trail::audit(AuditDraft::new(
                actor,
                "task.attachment_delete",
                "task",
                Some(task_id.to_string()),
                json!({"before": {"filename": a.filename, "size": a.size}}),
            ))
            .with_event(TaskChanged { task_id, change: "attachment_removed", title: Self::row(&txn, task_id).await?.title }.draft());
            gantry_store::write_trail(&txn, trail).await?;
            txn.commit().await.map_err(db)?;
            a
        };
        if let Err(e) = self.files.delete(self, &a.store, &a.object_key).await {
            tracing::warn!(error = %e, key = a.object_key, "could not delete an attachment's object; the sweeper will retry");
        }
        Ok(())
    }

    /// Deletes objects no row names that are older than `grace`, in the
    /// local store and the configured S3 store, and stale staging files.
    /// Returns how many objects were removed.
    pub async fn sweep(&self, grace: std::time::Duration) -> Result<usize, ServiceError> {
        let cutoff = Utc::now() - chrono::Duration::from_std(grace).unwrap_or_else(|_| chrono::Duration::hours(1));
        let mut removed = 0;
        let (_, setting) = self.storage_row().await?;
        let mut stores = vec![StorageKind::Local];
        if setting.s3.is_some() {
            stores.push(StorageKind::S3);
        }
        for kind in stores {
            let bucket = self.files.bucket(self, kind.as_str()).await?;
            let objects = bucket.list(ROOT).await.map_err(storage)?;
            // Read the rows after listing: an object uploaded and committed
            // in between is then known, and younger than the cutoff anyway.
            let known: HashSet<String> = attachment::Entity::find()
                .filter(attachment::Column::Store.eq(kind.as_str()))
                .all(self.db.connection())
                .await
                .map_err(db)?
                .into_iter()
                .map(|a| a.object_key)
                .collect();
            for (key, modified) in objects {
                // Ask once more right before deleting: an upload may have committed since the rows were read.
                if modified < cutoff && !known.contains(&key) && !self.object_known(kind, &key).await? {
                    match bucket.delete(&key).await {
                        Ok(()) => {
                            removed += 1;
                            tracing::info!(key, store = kind.as_str(), "removed an attachment object no task refers to");
                        }
                        Err(e) => tracing::warn!(error = %e, key, "could not remove an orphaned attachment object"),
                    }
                }
            }
        }
        // Staging files of uploads still arriving are open; only day-old ones are leftovers.
        let cutoff = std::cmp::min(cutoff, Utc::now() - chrono::Duration::hours(24));
        if let Ok(mut dir) = tokio::fs::read_dir(&self.files.staging).await {
            while let Ok(Some(e)) = dir.next_entry().await {
                let old = e.metadata().await.ok().and_then(|m| m.modified().ok()).map(DateTime::<Utc>::from).is_some_and(|m| m < cutoff);
                if old {
                    let _ = tokio::fs::remove_file(e.path()).await;
                }
            }
        }
        Ok(removed)
    }

    async fn object_known(&self, kind: StorageKind, key: &str) -> Result<bool, ServiceError> {
        let n = attachment::Entity::find()
            .filter(attachment::Column::Store.eq(kind.as_str()))
            .filter(attachment::Column::ObjectKey.eq(key))
            .one(self.db.connection())
            .await
            .map_err(db)?;
        Ok(n.is_some())
    }

    /// The storage setting.
    pub async fn storage(&self) -> Result<StorageView, ServiceError> {
        let (_, s) = self.storage_row().await?;
        Ok(StorageView {
            kind: s.kind,
            max_bytes: self.settings.max_attachment_bytes,
            s3: s.s3.map(|s| S3View {
                bucket: s.bucket,
                endpoint: s.endpoint,
                region: s.region,
                prefix: s.prefix,
                access_key_id: s.access_key_id,
                allow_http: s.allow_http,
                secret_set: !s.secret_enc.is_empty(),
            }),
        })
    }

    /// Changes the storage setting after a test write, read and delete with
    /// the new settings. Changing where existing S3 attachments live is refused.
    pub async fn set_storage(&self, input: StorageInput, actor: &Actor) -> Result<StorageView, ServiceError> {
        let (version, current) = self.storage_row().await?;
        let s3 = match (input.kind, input.s3) {
            (StorageKind::S3, None) => return Err(ServiceError::field("s3", "is required when kind is s3")),
            (_, None) => current.s3.clone(),
            (_, Some(i)) => Some(self.parse_s3(i, current.s3.as_ref())?),
        };
        if let (Some(old), Some(new)) = (&current.s3, &s3)
            && (old.bucket != new.bucket || old.endpoint != new.endpoint || old.prefix != new.prefix)
        {
            let n =
                attachment::Entity::find().filter(attachment::Column::Store.eq("s3")).all(self.db.connection()).await.map_err(db)?.len();
            if n > 0 {
                return Err(ServiceError::Conflict {
                    field: "s3".into(),
                    message: format!(
                        "{n} attachments are stored in the current S3 bucket; moving them is not supported, so the bucket, endpoint and prefix cannot change"
                    ),
                });
            }
        }
        if let Some(s) = &s3
            && input.kind == StorageKind::S3
        {
            let b = Bucket::s3(s, &self.keyring).map_err(|e| ServiceError::field("s3", e.to_string()))?;
            let probe = format!("{ROOT}/.gantry-probe-{}", gantry_core::tokens::random_token(8).replace(['-', '_'], "0"));
            let body = Bytes::from_static(b"gantry storage probe");
            let check = async {
                b.put_bytes(&probe, body.clone()).await?;
                let back = b.get_bytes(&probe).await?;
                b.delete(&probe).await?;
                Ok::<bool, StorageError>(back == body)
            }
            .await;
            match check {
                Ok(true) => {}
                Ok(false) => return Err(ServiceError::field("s3", "the storage returned different bytes than were written")),
                Err(e) => return Err(ServiceError::field("s3", format!("a test write, read and delete failed: {e}"))),
            }
        }
        let stored = StorageStored { kind: input.kind, s3 };
        let value = serde_json::to_string(&stored).map_err(|e| ServiceError::Internal(e.to_string()))?;
        let now = Utc::now();
        {
            let _w = self.db.write_guard().await;
            let txn = self.db.connection().begin().await.map_err(db)?;
            if version == 0 {
                setting::ActiveModel { name: Set("storage".into()), value: Set(value), version: Set(1), updated_at: Set(now) }
                    .insert(&txn)
                    .await
                    .map_err(|e| match e.sql_err() {
                        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => ServiceError::Stale { current: 1 },
                        _ => db(e),
                    })?;
            } else {
                let r = setting::Entity::update_many()
                    .col_expr(setting::Column::Value, Expr::value(value))
                    .col_expr(setting::Column::Version, Expr::value(version + 1))
                    .col_expr(setting::Column::UpdatedAt, Expr::value(now))
                    .filter(setting::Column::Name.eq("storage"))
                    .filter(setting::Column::Version.eq(version))
                    .exec(&txn)
                    .await
                    .map_err(db)?;
                if r.rows_affected != 1 {
                    return Err(ServiceError::Stale { current: version + 1 });
                }
            }
            let summary = json!({"after": {"kind": stored.kind, "s3": stored.s3.as_ref().map(|s| json!({"bucket": s.bucket, "endpoint": s.endpoint, "region": s.region, "prefix": s.prefix, "access_key_id": s.access_key_id, "allow_http": s.allow_http}))}});
            gantry_store::write_trail(&txn, Trail::audit(AuditDraft::new(actor, "tasks.storage_update", "tasks_storage", None, summary)))
                .await?;
            txn.commit().await.map_err(db)?;
        }
        self.storage().await
    }

    fn parse_s3(&self, i: S3Input, current: Option<&S3Stored>) -> Result<S3Stored, ServiceError> {
        let mut errors = Vec::new();
        let bucket = i.bucket.trim().to_string();
        if !(3..=63).contains(&bucket.len())
            || !bucket.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        {
            errors.push(FieldError::new("s3.bucket", "must be a bucket name: 3-63 characters of a-z, 0-9, '-' and '.'"));
        }
        let endpoint = i.endpoint.trim().trim_end_matches('/').to_string();
        if !endpoint.is_empty() {
            match endpoint.split_once("://") {
                Some(("https", rest)) if !rest.is_empty() => {}
                Some(("http", rest)) if !rest.is_empty() => {
                    if !i.allow_http {
                        errors.push(FieldError::new(
                            "s3.endpoint",
                            "is plain http; set allow_http to use it (credentials then cross the network unencrypted)",
                        ));
                    }
                }
                _ => errors.push(FieldError::new("s3.endpoint", "must be an http:// or https:// URL")),
            }
        }
        let region = i.region.trim().to_string();
        if region.is_empty() || region.len() > 64 {
            errors.push(FieldError::new("s3.region", "is required (us-east-1 when the store does not care)"));
        }
        let access_key_id = i.access_key_id.trim().to_string();
        if access_key_id.is_empty() || access_key_id.len() > 128 {
            errors.push(FieldError::new("s3.access_key_id", "is required"));
        }
        let prefix = i.prefix.trim().trim_matches('/').to_string();
        if prefix.len() > 128 || prefix.contains("..") {
            errors.push(FieldError::new("s3.prefix", "must be at most 128 characters without '..'"));
        }
        let secret_enc = match (&i.secret_access_key, current) {
            (Some(s), _) => {
                let s = secrecy::ExposeSecret::expose_secret(s);
                if s.is_empty() {
                    errors.push(FieldError::new("s3.secret_access_key", "must not be empty"));
                    String::new()
                } else {
                    seal_secret(&self.keyring, s).map_err(|e| ServiceError::Internal(e.to_string()))?
                }
            }
            (None, Some(c)) => c.secret_enc.clone(),
            (None, None) => {
                errors.push(FieldError::new("s3.secret_access_key", "is required"));
                String::new()
            }
        };
        if !errors.is_empty() {
            return Err(ServiceError::Validation(errors));
        }
        Ok(S3Stored { bucket, endpoint, region, prefix, access_key_id, secret_enc, allow_http: i.allow_http })
    }
}
