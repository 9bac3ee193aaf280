//! How speech is made: the voice, speed and format settled from a request, and the text to
//! speak checked.

use serde_json::json;
use tessera_models::speech::AudioFormat;

use super::{GenerateError, MAX_SPEECH_CHARS};
use crate::error::ErrorCode;

/// How speech is made.
#[derive(Debug, Clone, PartialEq)]
pub struct Voice {
    /// A voice id (see [`super::Generator::voices`]); the node's voice when none.
    pub voice: Option<String>,
    pub speed: Option<f32>,
    /// `wav` (default), `mp3` or `opus`.
    pub format: Option<String>,
}

/// The settled choices of a speech request.
#[derive(Debug, Clone)]
pub(super) struct SpeechChoice {
    pub voice: String,
    pub speed: f32,
    pub format: AudioFormat,
}

impl SpeechChoice {
    /// Settles `v` among `voices` (the first is the node's).
    pub fn of(v: &Voice, voices: &[String]) -> Result<Self, GenerateError> {
        let voice = match &v.voice {
            None => voices[0].clone(),
            Some(name) if voices.contains(name) => name.clone(),
            Some(name) => {
                return Err(GenerateError::invalid(
                    "voice",
                    ErrorCode::UnknownVoice,
                    format!("no voice {name:?}; the voices are {}", voices.join(", ")),
                ))
            }
        };
        let (lo, hi) = tessera_models::speech::piper::SPEED_RANGE;
        let speed = v.speed.unwrap_or(1.0);
        if !speed.is_finite() || !(lo..=hi).contains(&speed) {
            return Err(GenerateError::invalid(
                "speed",
                ErrorCode::ValidationFailed,
                format!("speed is between {lo} and {hi} (1 is normal)"),
            ));
        }
        let format = match &v.format {
            None => AudioFormat::Wav,
            Some(f) => AudioFormat::from_name(f).ok_or_else(|| {
                GenerateError::invalid(
                    "format",
                    ErrorCode::UnknownFormat,
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

    /// The generation's parameters for speaking `text`.
    pub fn parameters(&self, text: &str) -> serde_json::Value {
        json!({
            "voice": self.voice,
            "speed": self.speed,
            "format": self.format.extension(),
            "characters": text.chars().count(),
        })
    }
}

/// Text to speak: not blank, at most [`MAX_SPEECH_CHARS`] characters.
pub(super) fn check_speech_text<'a>(text: &'a str, field: &str) -> Result<&'a str, GenerateError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(GenerateError::invalid(
            field,
            ErrorCode::EmptyText,
            "there is no text to speak",
        ));
    }
    let n = text.chars().count();
    if n > MAX_SPEECH_CHARS {
        return Err(GenerateError::invalid(
            field,
            ErrorCode::TextTooLong,
            format!("the text has {n} characters; at most {MAX_SPEECH_CHARS} are spoken at once"),
        ));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speech_text_is_checked() {
        assert!(matches!(
            check_speech_text("   ", "text"),
            Err(GenerateError::Invalid {
                code: ErrorCode::EmptyText,
                ..
            })
        ));
        let long = "a".repeat(MAX_SPEECH_CHARS + 1);
        assert!(matches!(
            check_speech_text(&long, "text"),
            Err(GenerateError::Invalid {
                code: ErrorCode::TextTooLong,
                ..
            })
        ));
        assert_eq!(check_speech_text(" hi ", "text").ok(), Some("hi"));
    }
}
