//! `POST /api/content`: a file uploaded as a form, and the reading of a library file part that
//! other forms (a message's attachments) share.

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use tessera_events::content::{ContentError, Source, MAX_TAGS};
use tessera_events::{ErrorCode, UserId};

use super::{existing, idempotency, outcome_response, Idempotency, FIELD_LIMIT};
use crate::auth::AuthUser;
use crate::content::receive::{receive, ReceiveError, Received, TempFile};
use crate::content::{ContentFailure, ContentService, ItemView, UploadMeta};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::routes::form::FormField;
use crate::routes::multipart::{read_form, MultipartForm, Part};

/// What one upload may take: the largest per-modality size and the storage the user has left.
#[derive(Debug, Clone, Copy)]
pub struct UploadBudget {
    max: u64,
    remaining: u64,
}

impl UploadBudget {
    pub async fn of(service: &ContentService, user: UserId) -> ApiResult<Self> {
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
    pub tmp: TempFile,
    pub received: Received,
    /// The client's file name (not yet made safe).
    pub filename: Option<String>,
}

/// Receives a `file` part, cut off at the first byte past the budget: past the largest size
/// limit it is `file_too_large`, past the user's storage `quota_exceeded`.
pub async fn receive_file_part(
    field: &mut FormField,
    service: &ContentService,
    user: UserId,
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
                ContentError::QuotaExceeded {
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

fn split_tags(s: &str) -> impl Iterator<Item = &str> {
    s.split(',').map(str::trim).filter(|t| !t.is_empty())
}

/// The parts of an upload's form, read into the item's metadata and one received file.
struct UploadForm<'a> {
    service: &'a ContentService,
    user: UserId,
    budget: UploadBudget,
    meta: UploadMeta,
    file: Option<(TempFile, Received)>,
}

impl MultipartForm for UploadForm<'_> {
    type Error = ApiError;
    const PARTS: &'static [Part] = &[
        Part::file("file"),
        Part::text("title", FIELD_LIMIT),
        Part::text("description", FIELD_LIMIT),
        Part::text("tags", FIELD_LIMIT).repeated(MAX_TAGS),
        Part::text("keep_location", FIELD_LIMIT),
    ];

    fn text(&mut self, name: &'static str, value: String) -> ApiResult<()> {
        match name {
            "title" => self.meta.title = Some(value),
            "description" => self.meta.description = Some(value),
            "tags" => {
                // Refused at the first tag past the limit, before the rest is read.
                for tag in split_tags(&value) {
                    if self.meta.tags.len() == MAX_TAGS {
                        return Err(ApiError::validation(
                            name,
                            format!("an item carries at most {MAX_TAGS} tags"),
                        ));
                    }
                    self.meta.tags.push(tag.to_owned());
                }
            }
            "keep_location" => {
                self.meta.keep_location = match value.trim() {
                    "true" => true,
                    "false" => false,
                    _ => {
                        return Err(ApiError::bad_request(
                            ErrorCode::InvalidField,
                            "keep_location must be true or false",
                        )
                        .with_field(name))
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    async fn file(&mut self, _: &'static str, part: &mut FormField) -> ApiResult<()> {
        let part = receive_file_part(part, self.service, self.user, self.budget).await?;
        self.meta.filename = part.filename;
        self.file = Some((part.tmp, part.received));
        Ok(())
    }
}

/// Upload a file
///
/// A `multipart/form-data` body with one `file` part and optional `title`, `description`,
/// `tags` (comma-separated) and `keep_location` (`true` keeps where a photo was taken) parts.
/// The type is decided from the bytes. Sending the same bytes again returns the existing item
/// (200, `Tessera-Duplicate: true`); repeating a request with the same `Idempotency-Key` returns
/// its first result (200, `Idempotent-Replayed: true`).
#[utoipa::path(
    post, path = "/api/content", tag = "content",
    security(("bearer" = []), ("cookie" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the first result")),
    responses(
        (status = 201, body = ItemView),
        (status = 200, body = ItemView, description = "The same bytes or the same idempotency key: the existing item"),
        (status = 400, body = ErrorBody, description = "`empty_file`, `missing_file`, `too_many_files`, `unknown_field`, `invalid_field`, `incomplete_body`, `invalid_multipart`, `invalid_idempotency_key`"),
        (status = 403, body = ErrorBody, description = "`quota_exceeded` (field names the limit)"),
        (status = 413, body = ErrorBody, description = "`file_too_large`, `text_too_large`, `field_too_large`"),
        (status = 415, body = ErrorBody, description = "`unsupported_type`, `not_multipart`"),
        (status = 422, body = ErrorBody, description = "`corrupt_image`, `corrupt_audio`, `corrupt_video`, `invalid_text`, `image_too_large`, `audio_too_long`, `video_too_long`"),
    )
)]
pub async fn upload(
    req: HttpRequest,
    user: AuthUser,
    service: web::Data<ContentService>,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let (key, content_id) = match idempotency(&req, &service, user.user_id).await? {
        Idempotency::Replay(item) => return Ok(existing(*item, true)),
        Idempotency::New { key, id } => (key, id),
    };
    let is_multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
    if !is_multipart {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::NotMultipart,
            "send the file as multipart/form-data with a `file` part",
        ));
    }
    let form = UploadForm {
        service: &service,
        user: user.user_id,
        budget: UploadBudget::of(&service, user.user_id).await?,
        meta: UploadMeta::default(),
        file: None,
    };
    let UploadForm { meta, file, .. } = read_form(&req, payload, form).await?;
    let Some((tmp, received)) = file else {
        return Err(ApiError::bad_request(
            ErrorCode::MissingFile,
            "the form has no `file` part",
        ));
    };
    if received.size == 0 {
        return Err(ApiError::bad_request(
            ErrorCode::EmptyFile,
            "the file is empty",
        ));
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
        Err(ContentFailure::Domain(ContentError::Exists)) => {
            let item = service
                .existing_for_key(user.user_id, key.as_deref().unwrap_or_default())
                .await?
                .ok_or_else(|| ApiError::internal("an item that exists could not be read"))?;
            Ok(existing(item, true))
        }
        Err(e) => Err(e.into()),
    }
}
