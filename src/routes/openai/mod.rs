//! The OpenAI-compatible API under `/v1`: `models`, `chat/completions` (streamed or not),
//! `embeddings`, `audio/transcriptions` and `audio/speech`, over the node's own models.
//!
//! Callers authenticate with a Tessera API key (or an access token) as `Authorization: Bearer`,
//! so OpenAI's clients work with `base_url=<server>/v1` and `api_key=<tsk_…>`. Model ids are the
//! catalog ids of the models this node uses (`processing.models.*`, listed by `GET /v1/models`);
//! `whisper-1` and `tts-1`/`tts-1-hd` are accepted as aliases of the speech models, since many
//! tools send those names unasked. The work itself, with the caller's quota and metering, is
//! [`crate::inference`]'s: these modules parse requests and write answers and errors in
//! OpenAI's shape (see [`error`]).

pub mod audio;
pub mod chat;
pub mod embeddings;
pub mod error;
pub mod models;

use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use tessera_events::ErrorCode;
use utoipa::OpenApi;

pub use error::{OpenAiError, OpenAiErrorBody};

use crate::auth::service::AuthMethod;
use crate::auth::AuthUser;
use crate::ratelimit::{retry_after_secs, Decision, RateLimitPolicy};
use crate::state::AppState;

/// A caller of `/v1`: signed in (API key or access token) and within the per-user request
/// rate. The rate-limit middleware counts every request per address and access-token
/// requests per user; API-key requests are counted against their user here, once the key is
/// known. Refusals come in OpenAI's error shape.
#[derive(Debug, Clone, Copy)]
pub struct V1User(pub AuthUser);

impl FromRequest for V1User {
    type Error = OpenAiError;
    type Future = LocalBoxFuture<'static, Result<Self, OpenAiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let user = AuthUser::from_request(req, payload);
        let policy = req.app_data::<web::Data<RateLimitPolicy>>().cloned();
        Box::pin(async move {
            let user = user.await?;
            let by_key = matches!(user.method, AuthMethod::ApiKey { .. });
            if let Some(policy) = policy.filter(|p| by_key && p.settings().enabled) {
                let s = policy.settings();
                let window = Duration::from_secs(s.window_secs.max(1));
                let bucket = format!("user:{}", user.user_id);
                if let Decision::Limited { retry_after } =
                    policy.limiter().check(&bucket, s.per_user, window).await
                {
                    let secs = retry_after_secs(retry_after);
                    return Err(OpenAiError::new(
                        StatusCode::TOO_MANY_REQUESTS,
                        ErrorCode::RateLimitExceeded,
                        format!("too many requests; retry in {secs} s"),
                    )
                    .with_retry_after(secs));
                }
            }
            Ok(V1User(user))
        })
    }
}

/// What a model of `/v1` is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    Chat,
    Embeddings,
    Transcription,
    Speech,
}

impl Task {
    fn endpoint(self) -> &'static str {
        match self {
            Task::Chat => "/v1/chat/completions",
            Task::Embeddings => "/v1/embeddings",
            Task::Transcription => "/v1/audio/transcriptions",
            Task::Speech => "/v1/audio/speech",
        }
    }
}

/// OpenAI's model names accepted for this node's speech models.
const ALIASES: &[(&str, Task)] = &[
    ("whisper-1", Task::Transcription),
    ("tts-1", Task::Speech),
    ("tts-1-hd", Task::Speech),
];

/// The catalog ids this node serves, with their tasks.
pub fn served(state: &AppState) -> Vec<(String, Task)> {
    let m = &state.settings.processing.models;
    vec![
        (m.chat.clone(), Task::Chat),
        (m.embeddings.clone(), Task::Embeddings),
        (m.speech_recognition.clone(), Task::Transcription),
        (m.speech_synthesis.clone(), Task::Speech),
    ]
}

/// The catalog id of the model a request names for `task`: 404 `model_not_found` for a name
/// this node does not serve, 400 `model_not_supported` for one of another task.
pub fn resolve(state: &AppState, requested: &str, task: Task) -> Result<String, OpenAiError> {
    let models = served(state);
    let alias = ALIASES
        .iter()
        .find(|(name, _)| *name == requested)
        .map(|(_, t)| *t);
    let found = match alias {
        Some(t) => models.iter().find(|(_, mt)| *mt == t),
        None => models.iter().find(|(id, _)| id == requested),
    };
    match found {
        Some((id, t)) if *t == task => Ok(id.clone()),
        Some(_) => Err(OpenAiError::invalid(
            ErrorCode::ModelNotSupported,
            format!(
                "the model `{requested}` cannot be used with {}",
                task.endpoint()
            ),
        )
        .with_param("model")),
        None => Err(OpenAiError::model_not_found(requested)),
    }
}

