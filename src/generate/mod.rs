//! Cross-modal generation: text read aloud, speech written down, an image described with the
//! text found in it, any item summarised (a video with time codes), a text item narrated. Each
//! output is a new item of the requester, linked to its sources (`content.generated`), with the
//! provenance of every model step.
//!
//! The work runs inside the request, bounded by the input limits below. A source that has its
//! analysis already gives its findings (transcript, text, labels, description, summary) without
//! running a model again; one that has none runs the step on its bytes, and the result cache
//! keeps that result for the analysis job. A long recording without an analysis is not worked
//! on in a request: the client waits for the analysis (`analysis_pending`).

mod error;
mod sources;

use std::sync::Arc;
use std::time::Instant;

use serde_json::json;
use tessera_actors::jobs::{count_tokens, Pipelines};
use tessera_events::content::{Generation, GenerationKind, Modality};
use tessera_events::jobs::Provenance;
use tessera_models::speech::{encode, AudioFormat, SynthOptions, MAX_TEXT_CHARS};
use uuid::Uuid;

pub use error::GenerateError;
use sources::Source;

use crate::content::{ContentService, GeneratedBody, GeneratedOutput, ItemView, Metered};

/// The longest recording (in seconds) worked on in a request when it has no analysis yet.
pub const MAX_MEDIA_SECONDS_IN_REQUEST: f64 = 600.0;
/// Summary lengths accepted, in words.
pub const SUMMARY_WORDS: (usize, usize) = (10, 300);
/// The most text spoken in one request, in characters.
pub const MAX_SPEECH_CHARS: usize = MAX_TEXT_CHARS;

/// How speech is made.
#[derive(Debug, Clone, PartialEq)]
pub struct Voice {
    /// A voice id (see [`Generator::voices`]); the node's voice when none.
    pub voice: Option<String>,
    pub speed: Option<f32>,
    /// `wav` (default), `mp3` or `opus`.
    pub format: Option<String>,
}

/// Runs generations for the edge: the library and the node's pipelines.
#[derive(Clone)]
pub struct Generator {
    content: ContentService,
    pipelines: Arc<Pipelines>,
}

/// The settled choices of a speech request.
struct SpeechChoice {
    voice: String,
    speed: f32,
    format: AudioFormat,
}

impl Generator {
    pub fn new(content: ContentService, pipelines: Arc<Pipelines>) -> Self {
        Self { content, pipelines }
    }

    /// The voices speech can be made with.
    pub fn voices(&self) -> Vec<String> {
        vec![self.pipelines.speech.info.id.clone()]
    }

    fn speech_choice(&self, v: &Voice) -> Result<SpeechChoice, GenerateError> {
        let voices = self.voices();
        let voice = match &v.voice {
            None => voices[0].clone(),
            Some(name) if voices.contains(name) => name.clone(),
            Some(name) => {
                return Err(GenerateError::invalid(
                    "voice",
                    "unknown_voice",
                    format!("no voice {name:?}; the voices are {}", voices.join(", ")),
                ))
            }
        };
        let (lo, hi) = tessera_models::speech::piper::SPEED_RANGE;
        let speed = v.speed.unwrap_or(1.0);
        if !speed.is_finite() || !(lo..=hi).contains(&speed) {
            return Err(GenerateError::invalid(
                "speed",
                "validation_failed",
                format!("speed is between {lo} and {hi} (1 is normal)"),
            ));
        }
        let format = match &v.format {
            None => AudioFormat::Wav,
            Some(f) => AudioFormat::from_name(f).ok_or_else(|| {
                GenerateError::invalid(
                    "format",
                    "unknown_format",
                    format!("no audio format {f:?}; use wav, mp3 or opus"),
                )
            })?,
        };
        Ok(SpeechChoice {
            voice,
            speed,
            format,
        })
    }

    /// The gates every generation passes before any work: processing time left today, and
    /// room for one more item.
    async fn gate(&self, user: Uuid) -> Result<(), GenerateError> {
        self.content.check_processing_quota(user).await?;
        self.content.check_new_item_quota(user).await?;
        Ok(())
    }

    /// Text read aloud: a new audio item.
    pub async fn speech(
        &self,
        user: Uuid,
        text: &str,
        voice: &Voice,
        title: Option<String>,
    ) -> Result<ItemView, GenerateError> {
        let choice = self.speech_choice(voice)?;
        let text = check_speech_text(text, "text")?;
        let title = title_or(title, || format!("Speech: {}", excerpt(text, 60)))?;
        self.gate(user).await?;
        let started = Instant::now();
        let (bytes, seconds, provenance) = self.speak(text, &choice).await?;
        let generation = self.generation(
            GenerationKind::Speech,
            vec![],
            speech_parameters(&choice, text),
            vec![provenance],
            started,
        );
        self.finish(
            user,
            Modality::Audio,
            (0, 0),
            seconds,
            GeneratedOutput {
                title,
                body: GeneratedBody::Media {
                    bytes,
                    extension: choice.format.extension().to_owned(),
                },
                generation,
            },
        )
        .await
    }

