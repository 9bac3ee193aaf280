//! `/api/content` against the real server: uploads decided by their bytes, deduplication,
//! idempotency, downloads with ranges, ownership, and bad input that leaves nothing behind.

use crate::helpers::media::{ffmpeg_audio, form, jpeg, mp4, png, png_header_only, sha256, wav};
use crate::helpers::{eventually, spawn_app, spawn_app_with, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn user(app: &TestApp, email: &str) -> String {
    app.register(email).await.access
}

/// Nothing of a refused upload is left: no event, no blob, no temporary file.
async fn assert_nothing_written(app: &TestApp) {
    assert!(app.events_of_type("content.uploaded").await.is_empty());
    assert!(app.events_of_type("usage.upload_recorded").await.is_empty());
    assert!(app.files_under("blobs/blobs").is_empty(), "a blob was kept");
    assert!(
        app.files_under("blobs/staging").is_empty(),
        "a staged blob was kept"
    );
    assert!(
        app.files_under("tmp").is_empty(),
        "a temporary file was kept"
    );
}

#[actix_web::test]
async fn type_is_decided_by_the_bytes_and_the_item_can_be_read_back() {
    let app = spawn_app().await;
    let a = user(&app, "ann@example.com").await;
    let bytes = png(64, 48, 1);
    // The extension and the part's MIME type lie; the bytes decide.
    let item = app.upload(&a, bytes.clone(), "holiday.mp3").await;
    assert_eq!(item["modality"], "image");
    assert_eq!(item["mime"], "image/png");
    assert_eq!(item["extension"], "png");
    assert_eq!(item["media"]["width"], 64);
    assert_eq!(item["media"]["height"], 48);
    assert_eq!(item["size"], bytes.len());
    assert_eq!(item["sha256"], sha256(&bytes));
    assert_eq!(item["title"], "holiday");
    assert_eq!(item["filename"], "holiday.mp3");
    let id = item["id"].as_str().unwrap().to_owned();

    let got = app.get_as(&format!("/api/content/{id}"), &a).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body["sha256"], item["sha256"]);

    let audio = app.upload(&a, wav(1.0, 16_000), "tone.bin").await;
    assert_eq!(audio["modality"], "audio");
    assert!((audio["media"]["duration_secs"].as_f64().unwrap() - 1.0).abs() < 0.05);
    let video = app.upload(&a, mp4(1), "clip").await;
    assert_eq!(video["modality"], "video");
    assert_eq!(video["media"]["width"], 320);

    let page = eventually("the list shows three items", || async {
        let r = app.get_as("/api/content", &a).await;
        (r.body["items"].as_array().map_or(0, Vec::len) == 3).then_some(r.body)
    })
    .await;
    let kinds: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["modality"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["video", "audio", "image"], "newest first");
}

#[actix_web::test]
async fn the_same_bytes_are_stored_once_and_an_idempotency_key_replays_the_first_result() {
    let app = spawn_app().await;
    let a = user(&app, "ann@example.com").await;
    let bytes = png(32, 32, 2);
    let first = app.upload(&a, bytes.clone(), "a.png").await;
    let again = app
        .upload_form(&a, form(bytes.clone(), "b.png", &[]), None)
        .await;
    assert_eq!(again.status, 200);
    assert_eq!(again.header("tessera-duplicate"), Some("true"));
    assert_eq!(again.body["id"], first["id"]);
    assert_eq!(app.files_under("blobs/blobs").len(), 1, "one blob");

    let k1 = app
        .upload_form(&a, form(png(8, 8, 3), "k.png", &[]), Some("key-1"))
        .await;
    assert_eq!(k1.status, 201);
    // A retry with the same key returns the first result, whatever it sends.
    let k2 = app
        .upload_form(&a, form(png(8, 8, 4), "k.png", &[]), Some("key-1"))
        .await;
    assert_eq!(k2.status, 200);
    assert_eq!(k2.header("idempotent-replayed"), Some("true"));
    assert_eq!(k2.body["id"], k1.body["id"]);
    assert_eq!(k2.body["sha256"], k1.body["sha256"]);
    assert_eq!(app.events_of_type("content.uploaded").await.len(), 2);

    // Another user's identical bytes are their own item.
    let b = user(&app, "bob@example.com").await;
    let theirs = app.upload(&b, bytes, "mine.png").await;
    assert_ne!(theirs["id"], first["id"]);
}