/// Reads a JSON body of at most `limit` bytes: 413 `payload_too_large` past it, 400
/// `invalid_json` when it does not parse, 400 `invalid_type` / `missing_field` /
/// `unknown_parameter` when it is not the request's shape. Values are never echoed.
///
/// The body is parsed straight into `T`, never into a `serde_json::Value` first: a tree of
/// values costs tens of bytes per number, so a 4 MiB list of zeros would take hundreds of MB,
/// where `T`'s own types keep only what they need (see [`crate::routes::capped`]).
pub async fn read_json<T: DeserializeOwned>(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<T, OpenAiError> {
    let body = crate::routes::body::read_whole(req, payload, limit)
        .await
        .map_err(|e| match e {
            crate::routes::body::BodyError::TooLarge { .. } => OpenAiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::PayloadTooLarge,
                e.to_string(),
            ),
            crate::routes::body::BodyError::Incomplete(_) => {
                OpenAiError::invalid(ErrorCode::InvalidBody, e.to_string())
            }
        })?;
    let body = &body.bytes;
    let not_json = |e: serde_json::Error| {
        OpenAiError::invalid(
            ErrorCode::InvalidJson,
            format!(
                "the body is not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            ),
        )
    };
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        serde_json::from_slice::<serde::de::IgnoredAny>(body).map_err(not_json)?;
        return Err(OpenAiError::invalid(
            ErrorCode::InvalidJson,
            "the body must be a JSON object",
        ));
    }
    serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => shape_error(&e),
        _ => not_json(e),
    })
}

/// A serde error as a 400 that names the field where serde does, without quoting values.
pub(crate) fn shape_error(e: &serde_json::Error) -> OpenAiError {
    let msg = e.to_string();
    let msg = msg.split(" at line ").next().unwrap_or(&msg);
    let named = |prefix: &str| msg.strip_prefix(prefix).and_then(|r| r.split('`').nth(1));
    if let Some(field) = named("unknown field ") {
        return OpenAiError::invalid(
            ErrorCode::UnknownParameter,
            format!("unrecognised request parameter `{field}`"),
        )
        .with_param(field);
    }
    if let Some(field) = named("missing field ") {
        return OpenAiError::invalid(
            ErrorCode::MissingField,
            format!("the required parameter `{field}` is missing"),
        )
        .with_param(field);
    }
    // "invalid type: string \"…\", expected …": keep only what was expected.
    let expected = msg.rsplit_once("expected ").map(|(_, e)| e);
    let message = match expected {
        Some(e) => format!("a parameter has the wrong type or value (expected {e})"),
        None => "a parameter has the wrong type or value".to_owned(),
    };
    OpenAiError::invalid(ErrorCode::InvalidType, message)
}

/// Seconds since the Unix epoch, for `created` fields.
pub fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Registers the `/v1` routes; any other path under `/v1` is a 404 in OpenAI's shape.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.configure(models::configure)
        .configure(chat::configure)
        .configure(embeddings::configure)
        .configure(audio::configure)
        .service(web::scope("/v1").default_service(web::to(unknown_url)));
}

async fn unknown_url(req: HttpRequest) -> Result<actix_web::HttpResponse, OpenAiError> {
    Err(OpenAiError::new(
        StatusCode::NOT_FOUND,
        ErrorCode::UnknownUrl,
        format!(
            "this server has no {} {} (see GET /v1/models and the OpenAPI document)",
            req.method(),
            req.path()
        ),
    ))
}

/// This module's part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = V1Api::openapi();
    for part in [
        models::openapi(),
        chat::openapi(),
        embeddings::openapi(),
        audio::openapi(),
    ] {
        doc.merge(part);
    }
    doc
}

#[derive(OpenApi)]
#[openapi(components(schemas(OpenAiErrorBody, error::OpenAiErrorDetail)))]
struct V1Api;

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Req {
        model: String,
        temperature: Option<f32>,
    }

    fn shape(s: &str) -> OpenAiError {
        let v: serde_json::Value = serde_json::from_str(s).unwrap_or_default();
        match serde_json::from_value::<Req>(v) {
            Ok(r) => panic!("{r:?} parsed"),
            Err(e) => shape_error(&e),
        }
    }

    #[test]
    fn shape_errors_name_the_parameter_and_never_echo_values() {
        let e = shape(r#"{"model":"m","tempreature":1}"#);
        assert_eq!(
            (e.code.as_str(), e.param.as_deref()),
            ("unknown_parameter", Some("tempreature"))
        );
        let e = shape(r#"{"temperature":1}"#);
        assert_eq!(
            (e.code.as_str(), e.param.as_deref()),
            ("missing_field", Some("model"))
        );
        let e = shape(r#"{"model":"m","temperature":"secret-words"}"#);
        assert_eq!(e.code, "invalid_type");
        assert!(!e.message.contains("secret-words"), "{}", e.message);
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
    }
}