    /// A text item read aloud: a new audio item.
    pub async fn narration(
        &self,
        user: Uuid,
        content_id: Uuid,
        voice: &Voice,
        title: Option<String>,
    ) -> Result<ItemView, GenerateError> {
        let choice = self.speech_choice(voice)?;
        let source = self.source(user, content_id).await?;
        if source.modality() != Modality::Text {
            return Err(GenerateError::unsupported(
                GenerationKind::Narration,
                source.modality(),
                "only text items are narrated",
            ));
        }
        let title = title_or(title, || format!("Narration: {}", source.title()))?;
        self.gate(user).await?;
        let started = Instant::now();
        let text = source
            .text(&self.pipelines, MAX_SPEECH_CHARS * 4 + 4)
            .await?;
        let text = check_speech_text(&text, "content_id")?;
        let (bytes, seconds, provenance) = self.speak(text, &choice).await?;
        let generation = self.generation(
            GenerationKind::Narration,
            vec![content_id],
            speech_parameters(&choice, text),
            vec![provenance],
            started,
        );
        self.finish(
            user,
            Modality::Audio,
            (0, 0),
            seconds,
            GeneratedOutput {
                title,
                body: GeneratedBody::Media {
                    bytes,
                    extension: choice.format.extension().to_owned(),
                },
                generation,
            },
        )
        .await
    }

    /// Speech (an audio item, or a video's sound) written down: a new text item.
    pub async fn transcript(
        &self,
        user: Uuid,
        content_id: Uuid,
        timestamps: bool,
        title: Option<String>,
    ) -> Result<ItemView, GenerateError> {
        let source = self.source(user, content_id).await?;
        source.check_speech_source(GenerationKind::Transcript)?;
        let title = title_or(title, || format!("Transcript: {}", source.title()))?;
        self.gate(user).await?;
        let started = Instant::now();
        let found = source.transcript(&self.pipelines).await?;
        if found.transcript.text.trim().is_empty() {
            return Err(GenerateError::NoSpeech);
        }
        let text = if timestamps {
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
        let generation = self.generation(
            GenerationKind::Transcript,
            vec![content_id],
            json!({ "timestamps": timestamps }),
            found.provenance,
            started,
        );
        self.finish(
            user,
            source.modality(),
            (0, 0),
            found.audio_seconds_computed,
            GeneratedOutput {
                title,
                body: GeneratedBody::Text(text),
                generation,
            },
        )
        .await
    }

    /// An image described, with the text read in it: a new text item.
    pub async fn description(
        &self,
        user: Uuid,
        content_id: Uuid,
        title: Option<String>,
    ) -> Result<ItemView, GenerateError> {
        let source = self.source(user, content_id).await?;
        if source.modality() != Modality::Image {
            return Err(GenerateError::unsupported(
                GenerationKind::Description,
                source.modality(),
                "only images are described",
            ));
        }
        let title = title_or(title, || format!("Description: {}", source.title()))?;
        self.gate(user).await?;
        let started = Instant::now();
        let (found, tokens) = count_tokens(source.image(&self.pipelines)).await;
        let found = found?;
        let mut text = found.description.trim().to_owned();
        if !found.ocr_text.trim().is_empty() {
            text.push_str("\n\nText in the image:\n");
            text.push_str(found.ocr_text.trim());
        }
        if text.trim().is_empty() {
            text = "Nothing could be made out in this image.".into();
        }
        let generation = self.generation(
            GenerationKind::Description,
            vec![content_id],
            json!({ "labels": found.labels }),
            found.provenance,
            started,
        );
        self.finish(
            user,
            Modality::Image,
            tokens,
            0.0,
            GeneratedOutput {
                title,
                body: GeneratedBody::Text(text),
                generation,
            },
        )
        .await
    }

    /// Any item summarised: a text's or a recording's words in at most `words` words, an
    /// image's description, a video's time-coded summary. A new text item.
    pub async fn summary(
        &self,
        user: Uuid,
        content_id: Uuid,
        words: Option<usize>,
        title: Option<String>,
    ) -> Result<ItemView, GenerateError> {
        let words = words.unwrap_or(self.pipelines.options.summary_words);
        if !(SUMMARY_WORDS.0..=SUMMARY_WORDS.1).contains(&words) {
            return Err(GenerateError::invalid(
                "words",
                "validation_failed",
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
        let title = title_or(title, || format!("Summary: {}", source.title()))?;
        self.gate(user).await?;
        let started = Instant::now();
        let (found, tokens) = count_tokens(source.summary(&self.pipelines, words)).await;
        let found = found?;
        let generation = self.generation(
            GenerationKind::Summary,
            vec![content_id],
            json!({ "words": words, "time_coded": source.modality() == Modality::Video }),
            found.provenance,
            started,
        );
        self.finish(
            user,
            source.modality(),
            tokens,
            found.audio_seconds_computed,
            GeneratedOutput {
                title,
                body: GeneratedBody::Text(found.text),
                generation,
            },
        )
        .await
    }

    async fn source(&self, user: Uuid, id: Uuid) -> Result<Source, GenerateError> {
        Source::load(&self.content, user, id).await
    }

    async fn speak(
        &self,
        text: &str,
        choice: &SpeechChoice,
    ) -> Result<(Vec<u8>, f64, Provenance), GenerateError> {
        let options = SynthOptions {
            speed: choice.speed,
            ..SynthOptions::default()
        };
        let (speech, mut provenance) = self.pipelines.speak(text, options).await?;
        let seconds = speech.duration_secs();
        let format = choice.format;
        let bytes = tokio::task::spawn_blocking(move || encode(&speech, format))
            .await
            .map_err(|e| GenerateError::Internal(e.to_string()))??;
        if let Some(p) = provenance.parameters.as_object_mut() {
            p.insert("format".into(), format.extension().into());
        }
        Ok((bytes, seconds, provenance))
    }

    fn generation(
        &self,
        kind: GenerationKind,
        generated_from: Vec<Uuid>,
        parameters: serde_json::Value,
        provenance: Vec<Provenance>,
        started: Instant,
    ) -> Generation {
        Generation {
            kind,
            generated_from,
            parameters,
            provenance,
            processing_ms: started.elapsed().as_millis() as u64,
        }
    }

    /// Meters the work, then stores its output as an item.
    async fn finish(
        &self,
        user: Uuid,
        modality: Modality,
        (tokens_in, tokens_out): (u64, u64),
        audio_seconds: f64,
        output: GeneratedOutput,
    ) -> Result<ItemView, GenerateError> {
        let g = &output.generation;
        let model = g
            .provenance
            .last()
            .map(|p| p.model_id.clone())
            .unwrap_or_default();
        self.content
            .record_generation(
                user,
                Metered {
                    kind: g.kind.as_str().to_owned(),
                    modality,
                    model,
                    tokens_in,
                    tokens_out,
                    audio_ms: (audio_seconds * 1000.0).round() as u64,
                    processing_ms: g.processing_ms,
                },
            )
            .await?;
        tracing::info!(
            %user,
            kind = g.kind.as_str(),
            sources = ?g.generated_from,
            processing_ms = g.processing_ms,
            "generated an item"
        );
        Ok(self.content.create_generated(user, output).await?)
    }
}

fn speech_parameters(choice: &SpeechChoice, text: &str) -> serde_json::Value {
    json!({
        "voice": choice.voice,
        "speed": choice.speed,
        "format": choice.format.extension(),
        "characters": text.chars().count(),
    })
}

/// Text to speak: not blank, at most [`MAX_SPEECH_CHARS`] characters.
fn check_speech_text<'a>(text: &'a str, field: &str) -> Result<&'a str, GenerateError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(GenerateError::invalid(
            field,
            "empty_text",
            "there is no text to speak",
        ));
    }
    let n = text.chars().count();
    if n > MAX_SPEECH_CHARS {
        return Err(GenerateError::invalid(
            field,
            "text_too_long",
            format!("the text has {n} characters; at most {MAX_SPEECH_CHARS} are spoken at once"),
        ));
    }
    Ok(text)
}

