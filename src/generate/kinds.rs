//! What each kind of generation checks, reads and makes. The flow around them (title, gates,
//! metering, the new item) is one, in [`super::Generator::generate`].

use serde_json::{json, Value};
use tessera_actors::jobs::count_tokens;
use tessera_events::content::{GenerationKind, Modality};
use tessera_events::jobs::Provenance;
use tessera_events::{ContentId, UserId};

use super::sources::Source;
use super::text::{excerpt, timecode};
use super::voice::{check_speech_text, SpeechChoice};
use super::{GenerateError, Generator, Work, MAX_SPEECH_CHARS, SUMMARY_WORDS};
use crate::content::GeneratedBody;
use crate::error::ErrorCode;
use crate::inference::speech::synthesize;

/// A generation checked, its source loaded: no model has run yet.
pub(super) enum Planned {
    Speech {
        text: String,
        choice: SpeechChoice,
    },
    Narration {
        source: Source,
        choice: SpeechChoice,
    },
    Transcript {
        source: Source,
        timestamps: bool,
    },
    Description {
        source: Source,
    },
    Summary {
        source: Source,
        words: usize,
    },
}

/// What a generation's model work made.
pub(super) struct Made {
    /// The modality the work is metered under.
    pub modality: Modality,
    pub body: GeneratedBody,
    pub parameters: Value,
    pub provenance: Vec<Provenance>,
    /// Tokens read and written by the text model.
    pub tokens: (u64, u64),
    /// Audio heard or spoken by this request's models.
    pub audio_seconds: f64,
}

impl Planned {
    /// What kind of item is made.
    pub fn kind(&self) -> GenerationKind {
        match self {
            Planned::Speech { .. } => GenerationKind::Speech,
            Planned::Narration { .. } => GenerationKind::Narration,
            Planned::Transcript { .. } => GenerationKind::Transcript,
            Planned::Description { .. } => GenerationKind::Description,
            Planned::Summary { .. } => GenerationKind::Summary,
        }
    }

    fn source(&self) -> Option<&Source> {
        match self {
            Planned::Speech { .. } => None,
            Planned::Narration { source, .. }
            | Planned::Transcript { source, .. }
            | Planned::Description { source }
            | Planned::Summary { source, .. } => Some(source),
        }
    }

    /// The items the output is made from.
    pub fn generated_from(&self) -> Vec<ContentId> {
        self.source()
            .map(|s| ContentId(s.id()))
            .into_iter()
            .collect()
    }

    /// The title of an output asked for without one.
    pub fn default_title(&self) -> String {
        let label = match self {
            Planned::Speech { text, .. } => return format!("Speech: {}", excerpt(text, 60)),
            Planned::Narration { .. } => "Narration",
            Planned::Transcript { .. } => "Transcript",
            Planned::Description { .. } => "Description",
            Planned::Summary { .. } => "Summary",
        };
        let title = self.source().map(Source::title).unwrap_or_default();
        format!("{label}: {title}")
    }
}

impl Generator {
    /// Checks a request and loads its source; refuses a source its kind does not take.
    pub(super) async fn plan(&self, user: UserId, work: Work) -> Result<Planned, GenerateError> {
        Ok(match work {
            Work::Speech { text, voice } => {
                let choice = SpeechChoice::of(&voice, &self.voices())?;
                let text = check_speech_text(&text, "text")?.to_owned();
                Planned::Speech { text, choice }
            }
            Work::Narration { content_id, voice } => {
                let choice = SpeechChoice::of(&voice, &self.voices())?;
                let source = self.source(user, content_id).await?;
                if source.modality() != Modality::Text {
                    return Err(GenerateError::unsupported(
                        GenerationKind::Narration,
                        source.modality(),
                        "only text items are narrated",
                    ));
                }
                Planned::Narration { source, choice }
            }
            Work::Transcript {
                content_id,
                timestamps,
            } => {
                let source = self.source(user, content_id).await?;
                source.check_speech_source(GenerationKind::Transcript)?;
                Planned::Transcript { source, timestamps }
            }
            Work::Description { content_id } => {
                let source = self.source(user, content_id).await?;
                if source.modality() != Modality::Image {
                    return Err(GenerateError::unsupported(
                        GenerationKind::Description,
                        source.modality(),
                        "only images are described",
                    ));
                }
                Planned::Description { source }
            }
            Work::Summary { content_id, words } => {
                let words = words.unwrap_or(self.pipelines.options.summary_words);
                if !(SUMMARY_WORDS.0..=SUMMARY_WORDS.1).contains(&words) {
                    return Err(GenerateError::invalid(
                        "words",
                        ErrorCode::ValidationFailed,
                        format!(
                            "a summary has {} to {} words",
                            SUMMARY_WORDS.0, SUMMARY_WORDS.1
                        ),
                    ));
                }
                let source = self.source(user, content_id).await?;
                if source.modality() == Modality::Audio {
                    source.check_speech_source(GenerationKind::Summary)?;
                }
                Planned::Summary { source, words }
            }
        })
    }

