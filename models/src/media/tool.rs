//! Running `ffprobe`/`ffmpeg` as subprocesses: no shell, bounded output, killed on timeout.

use std::ffi::OsString;
use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::MediaError;

/// Most of a tool's stderr kept for error messages.
pub(crate) const STDERR_CAP: usize = 16 * 1024;

pub(crate) struct ToolOutput {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    /// True when stdout was longer than the cap and the rest was discarded.
    pub stdout_overflowed: bool,
    pub stderr: Vec<u8>,
}

impl ToolOutput {
    /// The last line of stderr, for an error message.
    pub fn stderr_summary(&self) -> String {
        let text = String::from_utf8_lossy(&self.stderr);
        text.lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no diagnostic output")
            .trim()
            .to_owned()
    }
}

/// The input argument for a file: the `file:` protocol keeps a name such as `concat:x` or `-y`
/// from being read as a protocol or an option.
pub(crate) fn input_arg(path: &Path) -> OsString {
    let mut arg = OsString::from("file:");
    arg.push(path.as_os_str());
    arg
}

/// Runs `tool` with `args`, keeping at most `stdout_cap` bytes of its output.
pub(crate) fn run(
    tool: &'static str,
    args: &[OsString],
    timeout: Duration,
    stdout_cap: usize,
) -> Result<ToolOutput, MediaError> {
    let mut child = match Command::new(tool)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(MediaError::ToolMissing { tool })
        }
        Err(e) => return Err(MediaError::Io(e)),
    };
    // Both pipes are drained on their own threads so that a chatty tool never blocks on a full
    // pipe while this thread waits for it to exit.
    let stdout = child
        .stdout
        .take()
        .map(|s| thread::spawn(move || read_capped(s, stdout_cap)));
    let stderr = child
        .stderr
        .take()
        .map(|s| thread::spawn(move || read_capped(s, STDERR_CAP)));

    let status = wait_with_deadline(&mut child, Instant::now() + timeout);
    let (out, overflowed) = join(stdout);
    let (err, _) = join(stderr);
    match status? {
        Some(status) => Ok(ToolOutput {
            status,
            stdout: out,
            stdout_overflowed: overflowed,
            stderr: err,
        }),
        None => Err(MediaError::ToolTimeout { tool, timeout }),
    }
}

/// Waits for the child; at the deadline kills and reaps it and returns `None`.
pub(crate) fn wait_with_deadline(
    child: &mut Child,
    deadline: Instant,
) -> std::io::Result<Option<ExitStatus>> {
    let mut pause = Duration::from_millis(2);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        let now = Instant::now();
        if now >= deadline {
            // Killing can only fail if it already exited; reaping afterwards avoids a zombie.
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        }
        thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// Reads to the end, keeping at most `cap` bytes; true when more came.
pub(crate) fn read_capped(mut reader: impl Read, cap: usize) -> (Vec<u8>, bool) {
    let mut kept = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    let mut overflowed = false;
    loop {
        match reader.read(&mut buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = cap.saturating_sub(kept.len());
                if n > room {
                    overflowed = true;
                }
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
    (kept, overflowed)
}

/// What a reader thread kept (nothing when it panicked).
pub(crate) fn join(handle: Option<thread::JoinHandle<(Vec<u8>, bool)>>) -> (Vec<u8>, bool) {
    handle.and_then(|h| h.join().ok()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_program_is_tool_missing() {
        let e = run("tessera-no-such-program", &[], Duration::from_secs(5), 1024).err();
        assert!(
            matches!(
                e,
                Some(MediaError::ToolMissing {
                    tool: "tessera-no-such-program"
                })
            ),
            "{e:?}"
        );
    }

    #[test]
    fn output_beyond_the_cap_is_dropped_and_flagged() {
        let args: Vec<OsString> = vec!["-c".into(), "head -c 100000 /dev/zero".into()];
        let out = run("sh", &args, Duration::from_secs(10), 1000).expect("sh runs");
        assert!(out.status.success());
        assert_eq!(out.stdout.len(), 1000);
        assert!(out.stdout_overflowed);
    }
}