#[actix_web::test]
async fn downloads_serve_ranges_etags_and_safe_names() {
    let app = spawn_app().await;
    let a = user(&app, "ann@example.com").await;
    let bytes = wav(0.5, 8_000);
    let reply = app
        .upload_form(&a, form(bytes.clone(), "naïve \"song\".wav", &[]), None)
        .await;
    assert_eq!(reply.status, 201);
    let id = reply.body["id"].as_str().unwrap().to_owned();
    let path = format!("/api/content/{id}/file");

    let (s, h, body) = app.get_bytes(&path, &a, &[]).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body, bytes);
    assert_eq!(h["content-type"], "audio/wav");
    assert_eq!(h["accept-ranges"], "bytes");
    let etag = h["etag"].to_str().unwrap().to_owned();
    assert_eq!(etag, format!("\"{}\"", sha256(&bytes)));
    let cd = h["content-disposition"].to_str().unwrap();
    assert!(cd.starts_with("attachment"), "{cd}");
    assert!(cd.contains("filename*=UTF-8''na%C3%AFve"), "{cd}");
    assert!(!cd.contains("\"song\""), "{cd}");

    let (s, h, body) = app.get_bytes(&path, &a, &[("Range", "bytes=10-19")]).await;
    assert_eq!(s, StatusCode::PARTIAL_CONTENT);
    assert_eq!(body, &bytes[10..20]);
    assert_eq!(
        h["content-range"].to_str().unwrap(),
        format!("bytes 10-19/{}", bytes.len())
    );
    let (s, _, body) = app.get_bytes(&path, &a, &[("Range", "bytes=-7")]).await;
    assert_eq!(s, StatusCode::PARTIAL_CONTENT);
    assert_eq!(body, &bytes[bytes.len() - 7..]);
    let (s, _, body) = app.get_bytes(&path, &a, &[("Range", "bytes=100-")]).await;
    assert_eq!(s, StatusCode::PARTIAL_CONTENT);
    assert_eq!(body, &bytes[100..]);
    let past = format!("bytes={}-", bytes.len());
    let (s, _, _) = app.get_bytes(&path, &a, &[("Range", &past)]).await;
    assert_eq!(s, StatusCode::RANGE_NOT_SATISFIABLE);
    let (s, _, body) = app.get_bytes(&path, &a, &[("If-None-Match", &etag)]).await;
    assert_eq!(s, StatusCode::NOT_MODIFIED);
    assert!(body.is_empty());
    // A stale If-Range gets the whole file, not a range of something else.
    let (s, _, body) = app
        .get_bytes(
            &path,
            &a,
            &[("Range", "bytes=0-1"), ("If-Range", "\"other\"")],
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body.len(), bytes.len());
}

#[actix_web::test]
async fn nobody_sees_or_changes_what_is_not_theirs_and_admins_reads_are_recorded() {
    let app = spawn_app().await;
    let a = user(&app, "ann@example.com").await;
    let b = user(&app, "bob@example.com").await;
    let item = app.upload(&a, png(16, 16, 5), "private.png").await;
    let id = item["id"].as_str().unwrap().to_owned();
    let owner = item["owner"].as_str().unwrap().to_owned();

    for (method, path, body) in [
        (Method::GET, format!("/api/content/{id}"), None),
        (Method::GET, format!("/api/content/{id}/file"), None),
        (
            Method::PATCH,
            format!("/api/content/{id}"),
            Some(json!({"title": "mine"})),
        ),
        (Method::DELETE, format!("/api/content/{id}"), None),
        (
            Method::DELETE,
            format!("/api/content/{id}?purge=true"),
            None,
        ),
        (Method::POST, format!("/api/content/{id}/restore"), None),
        (Method::GET, format!("/api/content?owner={owner}"), None),
        (Method::GET, format!("/api/usage?user_id={owner}"), None),
    ] {
        let r = app.call_as(method.clone(), &path, &b, body.as_ref()).await;
        assert_eq!(r.status, 404, "{method} {path}: {:?}", r.body);
        assert_eq!(r.code(), "not_found");
    }
    let listing = app.get_as("/api/content", &b).await;
    assert_eq!(listing.body["items"], json!([]));
    let still = app.get_as(&format!("/api/content/{id}"), &a).await;
    assert_eq!(still.body["title"], "private");

    let admin = app.make_admin("root@example.com").await;
    let seen = app
        .get_as(&format!("/api/content/{id}"), &admin.access)
        .await;
    assert_eq!(seen.status, 200);
    let (s, _, _) = app
        .get_bytes(&format!("/api/content/{id}/file"), &admin.access, &[])
        .await;
    assert_eq!(s, StatusCode::OK);
    let audits = app.events_of_type("admin.content_accessed").await;
    assert_eq!(audits.len(), 2, "{audits:?}");
    assert_eq!(audits[0].0, format!("audit-{}", admin.user_id));
    assert_eq!(audits[0].1["owner"], Value::String(owner.clone()));
    assert_eq!(audits[0].1["access"], "metadata");
    assert_eq!(audits[1].1["access"], "download");
    // Admins read; they do not edit other people's items.
    let r = app
        .call_as(
            Method::PATCH,
            &format!("/api/content/{id}"),
            &admin.access,
            Some(&json!({"title": "x"})),
        )
        .await;
    assert_eq!(r.status, 404);
}

