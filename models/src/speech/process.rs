//! Running espeak-ng and ffmpeg: no shell, input on stdin, bounded output, killed on timeout.

use std::ffi::OsStr;
use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::SpeechError;
use crate::media::tool::{join, read_capped, wait_with_deadline, STDERR_CAP};

/// What a finished program left behind (the media tools' type).
pub(crate) use crate::media::tool::ToolOutput as Output;

/// A started program that is being fed its input.
pub(crate) struct Running {
    tool: &'static str,
    child: Child,
    deadline: Instant,
    timeout: Duration,
    stdin: Option<JoinHandle<()>>,
    stdout: Option<JoinHandle<(Vec<u8>, bool)>>,
    stderr: Option<JoinHandle<(Vec<u8>, bool)>>,
}

/// Starts `tool` with `args`, writing `input` to its stdin on a thread of its own. The clock for
/// `timeout` starts now.
pub(crate) fn spawn<S: AsRef<OsStr>>(
    tool: &'static str,
    args: &[S],
    input: Vec<u8>,
    timeout: Duration,
    stdout_cap: usize,
) -> Result<Running, SpeechError> {
    let mut child = match Command::new(tool)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(SpeechError::ToolMissing { tool })
        }
        Err(e) => return Err(SpeechError::Io(e)),
    };
    let deadline = Instant::now() + timeout;
    // Each pipe gets its own thread so that neither side can block the other on a full pipe.
    // A program that exits early closes its stdin; the write error that follows is expected and
    // the exit status tells the story.
    let stdin = child.stdin.take().map(|mut pipe| {
        thread::spawn(move || {
            let _ = pipe.write_all(&input);
        })
    });
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

impl Running {
    /// Waits for the program to exit; at the deadline kills it and returns a timeout error.
    pub fn finish(mut self) -> Result<Output, SpeechError> {
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
            None => Err(SpeechError::ToolTimeout {
                tool: self.tool,
                timeout: self.timeout,
            }),
        }
    }
}

/// A program abandoned before `finish` (an earlier clause failed, say) is killed and reaped
/// rather than left running or as a zombie.
impl Drop for Running {
    fn drop(&mut self) {
        // After `finish` the child is already reaped: kill then does nothing and wait returns
        // the saved status.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `tool` to completion: [`spawn`] then [`Running::finish`].
pub(crate) fn run<S: AsRef<OsStr>>(
    tool: &'static str,
    args: &[S],
    input: Vec<u8>,
    timeout: Duration,
    stdout_cap: usize,
) -> Result<Output, SpeechError> {
    spawn(tool, args, input, timeout, stdout_cap)?.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_program_is_tool_missing() {
        let e = run(
            "tessera-no-such-program",
            &[] as &[&str],
            Vec::new(),
            Duration::from_secs(5),
            1024,
        )
        .err();
        assert!(
            matches!(
                e,
                Some(SpeechError::ToolMissing {
                    tool: "tessera-no-such-program"
                })
            ),
            "{e:?}"
        );
    }

    #[test]
    fn stdin_reaches_the_program_and_output_is_capped() {
        let out = run(
            "cat",
            &[] as &[&str],
            vec![7u8; 200_000],
            Duration::from_secs(10),
            1000,
        )
        .expect("cat runs");
        assert!(out.status.success());
        assert_eq!(out.stdout.len(), 1000);
        assert!(out.stdout_overflowed);
    }

    #[test]
    fn a_program_past_its_deadline_is_killed() {
        let started = Instant::now();
        let e = run(
            "sleep",
            &["30"],
            Vec::new(),
            Duration::from_millis(200),
            1024,
        )
        .err();
        assert!(
            matches!(e, Some(SpeechError::ToolTimeout { tool: "sleep", .. })),
            "{e:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
