//! `/api/uploads`: resumable uploads. Start one with its length, send chunks with
//! `PATCH` at the offset the server acknowledged (`Upload-Offset`), ask for that offset with
//! `HEAD` after an interruption, and the last chunk turns the upload into a library item.

use actix_web::http::{header, Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;

use super::json::{json_config, path_config};
use crate::auth::AuthUser;
use crate::content::{ContentService, ItemView, Outcome, UploadView};
use crate::error::{ApiError, ApiResult, ErrorBody};
use tessera_events::{ErrorCode, UploadId};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartUpload {
    /// Total bytes that will be sent.
    pub length: u64,
    pub filename: Option<String>,
    #[schema(max_length = 300)]
    pub title: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChunkAccepted {
    pub upload: UploadView,
    /// The new item, once the last chunk arrived.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<ItemView>,
    /// True when the bytes were already in the library (the existing item is returned).
    pub duplicate: bool,
}

fn with_offset(
    mut r: actix_web::HttpResponseBuilder,
    v: &UploadView,
) -> actix_web::HttpResponseBuilder {
    r.insert_header(("Upload-Offset", v.offset.to_string()))
        .insert_header(("Upload-Length", v.length.to_string()))
        .insert_header(header::CacheControl(vec![header::CacheDirective::NoStore]));
    r
}

/// Start a resumable upload
#[utoipa::path(
    post, path = "/api/uploads", operation_id = "start_upload", tag = "uploads",
    security(("bearer" = []), ("cookie" = [])),
    request_body = StartUpload,
    responses(
        (status = 201, body = UploadView),
        (status = 400, body = ErrorBody, description = "`empty_file`"),
        (status = 403, body = ErrorBody, description = "`quota_exceeded`"),
        (status = 413, body = ErrorBody, description = "`file_too_large`"),
    )
)]
pub async fn start(
    user: AuthUser,
    service: web::Data<ContentService>,
    body: web::Json<StartUpload>,
) -> ApiResult<HttpResponse> {
    let b = body.into_inner();
    let view = service
        .start_upload(user.user_id, b.length, b.filename, b.title)
        .await?;
    Ok(with_offset(HttpResponse::Created(), &view)
        .insert_header((header::LOCATION, format!("/api/uploads/{}", view.id)))
        .json(view))
}

/// Where an upload stands
///
/// `HEAD` gives the same headers without a body: `Upload-Offset` is where to resume.
#[utoipa::path(
    get, path = "/api/uploads/{id}", tag = "uploads",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = UploadView), (status = 404, body = ErrorBody))
)]
pub async fn status(
    req: HttpRequest,
    user: AuthUser,
    service: web::Data<ContentService>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let view = service
        .upload_status(user.user_id, id.into_inner().into())
        .await?;
    let mut r = with_offset(HttpResponse::Ok(), &view);
    if req.method() == Method::HEAD {
        return Ok(r.finish());
    }
    Ok(r.json(view))
}

/// Send a chunk
///
/// The body is the chunk's bytes; `Upload-Offset` must equal the acknowledged offset (otherwise
/// 409 `offset_mismatch` with the right one in `Upload-Offset`). The chunk counts only once the
/// response arrives.
#[utoipa::path(
    patch, path = "/api/uploads/{id}", tag = "uploads",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = Uuid, Path), ("Upload-Offset" = u64, Header)),
    responses(
        (status = 200, body = ChunkAccepted),
        (status = 201, body = ChunkAccepted, description = "The last chunk: the item was created"),
        (status = 400, body = ErrorBody, description = "`missing_offset`, `incomplete_body`"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`offset_mismatch`, `upload_closed`"),
        (status = 413, body = ErrorBody, description = "`past_declared_length`, `file_too_large`"),
    )
)]
pub async fn chunk(
    req: HttpRequest,
    user: AuthUser,
    service: web::Data<ContentService>,
    id: web::Path<Uuid>,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let id = UploadId::from(id.into_inner());
    let offset: u64 = req
        .headers()
        .get("Upload-Offset")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| {
            ApiError::bad_request(
                ErrorCode::MissingOffset,
                "send the chunk's offset in Upload-Offset",
            )
        })?;
    match service.put_chunk(user.user_id, id, offset, payload).await {
        Ok((view, outcome)) => {
            let (status, content, duplicate) = match outcome {
                None => (StatusCode::OK, None, false),
                Some(Outcome::Created(i)) => (StatusCode::CREATED, Some(i), false),
                Some(Outcome::Existing(i)) => (StatusCode::OK, Some(i), true),
            };
            Ok(
                with_offset(HttpResponse::build(status), &view).json(ChunkAccepted {
                    upload: view,
                    content,
                    duplicate,
                }),
            )
        }
        Err(e) => {
            let mut err = ApiError::from(e);
            if err.code == ErrorCode::OffsetMismatch {
                // Tell the client where to resume.
                if let Ok(v) = service.upload_status(user.user_id, id).await {
                    err.message = format!("resume at byte {}", v.offset);
                    err.field = Some(v.offset.to_string());
                }
            }
            Err(err)
        }
    }
}

/// Cancel an upload
#[utoipa::path(
    delete, path = "/api/uploads/{id}", operation_id = "cancel_upload", tag = "uploads",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody))
)]
pub async fn cancel(
    user: AuthUser,
    service: web::Data<ContentService>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    service
        .abort_upload(user.user_id, id.into_inner().into())
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/uploads")
            .app_data(json_config(4096))
            .route(web::post().to(start)),
    )
    .service(
        web::resource("/api/uploads/{id}")
            .app_data(path_config())
            .route(web::get().to(status))
            .route(web::head().to(status))
            .route(web::patch().to(chunk))
            .route(web::delete().to(cancel)),
    );
}

#[derive(OpenApi)]
#[openapi(
    paths(start, status, chunk, cancel),
    components(schemas(StartUpload, UploadView, ChunkAccepted, ErrorBody))
)]
struct UploadsApi;

pub fn openapi() -> utoipa::openapi::OpenApi {
    UploadsApi::openapi()
}
