//! Receiving a body into a local file: written and hashed on a blocking thread, with a small
//! bounded queue between the socket and the disk, so a slow disk slows the client down instead
//! of growing memory, and an oversized body is cut off at the first byte past the limit.

use std::io::{IoSlice, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

/// Chunks in flight between the socket and the writer.
const QUEUE: usize = 16;
/// From this size on, a body is hashed on a second thread and written back as it arrives.
const LARGE_BODY: u64 = 8 << 20;
/// Written bytes between two starts of writing them back to disk.
const WRITEBACK_EVERY: u64 = 32 << 20;

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
        let mut out = std::fs::File::create(&path)?;
        // A large body is hashed on a thread of its own while this one writes, and its pages
        // go to disk as it arrives rather than all in the final sync.
        let mut hashing = Hashing::Inline(Sha256::new());
        let mut size = 0u64;
        let mut kicked_at = 0u64;
        let mut batch: Vec<Bytes> = Vec::with_capacity(QUEUE);
        while let Some(chunk) = rx.blocking_recv() {
            // Whatever else is queued goes in the same write, straight from the chunks.
            batch.push(chunk);
            while batch.len() < QUEUE {
                match rx.try_recv() {
                    Ok(more) => batch.push(more),
                    Err(_) => break,
                }
            }
            size += batch.iter().map(|c| c.len() as u64).sum::<u64>();
            match &mut hashing {
                Hashing::Inline(hasher) => batch.iter().for_each(|c| hasher.update(c)),
                Hashing::Helped(helpers) => helpers.hash(batch.clone()),
            }
            write_all(&mut out, &batch)?;
            batch.clear();
            hashing = match hashing {
                Hashing::Inline(hasher) if size >= LARGE_BODY => {
                    Hashing::Helped(Helpers::start(hasher, out.try_clone()?))
                }
                other => other,
            };
            if let Hashing::Helped(helpers) = &hashing {
                if size - kicked_at >= WRITEBACK_EVERY {
                    kicked_at = size;
                    helpers.write_back();
                }
            }
        }
        let digest = match hashing {
            Hashing::Inline(hasher) => hasher.finalize().to_vec(),
            Hashing::Helped(helpers) => helpers.finish()?,
        };
        out.sync_all()?;
        Ok(Received {
            size,
            sha256: hex::encode(digest),
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

/// Where a body is hashed: on the writer's thread, or (a large body) by [`Helpers`].
enum Hashing {
    Inline(Sha256),
    Helped(Helpers),
}

/// The threads that help with a large body: one hashes the chunks in order while the writer
/// writes them; one syncs the file's data so far whenever asked (at most one sync waits), so
/// the final sync finds little left to do.
struct Helpers {
    chunks: std::sync::mpsc::SyncSender<Vec<Bytes>>,
    hashed: std::thread::JoinHandle<Vec<u8>>,
    kick: std::sync::mpsc::SyncSender<()>,
    synced: std::thread::JoinHandle<std::io::Result<()>>,
}

impl Helpers {
    fn start(mut hasher: Sha256, file: std::fs::File) -> Self {
        let (chunks, rx) = std::sync::mpsc::sync_channel::<Vec<Bytes>>(4);
        let hashed = std::thread::spawn(move || {
            while let Ok(batch) = rx.recv() {
                batch.iter().for_each(|c| hasher.update(c));
            }
            hasher.finalize().to_vec()
        });
        let (kick, kicks) = std::sync::mpsc::sync_channel::<()>(1);
        let synced = std::thread::spawn(move || {
            while kicks.recv().is_ok() {
                file.sync_data()?;
            }
            Ok(())
        });
        Helpers {
            chunks,
            hashed,
            kick,
            synced,
        }
    }

    fn hash(&self, batch: Vec<Bytes>) {
        // The hasher only stops when the channel closes, so this cannot fail.
        let _ = self.chunks.send(batch);
    }

    fn write_back(&self) {
        // One sync already waiting covers this one too.
        let _ = self.kick.try_send(());
    }

    /// The digest, once every chunk is hashed and the last sync ended.
    fn finish(self) -> std::io::Result<Vec<u8>> {
        drop(self.chunks);
        drop(self.kick);
        let joined = |what: &str| std::io::Error::other(format!("the {what} thread failed"));
        let digest = self.hashed.join().map_err(|_| joined("hashing"))?;
        self.synced.join().map_err(|_| joined("sync"))??;
        Ok(digest)
    }
}

/// Writes every chunk, in order, with as few system calls as the kernel allows.
fn write_all(out: &mut std::fs::File, chunks: &[Bytes]) -> std::io::Result<()> {
    let mut slices: Vec<IoSlice<'_>> = chunks.iter().map(|c| IoSlice::new(c)).collect();
    let mut rest = &mut slices[..];
    IoSlice::advance_slices(&mut rest, 0);
    while !rest.is_empty() {
        match out.write_vectored(rest) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut rest, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_body_in_uneven_chunks_is_written_and_hashed_whole() {
        const { assert!(LARGE_BODY + WRITEBACK_EVERY < 48_000_000) };
        let dir = tempfile::tempdir().unwrap();
        let file = TempFile::new_in(dir.path()).unwrap();
        // Past the size where hashing moves to its own thread and the data is written back
        // as it comes.
        let data: Vec<u8> = (0..48_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
        // Sizes from empty to larger than a batch, so writes are split and resumed.
        let mut chunks = Vec::new();
        let (mut at, mut n) = (0, 0usize);
        while at < data.len() {
            let len = [0, 1, 4096, 65_537, 700_000, 3_000_000][n % 6].min(data.len() - at);
            chunks.push(Ok::<_, std::io::Error>(Bytes::copy_from_slice(
                &data[at..at + len],
            )));
            at += len;
            n += 1;
        }
        let received = receive(futures_util::stream::iter(chunks), &file, u64::MAX)
            .await
            .unwrap();
        assert_eq!(received.size, data.len() as u64);
        assert_eq!(received.sha256, hex::encode(Sha256::digest(&data)));
        assert_eq!(std::fs::read(file.path()).unwrap(), data);
    }

    #[tokio::test]
    async fn a_body_past_the_limit_is_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let file = TempFile::new_in(dir.path()).unwrap();
        let chunks = (0..10).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![1u8; 1000])));
        let err = receive(futures_util::stream::iter(chunks), &file, 4500)
            .await
            .unwrap_err();
        assert!(
            matches!(err, ReceiveError::TooLarge { limit: 4500 }),
            "{err}"
        );
    }
}
