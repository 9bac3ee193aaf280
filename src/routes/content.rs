//! `/api/content`: upload, list, read, change, delete and download library items.

use actix_web::body::SizedStream;
use actix_web::http::header::{self, ContentDisposition, DispositionParam, DispositionType};
use actix_web::http::{Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use tessera_events::content::{ContentAccess, Source};
use tessera_projections::read_models::content::{self as rm, Cursor, SortKey};
use utoipa::{IntoParams, OpenApi, ToSchema};
use uuid::Uuid;

use super::form::{FieldError, Form, FormError, FormField};
use super::json::{json_config, path_config};
use crate::auth::AuthUser;
use crate::content::receive::{receive, ReceiveError};
use crate::content::service::id_for_key;
use crate::content::{
    filename, Changes, ContentFailure, ContentService, ItemView, Outcome, UploadMeta, Viewer,
};
use crate::error::{ApiError, ApiResult, ErrorBody};

/// Largest metadata field of an upload form, and largest JSON body of an edit.
const FIELD_LIMIT: usize = 64 * 1024;
/// A note's JSON body: its text plus some room.
const NOTE_LIMIT: usize = 16 * 1024 * 1024 + 64 * 1024;

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
            "invalid_idempotency_key",
            "Idempotency-Key takes 1 to 255 visible ASCII characters",
        ));
    }
    Ok(Some(s.to_owned()))
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

pub async fn read_text_field(field: &mut FormField, name: &str) -> ApiResult<String> {
    let buf = field
        .read_to_limit(FIELD_LIMIT)
        .await
        .map_err(|e| match e {
            FieldError::Form(e) => form_error(e),
            FieldError::TooLong { .. } => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "field_too_large",
                format!("the {name} field is longer than {FIELD_LIMIT} bytes"),
            )
            .with_field(name),
        })?;
    String::from_utf8(buf).map_err(|_| {
        ApiError::bad_request("invalid_field", format!("the {name} field is not UTF-8"))
            .with_field(name)
    })
}

/// A body that stopped early is `incomplete_body`; one that is not valid multipart (bad part
/// headers, a NUL in a file name, no boundary) is `invalid_multipart`.
pub fn form_error(e: FormError) -> ApiError {
    match e {
        FormError::Incomplete(_) => ApiError::bad_request("incomplete_body", e.to_string()),
        FormError::Invalid(_) => ApiError::bad_request("invalid_multipart", e.to_string()),
    }
}

