//! The OpenAI-compatible API under `/v1` on the real models: the official `openai` Python
//! package as the client (tests/openai/client_test.py), errors in OpenAI's shape, a client that
//! leaves mid-stream, quotas and rate limits, and the usage each request leaves in
//! `GET /api/usage`.

use std::path::PathBuf;
use std::time::Duration;

use crate::helpers::{email, eventually_within, spawn_app, spawn_app_with, TestApp};
use futures_util::StreamExt;
use reqwest::Method;
use serde_json::{json, Value};

const PATIENCE: Duration = Duration::from_secs(60);
/// The catalog ids the test app serves (the defaults of `processing.models.*`).
const CHAT: &str = "smollm2-135m-instruct";
const EMBEDDINGS: &str = "minilm-l6-v2-int8";
const TRANSCRIPTION: &str = "whisper-tiny-en";
const SPEECH: &str = "piper-en-us-joe-medium";

/// The virtualenv python that deploy/local/pyclient.sh installs, or a failure saying how to
/// get it.
fn client_python() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let pins = std::fs::read_to_string(root.join("tests/openai/requirements.txt"))
        .expect("tests/openai/requirements.txt");
    let version = pins
        .lines()
        .find_map(|l| l.trim().strip_prefix("openai=="))
        .expect("requirements.txt pins openai==<version>");
    let cache = std::env::var_os("TESSERA_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/tessera")))
        .expect("HOME or TESSERA_CACHE_DIR is set");
    let venv = cache.join(format!("pyclient-openai-{version}"));
    let python = venv.join("bin/python");
    assert!(
        python.is_file() && venv.join(".installed").is_file(),
        "the official `openai` Python client (openai=={version}) is not installed in {}: run \
         `deploy/local/pyclient.sh` (or `make pyclient`; `make test` runs it)",
        venv.display()
    );
    python
}

async fn user_with_key(app: &TestApp, name: &str) -> (String, String) {
    let tokens = app.register(&email(name)).await;
    let (_, key) = app.create_api_key(&tokens.access, "openai client").await;
    (tokens.access, key)
}

/// Today's usage rows of the caller, by modality.
async fn usage_today(app: &TestApp, access: &str) -> Value {
    let r = app.get_as("/api/usage", access).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let today = r.body["today"]["day"].clone();
    let rows: Vec<Value> = r.body["days"]
        .as_array()
        .map(|d| {
            d.iter()
                .filter(|row| row["day"] == today)
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    json!({ "today": r.body["today"], "rows": rows })
}

fn row<'a>(usage: &'a Value, modality: &str) -> Option<&'a Value> {
    usage["rows"]
        .as_array()?
        .iter()
        .find(|r| r["modality"] == modality)
}

#[actix_web::test]
async fn the_official_openai_client_drives_every_endpoint() {
    let python = client_python();
    let app = spawn_app().await;
    let (access, key) = user_with_key(&app, "pyclient").await;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/openai/client_test.py");
    let run = tokio::process::Command::new(&python)
        .arg(&script)
        .env("OPENAI_BASE_URL", app.url("/v1"))
        .env("OPENAI_API_KEY", &key)
        .env("TESSERA_MODEL_CHAT", CHAT)
        .env("TESSERA_MODEL_EMBEDDINGS", EMBEDDINGS)
        .env("TESSERA_MODEL_TRANSCRIPTION", TRANSCRIPTION)
        .env("TESSERA_MODEL_SPEECH", SPEECH)
        .env_remove("OPENAI_ORG_ID")
        .env_remove("OPENAI_PROJECT_ID")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(600), run)
        .await
        .expect("the client script finishes within 10 minutes")
        .expect("the client script starts");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        script.display(),
        out.status
    );
    assert!(stdout.contains("all checks passed"), "{stdout}");

    // What the client did is in the caller's usage: chat and embedding tokens, audio seconds.
    let usage = eventually_within(PATIENCE, "the usage read model", || async {
        let u = usage_today(&app, &access).await;
        let text = row(&u, "text")?;
        let audio = row(&u, "audio")?;
        let done = text["tokens_out"].as_i64()? > 0
            && audio["audio_seconds"].as_f64()? > 0.0
            // Three chat completions and two embedding requests; two speeches and four
            // transcriptions.
            && text["generations"].as_i64()? >= 5
            && audio["generations"].as_i64()? >= 6;
        done.then_some(u)
    })
    .await;
    let text = row(&usage, "text").expect("text usage");
    assert!(text["tokens_in"].as_i64().unwrap_or(0) > 20, "{usage}");
    assert!(
        text["processing_seconds"].as_f64().unwrap_or(0.0) > 0.0,
        "{usage}"
    );
    assert!(
        usage["today"]["tokens"].as_u64().unwrap_or(0) > 20,
        "{usage}"
    );
    assert!(
        usage["today"]["audio_seconds"].as_f64().unwrap_or(0.0) > 1.0,
        "{usage}"
    );
}

