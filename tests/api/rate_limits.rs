//! Rate limits on `/api/*` over real HTTP, with the buckets in process and in a real Redis:
//! per user, per address, uploads, windows that pass, nodes that share (or do not share) a
//! budget, and requests that still pass while Redis is down.

use std::time::{Duration, Instant};

use crate::helpers::{email, redis_url, spawn_app_with, Reply, TestApp};
use reqwest::{Method, StatusCode};
use uuid::Uuid;

#[derive(Clone, Copy, Debug)]
enum Backend {
    Memory,
    Redis,
}

/// Starts an app with rate-limit `settings` (`rate_limits.` is prefixed) on `backend`, plus
/// `extra` overrides.
async fn spawn(backend: Backend, settings: &[(&str, &str)], extra: &[(&str, &str)]) -> TestApp {
    let keys: Vec<(String, &str)> = settings
        .iter()
        .map(|(k, v)| (format!("rate_limits.{k}"), *v))
        .collect();
    let redis = redis_url();
    let mut all: Vec<(&str, &str)> = keys.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    if let Backend::Redis = backend {
        all.push(("redis.url", &redis));
    }
    all.extend_from_slice(extra);
    spawn_app_with(&all).await
}

fn is_limited(reply: &Reply) -> bool {
    reply.status == StatusCode::TOO_MANY_REQUESTS
}

fn remaining(reply: &Reply) -> Option<u32> {
    reply
        .header("x-ratelimit-remaining")
        .and_then(|v| v.parse().ok())
}

/// Checks a 429 in full: code, `Retry-After` in whole seconds within `1..=max_secs`, request id.
fn assert_limited(reply: &Reply, max_secs: u64) {
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS, "{reply:?}");
    assert_eq!(reply.code(), "rate_limited", "{reply:?}");
    let retry: u64 = reply
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no numeric Retry-After: {reply:?}"));
    assert!(
        (1..=max_secs).contains(&retry),
        "Retry-After {retry} not in 1..={max_secs}"
    );
    assert!(
        reply.body["error"]["request_id"].is_string(),
        "the 429 carries the request id: {reply:?}"
    );
}

async fn me(app: &TestApp, access: &str) -> Reply {
    app.get_as("/api/me", access).await
}

async fn anonymous(app: &TestApp) -> Reply {
    app.send(app.get("/api/me")).await
}

async fn user_limit(backend: Backend) {
    let app = spawn(
        backend,
        &[
            ("per_user", "3"),
            ("per_address", "1000"),
            ("window_secs", "60"),
        ],
        &[],
    )
    .await;
    let a = app.register(&email("a")).await;
    let b = app.register(&email("b")).await;
    for expected in [2, 1, 0] {
        let reply = me(&app, &a.access).await;
        assert!(!is_limited(&reply), "{reply:?}");
        assert_eq!(remaining(&reply), Some(expected), "{reply:?}");
    }
    let reply = me(&app, &a.access).await;
    // GCRA: one more request is allowed every window / limit = 20 s.
    assert_limited(&reply, 20);
    let reply = me(&app, &b.access).await;
    assert!(!is_limited(&reply), "another user is unaffected: {reply:?}");
    assert_eq!(remaining(&reply), Some(2), "{reply:?}");
    // The same token in the cookie is the same user.
    let reply = app
        .send(
            app.get("/api/me")
                .header("cookie", format!("access_token={}", a.access)),
        )
        .await;
    assert_limited(&reply, 20);
}

#[actix_web::test]
async fn memory_the_request_after_a_users_limit_is_refused() {
    user_limit(Backend::Memory).await;
}

#[actix_web::test]
async fn redis_the_request_after_a_users_limit_is_refused() {
    user_limit(Backend::Redis).await;
}

async fn address_limit(backend: Backend) {
    let app = spawn(backend, &[("per_address", "3"), ("window_secs", "60")], &[]).await;
    for _ in 0..3 {
        let reply = anonymous(&app).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{reply:?}");
    }
    assert_limited(&anonymous(&app).await, 20);
    // A bad token is no way around it.
    let reply = app.get_as("/api/me", "not.a.token").await;
    assert_limited(&reply, 20);
    // Probes and the API description are never limited.
    for path in ["/api/openapi.json", "/health", "/ready"] {
        let reply = app.send(app.get(path)).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {reply:?}");
    }
}

#[actix_web::test]
async fn memory_anonymous_requests_are_limited_per_address() {
    address_limit(Backend::Memory).await;
}

#[actix_web::test]
async fn redis_anonymous_requests_are_limited_per_address() {
    address_limit(Backend::Redis).await;
}

