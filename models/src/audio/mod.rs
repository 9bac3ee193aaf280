//! Audio pipelines: decoding, resampling to 16 kHz, voice activity, speech recognition.
//!
//! [`transcribe_file`] chains them: decode → 16 kHz mono → Silero VAD → Whisper on the speech.

pub mod decode;
pub mod resample;
pub mod vad;
pub mod whisper;

use std::path::Path;

use crate::runtime::RuntimeError;

pub use decode::{decode_file, AudioLimits, DecodedAudio};
pub use resample::{resample, to_16k, SAMPLE_RATE_16K};
pub use vad::{SileroVad, Span, VadParams};
pub use whisper::{Segment, Transcript, Whisper};

/// What can go wrong in an audio pipeline.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    /// The file could not be opened or read.
    #[error("cannot read audio file {path}: {message}")]
    Unreadable { path: String, message: String },
    /// No supported container or codec was recognised.
    #[error("unsupported audio format: {message}")]
    Unsupported { message: String },
    /// The stream is malformed.
    #[error("the audio stream is corrupt: {message}")]
    Corrupt { message: String },
    /// The audio is longer than the configured limit.
    #[error("the audio is longer than the limit of {max_seconds:.0} s (at least {seconds:.1} s)")]
    TooLong { seconds: f64, max_seconds: f64 },
    /// The stream states no usable sample rate.
    #[error("unsupported sample rate: {rate} Hz")]
    SampleRate { rate: u32 },
    /// Resampling failed.
    #[error("resampling failed: {message}")]
    Resample { message: String },
    /// A model failed.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}

/// Windows Whisper reads at once: VAD spans are grouped into chunks no longer than this.
const CHUNK_SECONDS: f32 = 30.0;

/// Decodes a file, resamples it to 16 kHz, finds speech with the VAD and transcribes the speech.
///
/// VAD first, then Whisper: neighbouring speech spans are packed into chunks of at most 30 s
/// (one encoder run each), so silence costs nothing, Whisper is never asked to transcribe a
/// silent window (where it invents text), and windows start at pauses instead of mid-word. A
/// single span longer than 30 s is handled by Whisper's own timestamp-driven windowing. Times in
/// the transcript are relative to the whole file.
pub fn transcribe_file(
    path: &Path,
    vad: &mut SileroVad,
    whisper: &mut Whisper,
    limits: &AudioLimits,
) -> Result<Transcript, AudioError> {
    let audio = decode_file(path, limits)?;
    let pcm = to_16k(&audio.samples, audio.sample_rate)?;
    transcribe_pcm(&pcm, vad, whisper)
}

/// [`transcribe_file`] on samples already at 16 kHz.
pub fn transcribe_pcm(
    pcm_16k: &[f32],
    vad: &mut SileroVad,
    whisper: &mut Whisper,
) -> Result<Transcript, AudioError> {
    let spans = vad.segments(pcm_16k)?;
    let mut segments = Vec::new();
    for chunk in group_spans(&spans, CHUNK_SECONDS) {
        let rate = SAMPLE_RATE_16K as f32;
        let from = ((chunk.start * rate) as usize).min(pcm_16k.len());
        let to = ((chunk.end * rate).ceil() as usize).clamp(from, pcm_16k.len());
        let offset = from as f32 / rate;
        let part = whisper.transcribe(&pcm_16k[from..to])?;
        for s in part.segments {
            segments.push(Segment {
                start: s.start + offset,
                end: s.end + offset,
                text: s.text,
            });
        }
    }
    Ok(Transcript::from_segments(segments))
}

/// Packs consecutive spans into chunks whose extent stays within `max_seconds` (a longer span is
/// a chunk of its own).
pub fn group_spans(spans: &[Span], max_seconds: f32) -> Vec<Span> {
    let mut out: Vec<Span> = Vec::new();
    for span in spans {
        match out.last_mut() {
            Some(last) if span.end - last.start <= max_seconds => last.end = span.end,
            _ => out.push(*span),
        }
    }
    out
}