    /// Runs the model work of a planned generation.
    pub(super) async fn make(&self, planned: &Planned) -> Result<Made, GenerateError> {
        let pipelines = &self.pipelines;
        match planned {
            Planned::Speech { text, choice } => self.speak(text, choice).await,
            Planned::Narration { source, choice } => {
                let text = source.text(pipelines, MAX_SPEECH_CHARS * 4 + 4).await?;
                let text = check_speech_text(&text, "content_id")?;
                self.speak(text, choice).await
            }
            Planned::Transcript { source, timestamps } => {
                let found = source.transcript(pipelines).await?;
                if found.transcript.text.trim().is_empty() {
                    return Err(GenerateError::NoSpeech);
                }
                let text = if *timestamps {
                    found
                        .transcript
                        .segments
                        .iter()
                        .map(|s| format!("[{}] {}", timecode(f64::from(s.start)), s.text.trim()))
                        .collect::<Vec<_>>()
                        .join("\n")
                } else {
                    found.transcript.text.trim().to_owned()
                };
                Ok(Made {
                    modality: source.modality(),
                    body: GeneratedBody::Text(text),
                    parameters: json!({ "timestamps": timestamps }),
                    provenance: found.provenance,
                    tokens: (0, 0),
                    audio_seconds: found.audio_seconds_computed,
                })
            }
            Planned::Description { source } => {
                let (found, tokens) = count_tokens(source.image(pipelines)).await;
                let found = found?;
                let mut text = found.description.trim().to_owned();
                if !found.ocr_text.trim().is_empty() {
                    text.push_str("\n\nText in the image:\n");
                    text.push_str(found.ocr_text.trim());
                }
                if text.trim().is_empty() {
                    text = "Nothing could be made out in this image.".into();
                }
                Ok(Made {
                    modality: Modality::Image,
                    body: GeneratedBody::Text(text),
                    parameters: json!({ "labels": found.labels }),
                    provenance: found.provenance,
                    tokens,
                    audio_seconds: 0.0,
                })
            }
            Planned::Summary { source, words } => {
                let (found, tokens) = count_tokens(source.summary(pipelines, *words)).await;
                let found = found?;
                let time_coded = source.modality() == Modality::Video;
                Ok(Made {
                    modality: source.modality(),
                    body: GeneratedBody::Text(found.text),
                    parameters: json!({ "words": words, "time_coded": time_coded }),
                    provenance: found.provenance,
                    tokens,
                    audio_seconds: found.audio_seconds_computed,
                })
            }
        }
    }

    /// `text` spoken with the settled voice: an audio file.
    async fn speak(&self, text: &str, choice: &SpeechChoice) -> Result<Made, GenerateError> {
        let spoken = synthesize(&self.pipelines, text, choice.speed, choice.format).await?;
        Ok(Made {
            modality: Modality::Audio,
            body: GeneratedBody::Media {
                bytes: spoken.bytes,
                extension: choice.format.extension().to_owned(),
            },
            parameters: choice.parameters(text),
            provenance: vec![spoken.provenance],
            tokens: (0, 0),
            audio_seconds: spoken.seconds,
        })
    }

    async fn source(&self, user: UserId, id: ContentId) -> Result<Source, GenerateError> {
        Source::load(&self.content, user, id).await
    }
}
