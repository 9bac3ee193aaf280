//! Cross-modal generation through the real models, over the API: speech from text is an audio
//! item whose transcript holds the words, a note is narrated and summarised, an image is
//! described with its text, a video gets a time-coded summary; every output is a new item of
//! the requester with its sources and provenance; bad input, other users' items and used-up
//! quotas are refused before any work.

use std::time::Duration;

use crate::helpers::media::{garden_tour, sign_png, speak};
use crate::helpers::{email, eventually, spawn_app, spawn_app_with, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

/// Model work in a request (a first request also loads the model) on a slow machine.
const GENERATION: Duration = Duration::from_secs(300);

async fn generate(app: &TestApp, access: &str, what: &str, body: Value) -> crate::helpers::Reply {
    app.send(
        app.request(Method::POST, &format!("/api/generate/{what}"))
            .bearer_auth(access)
            .json(&body)
            .timeout(GENERATION),
    )
    .await
}

/// A generation that must succeed: the new item.
async fn generated(app: &TestApp, access: &str, what: &str, body: Value) -> Value {
    let r = generate(app, access, what, body).await;
    assert_eq!(r.status, 201, "{what}: {:?}", r.body);
    let id = r.body["id"].as_str().expect("an id");
    assert_eq!(
        r.header("location"),
        Some(format!("/api/content/{id}").as_str())
    );
    r.body
}

async fn note(app: &TestApp, access: &str, title: &str, text: &str) -> String {
    let r = app
        .call_as(
            Method::POST,
            "/api/content/notes",
            access,
            Some(&json!({ "title": title, "text": text })),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body["id"].as_str().unwrap().to_owned()
}

async fn text_of(app: &TestApp, access: &str, item: &Value) -> String {
    let (status, _, body) = app
        .get_bytes(item["file_url"].as_str().unwrap(), access, &[])
        .await;
    assert_eq!(status, 200);
    String::from_utf8(body).expect("UTF-8 text")
}

fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Checks an output's origin: owned by `owner`, made from `sources`, each model step named
/// with its version and file hash. Returns the steps.
fn origin(item: &Value, owner: &str, kind: &str, sources: &[&str]) -> Vec<String> {
    assert_eq!(item["source"], "generated", "{item}");
    assert_eq!(item["owner"], owner);
    let g = &item["generation"];
    assert_eq!(g["kind"], kind, "{item}");
    let from: Vec<&str> = g["generated_from"]
        .as_array()
        .expect("generated_from")
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(from, sources, "{g}");
    assert!(g["processing_ms"].is_u64());
    g["provenance"]
        .as_array()
        .expect("provenance")
        .iter()
        .map(|p| {
            assert!(p["model_id"].as_str().is_some_and(|v| !v.is_empty()), "{p}");
            assert!(
                p["model_version"].as_str().is_some_and(|v| !v.is_empty()),
                "{p}"
            );
            assert_eq!(p["model_sha256"].as_str().map(str::len), Some(64), "{p}");
            assert!(p["parameters"].is_object(), "{p}");
            assert!(p["cached"].is_boolean() && p["run_ms"].is_u64(), "{p}");
            p["step"].as_str().unwrap().to_owned()
        })
        .collect()
}

#[actix_web::test]
async fn speech_from_text_is_heard_back_and_a_note_is_narrated() {
    let app = spawn_app().await;
    let alice = app.register(&email("alice")).await;
    let said = "The garden opens at nine in the morning.";
    let speech = generated(
        &app,
        &alice.access,
        "speech",
        json!({ "text": said, "speed": 1.0, "format": "wav" }),
    )
    .await;
    assert_eq!(speech["modality"], "audio", "{speech}");
    assert_eq!(speech["mime"], "audio/wav");
    let seconds = speech["media"]["duration_secs"].as_f64().unwrap();
    assert!((1.0..10.0).contains(&seconds), "{seconds}");
    assert!(speech["title"].as_str().unwrap().contains("garden"));
    let steps = origin(&speech, &alice.user_id.to_string(), "speech", &[]);
    assert_eq!(steps, ["speech.synthesis"]);
    let params = &speech["generation"]["parameters"];
    assert_eq!(params["format"], "wav");
    assert_eq!(params["voice"], "piper-en-us-joe-medium");
    let (status, _, bytes) = app
        .get_bytes(speech["file_url"].as_str().unwrap(), &alice.access, &[])
        .await;
    assert_eq!(status, 200);
    assert_eq!(&bytes[..4], b"RIFF");
    assert_eq!(crate::helpers::media::sha256(&bytes), speech["sha256"]);

    // The speech recogniser hears the words in the new item: speech → text.
    let speech_id = speech["id"].as_str().unwrap();
    let transcript = generated(
        &app,
        &alice.access,
        "transcript",
        json!({ "content_id": speech_id }),
    )
    .await;
    assert_eq!(transcript["modality"], "text");
    let steps = origin(
        &transcript,
        &alice.user_id.to_string(),
        "transcript",
        &[speech_id],
    );
    assert_eq!(steps, ["audio.speech", "audio.transcript"]);
    let heard = words(&text_of(&app, &alice.access, &transcript).await);
    let expected = words(said);
    let found = expected.iter().filter(|w| heard.contains(w)).count();
    assert!(found * 10 >= expected.len() * 7, "{heard:?}");
    // With time codes, each segment starts a line.
    let timed = generated(
        &app,
        &alice.access,
        "transcript",
        json!({ "content_id": speech_id, "timestamps": true }),
    )
    .await;
    let timed_text = text_of(&app, &alice.access, &timed).await;
    assert!(timed_text.starts_with("[0:0"), "{timed_text:?}");
    assert!(
        timed["generation"]["provenance"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["cached"] == true),
        "the second transcript reuses the first's results"
    );

    // A note read aloud, as MP3.
    let note_id = note(
        &app,
        &alice.access,
        "Reminder",
        "Water the tomatoes before noon.",
    )
    .await;
    let narration = generated(
        &app,
        &alice.access,
        "narration",
        json!({ "content_id": note_id, "format": "mp3", "speed": 1.25 }),
    )
    .await;
    assert_eq!(narration["modality"], "audio", "{narration}");
    assert_eq!(narration["mime"], "audio/mpeg");
    assert!(narration["media"]["duration_secs"].as_f64().unwrap() > 0.5);
    assert_eq!(narration["title"], "Narration: Reminder");
    let steps = origin(
        &narration,
        &alice.user_id.to_string(),
        "narration",
        &[note_id.as_str()],
    );
    assert_eq!(steps, ["speech.synthesis"]);
    assert_eq!(narration["generation"]["parameters"]["speed"], 1.25);

    // The outputs are items like any other: listed, and shown by the read model with their
    // origin once it catches up.
    let narration_id = narration["id"].as_str().unwrap();
    let r = app
        .get_as(&format!("/api/content/{narration_id}"), &alice.access)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["generation"], narration["generation"]);
    let listed = eventually("the outputs are listed", || async {
        let r = app
            .get_as("/api/content?modality=audio", &alice.access)
            .await;
        (r.body["items"].as_array().map(Vec::len) == Some(2)).then_some(r.body)
    })
    .await;
    assert!(listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["source"] == "generated" && i["generation"].is_object()));
    // From a source to what was made from it.
    let outputs = eventually("the outputs of the speech are listed", || async {
        let r = app
            .get_as(
                &format!("/api/content?generated_from={speech_id}"),
                &alice.access,
            )
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        (r.body["items"].as_array().map(Vec::len) == Some(2)).then_some(r.body)
    })
    .await;
    let mut ids: Vec<&str> = outputs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    let mut want = vec![
        transcript["id"].as_str().unwrap(),
        timed["id"].as_str().unwrap(),
    ];
    want.sort_unstable();
    assert_eq!(ids, want);
    let events = app.events_of_type("content.generated").await;
    assert_eq!(events.len(), 4);

    // Metered: audio spoken and heard, the time it took, and counted as new items.
    let usage = app.get_as("/api/usage", &alice.access).await;
    assert_eq!(usage.status, 200);
    assert!(usage.body["today"]["audio_seconds"].as_f64().unwrap() > seconds);
    assert!(usage.body["today"]["processing_seconds"].as_f64().unwrap() > 0.0);
    assert_eq!(usage.body["today"]["uploads"], 5, "{}", usage.body);
}

