//! Blob stores: where media bytes live. Objects are written under `staging/` while they stream
//! in (hashed on the way), then promoted to their content address `blobs/<2 hex>/<sha256>`.
//! Two backends: the local filesystem (the default) and any S3-compatible service.

mod breaker;
mod error;
mod fs;
mod s3;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::{self, BoxStream, StreamExt, TryStreamExt};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

pub use self::error::BlobError;
pub use self::fs::FsStore;
pub use self::s3::S3Store;

/// A body streamed into or out of a store.
pub type ByteStream = BoxStream<'static, Result<Bytes, BlobError>>;

/// The longest key accepted (S3's limit).
const MAX_KEY_LEN: usize = 1024;

/// A blob's key: relative, `/`-separated, of `[a-z0-9/_.-]`, with no `..`, no empty segment and
/// no leading `/`, so it is a safe relative path and a valid S3 key alike.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BlobKey(String);

impl BlobKey {
    /// Validates a key.
    pub fn new(key: &str) -> Result<Self, BlobError> {
        validate_key(key)?;
        Ok(Self(key.to_owned()))
    }

    /// The content address of bytes with this SHA-256: `blobs/<first 2 hex>/<sha>`.
    pub fn content(sha256_hex: &str) -> Result<Self, BlobError> {
        let is_sha = sha256_hex.len() == 64
            && sha256_hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !is_sha {
            return Err(BlobError::InvalidKey(format!(
                "not a lowercase hex SHA-256: {sha256_hex:?}"
            )));
        }
        Ok(Self(format!("blobs/{}/{sha256_hex}", &sha256_hex[..2])))
    }

    /// A fresh key under `staging/`.
    pub fn staging() -> Self {
        Self(format!("staging/{}", uuid::Uuid::new_v4()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BlobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for BlobKey {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for BlobKey {
    type Error = BlobError;

    fn try_from(key: String) -> Result<Self, Self::Error> {
        validate_key(&key)?;
        Ok(Self(key))
    }
}

impl From<BlobKey> for String {
    fn from(key: BlobKey) -> Self {
        key.0
    }
}

fn validate_key(key: &str) -> Result<(), BlobError> {
    let invalid = |why: &str| Err(BlobError::InvalidKey(format!("{key:?}: {why}")));
    if key.is_empty() {
        return invalid("empty");
    }
    if key.len() > MAX_KEY_LEN {
        return invalid("too long");
    }
    if !key.bytes().all(is_key_byte) {
        return invalid("only a-z, 0-9, '/', '_', '.' and '-' are allowed");
    }
    if key.contains("..") {
        return invalid("contains '..'");
    }
    if key
        .split('/')
        .any(|segment| segment.is_empty() || segment == ".")
    {
        return invalid("leading, trailing or doubled '/', or a '.' segment");
    }
    Ok(())
}

fn is_key_byte(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'/' | b'_' | b'.' | b'-')
}

/// Checks a listing prefix: empty, or the start of a valid key (it may end with `/`).
fn validate_prefix(prefix: &str) -> Result<(), BlobError> {
    if prefix.is_empty() {
        return Ok(());
    }
    validate_key(prefix.strip_suffix('/').unwrap_or(prefix))
        .map_err(|_| BlobError::InvalidKey(format!("invalid prefix {prefix:?}")))
}

/// An object written under `staging/`, not yet promoted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staged {
    pub key: BlobKey,
    pub size: u64,
    /// Lowercase hex SHA-256 of the bytes.
    pub sha256: String,
}

impl Staged {
    /// The content address these bytes belong at.
    pub fn content_key(&self) -> Result<BlobKey, BlobError> {
        BlobKey::content(&self.sha256)
    }
}

/// What a store knows about an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobMeta {
    pub key: BlobKey,
    pub size: u64,
    pub modified: chrono::DateTime<chrono::Utc>,
}

/// An object being read.
pub struct BlobRead {
    pub stream: ByteStream,
    /// The whole object's size.
    pub total_size: u64,
    /// The inclusive byte range served, when one was asked for.
    pub range: Option<(u64, u64)>,
}

impl fmt::Debug for BlobRead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlobRead")
            .field("total_size", &self.total_size)
            .field("range", &self.range)
            .finish_non_exhaustive()
    }
}

