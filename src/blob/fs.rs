//! The filesystem store: one file per key under a root directory. Writes go to a file under
//! `staging/` (same filesystem as the rest), are fsynced, and are then linked or renamed into
//! place, so a reader never sees a partial object.

use std::io::{ErrorKind, SeekFrom, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use super::{
    blocking, concat_parts, resolve_range, validate_prefix, BlobError, BlobKey, BlobMeta, BlobRead,
    BlobStore, ByteStream, Staged,
};

/// Bytes gathered from the body before one blocking hash-and-write step.
const WRITE_BATCH: usize = 1024 * 1024;
/// The size of the chunks a read yields.
const READ_CHUNK: usize = 64 * 1024;

/// Blobs as files under a root directory.
#[derive(Debug, Clone)]
pub struct FsStore {
    root: PathBuf,
}

impl FsStore {
    /// Opens (creating if needed) a store rooted at `root`.
    pub async fn open(root: impl Into<PathBuf>) -> Result<Self, BlobError> {
        let root = root.into();
        tokio::fs::create_dir_all(root.join("staging")).await?;
        tracing::info!(root = %root.display(), "filesystem blob store ready");
        Ok(Self { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, key: &BlobKey) -> PathBuf {
        // Keys are validated relative paths of plain segments, so this stays under the root.
        self.root.join(key.as_str())
    }

    /// Streams `body` into a new staged file, removing it on any failure (or cancellation).
    async fn stage_stream<S>(&self, body: S, limit: u64) -> Result<Staged, BlobError>
    where
        S: Stream<Item = Result<Bytes, BlobError>> + Send + Unpin,
    {
        let key = BlobKey::staging();
        let path = self.path(&key);
        let guard = RemoveOnDrop(Some(path.clone()));
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .await?
            .into_std()
            .await;
        let (size, sha256) = write_hashed(file, body, limit).await?;
        guard.disarm();
        tracing::debug!(key = %key, size, "staged blob");
        Ok(Staged { key, size, sha256 })
    }
}

/// Deletes a file when dropped, unless disarmed: a failed or abandoned write leaves nothing.
struct RemoveOnDrop(Option<PathBuf>);

impl RemoveOnDrop {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            if let Err(e) = std::fs::remove_file(&path) {
                if e.kind() != ErrorKind::NotFound {
                    tracing::warn!(path = %path.display(), error = %e, "could not remove a partial blob");
                }
            }
        }
    }
}

/// Writes and hashes `body` into `file` in batches off the executor, then fsyncs it.
async fn write_hashed<S>(
    file: std::fs::File,
    mut body: S,
    limit: u64,
) -> Result<(u64, String), BlobError>
where
    S: Stream<Item = Result<Bytes, BlobError>> + Send + Unpin,
{
    let mut sink = Some((file, Sha256::new()));
    let mut batch: Vec<Bytes> = Vec::new();
    let mut batched = 0usize;
    let mut size = 0u64;
    let flush = |sink: &mut Option<(std::fs::File, Sha256)>, batch: Vec<Bytes>| {
        let taken = sink.take();
        async move {
            let (mut file, mut hasher) = taken.ok_or_else(|| {
                BlobError::Io(std::io::Error::other("blob writer lost after an error"))
            })?;
            blocking(move || {
                for chunk in &batch {
                    hasher.update(chunk);
                    file.write_all(chunk)?;
                }
                Ok((file, hasher))
            })
            .await
        }
    };
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        size += chunk.len() as u64;
        if size > limit {
            return Err(BlobError::TooLarge { limit });
        }
        batched += chunk.len();
        batch.push(chunk);
        if batched >= WRITE_BATCH {
            sink = Some(flush(&mut sink, std::mem::take(&mut batch)).await?);
            batched = 0;
        }
    }
    let (file, hasher) = flush(&mut sink, batch).await?;
    let sha256 = blocking(move || {
        file.sync_all()?;
        Ok(hex::encode(hasher.finalize()))
    })
    .await?;
    Ok((size, sha256))
}

/// fsyncs a directory, so the entries created or renamed in it survive a crash.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Creates `dir` and any missing parents, fsyncing each parent that gained an entry.
fn create_dir_durable(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_dir_durable(parent)?;
    }
    match std::fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => return Err(e),
    }
    if let Some(parent) = dir.parent() {
        sync_dir(parent)?;
    }
    Ok(())
}

fn remove_if_present(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Moves `from` to `to` unless `to` exists; returns whether it moved. Durable on return.
fn move_no_clobber(from: &Path, to: &Path) -> Result<bool, BlobError> {
    let dir = to
        .parent()
        .ok_or_else(|| BlobError::InvalidKey(format!("{} has no parent", to.display())))?;
    create_dir_durable(dir)?;
    // A hard link fails when the target exists, so two promotions of the same bytes cannot
    // both claim to have created it.
    let created = match std::fs::hard_link(from, to) {
        Ok(()) => true,
        Err(e) if e.kind() == ErrorKind::AlreadyExists => false,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Err(BlobError::NotFound(from.display().to_string()))
        }
        // Filesystems without hard links: check, then rename.
        Err(_) if to.exists() => false,
        Err(_) => {
            std::fs::rename(from, to)?;
            sync_dir(dir)?;
            if let Some(from_dir) = from.parent() {
                sync_dir(from_dir)?;
            }
            return Ok(true);
        }
    };
    if created {
        sync_dir(dir)?;
    }
    remove_if_present(from)?;
    Ok(created)
}