async fn uploads_limit(backend: Backend) {
    let app = spawn(
        backend,
        &[
            ("per_user", "1000"),
            ("per_address", "1000"),
            ("uploads_per_user", "2"),
            ("window_secs", "60"),
        ],
        &[],
    )
    .await;
    let a = app.register(&email("up")).await;
    for _ in 0..2 {
        let reply = app
            .call_as(Method::POST, "/api/content", &a.access, None)
            .await;
        assert!(!is_limited(&reply), "{reply:?}");
    }
    let reply = app
        .call_as(Method::POST, "/api/content", &a.access, None)
        .await;
    assert_limited(&reply, 30);
    let reply = app
        .call_as(Method::PUT, "/api/uploads/some-upload", &a.access, None)
        .await;
    assert_limited(&reply, 30);
    // Reads are not uploads.
    let reply = me(&app, &a.access).await;
    assert!(!is_limited(&reply), "{reply:?}");
    let reply = app.get_as("/api/content", &a.access).await;
    assert!(!is_limited(&reply), "{reply:?}");
}

#[actix_web::test]
async fn memory_uploads_have_their_own_stricter_budget() {
    uploads_limit(Backend::Memory).await;
}

#[actix_web::test]
async fn redis_uploads_have_their_own_stricter_budget() {
    uploads_limit(Backend::Redis).await;
}

async fn window_passes(backend: Backend) {
    let app = spawn(
        backend,
        &[
            ("per_user", "2"),
            ("per_address", "1000"),
            ("window_secs", "1"),
        ],
        &[],
    )
    .await;
    let a = app.register(&email("w")).await;
    // Both requests and the refusal inside one window: retry if this machine was too slow.
    let mut refused_at = None;
    for _ in 0..5 {
        let started = Instant::now();
        let first = me(&app, &a.access).await;
        let second = me(&app, &a.access).await;
        let third = me(&app, &a.access).await;
        if started.elapsed() < Duration::from_millis(400) {
            assert!(!is_limited(&first) && !is_limited(&second), "{second:?}");
            assert_limited(&third, 1);
            refused_at = Some(Instant::now());
            break;
        }
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    assert!(refused_at.is_some(), "three requests never fit in 400 ms");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let reply = me(&app, &a.access).await;
    assert!(!is_limited(&reply), "the window passed: {reply:?}");
    assert_eq!(remaining(&reply), Some(1), "the whole budget is back");
}

#[actix_web::test]
async fn memory_requests_pass_again_after_the_window() {
    window_passes(Backend::Memory).await;
}

#[actix_web::test]
async fn redis_requests_pass_again_after_the_window() {
    window_passes(Backend::Redis).await;
}

/// Two nodes of one deployment: Redis gives them one budget, in-process limiters one each.
async fn two_nodes(backend: Backend) -> (bool, Reply) {
    let prefix = format!("shared-{}", Uuid::new_v4().simple());
    let settings = [("per_address", "4"), ("window_secs", "60")];
    let extra = [("redis.key_prefix", prefix.as_str())];
    let one = spawn(backend, &settings, &extra).await;
    let two = spawn(backend, &settings, &extra).await;
    for app in [&one, &two, &one, &two] {
        let reply = anonymous(app).await;
        assert!(!is_limited(&reply), "{reply:?}");
    }
    let fifth = anonymous(&two).await;
    (is_limited(&fifth), fifth)
}

#[actix_web::test]
async fn redis_nodes_sharing_one_redis_share_the_budget() {
    let (limited, reply) = two_nodes(Backend::Redis).await;
    assert!(limited, "the fifth request overall is refused: {reply:?}");
    assert_limited(&reply, 20);
}

#[actix_web::test]
async fn memory_nodes_each_have_their_own_budget() {
    let (limited, reply) = two_nodes(Backend::Memory).await;
    assert!(
        !limited,
        "node two has seen only its third request: {reply:?}"
    );
    assert_eq!(remaining(&reply), Some(1), "{reply:?}");
}

#[actix_web::test]
async fn redis_keys_of_other_deployments_are_not_shared() {
    // Same Redis, different key prefixes (spawn gives each app its own): separate budgets.
    let settings = [("per_address", "1"), ("window_secs", "60")];
    let one = spawn(Backend::Redis, &settings, &[]).await;
    let two = spawn(Backend::Redis, &settings, &[]).await;
    assert!(!is_limited(&anonymous(&one).await));
    assert!(!is_limited(&anonymous(&two).await));
    assert_limited(&anonymous(&one).await, 60);
}

#[actix_web::test]
async fn requests_pass_while_redis_is_down() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let url = format!("redis://127.0.0.1:{port}");
    let app = spawn(
        Backend::Memory,
        &[
            ("per_user", "1"),
            ("per_address", "1"),
            ("window_secs", "60"),
        ],
        &[("redis.url", &url)],
    )
    .await;
    let a = app.register(&email("down")).await;
    let started = Instant::now();
    for _ in 0..5 {
        let reply = me(&app, &a.access).await;
        assert!(!is_limited(&reply), "fail open: {reply:?}");
        assert_ne!(reply.status, StatusCode::INTERNAL_SERVER_ERROR, "{reply:?}");
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "an unreachable Redis costs little: {:?}",
        started.elapsed()
    );
}

#[actix_web::test]
async fn rate_limits_can_be_turned_off() {
    let app = spawn(
        Backend::Memory,
        &[("enabled", "false"), ("per_address", "1")],
        &[],
    )
    .await;
    for _ in 0..3 {
        let reply = anonymous(&app).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{reply:?}");
        assert_eq!(remaining(&reply), None, "{reply:?}");
    }
}
