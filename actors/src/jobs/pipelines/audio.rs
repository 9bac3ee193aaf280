//! The audio pipeline: where speech is, what was said (with times), a summary of a long
//! transcript, and embeddings of the transcript.

use std::path::Path;

use tessera_events::content::analysis::AudioAnalysis;
use tessera_events::content::Analysis;
use tessera_events::jobs::JobRequested;

use super::transcription::{speech_finding, transcript_finding};
use super::{Pipelines, ProgressSink};
use crate::jobs::StepError;

impl Pipelines {
    pub(super) async fn audio(
        &self,
        request: &JobRequested,
        file: &Path,
        progress: &ProgressSink,
    ) -> Result<Analysis, StepError> {
        let (pcm, duration) = self.decode_16k(file).await?;
        let mut provenance = Vec::new();
        let (speech, transcript) = self
            .transcribe(&request.sha256, pcm, progress, &mut provenance)
            .await?;
        progress.report("summarising", 80).await;
        let summary = self
            .summary(
                &request.sha256,
                &transcript.text,
                "transcript",
                &mut provenance,
            )
            .await?;
        progress.report("embedding", 90).await;
        let embeddings = self
            .embed_text(
                &request.sha256,
                "transcript",
                &transcript.text,
                &mut provenance,
            )
            .await?;
        Ok(Analysis::Audio(AudioAnalysis {
            duration_secs: duration,
            speech: speech_finding(&speech),
            transcript: transcript_finding(transcript),
            summary,
            embeddings,
            provenance,
        }))
    }
}