fn split_tags(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Upload a file
///
/// A `multipart/form-data` body with one `file` part and optional `title`, `description` and
/// `tags` (comma-separated) parts. The type is decided from the bytes. Sending the same bytes
/// again returns the existing item (200, `Tessera-Duplicate: true`); repeating a request with the
/// same `Idempotency-Key` returns its first result (200, `Idempotent-Replayed: true`).
/// What one upload may take: the largest per-modality size and the storage the user has left.
#[derive(Debug, Clone, Copy)]
pub struct UploadBudget {
    max: u64,
    remaining: u64,
}

impl UploadBudget {
    pub async fn of(service: &ContentService, user: Uuid) -> ApiResult<Self> {
        Ok(UploadBudget {
            max: service.settings().max_any_bytes(),
            remaining: service.remaining_storage(user).await?,
        })
    }

    /// After a file of `size` bytes was taken.
    pub fn spend(&mut self, size: u64) {
        self.remaining = self.remaining.saturating_sub(size);
    }
}

/// A `file` part received into a temporary file.
pub struct FilePart {
    pub tmp: crate::content::receive::TempFile,
    pub received: crate::content::receive::Received,
    /// The client's file name (not yet made safe).
    pub filename: Option<String>,
}

/// Receives a `file` part, cut off at the first byte past the budget: past the largest size
/// limit it is `file_too_large`, past the user's storage `quota_exceeded`.
pub async fn receive_file_part(
    field: &mut FormField,
    service: &ContentService,
    user: Uuid,
    budget: UploadBudget,
) -> ApiResult<FilePart> {
    let UploadBudget { max, remaining } = budget;
    let limit = max.min(remaining);
    let filename = field.filename().map(str::to_owned);
    let tmp = service.temp_file()?;
    let received = match receive(&mut *field, &tmp, limit).await {
        Err(ReceiveError::TooLarge { .. }) if remaining < max => {
            let limits = service.limits(user).await?;
            return Err(ApiError::from(ContentFailure::Domain(
                tessera_events::content::ContentError::QuotaExceeded {
                    limit: "storage_bytes",
                    allowed: limits.storage_bytes,
                    used: limits.storage_bytes.saturating_sub(remaining),
                    requested: remaining + 1,
                },
            )));
        }
        other => other.map_err(ContentFailure::from)?,
    };
    Ok(FilePart {
        tmp,
        received,
        filename,
    })
}

#[utoipa::path(
    post, path = "/api/content", tag = "content",
    security(("bearer" = []), ("cookie" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the first result")),
    responses(
        (status = 201, body = ItemView),
        (status = 200, body = ItemView, description = "The same bytes or the same idempotency key: the existing item"),
        (status = 400, body = ErrorBody, description = "`empty_file`, `missing_file`, `too_many_files`, `unknown_field`, `incomplete_body`, `not_multipart`, `invalid_idempotency_key`"),
        (status = 403, body = ErrorBody, description = "`quota_exceeded` (field names the limit)"),
        (status = 413, body = ErrorBody, description = "`file_too_large`, `text_too_large`"),
        (status = 415, body = ErrorBody, description = "`unsupported_type`"),
        (status = 422, body = ErrorBody, description = "`corrupt_image`, `corrupt_audio`, `corrupt_video`, `invalid_text`, `image_too_large`, `audio_too_long`, `video_too_long`"),
    )
)]
pub async fn upload(
    req: HttpRequest,
    user: AuthUser,
    service: web::Data<ContentService>,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let key = idempotency_key(&req)?;
    if let Some(k) = &key {
        if let Some(item) = service.existing_for_key(user.user_id, k).await? {
            return Ok(existing(item, true));
        }
    }
    let content_id = key
        .as_deref()
        .map_or_else(Uuid::now_v7, |k| id_for_key(user.user_id, k));
    let is_multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
    if !is_multipart {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "not_multipart",
            "send the file as multipart/form-data with a `file` part",
        ));
    }
    let budget = UploadBudget::of(&service, user.user_id).await?;
    let mut form = Form::new(&req, payload).map_err(form_error)?;
    let mut meta = UploadMeta::default();
    let mut file = None;
    while let Some(mut field) = form.next_field().await.map_err(form_error)? {
        let name = field.name().to_owned();
        match name.as_str() {
            "file" => {
                if file.is_some() {
                    return Err(ApiError::bad_request(
                        "too_many_files",
                        "send one `file` part per request",
                    ));
                }
                let part = receive_file_part(&mut field, &service, user.user_id, budget).await?;
                meta.filename = part.filename;
                let (tmp, received) = (part.tmp, part.received);
                file = Some((tmp, received));
            }
            "title" => meta.title = Some(read_text_field(&mut field, "title").await?),
            "description" => {
                meta.description = Some(read_text_field(&mut field, "description").await?)
            }
            "tags" => meta
                .tags
                .extend(split_tags(&read_text_field(&mut field, "tags").await?)),
            "keep_location" => {
                meta.keep_location = match read_text_field(&mut field, "keep_location")
                    .await?
                    .trim()
                {
                    "true" => true,
                    "false" => false,
                    _ => {
                        return Err(ApiError::bad_request(
                            "invalid_field",
                            "keep_location must be true or false",
                        )
                        .with_field("keep_location"))
                    }
                }
            }
            other => {
                return Err(ApiError::bad_request(
                    "unknown_field",
                    format!(
                        "unknown form field {:?}; expected file, title, description, tags, keep_location",
                        filename::ascii_fallback(other)
                    ),
                )
                .with_field(filename::ascii_fallback(other)))
            }
        }
    }
    let Some((tmp, received)) = file else {
        return Err(ApiError::bad_request(
            "missing_file",
            "the form has no `file` part",
        ));
    };
    if received.size == 0 {
        return Err(ApiError::bad_request("empty_file", "the file is empty"));
    }
    let outcome = service
        .accept_file(
            user.user_id,
            content_id,
            tmp,
            received,
            meta,
            Source::Upload,
        )
        .await;
    match outcome {
        Ok(o) => Ok(outcome_response(o)),
        // A concurrent request with the same idempotency key won.
        Err(ContentFailure::Domain(tessera_events::content::ContentError::Exists)) => {
            let item = service
                .existing_for_key(user.user_id, key.as_deref().unwrap_or_default())
                .await?
                .ok_or_else(|| ApiError::internal("an item that exists could not be read"))?;
            Ok(existing(item, true))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteRequest {
    #[schema(max_length = 300)]
    pub title: String,
    /// The note's text (UTF-8, at most the text size limit).
    pub text: String,
    pub description: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
}

/// Write a note
///
/// Text created directly in Tessera, stored and searchable like an uploaded text file.
#[utoipa::path(
    post, path = "/api/content/notes", tag = "content",
    security(("bearer" = []), ("cookie" = [])),
    request_body = NoteRequest,
    responses(
        (status = 201, body = ItemView),
        (status = 200, body = ItemView, description = "Replay of the same `Idempotency-Key`"),
        (status = 403, body = ErrorBody, description = "`quota_exceeded`"),
        (status = 413, body = ErrorBody, description = "`file_too_large`"),
        (status = 422, body = ErrorBody, description = "`validation_failed`"),
    )
)]
pub async fn create_note(
    req: HttpRequest,
    user: AuthUser,
    service: web::Data<ContentService>,
    body: web::Json<NoteRequest>,
) -> ApiResult<HttpResponse> {
    let key = idempotency_key(&req)?;
    if let Some(k) = &key {
        if let Some(item) = service.existing_for_key(user.user_id, k).await? {
            return Ok(existing(item, true));
        }
    }
    let id = key
        .as_deref()
        .map_or_else(Uuid::now_v7, |k| id_for_key(user.user_id, k));
    let b = body.into_inner();
    if b.text.trim().is_empty() {
        return Err(ApiError::validation("text", "a note needs some text"));
    }
    let o = service
        .create_note(
            user.user_id,
            id,
            b.title.trim().to_owned(),
            b.text,
            b.description,
            b.tags,
        )
        .await?;
    Ok(outcome_response(o))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// `text`, `image`, `audio` or `video`.
    pub modality: Option<String>,
    pub tag: Option<String>,
    /// Created at or after (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Created before (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    /// Text to find in titles and descriptions.
    pub q: Option<String>,
    /// Only the items a model made from this item (see `/api/generate`).
    pub generated_from: Option<Uuid>,
    /// `true` lists the trash.
    pub deleted: Option<bool>,
    /// `created_at` (default), `updated_at`, `title` or `size`.
    #[param(value_type = Option<String>)]
    pub sort: Option<SortKey>,
    /// `desc` (default) or `asc`.
    pub order: Option<String>,
    /// From the previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// Admins only: list another user's library (recorded).
    pub owner: Option<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ItemPage {
    pub items: Vec<ItemView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

fn encode_cursor(c: &Cursor) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(c).unwrap_or_default())
}

