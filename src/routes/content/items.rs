//! `/api/content` listings, tags, one item's metadata and its changes: edit, delete (to the
//! trash or for good) and restore.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use tessera_events::content::{Actor, ContentAccess, Modality, MAX_TAGS};
use tessera_events::{ErrorCode, UserId};
use tessera_projections::read_models::content::{self as rm, Cursor, SortKey};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::viewer;
use crate::auth::AuthUser;
use crate::content::{Changes, ContentService, ItemView};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::routes::capped::Capped;

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
    let bad = || {
        ApiError::bad_request(
            ErrorCode::InvalidCursor,
            "the cursor is not one this listing gave",
        )
    };
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
    let owner = p.owner.map(UserId::from).unwrap_or(user.user_id);
    if owner != user.user_id {
        service
            .authorize_read(viewer(&user), owner, None, ContentAccess::List)
            .await?;
    }
    if let Some(m) = &p.modality {
        m.parse::<Modality>().map_err(|e| {
            ApiError::bad_request(ErrorCode::InvalidQuery, e).with_field("modality")
        })?;
    }
    let descending = match p.order.as_deref() {
        None | Some("desc") => true,
        Some("asc") => false,
        Some(_) => {
            return Err(
                ApiError::bad_request(ErrorCode::InvalidQuery, "order is asc or desc")
                    .with_field("order"),
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
        owner: owner.into(),
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
        .get(
            viewer(&user),
            id.into_inner().into(),
            ContentAccess::Metadata,
        )
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
    /// At most 64.
    #[serde(default)]
    #[schema(value_type = Vec<String>, max_items = 64)]
    pub add_tags: Capped<String, MAX_TAGS>,
    /// At most 64.
    #[serde(default)]
    #[schema(value_type = Vec<String>, max_items = 64)]
    pub remove_tags: Capped<String, MAX_TAGS>,
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
            id.into_inner().into(),
            Changes {
                title: b.title,
                description: b.description,
                add_tags: b.add_tags.into_vec("add_tags")?,
                remove_tags: b.remove_tags.into_vec("remove_tags")?,
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
    let id = id.into_inner().into();
    if params.purge.unwrap_or(false) {
        service.purge(Actor::User(user.user_id), id).await?;
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
    let item = service
        .restore(user.user_id, id.into_inner().into())
        .await?;
    Ok(HttpResponse::Ok().json(item))
}
