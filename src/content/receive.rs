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

/// A thread that starts writing a buffered file's data back to disk every `WRITEBACK_EVERY`
/// bytes (at most one request waits), so the final sync finds little left to do.
struct Writeback {
    kick: std::sync::mpsc::SyncSender<()>,
    thread: std::thread::JoinHandle<std::io::Result<()>>,
    kicked_at: u64,
}

impl Writeback {
    fn start(file: std::fs::File) -> Self {
        let (kick, kicks) = std::sync::mpsc::sync_channel::<()>(1);
        let thread = std::thread::spawn(move || {
            while kicks.recv().is_ok() {
                start_writeback(&file)?;
            }
            Ok(())
        });
        Writeback {
            kick,
            thread,
            kicked_at: 0,
        }
    }

    /// `size` bytes are written so far.
    fn wrote(&mut self, size: u64) {
        if size - self.kicked_at >= WRITEBACK_EVERY {
            self.kicked_at = size;
            // One request already waiting covers this one too.
            let _ = self.kick.try_send(());
        }
    }

    /// Once the last write-back started.
    fn finish(self) -> std::io::Result<()> {
        drop(self.kick);
        self.thread
            .join()
            .map_err(|_| std::io::Error::other("the write-back thread failed"))?
    }
}

/// Direct writes (`O_DIRECT`) of a large body: its bytes go from two reused buffers straight
/// to disk, one buffer filling while a thread writes the other. Buffered writes of a large
/// body would need as many fresh pages of page cache, and in a virtual machine memory the
/// guest has not touched lately can take many times longer to write the first time; it would
/// also push everything else out of the cache.
#[cfg(target_os = "linux")]
mod direct {
    use std::alloc::{alloc_zeroed, dealloc, handle_alloc_error, Layout};
    use std::fs::File;
    use std::os::unix::fs::{FileExt, OpenOptionsExt};
    use std::path::Path;
    use std::ptr::NonNull;
    use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
    use std::thread::JoinHandle;

    use bytes::Bytes;

    /// Bytes gathered for one write.
    const BLOCK: usize = 4 << 20;
    /// Direct writes start, end and read from memory at multiples of this.
    const ALIGN: usize = 4096;

    pub(super) struct Direct {
        filling: Buffer,
        len: usize,
        /// Where `filling` starts in the file.
        offset: u64,
        writes: SyncSender<(Buffer, u64)>,
        spare: Receiver<Buffer>,
        /// The writing thread, which hands its [`Blocks`] back when it ends.
        writer: Option<JoinHandle<std::io::Result<Blocks>>>,
    }

    /// Where whole blocks are written: straight to disk, or through the page cache once the
    /// system refused a direct write. A file system may accept `O_DIRECT` at open and still
    /// refuse writes aligned to `ALIGN` (a device whose blocks are larger): the block then
    /// goes through the page cache, as does everything after it, rather than failing the
    /// upload.
    struct Blocks {
        direct: Option<File>,
        cached: File,
    }

