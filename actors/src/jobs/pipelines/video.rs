//! The video pipeline: keyframes (labels and text of each, stored beside the previews), the
//! sound's transcript, a description and a time-coded summary built from both (no model prose,
//! so nothing in them is invented), and embeddings of all that.

use std::path::Path;

use tessera_events::content::analysis::{Keyframe, Transcript, VideoAnalysis};
use tessera_events::content::Analysis;
use tessera_events::jobs::{JobRequested, Provenance};
use tessera_events::ErrorCode;
use tessera_models::audio::{decode_file, AudioLimits};
use tessera_models::video::{extract_audio, keyframes};
use tessera_models::vision::decode_image;

use super::statements::{joined, lines, video_statements, video_timeline};
use super::support::{audio_error, blocking, media_error, sha256_hex, vision_error};
use super::transcription::transcript_finding;
use super::{Pipelines, ProgressSink};
use crate::jobs::StepError;

/// Labels kept per keyframe.
const KEYFRAME_LABELS: usize = 3;

impl Pipelines {
    pub(super) async fn video(
        &self,
        request: &JobRequested,
        file: &Path,
        progress: &ProgressSink,
    ) -> Result<Analysis, StepError> {
        let mut provenance = Vec::new();
        let keyframes = self
            .keyframes(request, file, progress, &mut provenance)
            .await?;
        // The audio track, when there is one.
        progress.report("extracting audio", 55).await;
        let path = file.to_path_buf();
        let timeout = self.options.tool_timeout;
        let track = blocking(move || {
            let wav = tempfile::Builder::new()
                .suffix(".wav")
                .tempfile()
                .map_err(|e| StepError::internal(e.to_string()))?
                .into_temp_path();
            let limits = AudioLimits::default();
            let max_secs = limits.max_duration.as_secs_f64();
            let has_audio = extract_audio(&path, &wav, max_secs, timeout).map_err(media_error)?;
            if !has_audio {
                return Ok(None);
            }
            let decoded = decode_file(&wav, &limits).map_err(audio_error)?;
            Ok(Some(decoded.samples))
        })
        .await?;
        let transcript = match track {
            Some(pcm) => {
                let (_, t) = self
                    .transcribe(&request.sha256, pcm, progress, &mut provenance)
                    .await?;
                Some(transcript_finding(t))
            }
            None => None,
        };
        progress.report("summarising", 85).await;
        let timeline = video_timeline(&keyframes, transcript.as_ref());
        let statements = video_statements(&keyframes, transcript.as_ref());
        let summary = lines(&timeline);
        let description = joined(&statements);
        let derived = derived_text(&keyframes, transcript.as_ref(), &summary);
        progress.report("embedding", 95).await;
        let embeddings = self
            .embed_text(&request.sha256, "derived", &derived, &mut provenance)
            .await?;
        Ok(Analysis::Video(VideoAnalysis {
            keyframes,
            has_audio: transcript.is_some(),
            transcript,
            summary,
            timeline,
            description,
            statements,
            embeddings,
            provenance,
        }))
    }

    /// The video's keyframes, each classified, read and stored beside the item's previews.
    async fn keyframes(
        &self,
        request: &JobRequested,
        file: &Path,
        progress: &ProgressSink,
        provenance: &mut Vec<Provenance>,
    ) -> Result<Vec<Keyframe>, StepError> {
        let path = file.to_path_buf();
        let options = self.options.keyframes.clone();
        progress.report("extracting keyframes", 5).await;
        let frames = blocking(move || keyframes(&path, &options).map_err(media_error)).await?;
        let mut out = Vec::new();
        let count = frames.len().max(1);
        for (i, frame) in frames.into_iter().enumerate() {
            let percent = 10 + (40 * i / count) as u8;
            progress.report("analysing keyframes", percent).await;
            let sha = sha256_hex(&frame.jpeg);
            let limits = self.options.image_limits;
            let bytes = frame.jpeg.clone();
            let image =
                blocking(move || decode_image(&bytes, &limits).map_err(vision_error)).await?;
            let mut labels = self.labels(&sha, image.clone(), provenance).await?;
            labels.truncate(KEYFRAME_LABELS);
            let ocr = self.read_image_text(&sha, image, provenance).await?;
            let blob_key = self
                .media
                .put_derived(
                    &request.sha256,
                    &format!("keyframe-{i}.jpg"),
                    frame.jpeg,
                    "image/jpeg",
                )
                .await
                .map_err(|e| StepError::transient(ErrorCode::MediaUnavailable, e))?;
            out.push(Keyframe {
                index: i,
                time: frame.time,
                labels,
                ocr_text: ocr.text,
                blob_key,
            });
        }
        Ok(out)
    }
}

/// The text derived from a video, for its embeddings: each keyframe's labels and text, what
/// was said, and the summary.
fn derived_text(keyframes: &[Keyframe], transcript: Option<&Transcript>, summary: &str) -> String {
    let mut derived = String::new();
    for k in keyframes {
        for l in &k.labels {
            derived.push_str(&l.name);
            derived.push_str(". ");
        }
        derived.push_str(&k.ocr_text);
        derived.push('\n');
    }
    if let Some(t) = transcript {
        derived.push_str(&t.text);
        derived.push('\n');
    }
    derived.push_str(summary);
    derived
}