/// A place to keep blobs.
#[async_trait::async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// `"fs"` or `"s3"`.
    fn kind(&self) -> &'static str;
    /// Streams `body` into a new object under staging/, hashing as it goes. Fails with
    /// [`BlobError::TooLarge`] as soon as more than `limit` bytes arrive, and removes the partial
    /// object on that or any other failure. Never buffers the whole body.
    async fn stage(&self, body: ByteStream, limit: u64) -> Result<Staged, BlobError>;
    /// Stages a local file already received (and hashed) by the caller: `sha256` is its
    /// digest. The default streams it in through [`BlobStore::stage`] (which checks the
    /// digest); a store on the same filesystem may move the file instead of copying it, and the
    /// file is gone from `path` when this returns successfully.
    async fn stage_file(&self, path: &Path, size: u64, sha256: &str) -> Result<Staged, BlobError> {
        let file = tokio::fs::File::open(path).await?;
        let body = tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024)
            .map_err(BlobError::from)
            .boxed();
        let staged = self.stage(body, size).await?;
        if staged.sha256 != sha256 {
            self.delete(&staged.key).await?;
            return Err(BlobError::Body(
                "the file changed between receiving and storing it".into(),
            ));
        }
        let _ = tokio::fs::remove_file(path).await;
        Ok(staged)
    }
    /// Concatenates existing objects in order into a new staged object, streaming.
    async fn stage_concat(&self, parts: &[BlobKey], limit: u64) -> Result<Staged, BlobError>;
    /// Moves a staged object to `target`; when `target` exists already (same bytes) it only
    /// deletes the staged object. Returns whether it created `target`. Durable when it returns.
    async fn promote(&self, staged: &Staged, target: &BlobKey) -> Result<bool, BlobError>;
    /// Writes a small object whole, replacing any existing one.
    async fn put(&self, key: &BlobKey, bytes: Bytes, content_type: &str) -> Result<(), BlobError>;
    /// Reads an object, or the byte range `start..=end` of it (`end` defaults to the last byte
    /// and is clamped to it); a range starting past the end is [`BlobError::RangeNotSatisfiable`].
    async fn get(
        &self,
        key: &BlobKey,
        range: Option<(u64, Option<u64>)>,
    ) -> Result<BlobRead, BlobError>;
    async fn head(&self, key: &BlobKey) -> Result<Option<BlobMeta>, BlobError>;
    /// Deletes; deleting a missing object is Ok.
    async fn delete(&self, key: &BlobKey) -> Result<(), BlobError>;
    /// Every object whose key starts with `prefix` (e.g. `"staging/"`), for the garbage collector.
    async fn list(&self, prefix: &str) -> Result<Vec<BlobMeta>, BlobError>;
    /// The file holding the object, when the store keeps objects as files on this machine.
    fn local_file(&self, _key: &BlobKey) -> Option<PathBuf> {
        None
    }
}

/// A local file with an object's bytes, for tools that read files (decoders, ffmpeg), removed
/// when the returned path drops. From a filesystem store it is a hard link to the stored file
/// (objects never change once stored, and the link keeps the bytes even if the object is
/// purged meanwhile): no copy, however large. Otherwise, or where linking fails, the object is
/// streamed into it. A scratch copy, so it is not synced to disk.
pub async fn fetch_to_temp(
    store: &dyn BlobStore,
    key: &BlobKey,
    dir: &Path,
    prefix: &str,
) -> Result<tempfile::TempPath, BlobError> {
    if let Some(stored) = store.local_file(key) {
        let (dir, prefix) = (dir.to_owned(), prefix.to_owned());
        let linked = blocking(move || {
            Ok(tempfile::Builder::new()
                .prefix(&prefix)
                .make_in(&dir, |path| std::fs::hard_link(&stored, path)))
        })
        .await?;
        match linked {
            Ok(file) => return Ok(file.into_temp_path()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(BlobError::NotFound(key.to_string()))
            }
            Err(e) => tracing::debug!(error = %e, %key, "hard link failed; copying the blob"),
        }
    }
    let path = tempfile::Builder::new()
        .prefix(prefix)
        .tempfile_in(dir)?
        .into_temp_path();
    let mut read = store.get(key, None).await?;
    let mut file = tokio::fs::File::create(&path).await?;
    while let Some(chunk) = read.stream.next().await {
        tokio::io::AsyncWriteExt::write_all(&mut file, &chunk?).await?;
    }
    tokio::io::AsyncWriteExt::flush(&mut file).await?;
    Ok(path)
}

