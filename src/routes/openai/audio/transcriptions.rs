//! `POST /v1/audio/transcriptions`: speech to text with the node's VAD and speech-recognition
//! models ([`crate::inference::transcription`]), read from OpenAI's form and written in the
//! format asked for.

use std::path::PathBuf;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use tessera_events::ErrorCode;
use utoipa::ToSchema;

use super::subtitles::{srt, vtt};
use crate::content::receive::{receive, ReceiveError, TempFile};
use crate::inference::{Inference, Transcribed};
use crate::routes::form::FormField;
use crate::routes::multipart::{read_form, MultipartForm, Part};
use crate::routes::openai::error::OpenAiErrorBody;
use crate::routes::openai::{resolve, OpenAiError, Task, V1User};
use crate::state::AppState;

/// Largest audio file accepted for transcription (as OpenAI), unless the library's own audio
/// limit is lower.
pub const MAX_AUDIO_BYTES: u64 = 25 << 20;
/// Largest text field of the transcription form.
const MAX_FIELD_BYTES: usize = 16 << 10;

/// The form of a transcription request (multipart/form-data).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct TranscriptionForm {
    /// The audio (WAV, MP3, FLAC, Ogg/Vorbis/Opus, M4A/AAC); its type is read from its content,
    /// never from its name. At most 25 MiB.
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
    /// The speech-recognition model's catalog id, or `whisper-1`.
    pub model: String,
    /// `json` (default), `text`, `verbose_json` (with segments), `srt` or `vtt`.
    pub response_format: Option<String>,
    /// Only English (`en`) is recognised by this node's model.
    pub language: Option<String>,
    /// Accepted.
    pub prompt: Option<String>,
    /// Accepted, 0 to 1 (decoding is greedy).
    pub temperature: Option<f32>,
}

/// A transcription form as it is read: the audio saved to a file of its own, the rest as sent.
struct Parts {
    tmp_dir: PathBuf,
    limit: u64,
    /// The audio and its SHA-256.
    file: Option<(TempFile, String)>,
    model: Option<String>,
    response_format: Option<String>,
    language: Option<String>,
    temperature: Option<String>,
    stream: Option<String>,
}

impl MultipartForm for Parts {
    type Error = OpenAiError;
    const PARTS: &'static [Part] = &[
        Part::file("file"),
        Part::text("model", MAX_FIELD_BYTES),
        Part::text("response_format", MAX_FIELD_BYTES),
        Part::text("language", MAX_FIELD_BYTES),
        Part::text("temperature", MAX_FIELD_BYTES),
        Part::text("stream", MAX_FIELD_BYTES),
        // Read and not applied.
        Part::text("prompt", MAX_FIELD_BYTES),
        Part::text("timestamp_granularities[]", MAX_FIELD_BYTES).repeated(2),
        Part::text("timestamp_granularities", MAX_FIELD_BYTES),
        Part::text("chunking_strategy", MAX_FIELD_BYTES),
        Part::text("include[]", MAX_FIELD_BYTES).repeated(4),
        Part::text("user", MAX_FIELD_BYTES),
    ];

    fn text(&mut self, name: &'static str, value: String) -> Result<(), OpenAiError> {
        let slot = match name {
            "model" => &mut self.model,
            "response_format" => &mut self.response_format,
            "language" => &mut self.language,
            "temperature" => &mut self.temperature,
            "stream" => &mut self.stream,
            _ => return Ok(()),
        };
        *slot = Some(value);
        Ok(())
    }

    async fn file(&mut self, _: &'static str, part: &mut FormField) -> Result<(), OpenAiError> {
        let tmp = TempFile::new_in(&self.tmp_dir).map_err(OpenAiError::internal)?;
        let received = receive(part, &tmp, self.limit).await.map_err(|e| match e {
            ReceiveError::TooLarge { limit } => OpenAiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::FileTooLarge,
                format!("the file is larger than {limit} bytes"),
            )
            .with_param("file"),
            ReceiveError::Body(m) => OpenAiError::invalid(ErrorCode::InvalidMultipart, m),
            ReceiveError::Io(e) => OpenAiError::internal(e),
        })?;
        self.file = Some((tmp, received.sha256));
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TextFormat {
    Json,
    Text,
    VerboseJson,
    Srt,
    Vtt,
}

