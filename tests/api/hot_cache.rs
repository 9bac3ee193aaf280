//! The read-through cache of hot read-model queries, in process and in a real Redis: a hit
//! spares the loader, a projection's announcement (or bump) invalidates, nodes sharing a Redis
//! see each other's invalidations, a read racing an invalidation never serves its stale value,
//! and an unreachable Redis only costs the loader a call.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::helpers::{eventually, redis_url};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use tessera::cache::{HotCache, ProjectionEpochs};
use tessera::redis_conn::RedisConn;
use tessera_projections::PROJECTED_CHANNEL;
use tessera_testkit::TestDb;
use uuid::Uuid;

const PROJECTIONS: &[&str] = &["users", "content"];
const TTL: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Row {
    n: usize,
    name: String,
}

#[derive(Clone, Copy, Debug)]
enum Backend {
    Memory,
    Redis,
}

fn redis_conn(prefix: &str) -> RedisConn {
    RedisConn::new(
        &SecretString::from(redis_url()),
        prefix,
        Duration::from_millis(500),
    )
    .expect("a valid Redis URL")
}

fn fresh_prefix() -> String {
    format!("hot-cache-test-{}", Uuid::new_v4().simple())
}

fn cache(backend: Backend, epochs: Arc<ProjectionEpochs>) -> HotCache {
    match backend {
        Backend::Memory => HotCache::memory(epochs),
        Backend::Redis => HotCache::redis(redis_conn(&fresh_prefix()), epochs, TTL),
    }
}

fn detached() -> Arc<ProjectionEpochs> {
    Arc::new(ProjectionEpochs::detached(PROJECTIONS))
}

/// Reads `key` of `projection`; the loader counts its calls and answers with the count.
async fn read(cache: &HotCache, projection: &'static str, key: &str, calls: &AtomicUsize) -> Row {
    cache
        .get_or_load(projection, key, || async {
            let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
            Ok::<_, Infallible>(Row {
                n,
                name: format!("{projection}/{key}"),
            })
        })
        .await
        .unwrap_or_else(|e| match e {})
}

