//! Each modality through the real models, over the API: a photo gets labels and a description,
//! rendered text is read with its boxes, speech is transcribed with times, a video gets
//! keyframes, a transcript and a time-coded summary; odd media end well.

use std::path::Path;
use std::time::Duration;

use crate::helpers::media::{ffmpeg, garden_tour, sign_png, speak};
use crate::helpers::{email, eventually_within, spawn_app_with, TestApp};
use serde_json::Value;
use tessera_models::speech::{encode, AudioFormat, Speech};

const PATIENCE: Duration = Duration::from_secs(240);

async fn processing_app() -> TestApp {
    // The tests poll items for minutes on a busy machine: more than the default request limit.
    spawn_app_with(&[
        ("processing.enabled", "true"),
        ("rate_limits.per_user", "100000"),
    ])
    .await
}

async fn analysed(app: &TestApp, access: &str, id: &str) -> Value {
    eventually_within(PATIENCE, "the item's analysis", || async {
        let r = app.get_as(&format!("/api/content/{id}"), access).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        (r.body["analysis"]["state"] != "pending").then_some(r.body)
    })
    .await
}

/// A new conversation of `access`'s.
async fn conversation(app: &TestApp, access: &str) -> String {
    let r = app
        .call_as(
            reqwest::Method::POST,
            "/api/conversations",
            access,
            Some(&serde_json::json!({})),
        )
        .await;
    r.body["id"].as_str().unwrap().to_owned()
}

/// Asks `question` in `conversation` with item `id` attached; the answer, completed, once it
/// is the conversation's `items`th entry.
async fn ask(
    app: &TestApp,
    access: &str,
    conversation: &str,
    question: &str,
    id: &str,
    items: usize,
) -> Value {
    let r = app
        .call_as(
            reqwest::Method::POST,
            &format!("/api/conversations/{conversation}/messages"),
            access,
            Some(&serde_json::json!({ "text": question, "attachments": [id] })),
        )
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let view = eventually_within(PATIENCE, "the answer", || async {
        let r = app
            .get_as(&format!("/api/conversations/{conversation}"), access)
            .await;
        let last = &r.body["items"][items - 1];
        (r.body["items"].as_array().map(Vec::len) == Some(items) && last["status"] != "streaming")
            .then_some(r.body)
    })
    .await;
    let answer = view["items"][items - 1].clone();
    assert_eq!(answer["status"], "completed", "{answer}");
    answer
}

fn steps(item: &Value) -> Vec<String> {
    item["analysis"]["result"]["provenance"]
        .as_array()
        .expect("provenance")
        .iter()
        .map(|p| {
            assert!(p["model_version"].as_str().is_some_and(|v| !v.is_empty()));
            assert_eq!(p["model_sha256"].as_str().map(str::len), Some(64), "{p}");
            p["step"].as_str().unwrap().to_owned()
        })
        .collect()
}

fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

