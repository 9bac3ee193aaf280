//! `GET /api/admin/models`: the model catalog, what is installed, and what this node has loaded.

use actix_web::{web, HttpResponse};
use serde::Serialize;
use tessera_actors::models::GetRegistryReport;
use tessera_models::catalog::InstallState;
use utoipa::{OpenApi, ToSchema};

use crate::auth::AdminUser;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::processing::ModelsHandle;

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
    let report = models
        .registry
        .send(GetRegistryReport)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let catalog = &models.catalog;
    let list = catalog
        .models()
        .iter()
        .map(|m| {
            let (installed, bytes) = match catalog.install_state(m) {
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
        })
        .collect();
    Ok(HttpResponse::Ok().json(ModelList {
        models: list,
        processing: true,
        memory_budget_mb: Some(report.budget_mb),
        loaded_mb: Some(report.loaded_mb),
    }))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api/admin/models").route(web::get().to(list_models)));
}

#[derive(OpenApi)]
#[openapi(
    paths(list_models),
    components(schemas(ModelView, ModelList, ErrorBody))
)]
struct AdminModelsApi;

pub fn openapi() -> utoipa::openapi::OpenApi {
    AdminModelsApi::openapi()
}
