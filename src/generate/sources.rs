//! What a generation reads from its source item: the findings of its analysis when there is
//! one, otherwise the pipeline step run on its bytes.

use tessera_actors::jobs::pipelines::transcript_finding;
use tessera_actors::jobs::{Pipelines, ProgressSink};
use tessera_events::content::analysis::{step, Transcript};
use tessera_events::content::{Analysis, ContentError, GenerationKind, Modality, Uploaded};
use tessera_events::jobs::{JobReason, JobRequested, Provenance};
use tessera_events::{ContentId, UserId};
use uuid::Uuid;

use super::{GenerateError, MAX_MEDIA_SECONDS_IN_REQUEST};
use crate::content::ContentService;

/// A live item of the requester.
pub(super) struct Source {
    id: Uuid,
    item: Uploaded,
    title: String,
    analysis: Option<Analysis>,
}

pub(super) struct TranscriptFound {
    pub transcript: Transcript,
    pub provenance: Vec<Provenance>,
    /// Audio transcribed by this request (none when the transcript was reused).
    pub audio_seconds_computed: f64,
}

pub(super) struct ImageFound {
    pub description: String,
    pub ocr_text: String,
    pub labels: Vec<String>,
    pub provenance: Vec<Provenance>,
}

pub(super) struct SummaryFound {
    pub text: String,
    pub provenance: Vec<Provenance>,
    pub audio_seconds_computed: f64,
}

/// The analysis' provenance entries of `steps`, marked as reused: nothing ran for them now.
fn provenance_of(analysis: &Analysis, steps: &[&str]) -> Vec<Provenance> {
    analysis
        .provenance_of(steps)
        .map(|p| Provenance {
            cached: true,
            run_ms: 0,
            ..p.clone()
        })
        .collect()
}

/// The provenance entries of `steps` of an analysis made now.
fn only_steps(analysis: &Analysis, steps: &[&str]) -> Vec<Provenance> {
    analysis.provenance_of(steps).cloned().collect()
}

/// Whether the transcription step ran now (it was not read from the result cache).
fn transcribed_now(provenance: &[Provenance]) -> bool {
    provenance
        .iter()
        .any(|p| p.step == step::AUDIO_TRANSCRIPT && !p.cached)
}

const TRANSCRIPT_STEPS: &[&str] = &[step::AUDIO_SPEECH, step::AUDIO_TRANSCRIPT];
const IMAGE_STEPS: &[&str] = &[step::IMAGE_LABELS, step::IMAGE_OCR, step::IMAGE_DESCRIPTION];
const VIDEO_STEPS: &[&str] = &[
    step::IMAGE_LABELS,
    step::IMAGE_OCR,
    step::AUDIO_SPEECH,
    step::AUDIO_TRANSCRIPT,
];

impl Source {
    /// The requester's live item `id`; anyone else's item, a deleted one or none at all is
    /// the same `not_found`.
    pub async fn load(
        content: &ContentService,
        user: UserId,
        id: ContentId,
    ) -> Result<Self, GenerateError> {
        let id = id.0;
        let f = content.fold(ContentId(id)).await?;
        let s = f.state;
        let Some(item) = s.uploaded.clone() else {
            return Err(ContentError::NotFound.into());
        };
        if !s.exists() || s.deleted.is_some() || item.owner != user {
            return Err(ContentError::NotFound.into());
        }
        Ok(Self {
            id,
            item,
            title: s.title,
            analysis: s.analysis.map(|(_, a)| a),
        })
    }

    pub fn id(&self) -> Uuid {
        self.id
    }

    pub fn modality(&self) -> Modality {
        self.item.modality
    }

    pub fn title(&self) -> &str {
        &self.title
    }

    /// Audio, or a video with sound.
    pub fn check_speech_source(&self, kind: GenerationKind) -> Result<(), GenerateError> {
        match self.item.modality {
            Modality::Audio => Ok(()),
            Modality::Video if self.item.media.has_audio => Ok(()),
            Modality::Video => Err(GenerateError::unsupported(
                kind,
                Modality::Video,
                "the video has no sound",
            )),
            m => Err(GenerateError::unsupported(
                kind,
                m,
                "only audio items and videos with sound hold speech",
            )),
        }
    }

