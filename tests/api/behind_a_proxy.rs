//! Behind a reverse proxy: who the client is (forwarding headers from trusted proxies only),
//! the login throttle per account and address and shared by nodes through Redis, and cookies
//! and HSTS that follow the configuration, not the request.

use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{redis_url, spawn_app_with, Reply, TestApp, PASSWORD};

async fn login_from(app: &TestApp, email: &str, password: &str, client: &str) -> Reply {
    app.send(
        app.post_json(
            "/api/auth/login",
            &json!({ "email": email, "password": password }),
        )
        .header("x-forwarded-for", client),
    )
    .await
}

const STRANGER: &str = "198.51.100.66";
const OWNER: &str = "203.0.113.10";

#[actix_web::test]
async fn a_strangers_guesses_never_lock_the_owner_out() {
    let app = spawn_app_with(&[
        ("server.trusted_proxies", "127.0.0.1/32, ::1"),
        ("auth.login_attempts_per_account", "3"),
    ])
    .await;
    app.register("owner@example.com").await;
    for _ in 0..3 {
        let r = login_from(&app, "owner@example.com", "Wrong-Guess-1", STRANGER).await;
        assert_eq!(r.code(), "invalid_credentials", "{r:?}");
    }
    let r = login_from(&app, "owner@example.com", PASSWORD, STRANGER).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::TOO_MANY_REQUESTS, "login_throttled")
    );
    let r = login_from(&app, "owner@example.com", PASSWORD, OWNER).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    // A client that writes its own header first gains nothing: the proxy's entry is the one.
    let forged = format!("{OWNER}, {STRANGER}");
    let r = login_from(&app, "owner@example.com", "Wrong-Guess-1", &forged).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::TOO_MANY_REQUESTS, "login_throttled")
    );
}

#[actix_web::test]
async fn forwarding_headers_from_untrusted_peers_are_ignored() {
    let app = spawn_app_with(&[("auth.login_attempts_per_account", "3")]).await;
    app.register("owner@example.com").await;
    for _ in 0..3 {
        let r = login_from(&app, "owner@example.com", "Wrong-Guess-1", STRANGER).await;
        assert_eq!(r.code(), "invalid_credentials", "{r:?}");
    }
    // Every request came from the same socket address, whatever the header says.
    let r = login_from(&app, "owner@example.com", PASSWORD, OWNER).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::TOO_MANY_REQUESTS, "login_throttled")
    );
}

#[actix_web::test]
async fn nodes_sharing_redis_share_the_login_throttle() {
    let prefix = format!("login-{}", Uuid::new_v4().simple());
    let redis = redis_url();
    let settings = [
        ("auth.login_attempts_per_account", "3"),
        ("redis.url", redis.as_str()),
        ("redis.key_prefix", prefix.as_str()),
    ];
    let one = spawn_app_with(&settings).await;
    let two = crate::helpers::spawn_node_of(&one, &settings).await;
    one.register("owner@example.com").await;
    for app in [&one, &two, &one] {
        let r = app.try_login("owner@example.com", "Wrong-Guess-1").await;
        assert_eq!(r.code(), "invalid_credentials", "{r:?}");
    }
    let r = two.try_login("owner@example.com", PASSWORD).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::TOO_MANY_REQUESTS, "login_throttled"),
        "three guesses over two nodes are three guesses"
    );
    let retry: u64 = r
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!((1..=300).contains(&retry), "{retry}");
}

fn cookies(r: &Reply) -> Vec<String> {
    r.headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

#[actix_web::test]
async fn cookies_and_hsts_follow_the_configured_scheme_not_the_request() {
    // Plain HTTP: a client claiming HTTPS does not make the cookies `Secure`.
    let app = spawn_app_with(&[]).await;
    app.register("owner@example.com").await;
    let r = app
        .send(
            app.post_json(
                "/api/auth/login",
                &json!({ "email": "owner@example.com", "password": PASSWORD }),
            )
            .header("x-forwarded-proto", "https"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let set = cookies(&r);
    assert_eq!(set.len(), 2, "{set:?}");
    assert!(set.iter().all(|c| !c.contains("Secure")), "{set:?}");
    assert!(r.header("strict-transport-security").is_none());

    let app = spawn_app_with(&[("server.public_url", "https://tessera.example.com")]).await;
    app.register("owner@example.com").await;
    let r = app.try_login("owner@example.com", PASSWORD).await;
    let set = cookies(&r);
    assert!(set.iter().all(|c| c.contains("Secure")), "{set:?}");
    assert_eq!(
        r.header("strict-transport-security"),
        Some(tessera::site::HSTS)
    );
    let health = app.send(app.get("/health")).await;
    assert_eq!(
        health.header("strict-transport-security"),
        Some(tessera::site::HSTS)
    );
}
