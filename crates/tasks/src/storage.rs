//! Where attachment bytes live: the local filesystem under the data directory,
//! or an S3-compatible object store, both through the `object_store` crate.
//!
//! The choice is a setting in the database (`tasks_settings`, name
//! `storage`), so every replica uses the same store; each replica rebuilds
//! its client when the stored version changes. The S3 secret key is
//! encrypted with the master keyring and never returned.

use bytes::Bytes;
use gantry_core::secrets::Keyring;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ClientOptions, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig, WriteMultipart};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use utoipa::ToSchema;

/// Keyring context of the S3 secret key.
const SECRET_CONTEXT: &str = "tasks.s3_secret_access_key";
/// Objects at least this big are uploaded in parts of this size (S3 needs ≥ 5 MiB parts).
const PART: usize = 8 * 1024 * 1024;

/// Which store new attachments go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum StorageKind {
    /// `<data_dir>/attachments`.
    #[default]
    Local,
    /// An S3-compatible object store.
    S3,
}

impl StorageKind {
    /// The name stored on each attachment row.
    pub fn as_str(self) -> &'static str {
        match self {
            StorageKind::Local => "local",
            StorageKind::S3 => "s3",
        }
    }
}

/// S3 settings as stored (the secret encrypted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct S3Stored {
    /// Bucket.
    pub bucket: String,
    /// Endpoint URL (empty for AWS itself).
    pub endpoint: String,
    /// Region.
    pub region: String,
    /// Key prefix inside the bucket.
    pub prefix: String,
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key, encrypted with the keyring.
    pub secret_enc: String,
    /// Plain-HTTP endpoints allowed (test servers, MinIO on a private network).
    pub allow_http: bool,
}

/// The stored storage setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct StorageStored {
    /// Where new attachments go.
    pub kind: StorageKind,
    /// S3 settings, when configured.
    pub s3: Option<S3Stored>,
}

/// An object store with its key prefix.
#[derive(Clone)]
pub struct Bucket {
    store: Arc<dyn ObjectStore>,
    prefix: String,
}

/// What storage can fail with. Messages never carry credentials.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The store refused or could not be reached.
    #[error("object storage: {0}")]
    Store(String),
    /// The object is missing.
    #[error("the attachment's object is missing from storage")]
    Missing,
    /// Reading the staged upload failed.
    #[error("staging the upload: {0}")]
    Io(String),
}

fn store_err(e: object_store::Error) -> StorageError {
    match e {
        object_store::Error::NotFound { .. } => StorageError::Missing,
        // The Display of object_store errors names the operation, the path
        // and the HTTP status; it never includes request signatures or keys.
        other => StorageError::Store(other.to_string()),
    }
}

impl Bucket {
    /// The local store rooted at `dir` (created if missing).
    pub fn local(dir: &std::path::Path) -> Result<Self, StorageError> {
        std::fs::create_dir_all(dir).map_err(|e| StorageError::Io(format!("creating {}: {e}", dir.display())))?;
        // Automatic cleanup removes empty per-task directories after deletes.
        let fs = LocalFileSystem::new_with_prefix(dir).map_err(store_err)?.with_automatic_cleanup(true);
        Ok(Self { store: Arc::new(fs), prefix: String::new() })
    }

    /// An S3 client for stored settings.
    pub fn s3(s: &S3Stored, keyring: &Keyring) -> Result<Self, StorageError> {
        let secret = keyring
            .decrypt(SECRET_CONTEXT, &s.secret_enc)
            .map_err(|_| StorageError::Store("the stored S3 secret cannot be decrypted with this master key".into()))?;
        let mut b = AmazonS3Builder::new()
            .with_bucket_name(&s.bucket)
            .with_region(&s.region)
            .with_access_key_id(&s.access_key_id)
            .with_secret_access_key(String::from_utf8_lossy(secrecy::ExposeSecret::expose_secret(&secret)).into_owned())
            .with_allow_http(s.allow_http)
            .with_client_options(
                ClientOptions::new()
                    .with_timeout(Duration::from_secs(60))
                    .with_connect_timeout(Duration::from_secs(5))
                    .with_allow_http(s.allow_http),
            )
            .with_retry(RetryConfig { max_retries: 2, retry_timeout: Duration::from_secs(30), ..RetryConfig::default() });
        if !s.endpoint.is_empty() {
            // Path-style URLs: MinIO, Ceph and most self-hosted stores have no per-bucket DNS.
            b = b.with_endpoint(&s.endpoint).with_virtual_hosted_style_request(false);
        }
        let store = b.build().map_err(store_err)?;
        Ok(Self { store: Arc::new(store), prefix: s.prefix.trim_matches('/').to_string() })
    }