#[actix_web::test]
async fn a_photo_gets_labels_and_a_description_and_rendered_text_is_read() {
    let app = processing_app().await;
    let alice = app.register(&email("alice")).await.access;
    let cat =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("models/tests/data/chelsea.jpg"))
            .expect("the cat photo");
    let item = app.upload(&alice, cat, "chelsea.jpg").await;
    let id = item["id"].as_str().unwrap().to_owned();

    let dir = tempfile::tempdir().unwrap();
    let sign = sign_png(dir.path());
    let sign_item = app
        .upload(&alice, std::fs::read(&sign).unwrap(), "sign.png")
        .await;
    let sign_id = sign_item["id"].as_str().unwrap().to_owned();

    let item = analysed(&app, &alice, &id).await;
    assert_eq!(item["analysis"]["state"], "ready", "{item}");
    let result = &item["analysis"]["result"];
    let labels = result["labels"].as_array().expect("labels");
    assert_eq!(labels.len(), 5);
    assert!(
        labels
            .iter()
            .any(|l| (281..=285).contains(&l["index"].as_u64().unwrap())),
        "a cat class in the top 5: {labels:?}"
    );
    // The description states the cat from its label, as sure as the label is, and nothing the
    // findings do not support: every statement names its source.
    let description = result["description"].as_str().expect("a description");
    let statements = result["statements"].as_array().expect("statements");
    let first = &statements[0];
    assert_eq!(first["source"]["kind"], "label", "{statements:?}");
    assert!(
        words(first["text"].as_str().unwrap()).contains(&"cat".to_owned()),
        "{statements:?}"
    );
    assert!(first["confidence"].as_f64().unwrap() > 0.0);
    for s in statements {
        let kind = s["source"]["kind"].as_str().unwrap();
        assert!(["label", "ocr", "model"].contains(&kind), "{s}");
        assert!(
            description.contains(s["text"].as_str().unwrap()),
            "{s} in {description:?}"
        );
    }
    assert_eq!(
        result["ocr"]["lines"].as_array().map(Vec::len),
        Some(0),
        "no text in the photo"
    );
    assert!(result["exif"].is_object());
    let s = steps(&item);
    for step in [
        "image.labels",
        "image.ocr",
        "image.description",
        "text.embeddings",
    ] {
        assert!(s.contains(&step.to_owned()), "{step} in {s:?}");
    }

    let sign_item = analysed(&app, &alice, &sign_id).await;
    let ocr = &sign_item["analysis"]["result"]["ocr"];
    let read = ocr["text"].as_str().unwrap();
    assert_eq!(words(read), words("OPEN DAILY FROM NINE"), "{ocr}");
    let sign_result = &sign_item["analysis"]["result"];
    let quoted = sign_result["statements"]
        .as_array()
        .expect("statements")
        .iter()
        .find(|s| s["source"]["kind"] == "ocr")
        .expect("the sign's text is stated");
    assert!(
        quoted["text"].as_str().unwrap().contains("OPEN DAILY"),
        "{quoted}"
    );
    let line = &ocr["lines"][0];
    let bbox = line["box"].as_array().expect("a box");
    assert_eq!(bbox.len(), 4);
    let (x0, y0) = (bbox[0][0].as_f64().unwrap(), bbox[0][1].as_f64().unwrap());
    let (x2, y2) = (bbox[2][0].as_f64().unwrap(), bbox[2][1].as_f64().unwrap());
    assert!(
        (20.0..80.0).contains(&x0) && (50.0..100.0).contains(&y0),
        "{bbox:?}"
    );
    assert!(
        (400.0..720.0).contains(&x2) && (100.0..160.0).contains(&y2),
        "{bbox:?}"
    );
}