fn decode_cursor(s: &str, sort: SortKey) -> ApiResult<Cursor> {
    let bad = || ApiError::bad_request("invalid_cursor", "the cursor is not one this listing gave");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| bad())?;
    let c: Cursor = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if !c.fits(sort) {
        return Err(bad());
    }
    Ok(c)
}

/// List the library
///
/// Filters combine; results are ordered by `sort` and paged with an opaque cursor.
#[utoipa::path(
    get, path = "/api/content", operation_id = "list_content", tag = "content",
    security(("bearer" = []), ("cookie" = [])),
    params(ListParams),
    responses(
        (status = 200, body = ItemPage),
        (status = 400, body = ErrorBody, description = "`invalid_query`, `invalid_cursor`"),
        (status = 404, body = ErrorBody, description = "`owner` given by a non-admin"),
    )
)]
pub async fn list(
    user: AuthUser,
    service: web::Data<ContentService>,
    params: web::Query<ListParams>,
) -> ApiResult<HttpResponse> {
    let p = params.into_inner();
    let owner = p.owner.unwrap_or(user.user_id);
    if owner != user.user_id {
        service
            .authorize_read(viewer(&user), owner, None, ContentAccess::List)
            .await?;
    }
    if let Some(m) = &p.modality {
        m.parse::<tessera_events::content::Modality>()
            .map_err(|e| ApiError::bad_request("invalid_query", e).with_field("modality"))?;
    }
    let descending = match p.order.as_deref() {
        None | Some("desc") => true,
        Some("asc") => false,
        Some(_) => {
            return Err(
                ApiError::bad_request("invalid_query", "order is asc or desc").with_field("order"),
            )
        }
    };
    let sort = p.sort.unwrap_or_default();
    let after = p
        .cursor
        .as_deref()
        .map(|c| decode_cursor(c, sort))
        .transpose()?;
    let q = rm::ListQuery {
        owner,
        modality: p.modality,
        tag: p.tag,
        created_from: p.from,
        created_to: p.to,
        text: p.q,
        generated_from: p.generated_from,
        deleted: p.deleted.unwrap_or(false),
        sort,
        descending,
        after,
        limit: p.limit.unwrap_or(50),
    };
    let (items, next) = service.list(q).await?;
    Ok(HttpResponse::Ok()
        .insert_header(header::CacheControl(vec![header::CacheDirective::NoStore]))
        .json(ItemPage {
            items,
            next_cursor: next.as_ref().map(encode_cursor),
        }))
}

