//! The content library on the S3 store: the same uploads, downloads, previews and purges as on
//! the filesystem, against a real S3-compatible server.

use crate::helpers::media::{png, sha256, wav};
use crate::helpers::s3::{s3_credentials, s3_endpoint, StallingRelay};
use crate::helpers::{eventually_within, spawn_app_with};
use reqwest::Method;
use serde_json::json;

#[actix_web::test]
async fn uploads_downloads_previews_and_purges_go_through_s3() {
    let (access, secret) = s3_credentials();
    let bucket = format!("content-{}", uuid::Uuid::new_v4().simple());
    let app = spawn_app_with(&[
        ("storage.backend", "s3"),
        ("storage.s3.endpoint", s3_endpoint()),
        ("storage.s3.bucket", &bucket),
        ("storage.s3.access_key", &access),
        ("storage.s3.secret_key", &secret),
    ])
    .await;
    let a = app.register("ann@example.com").await.access;
    let bytes = png(640, 480, 7);
    let item = app.upload(&a, bytes.clone(), "photo.png").await;
    let id = item["id"].as_str().unwrap().to_owned();
    assert_eq!(item["sha256"], sha256(&bytes));
    let (s, _, body) = app
        .get_bytes(
            &format!("/api/content/{id}/file"),
            &a,
            &[("Range", "bytes=8-15")],
        )
        .await;
    assert_eq!(s, 206);
    assert_eq!(body, &bytes[8..16]);
    let ready = eventually_within(
        std::time::Duration::from_secs(90),
        "previews on S3",
        || async {
            let r = app.get_as(&format!("/api/content/{id}"), &a).await;
            (r.body["previews"]["state"] == "ready").then_some(r.body)
        },
    )
    .await;
    let url = ready["previews"]["images"][0]["url"].as_str().unwrap();
    let (s, _, thumb) = app.get_bytes(url, &a, &[]).await;
    assert_eq!(s, 200);
    assert!(image::load_from_memory(&thumb).is_ok());

    // A resumable upload's chunks live in the store too.
    let audio = wav(1.0, 16_000);
    let r = app
        .call_as(
            Method::POST,
            "/api/uploads",
            &a,
            Some(&json!({"length": audio.len()})),
        )
        .await;
    let up = r.body["id"].as_str().unwrap().to_owned();
    let half = audio.len() / 2;
    for (offset, part) in [(0, &audio[..half]), (half, &audio[half..])] {
        let r = app
            .send(
                app.request(Method::PATCH, &format!("/api/uploads/{up}"))
                    .bearer_auth(&a)
                    .header("Upload-Offset", offset.to_string())
                    .body(part.to_vec()),
            )
            .await;
        assert!(r.status.is_success(), "{:?}", r.body);
    }
    let r = app.get_as(&format!("/api/uploads/{up}"), &a).await;
    assert_eq!(r.body["state"], "completed");

    let r = app
        .call_as(
            Method::DELETE,
            &format!("/api/content/{id}?purge=true"),
            &a,
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    let r = app.get_as(&format!("/api/content/{id}"), &a).await;
    assert_eq!(r.status, 404);
}

#[actix_web::test]
async fn a_store_that_stops_answering_is_a_quick_503_until_it_answers_again() {
    let (access, secret) = s3_credentials();
    let bucket = format!("stall-{}", uuid::Uuid::new_v4().simple());
    let relay = StallingRelay::start(s3_endpoint()).await;
    let app = spawn_app_with(&[
        ("storage.backend", "s3"),
        ("storage.s3.endpoint", &relay.endpoint),
        ("storage.s3.bucket", &bucket),
        ("storage.s3.access_key", &access),
        ("storage.s3.secret_key", &secret),
        ("storage.s3.request_timeout_secs", "1"),
        ("storage.s3.breaker_cool_down_secs", "2"),
    ])
    .await;
    let a = app.register("ann@example.com").await.access;
    let note = app
        .call_as(
            Method::POST,
            "/api/content/notes",
            &a,
            Some(&json!({"title": "n", "text": "kept in S3"})),
        )
        .await;
    let id = note.body["id"].as_str().unwrap().to_owned();
    let file = format!("/api/content/{id}/file");

    relay.stall(true);
    // Each download waits at most the time-out, then says what is wrong.
    for _ in 0..5 {
        let started = std::time::Instant::now();
        let r = app.get_as(&file, &a).await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (503, "storage_unavailable"),
            "{r:?}"
        );
        assert!(r.header("retry-after").is_some());
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }
    // Then the breaker is open: no waiting at all.
    let started = std::time::Instant::now();
    let r = app.get_as(&file, &a).await;
    assert_eq!(r.code(), "storage_unavailable");
    assert!(
        started.elapsed() < std::time::Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );

    relay.stall(false);
    let body = eventually_within(
        std::time::Duration::from_secs(20),
        "the store answers again",
        || async {
            let (s, _, body) = app.get_bytes(&file, &a, &[]).await;
            (s == 200).then_some(body)
        },
    )
    .await;
    assert_eq!(body, b"kept in S3");
}