    fn path(&self, key: &str) -> ObjectPath {
        if self.prefix.is_empty() { ObjectPath::from(key) } else { ObjectPath::from(format!("{}/{key}", self.prefix)) }
    }

    /// Uploads a staged file, in parts when it is large. A failed multipart
    /// upload is aborted, so the store keeps no partial object.
    #[tracing::instrument(name = "object_store.put", skip(self, file), fields(key))]
    pub async fn put_file(&self, key: &str, mut file: tokio::fs::File, size: u64) -> Result<(), StorageError> {
        let path = self.path(key);
        if size < PART as u64 {
            let mut buf = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
            file.read_to_end(&mut buf).await.map_err(|e| StorageError::Io(e.to_string()))?;
            self.store.put(&path, PutPayload::from(Bytes::from(buf))).await.map_err(store_err)?;
            return Ok(());
        }
        let upload = self.store.put_multipart(&path).await.map_err(store_err)?;
        let mut w = WriteMultipart::new_with_chunk_size(upload, PART);
        let mut buf = vec![0u8; 1024 * 1024];
        loop {
            let n = match file.read(&mut buf).await {
                Ok(n) => n,
                Err(e) => {
                    let _ = w.abort().await;
                    return Err(StorageError::Io(e.to_string()));
                }
            };
            if n == 0 {
                break;
            }
            if let Err(e) = w.wait_for_capacity(4).await {
                let _ = w.abort().await;
                return Err(store_err(e));
            }
            w.write(&buf[..n]);
        }
        w.finish().await.map_err(store_err)?;
        Ok(())
    }

    /// Uploads bytes (the settings probe).
    pub async fn put_bytes(&self, key: &str, bytes: Bytes) -> Result<(), StorageError> {
        self.store.put(&self.path(key), PutPayload::from(bytes)).await.map_err(store_err).map(|_| ())
    }

    /// Streams an object.
    #[tracing::instrument(name = "object_store.get", skip(self), fields(key))]
    pub async fn get(&self, key: &str) -> Result<futures_util::stream::BoxStream<'static, Result<Bytes, StorageError>>, StorageError> {
        use futures_util::StreamExt as _;
        let r = self.store.get(&self.path(key)).await.map_err(store_err)?;
        Ok(r.into_stream().map(|c| c.map_err(store_err)).boxed())
    }

    /// Reads a whole object (the settings probe, tests).
    pub async fn get_bytes(&self, key: &str) -> Result<Bytes, StorageError> {
        let r = self.store.get(&self.path(key)).await.map_err(store_err)?;
        r.bytes().await.map_err(store_err)
    }

    /// Deletes an object; a missing object is not an error.
    #[tracing::instrument(name = "object_store.delete", skip(self), fields(key))]
    pub async fn delete(&self, key: &str) -> Result<(), StorageError> {
        match self.store.delete(&self.path(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(store_err(e)),
        }
    }

    /// Every object under `under` (relative to the prefix) with its age.
    pub async fn list(&self, under: &str) -> Result<Vec<(String, chrono::DateTime<chrono::Utc>)>, StorageError> {
        use futures_util::TryStreamExt as _;
        let root = self.path(under);
        let metas: Vec<object_store::ObjectMeta> = self.store.list(Some(&root)).try_collect().await.map_err(store_err)?;
        let cut = if self.prefix.is_empty() { 0 } else { self.prefix.len() + 1 };
        Ok(metas.into_iter().map(|m| (m.location.as_ref().get(cut..).unwrap_or("").to_string(), m.last_modified)).collect())
    }
}

/// Encrypts an S3 secret for storage.
pub fn seal_secret(keyring: &Keyring, secret: &str) -> Result<String, StorageError> {
    keyring.encrypt(SECRET_CONTEXT, secret.as_bytes()).map_err(|e| StorageError::Store(format!("encrypting the secret: {e}")))
}