/// The title asked for (checked like any title), or one made from the work.
fn title_or(
    title: Option<String>,
    default: impl FnOnce() -> String,
) -> Result<String, GenerateError> {
    match title.map(|t| t.trim().to_owned()) {
        Some(t) => {
            tessera_events::content::validate_title(&t)
                .map_err(|e| GenerateError::invalid("title", "validation_failed", e.to_string()))?;
            Ok(t)
        }
        None => {
            let t: String = default()
                .chars()
                .filter(|c| !c.is_control())
                .take(tessera_events::content::MAX_TITLE_CHARS)
                .collect();
            Ok(t)
        }
    }
}

/// The first `max` characters of a text on one line, with an ellipsis when cut.
fn excerpt(text: &str, max: usize) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= max {
        return line;
    }
    let cut: String = line.chars().take(max).collect();
    format!("{}…", cut.trim_end())
}

/// `m:ss` (or `h:mm:ss`).
pub fn timecode(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speech_text_is_checked_and_titles_are_made_from_it() {
        assert!(matches!(
            check_speech_text("   ", "text"),
            Err(GenerateError::Invalid {
                code: "empty_text",
                ..
            })
        ));
        let long = "a".repeat(MAX_SPEECH_CHARS + 1);
        assert!(matches!(
            check_speech_text(&long, "text"),
            Err(GenerateError::Invalid {
                code: "text_too_long",
                ..
            })
        ));
        assert_eq!(check_speech_text(" hi ", "text").unwrap(), "hi");
        assert_eq!(excerpt("one\ntwo   three", 60), "one two three");
        assert_eq!(excerpt("abcdef", 3), "abc…");
        assert!(title_or(Some("\u{0}".into()), String::new).is_err());
        assert_eq!(title_or(None, || "x".into()).unwrap(), "x");
        assert_eq!(timecode(65.4), "1:05");
        assert_eq!(timecode(3725.0), "1:02:05");
    }
}