/// A `/v1` error: the status and OpenAI's body shape, returning `error.code`.
fn openai_error(status: u16, reply: &crate::helpers::Reply) -> String {
    assert_eq!(reply.status.as_u16(), status, "{:?}", reply.body);
    let e = &reply.body["error"];
    assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{e}");
    assert!(e["type"].as_str().is_some(), "{e}");
    assert!(e.get("param").is_some(), "param present (maybe null): {e}");
    e["code"].as_str().unwrap_or("<none>").to_owned()
}

#[actix_web::test]
async fn bad_requests_get_openai_shaped_errors_with_stable_codes() {
    let app = spawn_app().await;
    let (access, key) = user_with_key(&app, "errors").await;

    // Authentication: none, a wrong key, a real key, an access token.
    let r = app.send(app.get("/v1/models")).await;
    assert_eq!(openai_error(401, &r), "missing_api_key");
    assert_eq!(r.body["error"]["type"], "authentication_error");
    let r = app.get_as("/v1/models", "tsk_wrong").await;
    assert_eq!(openai_error(401, &r), "invalid_api_key");
    let r = app.get_as("/v1/models", &key).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["object"], "list");
    let ids: Vec<&str> = r.body["data"]
        .as_array()
        .map(|d| d.iter().filter_map(|m| m["id"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(ids, vec![CHAT, EMBEDDINGS, TRANSCRIPTION, SPEECH]);
    assert_eq!(app.get_as("/v1/models", &access).await.status, 200);
    let r = app.get_as("/v1/models/gpt-4", &key).await;
    assert_eq!(openai_error(404, &r), "model_not_found");
    let r = app
        .call_as(Method::POST, "/v1/completions", &key, Some(&json!({})))
        .await;
    assert_eq!(openai_error(404, &r), "unknown_url");

    let post = |path: &str, body: &str| {
        app.request(Method::POST, path)
            .bearer_auth(&key)
            .header("content-type", "application/json")
            .body(body.to_owned())
    };
    let chat = "/v1/chat/completions";
    let cases: Vec<(&str, String, u16, &str)> = vec![
        (chat, "{\"model\":".into(), 400, "invalid_json"),
        (chat, "[1,2]".into(), 400, "invalid_json"),
        (chat, json!({"model": CHAT}).to_string(), 400, "missing_field"),
        (chat, json!({"model": CHAT, "messages": "hi"}).to_string(), 400, "invalid_type"),
        (chat, json!({"model": CHAT, "messages": []}).to_string(), 400, "empty_messages"),
        (
            chat,
            json!({"model": CHAT, "messages": [{"role": "user", "content": "hi"}], "temprature": 1}).to_string(),
            400,
            "unknown_parameter",
        ),
        (
            chat,
            json!({"model": CHAT, "messages": [{"role": "user", "content": "hi"}], "temperature": 7}).to_string(),
            400,
            "invalid_value",
        ),
        (
            chat,
            json!({"model": CHAT, "messages": [{"role": "wizard", "content": "hi"}]}).to_string(),
            400,
            "invalid_value",
        ),
        (
            chat,
            json!({"model": CHAT, "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}).to_string(),
            400,
            "unsupported_content",
        ),
        (
            chat,
            json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}).to_string(),
            404,
            "model_not_found",
        ),
        (
            chat,
            json!({"model": CHAT, "messages": [{"role": "user", "content": "x".repeat(5 << 20)}]}).to_string(),
            413,
            "payload_too_large",
        ),
        (
            "/v1/embeddings",
            json!({"model": EMBEDDINGS, "input": [1, 2, 3]}).to_string(),
            400,
            "unsupported_value",
        ),
        (
            "/v1/embeddings",
            json!({"model": EMBEDDINGS, "input": "word ".repeat(400)}).to_string(),
            400,
            "context_length_exceeded",
        ),
        (
            "/v1/embeddings",
            json!({"model": EMBEDDINGS, "input": "x", "encoding_format": "hex"}).to_string(),
            400,
            "invalid_value",
        ),
        (
            "/v1/audio/speech",
            json!({"model": SPEECH, "input": "hi", "voice": "alloy", "speed": 9}).to_string(),
            400,
            "invalid_value",
        ),
        (
            "/v1/audio/speech",
            json!({"model": SPEECH, "input": "a".repeat(5000), "voice": "alloy"}).to_string(),
            400,
            "input_too_long",
        ),
        (
            "/v1/audio/speech",
            json!({"model": SPEECH, "input": "hi", "voice": "robot"}).to_string(),
            400,
            "unsupported_voice",
        ),
    ];
    for (path, body, status, code) in cases {
        let r = app.send(post(path, &body)).await;
        let shown: String = body.chars().take(80).collect();
        assert_eq!(
            (r.status.as_u16(), r.body["error"]["code"].as_str()),
            (status, Some(code)),
            "{path} {shown}: {:?}",
            r.body
        );
        openai_error(status, &r);
    }

    // Audio that claims to be a WAV file but is not decodable.
    let mut corrupt = b"RIFF\x24\x08\x00\x00WAVEfmt ".to_vec();
    corrupt.extend_from_slice(&[0xAB; 300]);
    let form = reqwest::multipart::Form::new()
        .text("model", TRANSCRIPTION)
        .part(
            "file",
            reqwest::multipart::Part::bytes(corrupt).file_name("a.wav"),
        );
    let r = app
        .send(
            app.request(Method::POST, "/v1/audio/transcriptions")
                .bearer_auth(&key)
                .multipart(form),
        )
        .await;
    assert_eq!(openai_error(400, &r), "corrupt_audio");
    assert_eq!(r.body["error"]["param"], "file");
    let form = reqwest::multipart::Form::new().text("model", TRANSCRIPTION);
    let r = app
        .send(
            app.request(Method::POST, "/v1/audio/transcriptions")
                .bearer_auth(&key)
                .multipart(form),
        )
        .await;
    assert_eq!(openai_error(400, &r), "missing_field");
    let r = app
        .send(
            app.request(Method::POST, "/v1/audio/transcriptions")
                .bearer_auth(&key)
                .body("not a form"),
        )
        .await;
    assert_eq!(openai_error(400, &r), "invalid_multipart");

    // The routes are in the API description.
    let doc = app.send(app.get("/api/openapi.json")).await.body;
    for path in [
        "/v1/models",
        "/v1/models/{model}",
        "/v1/chat/completions",
        "/v1/embeddings",
        "/v1/audio/transcriptions",
        "/v1/audio/speech",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is not documented");
    }
    assert!(doc["components"]["schemas"]["OpenAiErrorBody"].is_object());
}

#[actix_web::test]
async fn streams_are_server_sent_events_and_a_client_that_leaves_stops_the_generation() {
    let app = spawn_app().await;
    let (access, key) = user_with_key(&app, "stream").await;
    let prompt = json!([{ "role": "user", "content":
        "Write a very long story about a dragon who learns to cook soup. Use at least 400 words." }]);

    // The whole answer first: long enough that stopping early shows.
    let whole = app
        .send(
            app.request(Method::POST, "/v1/chat/completions")
                .bearer_auth(&key)
                .json(&json!({ "model": CHAT, "messages": prompt, "temperature": 0, "max_tokens": 300 }))
                .timeout(PATIENCE),
        )
        .await;
    assert_eq!(whole.status, 200, "{:?}", whole.body);
    let full_tokens = whole.body["usage"]["completion_tokens"]
        .as_u64()
        .unwrap_or(0);
    assert!(
        full_tokens >= 150,
        "the answer is too short to cut: {:?}",
        whole.body
    );
    assert_eq!(
        whole.body["usage"]["prompt_tokens_details"]["cached_tokens"], 0,
        "{:?}",
        whole.body
    );
    // The same prompt again by the same user: all but its last token come from the cache.
    let again = app
        .send(
            app.request(Method::POST, "/v1/chat/completions")
                .bearer_auth(&key)
                .json(&json!({ "model": CHAT, "messages": prompt, "temperature": 0, "max_tokens": 4 }))
                .timeout(PATIENCE),
        )
        .await;
    assert_eq!(again.status, 200, "{:?}", again.body);
    let usage = &again.body["usage"];
    assert_eq!(
        usage["prompt_tokens_details"]["cached_tokens"].as_u64(),
        usage["prompt_tokens"].as_u64().map(|n| n - 1),
        "{usage}"
    );

    // The wire format: `data: {chunk}` events, the usage chunk, then `data: [DONE]`.
    let res = app
        .request(Method::POST, "/v1/chat/completions")
        .bearer_auth(&key)
        .json(
            &json!({ "model": CHAT, "messages": [{"role": "user", "content": "Say hi."}],
                       "temperature": 0, "max_tokens": 8, "stream": true,
                       "stream_options": { "include_usage": true } }),
        )
        .timeout(PATIENCE)
        .send()
        .await
        .expect("stream");
    assert_eq!(res.status(), 200);
    assert!(res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream")));
    let body = res.text().await.expect("the whole stream");
    let events: Vec<&str> = body.split("\n\n").filter(|e| !e.is_empty()).collect();
    assert!(events.iter().all(|e| e.starts_with("data: ")), "{body}");
    assert_eq!(events.last().copied(), Some("data: [DONE]"), "{body}");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(&e["data: ".len()..]).expect("a JSON chunk"))
        .collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let usage_chunk = chunks.last().expect("chunks");
    assert_eq!(usage_chunk["choices"], json!([]));
    assert!(
        usage_chunk["usage"]["completion_tokens"]
            .as_u64()
            .unwrap_or(0)
            > 0
    );
    assert!(chunks[..chunks.len() - 1]
        .iter()
        .all(|c| c["usage"].is_null()));
    assert!(chunks
        .iter()
        .any(|c| c["choices"][0]["finish_reason"].is_string()));

    // Another user streams the long answer and hangs up after a few pieces.
    let (leaver_access, leaver_key) = user_with_key(&app, "leaver").await;
    let res = app
        .request(Method::POST, "/v1/chat/completions")
        .bearer_auth(&leaver_key)
        .json(
            &json!({ "model": CHAT, "messages": prompt, "temperature": 0,
                       "max_tokens": 300, "stream": true }),
        )
        .timeout(PATIENCE)
        .send()
        .await
        .expect("stream");
    assert_eq!(res.status(), 200);
    let mut body = res.bytes_stream();
    let mut seen = String::new();
    while seen.matches("\"content\"").count() < 6 {
        let chunk = body.next().await.expect("more events").expect("readable");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    drop(body);

    // The generation stopped early, and what it did is metered.
    let usage = eventually_within(PATIENCE, "the cut-short answer's usage", || async {
        let u = usage_today(&app, &leaver_access).await;
        let text = row(&u, "text")?;
        (text["generations"].as_i64()? >= 1).then(|| text.clone())
    })
    .await;
    let partial = usage["tokens_out"].as_u64().unwrap_or(0);
    assert!(
        partial > 0 && partial < full_tokens,
        "a client that left after a few pieces was charged {partial} of {full_tokens} tokens"
    );
    assert!(usage["tokens_in"].as_u64().unwrap_or(0) > 10, "{usage}");

    // The first caller's own usage holds its whole answer, not the leaver's.
    eventually_within(PATIENCE, "the first caller's usage", || async {
        let mine = usage_today(&app, &access).await;
        let out = row(&mine, "text")?["tokens_out"].as_u64()?;
        // Its whole answer and the short streamed one.
        (out > full_tokens).then_some(())
    })
    .await;
}

#[actix_web::test]
async fn quotas_and_rate_limits_refuse_with_openais_classes() {
    let app = spawn_app_with(&[("quotas.processing_seconds_per_day", "0")]).await;
    let (_, key) = user_with_key(&app, "quota").await;
    let r = app
        .call_as(
            Method::POST,
            "/v1/embeddings",
            &key,
            Some(&json!({ "model": EMBEDDINGS, "input": "hello" })),
        )
        .await;
    assert_eq!(openai_error(403, &r), "quota_exceeded");
    assert_eq!(r.body["error"]["type"], "insufficient_quota");
    assert!(r.body["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("processing")));

    // A model whose queue is full refuses at once: 503, which clients retry later.
    let app = spawn_app_with(&[("processing.max_queue", "0")]).await;
    let (_, key) = user_with_key(&app, "busy").await;
    let r = app
        .call_as(
            Method::POST,
            "/v1/embeddings",
            &key,
            Some(&json!({ "model": EMBEDDINGS, "input": "hello" })),
        )
        .await;
    assert_eq!(openai_error(503, &r), "model_busy");
    assert_eq!(r.body["error"]["type"], "server_error");
    assert_eq!(r.header("x-should-retry"), Some("true"));

    // Creating the key was the user's first request of the window.
    let app = spawn_app_with(&[("rate_limits.per_user", "4")]).await;
    let (access, key) = user_with_key(&app, "limited").await;
    let mut statuses = Vec::new();
    let mut last = None;
    for _ in 0..5 {
        let r = app.get_as("/v1/models", &key).await;
        statuses.push(r.status.as_u16());
        last = Some(r);
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429], "{statuses:?}");
    let last = last.expect("replies");
    assert_eq!(openai_error(429, &last), "rate_limit_exceeded");
    assert!(last.header("retry-after").is_some());
    // The same user with an access token shares the bucket (counted by the middleware).
    let r = app.get_as("/v1/models", &access).await;
    assert_eq!(openai_error(429, &r), "rate_limit_exceeded");
    assert_eq!(r.body["error"]["type"], "rate_limit_error");
}
