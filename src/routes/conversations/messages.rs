//! `POST /api/conversations/{id}/messages`: a message posted as JSON, or as a form with files
//! that become library items and are attached.

use actix_web::http::header;
use actix_web::{guard, web, HttpRequest, HttpResponse};
use tessera_events::content::Source;
use tessera_events::conversations::MAX_ATTACHMENTS;
use tessera_events::{ContentId, ErrorCode, UserId};
use uuid::Uuid;

use super::views::{MessageAccepted, MessageForm, PostMessage};
use crate::auth::AuthUser;
use crate::content::{ContentService, Outcome, UploadMeta};
use crate::conversations::ChatService;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::routes::capped::TooMany;
use crate::routes::content::{receive_file_part, FilePart, UploadBudget, FIELD_LIMIT};
use crate::routes::form::FormField;
use crate::routes::multipart::{read_form, MultipartForm, Part};

/// A message form as it is read. Each file is received into a temporary file within the
/// caller's budget; only once the whole form was read and accepted does each become a library
/// item (as with `POST /api/content`: type from the bytes, size limits, quotas, deduplication)
/// and get attached, so a refused form leaves nothing behind.
struct MessageParts<'a> {
    content: &'a ContentService,
    user: UserId,
    budget: UploadBudget,
    text: String,
    attachments: Vec<Uuid>,
    files: Vec<FilePart>,
}

impl MultipartForm for MessageParts<'_> {
    type Error = ApiError;
    const PARTS: &'static [Part] = &[
        Part::text("text", FIELD_LIMIT),
        Part::text("attachments", FIELD_LIMIT).repeated(MAX_ATTACHMENTS),
        Part::file("file").repeated(MAX_ATTACHMENTS),
    ];

    fn text(&mut self, name: &'static str, value: String) -> ApiResult<()> {
        if name == "text" {
            self.text = value;
            return Ok(());
        }
        // Library item ids, one per part or comma-separated; the same id twice counts once,
        // and the form is refused at the first id past the limit, before the rest is read.
        for id in value.split(',').map(str::trim).filter(|id| !id.is_empty()) {
            let id = id.parse::<Uuid>().map_err(|_| {
                ApiError::bad_request(ErrorCode::InvalidField, "attachments are item ids")
                    .with_field("attachments")
            })?;
            self.attach(id, "attachments")?;
        }
        Ok(())
    }

    async fn file(&mut self, _: &'static str, part: &mut FormField) -> ApiResult<()> {
        // Refused before its bytes are received when the message is already full.
        if self.attachments.len() + self.files.len() >= MAX_ATTACHMENTS {
            return Err(ApiError::from(TooMany {
                field: "file",
                limit: MAX_ATTACHMENTS,
            }));
        }
        let part = receive_file_part(part, self.content, self.user, self.budget).await?;
        if part.received.size == 0 {
            return Err(ApiError::bad_request(
                ErrorCode::EmptyFile,
                "a file is empty",
            ));
        }
        self.budget.spend(part.received.size);
        self.files.push(part);
        Ok(())
    }
}

impl MessageParts<'_> {
    /// Stores the received files as library items and attaches them (the same bytes twice are
    /// one item, attached once).
    async fn store_files(mut self) -> ApiResult<(String, Vec<Uuid>)> {
        for part in std::mem::take(&mut self.files) {
            let meta = UploadMeta {
                filename: part.filename,
                ..UploadMeta::default()
            };
            let stored = self
                .content
                .accept_file(
                    self.user,
                    ContentId(Uuid::now_v7()),
                    part.tmp,
                    part.received,
                    meta,
                    Source::Upload,
                )
                .await?;
            let (Outcome::Created(item) | Outcome::Existing(item)) = stored;
            self.attach(item.id, "file")?;
        }
        Ok((self.text, self.attachments))
    }

    /// Adds an attachment once; past [`MAX_ATTACHMENTS`] distinct ones the form is refused.
    fn attach(&mut self, id: Uuid, field: &'static str) -> ApiResult<()> {
        if self.attachments.contains(&id) {
            return Ok(());
        }
        if self.attachments.len() + self.files.len() == MAX_ATTACHMENTS {
            return Err(ApiError::from(TooMany {
                field,
                limit: MAX_ATTACHMENTS,
            }));
        }
        self.attachments.push(id);
        Ok(())
    }
}

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
    let posted = chat
        .post(
            user.user_id,
            id.into(),
            b.text,
            b.attachments.into_vec("attachments")?,
        )
        .await?;
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
    chat.check_open(user.user_id, id.into()).await?;
    let parts = MessageParts {
        content: &content,
        user: user.user_id,
        budget: UploadBudget::of(&content, user.user_id).await?,
        text: String::new(),
        attachments: Vec::new(),
        files: Vec::new(),
    };
    let (text, attachments) = read_form(&req, payload, parts).await?.store_files().await?;
    let posted = chat
        .post(user.user_id, id.into(), text, attachments)
        .await?;
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
