//! Previews are made after the upload is acknowledged and recorded as events; the sweeper
//! collects blobs that no event refers to.

use crate::helpers::media::{mp4, png, wav};
use crate::helpers::{eventually, eventually_within, spawn_app, spawn_app_with, TestApp};
use serde_json::Value;
use std::time::Duration;

async fn ready(app: &TestApp, access: &str, id: &str) -> Value {
    // Previews wait for a quiet moment and run one at a time: give them time on a busy machine.
    eventually_within(
        Duration::from_secs(90),
        &format!("previews of {id}"),
        || async {
            let r = app.get_as(&format!("/api/content/{id}"), access).await;
            match r.body["previews"]["state"].as_str() {
                Some("ready") | Some("failed") => Some(r.body),
                _ => None,
            }
        },
    )
    .await
}

#[actix_web::test]
async fn images_get_two_thumbnails_audio_a_waveform_video_a_poster() {
    let app = spawn_app().await;
    let a = app.register("ann@example.com").await.access;
    let img = app.upload(&a, png(1600, 900, 1), "wide.png").await;
    let item = ready(&app, &a, img["id"].as_str().unwrap()).await;
    assert_eq!(item["previews"]["state"], "ready", "{item}");
    let images = item["previews"]["images"].as_array().unwrap();
    let names: Vec<&str> = images.iter().map(|i| i["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["thumb-256", "thumb-1024"]);
    assert_eq!(
        (images[0]["width"].as_u64(), images[0]["height"].as_u64()),
        (Some(256), Some(144))
    );
    let (s, h, body) = app
        .get_bytes(images[1]["url"].as_str().unwrap(), &a, &[])
        .await;
    assert_eq!(s, 200);
    assert_eq!(h["content-type"], "image/jpeg");
    let decoded = image::load_from_memory(&body).expect("a thumbnail decodes");
    assert_eq!((decoded.width(), decoded.height()), (1024, 576));
    let b = app.register("bob@example.com").await.access;
    let (s, _, _) = app
        .get_bytes(images[0]["url"].as_str().unwrap(), &b, &[])
        .await;
    assert_eq!(s, 404, "previews are as private as their item");

    let snd = app.upload(&a, wav(2.0, 16_000), "tone.wav").await;
    let item = ready(&app, &a, snd["id"].as_str().unwrap()).await;
    let peaks = item["previews"]["waveform"].as_array().expect("a waveform");
    assert_eq!(peaks.len(), 512);
    let first: f64 = peaks[..200].iter().map(|p| p.as_f64().unwrap()).sum();
    let last: f64 = peaks[312..].iter().map(|p| p.as_f64().unwrap()).sum();
    assert!(
        first > 5.0 * last,
        "the loud half is louder: {first} vs {last}"
    );

    let vid = app.upload(&a, mp4(2), "clip.mp4").await;
    let item = ready(&app, &a, vid["id"].as_str().unwrap()).await;
    let poster = &item["previews"]["images"][0];
    assert_eq!(poster["name"], "poster");
    let (_, _, body) = app
        .get_bytes(poster["url"].as_str().unwrap(), &a, &[])
        .await;
    let decoded = image::load_from_memory(&body).expect("the poster decodes");
    assert_eq!(
        decoded.width() * 3,
        decoded.height() * 4,
        "4:3 like the clip"
    );

    // Processing time is metered.
    let usage = app.get_as("/api/usage", &a).await;
    assert!(usage.body["today"]["processing_seconds"].as_f64().unwrap() > 0.0);
    assert_eq!(
        app.events_of_type("content.previews_generated").await.len(),
        3
    );
}

#[actix_web::test]
async fn previews_stop_when_the_processing_quota_is_spent() {
    let app = spawn_app_with(&[("quotas.processing_seconds_per_day", "0")]).await;
    let a = app.register("ann@example.com").await.access;
    let img = app.upload(&a, png(300, 300, 1), "x.png").await;
    let item = ready(&app, &a, img["id"].as_str().unwrap()).await;
    assert_eq!(item["previews"]["state"], "failed");
    assert_eq!(item["previews"]["error"], "processing_quota_exceeded");
}

#[actix_web::test]
async fn the_sweeper_collects_blobs_without_events_and_keeps_the_rest() {
    let app = spawn_app_with(&[
        ("content.gc_grace_secs", "30"),
        ("content.sweep_interval_secs", "1"),
    ])
    .await;
    let a = app.register("ann@example.com").await.access;
    let kept = app.upload(&a, png(12, 12, 1), "kept.png").await;
    // Bytes written by an upload that crashed before its event: a blob and a staged file.
    let store = tessera::blob::FsStore::open(app.data_dir.0.join("blobs"))
        .await
        .unwrap();
    use tessera::blob::BlobStore;
    let body = Box::pin(futures_util::stream::once(async {
        Ok::<_, tessera::blob::BlobError>(bytes::Bytes::from_static(b"orphaned bytes"))
    }));
    let staged = store.stage(body, 1000).await.unwrap();
    let orphan = staged.content_key().unwrap();
    store.promote(&staged, &orphan).await.unwrap();
    let body = Box::pin(futures_util::stream::once(async {
        Ok::<_, tessera::blob::BlobError>(bytes::Bytes::from_static(b"half an upload"))
    }));
    store.stage(body, 1000).await.unwrap();
    assert_eq!(app.files_under("blobs/blobs").len(), 2);
    // Older than the grace period: only the orphans (the kept item's blob stays young, so a
    // sweep racing its upload could not take it either).
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    for f in app.files_under("blobs/staging").into_iter().chain([app
        .data_dir
        .0
        .join("blobs")
        .join(orphan.as_str())])
    {
        std::fs::File::options()
            .write(true)
            .open(&f)
            .and_then(|h| h.set_modified(old))
            .unwrap_or_else(|e| panic!("backdating {}: {e}", f.display()));
    }

    eventually("the orphans are collected", || async {
        (app.files_under("blobs/blobs").len() == 1 && app.files_under("blobs/staging").is_empty())
            .then_some(())
    })
    .await;
    assert!(store.head(&orphan).await.unwrap().is_none());
    let (s, _, _) = app
        .get_bytes(
            &format!("/api/content/{}/file", kept["id"].as_str().unwrap()),
            &a,
            &[],
        )
        .await;
    assert_eq!(s, 200, "the referenced blob stays");
}
