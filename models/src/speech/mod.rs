//! Speech synthesis: text to phonemes (espeak-ng, a subprocess) to speech (Piper), and the
//! encoders that turn speech into WAV, Opus or MP3 bytes.

pub mod encode;
pub mod phonemes;
pub mod piper;

use std::time::Duration;

use crate::process::ProcessError;
use crate::runtime::RuntimeError;

pub use encode::{encode, AudioFormat};
pub use phonemes::{Clause, ClauseEnd, Phonemizer, Sentence, MAX_TEXT_CHARS};
pub use piper::{PiperVoice, Speech, SynthOptions, SynthRequest, VoiceConfig};

/// What can go wrong between text and encoded speech.
#[derive(Debug, thiserror::Error)]
pub enum SpeechError {
    /// The text is longer than synthesis accepts.
    #[error("text is {chars} characters long, over the limit of {limit}")]
    TextTooLong {
        /// Its length in characters.
        chars: usize,
        /// The limit in force.
        limit: usize,
    },
    /// The text has characters, but none that espeak-ng can pronounce.
    #[error("the text has nothing that can be spoken (no phonemes for any of it)")]
    NothingToSay,
    /// The espeak voice name is not one that can be passed safely.
    #[error("invalid espeak-ng voice name {0:?}")]
    InvalidVoice(String),
    /// The voice's `.onnx.json` is missing or malformed.
    #[error("voice config {path}: {message}")]
    Config {
        /// The config file.
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// A required program is not installed.
    #[error(
        "`{tool}` was not found; install it with `apt-get install {}`",
        package_of(tool)
    )]
    ToolMissing {
        /// The program's name.
        tool: &'static str,
    },
    /// ffmpeg lacks the encoder a format needs.
    #[error(
        "ffmpeg has no `{encoder}` encoder; install Debian's `ffmpeg` package, which includes it"
    )]
    EncoderMissing {
        /// The encoder's name in ffmpeg.
        encoder: &'static str,
    },
    /// A program ran past its time limit and was killed.
    #[error("`{tool}` did not finish within {} s", timeout.as_secs_f64())]
    ToolTimeout {
        /// The program's name.
        tool: &'static str,
        /// The limit in force.
        timeout: Duration,
    },
    /// A program failed or wrote something unusable.
    #[error("`{tool}` failed: {message}")]
    ToolFailed {
        /// The program's name.
        tool: &'static str,
        /// Its diagnostic.
        message: String,
    },
    /// Writing the audio failed.
    #[error("cannot encode audio: {0}")]
    Encode(String),
    /// Loading or running the model failed.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// Starting a program or talking to it failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

fn package_of(tool: &str) -> &'static str {
    match tool {
        "espeak-ng" => "espeak-ng",
        _ => "ffmpeg",
    }
}

impl From<ProcessError> for SpeechError {
    fn from(e: ProcessError) -> Self {
        match e {
            ProcessError::Missing { tool } => SpeechError::ToolMissing { tool },
            ProcessError::Timeout { tool, timeout } => SpeechError::ToolTimeout { tool, timeout },
            ProcessError::Io(e) => SpeechError::Io(e),
        }
    }
}

impl SpeechError {
    /// True when the request itself is at fault (a 4xx), false when the server is.
    pub fn is_client_error(&self) -> bool {
        matches!(
            self,
            SpeechError::TextTooLong { .. } | SpeechError::NothingToSay
        )
    }
}
