//! `/api/search` (find by meaning and by words across the library) and
//! `/api/content/{id}/similar` (more like this).

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use tessera_events::content::Modality;
use tessera_events::{ContentId, ErrorCode};
use utoipa::{IntoParams, OpenApi};
use uuid::Uuid;

use super::content::viewer;
use super::json::{path_config, query_config};
use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::search::{
    ConversationHits, Hit, ItemHits, MessageHitView, Place, Ranking, SearchPage, SearchRequest,
    SearchService, SnippetPart, DEFAULT_LIMIT,
};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    /// What to look for: words or a description of what is meant (1 to 500 characters).
    pub q: String,
    /// `text`, `image`, `audio` or `video`.
    pub modality: Option<String>,
    /// Only items with this tag.
    pub tag: Option<String>,
    /// Created at or after (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Created before (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    /// Only within this item.
    pub item: Option<Uuid>,
    /// `hybrid` (default), `vector` (by meaning only) or `words` (full text only).
    pub ranking: Option<String>,
    /// Admins only: `all` searches everyone's content (recorded).
    pub scope: Option<String>,
    /// Items per page, 1 to 50 (default 20).
    pub limit: Option<usize>,
    /// From the previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// Search the library
///
/// Hybrid ranking: the passages nearest in meaning and the full-text matches, fused by
/// reciprocal rank. Results are items, best first, each with the hits that found it: a time in
/// a recording, a box in a picture, a video's keyframe, a paragraph of a text. The first page
/// also lists the caller's own conversations whose messages or answers match (unless a
/// modality, tag or item narrows the search to items). A query of only punctuation finds
/// nothing.
#[utoipa::path(
    get, path = "/api/search", operation_id = "search", tag = "search",
    security(("bearer" = []), ("cookie" = [])),
    params(SearchParams),
    responses(
        (status = 200, body = SearchPage),
        (status = 400, body = ErrorBody, description = "`invalid_query` (empty, too long, a bad filter), `invalid_cursor`"),
        (status = 403, body = ErrorBody, description = "`forbidden`: `scope=all` by a non-admin"),
        (status = 503, body = ErrorBody, description = "`model_unavailable`: the embedding model cannot run; `unavailable`: the index is still being set up"),
    )
)]
pub async fn search(
    user: AuthUser,
    service: web::Data<SearchService>,
    params: web::Query<SearchParams>,
) -> ApiResult<HttpResponse> {
    let p = params.into_inner();
    let bad = |field: &str, message: String| {
        ApiError::bad_request(ErrorCode::InvalidQuery, message).with_field(field)
    };
    let modality = p
        .modality
        .as_deref()
        .map(str::parse::<Modality>)
        .transpose()
        .map_err(|e| bad("modality", e))?;
    let ranking = match p.ranking.as_deref() {
        None | Some("hybrid") => Ranking::Hybrid,
        Some("vector") => Ranking::Vector,
        Some("words") => Ranking::Words,
        Some(_) => return Err(bad("ranking", "ranking is hybrid, vector or words".into())),
    };
    let everyone = match p.scope.as_deref() {
        None | Some("mine") => false,
        Some("all") => true,
        Some(_) => return Err(bad("scope", "scope is mine or all".into())),
    };
    if let (Some(from), Some(to)) = (p.from, p.to) {
        if from >= to {
            return Err(bad("to", "`to` must be later than `from`".into()));
        }
    }
    if p.tag.as_deref().is_some_and(|t| t.len() > 64) {
        return Err(bad("tag", "a tag is at most 64 bytes".into()));
    }
    let page = service
        .search(
            viewer(&user),
            SearchRequest {
                text: p.q,
                modality,
                tag: p.tag,
                from: p.from,
                to: p.to,
                item: p.item.map(ContentId),
                everyone,
                ranking,
                limit: p.limit.unwrap_or(DEFAULT_LIMIT),
                cursor: p.cursor,
            },
        )
        .await?;
    Ok(no_store(page))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SimilarParams {
    /// Items, 1 to 50 (default 20).
    pub limit: Option<usize>,
}

/// More like this
///
/// The items nearest in meaning to this one (the mean of its indexed passages), itself left out.
#[utoipa::path(
    get, path = "/api/content/{id}/similar", operation_id = "similar_content", tag = "search",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = Uuid, Path), SimilarParams),
    responses((status = 200, body = SearchPage), (status = 404, body = ErrorBody))
)]
pub async fn similar(
    user: AuthUser,
    service: web::Data<SearchService>,
    id: web::Path<Uuid>,
    params: web::Query<SimilarParams>,
) -> ApiResult<HttpResponse> {
    let page = service
        .similar(
            viewer(&user),
            ContentId(id.into_inner()),
            params.limit.unwrap_or(DEFAULT_LIMIT),
        )
        .await?;
    Ok(no_store(page))
}

fn no_store(page: SearchPage) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(header::CacheControl(vec![header::CacheDirective::NoStore]))
        .json(page)
}

/// Registers the search routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/search")
            .app_data(query_config())
            .route(web::get().to(search)),
    )
    .service(
        web::resource("/api/content/{id}/similar")
            .app_data(path_config())
            .app_data(query_config())
            .route(web::get().to(similar)),
    );
}

#[derive(OpenApi)]
#[openapi(
    paths(search, similar),
    components(schemas(
        SearchPage,
        ItemHits,
        Hit,
        ConversationHits,
        MessageHitView,
        SnippetPart,
        Place,
        ErrorBody
    ))
)]
struct SearchApi;

/// The OpenAPI description of the search routes.
pub fn openapi() -> utoipa::openapi::OpenApi {
    SearchApi::openapi()
}
