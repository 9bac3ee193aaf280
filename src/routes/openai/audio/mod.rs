//! `/v1/audio`: `transcriptions` (speech to text: the node's VAD and speech-recognition
//! models) and `speech` (text to speech: the node's voice).

pub mod speech;
mod subtitles;
pub mod transcriptions;

use actix_web::web;
use utoipa::OpenApi;

pub use speech::{SpeechRequest, MAX_SPEECH_CHARS, VOICES};
pub use transcriptions::{
    Transcription, TranscriptionForm, TranscriptionSegment, TranscriptionUsage,
    TranscriptionVerbose, MAX_AUDIO_BYTES,
};

use super::error::OpenAiErrorBody;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/v1/audio/transcriptions")
            .route(web::post().to(transcriptions::transcriptions)),
    )
    .service(web::resource("/v1/audio/speech").route(web::post().to(speech::speech)));
}

#[derive(OpenApi)]
#[openapi(
    paths(transcriptions::transcriptions, speech::speech),
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
