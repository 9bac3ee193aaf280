//! Conversations: `/api/conversations` (start, list), `/api/conversations/{id}` (read, rename
//! or change provider, delete), `/api/conversations/{id}/messages` (post a message; its answer
//! streams over the live socket as `conversation.answer_streamed` events),
//! `/api/conversations/{id}/answers/{answer_id}/cancel` (stop an answer); chat providers:
//! `/api/providers` (the enabled ones) and `/api/admin/providers` (admins list, enable,
//! disable).

use actix_web::http::header;
use actix_web::{guard, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tessera_events::content::Source;
use tessera_events::conversations::{ConversationError, MAX_ATTACHMENTS};
use tessera_projections::read_models::conversations::{self as rm, ConversationRow, MessageRow};
use utoipa::{IntoParams, OpenApi, ToSchema};
use uuid::Uuid;

use super::content::{form_error, read_text_field, receive_file_part, UploadBudget};
use super::form::Form;
use crate::auth::{AdminUser, AuthUser};
use crate::content::{ContentService, Outcome, UploadMeta};
use crate::conversations::ChatService;
use crate::error::{ApiError, ApiResult, ErrorBody};

/// A conversation.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationView {
    pub id: Uuid,
    pub title: String,
    /// The provider answers come from.
    pub provider: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Messages and answers so far.
    pub messages: i32,
    /// The answer being written, if any.
    pub answering: Option<Uuid>,
    /// The log position of the conversation's last event: a live socket resumed from here
    /// receives what comes after.
    pub position: i64,
}

impl From<ConversationRow> for ConversationView {
    fn from(r: ConversationRow) -> Self {
        ConversationView {
            id: r.id,
            title: r.title,
            provider: r.provider,
            created_at: r.created_at,
            updated_at: r.updated_at,
            messages: r.messages,
            answering: r.answering,
            position: r.last_position,
        }
    }
}

