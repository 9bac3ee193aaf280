//! `/api/content`: upload, list, read, change, delete and download library items. The shared
//! pieces of its handlers live here: who is reading, the idempotency key and the responses that
//! a new or an existing item gets.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use tessera_events::{ContentId, ErrorCode, UserId};
use utoipa::OpenApi;
use uuid::Uuid;

use super::json::{json_config, path_config};
use crate::auth::AuthUser;
use crate::content::{id_for_key, ContentService, ItemView, Outcome, Viewer};
use crate::error::{ApiError, ApiResult, ErrorBody};

mod files;
mod items;
mod notes;
mod uploads;

use items::{ItemPage, TagCount, TagList, UpdateRequest};
use notes::NoteRequest;

pub use uploads::{receive_file_part, FilePart, UploadBudget};

/// Largest metadata field of an upload form, and largest JSON body of an edit.
pub const FIELD_LIMIT: usize = 64 * 1024;

/// A note's JSON body: its text plus some room.
pub(super) const NOTE_LIMIT: usize = 16 * 1024 * 1024 + 64 * 1024;
// A note's body must fit the process's body budget, or it could never be read.
const _: () = assert!(NOTE_LIMIT <= crate::routes::body::BUDGET_BYTES);

/// The caller as a reader of the library.
pub fn viewer(user: &AuthUser) -> Viewer {
    Viewer {
        user_id: user.user_id,
        admin: user.is_admin(),
    }
}

/// The `Idempotency-Key` header, if sent: 1 to 255 visible ASCII characters.
fn idempotency_key(req: &HttpRequest) -> ApiResult<Option<String>> {
    let Some(v) = req.headers().get("Idempotency-Key") else {
        return Ok(None);
    };
    let s = v.to_str().ok().map(str::trim).unwrap_or_default();
    if s.is_empty() || s.len() > 255 || !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidIdempotencyKey,
            "Idempotency-Key takes 1 to 255 visible ASCII characters",
        ));
    }
    Ok(Some(s.to_owned()))
}

/// What a create request's `Idempotency-Key` says: the item a request with the same key made,
/// or the id the new item takes (fixed by the key, when one is sent).
enum Idempotency {
    Replay(Box<ItemView>),
    New { key: Option<String>, id: ContentId },
}

async fn idempotency(
    req: &HttpRequest,
    service: &ContentService,
    user: UserId,
) -> ApiResult<Idempotency> {
    let key = idempotency_key(req)?;
    if let Some(k) = &key {
        if let Some(item) = service.existing_for_key(user, k).await? {
            return Ok(Idempotency::Replay(Box::new(item)));
        }
    }
    let id = key
        .as_deref()
        .map_or_else(|| ContentId(Uuid::now_v7()), |k| id_for_key(user, k));
    Ok(Idempotency::New { key, id })
}

fn created(item: ItemView) -> HttpResponse {
    HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/content/{}", item.id)))
        .json(item)
}

fn existing(item: ItemView, replay: bool) -> HttpResponse {
    let mut r = HttpResponse::Ok();
    if replay {
        r.insert_header(("Idempotent-Replayed", "true"));
    } else {
        r.insert_header(("Tessera-Duplicate", "true"));
    }
    r.json(item)
}

fn outcome_response(o: Outcome) -> HttpResponse {
    match o {
        Outcome::Created(item) => created(item),
        Outcome::Existing(item) => existing(item, false),
    }
}

/// Registers the `/api/content` routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/content")
            .route(web::get().to(items::list))
            .route(web::post().to(uploads::upload)),
    )
    .service(web::resource("/api/content/notes").route(web::post().to(notes::create_note)))
    .service(web::resource("/api/content/tags").route(web::get().to(items::list_tags)))
    .service(
        web::resource("/api/content/{id}")
            .app_data(path_config())
            .app_data(json_config(FIELD_LIMIT))
            .route(web::get().to(items::get))
            .route(web::patch().to(items::update))
            .route(web::delete().to(items::delete)),
    )
    .service(
        web::resource("/api/content/{id}/restore")
            .app_data(path_config())
            .route(web::post().to(items::restore)),
    )
    .service(
        web::resource("/api/content/{id}/file")
            .app_data(path_config())
            .route(web::get().to(files::download))
            .route(web::head().to(files::download)),
    )
    .service(
        web::resource("/api/content/{id}/previews/{name}")
            .app_data(path_config())
            .route(web::get().to(files::preview)),
    )
    .service(
        web::resource("/api/content/{id}/keyframes/{index}")
            .app_data(path_config())
            .route(web::get().to(files::keyframe)),
    );
}

#[derive(OpenApi)]
#[openapi(
    paths(
        uploads::upload,
        notes::create_note,
        items::list,
        items::list_tags,
        items::get,
        items::update,
        items::delete,
        items::restore,
        files::download,
        files::preview,
        files::keyframe
    ),
    components(schemas(
        ItemView,
        ItemPage,
        TagList,
        TagCount,
        NoteRequest,
        UpdateRequest,
        ErrorBody
    ))
)]
struct ContentApi;

/// The OpenAPI description of the `/api/content` routes.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ContentApi::openapi()
}
