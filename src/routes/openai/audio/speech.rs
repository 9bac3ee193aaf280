//! `POST /v1/audio/speech`: text to speech with the node's voice
//! ([`crate::inference::speech`]), as OpenAI's clients ask for it.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use tessera_events::ErrorCode;
use tessera_models::speech::AudioFormat;
use utoipa::ToSchema;

use crate::inference::Inference;
use crate::routes::openai::error::OpenAiErrorBody;
use crate::routes::openai::{read_json, resolve, OpenAiError, Task, V1User};
use crate::state::AppState;

/// Longest text spoken in one request (as OpenAI).
pub const MAX_SPEECH_CHARS: usize = 4096;
/// Largest speech request body.
const MAX_SPEECH_BODY: usize = 64 << 10;
/// OpenAI's voice names; each speaks with this node's voice.
pub const VOICES: &[&str] = &[
    "alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage", "shimmer", "verse",
    "default",
];

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SpeechRequest {
    /// The voice model's catalog id, or `tts-1` / `tts-1-hd`.
    pub model: String,
    /// The text, at most 4096 characters.
    pub input: String,
    /// One of OpenAI's voice names (or `default`, or the voice model's id); all speak with
    /// this node's voice.
    pub voice: String,
    /// `mp3` (default), `opus` (in Ogg) or `wav`.
    pub response_format: Option<String>,
    /// 0.25 to 4.0 (default 1.0).
    pub speed: Option<f32>,
    /// Accepted.
    pub instructions: Option<String>,
    /// Only `audio`.
    pub stream_format: Option<String>,
}

/// Create speech
///
/// Text to speech with the node's voice; the body is the audio file.
#[utoipa::path(
    post, path = "/v1/audio/speech", operation_id = "openai_create_speech", tag = "openai",
    security(("bearer" = [])),
    request_body = SpeechRequest,
    responses(
        (status = 200, description = "The audio (`audio/mpeg`, `audio/ogg` or `audio/wav`)", content_type = "application/octet-stream"),
        (status = 400, body = OpenAiErrorBody, description = "`input_too_long`, `empty_input`, `unsupported_voice`, `unsupported_response_format`, `invalid_value`, `nothing_to_say`, `invalid_json`, `model_not_supported`"),
        (status = 401, body = OpenAiErrorBody),
        (status = 403, body = OpenAiErrorBody, description = "`quota_exceeded`"),
        (status = 404, body = OpenAiErrorBody, description = "`model_not_found`"),
        (status = 429, body = OpenAiErrorBody),
        (status = 503, body = OpenAiErrorBody, description = "`model_busy`, `model_unavailable`"),
    )
)]
pub async fn speech(
    user: V1User,
    state: web::Data<AppState>,
    inference: web::Data<Inference>,
    req: actix_web::HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, OpenAiError> {
    let r: SpeechRequest = read_json(&req, body, MAX_SPEECH_BODY).await?;
    let model = resolve(&state, &r.model, Task::Speech)?;
    if r.input.trim().is_empty() {
        return Err(
            OpenAiError::invalid(ErrorCode::EmptyInput, "`input` is empty").with_param("input"),
        );
    }
    let chars = r.input.chars().count();
    if chars > MAX_SPEECH_CHARS {
        return Err(OpenAiError::invalid(
            ErrorCode::InputTooLong,
            format!("`input` is {chars} characters; at most {MAX_SPEECH_CHARS}"),
        )
        .with_param("input"));
    }
    if !(VOICES.contains(&r.voice.as_str()) || r.voice == model) {
        return Err(OpenAiError::invalid(
            ErrorCode::UnsupportedVoice,
            format!(
                "voice must be one of {} (all speak with this node's voice)",
                VOICES.join(", ")
            ),
        )
        .with_param("voice"));
    }
    let format = match r.response_format.as_deref().unwrap_or("mp3") {
        "mp3" => AudioFormat::Mp3,
        "opus" => AudioFormat::Opus,
        "wav" => AudioFormat::Wav,
        other @ ("aac" | "flac" | "pcm") => {
            return Err(OpenAiError::invalid(
                ErrorCode::UnsupportedResponseFormat,
                format!("response_format `{other}` is not supported; use mp3, opus or wav"),
            )
            .with_param("response_format"))
        }
        _ => {
            return Err(OpenAiError::param(
                "response_format",
                "response_format must be mp3, opus or wav",
            ))
        }
    };
    let speed = r.speed.unwrap_or(1.0);
    if !(0.25..=4.0).contains(&speed) {
        return Err(OpenAiError::param(
            "speed",
            "speed must be from 0.25 to 4.0",
        ));
    }
    if r.stream_format.as_deref().is_some_and(|f| f != "audio") {
        return Err(OpenAiError::invalid(
            ErrorCode::UnsupportedValue,
            "only stream_format `audio` is supported",
        )
        .with_param("stream_format"));
    }
    let spoken = inference
        .speak(user.0.user_id, model, &r.input, speed, format)
        .await?;
    Ok(HttpResponse::Ok()
        .content_type(format.mime_type())
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"speech.{}\"", format.extension()),
        ))
        .body(spoken.bytes))
}