async fn loads_once(backend: Backend) {
    let cache = cache(backend, detached());
    let calls = AtomicUsize::new(0);
    let first = read(&cache, "users", "u1", &calls).await;
    let second = read(&cache, "users", "u1", &calls).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1, "the second read is a hit");
    assert_eq!(first, second);
    assert_eq!(second.name, "users/u1");
    read(&cache, "users", "u2", &calls).await;
    read(&cache, "content", "u1", &calls).await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "keys and projections are separate entries"
    );

    // Errors are returned, and not cached.
    let failed: Result<Row, String> = cache
        .get_or_load("users", "bad", || async { Err("boom".to_owned()) })
        .await;
    assert_eq!(failed, Err("boom".to_owned()));
    read(&cache, "users", "bad", &calls).await;
    assert_eq!(calls.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn memory_loads_once_then_serves_from_the_cache() {
    loads_once(Backend::Memory).await;
}

#[tokio::test]
async fn redis_loads_once_then_serves_from_the_cache() {
    loads_once(Backend::Redis).await;
}

async fn bump_invalidates(backend: Backend) {
    let epochs = detached();
    let cache = cache(backend, epochs.clone());
    let calls = AtomicUsize::new(0);
    read(&cache, "users", "u", &calls).await;
    read(&cache, "content", "c", &calls).await;
    epochs.bump("content");
    assert_eq!(read(&cache, "users", "u", &calls).await.n, 1, "unrelated");
    assert_eq!(read(&cache, "content", "c", &calls).await.n, 3, "reloaded");
    epochs.bump_all();
    assert_eq!(read(&cache, "users", "u", &calls).await.n, 4);
    cache.invalidate("users").await;
    assert_eq!(read(&cache, "users", "u", &calls).await.n, 5);
    assert_eq!(read(&cache, "users", "u", &calls).await.n, 5);
}

#[tokio::test]
async fn memory_a_projection_bump_invalidates_only_its_entries() {
    bump_invalidates(Backend::Memory).await;
}

#[tokio::test]
async fn redis_a_projection_bump_invalidates_only_its_entries() {
    bump_invalidates(Backend::Redis).await;
}

async fn announcement_invalidates(backend: Backend) {
    let db = TestDb::new().await;
    let epochs = ProjectionEpochs::start(&db.pool, PROJECTIONS)
        .await
        .expect("listening");
    let cache = cache(backend, epochs);
    let calls = AtomicUsize::new(0);
    assert_eq!(read(&cache, "users", "u", &calls).await.n, 1);
    assert_eq!(read(&cache, "users", "u", &calls).await.n, 1);
    sqlx::query("SELECT pg_notify($1, 'users')")
        .bind(PROJECTED_CHANNEL)
        .execute(&db.pool)
        .await
        .expect("announce");
    eventually("the announcement invalidates the entry", || async {
        (read(&cache, "users", "u", &calls).await.n > 1).then_some(())
    })
    .await;
    let n = calls.load(Ordering::SeqCst);
    assert_eq!(
        read(&cache, "users", "u", &calls).await.n,
        n,
        "cached again"
    );
}

#[tokio::test]
async fn memory_a_projection_announcement_invalidates() {
    announcement_invalidates(Backend::Memory).await;
}

#[tokio::test]
async fn redis_a_projection_announcement_invalidates() {
    announcement_invalidates(Backend::Redis).await;
}

#[tokio::test]
async fn redis_nodes_share_entries_and_invalidations() {
    let prefix = fresh_prefix();
    let (epochs_a, epochs_b) = (detached(), detached());
    let a = HotCache::redis(redis_conn(&prefix), epochs_a.clone(), TTL);
    let b = HotCache::redis(redis_conn(&prefix), epochs_b, TTL);
    let (calls_a, calls_b) = (AtomicUsize::new(0), AtomicUsize::new(0));
    read(&a, "users", "u", &calls_a).await;
    let seen_by_b = read(&b, "users", "u", &calls_b).await;
    assert_eq!(calls_b.load(Ordering::SeqCst), 0, "node b reads a's entry");
    assert_eq!(seen_by_b.n, 1);

    // Node a hears of a commit (its listener bumps its epochs); node b did not, yet must not
    // serve the old entry once a has told Redis.
    epochs_a.bump("users");
    eventually("a's invalidation reaches b", || async {
        let before = calls_b.load(Ordering::SeqCst);
        read(&b, "users", "u", &calls_b).await;
        (calls_b.load(Ordering::SeqCst) > before).then_some(())
    })
    .await;
    // b's reload is shared with a in turn.
    let n = calls_a.load(Ordering::SeqCst);
    read(&a, "users", "u", &calls_a).await;
    assert_eq!(calls_a.load(Ordering::SeqCst), n, "a reads b's fresh entry");

    // An explicit invalidation reaches Redis before it returns.
    b.invalidate("users").await;
    read(&a, "users", "u", &calls_a).await;
    assert_eq!(calls_a.load(Ordering::SeqCst), n + 1);
}

async fn racing_read_is_never_served(backend: Backend) {
    let epochs = detached();
    let cache = cache(backend, epochs.clone());
    // The projection commits while the query runs: its (old) result must not be served later.
    let raced: Result<Row, Infallible> = cache
        .get_or_load("users", "u", || async {
            cache.invalidate("users").await;
            Ok(Row {
                n: 0,
                name: "stale".into(),
            })
        })
        .await;
    assert_eq!(
        raced.map(|r| r.name),
        Ok("stale".to_owned()),
        "returned once"
    );
    let calls = AtomicUsize::new(0);
    let next = read(&cache, "users", "u", &calls).await;
    assert_eq!(
        next.name, "users/u",
        "the racing read's value is not served"
    );
    assert_eq!(read(&cache, "users", "u", &calls).await.n, 1);
}

#[tokio::test]
async fn memory_a_read_racing_an_invalidation_is_never_served() {
    racing_read_is_never_served(Backend::Memory).await;
}

#[tokio::test]
async fn redis_a_read_racing_an_invalidation_is_never_served() {
    racing_read_is_never_served(Backend::Redis).await;
}

#[tokio::test]
async fn redis_unreachable_means_the_loader_answers() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let conn = RedisConn::new(
        &SecretString::from(format!("redis://127.0.0.1:{port}")),
        "down",
        Duration::from_millis(500),
    )
    .expect("a valid URL");
    let epochs = detached();
    let cache = HotCache::redis(conn, epochs.clone(), TTL);
    let calls = AtomicUsize::new(0);
    for i in 1..=3 {
        assert_eq!(read(&cache, "users", "u", &calls).await.n, i);
    }
    epochs.bump("users");
    cache.invalidate("users").await;
    assert_eq!(read(&cache, "users", "u", &calls).await.n, 4);
}

#[tokio::test]
async fn unknown_projections_are_not_cached() {
    for backend in [Backend::Memory, Backend::Redis] {
        let cache = cache(backend, detached());
        let calls = AtomicUsize::new(0);
        read(&cache, "no-such-projection", "k", &calls).await;
        read(&cache, "no-such-projection", "k", &calls).await;
        assert_eq!(calls.load(Ordering::SeqCst), 2, "{backend:?}");
    }
}

#[tokio::test]
async fn redis_entries_expire() {
    let prefix = fresh_prefix();
    let cache = HotCache::redis(redis_conn(&prefix), detached(), Duration::from_secs(1));
    let calls = AtomicUsize::new(0);
    read(&cache, "users", "u", &calls).await;
    read(&cache, "users", "u", &calls).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    read(&cache, "users", "u", &calls).await;
    assert_eq!(calls.load(Ordering::SeqCst), 2, "the entry expired");
}
