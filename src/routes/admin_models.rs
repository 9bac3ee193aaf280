//! `GET /api/admin/models`: the model catalog, what is installed, and what this node has loaded;
//! `POST /api/admin/models/{id}/load|unload`: load a model now, or free its memory.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use tessera_actors::models::{
    ControlError, GetRegistryReport, LoadModel, RegistryReport, UnloadModel,
};
use tessera_models::catalog::{InstallState, ModelEntry};
use utoipa::{OpenApi, ToSchema};

use crate::auth::AdminUser;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::processing::ModelsHandle;
use tessera_events::ErrorCode;

#[derive(Debug, Serialize, ToSchema)]
pub struct ModelView {
    pub id: String,
    pub task: String,
    pub version: String,
    /// `onnx`, `gguf` or `library`.
    pub runtime: String,
    pub licence: Option<String>,
    pub description: Option<String>,
    /// Estimated resident memory once loaded.
    pub memory_mb: Option<u64>,
    pub installed: bool,
    /// Bytes on disk when installed.
    pub bytes: Option<u64>,
    /// Whether this node has it in memory now.
    pub loaded: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ModelList {
    pub models: Vec<ModelView>,
    /// Whether this node runs processing jobs.
    pub processing: bool,
    /// The memory budget of loaded models, and what they take now (MB).
    pub memory_budget_mb: Option<u64>,
    pub loaded_mb: Option<u64>,
}

#[utoipa::path(
    get, path = "/api/admin/models", tag = "admin",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, body = ModelList),
        (status = 403, body = ErrorBody, description = "`forbidden`: not an admin"),
    )
)]
pub async fn list_models(
    _admin: AdminUser,
    models: web::Data<ModelsHandle>,
) -> ApiResult<HttpResponse> {
    let report = report(&models).await?;
    let list = models
        .catalog
        .models()
        .iter()
        .map(|m| view(&models, &report, m))
        .collect();
    Ok(HttpResponse::Ok().json(ModelList {
        models: list,
        processing: true,
        memory_budget_mb: Some(report.budget_mb),
        loaded_mb: Some(report.loaded_mb),
    }))
}

async fn report(models: &ModelsHandle) -> ApiResult<RegistryReport> {
    models
        .registry
        .send(GetRegistryReport)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))
}

fn view(models: &ModelsHandle, report: &RegistryReport, m: &ModelEntry) -> ModelView {
    let (installed, bytes) = match models.catalog.install_state(m) {
        InstallState::Installed { bytes } => (true, Some(bytes)),
        InstallState::Missing(_) => (false, None),
    };
    ModelView {
        id: m.id.clone(),
        task: m.task.clone(),
        version: m.version.clone(),
        runtime: m.runtime.to_string(),
        licence: m.licence.clone(),
        description: m.description.clone(),
        memory_mb: m.memory_mb,
        installed,
        bytes,
        loaded: report.loaded.contains(&m.id),
    }
}

/// What to do with a model.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ModelAction {
    Load,
    Unload,
}

/// A model after the action, and whether the action changed anything.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModelActionResult {
    pub model: ModelView,
    /// False when the model already was loaded (load) or was not loaded (unload).
    pub changed: bool,
}

/// Loads a model into this node's memory now (the registry's budget still applies: other idle
/// models may be unloaded to make room), or unloads an idle one.
#[utoipa::path(
    post, path = "/api/admin/models/{id}/{action}", tag = "admin",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = String, Path, description = "the model's catalog id"), ("action" = ModelAction, Path)),
    responses(
        (status = 200, body = ModelActionResult),
        (status = 403, body = ErrorBody, description = "`forbidden`: not an admin"),
        (status = 404, body = ErrorBody, description = "`not_found`: no such model"),
        (status = 409, body = ErrorBody, description = "`model_not_installed`; `model_busy`: it is answering requests"),
        (status = 503, body = ErrorBody, description = "`model_unavailable`: it could not be loaded"),
    )
)]
pub async fn control_model(
    admin: AdminUser,
    models: web::Data<ModelsHandle>,
    path: web::Path<(String, ModelAction)>,
) -> ApiResult<HttpResponse> {
    let (id, action) = path.into_inner();
    let entry = models
        .catalog
        .models()
        .iter()
        .find(|m| m.id == id)
        .ok_or_else(|| ApiError::not_found("model"))?;
    let sent = match action {
        ModelAction::Load => {
            if let InstallState::Missing(what) = models.catalog.install_state(entry) {
                return Err(ApiError::conflict(
                    ErrorCode::ModelNotInstalled,
                    format!(
                        "model {id} is not installed ({}); run `tessera models install`",
                        what.join(", ")
                    ),
                ));
            }
            models.registry.send(LoadModel(id.clone())).await
        }
        ModelAction::Unload => models.registry.send(UnloadModel(id.clone())).await,
    };
    let changed = sent
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| match e {
            ControlError::Unknown(_) => ApiError::not_found("model"),
            ControlError::Busy(m) => ApiError::conflict(
                ErrorCode::ModelBusy,
                format!("model {m} is answering requests; try again when it is idle"),
            ),
            ControlError::Infer(e) => ApiError::unavailable(e.code(), e.to_string()),
        })?;
    tracing::info!(admin = %admin.user_id, model = %id, ?action, changed, "model control");
    let report = report(&models).await?;
    Ok(HttpResponse::Ok().json(ModelActionResult {
        model: view(&models, &report, entry),
        changed,
    }))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api/admin/models").route(web::get().to(list_models)))
        .service(
            web::resource("/api/admin/models/{id}/{action}").route(web::post().to(control_model)),
        );
}

#[derive(OpenApi)]
#[openapi(
    paths(list_models, control_model),
    components(schemas(ModelView, ModelList, ModelAction, ModelActionResult, ErrorBody))
)]
struct AdminModelsApi;

pub fn openapi() -> utoipa::openapi::OpenApi {
    AdminModelsApi::openapi()
}
