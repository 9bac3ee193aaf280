//! Receiving a body into a local file: written and hashed on a blocking thread, with a small
//! bounded queue between the socket and the disk, so a slow disk slows the client down instead
//! of growing memory, and an oversized body is cut off at the first byte past the limit.

use std::io::{IoSlice, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use writeback::Writeback;

#[cfg(target_os = "linux")]
mod direct;
mod writeback;

/// Chunks in flight between the socket and the writer.
const QUEUE: usize = 16;
/// From this size on, a body is hashed on a second thread and written back as it arrives.
const LARGE_BODY: u64 = 8 << 20;

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
        // Read as well: the switch to direct writes takes back the last partial block.
        let mut out = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)?;
        // A large body is hashed on a thread of its own while this one writes, and goes
        // straight to disk where the system allows it (else its pages are written back as it
        // arrives rather than all in the final sync).
        let mut hashing = Hashing::Inline(Sha256::new());
        let mut sink = Sink::Buffered;
        let mut size = 0u64;
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
                Hashing::Threaded(thread) => thread.hash(batch.clone()),
            }
            match &mut sink {
                Sink::Direct(direct) => direct.push(&batch)?,
                Sink::Buffered | Sink::WrittenBack(_) => write_all(&mut out, &batch)?,
            }
            batch.clear();
            hashing = match hashing {
                Hashing::Inline(hasher) if size >= LARGE_BODY => {
                    sink = match direct::Direct::start(&path, &out, size)? {
                        Some(direct) => Sink::Direct(direct),
                        None => Sink::WrittenBack(Writeback::start(out.try_clone()?)),
                    };
                    Hashing::Threaded(HashThread::start(hasher))
                }
                other => other,
            };
            if let Sink::WrittenBack(writeback) = &mut sink {
                writeback.wrote(size);
            }
        }
        match sink {
            Sink::Buffered => {}
            Sink::WrittenBack(writeback) => writeback.finish()?,
            Sink::Direct(direct) => direct.finish(&out)?,
        }
        let digest = match hashing {
            Hashing::Inline(hasher) => hasher.finalize().to_vec(),
            Hashing::Threaded(thread) => thread.finish()?,
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

/// Where a body is hashed: on the writer's thread, or (a large body) on one of its own.
enum Hashing {
    Inline(Sha256),
    Threaded(HashThread),
}

/// Where a body's bytes go: the page cache (a small body, or a large one where direct writes
/// are refused, then written back as it arrives), or straight to disk.
enum Sink {
    Buffered,
    WrittenBack(Writeback),
    Direct(direct::Direct),
}

/// A thread that hashes a large body's chunks, in order, while the writer writes them.
struct HashThread {
    chunks: std::sync::mpsc::SyncSender<Vec<Bytes>>,
    thread: std::thread::JoinHandle<Vec<u8>>,
}

impl HashThread {
    fn start(mut hasher: Sha256) -> Self {
        let (chunks, rx) = std::sync::mpsc::sync_channel::<Vec<Bytes>>(4);
        let thread = std::thread::spawn(move || {
            while let Ok(batch) = rx.recv() {
                batch.iter().for_each(|c| hasher.update(c));
            }
            hasher.finalize().to_vec()
        });
        HashThread { chunks, thread }
    }

    fn hash(&self, batch: Vec<Bytes>) {
        // The hasher only stops when the channel closes, so this cannot fail.
        let _ = self.chunks.send(batch);
    }

    /// The digest, once every chunk is hashed.
    fn finish(self) -> std::io::Result<Vec<u8>> {
        drop(self.chunks);
        self.thread
            .join()
            .map_err(|_| std::io::Error::other("the hashing thread failed"))
    }
}

/// Buffered writes only, where direct writes are not to be had.
#[cfg(not(target_os = "linux"))]
mod direct {
    use std::fs::File;
    use std::path::Path;

    use bytes::Bytes;

    pub(super) enum Direct {}

    impl Direct {
        pub(super) fn start(_: &Path, _: &File, _: u64) -> std::io::Result<Option<Self>> {
            Ok(None)
        }
        pub(super) fn push(&mut self, _: &[Bytes]) -> std::io::Result<()> {
            match *self {}
        }
        pub(super) fn finish(self, _: &File) -> std::io::Result<()> {
            match self {}
        }
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
        const { assert!(LARGE_BODY + writeback::WRITEBACK_EVERY < 48_000_000) };
        // On the project's own disk rather than in a temporary folder that may be in memory,
        // where direct writes are refused and the buffered path is taken instead.
        let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
        std::fs::create_dir_all(&base).unwrap();
        let dir = tempfile::tempdir_in(base).unwrap();
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
