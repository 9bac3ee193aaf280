//! The search index (issue "Search", figures): how fast it indexes against the bare embedding
//! model, how well its HNSW index recalls against exact search on the same vectors, and how fast
//! a hybrid query answers at 16 connections over 100,000 chunks.
//!
//! 1. **Indexing.** Text items (title and ten paragraphs each) go through the search
//!    projection's own `apply`, embedding through the node's model instance, into a schema of
//!    their own; the same texts embedded bare through the same instance. Goal: ≥ 0.8×.
//! 2. **100,000 chunks** of ten users are written straight into the live read model: real
//!    embeddings of 2,000 generated sentences, mixed in pairs with a little noise (so the
//!    vectors have the clusters real text has), each with its sentence's words.
//! 3. **Recall@10** of the HNSW index (with the per-user filter and the iterative scan queries
//!    use) against an exact scan of the same rows, over 200 held-out sentences. Goal: ≥ 0.95.
//! 4. **Hybrid query latency** at 16 connections, the ranking SQL alone (queries embedded
//!    beforehand), for `TESSERA_BENCH_SECONDS` (default 10). Goal: p95 < 50 ms.
//!
//! Run with `make bench`, or `TESSERA_BENCH_DATABASE_URL=postgres://… cargo bench --bench
//! search_index`; `TESSERA_BENCH_CHUNKS` changes the 100,000. Figures are printed and written
//! to `target/bench-results/search_index.json`.
//!
//! Under a test harness (`--list`, or without `--bench`) this binary does nothing.

#[path = "support/mod.rs"]
#[allow(dead_code)]
mod support;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use async_trait::async_trait;
use futures_util::future::join_all;
use pgvector::Vector;
use serde_json::json;
use sqlx::{PgPool, QueryBuilder};
use support::{env_or, percentile};
use tessera_actors::jobs::Pipelines;
use tessera_actors::models::Infer;
use tessera_events::content::analysis::TextAnalysis;
use tessera_events::content::{Analysis, ContentEvent, Modality, Source, Uploaded};
use tessera_events::{DomainEvent, JobId, Metadata, RecordedEvent, UserId};
use tessera_models::text::Embedder;
use tessera_projections::read_models::search::query::{self as sq, SearchQuery};
use tessera_projections::read_models::search::{SearchInputs, SearchProjection};
use tessera_projections::Projection;
use tessera_testkit::server::serve_on_thread;
use uuid::Uuid;

const USERS: usize = 10;
const CONNECTIONS: usize = 16;

/// `n` distinct everyday sentences.
fn sentences(n: usize) -> Vec<String> {
    let who = [
        "The lighthouse keeper",
        "A small cat",
        "Our new neighbour",
        "The orchestra",
        "My grandmother",
        "The night nurse",
        "A tired cyclist",
        "The bakery owner",
        "Two students",
        "The harbour pilot",
    ];
    let did = [
        "walked slowly along",
        "painted",
        "repaired",
        "photographed",
        "measured",
        "cleaned",
        "sold",
        "described",
        "forgot about",
        "sang about",
    ];
    let what = [
        "the old stone bridge",
        "a red bicycle",
        "the kitchen window",
        "the winter garden",
        "a broken violin",
        "the village library",
        "a jar of honey",
        "the mountain railway",
        "the fishing boats",
        "a wooden chess set",
        "the tax forms",
        "a box of letters",
        "the greenhouse tomatoes",
        "the printer in the hall",
        "a map of the coast",
        "the school choir",
        "a pot of soup",
        "the solar panels",
        "the wedding photos",
        "a pair of hiking boots",
    ];
    let when = [
        "at dawn",
        "after lunch",
        "on Sunday",
        "in the rain",
        "before the storm",
    ];
    (0..n)
        .map(|i| {
            format!(
                "{} {} {} {}.",
                who[i % who.len()],
                did[(i / who.len()) % did.len()],
                what[(i / (who.len() * did.len())) % what.len()],
                when[(i / (who.len() * did.len() * what.len())) % when.len()],
            )
        })
        .collect()
}

