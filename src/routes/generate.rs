//! `/api/generate`: new items made by models from text or from the requester's items — speech,
//! transcripts, image descriptions, summaries, narrations — each linked to its sources with the
//! provenance of every model step.

use std::sync::Arc;

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use tessera_actors::jobs::Pipelines;
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;

use super::json::json_config;
use crate::auth::AuthUser;
use crate::content::{ContentService, GenerationView, ItemView};
use crate::error::{ApiResult, ErrorBody};
use crate::generate::{Generator, Voice, Work, MAX_SPEECH_CHARS};

/// A request body: the text to speak (at most 5,000 characters, about 20 KB) and some room.
const BODY_LIMIT: usize = 64 * 1024;

fn generator(
    content: &web::Data<ContentService>,
    pipelines: &web::Data<Arc<Pipelines>>,
) -> Generator {
    Generator::new(content.get_ref().clone(), pipelines.get_ref().clone())
}

/// Runs `work` for the caller: 201 with the new item.
async fn generate(
    content: &web::Data<ContentService>,
    pipelines: &web::Data<Arc<Pipelines>>,
    user: &AuthUser,
    work: Work,
    title: Option<String>,
) -> ApiResult<HttpResponse> {
    let item = generator(content, pipelines)
        .generate(user.user_id, work, title)
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/content/{}", item.id)))
        .json(item))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SpeechRequest {
    /// What to say: 1 to 5,000 characters.
    pub text: String,
    /// A voice id from `GET /api/generate/voices`; the node's voice when left out.
    pub voice: Option<String>,
    /// Speaking rate, 0.25 to 4 (1 is normal, 2 twice as fast).
    pub speed: Option<f32>,
    /// `wav` (default), `mp3` or `opus`.
    pub format: Option<String>,
    /// The new item's title; made from the text when left out.
    pub title: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NarrationRequest {
    /// A text item of the requester (at most 5,000 characters are read aloud).
    pub content_id: Uuid,
    pub voice: Option<String>,
    pub speed: Option<f32>,
    pub format: Option<String>,
    pub title: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TranscriptRequest {
    /// An audio item, or a video with sound, of the requester.
    pub content_id: Uuid,
    /// Start each segment on its own line with its time code (`[0:05] ...`).
    #[serde(default)]
    pub timestamps: bool,
    pub title: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceRequest {
    /// An item of the requester.
    pub content_id: Uuid,
    pub title: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SummaryRequest {
    /// Any item of the requester.
    pub content_id: Uuid,
    /// Longest summary in words, 10 to 300 (default 60); a video's summary is time-coded
    /// and sized by its scenes instead.
    pub words: Option<usize>,
    pub title: Option<String>,
}

/// Speak text
///
/// Reads the text aloud with a voice and stores the speech as a new audio item of the caller.
/// The item's `generation` records the voice, speed, format and the model's provenance.
#[utoipa::path(
    post, path = "/api/generate/speech", operation_id = "generate_speech", tag = "generate",
    security(("bearer" = []), ("cookie" = [])),
    request_body = SpeechRequest,
    responses(
        (status = 201, body = ItemView, description = "The new audio item"),
        (status = 403, body = ErrorBody, description = "`quota_exceeded` (the limit is named in `field`)"),
        (status = 422, body = ErrorBody, description = "`empty_text`, `text_too_long`, `nothing_to_say`, `unknown_voice`, `unknown_format`, `validation_failed`"),
        (status = 503, body = ErrorBody, description = "`model_busy`, `model_unavailable`"),
    )
)]
pub async fn speech(
    user: AuthUser,
    content: web::Data<ContentService>,
    pipelines: web::Data<Arc<Pipelines>>,
    body: web::Json<SpeechRequest>,
) -> ApiResult<HttpResponse> {
    let b = body.into_inner();
    let voice = Voice {
        voice: b.voice,
        speed: b.speed,
        format: b.format,
    };
    let work = Work::Speech {
        text: b.text,
        voice,
    };
    generate(&content, &pipelines, &user, work, b.title).await
}

/// Narrate a text item
///
/// Reads one of the caller's text items (a note or an uploaded text) aloud: a new audio item
/// generated from it.
#[utoipa::path(
    post, path = "/api/generate/narration", tag = "generate",
    security(("bearer" = []), ("cookie" = [])),
    request_body = NarrationRequest,
    responses(
        (status = 201, body = ItemView, description = "The new audio item"),
        (status = 403, body = ErrorBody, description = "`quota_exceeded`"),
        (status = 404, body = ErrorBody, description = "No such item of the caller"),
        (status = 422, body = ErrorBody, description = "`unsupported_source` (not text), `empty_text`, `text_too_long`, `unknown_voice`, `unknown_format`"),
    )
)]
pub async fn narration(
    user: AuthUser,
    content: web::Data<ContentService>,
    pipelines: web::Data<Arc<Pipelines>>,
    body: web::Json<NarrationRequest>,
) -> ApiResult<HttpResponse> {
    let b = body.into_inner();
    let voice = Voice {
        voice: b.voice,
        speed: b.speed,
        format: b.format,
    };
    let work = Work::Narration {
        content_id: b.content_id.into(),
        voice,
    };
    generate(&content, &pipelines, &user, work, b.title).await
}