/// Resolves a requested range against an object's size into the inclusive range to serve.
fn resolve_range(
    size: u64,
    range: Option<(u64, Option<u64>)>,
) -> Result<Option<(u64, u64)>, BlobError> {
    let Some((start, end)) = range else {
        return Ok(None);
    };
    if start >= size {
        return Err(BlobError::RangeNotSatisfiable { size });
    }
    let last = size - 1;
    let end = end.map_or(last, |end| end.min(last));
    if end < start {
        return Err(BlobError::RangeNotSatisfiable { size });
    }
    Ok(Some((start, end)))
}

/// The bytes of `parts`, in order, each opened only when the previous one is done.
fn concat_parts<'a, S: BlobStore + ?Sized>(
    store: &'a S,
    parts: &'a [BlobKey],
) -> BoxStream<'a, Result<Bytes, BlobError>> {
    stream::iter(parts)
        .then(move |key| async move { store.get(key, None).await.map(|read| read.stream) })
        .try_flatten()
        .boxed()
}

/// Runs blocking work (hashing, file writes) off the async executor.
async fn blocking<T, F>(work: F) -> Result<T, BlobError>
where
    F: FnOnce() -> Result<T, BlobError> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| BlobError::Io(std::io::Error::other(format!("blob task failed: {e}"))))?
}

fn default_backend() -> String {
    "fs".into()
}

fn default_region() -> String {
    "us-east-1".into()
}

fn default_true() -> bool {
    true
}

/// Where blobs are kept.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSettings {
    /// `fs` (default) or `s3`.
    #[serde(default = "default_backend")]
    pub backend: String,
    /// The filesystem store's root (default: `<data_dir>/blobs`).
    #[serde(default)]
    pub fs_root: Option<PathBuf>,
    #[serde(default)]
    pub s3: S3Settings,
}

/// An S3-compatible service (AWS S3, MinIO, ...).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Settings {
    /// e.g. `https://s3.eu-central-1.amazonaws.com` or `http://127.0.0.1:9000`.
    #[serde(default)]
    pub endpoint: String,
    #[serde(default = "default_region")]
    pub region: String,
    #[serde(default)]
    pub bucket: String,
    pub access_key: SecretString,
    pub secret_key: SecretString,
    /// Path-style addressing (`endpoint/bucket/key`), which MinIO and most self-hosted services
    /// need; otherwise the bucket is a subdomain of the endpoint.
    #[serde(default = "default_true")]
    pub path_style: bool,
    /// Create the bucket at start-up when it does not exist.
    #[serde(default = "default_true")]
    pub create_bucket: bool,
    /// Longest wait for an answer to one call, or for a download's next bytes.
    #[serde(default = "default_request_timeout_secs")]
    pub request_timeout_secs: u64,
    /// The slowest transfer tolerated: a whole download may wait on the store for the request
    /// time-out plus its size at this rate.
    #[serde(default = "default_min_bytes_per_sec")]
    pub min_bytes_per_sec: u64,
    /// After repeated failures, calls fail at once (`storage_unavailable`) for this long.
    #[serde(default = "default_breaker_cool_down_secs")]
    pub breaker_cool_down_secs: u64,
}

fn default_request_timeout_secs() -> u64 {
    30
}

fn default_min_bytes_per_sec() -> u64 {
    256 * 1024
}

fn default_breaker_cool_down_secs() -> u64 {
    15
}

impl Default for S3Settings {
    fn default() -> Self {
        Self {
            endpoint: String::new(),
            region: default_region(),
            bucket: String::new(),
            access_key: SecretString::from(""),
            secret_key: SecretString::from(""),
            path_style: true,
            create_bucket: true,
            request_timeout_secs: default_request_timeout_secs(),
            min_bytes_per_sec: default_min_bytes_per_sec(),
            breaker_cool_down_secs: default_breaker_cool_down_secs(),
        }
    }
}

