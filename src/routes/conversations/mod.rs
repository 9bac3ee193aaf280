//! Conversations: `/api/conversations` (start, list), `/api/conversations/{id}` (read, rename
//! or change provider, delete), `/api/conversations/{id}/messages` (post a message; its answer
//! streams over the live socket as `conversation.answer_streamed` events),
//! `/api/conversations/{id}/answers/{answer_id}/cancel` (stop an answer); chat providers:
//! `/api/providers` (the enabled ones) and `/api/admin/providers` (admins list, enable,
//! disable).

mod messages;
mod providers;
mod views;

use actix_web::{guard, web, HttpResponse};
use chrono::{DateTime, Utc};
use tessera_events::ErrorCode;
use tessera_projections::read_models::conversations::{self as rm, ConversationRow};
use utoipa::OpenApi;
use uuid::Uuid;

pub use views::*;

use crate::auth::AuthUser;
use crate::conversations::ChatService;
use crate::error::{ApiError, ApiResult, ErrorBody};

fn cursor(r: &ConversationRow) -> String {
    format!("{}_{}", r.updated_at.timestamp_micros(), r.id)
}

fn parse_cursor(s: &str) -> ApiResult<(DateTime<Utc>, Uuid)> {
    let bad = || {
        ApiError::bad_request(
            ErrorCode::InvalidCursor,
            "the cursor is not one this API gave",
        )
    };
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
            ErrorCode::InvalidQuery,
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
    chat.load(user.user_id, id.into()).await?;
    let row = rm::get(chat.pool(), id.into()).await?.ok_or_else(|| {
        ApiError::unavailable(
            ErrorCode::NotReady,
            "the conversation is being recorded; try again in a moment",
        )
        .with_retry_after(1)
    })?;
    let items = rm::messages(chat.pool(), id.into()).await?;
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
    chat.update(user.user_id, id.into_inner().into(), b.title, b.provider)
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
    chat.delete(user.user_id, id.into_inner().into()).await?;
    Ok(HttpResponse::NoContent().finish())
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
    chat.cancel(user.user_id, id.into(), answer.into()).await?;
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
                    .guard(guard::fn_guard(messages::is_multipart))
                    .to(messages::post_message_form),
            )
            .route(web::post().to(messages::post_message)),
    )
    .service(
        web::resource("/api/conversations/{id}/answers/{answer_id}/cancel")
            .route(web::post().to(cancel)),
    )
    .service(web::resource("/api/providers").route(web::get().to(providers::providers)))
    .service(web::resource("/api/admin/providers").route(web::get().to(providers::admin_providers)))
    .service(
        web::resource("/api/admin/providers/{id}/{action}")
            .route(web::post().to(providers::admin_set_provider)),
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
        messages::post_message,
        cancel,
        providers::providers,
        providers::admin_providers,
        providers::admin_set_provider
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