#[actix_web::test]
async fn bad_files_are_refused_with_stable_codes_and_leave_nothing_behind() {
    let app = spawn_app().await;
    let a = user(&app, "ann@example.com").await;
    let good = png(40, 40, 6);
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("empty", Vec::new(), 400, "empty_file"),
        (
            "truncated png",
            good[..good.len() / 2].to_vec(),
            422,
            "corrupt_image",
        ),
        ("garbage", vec![0x13; 5000], 415, "unsupported_type"),
        (
            "bomb header",
            png_header_only(100_000, 100_000),
            422,
            "image_too_large",
        ),
        (
            "truncated wav",
            wav(1.0, 8000)[..2000].to_vec(),
            422,
            "corrupt_audio",
        ),
        (
            "truncated jpeg",
            jpeg(200, 150)[..900].to_vec(),
            422,
            "corrupt_image",
        ),
        (
            "truncated mp3",
            {
                let mp3 = ffmpeg_audio("sine=frequency=300", 2, "mp3");
                mp3[..mp3.len() / 3].to_vec()
            },
            422,
            "corrupt_audio",
        ),
        (
            "truncated mp4",
            mp4(1)[..3000].to_vec(),
            422,
            "corrupt_video",
        ),
        (
            "binary text",
            b"hello\0world\0\x01\x02".repeat(50),
            415,
            "unsupported_type",
        ),
    ];
    for (what, bytes, status, code) in cases {
        let r = app.upload_form(&a, form(bytes, "x.png", &[]), None).await;
        assert_eq!(r.status.as_u16(), status, "{what}: {:?}", r.body);
        assert_eq!(r.code(), code, "{what}");
    }
    let r = app
        .send(
            app.request(Method::POST, "/api/content")
                .bearer_auth(&a)
                .json(&json!({"file": "nope"})),
        )
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (415, "not_multipart"));
    let r = app
        .upload_form(&a, reqwest::multipart::Form::new().text("title", "x"), None)
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "missing_file"));
    let r = app
        .upload_form(&a, form(good.clone(), "x.png", &[("colour", "red")]), None)
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "unknown_field"));
    let two = form(good.clone(), "x.png", &[]).part(
        "file",
        reqwest::multipart::Part::bytes(good.clone()).file_name("y.png"),
    );
    let r = app.upload_form(&a, two, None).await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "too_many_files"));

    // A multipart body that ends before its closing boundary.
    let body = format!(
        "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n\
         Content-Type: image/png\r\n\r\n{}",
        "A".repeat(4000)
    );
    let r = app
        .send(
            app.request(Method::POST, "/api/content")
                .bearer_auth(&a)
                .header("Content-Type", "multipart/form-data; boundary=XyZ")
                .body(body),
        )
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "incomplete_body"));
    assert_nothing_written(&app).await;
}

