//! Resumable uploads: chunks at the acknowledged offset, resuming after an interrupted chunk,
//! and the item the last chunk makes.

use crate::helpers::media::{sha256, wav};
use crate::helpers::{spawn_app, spawn_app_with, TestApp};

use reqwest::Method;
use serde_json::{json, Value};

async fn start(app: &TestApp, access: &str, length: usize) -> Value {
    let r = app
        .call_as(
            Method::POST,
            "/api/uploads",
            access,
            Some(&json!({"length": length, "filename": "long take.wav", "title": "Long take"})),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.header("upload-offset"), Some("0"));
    r.body
}

async fn chunk(
    app: &TestApp,
    access: &str,
    id: &str,
    offset: usize,
    bytes: &[u8],
) -> crate::helpers::Reply {
    app.send(
        app.request(Method::PATCH, &format!("/api/uploads/{id}"))
            .bearer_auth(access)
            .header("Upload-Offset", offset.to_string())
            .body(bytes.to_vec()),
    )
    .await
}

async fn offset(app: &TestApp, access: &str, id: &str) -> u64 {
    let res = app
        .request(Method::HEAD, &format!("/api/uploads/{id}"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.headers()["upload-offset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[actix_web::test]
async fn chunks_resume_from_the_acknowledged_byte_and_complete_into_an_item() {
    let app = spawn_app_with(&[("quotas.storage_bytes", "100000000")]).await;
    let a = app.register("ann@example.com").await.access;
    let bytes = wav(3.0, 16_000);
    let n = bytes.len();
    let up = start(&app, &a, n).await;
    let id = up["id"].as_str().unwrap().to_owned();

    let third = n / 3;
    let r = chunk(&app, &a, &id, 0, &bytes[..third]).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["upload"]["offset"], third);
    assert_eq!(offset(&app, &a, &id).await, third as u64);

    // A chunk at the wrong offset is refused and says where to resume.
    let r = chunk(&app, &a, &id, 0, &bytes[..10]).await;
    assert_eq!((r.status.as_u16(), r.code()), (409, "offset_mismatch"));
    assert_eq!(r.body["error"]["field"], third.to_string());

    // A chunk whose body breaks off midway is not acknowledged.
    let part = bytes[third..2 * third].to_vec();
    let broken = futures_util::stream::iter(vec![
        Ok(bytes::Bytes::from(part[..1000].to_vec())),
        Err(std::io::Error::other("connection lost")),
    ]);
    let res = app
        .request(Method::PATCH, &format!("/api/uploads/{id}"))
        .bearer_auth(&a)
        .header("Upload-Offset", third.to_string())
        .body(reqwest::Body::wrap_stream(broken))
        .send()
        .await;
    if let Ok(r) = res {
        assert_ne!(r.status(), 200);
    }
    assert_eq!(offset(&app, &a, &id).await, third as u64);

    let r = chunk(&app, &a, &id, third, &part).await;
    assert_eq!(r.body["upload"]["offset"], 2 * third);
    // Past the declared length.
    let mut too_much = bytes[2 * third..].to_vec();
    too_much.extend_from_slice(b"extra");
    let r = chunk(&app, &a, &id, 2 * third, &too_much).await;
    assert_eq!((r.status.as_u16(), r.code()), (413, "past_declared_length"));
    let r = chunk(&app, &a, &id, 2 * third, &bytes[2 * third..]).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["upload"]["state"], "completed");
    let item = &r.body["content"];
    assert_eq!(item["modality"], "audio");
    assert_eq!(item["sha256"], sha256(&bytes));
    assert_eq!(item["source"], "resumable");
    assert_eq!(item["title"], "Long take");
    let (s, _, body) = app
        .get_bytes(
            &format!("/api/content/{}/file", item["id"].as_str().unwrap()),
            &a,
            &[],
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(body, bytes);
    // The chunks are gone once the item exists; a late chunk is refused.
    assert!(app.files_under("blobs/uploads").is_empty());
    let r = chunk(&app, &a, &id, n, b"x").await;
    assert_eq!(r.status, 409);
}

#[actix_web::test]
async fn uploads_are_private_and_checked_before_they_start() {
    let app = spawn_app().await;
    let a = app.register("ann@example.com").await.access;
    let b = app.register("bob@example.com").await.access;
    let up = start(&app, &a, 1000).await;
    let id = up["id"].as_str().unwrap();
    let r = chunk(&app, &b, id, 0, b"hello").await;
    assert_eq!(r.status, 404);
    let r = app.get_as(&format!("/api/uploads/{id}"), &b).await;
    assert_eq!(r.status, 404);
    let r = app
        .call_as(Method::DELETE, &format!("/api/uploads/{id}"), &b, None)
        .await;
    assert_eq!(r.status, 404);

    // The test default storage quota is 1,000,000 bytes.
    let r = app
        .call_as(
            Method::POST,
            "/api/uploads",
            &a,
            Some(&json!({"length": 2_000_000})),
        )
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "quota_exceeded"));
    let r = app
        .call_as(
            Method::POST,
            "/api/uploads",
            &a,
            Some(&json!({"length": 0})),
        )
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "empty_file"));
    let r = app
        .call_as(
            Method::POST,
            "/api/uploads",
            &a,
            Some(&json!({"length": -5})),
        )
        .await;
    assert_eq!(r.status, 400);

    let r = app
        .call_as(Method::DELETE, &format!("/api/uploads/{id}"), &a, None)
        .await;
    assert_eq!(r.status, 204);
    let r = chunk(&app, &a, id, 0, b"hello").await;
    assert_eq!((r.status.as_u16(), r.code()), (409, "upload_closed"));
    let r = app
        .send(
            app.request(Method::PATCH, &format!("/api/uploads/{id}"))
                .bearer_auth(&a)
                .body("x"),
        )
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "missing_offset"));
}

#[actix_web::test]
async fn a_bad_file_ends_its_upload_with_the_reason() {
    let app = spawn_app().await;
    let a = app.register("ann@example.com").await.access;
    let junk = vec![7u8; 3000];
    let up = start(&app, &a, junk.len()).await;
    let id = up["id"].as_str().unwrap();
    let r = chunk(&app, &a, id, 0, &junk).await;
    assert_eq!((r.status.as_u16(), r.code()), (415, "unsupported_type"));
    let s = app.get_as(&format!("/api/uploads/{id}"), &a).await;
    assert_eq!(s.body["state"], "aborted");
    assert!(app.events_of_type("content.uploaded").await.is_empty());
}