#[actix_web::test]
async fn a_photo_keeps_where_it_was_taken_only_when_its_owner_says_so() {
    let app = processing_app().await;
    let alice = app.register(&email("alice")).await.access;
    let photo =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("models/tests/data/exif-gps.jpg"))
            .expect("the EXIF photo");
    let plain = app.upload(&alice, photo.clone(), "walk.jpg").await;
    let bob = app.register(&email("bob")).await.access;
    let r = app
        .upload_form(
            &bob,
            crate::helpers::media::form(photo.clone(), "walk.jpg", &[("keep_location", "true")]),
            None,
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let kept = r.body;
    let r = app
        .upload_form(
            &bob,
            crate::helpers::media::form(photo, "again.jpg", &[("keep_location", "sometimes")]),
            None,
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"]["code"], "invalid_field");

    let plain = analysed(&app, &alice, plain["id"].as_str().unwrap()).await;
    let exif = &plain["analysis"]["result"]["exif"];
    assert_eq!(exif["camera_make"], "Pentax", "{exif}");
    assert_eq!(exif["camera_model"], "K-3 Mark III");
    assert!(exif["captured_at"]
        .as_str()
        .unwrap()
        .starts_with("2025-08-02T09:30:00"));
    assert!(exif["gps"].is_null(), "no position without consent: {exif}");

    let kept = analysed(&app, &bob, kept["id"].as_str().unwrap()).await;
    let gps = &kept["analysis"]["result"]["exif"]["gps"];
    let (lat, lon) = (
        gps["latitude"].as_f64().unwrap(),
        gps["longitude"].as_f64().unwrap(),
    );
    assert!(
        (lat - 51.5072).abs() < 1e-3 && (lon + 0.1277).abs() < 1e-3,
        "{gps}"
    );
}

#[actix_web::test]
async fn speech_is_transcribed_with_times_and_silence_gives_an_empty_transcript() {
    let app = processing_app().await;
    let alice = app.register(&email("alice")).await.access;
    let said = "The library opens at nine in the morning. Please return your books on time.";
    let item = app.upload(&alice, speak(said), "notice.wav").await;
    let id = item["id"].as_str().unwrap().to_owned();
    let silence = Speech {
        samples: vec![0.0; 48_000],
        sample_rate: 16_000,
    };
    let silent = encode(&silence, AudioFormat::Wav).expect("wav");
    let quiet = app.upload(&alice, silent, "quiet.wav").await;
    let quiet_id = quiet["id"].as_str().unwrap().to_owned();

    let item = analysed(&app, &alice, &id).await;
    assert_eq!(item["analysis"]["state"], "ready", "{item}");
    let result = &item["analysis"]["result"];
    let transcript = &result["transcript"];
    let heard = words(transcript["text"].as_str().unwrap());
    let expected = words(said);
    let found = expected.iter().filter(|w| heard.contains(w)).count();
    assert!(
        found * 10 >= expected.len() * 8,
        "most words come back: {heard:?}"
    );
    let segments = transcript["segments"].as_array().expect("segments");
    assert!(!segments.is_empty());
    let duration = result["duration_secs"].as_f64().unwrap();
    let mut last = 0.0;
    for s in segments {
        let (start, end) = (s["start"].as_f64().unwrap(), s["end"].as_f64().unwrap());
        assert!(
            start >= last - 0.01 && start <= end && end <= duration + 0.5,
            "{s}"
        );
        last = end;
    }
    assert!(
        !result["speech"].as_array().unwrap().is_empty(),
        "speech spans"
    );
    let s = steps(&item);
    for step in ["audio.speech", "audio.transcript", "text.embeddings"] {
        assert!(s.contains(&step.to_owned()), "{step} in {s:?}");
    }

    let quiet = analysed(&app, &alice, &quiet_id).await;
    assert_eq!(quiet["analysis"]["state"], "ready", "{quiet}");
    assert_eq!(quiet["analysis"]["result"]["transcript"]["text"], "");
    assert_eq!(quiet["analysis"]["result"]["speech"], serde_json::json!([]));
}

#[actix_web::test]
async fn a_video_gets_keyframes_a_transcript_and_a_time_coded_summary() {
    let app = processing_app().await;
    let alice = app.register(&email("alice")).await.access;
    let dir = tempfile::tempdir().unwrap();
    let voice = dir.path().join("voice.wav");
    std::fs::write(
        &voice,
        speak("Welcome to the garden tour. Today we plant tomatoes and water the roses."),
    )
    .unwrap();
    let video = garden_tour(
        dir.path(),
        &voice,
        "color=c=darkgreen:s=640x360:d=3:r=10",
        3,
    );
    let mute = dir.path().join("mute.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=s=320x240:d=2:r=10",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        mute.to_str().unwrap(),
    ]);
    let item = app
        .upload(&alice, std::fs::read(&video).unwrap(), "tour.mp4")
        .await;
    let id = item["id"].as_str().unwrap().to_owned();
    let silent = app
        .upload(&alice, std::fs::read(&mute).unwrap(), "mute.mp4")
        .await;
    let silent_id = silent["id"].as_str().unwrap().to_owned();

    let item = analysed(&app, &alice, &id).await;
    assert_eq!(item["analysis"]["state"], "ready", "{item}");
    let result = &item["analysis"]["result"];
    let frames = result["keyframes"].as_array().expect("keyframes");
    assert!(frames.len() >= 2, "{frames:?}");
    assert!(frames[0]["time"].as_f64().unwrap() < 0.5);
    assert!(
        words(frames[0]["ocr_text"].as_str().unwrap()).contains(&"garden".to_owned()),
        "{frames:?}"
    );
    let url = frames[1]["url"].as_str().expect("a keyframe address");
    assert!(frames[1].get("blob_key").is_none());
    let (status, headers, body) = app.get_bytes(url, &alice, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "image/jpeg");
    image::load_from_memory(&body).expect("a JPEG keyframe");
    let bob = app.register(&email("bob")).await.access;
    let (status, _, _) = app.get_bytes(url, &bob, &[]).await;
    assert_eq!(status, 404, "nobody else sees the keyframes");

    assert_eq!(result["has_audio"], true);
    let heard = words(result["transcript"]["text"].as_str().unwrap());
    assert!(
        heard.contains(&"garden".to_owned()) && heard.contains(&"tomatoes".to_owned()),
        "{heard:?}"
    );
    let summary = result["summary"].as_str().expect("a summary");
    assert!(summary.contains(":0"), "time codes in {summary:?}");
    // The timeline and the description are built from the findings, each line with its source:
    // what was said is quoted with its time, the text on screen with its keyframe's.
    let timeline = result["timeline"].as_array().expect("a timeline");
    let said = timeline
        .iter()
        .find(|l| l["source"]["kind"] == "transcript")
        .expect("a line of speech in the timeline");
    assert!(
        words(said["text"].as_str().unwrap()).contains(&"garden".to_owned()),
        "{said}"
    );
    assert!(said["source"]["start"].as_f64().is_some(), "{said}");
    assert!(
        timeline.iter().any(|l| l["source"]["kind"] == "ocr"
            && words(l["text"].as_str().unwrap()).contains(&"garden".to_owned())),
        "the title on screen in {timeline:?}"
    );
    let description = result["description"].as_str().expect("a description");
    assert!(description.contains("Speech from 0:0"), "{description:?}");
    let statements = result["statements"].as_array().expect("statements");
    assert!(
        statements.iter().all(|s| s["source"]["kind"].is_string()),
        "{statements:?}"
    );
    let s = steps(&item);
    for step in [
        "image.labels",
        "image.ocr",
        "audio.transcript",
        "text.embeddings",
    ] {
        assert!(s.contains(&step.to_owned()), "{step} in {s:?}");
    }

    let silent = analysed(&app, &alice, &silent_id).await;
    assert_eq!(silent["analysis"]["state"], "ready", "{silent}");
    assert_eq!(silent["analysis"]["result"]["has_audio"], false);
    assert!(silent["analysis"]["result"]["transcript"].is_null());

    // Attached to a chat message, the video is answered from its findings: what is said, with
    // its time.
    let conversation = conversation(&app, &alice).await;
    let answer = ask(
        &app,
        &alice,
        &conversation,
        "What is said in this video?",
        &id,
        2,
    )
    .await;
    let said = answer["text"].as_str().unwrap();
    assert!(said.contains("[0:0"), "a time code in {said}");
    let heard = words(said);
    assert!(
        heard.contains(&"garden".to_owned()) && heard.contains(&"tomatoes".to_owned()),
        "{said}"
    );
    assert_eq!(answer["context"][0]["content_id"], id.as_str(), "{answer}");
}