#[actix_web::test]
async fn hostile_file_names_are_made_safe() {
    let app = spawn_app().await;
    let a = user(&app, "ann@example.com").await;
    let long = format!("{}.png", "n".repeat(10_000));
    let cases = [
        ("../../etc/passwd", "passwd"),
        ("evil\u{202E}gnp.exe", "evilgnp.exe"),
        ("..\\..\\win.ini", "win.ini"),
    ];
    for (i, (raw, safe)) in cases.iter().enumerate() {
        let item = app.upload(&a, png(4, 4, 10 + i as u8), raw).await;
        assert_eq!(item["filename"], *safe, "{raw:?}");
    }
    let item = app.upload(&a, png(4, 4, 99), &long).await;
    let name = item["filename"].as_str().unwrap();
    assert!(name.len() <= 255 && name.ends_with(".png"), "{name}");
    let title = item["title"].as_str().unwrap();
    assert!(title.chars().count() <= 300, "{}", title.len());
    // A NUL in the part's header is not valid multipart; percent-encoded in `filename*` it is
    // dropped from the name.
    let raw = |disposition: &str| {
        let mut body = format!(
            "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; {disposition}\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(&png(3, 3, 200));
        body.extend_from_slice(b"\r\n--XyZ--\r\n");
        app.request(Method::POST, "/api/content")
            .bearer_auth(&a)
            .header("Content-Type", "multipart/form-data; boundary=XyZ")
            .body(body)
    };
    let r = app.send(raw("filename*=UTF-8''a%00b.png")).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["filename"], "ab.png");
    let mut with_nul = raw("filename=\"x.png\"");
    with_nul = with_nul.body({
        let mut b = b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\0b.png\"\r\n\r\n".to_vec();
        b.extend_from_slice(&png(3, 3, 201));
        b.extend_from_slice(b"\r\n--XyZ--\r\n");
        b
    });
    let r = app.send(with_nul).await;
    assert!(
        r.status == 201 && r.body["filename"] == "ab.png"
            || (r.status == 400 && r.code() == "invalid_multipart"),
        "{:?}",
        r.body
    );
    // Nothing was written outside the blob store.
    assert!(!app.data_dir.0.join("etc").exists());
}

#[actix_web::test]
async fn an_upload_over_the_limit_is_cut_off_early() {
    let app = spawn_app_with(&[
        ("content.max_text_bytes", "100000"),
        ("content.max_image_bytes", "100000"),
        ("content.max_audio_bytes", "100000"),
        ("content.max_video_bytes", "100000"),
    ])
    .await;
    let a = user(&app, "ann@example.com").await;
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = sent.clone();
    let total: u64 = 512 * 1024 * 1024;
    let chunk = bytes::Bytes::from(vec![b'x'; 64 * 1024]);
    let head = bytes::Bytes::from_static(
        b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.txt\"\r\n\r\n",
    );
    let body = futures_util::stream::iter(
        std::iter::once(head).chain(std::iter::repeat_n(chunk, (total / 65536) as usize)),
    )
    .map(move |c| {
        counter.fetch_add(c.len() as u64, std::sync::atomic::Ordering::Relaxed);
        Ok::<_, std::io::Error>(c)
    });
    use futures_util::StreamExt;
    let res = app
        .request(Method::POST, "/api/content")
        .bearer_auth(&a)
        .header("Content-Type", "multipart/form-data; boundary=XyZ")
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await;
    let produced = sent.load(std::sync::atomic::Ordering::Relaxed);
    match res {
        Ok(r) => {
            assert_eq!(r.status(), 413);
            let v: Value = r.json().await.unwrap();
            assert_eq!(v["error"]["code"], "file_too_large");
        }
        // The server may close the connection while the client is still sending.
        Err(e) => assert!(!e.is_timeout(), "{e}"),
    }
    assert!(
        produced < total / 4,
        "the server read {produced} of {total} bytes before refusing"
    );
    assert_nothing_written(&app).await;
    // A file within the limit still goes in.
    assert_eq!(
        app.upload(&a, png(20, 20, 1), "ok.png").await["modality"],
        "image"
    );
}

#[actix_web::test]
async fn audio_that_decodes_to_more_than_the_limit_is_refused() {
    // Ten minutes of silence compress to a few kilobytes of FLAC.
    let app = spawn_app_with(&[("content.max_audio_seconds", "60")]).await;
    let a = user(&app, "ann@example.com").await;
    let bomb = ffmpeg_audio("anullsrc=r=8000:cl=mono", 600, "flac");
    assert!(bomb.len() < 200_000, "{}", bomb.len());
    let r = app
        .upload_form(&a, form(bomb, "quiet.flac", &[]), None)
        .await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (422, "audio_too_long"),
        "{:?}",
        r.body
    );
    for ext in ["mp3", "ogg", "m4a", "flac"] {
        let ok = ffmpeg_audio("sine=frequency=500", 1, ext);
        let item = app.upload(&a, ok, &format!("tone.{ext}")).await;
        assert_eq!(item["modality"], "audio", "{ext}");
    }
}
