//! `POST /api/conversations/{id}/messages`: a message posted as JSON, or as a form with files
//! that become library items and are attached.

use actix_web::http::header;
use actix_web::{guard, web, HttpRequest, HttpResponse};
use tessera_events::content::Source;
use tessera_events::conversations::{ConversationError, MAX_ATTACHMENTS};
use tessera_events::ErrorCode;
use uuid::Uuid;

use super::views::{MessageAccepted, MessageForm, PostMessage};
use crate::auth::AuthUser;
use crate::content::{ContentService, Outcome, UploadMeta};
use crate::conversations::{ChatFailure, ChatService};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::routes::content::{form_error, read_text_field, receive_file_part, UploadBudget};
use crate::routes::form::Form;

#[utoipa::path(
    post, path = "/api/conversations/{id}/messages", tag = "chat",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = Uuid, Path)),
    request_body(content(
        (PostMessage = "application/json"),
        (MessageForm = "multipart/form-data"),
    )),
    responses(
        (status = 202, body = MessageAccepted),
        (status = 400, body = ErrorBody, description = "`invalid_json`; with a form: `unknown_field`, `invalid_field`, `empty_file`, `incomplete_body`, `invalid_multipart`"),
        (status = 403, body = ErrorBody, description = "`quota_exceeded` (field: the limit)"),
        (status = 404, body = ErrorBody, description = "the conversation or an attachment"),
        (status = 409, body = ErrorBody, description = "`answer_in_progress`, `provider_disabled`"),
        (status = 413, body = ErrorBody, description = "`file_too_large`, `field_too_large`"),
        (status = 415, body = ErrorBody, description = "`unsupported_type`"),
        (status = 422, body = ErrorBody, description = "`validation_failed`; corrupt media codes as for `POST /api/content`"),
    )
)]
pub async fn post_message(
    user: AuthUser,
    chat: web::Data<ChatService>,
    id: web::Path<Uuid>,
    body: web::Json<PostMessage>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let b = body.into_inner();
    let posted = chat.post(user.user_id, id, b.text, b.attachments).await?;
    Ok(HttpResponse::Accepted().json(MessageAccepted {
        conversation_id: id,
        message_id: posted.message_id,
        answer_id: posted.answer_id,
    }))
}

/// `POST /api/conversations/{id}/messages` as `multipart/form-data` (documented with
/// [`post_message`]): a `text` part, `attachments` parts (library item ids, one per
/// part or comma-separated) and any number of `file` parts (up to the attachment limit). Each
/// file becomes an item of the user's library (as with `POST /api/content`: type from the
/// bytes, size limits, quotas, deduplication) and is attached.
pub async fn post_message_form(
    req: HttpRequest,
    user: AuthUser,
    chat: web::Data<ChatService>,
    content: web::Data<ContentService>,
    id: web::Path<Uuid>,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    // Refuse what would fail anyway before storing any file.
    let loaded = chat.load(user.user_id, id).await?;
    if loaded.state.answering.is_some() {
        return Err(ChatFailure::from(ConversationError::AnswerInProgress).into());
    }
    let mut budget = UploadBudget::of(&content, user.user_id).await?;
    let mut form = Form::new(&req, payload).map_err(form_error)?;
    let mut text = String::new();
    let mut attachments = Vec::new();
    let mut files = 0usize;
    while let Some(mut field) = form.next_field().await.map_err(form_error)? {
        let name = field.name().to_owned();
        match name.as_str() {
            "text" => text = read_text_field(&mut field, "text").await?,
            "attachments" => {
                for part in read_text_field(&mut field, "attachments").await?.split(',') {
                    let part = part.trim();
                    if part.is_empty() {
                        continue;
                    }
                    attachments.push(part.parse::<Uuid>().map_err(|_| {
                        ApiError::bad_request(ErrorCode::InvalidField, "attachments are item ids")
                            .with_field("attachments")
                    })?);
                }
            }
            "file" => {
                files += 1;
                if files > MAX_ATTACHMENTS {
                    return Err(ApiError::validation(
                        "file",
                        format!("a message carries at most {MAX_ATTACHMENTS} attachments"),
                    ));
                }
                let part = receive_file_part(&mut field, &content, user.user_id, budget).await?;
                if part.received.size == 0 {
                    return Err(ApiError::bad_request(
                        ErrorCode::EmptyFile,
                        "a file is empty",
                    ));
                }
                budget.spend(part.received.size);
                let meta = UploadMeta {
                    filename: part.filename,
                    ..UploadMeta::default()
                };
                let item = match content
                    .accept_file(
                        user.user_id,
                        Uuid::now_v7(),
                        part.tmp,
                        part.received,
                        meta,
                        Source::Upload,
                    )
                    .await?
                {
                    Outcome::Created(item) | Outcome::Existing(item) => item,
                };
                attachments.push(item.id);
            }
            other => {
                return Err(ApiError::bad_request(
                    ErrorCode::UnknownField,
                    "unknown form field; expected text, attachments, file",
                )
                .with_field(crate::content::filename::ascii_fallback(other)))
            }
        }
    }
    let posted = chat.post(user.user_id, id, text, attachments).await?;
    Ok(HttpResponse::Accepted().json(MessageAccepted {
        conversation_id: id,
        message_id: posted.message_id,
        answer_id: posted.answer_id,
    }))
}

pub(super) fn is_multipart(ctx: &guard::GuardContext<'_>) -> bool {
    ctx.head()
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"))
}