#[actix_web::test]
async fn unknown_scripts_long_text_and_a_video_file_with_only_sound_end_well() {
    let app = processing_app().await;
    let alice = app.register(&email("alice")).await.access;
    let note = |title: &'static str, text: String| {
        let app = &app;
        let alice = alice.clone();
        async move {
            let r = app
                .call_as(
                    reqwest::Method::POST,
                    "/api/content/notes",
                    &alice,
                    Some(&serde_json::json!({ "title": title, "text": text })),
                )
                .await;
            assert_eq!(r.status, 201, "{:?}", r.body);
            r.body["id"].as_str().unwrap().to_owned()
        }
    };
    let foreign = note(
        "Scripts",
        "東京は日本の首都です。 Москва — столица России. 🌍🚀 ∑∫√".into(),
    )
    .await;
    // Longer than one summary piece (4,000 characters) and than one embedding window (256
    // tokens): summarised piece by piece, embedded window by window.
    let chapter = "The river rose slowly through the night while the villagers carried sandbags \
                   to the old stone bridge. By morning the water had reached the market square, \
                   and the mayor asked every family to move to the school on the hill. ";
    let long = note("Flood diary", chapter.repeat(20)).await;
    // An MP4 holding only an audio track is an audio item.
    let dir = tempfile::tempdir().unwrap();
    let voice = dir.path().join("voice.wav");
    std::fs::write(&voice, speak("This recording has no pictures at all.")).unwrap();
    let m4a = dir.path().join("sound.mp4");
    ffmpeg(&[
        "-i",
        voice.to_str().unwrap(),
        "-c:a",
        "aac",
        m4a.to_str().unwrap(),
    ]);
    let sound = app
        .upload(&alice, std::fs::read(&m4a).unwrap(), "sound.mp4")
        .await;
    assert_eq!(sound["modality"], "audio");

    let item = analysed(&app, &alice, &foreign).await;
    assert_eq!(item["analysis"]["state"], "ready", "{item}");
    assert_eq!(item["analysis"]["result"]["embeddings"]["chunks"], 1);

    let item = analysed(&app, &alice, &long).await;
    assert_eq!(item["analysis"]["state"], "ready", "{item}");
    let result = &item["analysis"]["result"];
    assert!(
        result["embeddings"]["chunks"].as_u64().unwrap() > 3,
        "{result}"
    );
    let summary = result["summary"].as_str().expect("a summary");
    let n = summary.split_whitespace().count();
    assert!((3..=60).contains(&n), "{summary:?}");

    let item = analysed(&app, &alice, sound["id"].as_str().unwrap()).await;
    assert_eq!(item["analysis"]["state"], "ready", "{item}");
    let heard = words(
        item["analysis"]["result"]["transcript"]["text"]
            .as_str()
            .unwrap(),
    );
    assert!(heard.contains(&"recording".to_owned()), "{heard:?}");
}