/// Builds the configured store.
pub async fn from_settings(
    settings: &StorageSettings,
    data_dir: &Path,
) -> Result<Arc<dyn BlobStore>, BlobError> {
    match settings.backend.as_str() {
        "fs" => {
            let root = settings
                .fs_root
                .clone()
                .unwrap_or_else(|| data_dir.join("blobs"));
            Ok(Arc::new(FsStore::open(root).await?))
        }
        "s3" => Ok(Arc::new(S3Store::connect(&settings.s3).await?)),
        other => Err(BlobError::Backend(format!(
            "unknown storage backend {other:?} (expected \"fs\" or \"s3\")"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_validated() {
        for good in [
            "blobs/ab/abcdef",
            "previews/0123/thumb-256.jpg",
            "staging/0b0e1c2a-1111-4aaa-8bbb-000000000000",
            "uploads/x/000000000001048576",
            "a",
        ] {
            assert!(BlobKey::new(good).is_ok(), "{good}");
        }
        for bad in [
            "", "/abs", "../x", "a/../b", "a/..", "Upper", "a//b", "a/", "a/./b", "a b", "a\\b",
            "é",
        ] {
            assert!(
                matches!(BlobKey::new(bad), Err(BlobError::InvalidKey(_))),
                "{bad:?}"
            );
        }
        assert!(BlobKey::new(&"a".repeat(MAX_KEY_LEN + 1)).is_err());
    }

    #[test]
    fn content_and_staging_keys() {
        let sha = "ab".repeat(32);
        let key = BlobKey::content(&sha).unwrap();
        assert_eq!(key.as_str(), format!("blobs/ab/{sha}"));
        assert!(BlobKey::content("AB").is_err());
        assert!(BlobKey::content(&"g".repeat(64)).is_err());
        let staging = BlobKey::staging();
        assert!(staging.as_str().starts_with("staging/"));
        assert!(BlobKey::new(staging.as_str()).is_ok());
        assert_ne!(staging, BlobKey::staging());
    }

    #[test]
    fn keys_deserialise_only_when_valid() {
        let key: BlobKey = serde_json::from_str("\"blobs/ab/cd\"").unwrap();
        assert_eq!(key.to_string(), "blobs/ab/cd");
        assert!(serde_json::from_str::<BlobKey>("\"../etc/passwd\"").is_err());
    }

    #[test]
    fn ranges_resolve_like_http() {
        assert_eq!(resolve_range(10, None).unwrap(), None);
        assert_eq!(resolve_range(10, Some((2, Some(5)))).unwrap(), Some((2, 5)));
        assert_eq!(resolve_range(10, Some((2, None))).unwrap(), Some((2, 9)));
        assert_eq!(
            resolve_range(10, Some((9, Some(100)))).unwrap(),
            Some((9, 9))
        );
        for bad in [(10, None), (11, Some(12)), (5, Some(4))] {
            assert!(matches!(
                resolve_range(10, Some(bad)),
                Err(BlobError::RangeNotSatisfiable { size: 10 })
            ));
        }
        assert!(resolve_range(0, Some((0, None))).is_err());
    }

    #[test]
    fn prefixes_are_validated() {
        assert!(validate_prefix("").is_ok());
        assert!(validate_prefix("staging/").is_ok());
        assert!(validate_prefix("blobs/a").is_ok());
        assert!(validate_prefix("../").is_err());
        assert!(validate_prefix("/").is_err());
    }

    #[test]
    fn settings_debug_output_hides_credentials() {
        let settings: StorageSettings = serde_json::from_value(serde_json::json!({
            "backend": "s3",
            "s3": {
                "endpoint": "http://127.0.0.1:9000",
                "bucket": "media",
                "access_key": "AKIDEXAMPLEACCESS",
                "secret_key": "wJalrXUtnFEMI-very-secret",
            }
        }))
        .unwrap();
        assert_eq!(settings.s3.region, "us-east-1");
        assert!(settings.s3.path_style && settings.s3.create_bucket);
        let printed = format!("{settings:?}");
        assert!(printed.contains("media"));
        assert!(!printed.contains("wJalrXUtnFEMI-very-secret"), "{printed}");
        assert!(!printed.contains("AKIDEXAMPLEACCESS"), "{printed}");
    }
}
