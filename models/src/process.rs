//! Running external programs (ffprobe, ffmpeg, espeak-ng): no shell, stdin fed from memory or
//! closed, output kept up to a cap, killed and reaped at a deadline, failures as one typed error
//! that each caller maps into its own.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Most of a program's stderr kept for error messages.
pub const STDERR_CAP: usize = 16 * 1024;

/// Why a program did not run to its end.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// The program is not installed.
    #[error("`{tool}` was not found")]
    Missing {
        /// The program's name.
        tool: &'static str,
    },
    /// The program ran past its time limit and was killed.
    #[error("`{tool}` did not finish within {} s", timeout.as_secs_f64())]
    Timeout {
        /// The program's name.
        tool: &'static str,
        /// The limit in force.
        timeout: Duration,
    },
    /// Starting the program or waiting for it failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

/// What a finished program left behind.
#[derive(Debug)]
pub struct Output {
    /// How it exited.
    pub status: ExitStatus,
    /// Its stdout, up to the caller's cap.
    pub stdout: Vec<u8>,
    /// True when stdout was longer than the cap and the rest was discarded.
    pub stdout_overflowed: bool,
    /// Its stderr, up to [`STDERR_CAP`].
    pub stderr: Vec<u8>,
}

impl Output {
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

/// A started program, being fed its input. Dropping it before [`Running::finish`] kills and
/// reaps the program.
#[derive(Debug)]
pub struct Running {
    tool: &'static str,
    child: Child,
    deadline: Instant,
    timeout: Duration,
    stdin: Option<JoinHandle<()>>,
    stdout: Option<JoinHandle<(Vec<u8>, bool)>>,
    stderr: Option<JoinHandle<(Vec<u8>, bool)>>,
}

/// Starts `tool` with `args`. With `input` its stdin is fed that on a thread of its own,
/// without it stdin is closed. The clock for `timeout` starts now; at most `stdout_cap` bytes
/// of stdout are kept.
pub fn spawn<S: AsRef<OsStr>>(
    tool: &'static str,
    args: &[S],
    input: Option<Vec<u8>>,
    timeout: Duration,
    stdout_cap: usize,
) -> Result<Running, ProcessError> {
    let stdin = if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    };
    let mut child = match Command::new(tool)
        .args(args)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ProcessError::Missing { tool })
        }
        Err(e) => return Err(ProcessError::Io(e)),
    };
    let deadline = Instant::now() + timeout;
    // Each pipe gets its own thread so that neither side can block the other on a full pipe.
    // A program that exits early closes its stdin; the write error that follows is expected and
    // the exit status tells the story.
    let stdin = match (child.stdin.take(), input) {
        (Some(mut pipe), Some(input)) => Some(thread::spawn(move || {
            let _ = pipe.write_all(&input);
        })),
        _ => None,
    };
    let stdout = child
        .stdout
        .take()
        .map(|s| thread::spawn(move || read_capped(s, stdout_cap)));
    let stderr = child
        .stderr
        .take()
        .map(|s| thread::spawn(move || read_capped(s, STDERR_CAP)));
    Ok(Running {
        tool,
        child,
        deadline,
        timeout,
        stdin,
        stdout,
        stderr,
    })
}

/// Runs `tool` to its end: [`spawn`] then [`Running::finish`].
pub fn run<S: AsRef<OsStr>>(
    tool: &'static str,
    args: &[S],
    input: Option<Vec<u8>>,
    timeout: Duration,
    stdout_cap: usize,
) -> Result<Output, ProcessError> {
    spawn(tool, args, input, timeout, stdout_cap)?.finish()
}

impl Running {
    /// Waits for the program to exit; at the deadline kills it and returns a timeout error.
    pub fn finish(mut self) -> Result<Output, ProcessError> {
        let status = wait_with_deadline(&mut self.child, self.deadline);
        // After exit (or kill) every pipe is closed, so these joins cannot hang.
        if let Some(h) = self.stdin.take() {
            let _ = h.join();
        }
        let (stdout, stdout_overflowed) = join(self.stdout.take());
        let (stderr, _) = join(self.stderr.take());
        match status? {
            Some(status) => Ok(Output {
                status,
                stdout,
                stdout_overflowed,
                stderr,
            }),
            None => Err(ProcessError::Timeout {
                tool: self.tool,
                timeout: self.timeout,
            }),
        }
    }
}

/// A program abandoned before `finish` (an earlier step failed, say) is killed and reaped
/// rather than left running or as a zombie.
impl Drop for Running {
    fn drop(&mut self) {
        // After `finish` the child is already reaped: kill then does nothing and wait returns
        // the saved status.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Raises the calling thread's niceness by `by` (at most to 19), so that it and the programs
/// it starts, which inherit it, yield the CPU to other work; a failure only costs speed.
pub fn lower_thread_priority(by: i32) {
    use rustix::process::{getpriority_process, setpriority_process};
    let tid = rustix::thread::gettid();
    let result = getpriority_process(Some(tid))
        .and_then(|now| setpriority_process(Some(tid), (now + by).min(19)));
    if let Err(e) = result {
        tracing::debug!(error = %e, "could not lower the thread's priority");
    }
}

/// Waits for the child; at the deadline kills and reaps it and returns `None`.
fn wait_with_deadline(child: &mut Child, deadline: Instant) -> std::io::Result<Option<ExitStatus>> {
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
fn read_capped(mut reader: impl Read, cap: usize) -> (Vec<u8>, bool) {
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
fn join(handle: Option<JoinHandle<(Vec<u8>, bool)>>) -> (Vec<u8>, bool) {
    handle.and_then(|h| h.join().ok()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_program_is_missing() {
        let e = run(
            "tessera-no-such-program",
            &[] as &[&str],
            None,
            Duration::from_secs(5),
            1024,
        )
        .err();
        assert!(
            matches!(
                e,
                Some(ProcessError::Missing {
                    tool: "tessera-no-such-program"
                })
            ),
            "{e:?}"
        );
    }

    #[test]
    fn output_beyond_the_cap_is_dropped_and_flagged() {
        let args = ["-c", "head -c 100000 /dev/zero"];
        let out = run("sh", &args, None, Duration::from_secs(10), 1000).expect("sh runs");
        assert!(out.status.success());
        assert_eq!(out.stdout.len(), 1000);
        assert!(out.stdout_overflowed);
    }

    #[test]
    fn stdin_reaches_the_program_and_output_is_capped() {
        let out = run(
            "cat",
            &[] as &[&str],
            Some(vec![7u8; 200_000]),
            Duration::from_secs(10),
            1000,
        )
        .expect("cat runs");
        assert!(out.status.success());
        assert_eq!(out.stdout.len(), 1000);
        assert!(out.stdout_overflowed);
    }

    #[test]
    fn without_input_stdin_is_closed() {
        let out = run("cat", &[] as &[&str], None, Duration::from_secs(10), 1000).expect("runs");
        assert!(out.status.success());
        assert!(out.stdout.is_empty());
    }

    #[test]
    fn a_program_past_its_deadline_is_killed() {
        let started = Instant::now();
        let e = run("sleep", &["30"], None, Duration::from_millis(200), 1024).err();
        assert!(
            matches!(e, Some(ProcessError::Timeout { tool: "sleep", .. })),
            "{e:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
