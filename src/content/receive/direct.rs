//! Direct writes (`O_DIRECT`) of a large body: its bytes go from two reused buffers straight
//! to disk, one buffer filling while a thread writes the other. Buffered writes of a large
//! body would need as many fresh pages of page cache, and in a virtual machine memory the
//! guest has not touched lately can take many times longer to write the first time; it would
//! also push everything else out of the cache.

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
        super::writeback::start_writeback(&self.cached)
    }
}

impl Direct {
    /// Direct writes of the file at `path` from byte `size` on (`cached` has the bytes so
    /// far); `None` where the file system refuses them, which leaves buffered writes.
    pub(super) fn start(path: &Path, cached: &File, size: u64) -> std::io::Result<Option<Self>> {
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
