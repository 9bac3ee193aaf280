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

/// Files the blob store holds under a folder named `dir` (`blobs`: items' bytes; `uploads`:
/// resumable chunks) in `app`'s data folder.
fn stored_under(app: &TestApp, dir: &str) -> usize {
    fn walk(path: &std::path::Path, dir: &str, under: bool, n: &mut usize) {
        let Ok(entries) = std::fs::read_dir(path) else {
            return;
        };
        for e in entries.flatten() {
            let inside = under || e.file_name() == dir;
            if e.path().is_dir() {
                walk(&e.path(), dir, inside, n);
            } else if under {
                *n += 1;
            }
        }
    }
    let mut n = 0;
    walk(&app.data_dir.0, dir, false, &mut n);
    n
}

async fn usage(app: &TestApp, access: &str) -> Value {
    let r = app.get_as("/api/usage", access).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body
}

#[actix_web::test]
async fn open_uploads_hold_their_length_of_the_quota() {
    // The test default storage quota is 1,000,000 bytes.
    let app = spawn_app_with(&[("content.max_open_uploads", "3")]).await;
    let a = app.register("ann@example.com").await.access;
    let big = start(&app, &a, 600_000).await;
    let big = big["id"].as_str().unwrap().to_owned();
    assert_eq!(usage(&app, &a).await["reserved_bytes"], 600_000);

    // What the open upload holds counts against every other way of storing bytes, and a note
    // refused for it writes nothing.
    let r = app
        .call_as(
            Method::POST,
            "/api/uploads",
            &a,
            Some(&json!({"length": 500_000})),
        )
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "quota_exceeded"));
    let blobs = stored_under(&app, "blobs");
    let note = json!({"title": "Long", "text": "word ".repeat(100_000)});
    let r = app
        .call_as(Method::POST, "/api/content/notes", &a, Some(&note))
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "quota_exceeded"));
    assert_eq!(
        stored_under(&app, "blobs"),
        blobs,
        "a refused note stored bytes"
    );
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(wav(15.0, 16_000)).file_name("a.wav"),
    );
    let r = app
        .send(
            app.request(Method::POST, "/api/content")
                .bearer_auth(&a)
                .multipart(form),
        )
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "quota_exceeded"));

    // At most three open at once.
    let audio = wav(1.0, 16_000);
    let small = start(&app, &a, audio.len()).await;
    let small = small["id"].as_str().unwrap().to_owned();
    start(&app, &a, 1000).await;
    let r = app
        .call_as(
            Method::POST,
            "/api/uploads",
            &a,
            Some(&json!({"length": 1})),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (409, "too_many_open_uploads")
    );

    // The item a completed upload makes takes its reservation over; a cancelled upload frees
    // its own.
    let r = chunk(&app, &a, &small, 0, &audio).await;
    assert!(r.status.is_success(), "{:?}", r.body);
    let u = usage(&app, &a).await;
    assert_eq!(u["stored_bytes"], audio.len());
    assert_eq!(u["reserved_bytes"], 600_000 + 1000);
    let r = app
        .call_as(Method::DELETE, &format!("/api/uploads/{big}"), &a, None)
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(usage(&app, &a).await["reserved_bytes"], 1000);
    let reserved = app.events_of_type("usage.storage_reserved").await;
    let ended = app.events_of_type("usage.reservation_ended").await;
    assert_eq!((reserved.len(), ended.len()), (3, 1));

    // Under pressure: many sessions and notes at once never hold more than the quota.
    let b = app.register("bob@example.com").await.access;
    let app = &app;
    let b = &b;
    let starts = (0..20).map(|_| async move {
        app.call_as(
            Method::POST,
            "/api/uploads",
            b,
            Some(&json!({"length": 300_000})),
        )
        .await
    });
    let notes = (0..20).map(|i| async move {
        let note = json!({"title": "n", "text": format!("{i} {}", "x".repeat(200_000))});
        app.call_as(Method::POST, "/api/content/notes", b, Some(&note))
            .await
    });
    let (starts, notes) = futures_util::future::join(
        futures_util::future::join_all(starts),
        futures_util::future::join_all(notes),
    )
    .await;
    for r in starts.iter().chain(&notes) {
        assert!(
            r.status.is_success()
                || r.code() == "quota_exceeded"
                || r.code() == "too_many_open_uploads",
            "{:?}",
            r.body
        );
    }
    let u = usage(app, b).await;
    let held = u["stored_bytes"].as_u64().unwrap() + u["reserved_bytes"].as_u64().unwrap();
    assert!(held <= 1_000_000, "{u}");
    assert!(held >= 600_000, "the quota was used: {u}");
}

#[actix_web::test]
async fn chunks_of_an_upload_that_can_no_longer_finish_are_collected_at_once() {
    // Sessions expire the moment they start, and the sweeper runs every three seconds.
    let app = spawn_app_with(&[
        ("content.upload_session_hours", "0"),
        ("content.sweep_interval_secs", "3"),
    ])
    .await;
    let a = app.register("ann@example.com").await.access;
    let up = start(&app, &a, 1000).await;
    let id = up["id"].as_str().unwrap();
    // The chunk's bytes are written before the session refuses it: an orphan.
    let r = chunk(&app, &a, id, 0, &[7u8; 500]).await;
    assert_eq!((r.status.as_u16(), r.code()), (409, "upload_closed"));
    assert_eq!(
        stored_under(&app, "uploads"),
        1,
        "the refused chunk's bytes were written"
    );
    crate::helpers::eventually("the orphaned chunk is collected", || async {
        (stored_under(&app, "uploads") == 0).then_some(())
    })
    .await;
    assert_eq!(
        usage(&app, &a).await["reserved_bytes"],
        0,
        "an expired session holds nothing"
    );
}