    impl Blocks {
        fn write(&mut self, bytes: &[u8], at: u64) -> std::io::Result<()> {
            if let Some(direct) = &self.direct {
                match direct.write_all_at(bytes, at) {
                    Ok(()) => return Ok(()),
                    // Refused before anything was written; and written again whole below
                    // in any case.
                    Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                        tracing::warn!(
                            error = %e,
                            "direct writes refused; the upload goes on through the page cache"
                        );
                        self.direct = None;
                    }
                    Err(e) => return Err(e),
                }
            }
            self.cached.write_all_at(bytes, at)?;
            super::start_writeback(&self.cached)
        }
    }

    impl Direct {
        /// Direct writes of the file at `path` from byte `size` on (`cached` has the bytes so
        /// far); `None` where the file system refuses them, which leaves buffered writes.
        pub(super) fn start(
            path: &Path,
            cached: &File,
            size: u64,
        ) -> std::io::Result<Option<Self>> {
            let file = match std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_DIRECT)
                .open(path)
            {
                Ok(file) => file,
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => return Ok(None),
                Err(e) => return Err(e),
            };
            // The block the bytes so far end in is written again, whole.
            let offset = size - size % ALIGN as u64;
            let len = (size - offset) as usize;
            let mut filling = Buffer::new();
            cached.read_exact_at(&mut filling[..len], offset)?;
            let (writes, to_write) = sync_channel::<(Buffer, u64)>(1);
            let (give_back, spare) = sync_channel::<Buffer>(2);
            give_back
                .send(Buffer::new())
                .map_err(|_| std::io::Error::other("the spare buffer was refused"))?;
            let mut blocks = Blocks {
                direct: Some(file),
                cached: cached.try_clone()?,
            };
            let writer = std::thread::Builder::new()
                .name("upload-writer".into())
                .spawn(move || {
                    while let Ok((buffer, at)) = to_write.recv() {
                        blocks.write(&buffer, at)?;
                        // Refused only once the filling side is gone.
                        let _ = give_back.send(buffer);
                    }
                    Ok(blocks)
                })?;
            Ok(Some(Direct {
                filling,
                len,
                offset,
                writes,
                spare,
                writer: Some(writer),
            }))
        }

        pub(super) fn push(&mut self, chunks: &[Bytes]) -> std::io::Result<()> {
            for chunk in chunks {
                let mut rest = &chunk[..];
                while !rest.is_empty() {
                    let n = rest.len().min(BLOCK - self.len);
                    self.filling[self.len..self.len + n].copy_from_slice(&rest[..n]);
                    self.len += n;
                    rest = &rest[n..];
                    if self.len == BLOCK {
                        self.hand_over()?;
                    }
                }
            }
            Ok(())
        }

        /// Gives the full buffer to the writing thread and takes the other one back.
        fn hand_over(&mut self) -> std::io::Result<()> {
            let Ok(next) = self.spare.recv() else {
                return Err(self.stopped());
            };
            let full = std::mem::replace(&mut self.filling, next);
            if self.writes.send((full, self.offset)).is_err() {
                return Err(self.stopped());
            }
            self.offset += BLOCK as u64;
            self.len = 0;
            Ok(())
        }

        /// The writing thread's error, once it stopped early (it closed its channels, so it
        /// has ended or is about to).
        fn stopped(&mut self) -> std::io::Error {
            match self.writer.take().map(JoinHandle::join) {
                Some(Ok(Err(e))) => e,
                _ => std::io::Error::other("the upload's writing thread stopped"),
            }
        }

        /// Writes what is left: the whole blocks directly, the last partial one through
        /// `cached` (direct writes are whole blocks).
        pub(super) fn finish(mut self, cached: &File) -> std::io::Result<()> {
            // Closing its channels lets the writing thread end once it wrote what it has.
            drop(self.writes);
            drop(self.spare);
            let mut blocks = match self.writer.take().map(JoinHandle::join) {
                Some(Ok(blocks)) => blocks?,
                _ => return Err(std::io::Error::other("the upload's writing thread failed")),
            };
            let (filling, len, offset) = (&self.filling, self.len, self.offset);
            let whole = len - len % ALIGN;
            blocks.write(&filling[..whole], offset)?;
            cached.write_all_at(&filling[whole..len], offset + whole as u64)?;
            Ok(())
        }
    }

    /// `BLOCK` bytes aligned for direct writes.
    struct Buffer(NonNull<u8>);

    // SAFETY: the buffer is owned memory with no shared state; only its owner touches it.
    unsafe impl Send for Buffer {}

    impl Buffer {
        fn layout() -> Layout {
            // BLOCK and ALIGN are fixed, non-zero, and ALIGN is a power of two.
            Layout::from_size_align(BLOCK, ALIGN).expect("a valid layout")
        }

        fn new() -> Self {
            let layout = Self::layout();
            // SAFETY: the layout has a non-zero size.
            let ptr = unsafe { alloc_zeroed(layout) };
            Buffer(NonNull::new(ptr).unwrap_or_else(|| handle_alloc_error(layout)))
        }
    }

    impl std::ops::Deref for Buffer {
        type Target = [u8];
        fn deref(&self) -> &[u8] {
            // SAFETY: BLOCK initialised (zeroed) bytes, owned by `self` for its lifetime.
            unsafe { std::slice::from_raw_parts(self.0.as_ptr(), BLOCK) }
        }
    }

    impl std::ops::DerefMut for Buffer {
        fn deref_mut(&mut self) -> &mut [u8] {
            // SAFETY: as in `deref`, and `&mut self` makes the borrow unique.
            unsafe { std::slice::from_raw_parts_mut(self.0.as_ptr(), BLOCK) }
        }
    }

    impl Drop for Buffer {
        fn drop(&mut self) {
            // SAFETY: allocated in `new` with this layout, and freed only here.
            unsafe { dealloc(self.0.as_ptr(), Self::layout()) }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn a_refused_direct_write_goes_through_the_page_cache() {
            // On the project's own disk: a temporary folder may be in memory, which refuses
            // direct writes at open.
            let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
            std::fs::create_dir_all(&base).unwrap();
            let dir = tempfile::tempdir_in(base).unwrap();
            let path = dir.path().join("blocks");
            let cached = File::options()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(&path)
                .unwrap();
            let direct = File::options()
                .write(true)
                .custom_flags(libc::O_DIRECT)
                .open(&path)
                .expect("the target folder's file system takes direct writes");
            let mut blocks = Blocks {
                direct: Some(direct),
                cached: cached.try_clone().unwrap(),
            };
            let mut buffer = Buffer::new();
            for (i, b) in buffer.iter_mut().enumerate() {
                *b = (i % 251) as u8;
            }
            let block = &buffer[..ALIGN];
            blocks.write(block, 0).unwrap();
            assert!(
                blocks.direct.is_some(),
                "an aligned block is written directly"
            );
            // No device has blocks of one byte: refused, as a device with blocks larger than
            // `ALIGN` refuses an offset aligned to `ALIGN`.
            let odd = ALIGN as u64 + 1;
            blocks.write(block, odd).unwrap();
            assert!(blocks.direct.is_none(), "direct writes stop once refused");
            blocks.write(block, odd + ALIGN as u64).unwrap();
            let mut expected = block.to_vec();
            expected.push(0);
            expected.extend_from_slice(block);
            expected.extend_from_slice(block);
            assert_eq!(std::fs::read(&path).unwrap(), expected);
        }
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

/// Starts writing the file's dirty pages to disk without waiting for them or flushing the
/// disk's cache (the final sync does both, and finds little left). An `fsync` here instead
/// would commit the journal and flush the disk every time.
#[cfg(target_os = "linux")]
fn start_writeback(file: &std::fs::File) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: the descriptor is open for as long as `file` is borrowed, and the call only
    // reads its arguments.
    let rc = unsafe { libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(file: &std::fs::File) -> std::io::Result<()> {
    file.sync_data()
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