/// A message or an answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageView {
    pub id: Uuid,
    /// 1, 2, ... in the conversation.
    pub seq: i32,
    /// `user` or `assistant`.
    pub role: String,
    pub text: String,
    /// Content items attached (user messages).
    pub attachments: Vec<Uuid>,
    /// The message an answer replies to.
    pub in_reply_to: Option<Uuid>,
    /// `posted` (a message); `streaming`, `completed`, `cancelled` or `failed` (an answer).
    pub status: String,
    pub provider: Option<String>,
    pub model: Option<String>,
    /// `stop` or `length`.
    pub finish_reason: Option<String>,
    pub tokens_in: Option<i64>,
    pub tokens_out: Option<i64>,
    /// `context_ms`, `first_token_ms`, `total_ms`, `decode_tokens_per_s`, `cached_prompt_tokens`.
    #[schema(value_type = Option<Object>)]
    pub timings: Option<serde_json::Value>,
    /// What went into the answer: items and which of their parts.
    #[schema(value_type = Option<Object>)]
    pub context: Option<serde_json::Value>,
    pub error_code: Option<String>,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<MessageRow> for MessageView {
    fn from(r: MessageRow) -> Self {
        MessageView {
            id: r.id,
            seq: r.seq,
            role: r.role,
            text: r.text,
            attachments: r.attachments.0,
            in_reply_to: r.in_reply_to,
            status: r.status,
            provider: r.provider,
            model: r.model,
            finish_reason: r.finish_reason,
            tokens_in: r.tokens_in,
            tokens_out: r.tokens_out,
            timings: r.timings.map(|j| j.0),
            context: r.context.map(|j| j.0),
            error_code: r.error_code,
            error: r.error,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// A conversation with its messages.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationDetail {
    #[serde(flatten)]
    pub conversation: ConversationView,
    pub items: Vec<MessageView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationList {
    pub conversations: Vec<ConversationView>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartConversation {
    /// Default "New conversation".
    pub title: Option<String>,
    /// `local` (default) or an enabled provider's id.
    pub provider: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateConversation {
    pub title: Option<String>,
    pub provider: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostMessage {
    /// What the user says (may be empty when there are attachments).
    #[serde(default)]
    pub text: String,
    /// Items of the user's library (upload a file with `POST /api/content` first).
    #[serde(default)]
    pub attachments: Vec<Uuid>,
}

/// A message with files uploaded inline: each `file` becomes an item of the user's library
/// (as with `POST /api/content`) and is attached.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct MessageForm {
    pub text: Option<String>,
    /// Library item ids, one per part or comma-separated.
    pub attachments: Option<String>,
    /// Any number of files, up to the attachment limit.
    #[schema(value_type = Vec<String>, format = Binary)]
    pub file: Vec<Vec<u8>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessageAccepted {
    pub conversation_id: Uuid,
    pub message_id: Uuid,
    /// The answer; it streams over `/api/ws` as `conversation.answer_streamed` events and ends
    /// with `conversation.answer_completed`, `_cancelled` or `_failed`.
    pub answer_id: Uuid,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// 1 to 100 (default 30).
    pub limit: Option<i64>,
    /// The `next` of the previous page.
    pub after: Option<String>,
}

/// A chat provider.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderView {
    pub id: String,
    pub name: String,
    /// `local` or `openai_compatible`.
    pub kind: String,
    pub model: String,
    pub enabled: bool,
    /// Admins only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderList {
    pub providers: Vec<ProviderView>,
}

fn cursor(r: &ConversationRow) -> String {
    format!("{}_{}", r.updated_at.timestamp_micros(), r.id)
}

fn parse_cursor(s: &str) -> ApiResult<(DateTime<Utc>, Uuid)> {
    let bad = || ApiError::bad_request("invalid_cursor", "the cursor is not one this API gave");
    let (micros, id) = s.split_once('_').ok_or_else(bad)?;
    let micros: i64 = micros.parse().map_err(|_| bad())?;
    let at = DateTime::<Utc>::from_timestamp_micros(micros).ok_or_else(bad)?;
    Ok((at, id.parse().map_err(|_| bad())?))
}

#[utoipa::path(
    post, path = "/api/conversations", operation_id = "start_conversation", tag = "chat",
    security(("bearer" = []), ("cookie" = [])),
    request_body = StartConversation,
    responses(
        (status = 201, body = ConversationView),
        (status = 409, body = ErrorBody, description = "`provider_disabled`"),
        (status = 422, body = ErrorBody, description = "`validation_failed`, `unknown_provider`"),
    )
)]
pub async fn start(
    user: AuthUser,
    chat: web::Data<ChatService>,
    body: web::Json<StartConversation>,
) -> ApiResult<HttpResponse> {
    let b = body.into_inner();
    let (id, title, provider) = chat.start(user.user_id, b.title, b.provider).await?;
    let now = Utc::now();
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/conversations/{id}")))
        .json(ConversationView {
            id,
            title,
            provider,
            created_at: now,
            updated_at: now,
            messages: 0,
            answering: None,
            position: 0,
        }))
}

#[utoipa::path(
    get, path = "/api/conversations", operation_id = "list_conversations", tag = "chat",
    security(("bearer" = []), ("cookie" = [])),
    params(ListQuery),
    responses(
        (status = 200, body = ConversationList),
        (status = 400, body = ErrorBody, description = "`invalid_cursor`, `invalid_query`"),
    )
)]
pub async fn list(
    user: AuthUser,
    chat: web::Data<ChatService>,
    query: web::Query<ListQuery>,
) -> ApiResult<HttpResponse> {
    let q = query.into_inner();
    let limit = q.limit.unwrap_or(30);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_query",
            "limit must be between 1 and 100",
        ));
    }
    let after = q.after.as_deref().map(parse_cursor).transpose()?;
    let mut rows = rm::list(chat.pool(), user.user_id, after, limit + 1).await?;
    let next = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(cursor)
    } else {
        None
    };
    Ok(HttpResponse::Ok().json(ConversationList {
        conversations: rows.into_iter().map(ConversationView::from).collect(),
        next,
    }))
}

#[utoipa::path(
    get, path = "/api/conversations/{id}", operation_id = "get_conversation", tag = "chat",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = ConversationDetail),
        (status = 404, body = ErrorBody, description = "`not_found` (also another user's)"),
    )
)]
pub async fn get(
    user: AuthUser,
    chat: web::Data<ChatService>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    // The stream decides existence and ownership; the read model gives the view (it may be a
    // moment behind the stream).
    chat.load(user.user_id, id).await?;
    let row = rm::get(chat.pool(), id).await?.ok_or_else(|| {
        ApiError::unavailable(
            "not_ready",
            "the conversation is being recorded; try again in a moment",
        )
        .with_retry_after(1)
    })?;
    let items = rm::messages(chat.pool(), id).await?;
    Ok(HttpResponse::Ok().json(ConversationDetail {
        conversation: row.into(),
        items: items.into_iter().map(MessageView::from).collect(),
    }))
}

