//! `POST /v1/audio/transcriptions` (speech to text: the node's VAD and speech-recognition
//! models) and `POST /v1/audio/speech` (text to speech: the node's voice).

use std::sync::Arc;
use std::time::Instant;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use tessera_actors::jobs::Pipelines;
use tessera_events::content::Modality;
use tessera_models::audio::Segment;
use tessera_models::media::{self, MediaError, Modality as MediaModality};
use tessera_models::speech::encode::check_encoder;
use tessera_models::speech::{encode, AudioFormat, SynthOptions};
use utoipa::{OpenApi, ToSchema};

use super::error::{step_error, OpenAiErrorBody};
use super::{check_quota, meter, read_json, resolve, OpenAiError, Task, Usage, V1User};
use crate::content::receive::{receive, ReceiveError, TempFile};
use crate::content::ContentService;
use crate::routes::form::{self, FieldError, FormError, FormField};
use crate::state::AppState;

/// Largest audio file accepted for transcription (as OpenAI), unless the library's own audio
/// limit is lower.
pub const MAX_AUDIO_BYTES: u64 = 25 << 20;
/// Largest text field of the transcription form.
const MAX_FIELD_BYTES: usize = 16 << 10;
/// Longest text spoken in one request (as OpenAI).
pub const MAX_SPEECH_CHARS: usize = 4096;
/// Largest speech request body.
const MAX_SPEECH_BODY: usize = 64 << 10;
/// OpenAI's voice names; each speaks with this node's voice.
pub const VOICES: &[&str] = &[
    "alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage", "shimmer", "verse",
    "default",
];

// ------------------------------------------------------------------ transcriptions

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