/// One of the user's tags and how many of their items (not in the trash) carry it.
#[derive(Debug, Serialize, ToSchema)]
pub struct TagCount {
    pub tag: String,
    pub items: i64,
}

/// The user's tags.
#[derive(Debug, Serialize, ToSchema)]
pub struct TagList {
    /// Most used first; at most 500.
    pub tags: Vec<TagCount>,
}

/// List the user's tags
///
/// For tag suggestions and filters: every tag on the user's items, most used first.
#[utoipa::path(
    get, path = "/api/content/tags", operation_id = "list_tags", tag = "content",
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = TagList))
)]
pub async fn list_tags(
    user: AuthUser,
    service: web::Data<ContentService>,
) -> ApiResult<HttpResponse> {
    let tags = service
        .tags(user.user_id)
        .await?
        .into_iter()
        .map(|(tag, items)| TagCount { tag, items })
        .collect();
    Ok(HttpResponse::Ok()
        .insert_header(header::CacheControl(vec![header::CacheDirective::NoStore]))
        .json(TagList { tags }))
}

/// Get one item
#[utoipa::path(
    get, path = "/api/content/{id}", operation_id = "get_content", tag = "content",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = ItemView), (status = 404, body = ErrorBody))
)]
pub async fn get(
    user: AuthUser,
    service: web::Data<ContentService>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let item = service
        .get(viewer(&user), id.into_inner(), ContentAccess::Metadata)
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(header::CacheControl(vec![header::CacheDirective::NoStore]))
        .json(item))
}

/// Distinguishes a field that is absent from one that is `null`.
fn double_option<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRequest {
    #[schema(max_length = 300)]
    pub title: Option<String>,
    /// `null` clears the description.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    #[serde(default)]
    pub add_tags: Vec<String>,
    #[serde(default)]
    pub remove_tags: Vec<String>,
}

/// Change an item's title, description or tags
#[utoipa::path(
    patch, path = "/api/content/{id}", operation_id = "update_content", tag = "content",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = Uuid, Path)),
    request_body = UpdateRequest,
    responses(
        (status = 200, body = ItemView),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "`validation_failed`"),
    )
)]
pub async fn update(
    user: AuthUser,
    service: web::Data<ContentService>,
    id: web::Path<Uuid>,
    body: web::Json<UpdateRequest>,
) -> ApiResult<HttpResponse> {
    let b = body.into_inner();
    let item = service
        .update(
            user.user_id,
            id.into_inner(),
            Changes {
                title: b.title,
                description: b.description,
                add_tags: b.add_tags,
                remove_tags: b.remove_tags,
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(item))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DeleteParams {
    /// `true` removes the item and its bytes for good instead of moving it to the trash.
    pub purge: Option<bool>,
}

/// Delete an item
///
/// Moves it to the trash, restorable for the configured period; `purge=true` removes it now.
/// Deleting twice is not an error.
#[utoipa::path(
    delete, path = "/api/content/{id}", operation_id = "delete_content", tag = "content",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = Uuid, Path), DeleteParams),
    responses((status = 204), (status = 404, body = ErrorBody))
)]
pub async fn delete(
    user: AuthUser,
    service: web::Data<ContentService>,
    id: web::Path<Uuid>,
    params: web::Query<DeleteParams>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    if params.purge.unwrap_or(false) {
        service
            .purge(tessera_events::content::Actor::User(user.user_id), id)
            .await?;
    } else {
        service.delete(user.user_id, id).await?;
    }
    Ok(HttpResponse::NoContent().finish())
}

/// Restore an item from the trash
#[utoipa::path(
    post, path = "/api/content/{id}/restore", tag = "content",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = ItemView),
        (status = 404, body = ErrorBody),
        (status = 410, body = ErrorBody, description = "`restore_expired`"),
    )
)]
pub async fn restore(
    user: AuthUser,
    service: web::Data<ContentService>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let item = service.restore(user.user_id, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(item))
}

