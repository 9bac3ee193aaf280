//! Finding things by meaning: hybrid search over the `search` read model, "more like this", and
//! the index's hosting (it embeds as it indexes, so it needs the node's embedding model).
//!
//! A query is embedded through the same model instance as the index; the read model fuses the
//! nearest chunks and the full-text matches by reciprocal rank; hits are grouped by item (an
//! item ranks by its best chunk) and each names the place it points to. Pages are cut from
//! that ranking with a cursor bound to the query and its caller.

mod cursor;
pub mod view;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tessera_actors::jobs::Pipelines;
use tessera_actors::models::Infer;
use tessera_events::content::{ContentAccess, Modality};
use tessera_events::{ContentId, ErrorCode};
use tessera_models::text::Embedder;
use tessera_projections::read_models::search::query::{
    self as sq, ChunkHit, MessageQuery, SearchQuery,
};
use tessera_projections::read_models::search::SearchProjection;
use tessera_projections::Projection;
use uuid::Uuid;

use crate::content::{ContentFailure, ContentService, Viewer};
use crate::processing::Processing;
pub use cursor::Cursor;
pub use view::{ConversationHits, Hit, ItemHits, MessageHitView, Place, SearchPage, SnippetPart};

/// The longest query, in characters.
pub const MAX_QUERY_CHARS: usize = 500;
/// Hits shown per item.
pub const HITS_PER_ITEM: usize = 3;
/// Items per page: the default and the most.
pub const DEFAULT_LIMIT: usize = 20;
pub const MAX_LIMIT: usize = 50;
/// The most chunks either ranking contributes.
const MAX_CANDIDATES: i64 = 1_000;
/// Conversations a search shows, and paragraphs each.
const CONVERSATIONS: usize = 5;
const HITS_PER_CONVERSATION: usize = 3;

/// The search read model, over this node's embedding model and blob store.
pub fn projection(processing: &Processing) -> Arc<dyn Projection> {
    Arc::new(SearchProjection::new(Arc::new(
        tessera_actors::search::IndexInputs::new(processing.pipelines.clone()),
    )))
}

/// Which rankings a query uses (the evaluation compares them; users get both).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Ranking {
    #[default]
    Hybrid,
    Vector,
    Words,
}

/// A search as asked, checked by the route.
#[derive(Debug, Clone, Default)]
pub struct SearchRequest {
    pub text: String,
    pub modality: Option<Modality>,
    pub tag: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub item: Option<ContentId>,
    /// Everyone's content (admins only; recorded).
    pub everyone: bool,
    pub ranking: Ranking,
    pub limit: usize,
    pub cursor: Option<String>,
}

/// Why a search failed.
#[derive(Debug, thiserror::Error)]
pub enum SearchFailure {
    #[error("{1}")]
    BadRequest(ErrorCode, String),
    #[error("only administrators may search everyone's content")]
    Forbidden,
    #[error("the embedding model is unavailable: {0}")]
    Model(String),
    #[error(transparent)]
    Content(#[from] ContentFailure),
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
}

/// Search and "more like this".
#[derive(Clone)]
pub struct SearchService {
    pool: sqlx::PgPool,
    pipelines: Arc<Pipelines>,
    content: ContentService,
}

impl SearchService {
    pub fn new(pool: sqlx::PgPool, pipelines: Arc<Pipelines>, content: ContentService) -> Self {
        Self {
            pool,
            pipelines,
            content,
        }
    }