/// Transcribe speech
///
/// Writes down what is said in an audio item or a video's sound: a new text item. The
/// source's analysis is reused when it has one; otherwise the speech recogniser runs now.
#[utoipa::path(
    post, path = "/api/generate/transcript", tag = "generate",
    security(("bearer" = []), ("cookie" = [])),
    request_body = TranscriptRequest,
    responses(
        (status = 201, body = ItemView, description = "The new text item"),
        (status = 403, body = ErrorBody, description = "`quota_exceeded`"),
        (status = 404, body = ErrorBody, description = "No such item of the caller"),
        (status = 409, body = ErrorBody, description = "`analysis_pending`: a long recording waits for its analysis"),
        (status = 422, body = ErrorBody, description = "`unsupported_source` (no sound), `no_speech`"),
    )
)]
pub async fn transcript(
    user: AuthUser,
    content: web::Data<ContentService>,
    pipelines: web::Data<Arc<Pipelines>>,
    body: web::Json<TranscriptRequest>,
) -> ApiResult<HttpResponse> {
    let b = body.into_inner();
    let work = Work::Transcript {
        content_id: b.content_id.into(),
        timestamps: b.timestamps,
    };
    generate(&content, &pipelines, &user, work, b.title).await
}

/// Describe an image
///
/// A new text item with a description of the picture (from its labels and text, by the
/// language model) followed by the text read in it. `generation.parameters.labels` lists what
/// the classifier saw.
#[utoipa::path(
    post, path = "/api/generate/description", tag = "generate",
    security(("bearer" = []), ("cookie" = [])),
    request_body = SourceRequest,
    responses(
        (status = 201, body = ItemView, description = "The new text item"),
        (status = 403, body = ErrorBody, description = "`quota_exceeded`"),
        (status = 404, body = ErrorBody, description = "No such item of the caller"),
        (status = 422, body = ErrorBody, description = "`unsupported_source` (not an image)"),
    )
)]
pub async fn description(
    user: AuthUser,
    content: web::Data<ContentService>,
    pipelines: web::Data<Arc<Pipelines>>,
    body: web::Json<SourceRequest>,
) -> ApiResult<HttpResponse> {
    let b = body.into_inner();
    let work = Work::Description {
        content_id: b.content_id.into(),
    };
    generate(&content, &pipelines, &user, work, b.title).await
}

/// Summarise an item
///
/// A new text item summarising any item: a text, a recording's transcript, an image's
/// description, or a video's time-coded summary (`[0:05] ...` lines from its scenes, on-screen
/// text and speech).
#[utoipa::path(
    post, path = "/api/generate/summary", tag = "generate",
    security(("bearer" = []), ("cookie" = [])),
    request_body = SummaryRequest,
    responses(
        (status = 201, body = ItemView, description = "The new text item"),
        (status = 403, body = ErrorBody, description = "`quota_exceeded`"),
        (status = 404, body = ErrorBody, description = "No such item of the caller"),
        (status = 409, body = ErrorBody, description = "`analysis_pending`: a long recording waits for its analysis"),
        (status = 422, body = ErrorBody, description = "`validation_failed` (words), `no_speech`, `nothing_to_summarise`, `unsupported_source`"),
    )
)]
pub async fn summary(
    user: AuthUser,
    content: web::Data<ContentService>,
    pipelines: web::Data<Arc<Pipelines>>,
    body: web::Json<SummaryRequest>,
) -> ApiResult<HttpResponse> {
    let b = body.into_inner();
    let work = Work::Summary {
        content_id: b.content_id.into(),
        words: b.words,
    };
    generate(&content, &pipelines, &user, work, b.title).await
}

/// What speech can be made with.
#[derive(Debug, Serialize, ToSchema)]
pub struct VoicesView {
    pub voices: Vec<String>,
    pub formats: Vec<String>,
    /// The most characters spoken in one request.
    pub max_characters: usize,
}

/// Voices and formats
#[utoipa::path(
    get, path = "/api/generate/voices", tag = "generate",
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = VoicesView))
)]
pub async fn voices(
    _user: AuthUser,
    content: web::Data<ContentService>,
    pipelines: web::Data<Arc<Pipelines>>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(VoicesView {
        voices: generator(&content, &pipelines).voices(),
        formats: ["wav", "mp3", "opus"].map(str::to_owned).to_vec(),
        max_characters: MAX_SPEECH_CHARS,
    }))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/generate")
            .app_data(json_config(BODY_LIMIT))
            .route("/voices", web::get().to(voices))
            .route("/speech", web::post().to(speech))
            .route("/narration", web::post().to(narration))
            .route("/transcript", web::post().to(transcript))
            .route("/description", web::post().to(description))
            .route("/summary", web::post().to(summary)),
    );
}

#[derive(OpenApi)]
#[openapi(
    paths(voices, speech, narration, transcript, description, summary),
    components(schemas(
        SpeechRequest,
        NarrationRequest,
        TranscriptRequest,
        SourceRequest,
        SummaryRequest,
        VoicesView,
        ItemView,
        GenerationView,
        ErrorBody
    ))
)]
struct GenerateApi;

pub fn openapi() -> utoipa::openapi::OpenApi {
    GenerateApi::openapi()
}
