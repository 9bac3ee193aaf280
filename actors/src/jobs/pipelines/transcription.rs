//! Speech: voice activity detection, then Whisper over the stretches of speech, with times.

use std::path::Path;
use std::sync::Arc;

use tessera_events::content::analysis::{self as found, step, SpeechSpan};
use tessera_events::jobs::Provenance;
use tessera_models::audio::{
    decode_file, group_spans, to_16k, Segment, Span, Transcript, SAMPLE_RATE_16K,
};

use super::params::{TRANSCRIPT, VAD};
use super::support::{audio_error, blocking};
use super::{Pipelines, ProgressSink};
use crate::jobs::cache::cached;
use crate::jobs::StepError;

/// Whisper reads at most this many seconds at once; speech is grouped into such windows.
const WINDOW_SECS: f32 = 30.0;

impl Pipelines {
    /// Decodes a local audio file and transcribes it (cached by `sha256` like an upload's
    /// transcript). Answers the audio's length in seconds, the transcript and the provenance.
    pub async fn transcribe_file(
        &self,
        path: &Path,
        sha256: &str,
    ) -> Result<(f64, Transcript, Vec<Provenance>), StepError> {
        let (pcm, duration) = self.decode_16k(path).await?;
        let mut provenance = Vec::new();
        let (_, transcript) = self
            .transcribe(sha256, pcm, &ProgressSink::silent(), &mut provenance)
            .await?;
        Ok((duration, transcript, provenance))
    }

    /// An audio file's samples at 16 kHz, and its length in seconds.
    pub(super) async fn decode_16k(&self, path: &Path) -> Result<(Vec<f32>, f64), StepError> {
        let path = path.to_path_buf();
        let limits = self.options.audio_limits;
        blocking(move || {
            let decoded = decode_file(&path, &limits).map_err(audio_error)?;
            let duration = decoded.duration_seconds();
            let pcm = to_16k(&decoded.samples, decoded.sample_rate).map_err(audio_error)?;
            Ok((pcm, duration))
        })
        .await
    }

    /// VAD then Whisper over 16 kHz samples: speech spans and the transcript with times.
    pub(super) async fn transcribe(
        &self,
        sha256: &str,
        pcm: Vec<f32>,
        progress: &ProgressSink,
        provenance: &mut Vec<Provenance>,
    ) -> Result<(Vec<Span>, Transcript), StepError> {
        progress.report("finding speech", 20).await;
        let pcm = Arc::new(pcm);
        let samples = pcm.clone();
        let (speech, p) = cached(
            self.store.as_ref(),
            sha256,
            step::AUDIO_SPEECH,
            &self.vad.info,
            &VAD,
            async { self.vad.infer(samples.to_vec()).await },
        )
        .await?;
        provenance.push(p);
        progress.report("transcribing", 40).await;
        let chunks = group_spans(&speech, WINDOW_SECS);
        let (transcript, p) = cached(
            self.store.as_ref(),
            sha256,
            step::AUDIO_TRANSCRIPT,
            &self.whisper.info,
            &TRANSCRIPT,
            async {
                let rate = SAMPLE_RATE_16K as f32;
                let mut segments = Vec::new();
                for chunk in &chunks {
                    let from = ((chunk.start * rate) as usize).min(pcm.len());
                    let to = ((chunk.end * rate).ceil() as usize).clamp(from, pcm.len());
                    let offset = from as f32 / rate;
                    let part = self.whisper.infer(pcm[from..to].to_vec()).await?;
                    for seg in part.segments {
                        segments.push(Segment {
                            start: seg.start + offset,
                            end: seg.end + offset,
                            text: seg.text,
                        });
                    }
                }
                Ok(Transcript::from_segments(segments))
            },
        )
        .await?;
        provenance.push(p);
        Ok((speech, transcript))
    }
}

/// A transcript as an analysis keeps it.
pub fn transcript_finding(t: Transcript) -> found::Transcript {
    found::Transcript {
        segments: t
            .segments
            .into_iter()
            .map(|s| found::Segment {
                start: s.start,
                end: s.end,
                text: s.text,
            })
            .collect(),
        text: t.text,
    }
}

/// Stretches of speech as an analysis keeps them.
pub(super) fn speech_finding(spans: &[Span]) -> Vec<SpeechSpan> {
    spans
        .iter()
        .map(|s| SpeechSpan {
            start: s.start,
            end: s.end,
        })
        .collect()
}