    /// One page of what matches `request`, as `viewer` may see it.
    pub async fn search(
        &self,
        viewer: Viewer,
        request: SearchRequest,
    ) -> Result<SearchPage, SearchFailure> {
        let text = request.text.trim();
        if text.is_empty() {
            return Err(SearchFailure::BadRequest(
                ErrorCode::InvalidQuery,
                "the query is empty".into(),
            ));
        }
        if text.chars().count() > MAX_QUERY_CHARS {
            return Err(SearchFailure::BadRequest(
                ErrorCode::InvalidQuery,
                format!("the query is longer than {MAX_QUERY_CHARS} characters"),
            ));
        }
        if request.everyone && !viewer.admin {
            return Err(SearchFailure::Forbidden);
        }
        let fingerprint = Cursor::fingerprint(viewer.user_id, &request);
        let offset = match request.cursor.as_deref() {
            Some(c) => {
                Cursor::decode(c, &fingerprint)
                    .ok_or_else(|| {
                        SearchFailure::BadRequest(
                            ErrorCode::InvalidCursor,
                            "the cursor is not one this search gave".into(),
                        )
                    })?
                    .offset
            }
            None => 0,
        };
        if !sq::has_words(text) {
            // Nothing but punctuation: nothing to look for.
            return Ok(SearchPage::default());
        }
        if request.everyone {
            self.content.audit_search(viewer, None, text).await?;
        }
        let vector = match request.ranking {
            Ranking::Words => None,
            _ => Some(self.embed(text).await?),
        };
        let limit = request.limit.clamp(1, MAX_LIMIT);
        let query = SearchQuery {
            owner: (!request.everyone).then_some(viewer.user_id.0),
            vector,
            words: match request.ranking {
                Ranking::Vector => None,
                _ => Some(text.to_owned()),
            },
            modality: request.modality.map(|m| m.as_str().to_owned()),
            tag: request.tag.clone(),
            created_from: request.from,
            created_to: request.to,
            item: request.item.map(ContentId::into_inner),
            exclude_item: None,
            candidates: candidates(offset, limit),
        };
        let hits = sq::hybrid(&self.pool, &query).await?;
        let mut page = self
            .page(viewer, hits, Some(text), offset, limit, &fingerprint)
            .await?;
        // Conversations are not items: a filter on items leaves them out, and they come with
        // the first page only. Always the viewer's own, whoever may search all content.
        let items_only =
            request.modality.is_some() || request.tag.is_some() || request.item.is_some();
        if offset == 0 && !items_only {
            let query = MessageQuery {
                owner: viewer.user_id.0,
                vector: query.vector,
                words: query.words,
                from: request.from,
                to: request.to,
                candidates: (CONVERSATIONS * HITS_PER_CONVERSATION * 4) as i64,
            };
            page.conversations = self.conversations(&query, text).await?;
        }
        Ok(page)
    }

    /// The conversations of `query.owner` that match, best first, each with its best
    /// paragraphs.
    async fn conversations(
        &self,
        query: &MessageQuery,
        text: &str,
    ) -> Result<Vec<ConversationHits>, SearchFailure> {
        let groups = sq::grouped(
            sq::messages(&self.pool, query).await?,
            |h| h.conversation_id,
            HITS_PER_CONVERSATION,
            CONVERSATIONS,
        );
        let keys: Vec<(Uuid, i32)> = groups
            .iter()
            .flatten()
            .map(|h| (h.message_id, h.ord))
            .collect();
        let words = query.words.as_ref().map(|_| text);
        let mut snippets = sq::message_snippets(&self.pool, words, &keys)
            .await?
            .into_iter();
        Ok(groups
            .into_iter()
            .map(|g| ConversationHits {
                id: g[0].conversation_id,
                title: g[0].title.clone(),
                score: g[0].score,
                hits: g
                    .iter()
                    .map(|h| MessageHitView::new(h, &snippets.next().unwrap_or_default()))
                    .collect(),
            })
            .collect())
    }

    /// Items like `item`: nearest to the mean of its chunks' vectors, itself left out.
    pub async fn similar(
        &self,
        viewer: Viewer,
        item: ContentId,
        limit: usize,
    ) -> Result<SearchPage, SearchFailure> {
        let view = self
            .content
            .get(viewer, item, ContentAccess::Metadata)
            .await?;
        let owner = view.owner;
        let Some(vector) = sq::item_vector(&self.pool, Some(owner), item.0).await? else {
            return Ok(SearchPage::default());
        };
        let limit = limit.clamp(1, MAX_LIMIT);
        let query = SearchQuery {
            owner: Some(owner),
            vector: Some(vector),
            exclude_item: Some(item.0),
            candidates: candidates(0, limit),
            ..SearchQuery::default()
        };
        let hits = sq::hybrid(&self.pool, &query).await?;
        self.page(viewer, hits, None, 0, limit, "").await
    }