/// A single `bytes=` range of a `Range` header, resolved against `size`. Anything else (several
/// ranges, other units, bad syntax) is ignored and the whole file is sent, as RFC 9110 allows.
pub fn parse_range(value: &str, size: u64) -> Result<Option<(u64, Option<u64>)>, u64> {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Ok(None);
    };
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        // The last `b` bytes.
        let Ok(n) = b.parse::<u64>() else {
            return Ok(None);
        };
        if n == 0 || size == 0 {
            return Err(size);
        }
        return Ok(Some((size.saturating_sub(n), None)));
    }
    let Ok(start) = a.parse::<u64>() else {
        return Ok(None);
    };
    let end = if b.is_empty() {
        None
    } else {
        match b.parse::<u64>() {
            Ok(e) if e >= start => Some(e),
            _ => return Ok(None),
        }
    };
    if start >= size {
        return Err(size);
    }
    Ok(Some((start, end)))
}

fn etag_matches(req: &HttpRequest, name: header::HeaderName, etag: &str) -> Option<bool> {
    let v = req.headers().get(name)?.to_str().ok()?;
    Some(
        v.split(',')
            .map(|t| t.trim().trim_start_matches("W/"))
            .any(|t| t == "*" || t == etag),
    )
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct FileParams {
    /// `true` asks the browser to show the file (images, audio, video) instead of saving it.
    pub inline: Option<bool>,
}

/// Download the original
///
/// Supports `Range` (one range; seeking in audio and video), `If-None-Match` and `If-Range`.
/// The ETag is the SHA-256 of the bytes.
#[utoipa::path(
    get, path = "/api/content/{id}/file", tag = "content",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = Uuid, Path), FileParams),
    responses(
        (status = 200, description = "The whole file"),
        (status = 206, description = "The requested range"),
        (status = 304, description = "Not modified"),
        (status = 404, body = ErrorBody),
        (status = 416, body = ErrorBody, description = "`range_not_satisfiable`"),
    )
)]
pub async fn download(
    req: HttpRequest,
    user: AuthUser,
    service: web::Data<ContentService>,
    id: web::Path<Uuid>,
    params: web::Query<FileParams>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let item = service
        .get(viewer(&user), id, ContentAccess::Download)
        .await?;
    let etag = format!("\"{}\"", item.sha256);
    if etag_matches(&req, header::IF_NONE_MATCH, &etag) == Some(true) {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .finish());
    }
    let range_allowed = etag_matches(&req, header::IF_RANGE, &etag) != Some(false);
    let range = match req
        .headers()
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
    {
        Some(v) if range_allowed => match parse_range(v, item.size) {
            Ok(r) => r,
            Err(size) => {
                return Err(ApiError::new(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    "range_not_satisfiable",
                    format!("the file has {size} bytes"),
                ));
            }
        },
        _ => None,
    };
    // The item was just authorised (and an admin's read recorded): read the bytes directly.
    let key = crate::blob::BlobKey::content(&item.sha256).map_err(ContentFailure::from)?;
    let read = service
        .blobs()
        .get(&key, range)
        .await
        .map_err(ContentFailure::from)?;
    let inline = params.inline.unwrap_or(false)
        && matches!(item.modality.as_str(), "image" | "audio" | "video");
    let name = item
        .filename
        .clone()
        .unwrap_or_else(|| format!("{}.{}", item.title, item.extension));
    let name = filename::sanitize(&name).unwrap_or_else(|| format!("download.{}", item.extension));
    let disposition = ContentDisposition {
        disposition: if inline {
            DispositionType::Inline
        } else {
            DispositionType::Attachment
        },
        parameters: vec![
            DispositionParam::Filename(filename::ascii_fallback(&name)),
            DispositionParam::FilenameExt(header::ExtendedValue {
                charset: header::Charset::Ext("UTF-8".into()),
                language_tag: None,
                value: name.into_bytes(),
            }),
        ],
    };
    let (status, len) = match read.range {
        Some((s, e)) => (StatusCode::PARTIAL_CONTENT, e - s + 1),
        None => (StatusCode::OK, read.total_size),
    };
    let mut res = HttpResponse::build(status);
    res.insert_header((header::CONTENT_TYPE, item.mime.clone()))
        .insert_header(disposition)
        .insert_header((header::ETAG, etag))
        .insert_header((header::ACCEPT_RANGES, "bytes"))
        .insert_header((header::CACHE_CONTROL, "private, max-age=3600"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "sandbox; default-src 'none'",
        ))
        // Already-compressed media, and ranges must count raw bytes: no compression.
        .insert_header(header::ContentEncoding::Identity);
    if let Some((s, e)) = read.range {
        res.insert_header((
            header::CONTENT_RANGE,
            format!("bytes {s}-{e}/{}", read.total_size),
        ));
    }
    if req.method() == Method::HEAD {
        res.insert_header((header::CONTENT_LENGTH, len.to_string()));
        return Ok(res.finish());
    }
    Ok(res.body(SizedStream::new(len, read.stream)))
}