#[actix_web::test]
async fn an_image_is_described_with_its_text_and_a_note_is_summarised() {
    let app = spawn_app().await;
    let alice = app.register(&email("alice")).await;
    let owner = alice.user_id.to_string();
    let dir = tempfile::tempdir().unwrap();
    let sign = sign_png(dir.path());
    let image = app
        .upload(&alice.access, std::fs::read(&sign).unwrap(), "sign.png")
        .await;
    let image_id = image["id"].as_str().unwrap();

    let described = generated(
        &app,
        &alice.access,
        "description",
        json!({ "content_id": image_id }),
    )
    .await;
    assert_eq!(described["modality"], "text");
    assert_eq!(described["title"], "Description: sign");
    let steps = origin(&described, &owner, "description", &[image_id]);
    assert_eq!(steps, ["image.labels", "image.ocr", "image.description"]);
    assert!(described["generation"]["parameters"]["labels"]
        .as_array()
        .is_some_and(|l| !l.is_empty()));
    let text = text_of(&app, &alice.access, &described).await;
    let (description, read) = text
        .split_once("Text in the image:")
        .unwrap_or_else(|| panic!("the text read in the image: {text:?}"));
    assert!(description.split_whitespace().count() >= 3, "{text:?}");
    assert_eq!(words(read), words("OPEN DAILY FROM NINE"), "{text:?}");

    // An image's summary is its description: the models' results come from the cache.
    let summary = generated(
        &app,
        &alice.access,
        "summary",
        json!({ "content_id": image_id, "title": "About the sign" }),
    )
    .await;
    assert_eq!(summary["title"], "About the sign");
    origin(&summary, &owner, "summary", &[image_id]);
    assert!(summary["generation"]["provenance"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["cached"] == true));

    let note_id = note(
        &app,
        &alice.access,
        "Flood",
        "The river rose through the night. By morning the water reached the market square, \
         and the mayor asked every family to move to the school on the hill.",
    )
    .await;
    let summary = generated(
        &app,
        &alice.access,
        "summary",
        json!({ "content_id": note_id, "words": 30 }),
    )
    .await;
    let steps = origin(&summary, &owner, "summary", &[note_id.as_str()]);
    assert_eq!(steps, ["text.summary"]);
    assert_eq!(summary["generation"]["parameters"]["words"], 30);
    let text = text_of(&app, &alice.access, &summary).await;
    let n = text.split_whitespace().count();
    assert!((2..=30).contains(&n), "{text:?}");
    let usage = app.get_as("/api/usage", &alice.access).await;
    let tokens = usage.body["today"]["tokens"].as_u64().unwrap();
    assert!(
        tokens > 20,
        "language-model tokens are metered: {}",
        usage.body
    );
}