    async fn embed(&self, text: &str) -> Result<pgvector::Vector, SearchFailure> {
        let answer = self
            .pipelines
            .embeddings
            .instance
            .send(Infer::<Embedder>(text.to_owned()))
            .await
            .map_err(|e| SearchFailure::Model(e.to_string()))?
            .map_err(|e| SearchFailure::Model(e.to_string()))?;
        Ok(pgvector::Vector::from(answer))
    }

    /// Groups ranked chunks by item (in the order of each item's best chunk) and cuts the page
    /// `offset..offset + limit`, with each item as the viewer may see it now.
    async fn page(
        &self,
        viewer: Viewer,
        hits: Vec<ChunkHit>,
        words: Option<&str>,
        offset: usize,
        limit: usize,
        fingerprint: &str,
    ) -> Result<SearchPage, SearchFailure> {
        // An item ranks by its best chunk.
        let mut groups: Vec<(f64, Vec<ChunkHit>)> = sq::by_item(hits, HITS_PER_ITEM)
            .into_iter()
            .map(|g| (g[0].score, g))
            .collect();
        // Within an item, hits that point somewhere (a second, a box, a paragraph) come before
        // those that only say the item matched (its title, a description): the item's header
        // already names it, and the first link should open the item at the place.
        for (_, g) in &mut groups {
            g.sort_by_key(|h| view::place_of(h).is_none());
        }
        let more = groups.len() > offset + limit;
        let page: Vec<_> = groups.into_iter().skip(offset).take(limit).collect();
        let keys: Vec<(Uuid, i32)> = page
            .iter()
            .flat_map(|(_, g)| g.iter().map(|h| (h.item_id, h.ord)))
            .collect();
        let snippets = sq::snippets(&self.pool, words, &keys).await?;
        let mut snippets = snippets.into_iter();
        let mut items = Vec::with_capacity(page.len());
        for (score, chunk_hits) in page {
            let id = chunk_hits[0].item_id;
            let hits: Vec<Hit> = chunk_hits
                .iter()
                .map(|h| Hit::new(h, &snippets.next().unwrap_or_default()))
                .collect();
            // The item as it is now; one deleted or out of reach since indexing is left out.
            let access = if viewer.admin && chunk_hits[0].owner != viewer.user_id.0 {
                ContentAccess::List
            } else {
                ContentAccess::Metadata
            };
            match self.content.get(viewer, ContentId(id), access).await {
                Ok(item) if item.deleted_at.is_none() => items.push(ItemHits { item, score, hits }),
                Ok(_) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e.into()),
            }
        }
        let next_cursor = more.then(|| {
            Cursor {
                offset: offset + limit,
                fingerprint: fingerprint.to_owned(),
            }
            .encode()
        });
        Ok(SearchPage {
            items,
            next_cursor: if fingerprint.is_empty() {
                None
            } else {
                next_cursor
            },
            conversations: Vec::new(),
        })
    }
}

/// How many chunks each ranking contributes for a page ending at `offset + limit` items (three
/// hits an item, and some to spare; the HNSW search widens with it, so it costs what it finds).
fn candidates(offset: usize, limit: usize) -> i64 {
    (((offset + limit) * 3 + 20) as i64).min(MAX_CANDIDATES)
}

impl From<SearchFailure> for crate::error::ApiError {
    fn from(e: SearchFailure) -> Self {
        use crate::error::ApiError;
        match e {
            SearchFailure::BadRequest(code, message) => ApiError::bad_request(code, message),
            SearchFailure::Forbidden => ApiError::forbidden(e.to_string()),
            SearchFailure::Model(m) => {
                tracing::warn!(error = %m, "search: the embedding model failed");
                ApiError::unavailable(
                    ErrorCode::ModelUnavailable,
                    "the embedding model is unavailable; try again shortly",
                )
            }
            SearchFailure::Content(c) => c.into(),
            // The index's tables are created by its projector once the node is up.
            SearchFailure::Sql(sqlx::Error::Database(d))
                if d.code().as_deref() == Some("42P01") =>
            {
                ApiError::unavailable(
                    ErrorCode::Unavailable,
                    "the search index is being set up; try again shortly",
                )
                .with_retry_after(1)
            }
            SearchFailure::Sql(s) => ApiError::internal(format!("search query: {s}")),
        }
    }
}