/// Get a preview picture
#[utoipa::path(
    get, path = "/api/content/{id}/previews/{name}", tag = "content",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = Uuid, Path), ("name" = String, Path, description = "`thumb-256`, `thumb-1024` or `poster`")),
    responses((status = 200, description = "A JPEG"), (status = 404, body = ErrorBody))
)]
pub async fn preview(
    req: HttpRequest,
    user: AuthUser,
    service: web::Data<ContentService>,
    path: web::Path<(Uuid, String)>,
) -> ApiResult<HttpResponse> {
    let (id, name) = path.into_inner();
    let (item, mime, read) = service.open_preview(viewer(&user), id, &name).await?;
    let etag = format!("\"{}-{name}\"", item.sha256);
    if etag_matches(&req, header::IF_NONE_MATCH, &etag) == Some(true) {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .finish());
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, mime))
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, "private, max-age=86400"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header(header::ContentEncoding::Identity)
        .body(SizedStream::new(read.total_size, read.stream)))
}

#[utoipa::path(
    get, path = "/api/content/{id}/keyframes/{index}", tag = "content",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = Uuid, Path), ("index" = usize, Path, description = "the keyframe's index in the analysis")),
    responses((status = 200, description = "A JPEG"), (status = 404, body = ErrorBody))
)]
pub async fn keyframe(
    req: HttpRequest,
    user: AuthUser,
    service: web::Data<ContentService>,
    path: web::Path<(Uuid, usize)>,
) -> ApiResult<HttpResponse> {
    let (id, index) = path.into_inner();
    let (item, read) = service.open_keyframe(viewer(&user), id, index).await?;
    let etag = format!("\"{}-keyframe-{index}-{}\"", item.sha256, item.version);
    if etag_matches(&req, header::IF_NONE_MATCH, &etag) == Some(true) {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .finish());
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "image/jpeg"))
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, "private, max-age=3600"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header(header::ContentEncoding::Identity)
        .body(SizedStream::new(read.total_size, read.stream)))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/content")
            .route(web::get().to(list))
            .route(web::post().to(upload)),
    )
    .service(
        web::resource("/api/content/notes")
            .app_data(json_config(NOTE_LIMIT))
            .route(web::post().to(create_note)),
    )
    .service(web::resource("/api/content/tags").route(web::get().to(list_tags)))
    .service(
        web::resource("/api/content/{id}")
            .app_data(path_config())
            .app_data(json_config(FIELD_LIMIT))
            .route(web::get().to(get))
            .route(web::patch().to(update))
            .route(web::delete().to(delete)),
    )
    .service(
        web::resource("/api/content/{id}/restore")
            .app_data(path_config())
            .route(web::post().to(restore)),
    )
    .service(
        web::resource("/api/content/{id}/file")
            .app_data(path_config())
            .route(web::get().to(download))
            .route(web::head().to(download)),
    )
    .service(
        web::resource("/api/content/{id}/previews/{name}")
            .app_data(path_config())
            .route(web::get().to(preview)),
    )
    .service(
        web::resource("/api/content/{id}/keyframes/{index}")
            .app_data(path_config())
            .route(web::get().to(keyframe)),
    );
}

#[derive(OpenApi)]
#[openapi(
    paths(
        upload,
        create_note,
        list,
        list_tags,
        get,
        update,
        delete,
        restore,
        download,
        preview,
        keyframe
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

pub fn openapi() -> utoipa::openapi::OpenApi {
    ContentApi::openapi()
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges_resolve_against_the_size() {
        assert_eq!(parse_range("bytes=0-9", 100), Ok(Some((0, Some(9)))));
        assert_eq!(parse_range("bytes=90-", 100), Ok(Some((90, None))));
        assert_eq!(parse_range("bytes=-10", 100), Ok(Some((90, None))));
        assert_eq!(parse_range("bytes=100-", 100), Err(100));
        assert_eq!(parse_range("bytes=0-1,5-6", 100), Ok(None));
        assert_eq!(parse_range("items=0-1", 100), Ok(None));
        assert_eq!(parse_range("bytes=9-1", 100), Ok(None));
    }
}
