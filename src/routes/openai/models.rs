//! `GET /v1/models` and `GET /v1/models/{model}`: the models this node serves.

use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use super::error::OpenAiErrorBody;
use super::{served, OpenAiError, Task, V1User};
use crate::state::AppState;

/// One model, as OpenAI lists it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModelObject {
    /// The catalog id; pass it as `model`.
    pub id: String,
    /// Always `model`.
    pub object: &'static str,
    /// Unix seconds; this node does not know when a model was made, so 0.
    pub created: i64,
    pub owned_by: &'static str,
    /// What the model does here: `chat`, `embeddings`, `transcription` or `speech`
    /// (an extension of OpenAI's object).
    pub task: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ModelList {
    /// Always `list`.
    pub object: &'static str,
    pub data: Vec<ModelObject>,
}

fn object(id: String, task: Task) -> ModelObject {
    ModelObject {
        id,
        object: "model",
        created: 0,
        owned_by: "tessera",
        task: match task {
            Task::Chat => "chat",
            Task::Embeddings => "embeddings",
            Task::Transcription => "transcription",
            Task::Speech => "speech",
        },
    }
}

/// List models
///
/// The chat, embedding, speech-recognition and speech-synthesis models of this node, by
/// catalog id.
#[utoipa::path(
    get, path = "/v1/models", operation_id = "openai_list_models", tag = "openai",
    security(("bearer" = [])),
    responses(
        (status = 200, body = ModelList),
        (status = 401, body = OpenAiErrorBody, description = "`invalid_api_key`, `missing_api_key`"),
        (status = 429, body = OpenAiErrorBody, description = "`rate_limit_exceeded`"),
    )
)]
pub async fn list(_user: V1User, state: web::Data<AppState>) -> HttpResponse {
    let data = served(&state)
        .into_iter()
        .map(|(id, task)| object(id, task))
        .collect();
    HttpResponse::Ok().json(ModelList {
        object: "list",
        data,
    })
}

/// Retrieve a model
#[utoipa::path(
    get, path = "/v1/models/{model}", tag = "openai",
    security(("bearer" = [])),
    params(("model" = String, Path, description = "A catalog id from `GET /v1/models`")),
    responses(
        (status = 200, body = ModelObject),
        (status = 401, body = OpenAiErrorBody),
        (status = 404, body = OpenAiErrorBody, description = "`model_not_found`"),
    )
)]
pub async fn retrieve(
    _user: V1User,
    state: web::Data<AppState>,
    model: web::Path<String>,
) -> Result<HttpResponse, OpenAiError> {
    let model = model.into_inner();
    served(&state)
        .into_iter()
        .find(|(id, _)| *id == model)
        .map(|(id, task)| HttpResponse::Ok().json(object(id, task)))
        .ok_or_else(|| OpenAiError::model_not_found(&model))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/models").route(web::get().to(list)))
        .service(web::resource("/v1/models/{model}").route(web::get().to(retrieve)));
}

#[derive(OpenApi)]
#[openapi(
    paths(list, retrieve),
    components(schemas(ModelList, ModelObject, OpenAiErrorBody))
)]
struct ModelsApi;

pub fn openapi() -> utoipa::openapi::OpenApi {
    ModelsApi::openapi()
}