    /// The analysis' summary, when the request asks for one of the analysis' length.
    fn analysed_summary(&self, default_length: bool) -> Option<(&Analysis, &str)> {
        let a = self.analysis.as_ref().filter(|_| default_length)?;
        Some((a, a.summary()?))
    }

    /// A recording without an analysis is worked on here only when it is short enough.
    fn check_request_bound(&self) -> Result<(), GenerateError> {
        let seconds = self.item.media.duration_secs.unwrap_or_default();
        if self.analysis.is_none() && seconds > MAX_MEDIA_SECONDS_IN_REQUEST {
            return Err(GenerateError::AnalysisPending {
                seconds,
                limit: MAX_MEDIA_SECONDS_IN_REQUEST,
            });
        }
        Ok(())
    }

    /// The item's own pipeline over its bytes: what its analysis job would find (the result
    /// cache then spares the job the work).
    async fn run_pipeline(&self, pipelines: &Pipelines) -> Result<Analysis, GenerateError> {
        self.check_request_bound()?;
        let request = JobRequested {
            content_id: ContentId(self.id),
            owner: self.item.owner,
            modality: self.item.modality,
            mime: self.item.mime.clone(),
            sha256: self.item.sha256.clone(),
            blob_key: self.item.blob_key.clone(),
            size: self.item.size,
            reason: JobReason::Upload,
            keep_location: self.item.keep_location,
        };
        Ok(pipelines.run(&request, &ProgressSink::silent()).await?)
    }

    async fn fetch(&self, pipelines: &Pipelines) -> Result<tempfile::TempPath, GenerateError> {
        pipelines
            .media
            .fetch(&self.item.blob_key)
            .await
            .map_err(GenerateError::Internal)
    }

    /// A text item's text (at most `max_bytes` of it, invalid UTF-8 replaced).
    pub async fn text(
        &self,
        pipelines: &Pipelines,
        max_bytes: usize,
    ) -> Result<String, GenerateError> {
        let path = self.fetch(pipelines).await?;
        tokio::task::spawn_blocking(move || {
            use std::io::Read;
            let mut bytes = Vec::new();
            std::fs::File::open(&path)
                .and_then(|f| f.take(max_bytes as u64).read_to_end(&mut bytes))
                .map_err(|e| GenerateError::Internal(format!("reading a source: {e}")))?;
            Ok(String::from_utf8_lossy(&bytes).into_owned())
        })
        .await
        .map_err(|e| GenerateError::Internal(e.to_string()))?
    }

    /// What was said in an audio item or a video.
    pub async fn transcript(
        &self,
        pipelines: &Pipelines,
    ) -> Result<TranscriptFound, GenerateError> {
        if let Some(a) = &self.analysis {
            if let Some(transcript) = a.transcript() {
                return Ok(TranscriptFound {
                    transcript: transcript.clone(),
                    provenance: provenance_of(a, TRANSCRIPT_STEPS),
                    audio_seconds_computed: 0.0,
                });
            }
        }
        let (transcript, provenance) = if self.item.modality == Modality::Audio {
            self.check_request_bound()?;
            let path = self.fetch(pipelines).await?;
            let (_, transcript, provenance) =
                pipelines.transcribe_file(&path, &self.item.sha256).await?;
            (transcript_finding(transcript), provenance)
        } else {
            let analysis = self.run_pipeline(pipelines).await?;
            let transcript = analysis.transcript().cloned().unwrap_or_default();
            (transcript, only_steps(&analysis, TRANSCRIPT_STEPS))
        };
        let computed = transcribed_now(&provenance);
        Ok(TranscriptFound {
            transcript,
            provenance,
            audio_seconds_computed: if computed {
                self.item.media.duration_secs.unwrap_or_default()
            } else {
                0.0
            },
        })
    }