/// Asked what an attached page says, what a recording says or what a picture shows, the chat
/// quotes the findings: the text read, the transcript with its times, the statements with
/// their sources, and no model improvises.
#[actix_web::test]
async fn chat_answers_what_a_page_a_recording_and_a_photo_hold_from_their_findings() {
    let app = processing_app().await;
    let alice = app.register(&email("alice")).await.access;
    let dir = tempfile::tempdir().unwrap();
    let sign = app
        .upload(
            &alice,
            std::fs::read(sign_png(dir.path())).unwrap(),
            "sign.png",
        )
        .await;
    let voice = app
        .upload(
            &alice,
            speak("The library opens at nine and closes at five."),
            "hours.wav",
        )
        .await;
    let cat =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("models/tests/data/chelsea.jpg"))
            .expect("the cat photo");
    let cat = app.upload(&alice, cat, "chelsea.jpg").await;
    let ids: Vec<String> = [&sign, &voice, &cat]
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect();
    for id in &ids {
        assert_eq!(
            analysed(&app, &alice, id).await["analysis"]["state"],
            "ready"
        );
    }
    let conversation = conversation(&app, &alice).await;
    let mut answered = 0;
    let mut ask = |question: &'static str, id: String| {
        answered += 2;
        let (app, alice, conversation, items) = (&app, &alice, &conversation, answered);
        async move {
            let answer = ask(app, alice, conversation, question, &id, items).await;
            assert_eq!(answer["model"], "findings", "{answer}");
            answer["text"].as_str().unwrap().to_owned()
        }
    };
    let page = ask("What is written on this page?", ids[0].clone()).await;
    assert!(page.contains("> OPEN DAILY FROM NINE"), "{page}");
    let said = ask("What is said in this recording?", ids[1].clone()).await;
    assert!(said.contains("[0:0"), "a time code in {said}");
    let heard = words(&said);
    assert!(
        heard.contains(&"library".to_owned()) && heard.contains(&"closes".to_owned()),
        "{said}"
    );
    let shown = ask("What is in this picture?", ids[2].clone()).await;
    assert!(words(&shown).contains(&"cat".to_owned()), "{shown}");
    assert!(
        !shown.contains("OPEN DAILY"),
        "only the photo's findings: {shown}"
    );
}