#[derive(Debug, Default)]
struct Form {
    model: Option<String>,
    response_format: Option<String>,
    language: Option<String>,
    temperature: Option<String>,
    stream: Option<String>,
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

async fn text_field(field: &mut FormField, name: &str) -> Result<String, OpenAiError> {
    let bytes = field
        .read_to_limit(MAX_FIELD_BYTES)
        .await
        .map_err(|e| match e {
            FieldError::Form(e) => form_error(&e),
            FieldError::TooLong { .. } => OpenAiError::param(
                name,
                format!("`{name}` is longer than {MAX_FIELD_BYTES} bytes"),
            ),
        })?;
    String::from_utf8(bytes).map_err(|_| OpenAiError::param(name, format!("`{name}` is not UTF-8")))
}

fn form_error(e: &FormError) -> OpenAiError {
    OpenAiError::invalid("invalid_multipart", e.to_string())
}

/// `h:mm:ss,mmm` (SRT) or `hh:mm:ss.mmm` (WebVTT).
fn timestamp(seconds: f32, separator: char) -> String {
    let ms = (f64::from(seconds.max(0.0)) * 1000.0).round() as u64;
    format!(
        "{:02}:{:02}:{:02}{separator}{:03}",
        ms / 3_600_000,
        (ms / 60_000) % 60,
        (ms / 1000) % 60,
        ms % 1000
    )
}

fn srt(segments: &[Segment]) -> String {
    let mut out = String::new();
    for (i, s) in segments.iter().enumerate() {
        out.push_str(&format!(
            "{}\n{} --> {}\n{}\n\n",
            i + 1,
            timestamp(s.start, ','),
            timestamp(s.end, ','),
            s.text.trim()
        ));
    }
    out
}

fn vtt(segments: &[Segment]) -> String {
    let mut out = String::from("WEBVTT\n\n");
    for s in segments {
        out.push_str(&format!(
            "{} --> {}\n{}\n\n",
            timestamp(s.start, '.'),
            timestamp(s.end, '.'),
            s.text.trim()
        ));
    }
    out
}

fn media_error(e: MediaError) -> OpenAiError {
    if !e.is_client_error() {
        return OpenAiError::internal(e);
    }
    OpenAiError::invalid(e.code(), e.to_string()).with_param("file")
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
    service: web::Data<ContentService>,
    pipelines: web::Data<Arc<Pipelines>>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, OpenAiError> {
    let mut form = form::Form::new(&req, payload).map_err(|e| form_error(&e))?;
    let limit = MAX_AUDIO_BYTES.min(service.settings().max_audio_bytes);
    let tmp_dir = state.settings.data_dir.join("tmp").join("v1");
    let mut fields = Form::default();
    let mut file: Option<(TempFile, String)> = None;
    while let Some(mut field) = form.next_field().await.map_err(|e| form_error(&e))? {
        let name = field.name().to_owned();
        match name.as_str() {
            "file" => {
                let tmp = TempFile::new_in(&tmp_dir).map_err(OpenAiError::internal)?;
                let received = receive(&mut field, &tmp, limit)
                    .await
                    .map_err(|e| match e {
                        ReceiveError::TooLarge { limit } => OpenAiError::new(
                            StatusCode::PAYLOAD_TOO_LARGE,
                            "file_too_large",
                            format!("the file is larger than {limit} bytes"),
                        )
                        .with_param("file"),
                        ReceiveError::Body(m) => OpenAiError::invalid("invalid_multipart", m),
                        ReceiveError::Io(e) => OpenAiError::internal(e),
                    })?;
                file = Some((tmp, received.sha256));
            }
            "model" => fields.model = Some(text_field(&mut field, "model").await?),
            "response_format" => {
                fields.response_format = Some(text_field(&mut field, "response_format").await?)
            }
            "language" => fields.language = Some(text_field(&mut field, "language").await?),
            "temperature" => {
                fields.temperature = Some(text_field(&mut field, "temperature").await?)
            }
            "stream" => fields.stream = Some(text_field(&mut field, "stream").await?),
            // Read and not applied.
            "prompt"
            | "timestamp_granularities[]"
            | "timestamp_granularities"
            | "chunking_strategy"
            | "include[]"
            | "user" => {
                text_field(&mut field, &name).await?;
            }
            _ => {
                return Err(OpenAiError::invalid(
                    "unknown_parameter",
                    format!("unrecognised request parameter `{name}`"),
                )
                .with_param(name))
            }
        }
    }
    let model_name = fields.model.ok_or_else(|| {
        OpenAiError::invalid("missing_field", "the required parameter `model` is missing")
            .with_param("model")
    })?;
    let model = resolve(&state, &model_name, Task::Transcription)?;
    let (file, sha256) = file.ok_or_else(|| {
        OpenAiError::invalid("missing_field", "the required parameter `file` is missing")
            .with_param("file")
    })?;
    let format = TextFormat::parse(fields.response_format.as_deref())?;
    if let Some(lang) = fields.language.as_deref() {
        if !matches!(lang.to_ascii_lowercase().as_str(), "en" | "english" | "") {
            return Err(OpenAiError::invalid(
                "unsupported_language",
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
            "unsupported_value",
            "streamed transcriptions are not supported",
        )
        .with_param("stream"));
    }
    check_quota(&service, &user).await?;
    let started = Instant::now();

    let limits = service.settings().media_limits();
    let path = file.path().to_owned();
    let probed = tokio::task::spawn_blocking(move || media::probe(&path, &limits))
        .await
        .map_err(OpenAiError::internal)?
        .map_err(media_error)?;
    if probed.modality != MediaModality::Audio {
        return Err(OpenAiError::invalid(
            "unsupported_file_type",
            format!(
                "the file is {} ({}), not audio",
                probed.modality, probed.mime
            ),
        )
        .with_param("file"));
    }
    let (duration, transcript, _provenance) = pipelines
        .transcribe_file(file.path(), &sha256)
        .await
        .map_err(step_error)?;
    drop(file);
    meter(
        &service,
        user.0.user_id,
        Usage {
            kind: "transcription",
            modality: Modality::Audio,
            model,
            tokens_in: 0,
            tokens_out: 0,
            audio_ms: (duration * 1000.0).round() as u64,
            started,
        },
    )
    .await;
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

// ------------------------------------------------------------------ speech

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
    service: web::Data<ContentService>,
    pipelines: web::Data<Arc<Pipelines>>,
    body: web::Payload,
) -> Result<HttpResponse, OpenAiError> {
    let r: SpeechRequest = read_json(body, MAX_SPEECH_BODY).await?;
    let model = resolve(&state, &r.model, Task::Speech)?;
    if r.input.trim().is_empty() {
        return Err(OpenAiError::invalid("empty_input", "`input` is empty").with_param("input"));
    }
    let chars = r.input.chars().count();
    if chars > MAX_SPEECH_CHARS {
        return Err(OpenAiError::invalid(
            "input_too_long",
            format!("`input` is {chars} characters; at most {MAX_SPEECH_CHARS}"),
        )
        .with_param("input"));
    }
    if !(VOICES.contains(&r.voice.as_str()) || r.voice == model) {
        return Err(OpenAiError::invalid(
            "unsupported_voice",
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
                "unsupported_response_format",
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
            "unsupported_value",
            "only stream_format `audio` is supported",
        )
        .with_param("stream_format"));
    }
    tokio::task::spawn_blocking(move || check_encoder(format))
        .await
        .map_err(OpenAiError::internal)?
        .map_err(|e| {
            OpenAiError::invalid(
                "unsupported_response_format",
                format!("this server cannot write {}: {e}", format.extension()),
            )
            .with_param("response_format")
        })?;
    check_quota(&service, &user).await?;
    let started = Instant::now();
    let options = SynthOptions {
        speed,
        ..SynthOptions::default()
    };
    let (spoken, _provenance) = pipelines
        .speak(&r.input, options)
        .await
        .map_err(step_error)?;
    let audio_ms = (spoken.duration_secs() * 1000.0).round() as u64;
    let bytes = tokio::task::spawn_blocking(move || encode(&spoken, format))
        .await
        .map_err(OpenAiError::internal)?
        .map_err(OpenAiError::internal)?;
    meter(
        &service,
        user.0.user_id,
        Usage {
            kind: "speech",
            modality: Modality::Audio,
            model,
            tokens_in: 0,
            tokens_out: 0,
            audio_ms,
            started,
        },
    )
    .await;
    Ok(HttpResponse::Ok()
        .content_type(format.mime_type())
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"speech.{}\"", format.extension()),
        ))
        .body(bytes))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/audio/transcriptions").route(web::post().to(transcriptions)))
        .service(web::resource("/v1/audio/speech").route(web::post().to(speech)));
}

#[derive(OpenApi)]
#[openapi(
    paths(transcriptions, speech),
    components(schemas(
        TranscriptionForm,
        Transcription,
        TranscriptionVerbose,
        TranscriptionSegment,
        TranscriptionUsage,
        SpeechRequest,
        OpenAiErrorBody
    ))
)]
struct AudioApi;

pub fn openapi() -> utoipa::openapi::OpenApi {
    AudioApi::openapi()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(start: f32, end: f32, text: &str) -> Segment {
        Segment {
            start,
            end,
            text: text.into(),
        }
    }

    #[test]
    fn subtitles_have_their_formats_time_codes() {
        let s = [seg(0.0, 1.5, " Hello"), seg(61.25, 3725.0, "world ")];
        assert_eq!(
            srt(&s),
            "1\n00:00:00,000 --> 00:00:01,500\nHello\n\n2\n00:01:01,250 --> 01:02:05,000\nworld\n\n"
        );
        assert_eq!(
            vtt(&s[..1]),
            "WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nHello\n\n"
        );
    }

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
