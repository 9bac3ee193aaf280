//! Receiving a body into a local file: written and hashed on a blocking thread, with a small
//! bounded queue between the socket and the disk, so a slow disk slows the client down instead
//! of growing memory, and an oversized body is cut off at the first byte past the limit.

use std::io::Write;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

/// Chunks in flight between the socket and the writer.
const QUEUE: usize = 16;

/// What was received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub size: u64,
    pub sha256: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    #[error("the body is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the body ended early or could not be read: {0}")]
    Body(String),
    #[error("writing the upload failed: {0}")]
    Io(#[from] std::io::Error),
}

/// A temporary file removed on drop unless kept.
pub struct TempFile {
    path: PathBuf,
    keep: bool,
}

impl TempFile {
    /// A fresh path in `dir` (created if needed).
    pub fn new_in(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(Self {
            path: dir.join(format!("upload-{}", uuid::Uuid::new_v4())),
            keep: false,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Hands the file over (it was moved elsewhere).
    pub fn keep(mut self) -> PathBuf {
        self.keep = true;
        self.path.clone()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Writes `body` to `file` (created or appended to from byte 0 of a fresh file), failing as
/// soon as it exceeds `limit` bytes.
pub async fn receive<S, E>(
    mut body: S,
    file: &TempFile,
    limit: u64,
) -> Result<Received, ReceiveError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let (tx, mut rx) = mpsc::channel::<Bytes>(QUEUE);
    let path = file.path().to_owned();
    let writer = tokio::task::spawn_blocking(move || -> std::io::Result<Received> {
        let f = std::fs::File::create(&path)?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, f);
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        while let Some(chunk) = rx.blocking_recv() {
            hasher.update(&chunk);
            out.write_all(&chunk)?;
            size += chunk.len() as u64;
        }
        let f = out.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        Ok(Received {
            size,
            sha256: hex::encode(hasher.finalize()),
        })
    });
    let mut seen = 0u64;
    let outcome: Result<(), ReceiveError> = async {
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| ReceiveError::Body(e.to_string()))?;
            seen += chunk.len() as u64;
            if seen > limit {
                return Err(ReceiveError::TooLarge { limit });
            }
            if tx.send(chunk).await.is_err() {
                // The writer stopped: its own error is reported below.
                break;
            }
        }
        Ok(())
    }
    .await;
    drop(tx);
    let written = writer
        .await
        .map_err(|e| ReceiveError::Io(std::io::Error::other(e.to_string())))?;
    outcome?;
    Ok(written?)
}
