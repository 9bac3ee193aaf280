//! The life of library items: edits, listing filters and pages, the trash, purging, notes,
//! quotas under concurrency, and the usage read model.

use crate::helpers::media::{form, png, wav};
use crate::helpers::{eventually, spawn_app, spawn_app_with, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

async fn user(app: &TestApp, email: &str) -> String {
    app.register(email).await.access
}

async fn list(app: &TestApp, access: &str, query: &str) -> Value {
    let r = app.get_as(&format!("/api/content{query}"), access).await;
    assert_eq!(r.status, 200, "{query}: {:?}", r.body);
    r.body
}

fn titles(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["title"].as_str().unwrap().to_owned())
        .collect()
}

/// Waits until the read model lists `n` items for the query.
async fn listed(app: &TestApp, access: &str, query: &str, n: usize) -> Value {
    eventually(&format!("{query} lists {n}"), || async {
        let page = list(app, access, query).await;
        (page["items"].as_array().unwrap().len() == n).then_some(page)
    })
    .await
}

#[actix_web::test]
async fn edits_filters_and_cursor_pages() {
    let app = spawn_app().await;
    let a = user(&app, "ann@example.com").await;
    let mut ids = Vec::new();
    for (i, name) in ["delta", "alpha", "echo", "charlie", "bravo"]
        .iter()
        .enumerate()
    {
        let item = app
            .upload(&a, png(8, 8, i as u8), &format!("{name}.png"))
            .await;
        ids.push(item["id"].as_str().unwrap().to_owned());
    }
    app.upload(&a, wav(0.2, 8000), "sound.wav").await;
    let r = app
        .call_as(
            Method::PATCH,
            &format!("/api/content/{}", ids[0]),
            &a,
            Some(&json!({
                "title": "Delta Sunset",
                "description": "Red sky over the harbour",
                "add_tags": ["holiday", "sea"]
            })),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["title"], "Delta Sunset");
    assert_eq!(r.body["tags"], json!(["holiday", "sea"]));
    let r = app
        .call_as(
            Method::PATCH,
            &format!("/api/content/{}", ids[0]),
            &a,
            Some(&json!({"remove_tags": ["sea"], "description": null})),
        )
        .await;
    assert_eq!(r.body["tags"], json!(["holiday"]));
    assert!(r.body.get("description").unwrap().is_null());
    let bad = app
        .call_as(
            Method::PATCH,
            &format!("/api/content/{}", ids[0]),
            &a,
            Some(&json!({"add_tags": ["two words"]})),
        )
        .await;
    assert_eq!(
        (bad.status.as_u16(), bad.code()),
        (422, "validation_failed")
    );
    let bad = app
        .call_as(
            Method::PATCH,
            &format!("/api/content/{}", ids[0]),
            &a,
            Some(&json!({"title": ""})),
        )
        .await;
    assert_eq!(bad.status, 422);

    listed(&app, &a, "", 6).await;
    let tagged = listed(&app, &a, "?tag=holiday", 1).await;
    assert_eq!(titles(&tagged), ["Delta Sunset"]);
    // The user's tags with their counts; nobody else's.
    let tags = app.get_as("/api/content/tags", &a).await;
    assert_eq!(tags.status, 200, "{:?}", tags.body);
    let holiday = tags.body["tags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tag"] == "holiday")
        .cloned();
    assert_eq!(holiday, Some(json!({"tag": "holiday", "items": 1})));
    let other = user(&app, "tagless@example.com").await;
    let none = app.get_as("/api/content/tags", &other).await;
    assert_eq!(none.body, json!({"tags": []}));
    let audio = listed(&app, &a, "?modality=audio", 1).await;
    assert_eq!(titles(&audio), ["sound"]);
    assert_eq!(
        titles(&listed(&app, &a, "?q=sunset", 1).await),
        ["Delta Sunset"]
    );
    // Text matches are literal: % and _ are not wildcards.
    listed(&app, &a, "?q=%25", 0).await;
    let future = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    listed(&app, &a, &format!("?from={}", urlencode(&future)), 0).await;

    // Pages of two, by title ascending, with the cursor.
    let mut seen = Vec::new();
    let mut query = "?modality=image&sort=title&order=asc&limit=2".to_owned();
    loop {
        let page = list(&app, &a, &query).await;
        seen.extend(titles(&page));
        match page["next_cursor"].as_str() {
            Some(c) => query = format!("?modality=image&sort=title&order=asc&limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, ["alpha", "bravo", "charlie", "Delta Sunset", "echo"]);

    for bad in [
        "?modality=smell",
        "?order=sideways",
        "?sort=colour",
        "?cursor=not-a-cursor",
        "?limit=ten",
        "?unknown=1",
    ] {
        let r = app.get_as(&format!("/api/content{bad}"), &a).await;
        assert_eq!(r.status, 400, "{bad}: {:?}", r.body);
    }
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

#[actix_web::test]
async fn trash_restore_and_purge() {
    let app = spawn_app().await;
    let a = user(&app, "ann@example.com").await;
    let bytes = png(10, 10, 1);
    let item = app.upload(&a, bytes.clone(), "keep.png").await;
    let id = item["id"].as_str().unwrap().to_owned();
    let size = bytes.len() as u64;

    let r = app
        .call_as(Method::DELETE, &format!("/api/content/{id}"), &a, None)
        .await;
    assert_eq!(r.status, 204);
    listed(&app, &a, "", 0).await;
    let trash = listed(&app, &a, "?deleted=true", 1).await;
    assert!(trash["items"][0]["purge_after"].is_string());
    // Deleted items cannot be edited, but can be restored.
    let r = app
        .call_as(
            Method::PATCH,
            &format!("/api/content/{id}"),
            &a,
            Some(&json!({"title": "x"})),
        )
        .await;
    assert_eq!(r.status, 404);
    let r = app
        .call_as(
            Method::POST,
            &format!("/api/content/{id}/restore"),
            &a,
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(r.body.get("deleted_at").is_none());
    listed(&app, &a, "", 1).await;

    let usage = app.get_as("/api/usage", &a).await;
    assert_eq!(usage.body["stored_bytes"], size);
    let r = app
        .call_as(
            Method::DELETE,
            &format!("/api/content/{id}?purge=true"),
            &a,
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    let gone = app.get_as(&format!("/api/content/{id}"), &a).await;
    assert_eq!(gone.status, 404);
    let r = app
        .call_as(
            Method::POST,
            &format!("/api/content/{id}/restore"),
            &a,
            None,
        )
        .await;
    assert_eq!(r.status, 404);
    let usage = app.get_as("/api/usage", &a).await;
    assert_eq!(usage.body["stored_bytes"], 0);
    assert_eq!(usage.body["items"], 0);
    assert_eq!(app.events_of_type("content.purged").await.len(), 1);
    assert_eq!(app.events_of_type("usage.storage_released").await.len(), 1);
}

#[actix_web::test]
async fn an_expired_restore_period_is_refused_and_the_sweeper_purges() {
    let app = spawn_app_with(&[
        ("content.restore_days", "0"),
        ("content.sweep_interval_secs", "1"),
    ])
    .await;
    let a = user(&app, "ann@example.com").await;
    let item = app.upload(&a, png(9, 9, 1), "old.png").await;
    let id = item["id"].as_str().unwrap().to_owned();
    app.call_as(Method::DELETE, &format!("/api/content/{id}"), &a, None)
        .await;
    let r = app
        .call_as(
            Method::POST,
            &format!("/api/content/{id}/restore"),
            &a,
            None,
        )
        .await;
    assert!(
        (r.status.as_u16() == 410 && r.code() == "restore_expired") || r.status == 404,
        "{:?}",
        r.body
    );
    eventually("the sweeper purges the item", || async {
        (!app.events_of_type("content.purged").await.is_empty()).then_some(())
    })
    .await;
    listed(&app, &a, "?deleted=true", 0).await;
}

#[actix_web::test]
async fn concurrent_deletes_append_one_event() {
    let app = spawn_app().await;
    let a = user(&app, "ann@example.com").await;
    let item = app.upload(&a, png(6, 6, 1), "x.png").await;
    let path = format!("/api/content/{}", item["id"].as_str().unwrap());
    let replies = futures_util::future::join_all(
        (0..8).map(|_| app.call_as(Method::DELETE, &path, &a, None)),
    )
    .await;
    for r in &replies {
        assert_eq!(r.status, 204, "{:?}", r.body);
    }
    assert_eq!(app.events_of_type("content.deleted").await.len(), 1);
}

#[actix_web::test]
async fn notes_are_text_items() {
    let app = spawn_app().await;
    let a = user(&app, "ann@example.com").await;
    let text = "Shopping: 日本茶, croissants — and a note in العربية.";
    let r = app
        .call_as(
            Method::POST,
            "/api/content/notes",
            &a,
            Some(&json!({"title": "List", "text": text, "tags": ["todo"]})),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["modality"], "text");
    assert_eq!(r.body["source"], "note");
    assert_eq!(r.body["previews"]["state"], "none");
    let (s, h, body) = app
        .get_bytes(
            &format!("/api/content/{}/file", r.body["id"].as_str().unwrap()),
            &a,
            &[],
        )
        .await;
    assert_eq!(s, 200);
    assert!(h["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    assert_eq!(String::from_utf8(body).unwrap(), text);
    let r = app
        .call_as(
            Method::POST,
            "/api/content/notes",
            &a,
            Some(&json!({"title": "x", "text": "  "})),
        )
        .await;
    assert_eq!(r.status, 422);
    let r = app
        .call_as(
            Method::POST,
            "/api/content/notes",
            &a,
            Some(&json!({"title": "x"})),
        )
        .await;
    assert_eq!(r.status, 400, "{:?}", r.body);
}

#[actix_web::test]
async fn parallel_uploads_cannot_both_pass_the_storage_quota() {
    // Each PNG is a bit over 60 kB; the limit fits one.
    let app = spawn_app_with(&[("quotas.storage_bytes", "100000")]).await;
    let a = user(&app, "ann@example.com").await;
    let files: Vec<Vec<u8>> = (0..4).map(noisy_png).collect();
    assert!(files.iter().all(|f| f.len() > 50_000 && f.len() < 100_000));
    let replies = futures_util::future::join_all(
        files
            .iter()
            .enumerate()
            .map(|(i, f)| app.upload_form(&a, form(f.clone(), &format!("{i}.png"), &[]), None)),
    )
    .await;
    let created = replies.iter().filter(|r| r.status == 201).count();
    assert_eq!(
        created,
        1,
        "{:?}",
        replies.iter().map(|r| &r.body).collect::<Vec<_>>()
    );
    for r in replies.iter().filter(|r| r.status != 201) {
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (403, "quota_exceeded"),
            "{:?}",
            r.body
        );
        assert_eq!(r.body["error"]["field"], "storage_bytes");
    }
    let usage = app.get_as("/api/usage", &a).await;
    assert!(usage.body["stored_bytes"].as_u64().unwrap() <= 100_000);
    assert_eq!(usage.body["items"], 1);
}

/// A PNG that compresses badly (about 60 kB).
fn noisy_png(seed: u8) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9 ^ u32::from(seed);
    let img = image::RgbImage::from_fn(150, 130, |_, _| {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        image::Rgb([x as u8, (x >> 8) as u8, (x >> 16) as u8])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

#[actix_web::test]
async fn the_daily_upload_limit_names_itself_and_usage_is_reported() {
    let app = spawn_app_with(&[("quotas.uploads_per_day", "2")]).await;
    let a = user(&app, "ann@example.com").await;
    app.upload(&a, png(5, 5, 1), "1.png").await;
    app.upload(&a, wav(0.3, 8000), "2.wav").await;
    let r = app
        .upload_form(&a, form(png(5, 5, 2), "3.png", &[]), None)
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "quota_exceeded"));
    assert_eq!(r.body["error"]["field"], "uploads_per_day");
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("uploads_per_day"));

    let usage = eventually("usage shows both modalities", || async {
        let u = app.get_as("/api/usage", &a).await;
        (u.body["days"].as_array().map_or(0, Vec::len) == 2).then_some(u.body)
    })
    .await;
    assert_eq!(usage["today"]["uploads"], 2);
    assert_eq!(usage["limits"]["uploads_per_day"], 2);
    let mods: Vec<&str> = usage["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["modality"].as_str().unwrap())
        .collect();
    assert_eq!(mods, ["audio", "image"]);

    let admin = app.make_admin("root@example.com").await;
    let all = eventually("admin usage lists ann", || async {
        let r = app.get_as("/api/admin/usage", &admin.access).await;
        (r.body["users"].as_array().map_or(0, Vec::len) == 1).then_some(r.body)
    })
    .await;
    assert_eq!(all["users"][0]["items"], 2);
    let theirs = app
        .get_as(
            &format!("/api/usage?user_id={}", usage["user_id"].as_str().unwrap()),
            &admin.access,
        )
        .await;
    assert_eq!(theirs.status, 200);
    assert_eq!(app.events_of_type("admin.content_accessed").await.len(), 1);
    let r = app.get_as("/api/admin/usage", &a).await;
    assert_eq!(r.status, 403);
    let r = app
        .get_as("/api/usage?from=2026-01-10&to=2026-01-01", &a)
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "invalid_query"));
}

/// The file named `name` in `app`'s data folder, wherever the blob store keeps it.
fn data_file(app: &TestApp, name: &str) -> Option<std::path::PathBuf> {
    fn find(dir: &std::path::Path, name: &str) -> Option<std::path::PathBuf> {
        for e in std::fs::read_dir(dir).ok()?.flatten() {
            let path = e.path();
            if path.is_dir() {
                if let Some(found) = find(&path, name) {
                    return Some(found);
                }
            } else if e.file_name() == name {
                return Some(path);
            }
        }
        None
    }
    find(&app.data_dir.0, name)
}

#[actix_web::test]
async fn a_purge_keeps_bytes_another_item_needs_while_the_read_model_lags() {
    let app = spawn_app().await;
    let a = user(&app, "ann@example.com").await;
    let b = user(&app, "bob@example.com").await;
    let bytes = png(12, 12, 3);
    let ann = app.upload(&a, bytes.clone(), "same.png").await;
    let ann = ann["id"].as_str().unwrap().to_owned();
    let sha = crate::helpers::media::sha256(&bytes);
    // The bytes have been stored a while (no young-file grace to hide behind).
    let blob = data_file(&app, &sha).expect("the blob's file");
    let aged = std::process::Command::new("touch")
        .args(["-d", "2 hours ago"])
        .arg(&blob)
        .status()
        .expect("touch runs");
    assert!(aged.success());

    // The content read model stops (its lease is held elsewhere); Bob uploads the same bytes.
    let held = tessera_projections::hold_lease(
        &app.db.pool,
        "content",
        "stalled-node",
        std::time::Duration::from_secs(30),
    )
    .await
    .expect("the content lease");
    let bob = app.upload(&b, bytes.clone(), "same.png").await;
    let bob = bob["id"].as_str().unwrap().to_owned();
    let r = app
        .call_as(
            Method::DELETE,
            &format!("/api/content/{ann}?purge=true"),
            &a,
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    assert!(
        blob.exists(),
        "Ann's purge deleted bytes that Bob's item needs"
    );
    drop(held);
    let (status, _, body) = app
        .get_bytes(&format!("/api/content/{bob}/file"), &b, &[])
        .await;
    assert_eq!(status, 200);
    assert_eq!(body, bytes);
}