impl TextFormat {
    fn parse(s: Option<&str>) -> Result<Self, OpenAiError> {
        Ok(match s {
            None | Some("json") => TextFormat::Json,
            Some("text") => TextFormat::Text,
            Some("verbose_json") => TextFormat::VerboseJson,
            Some("srt") => TextFormat::Srt,
            Some("vtt") => TextFormat::Vtt,
            Some(_) => {
                return Err(OpenAiError::param(
                    "response_format",
                    "response_format must be json, text, verbose_json, srt or vtt",
                ))
            }
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TranscriptionUsage {
    /// Always `duration`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Seconds of audio, rounded up.
    pub seconds: u64,
}

/// `response_format=json`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Transcription {
    pub text: String,
    pub usage: TranscriptionUsage,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TranscriptionSegment {
    pub id: usize,
    /// Seconds from the start of the file.
    pub start: f32,
    pub end: f32,
    pub text: String,
    pub seek: u64,
    #[schema(value_type = Vec<u32>)]
    pub tokens: Vec<u32>,
    pub temperature: f32,
}

/// `response_format=verbose_json`.
#[derive(Debug, Serialize, ToSchema)]
pub struct TranscriptionVerbose {
    /// Always `transcribe`.
    pub task: &'static str,
    pub language: &'static str,
    /// Seconds of audio.
    pub duration: f64,
    pub text: String,
    pub segments: Vec<TranscriptionSegment>,
    pub usage: TranscriptionUsage,
}

/// Transcribe audio
///
/// Speech to text with the node's speech-recognition model (English). The file's type is
/// decided from its content and checked by decoding it; the library's audio length limit
/// applies.
#[utoipa::path(
    post, path = "/v1/audio/transcriptions", tag = "openai",
    security(("bearer" = [])),
    request_body(content = TranscriptionForm, content_type = "multipart/form-data"),
    responses(
        (status = 200, body = Transcription, description = "`json`; `verbose_json` gives TranscriptionVerbose, `text`, `srt` and `vtt` plain text"),
        (status = 400, body = OpenAiErrorBody, description = "`missing_field`, `unknown_parameter`, `invalid_multipart`, `unsupported_file_type`, `unsupported_language`, `empty_file`, `corrupt_audio`, `audio_too_long`, `unsupported_type`, `invalid_value`, `model_not_supported`"),
        (status = 401, body = OpenAiErrorBody),
        (status = 403, body = OpenAiErrorBody, description = "`quota_exceeded`"),
        (status = 404, body = OpenAiErrorBody, description = "`model_not_found`"),
        (status = 413, body = OpenAiErrorBody, description = "`file_too_large`"),
        (status = 429, body = OpenAiErrorBody),
        (status = 503, body = OpenAiErrorBody, description = "`model_busy`, `model_unavailable`"),
    )
)]
pub async fn transcriptions(
    user: V1User,
    state: web::Data<AppState>,
    inference: web::Data<Inference>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, OpenAiError> {
    let parts = Parts {
        tmp_dir: state.settings.data_dir.join("tmp").join("v1"),
        limit: MAX_AUDIO_BYTES.min(inference.max_audio_bytes()),
        file: None,
        model: None,
        response_format: None,
        language: None,
        temperature: None,
        stream: None,
    };
    let fields = read_form(&req, payload, parts).await?;
    let model_name = fields.model.ok_or_else(|| {
        OpenAiError::invalid(
            ErrorCode::MissingField,
            "the required parameter `model` is missing",
        )
        .with_param("model")
    })?;
    let model = resolve(&state, &model_name, Task::Transcription)?;
    let (file, sha256) = fields.file.ok_or_else(|| {
        OpenAiError::invalid(
            ErrorCode::MissingField,
            "the required parameter `file` is missing",
        )
        .with_param("file")
    })?;
    let format = TextFormat::parse(fields.response_format.as_deref())?;
    if let Some(lang) = fields.language.as_deref() {
        if !matches!(lang.to_ascii_lowercase().as_str(), "en" | "english" | "") {
            return Err(OpenAiError::invalid(
                ErrorCode::UnsupportedLanguage,
                "this node's speech recognition understands English (`en`) only",
            )
            .with_param("language"));
        }
    }
    if let Some(t) = fields.temperature.as_deref() {
        let ok = t
            .trim()
            .parse::<f32>()
            .is_ok_and(|t| (0.0..=1.0).contains(&t));
        if !ok {
            return Err(OpenAiError::param(
                "temperature",
                "temperature must be a number from 0 to 1",
            ));
        }
    }
    if fields
        .stream
        .as_deref()
        .is_some_and(|s| s.eq_ignore_ascii_case("true"))
    {
        return Err(OpenAiError::invalid(
            ErrorCode::UnsupportedValue,
            "streamed transcriptions are not supported",
        )
        .with_param("stream"));
    }
    let Transcribed {
        duration,
        transcript,
    } = inference
        .transcribe(user.0.user_id, model, file, &sha256)
        .await?;
    let usage = TranscriptionUsage {
        kind: "duration",
        seconds: duration.ceil() as u64,
    };
    let plain = |body: String| {
        HttpResponse::Ok()
            .content_type("text/plain; charset=utf-8")
            .body(body)
    };
    Ok(match format {
        TextFormat::Json => HttpResponse::Ok().json(Transcription {
            text: transcript.text,
            usage,
        }),
        TextFormat::Text => plain(format!("{}\n", transcript.text)),
        TextFormat::Srt => plain(srt(&transcript.segments)),
        TextFormat::Vtt => HttpResponse::Ok()
            .content_type("text/vtt; charset=utf-8")
            .body(vtt(&transcript.segments)),
        TextFormat::VerboseJson => HttpResponse::Ok().json(TranscriptionVerbose {
            task: "transcribe",
            language: "english",
            duration,
            segments: transcript
                .segments
                .iter()
                .enumerate()
                .map(|(id, s)| TranscriptionSegment {
                    id,
                    start: s.start,
                    end: s.end,
                    text: s.text.clone(),
                    // Whisper's offset in 10 ms frames.
                    seek: (f64::from(s.start.max(0.0)) * 100.0).round() as u64,
                    tokens: Vec::new(),
                    temperature: 0.0,
                })
                .collect(),
            text: transcript.text,
            usage,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_formats_parse() {
        assert_eq!(TextFormat::parse(None).ok(), Some(TextFormat::Json));
        assert_eq!(
            TextFormat::parse(Some("verbose_json")).ok(),
            Some(TextFormat::VerboseJson)
        );
        assert!(TextFormat::parse(Some("xml")).is_err());
    }
}
