//! Writing a buffered file's pages back to disk while it grows, so the final sync finds
//! little left to do.

/// Written bytes between two starts of writing them back to disk.
pub(super) const WRITEBACK_EVERY: u64 = 32 << 20;

/// A thread that starts writing a buffered file's data back to disk every `WRITEBACK_EVERY`
/// bytes (at most one request waits), so the final sync finds little left to do.
pub(super) struct Writeback {
    kick: std::sync::mpsc::SyncSender<()>,
    thread: std::thread::JoinHandle<std::io::Result<()>>,
    kicked_at: u64,
}

impl Writeback {
    pub(super) fn start(file: std::fs::File) -> Self {
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
    pub(super) fn wrote(&mut self, size: u64) {
        if size - self.kicked_at >= WRITEBACK_EVERY {
            self.kicked_at = size;
            // One request already waiting covers this one too.
            let _ = self.kick.try_send(());
        }
    }

    /// Once the last write-back started.
    pub(super) fn finish(self) -> std::io::Result<()> {
        drop(self.kick);
        self.thread
            .join()
            .map_err(|_| std::io::Error::other("the write-back thread failed"))?
    }
}

/// Starts writing the file's dirty pages to disk without waiting for them or flushing the
/// disk's cache (the final sync does both, and finds little left). An `fsync` here instead
/// would commit the journal and flush the disk every time.
#[cfg(target_os = "linux")]
pub(super) fn start_writeback(file: &std::fs::File) -> std::io::Result<()> {
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
pub(super) fn start_writeback(file: &std::fs::File) -> std::io::Result<()> {
    file.sync_data()
}