fn meta_of(key: BlobKey, metadata: &std::fs::Metadata) -> BlobMeta {
    let modified = metadata
        .modified()
        .map(chrono::DateTime::<chrono::Utc>::from)
        .unwrap_or_else(|_| chrono::Utc::now());
    BlobMeta {
        key,
        size: metadata.len(),
        modified,
    }
}

/// Walks `dir` (under `root`) collecting every file whose key starts with `prefix`.
fn walk(root: &Path, dir: &Path, prefix: &str, out: &mut Vec<BlobMeta>) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        let file_type = entry.file_type()?;
        if file_type.is_dir() {
            walk(root, &path, prefix, out)?;
        } else if file_type.is_file() {
            let Some(key) = path
                .strip_prefix(root)
                .ok()
                .and_then(|rel| rel.to_str())
                .map(|rel| rel.replace(std::path::MAIN_SEPARATOR, "/"))
            else {
                continue;
            };
            if !key.starts_with(prefix) {
                continue;
            }
            // Files that are not valid keys were not written by this store.
            let Ok(key) = BlobKey::new(&key) else {
                continue;
            };
            match entry.metadata() {
                Ok(metadata) => out.push(meta_of(key, &metadata)),
                // Deleted while we walked.
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

#[async_trait::async_trait]
impl BlobStore for FsStore {
    fn local_file(&self, key: &BlobKey) -> Option<PathBuf> {
        Some(self.path(key))
    }

    fn kind(&self) -> &'static str {
        "fs"
    }

    async fn stage(&self, body: ByteStream, limit: u64) -> Result<Staged, BlobError> {
        self.stage_stream(body, limit).await
    }

    /// Moves the file into `staging/` when it is on the same filesystem (no copy), else copies.
    async fn stage_file(&self, path: &Path, size: u64, sha256: &str) -> Result<Staged, BlobError> {
        let key = BlobKey::staging();
        let target = self.path(&key);
        match tokio::fs::rename(path, &target).await {
            Ok(()) => Ok(Staged {
                key,
                size,
                sha256: sha256.to_owned(),
            }),
            Err(e) if e.kind() == ErrorKind::CrossesDevices => {
                let file = tokio::fs::File::open(path).await?;
                let body = ReaderStream::with_capacity(file, 256 * 1024).map_err(BlobError::from);
                let staged = self.stage_stream(body, size).await?;
                let _ = tokio::fs::remove_file(path).await;
                Ok(staged)
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn stage_concat(&self, parts: &[BlobKey], limit: u64) -> Result<Staged, BlobError> {
        self.stage_stream(concat_parts(self, parts), limit).await
    }

    async fn promote(&self, staged: &Staged, target: &BlobKey) -> Result<bool, BlobError> {
        let (from, to) = (self.path(&staged.key), self.path(target));
        let created = blocking(move || move_no_clobber(&from, &to)).await?;
        tracing::debug!(staged = %staged.key, target = %target, created, "promoted blob");
        Ok(created)
    }

    async fn put(&self, key: &BlobKey, bytes: Bytes, _content_type: &str) -> Result<(), BlobError> {
        let temp = self.path(&BlobKey::staging());
        let target = self.path(key);
        blocking(move || {
            let guard = RemoveOnDrop(Some(temp.clone()));
            let mut file = std::fs::File::create_new(&temp)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            let dir = target.parent().ok_or_else(|| {
                BlobError::InvalidKey(format!("{} has no parent", target.display()))
            })?;
            create_dir_durable(dir)?;
            std::fs::rename(&temp, &target)?;
            guard.disarm();
            sync_dir(dir)?;
            Ok(())
        })
        .await
    }

    async fn get(
        &self,
        key: &BlobKey,
        range: Option<(u64, Option<u64>)>,
    ) -> Result<BlobRead, BlobError> {
        let mut file = match tokio::fs::File::open(self.path(key)).await {
            Ok(file) => file,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(BlobError::NotFound(key.to_string()))
            }
            Err(e) => return Err(e.into()),
        };
        let metadata = file.metadata().await?;
        if !metadata.is_file() {
            return Err(BlobError::NotFound(key.to_string()));
        }
        let total_size = metadata.len();
        let served = resolve_range(total_size, range)?;
        let stream = match served {
            Some((start, end)) => {
                file.seek(SeekFrom::Start(start)).await?;
                ReaderStream::with_capacity(file.take(end - start + 1), READ_CHUNK)
                    .map(|chunk| chunk.map_err(BlobError::from))
                    .boxed()
            }
            None => ReaderStream::with_capacity(file, READ_CHUNK)
                .map(|chunk| chunk.map_err(BlobError::from))
                .boxed(),
        };
        Ok(BlobRead {
            stream,
            total_size,
            range: served,
        })
    }

    async fn head(&self, key: &BlobKey) -> Result<Option<BlobMeta>, BlobError> {
        match tokio::fs::metadata(self.path(key)).await {
            Ok(metadata) if metadata.is_file() => Ok(Some(meta_of(key.clone(), &metadata))),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn delete(&self, key: &BlobKey) -> Result<(), BlobError> {
        match tokio::fs::remove_file(self.path(key)).await {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<BlobMeta>, BlobError> {
        validate_prefix(prefix)?;
        let root = self.root.clone();
        // Start at the deepest directory the prefix names whole.
        let start = match prefix.rfind('/') {
            Some(i) => root.join(&prefix[..i]),
            None => root.clone(),
        };
        let prefix = prefix.to_owned();
        blocking(move || {
            let mut out = Vec::new();
            walk(&root, &start, &prefix, &mut out)?;
            out.sort_by(|a, b| a.key.cmp(&b.key));
            Ok(out)
        })
        .await
    }
}
