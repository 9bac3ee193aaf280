//! Every endpoint that reads a list or a form, sent its worst case: each is refused with its
//! code at the first item past its bound, and nothing is stored. (How much CPU and memory the
//! worst cases cost is measured by `benches/hostile.rs`.)

use reqwest::multipart::{Form, Part};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::media::png;
use crate::helpers::{spawn_app, Reply, TestApp};

fn ids(n: usize) -> String {
    (0..n)
        .map(|_| Uuid::new_v4().to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn repeated(name: &str, value: &str, n: usize) -> Form {
    (0..n).fold(Form::new(), |f, _| {
        f.text(name.to_owned(), value.to_owned())
    })
}

fn file(name: &str) -> Part {
    Part::bytes(png(4, 4, 1)).file_name(name.to_owned())
}

/// What the worst case of a request got: status and code.
async fn answer(app: &TestApp, request: RequestBuilder) -> (u16, String) {
    let r: Reply = app.send(request).await;
    (r.status.as_u16(), r.code().to_owned())
}

#[actix_web::test]
async fn every_list_and_form_is_bounded_while_it_is_read_and_nothing_is_stored() {
    let app = spawn_app().await;
    let user = app.register("ada@example.com").await.access;
    let (_, key) = app.create_api_key(&user, "client").await;
    let chat = app
        .call_as(Method::POST, "/api/conversations", &user, Some(&json!({})))
        .await;
    assert_eq!(chat.status, StatusCode::CREATED, "{chat:?}");
    let messages = format!(
        "/api/conversations/{}/messages",
        chat.body["id"].as_str().unwrap()
    );
    let json_as = |method: Method, path: &str, body: Value| {
        app.request(method, path).bearer_auth(&user).json(&body)
    };
    let form_as = |path: &str, form: Form| {
        app.request(Method::POST, path)
            .bearer_auth(&user)
            .multipart(form)
    };
    let v1 = |path: &str, body: Value| {
        app.request(Method::POST, path)
            .bearer_auth(&key)
            .json(&body)
    };
    let many_strings: Vec<&str> = vec!["a"; 100_000];
    let cases: Vec<(&str, RequestBuilder, (u16, &str))> = vec![
        (
            "a message form repeating `attachments` 17 times",
            form_as(&messages, repeated("attachments", &ids(1), 17)),
            (400, "too_many_parts"),
        ),
        (
            "a message form naming 20,000 attachments in one field",
            form_as(&messages, Form::new().text("attachments", ids(1500))),
            (422, "validation_failed"),
        ),
        (
            "a message form with 17 files",
            form_as(
                &messages,
                (0..17).fold(Form::new(), |f, i| {
                    f.part("file", file(&format!("{i}.png")))
                }),
            ),
            (400, "too_many_files"),
        ),
        (
            "a JSON message with 1,000 attachments",
            json_as(
                Method::POST,
                &messages,
                json!({"text": "hi", "attachments": ids(1000).split(',').collect::<Vec<_>>()}),
            ),
            (422, "validation_failed"),
        ),
        (
            "an upload repeating `tags` 65 times",
            form_as(
                "/api/content",
                repeated("tags", "a", 65).part("file", file("a.png")),
            ),
            (400, "too_many_parts"),
        ),
        (
            "an upload with 70 tags in one field",
            form_as(
                "/api/content",
                Form::new()
                    .text("tags", vec!["t"; 70].join(","))
                    .part("file", file("a.png")),
            ),
            (422, "validation_failed"),
        ),
        (
            "an upload with two files",
            form_as(
                "/api/content",
                Form::new()
                    .part("file", file("a.png"))
                    .part("file", file("b.png")),
            ),
            (400, "too_many_files"),
        ),
        (
            "an upload repeating `title`",
            form_as(
                "/api/content",
                repeated("title", "t", 2).part("file", file("a.png")),
            ),
            (400, "too_many_parts"),
        ),
        (
            "a note with 1,000,000 tags",
            json_as(
                Method::POST,
                "/api/content/notes",
                json!({"title": "n", "text": "x", "tags": vec!["t"; 1_000_000]}),
            ),
            (422, "validation_failed"),
        ),
        (
            "/v1/embeddings with 100,000 inputs",
            v1(
                "/v1/embeddings",
                json!({"model": "minilm-l6-v2-int8", "input": many_strings}),
            ),
            (400, "too_many_inputs"),
        ),
        (
            "/v1/embeddings with a million numbers",
            v1(
                "/v1/embeddings",
                json!({"model": "minilm-l6-v2-int8", "input": [vec![0u8; 1_000_000]]}),
            ),
            (400, "unsupported_value"),
        ),
        (
            "/v1/chat/completions with 3,000 messages",
            v1(
                "/v1/chat/completions",
                json!({"model": "smollm2-135m-instruct",
                "messages": vec![json!({"role": "user", "content": "hi"}); 3000]}),
            ),
            (400, "invalid_value"),
        ),
        (
            "/v1/chat/completions with a 2 MB `metadata` of numbers",
            v1(
                "/v1/chat/completions",
                json!({"model": "no-such-model",
                "messages": [{"role": "user", "content": "hi"}], "metadata": {"x": vec![0u8; 1_000_000]}}),
            ),
            (404, "model_not_found"),
        ),
        (
            "/v1/chat/completions with 5 stop texts",
            v1(
                "/v1/chat/completions",
                json!({"model": "smollm2-135m-instruct",
                "messages": [{"role": "user", "content": "hi"}], "stop": ["a", "b", "c", "d", "e"]}),
            ),
            (400, "invalid_value"),
        ),
        (
            "/v1/audio/transcriptions repeating `timestamp_granularities[]` 3 times",
            app.request(Method::POST, "/v1/audio/transcriptions")
                .bearer_auth(&key)
                .multipart(repeated("timestamp_granularities[]", "word", 3)),
            (400, "too_many_parts"),
        ),
    ];
    for (what, request, (status, code)) in cases {
        let got = answer(&app, request).await;
        assert_eq!(got, (status, code.to_owned()), "{what}");
    }
    // Nothing half-written: no message was posted, and no file of a refused form (the message
    // form with 17 files among them) became an item.
    assert!(app
        .events_of_type("conversation.message_posted")
        .await
        .is_empty());
    let uploaded = app.events_of_type("content.uploaded").await;
    assert!(uploaded.is_empty(), "{uploaded:?}");
    let usage = app.get_as("/api/usage", &user).await;
    assert_eq!(usage.body["stored_bytes"], 0);
    assert_eq!(usage.body["reserved_bytes"], 0);
}

#[actix_web::test]
async fn hostile_file_names_are_kept_as_one_safe_segment() {
    let app = spawn_app().await;
    let user = app.register("ada@example.com").await.access;
    for (sent, kept) in [
        ("../../etc/passwd.png", "passwd.png"),
        ("C:\\\\Windows\\\\evil.png", "evil.png"),
        ("invoice\u{202E}gnp.exe", "invoicegnp.exe"),
        ("...hidden.png", "hidden.png"),
        ("a<b>c:d|e?.png", "a_b_c_d_e_.png"),
    ] {
        let form = Form::new().part(
            "file",
            Part::bytes(png(5, 5, sent.len() as u8)).file_name(sent.to_owned()),
        );
        let r = app.upload_form(&user, form, None).await;
        assert_eq!(r.status, StatusCode::CREATED, "{sent}: {r:?}");
        assert_eq!(r.body["filename"], kept, "{sent}");
    }
}