#[utoipa::path(
    patch, path = "/api/conversations/{id}", operation_id = "update_conversation", tag = "chat",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = Uuid, Path)),
    request_body = UpdateConversation,
    responses(
        (status = 204),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`provider_disabled`"),
        (status = 422, body = ErrorBody, description = "`validation_failed`, `unknown_provider`"),
    )
)]
pub async fn update(
    user: AuthUser,
    chat: web::Data<ChatService>,
    id: web::Path<Uuid>,
    body: web::Json<UpdateConversation>,
) -> ApiResult<HttpResponse> {
    let b = body.into_inner();
    chat.update(user.user_id, id.into_inner(), b.title, b.provider)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    delete, path = "/api/conversations/{id}", operation_id = "delete_conversation", tag = "chat",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody))
)]
pub async fn delete(
    user: AuthUser,
    chat: web::Data<ChatService>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    chat.delete(user.user_id, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
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
        return Err(
            crate::conversations::ChatFailure::from(ConversationError::AnswerInProgress).into(),
        );
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
                        ApiError::bad_request("invalid_field", "attachments are item ids")
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
                    return Err(ApiError::bad_request("empty_file", "a file is empty"));
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
                    "unknown_field",
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

fn is_multipart(ctx: &guard::GuardContext<'_>) -> bool {
    ctx.head()
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"))
}

#[utoipa::path(
    post, path = "/api/conversations/{id}/answers/{answer_id}/cancel", operation_id = "cancel_answer", tag = "chat",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = Uuid, Path), ("answer_id" = Uuid, Path)),
    responses(
        (status = 204, description = "stopped; the answer keeps what was written"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`answer_not_active`: it already ended"),
    )
)]
pub async fn cancel(
    user: AuthUser,
    chat: web::Data<ChatService>,
    path: web::Path<(Uuid, Uuid)>,
) -> ApiResult<HttpResponse> {
    let (id, answer) = path.into_inner();
    chat.cancel(user.user_id, id, answer).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    get, path = "/api/providers", tag = "chat",
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = ProviderList))
)]
pub async fn providers(_user: AuthUser, chat: web::Data<ChatService>) -> ApiResult<HttpResponse> {
    let providers = chat
        .providers()
        .await?
        .into_iter()
        .filter(|p| p.enabled)
        .map(|p| ProviderView {
            id: p.info.id,
            name: p.info.name,
            kind: p.info.kind.into(),
            model: p.info.model,
            enabled: true,
            base_url: None,
        })
        .collect();
    Ok(HttpResponse::Ok().json(ProviderList { providers }))
}

#[utoipa::path(
    get, path = "/api/admin/providers", tag = "admin",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, body = ProviderList),
        (status = 403, body = ErrorBody, description = "`forbidden`: not an admin"),
    )
)]
pub async fn admin_providers(
    _admin: AdminUser,
    chat: web::Data<ChatService>,
) -> ApiResult<HttpResponse> {
    let providers = chat
        .providers()
        .await?
        .into_iter()
        .map(|p| ProviderView {
            id: p.info.id,
            name: p.info.name,
            kind: p.info.kind.into(),
            model: p.info.model,
            enabled: p.enabled,
            base_url: p.info.base_url,
        })
        .collect();
    Ok(HttpResponse::Ok().json(ProviderList { providers }))
}

#[utoipa::path(
    post, path = "/api/admin/providers/{id}/{action}", tag = "admin",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = String, Path), ("action" = String, Path, description = "`enable` or `disable`")),
    responses(
        (status = 204),
        (status = 403, body = ErrorBody, description = "`forbidden`: not an admin"),
        (status = 404, body = ErrorBody, description = "unknown action"),
        (status = 422, body = ErrorBody, description = "`unknown_provider`"),
    )
)]
pub async fn admin_set_provider(
    admin: AdminUser,
    chat: web::Data<ChatService>,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (id, action) = path.into_inner();
    let enabled = match action.as_str() {
        "enable" => true,
        "disable" => false,
        _ => return Err(ApiError::not_found("route")),
    };
    chat.set_provider_enabled(admin.user_id, &id, enabled)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/conversations")
            .route(web::post().to(start))
            .route(web::get().to(list)),
    )
    .service(
        web::resource("/api/conversations/{id}")
            .route(web::get().to(get))
            .route(web::patch().to(update))
            .route(web::delete().to(delete)),
    )
    .service(
        web::resource("/api/conversations/{id}/messages")
            .route(
                web::post()
                    .guard(guard::fn_guard(is_multipart))
                    .to(post_message_form),
            )
            .route(web::post().to(post_message)),
    )
    .service(
        web::resource("/api/conversations/{id}/answers/{answer_id}/cancel")
            .route(web::post().to(cancel)),
    )
    .service(web::resource("/api/providers").route(web::get().to(providers)))
    .service(web::resource("/api/admin/providers").route(web::get().to(admin_providers)))
    .service(
        web::resource("/api/admin/providers/{id}/{action}")
            .route(web::post().to(admin_set_provider)),
    );
}

#[derive(OpenApi)]
#[openapi(
    paths(
        start,
        list,
        get,
        update,
        delete,
        post_message,
        cancel,
        providers,
        admin_providers,
        admin_set_provider
    ),
    components(schemas(
        ConversationView,
        MessageView,
        ConversationDetail,
        ConversationList,
        StartConversation,
        UpdateConversation,
        PostMessage,
        MessageForm,
        MessageAccepted,
        ProviderView,
        ProviderList,
        ErrorBody
    ))
)]
struct ConversationsApi;

pub fn openapi() -> utoipa::openapi::OpenApi {
    ConversationsApi::openapi()
}
