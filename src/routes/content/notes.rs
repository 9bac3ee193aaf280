//! `POST /api/content/notes`: text written in Tessera, stored like an uploaded text file.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;

use super::{existing, idempotency, outcome_response, Idempotency};
use crate::auth::AuthUser;
use crate::content::{ContentService, ItemView};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::routes::capped::Capped;
use crate::routes::json::read_json_body;
use tessera_events::content::MAX_TAGS;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteRequest {
    #[schema(max_length = 300)]
    pub title: String,
    /// The note's text (UTF-8, at most the text size limit).
    pub text: String,
    pub description: Option<String>,
    /// At most 64.
    #[serde(default)]
    #[schema(value_type = Vec<String>, max_items = 64)]
    pub tags: Capped<String, MAX_TAGS>,
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
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let id = match idempotency(&req, &service, user.user_id).await? {
        Idempotency::Replay(item) => return Ok(existing(*item, true)),
        Idempotency::New { id, .. } => id,
    };
    let b: NoteRequest = read_json_body(&req, payload, super::NOTE_LIMIT).await?;
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
            b.tags.into_vec("tags")?,
        )
        .await?;
    Ok(outcome_response(o))
}