    /// An image's labels, text and description.
    pub async fn image(&self, pipelines: &Pipelines) -> Result<ImageFound, GenerateError> {
        let (analysis, provenance) = match &self.analysis {
            Some(a) if a.description().is_some() => (a.clone(), provenance_of(a, IMAGE_STEPS)),
            _ => {
                let a = self.run_pipeline(pipelines).await?;
                let p = only_steps(&a, IMAGE_STEPS);
                (a, p)
            }
        };
        Ok(ImageFound {
            description: analysis.description().unwrap_or_default().to_owned(),
            ocr_text: analysis.ocr().map(|o| o.text.clone()).unwrap_or_default(),
            labels: analysis.labels().iter().map(|l| l.name.clone()).collect(),
            provenance,
        })
    }

    /// A summary in at most `words` words (a video's is its time-coded summary).
    pub async fn summary(
        &self,
        pipelines: &Pipelines,
        words: usize,
    ) -> Result<SummaryFound, GenerateError> {
        let default_length = words == pipelines.options.summary_words;
        let sha = &self.item.sha256;
        match self.item.modality {
            Modality::Text => {
                if let Some((analysis, s)) = self.analysed_summary(default_length) {
                    return Ok(SummaryFound {
                        text: s.to_owned(),
                        provenance: provenance_of(analysis, &[step::TEXT_SUMMARY]),
                        audio_seconds_computed: 0.0,
                    });
                }
                let max = tessera_actors::jobs::pipelines::MAX_TEXT_BYTES as usize;
                let text = self.text(pipelines, max).await?;
                if text.trim().is_empty() {
                    return Err(GenerateError::NothingToSummarise);
                }
                let (summary, p) = pipelines.summarise(sha, &text, "text", words).await?;
                Ok(SummaryFound {
                    text: summary,
                    provenance: vec![p],
                    audio_seconds_computed: 0.0,
                })
            }
            Modality::Audio => {
                let found = self.transcript(pipelines).await?;
                let said = found.transcript.text.trim();
                if said.is_empty() {
                    return Err(GenerateError::NoSpeech);
                }
                let mut provenance = found.provenance;
                let summary = match self.analysed_summary(default_length) {
                    Some((analysis, s)) => {
                        provenance.extend(provenance_of(analysis, &[step::TRANSCRIPT_SUMMARY]));
                        s.to_owned()
                    }
                    None => {
                        let (s, p) = pipelines.summarise(sha, said, "transcript", words).await?;
                        provenance.push(p);
                        s
                    }
                };
                Ok(SummaryFound {
                    text: summary,
                    provenance,
                    audio_seconds_computed: found.audio_seconds_computed,
                })
            }
            Modality::Image => {
                let found = self.image(pipelines).await?;
                let mut text = found.description.trim().to_owned();
                if text.is_empty() {
                    text = "Nothing could be made out in this image.".into();
                }
                Ok(SummaryFound {
                    text,
                    provenance: found.provenance,
                    audio_seconds_computed: 0.0,
                })
            }
            Modality::Video => {
                let (analysis, provenance, computed) = match &self.analysis {
                    Some(a) if a.summary().is_some() => {
                        (a.clone(), provenance_of(a, VIDEO_STEPS), false)
                    }
                    _ => {
                        let a = self.run_pipeline(pipelines).await?;
                        let computed = transcribed_now(a.provenance());
                        let p = only_steps(&a, VIDEO_STEPS);
                        (a, p, computed)
                    }
                };
                let text = analysis.summary().unwrap_or_default().trim().to_owned();
                if text.is_empty() {
                    return Err(GenerateError::NothingToSummarise);
                }
                Ok(SummaryFound {
                    text,
                    provenance,
                    audio_seconds_computed: if computed {
                        self.item.media.duration_secs.unwrap_or_default()
                    } else {
                        0.0
                    },
                })
            }
        }
    }
}