/// Embeds through the instance, `batch` at a time in flight.
async fn embed_all(pipelines: &Pipelines, texts: &[String]) -> Result<Vec<Vec<f32>>> {
    let instance = &pipelines.embeddings.instance;
    let mut out = Vec::with_capacity(texts.len());
    for part in texts.chunks(64) {
        let asks = part
            .iter()
            .map(|t| instance.send(Infer::<Embedder>(t.clone())));
        for a in join_all(asks).await {
            out.push(
                a.context("the embedding instance")?
                    .map_err(|e| anyhow::anyhow!("{e}"))?,
            );
        }
    }
    Ok(out)
}

/// The index's inputs for the bench: the real model instance, texts from memory.
struct BenchInputs {
    pipelines: Arc<Pipelines>,
    texts: std::collections::HashMap<String, String>,
}

#[async_trait]
impl SearchInputs for BenchInputs {
    async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, String> {
        embed_all(&self.pipelines, &texts)
            .await
            .map_err(|e| e.to_string())
    }
    async fn text(&self, _item: Uuid, blob_key: &str) -> Result<Option<String>, String> {
        Ok(self.texts.get(blob_key).cloned())
    }
    fn generation(&self) -> i32 {
        1
    }
}

fn recorded(position: u64, item: Uuid, event: &ContentEvent) -> Result<RecordedEvent> {
    let (event_type, payload) = event.encode()?;
    Ok(RecordedEvent {
        global_position: position,
        event_id: Uuid::new_v4(),
        stream_id: format!("content-{item}"),
        stream_version: 0,
        event_type,
        schema_version: 1,
        payload,
        metadata: Metadata::default(),
        recorded_at: chrono::Utc::now(),
    })
}

/// Chunks per second through the projection's `apply`, and bare.
async fn indexing(pool: &PgPool, pipelines: Arc<Pipelines>) -> Result<serde_json::Value> {
    let items = 60;
    let paragraphs = sentences(items * 10);
    let mut texts = std::collections::HashMap::new();
    let mut events = Vec::new();
    let mut all_chunks = Vec::new();
    for i in 0..items {
        let item = Uuid::new_v4();
        let text = paragraphs[i * 10..(i + 1) * 10].join("\n\n");
        let key = format!("bench/{item}");
        let title = format!("Notes {i}");
        all_chunks.push(title.clone());
        all_chunks.extend(paragraphs[i * 10..(i + 1) * 10].iter().cloned());
        texts.insert(key.clone(), text.clone());
        events.push(recorded(
            (i * 2 + 1) as u64,
            item,
            &ContentEvent::Uploaded(Box::new(Uploaded {
                owner: UserId(Uuid::from_u128(1)),
                title,
                filename: None,
                modality: Modality::Text,
                mime: "text/plain".into(),
                extension: "txt".into(),
                size: text.len() as u64,
                sha256: String::new(),
                blob_key: key,
                media: Default::default(),
                description: None,
                tags: Vec::new(),
                source: Source::Note,
                keep_location: false,
            })),
        )?);
        events.push(recorded(
            (i * 2 + 2) as u64,
            item,
            &ContentEvent::Analysed {
                job_id: JobId(Uuid::new_v4()),
                analysis: Box::new(Analysis::Text(TextAnalysis {
                    words: 0,
                    characters: 0,
                    summary: None,
                    embeddings: Vec::new(),
                    provenance: Vec::new(),
                })),
            },
        )?);
    }
    // Warm the model, then the bare rate over the same texts.
    embed_all(&pipelines, &all_chunks[..64]).await?;
    let started = Instant::now();
    embed_all(&pipelines, &all_chunks).await?;
    let bare = all_chunks.len() as f64 / started.elapsed().as_secs_f64();

    let projection = SearchProjection::new(Arc::new(BenchInputs { pipelines, texts }));
    let mut conn = pool.acquire().await?;
    sqlx::raw_sql("DROP SCHEMA IF EXISTS bench_index CASCADE; CREATE SCHEMA bench_index")
        .execute(&mut *conn)
        .await?;
    sqlx::query("SELECT set_config('search_path', 'bench_index, public', false)")
        .execute(&mut *conn)
        .await?;
    sqlx::raw_sql(projection.setup_sql())
        .execute(&mut *conn)
        .await?;
    // In batches, as the projector applies them.
    let started = Instant::now();
    for batch in events.chunks(100) {
        projection.apply_batch(&mut conn, batch).await?;
    }
    let indexed = all_chunks.len() as f64 / started.elapsed().as_secs_f64();
    sqlx::query("DROP SCHEMA bench_index CASCADE")
        .execute(&mut *conn)
        .await?;
    sqlx::query("SELECT set_config('search_path', 'public', false)")
        .execute(&mut *conn)
        .await?;
    println!(
        "indexing: {indexed:.0} chunks/s through the projection, bare embedding {bare:.0}/s: {:.2}× (goal ≥ 0.8×)",
        indexed / bare
    );
    Ok(
        json!({ "chunks": all_chunks.len(), "indexed_per_s": indexed, "bare_per_s": bare, "ratio": indexed / bare }),
    )
}