#[actix_web::test]
async fn a_video_gets_a_time_coded_summary() {
    let app = spawn_app().await;
    let alice = app.register(&email("alice")).await;
    let dir = tempfile::tempdir().unwrap();
    let voice = dir.path().join("voice.wav");
    std::fs::write(&voice, speak("Welcome to the garden tour.")).unwrap();
    let video = garden_tour(dir.path(), &voice, "testsrc=s=640x360:d=2:r=10", 2);
    let item = app
        .upload(&alice.access, std::fs::read(&video).unwrap(), "tour.mp4")
        .await;
    assert_eq!(item["modality"], "video");
    let id = item["id"].as_str().unwrap();
    let summary = generated(&app, &alice.access, "summary", json!({ "content_id": id })).await;
    let steps = origin(&summary, &alice.user_id.to_string(), "summary", &[id]);
    for step in ["image.labels", "image.ocr", "audio.transcript"] {
        assert!(steps.contains(&step.to_owned()), "{step} in {steps:?}");
    }
    assert_eq!(summary["generation"]["parameters"]["time_coded"], true);
    let text = text_of(&app, &alice.access, &summary).await;
    assert!(text.contains(":0"), "time codes in {text:?}");
}

#[actix_web::test]
async fn bad_input_other_users_items_and_used_up_quotas_are_refused_before_any_work() {
    let app = spawn_app_with(&[]).await;
    let alice = app.register(&email("alice")).await;
    let bob = app.register(&email("bob")).await;
    let note_id = note(&app, &alice.access, "Plan", "Plant beans in May.").await;
    let image = app
        .upload(
            &alice.access,
            crate::helpers::media::png(32, 32, 1),
            "dot.png",
        )
        .await;
    let image_id = image["id"].as_str().unwrap();

    let refused = |what: &'static str, body: Value, status: u16, code: &'static str| {
        let app = &app;
        let access = alice.access.clone();
        async move {
            let r = generate(app, &access, what, body.clone()).await;
            assert_eq!(r.status, status, "{what} {body}: {:?}", r.body);
            assert_eq!(r.code(), code, "{what} {body}: {:?}", r.body);
            r
        }
    };
    refused("speech", json!({ "text": "  " }), 422, "empty_text").await;
    let r = refused(
        "speech",
        json!({ "text": "word ".repeat(1001) }),
        422,
        "text_too_long",
    )
    .await;
    assert_eq!(r.body["error"]["field"], "text");
    let r = refused(
        "speech",
        json!({ "text": "hi", "voice": "nobody" }),
        422,
        "unknown_voice",
    )
    .await;
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("piper-en-us-joe-medium"));
    refused(
        "speech",
        json!({ "text": "hi", "format": "flac" }),
        422,
        "unknown_format",
    )
    .await;
    let r = refused(
        "speech",
        json!({ "text": "hi", "speed": 9.0 }),
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(r.body["error"]["field"], "speed");
    refused(
        "speech",
        json!({ "text": "hi", "title": "" }),
        422,
        "validation_failed",
    )
    .await;
    refused(
        "speech",
        json!({ "text": "hi", "pitch": 2 }),
        400,
        "invalid_json",
    )
    .await;
    refused("speech", json!({}), 400, "invalid_json").await;
    // Sources of the wrong kind.
    for (what, id) in [
        ("transcript", note_id.as_str()),
        ("transcript", image_id),
        ("description", note_id.as_str()),
        ("narration", image_id),
    ] {
        let r = refused(what, json!({ "content_id": id }), 422, "unsupported_source").await;
        assert_eq!(r.body["error"]["field"], "content_id");
    }
    refused(
        "summary",
        json!({ "content_id": note_id, "words": 5 }),
        422,
        "validation_failed",
    )
    .await;
    refused(
        "summary",
        json!({ "content_id": "not-a-uuid" }),
        400,
        "invalid_json",
    )
    .await;
    // Another user's item is as missing as one that never existed.
    for (what, id) in [
        ("summary", note_id.clone()),
        ("narration", note_id.clone()),
        ("description", image_id.to_owned()),
        ("summary", uuid::Uuid::new_v4().to_string()),
    ] {
        let r = generate(&app, &bob.access, what, json!({ "content_id": id })).await;
        assert_eq!(r.status, 404, "{what}: {:?}", r.body);
        assert_eq!(r.code(), "not_found");
    }
    // A deleted item too.
    let r = app
        .call_as(
            Method::DELETE,
            &format!("/api/content/{image_id}"),
            &alice.access,
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    refused(
        "description",
        json!({ "content_id": image_id }),
        404,
        "not_found",
    )
    .await;
    // Without credentials nothing is generated.
    let r = app
        .send(app.post_json("/api/generate/speech", &json!({ "text": "hi" })))
        .await;
    assert_eq!(r.status, 401);
    let voices = app.get_as("/api/generate/voices", &alice.access).await;
    assert_eq!(voices.status, 200);
    assert_eq!(voices.body["voices"], json!(["piper-en-us-joe-medium"]));

    // Used-up quotas are named, and refuse before any model runs.
    let admin = app.make_admin(&email("root")).await;
    let quota = format!("/api/admin/users/{}/quota", alice.user_id);
    for (limit, body) in [
        (
            "processing_seconds_per_day",
            json!({ "processing_seconds_per_day": 0 }),
        ),
        ("uploads_per_day", json!({ "uploads_per_day": 2 })),
        ("storage_bytes", json!({ "storage_bytes": 10 })),
    ] {
        let r = app
            .call_as(Method::PUT, &quota, &admin.access, Some(&body))
            .await;
        assert_eq!(r.status, 204, "{:?}", r.body);
        let value = body[limit].clone();
        eventually("the new quota is in force", || async {
            let me = app.get_as("/api/me", &alice.access).await;
            (me.body["quota"][limit] == value).then_some(())
        })
        .await;
        let r = generate(
            &app,
            &alice.access,
            "summary",
            json!({ "content_id": note_id }),
        )
        .await;
        assert_eq!(r.status, 403, "{:?}", r.body);
        assert_eq!(r.code(), "quota_exceeded", "{:?}", r.body);
        assert_eq!(r.body["error"]["field"], limit, "{:?}", r.body);
    }
    assert!(app.events_of_type("content.generated").await.is_empty());
    let usage = app.get_as("/api/usage", &alice.access).await;
    // No model work was metered (the picture's preview is the only processing).
    let days = usage.body["days"].as_array().unwrap();
    assert!(
        days.iter()
            .all(|d| d["generations"] == 0 && d["audio_seconds"] == 0.0),
        "{}",
        usage.body
    );
    assert_eq!(usage.body["today"]["tokens"], 0);
}