/// A small deterministic generator (xorshift), so every run fills the same vectors.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn usize(&mut self, range: std::ops::RangeTo<usize>) -> usize {
        (self.next() % range.end as u64) as usize
    }
    fn f32(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// Writes `n` chunks of `USERS` users into the live read model.
async fn fill(pool: &PgPool, bases: &[Vec<f32>], words: &[String], n: usize) -> Result<Vec<Uuid>> {
    let users: Vec<Uuid> = (0..USERS).map(|_| Uuid::new_v4()).collect();
    let per_item = 10;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    sqlx::query("DROP INDEX IF EXISTS rm_search.chunks_embedding")
        .execute(pool)
        .await?;
    let mut rows = Vec::with_capacity(1_000);
    let mut item = Uuid::nil();
    for i in 0..n {
        let owner = users[(i / per_item) % USERS];
        if i % per_item == 0 {
            item = Uuid::new_v4();
            sqlx::query(
                "INSERT INTO rm_search.items (id, owner, modality, tags, created_at, blob_key) \
                 VALUES ($1, $2, 'text', '{}', now(), '')",
            )
            .bind(item)
            .bind(owner)
            .execute(pool)
            .await?;
        }
        let (a, b) = (rng.usize(..bases.len()), rng.usize(..bases.len()));
        let mut v: Vec<f32> = bases[a]
            .iter()
            .zip(&bases[b])
            .map(|(x, y)| x + 0.5 * y + 0.05 * (rng.f32() - 0.5))
            .collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
        v.iter_mut().for_each(|x| *x /= norm);
        rows.push((
            item,
            (i % per_item) as i32,
            owner,
            format!("{} {}", words[a], words[b]),
            v,
        ));
        if rows.len() == 1_000 || i + 1 == n {
            let mut q = QueryBuilder::new(
                "INSERT INTO rm_search.chunks (item_id, ord, owner, modality, kind, text, embedding) ",
            );
            q.push_values(rows.drain(..), |mut b, (item, ord, owner, text, v)| {
                b.push_bind(item)
                    .push_bind(ord)
                    .push_bind(owner)
                    .push_bind("text")
                    .push_bind("paragraph")
                    .push_bind(text)
                    .push_bind(Vector::from(v));
            });
            q.build().execute(pool).await?;
        }
    }
    let started = Instant::now();
    sqlx::query("CREATE INDEX chunks_embedding ON rm_search.chunks USING hnsw (embedding vector_cosine_ops)")
        .execute(pool)
        .await?;
    println!(
        "filled {n} chunks; HNSW index built in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    sqlx::query("ANALYZE rm_search.chunks")
        .execute(pool)
        .await?;
    Ok(users)
}

/// Mean recall@10 of the index against an exact scan, for one user's chunks per query.
async fn recall(pool: &PgPool, users: &[Uuid], queries: &[Vec<f32>]) -> Result<f64> {
    let mut total = 0.0;
    for (i, q) in queries.iter().enumerate() {
        let owner = users[i % users.len()];
        let query = SearchQuery {
            owner: Some(owner),
            vector: Some(Vector::from(q.clone())),
            candidates: 10,
            ..SearchQuery::default()
        };
        let got: Vec<(Uuid, i32)> = sq::hybrid(pool, &query)
            .await?
            .into_iter()
            .map(|h| (h.item_id, h.ord))
            .collect();
        // `+ 0` keeps the planner off the index: every row of the user, by distance.
        let exact: Vec<(Uuid, i32)> = sqlx::query_as(
            "SELECT item_id, ord FROM rm_search.chunks WHERE owner = $1
             ORDER BY (embedding <=> $2) + 0 LIMIT 10",
        )
        .bind(owner)
        .bind(Vector::from(q.clone()))
        .fetch_all(pool)
        .await?;
        let hit = exact.iter().filter(|k| got.contains(k)).count();
        total += hit as f64 / exact.len().max(1) as f64;
    }
    Ok(total / queries.len() as f64)
}

/// Hybrid query latencies (ms) at `CONNECTIONS` connections for `seconds`, each query in one
/// of `users`' libraries (none: in all of them, as one library).
async fn latency(
    pool: &PgPool,
    users: &[Option<Uuid>],
    queries: &[(Vec<f32>, String)],
    seconds: Duration,
) -> Result<Vec<f64>> {
    let deadline = Instant::now() + seconds;
    let tasks = (0..CONNECTIONS).map(|c| {
        let pool = pool.clone();
        let users = users.to_vec();
        let queries = queries.to_vec();
        tokio::spawn(async move {
            let mut took = Vec::new();
            let mut i = c;
            while Instant::now() < deadline {
                let (v, text) = &queries[i % queries.len()];
                let query = SearchQuery {
                    owner: users[i % users.len()],
                    vector: Some(Vector::from(v.clone())),
                    words: Some(text.clone()),
                    // What the first page of 20 items asks for (`src/search`).
                    candidates: 80,
                    ..SearchQuery::default()
                };
                let started = Instant::now();
                sq::hybrid(&pool, &query).await?;
                took.push(started.elapsed().as_secs_f64() * 1000.0);
                i += CONNECTIONS;
            }
            anyhow::Ok(took)
        })
    });
    let mut all = Vec::new();
    for t in join_all(tasks).await {
        all.extend(t??);
    }
    all.sort_by(f64::total_cmp);
    Ok(all)
}

fn main() -> Result<()> {
    if !support::use_bench_database()? {
        return Ok(());
    }
    let chunks: usize = env_or("TESSERA_BENCH_CHUNKS", 100_000);
    let seconds = Duration::from_secs_f64(env_or("TESSERA_BENCH_SECONDS", 10.0));
    let served = serve_on_thread(
        CONNECTIONS as u32 + 4,
        &[("processing.enabled", "false")],
        |app, pool| {
            let pipelines = app.processing().pipelines.clone();
            async move { (pipelines, pool) }
        },
    )?;
    let (pipelines, pool) = served.value;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let report = rt.block_on(async move {
        let indexing = indexing(&pool, pipelines.clone()).await?;
        let words = sentences(2_200);
        let vectors = embed_all(&pipelines, &words).await?;
        let (bases, held_out) = vectors.split_at(2_000);
        let users = fill(&pool, bases, &words[..2_000], chunks).await?;
        let recall = recall(&pool, &users, held_out).await?;
        println!("HNSW recall@10 against exact search: {recall:.3} (goal ≥ 0.95)");
        let queries: Vec<(Vec<f32>, String)> = held_out
            .iter()
            .cloned()
            .zip(words[2_000..].iter().cloned())
            .collect();
        let mut query = serde_json::Map::new();
        let owners: Vec<Option<Uuid>> = users.iter().copied().map(Some).collect();
        for (name, scope, size) in [
            ("one_library", vec![None], chunks),
            ("one_of_ten_libraries", owners, chunks / USERS),
        ] {
            let took = latency(&pool, &scope, &queries, seconds).await?;
            let (p50, p95) = (percentile(&took, 50), percentile(&took, 95));
            println!(
                "hybrid query in a library of {size} of the {chunks} chunks at {CONNECTIONS} connections: {} queries, p50 {p50:.1} ms, p95 {p95:.1} ms (goal p95 < 50 ms)",
                took.len()
            );
            query.insert(
                name.into(),
                json!({ "library_chunks": size, "queries": took.len(), "p50_ms": p50, "p95_ms": p95 }),
            );
        }
        anyhow::Ok(json!({
            "cpus": std::thread::available_parallelism().map_or(0, |n| n.get()),
            "indexing": indexing,
            "chunks": chunks,
            "recall_at_10": recall,
            "connections": CONNECTIONS,
            "query": query,
        }))
    })?;
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-results");
    std::fs::create_dir_all(&out)?;
    std::fs::write(
        out.join("search_index.json"),
        serde_json::to_vec_pretty(&report)?,
    )?;
    Ok(())
}
