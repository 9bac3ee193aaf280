//! Conversations end to end with the real local chat model: a message is answered token by
//! token over the live socket, the answer is recorded with its usage; attachments become
//! context; a stop keeps what was written; providers are listed and switched off by admins;
//! quotas hold; nobody reaches another user's conversation.

use std::time::Duration;

use crate::helpers::{
    email, eventually, eventually_within, spawn_app_with, spawn_node_of, TestApp, WsClient,
};
use reqwest::Method;
use serde_json::{json, Value};
use tessera_events::{AnswerId, MessageId, UserId};
use uuid::Uuid;

/// Answers of the small model on a busy machine take seconds, not minutes.
const ANSWER_WAIT: Duration = Duration::from_secs(120);

/// The conversation's events as they arrive, until `last` (an event type) for `answer`.
async fn events_until(socket: &mut WsClient, conversation: Uuid, last: &str) -> Vec<Value> {
    let stream = format!("conversation-{conversation}");
    let mut seen = Vec::new();
    loop {
        let f = socket.next_json_within(ANSWER_WAIT).await;
        if f["type"] != "event" || f["stream"] != stream.as_str() {
            continue;
        }
        let done = f["event_type"] == last;
        seen.push(f);
        if done {
            return seen;
        }
    }
}

fn of_type<'a>(events: &'a [Value], t: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["event_type"] == t).collect()
}

/// Stops `answer` through `app` after `streamed` was seen; checks that the cancellation keeps
/// exactly what was written and that nothing more comes. Returns the whole kept text.
async fn stop_and_check(
    app: &TestApp,
    access: &str,
    ws: &mut WsClient,
    id: Uuid,
    answer: &str,
    mut streamed: String,
) -> String {
    let r = app
        .call_as(
            Method::POST,
            &format!("/api/conversations/{id}/answers/{answer}/cancel"),
            access,
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    let events = events_until(ws, id, "conversation.answer_cancelled").await;
    for e in of_type(&events, "conversation.answer_streamed") {
        streamed.push_str(e["payload"]["delta"].as_str().unwrap());
    }
    let cancelled = &of_type(&events, "conversation.answer_cancelled")[0]["payload"];
    assert_eq!(
        cancelled["text"],
        streamed.as_str(),
        "the answer keeps what was written"
    );
    // Nothing more is written after the stop.
    let stream = format!("conversation-{id}");
    let quiet = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            let f = ws.next_json_within(Duration::from_secs(5)).await;
            if f["stream"] == stream.as_str() {
                return f;
            }
        }
    })
    .await;
    assert!(quiet.is_err(), "an event after the stop: {quiet:?}");
    streamed
}

async fn start(app: &TestApp, access: &str, body: Value) -> Uuid {
    let r = app
        .call_as(Method::POST, "/api/conversations", access, Some(&body))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body["id"].as_str().unwrap().parse().unwrap()
}

async fn post(app: &TestApp, access: &str, id: Uuid, body: Value) -> crate::helpers::Reply {
    app.call_as(
        Method::POST,
        &format!("/api/conversations/{id}/messages"),
        access,
        Some(&body),
    )
    .await
}

async fn answer_id(app: &TestApp, access: &str, id: Uuid, body: Value) -> String {
    let r = post(app, access, id, body).await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    r.body["answer_id"].as_str().unwrap().to_owned()
}

/// The conversation as the read model shows it once its answer has ended.
async fn settled(app: &TestApp, access: &str, id: Uuid, items: usize) -> Value {
    eventually("the conversation's read model", || async {
        let r = app
            .get_as(&format!("/api/conversations/{id}"), access)
            .await;
        (r.status == 200
            && r.body["items"].as_array().map(Vec::len) == Some(items)
            && r.body["answering"].is_null())
        .then_some(r.body)
    })
    .await
}

#[actix_web::test]
async fn a_message_is_answered_token_by_token_and_recorded_with_its_usage() {
    let app = spawn_app_with(&[("chat.max_answer_tokens", "40")]).await;
    let alice = app.register(&email("alice")).await.access;
    let mut ws = app.socket(&alice).await;

    let r = app.get_as("/api/providers", &alice).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["providers"][0]["id"], "local", "{:?}", r.body);
    assert!(r.body["providers"][0].get("base_url").is_none());

    let id = start(&app, &alice, json!({ "title": "Geography" })).await;
    let answer = answer_id(
        &app,
        &alice,
        id,
        json!({ "text": "What is the capital of France? Answer in one sentence." }),
    )
    .await;
    let events = events_until(&mut ws, id, "conversation.answer_completed").await;
    let posted = of_type(&events, "conversation.message_posted");
    assert_eq!(posted.len(), 1);
    let started = of_type(&events, "conversation.answer_started");
    assert_eq!(started[0]["payload"]["answer_id"], answer.as_str());
    assert_eq!(started[0]["payload"]["provider"], "local");
    let pieces = of_type(&events, "conversation.answer_streamed");
    assert!(
        pieces.len() >= 2,
        "the answer streams in pieces: {events:?}"
    );
    let seqs: Vec<u64> = pieces
        .iter()
        .map(|p| p["payload"]["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
    let streamed: String = pieces
        .iter()
        .map(|p| p["payload"]["delta"].as_str().unwrap())
        .collect();
    let done = &of_type(&events, "conversation.answer_completed")[0]["payload"];
    assert_eq!(done["text"], streamed.as_str());
    assert!(!streamed.trim().is_empty());
    assert!(done["tokens_in"].as_u64().unwrap() > 10, "{done}");
    let tokens_out = done["tokens_out"].as_u64().unwrap();
    assert!((1..=40).contains(&tokens_out), "{done}");
    assert!(done["timings"]["first_token_ms"].as_u64().unwrap() > 0);
    assert_eq!(
        done["timings"]["cached_prompt_tokens"], 0,
        "alice's first prompt is read whole"
    );
    let first_in = done["tokens_in"].as_u64().unwrap();
    assert_eq!(done["model"], "smollm2-135m-instruct");

    let view = settled(&app, &alice, id, 2).await;
    assert_eq!(view["title"], "Geography");
    assert_eq!(view["items"][0]["role"], "user");
    assert_eq!(view["items"][1]["role"], "assistant");
    assert_eq!(view["items"][1]["status"], "completed");
    assert_eq!(view["items"][1]["text"], streamed.as_str());
    assert_eq!(view["items"][1]["in_reply_to"], view["items"][0]["id"]);
    let list = app.get_as("/api/conversations", &alice).await;
    assert_eq!(list.body["conversations"][0]["id"], id.to_string());

    // The answer's tokens count in the user's usage.
    let usage = eventually("usage with tokens", || async {
        let r = app.get_as("/api/usage", &alice).await;
        (r.body["today"]["tokens"].as_u64() > Some(0)).then_some(r.body)
    })
    .await;
    assert!(usage["today"]["processing_seconds"].as_f64().unwrap() > 0.0);

    // A follow-up sees the conversation so far; the answer is another turn.
    let second = answer_id(&app, &alice, id, json!({ "text": "And of Italy?" })).await;
    let events = events_until(&mut ws, id, "conversation.answer_completed").await;
    let done = &of_type(&events, "conversation.answer_completed")[0]["payload"];
    assert_eq!(done["answer_id"], second.as_str());
    assert!(
        done["tokens_in"].as_u64() > Some(30),
        "history is part of the prompt"
    );
    // The turn before is not read again: its state is in the model's prompt cache.
    let cached = done["timings"]["cached_prompt_tokens"].as_u64().unwrap();
    assert!(
        cached + 1 >= first_in,
        "{cached} cached, first prompt {first_in}: {done}"
    );

    // Another user sees none of it.
    let bob = app.register(&email("bob")).await.access;
    for (method, path, body) in [
        (Method::GET, format!("/api/conversations/{id}"), None),
        (
            Method::PATCH,
            format!("/api/conversations/{id}"),
            Some(json!({ "title": "mine" })),
        ),
        (Method::DELETE, format!("/api/conversations/{id}"), None),
        (
            Method::POST,
            format!("/api/conversations/{id}/messages"),
            Some(json!({ "text": "hi" })),
        ),
        (
            Method::POST,
            format!("/api/conversations/{id}/answers/{second}/cancel"),
            None,
        ),
    ] {
        let r = app.call_as(method, &path, &bob, body.as_ref()).await;
        assert_eq!(r.status, 404, "{path}: {:?}", r.body);
    }
    let r = app.get_as("/api/conversations", &bob).await;
    assert_eq!(r.body["conversations"], json!([]));
    // Bob asking alice's first question gets nothing of her cached state.
    let mut bob_ws = app.socket(&bob).await;
    let bobs = start(&app, &bob, json!({})).await;
    answer_id(
        &app,
        &bob,
        bobs,
        json!({ "text": "What is the capital of France? Answer in one sentence." }),
    )
    .await;
    let events = events_until(&mut bob_ws, bobs, "conversation.answer_completed").await;
    let done = &of_type(&events, "conversation.answer_completed")[0]["payload"];
    assert_eq!(done["timings"]["cached_prompt_tokens"], 0, "{done}");

    // Rename, then delete: gone from the list and from reads.
    let r = app
        .call_as(
            Method::PATCH,
            &format!("/api/conversations/{id}"),
            &alice,
            Some(&json!({ "title": "  Capitals\u{0000} " })),
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    let r = app
        .call_as(
            Method::DELETE,
            &format!("/api/conversations/{id}"),
            &alice,
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    let r = app
        .get_as(&format!("/api/conversations/{id}"), &alice)
        .await;
    assert_eq!(r.status, 404);
}

#[actix_web::test]
async fn attachments_are_context_and_a_stop_keeps_the_partial_answer() {
    let app = spawn_app_with(&[("chat.max_answer_tokens", "300")]).await;
    let alice = app.register(&email("alice")).await.access;
    let bob = app.register(&email("bob")).await.access;
    let mut ws = app.socket(&alice).await;
    let note = app
        .call_as(
            Method::POST,
            "/api/content/notes",
            &alice,
            Some(
                &json!({ "title": "Boat", "text": "Our boat is called the Blue Heron. \
                It is moored at pier seven." }),
            ),
        )
        .await;
    assert_eq!(note.status, 201, "{:?}", note.body);
    let note_id = note.body["id"].as_str().unwrap().to_owned();
    let bobs = app
        .call_as(
            Method::POST,
            "/api/content/notes",
            &bob,
            Some(&json!({ "title": "Bob's", "text": "private" })),
        )
        .await;
    let bobs_id = bobs.body["id"].as_str().unwrap().to_owned();

    let id = start(&app, &alice, json!({})).await;
    // Bad messages change nothing.
    for (body, status, code) in [
        (
            json!({ "text": "hi", "attachments": [bobs_id] }),
            404,
            "not_found",
        ),
        (json!({ "text": "  " }), 422, "validation_failed"),
        (
            json!({ "text": "hi", "attachments": (0..17).map(|_| Uuid::new_v4()).collect::<Vec<_>>() }),
            422,
            "validation_failed",
        ),
        (json!({ "text": 5 }), 400, "invalid_json"),
        (
            json!({ "text": "x".repeat(32_001) }),
            422,
            "validation_failed",
        ),
    ] {
        let r = post(&app, &alice, id, body.clone()).await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (status, code),
            "{body}: {:?}",
            r.body
        );
    }

    let answer = answer_id(
        &app,
        &alice,
        id,
        json!({ "text": "What is the boat called?", "attachments": [note_id] }),
    )
    .await;
    // One answer at a time.
    let r = post(&app, &alice, id, json!({ "text": "another" })).await;
    assert_eq!((r.status.as_u16(), r.code()), (409, "answer_in_progress"));
    let events = events_until(&mut ws, id, "conversation.answer_completed").await;
    let done = &of_type(&events, "conversation.answer_completed")[0]["payload"];
    assert_eq!(done["answer_id"], answer.as_str());
    assert_eq!(done["context"][0]["content_id"], note_id.as_str(), "{done}");
    assert!(
        done["context"][0]["parts"]
            .as_array()
            .unwrap()
            .contains(&json!("text")),
        "{done}"
    );
    assert!(
        done["tokens_in"].as_u64().unwrap() > 40,
        "the note is in the prompt"
    );

    // A file uploaded with the message becomes an item of the library and is attached.
    let form = reqwest::multipart::Form::new()
        .text("text", "When is the meeting?")
        .part(
            "file",
            reqwest::multipart::Part::bytes(b"The meeting moved to Thursday at noon.".to_vec())
                .file_name("inline.txt"),
        );
    let r = app
        .send(
            app.request(Method::POST, &format!("/api/conversations/{id}/messages"))
                .bearer_auth(&alice)
                .multipart(form),
        )
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let events = events_until(&mut ws, id, "conversation.answer_completed").await;
    let posted = &of_type(&events, "conversation.message_posted")[0]["payload"];
    let inline = posted["attachments"][0]
        .as_str()
        .expect("an attachment")
        .to_owned();
    let done = &of_type(&events, "conversation.answer_completed")[0]["payload"];
    assert_eq!(done["context"][0]["content_id"], inline.as_str(), "{done}");
    let item = app.get_as(&format!("/api/content/{inline}"), &alice).await;
    assert_eq!(item.status, 200, "{:?}", item.body);
    assert_eq!(item.body["modality"], "text");
    assert_eq!(item.body["filename"], "inline.txt");
    // A form for someone else's conversation stores nothing.
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(b"not stored".to_vec()).file_name("x.txt"),
    );
    let r = app
        .send(
            app.request(Method::POST, &format!("/api/conversations/{id}/messages"))
                .bearer_auth(&bob)
                .multipart(form),
        )
        .await;
    assert_eq!(r.status, 404);
    let listed = app.get_as("/api/content", &bob).await;
    assert_eq!(
        listed.body["items"].as_array().map(Vec::len),
        Some(1),
        "only Bob's note"
    );

    // A long answer, stopped after its first pieces.
    let long = answer_id(
        &app,
        &alice,
        id,
        json!({ "text": "Write a very long story about a dragon who learns to sail." }),
    )
    .await;
    let stream = format!("conversation-{id}");
    let mut streamed = String::new();
    loop {
        let f = ws.next_json_within(ANSWER_WAIT).await;
        if f["stream"] == stream.as_str() && f["event_type"] == "conversation.answer_streamed" {
            streamed.push_str(f["payload"]["delta"].as_str().unwrap());
            break;
        }
    }
    // Bob names Alice's answer in a conversation of his own: refused, and it stops nothing.
    let bobs = start(&app, &bob, json!({})).await;
    let r = app
        .call_as(
            Method::POST,
            &format!("/api/conversations/{bobs}/answers/{long}/cancel"),
            &bob,
            None,
        )
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (409, "answer_not_active"));
    loop {
        let f = ws.next_json_within(ANSWER_WAIT).await;
        assert_ne!(f["event_type"], "conversation.answer_cancelled", "{f}");
        if f["stream"] == stream.as_str() && f["event_type"] == "conversation.answer_streamed" {
            streamed.push_str(f["payload"]["delta"].as_str().unwrap());
            break;
        }
    }
    let streamed = stop_and_check(&app, &alice, &mut ws, id, &long, streamed).await;
    let r = app
        .call_as(
            Method::POST,
            &format!("/api/conversations/{id}/answers/{long}/cancel"),
            &alice,
            None,
        )
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (409, "answer_not_active"));
    let view = settled(&app, &alice, id, 6).await;
    assert_eq!(view["items"][5]["status"], "cancelled");
    assert_eq!(view["items"][5]["text"], streamed.as_str());
    // The conversation goes on.
    let r = post(&app, &alice, id, json!({ "text": "Thanks!" })).await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    // (The test ends with the model at rest: a process exiting under a running model crashes.)
    events_until(&mut ws, id, "conversation.answer_completed").await;
}

#[actix_web::test]
async fn admins_switch_providers_and_quotas_hold_before_any_work() {
    let app = spawn_app_with(&[("chat.max_answer_tokens", "8")]).await;
    let alice = app.register(&email("alice")).await.access;
    let admin = app.make_admin(&email("admin")).await.access;

    let r = app
        .call_as(
            Method::POST,
            "/api/conversations",
            &alice,
            Some(&json!({ "provider": "nowhere" })),
        )
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (422, "unknown_provider"));
    let id = start(&app, &alice, json!({ "title": "t" })).await;

    let r = app.get_as("/api/admin/providers", &alice).await;
    assert_eq!(r.status, 403);
    let r = app
        .call_as(
            Method::POST,
            "/api/admin/providers/local/disable",
            &admin,
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    let listed = eventually("the provider disabled", || async {
        let r = app.get_as("/api/admin/providers", &admin).await;
        (r.body["providers"][0]["enabled"] == false).then_some(r.body)
    })
    .await;
    assert_eq!(listed["providers"][0]["kind"], "local");
    let r = app.get_as("/api/providers", &alice).await;
    assert_eq!(r.body["providers"], json!([]));
    let r = post(&app, &alice, id, json!({ "text": "hi" })).await;
    assert_eq!((r.status.as_u16(), r.code()), (409, "provider_disabled"));
    let r = app
        .call_as(
            Method::POST,
            "/api/admin/providers/nowhere/enable",
            &admin,
            None,
        )
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (422, "unknown_provider"));
    let r = app
        .call_as(
            Method::POST,
            "/api/admin/providers/local/enable",
            &admin,
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    eventually("the provider enabled", || async {
        let r = app.get_as("/api/providers", &alice).await;
        (r.body["providers"][0]["id"] == "local").then_some(())
    })
    .await;

    // No processing time left: refused before anything is generated or recorded.
    let r = app
        .call_as(
            Method::PUT,
            &format!("/api/admin/users/{}/quota", user_id(&app, &alice).await),
            &admin,
            Some(&json!({ "processing_seconds_per_day": 0 })),
        )
        .await;
    assert!(r.status == 200 || r.status == 204, "{:?}", r.body);
    eventually("the quota in force", || async {
        let r = app.get_as("/api/me", &alice).await;
        (r.body["quota"]["processing_seconds_per_day"] == 0).then_some(())
    })
    .await;
    let refused = post(&app, &alice, id, json!({ "text": "hi" })).await;
    assert_eq!(refused.status, 403, "{:?}", refused.body);
    assert_eq!(refused.code(), "quota_exceeded");
    assert_eq!(
        refused.body["error"]["field"], "processing_seconds_per_day",
        "{:?}",
        refused.body
    );
    let view = app
        .get_as(&format!("/api/conversations/{id}"), &alice)
        .await;
    assert_eq!(view.body["items"], json!([]), "nothing was posted");
}

async fn user_id(app: &TestApp, access: &str) -> String {
    let r = app.get_as("/api/me", access).await;
    r.body["id"].as_str().unwrap().to_owned()
}

#[actix_web::test]
async fn an_answer_written_on_one_node_is_seen_and_stopped_from_another() {
    let a = spawn_app_with(&[("chat.max_answer_tokens", "300")]).await;
    let b = spawn_node_of(&a, &[("chat.max_answer_tokens", "300")]).await;
    let alice = a.register(&email("alice")).await.access;
    // Node B's socket sees what node A writes.
    let mut ws = b.socket(&alice).await;
    let id = start(&a, &alice, json!({})).await;
    let answer = answer_id(
        &a,
        &alice,
        id,
        json!({ "text": "Write a very long story about a lighthouse in a storm." }),
    )
    .await;
    let stream = format!("conversation-{id}");
    let mut streamed = String::new();
    let started = loop {
        let f = ws.next_json_within(ANSWER_WAIT).await;
        if f["stream"] != stream.as_str() {
            continue;
        }
        match f["event_type"].as_str() {
            Some("conversation.answer_started") => {
                assert_eq!(f["payload"]["node"], a.node_id.as_str(), "{f}");
            }
            Some("conversation.answer_streamed") => {
                streamed.push_str(f["payload"]["delta"].as_str().unwrap());
                break f;
            }
            _ => {}
        }
    };
    assert_eq!(started["payload"]["answer_id"], answer.as_str());
    // Stopped through node B: node A's next append conflicts and it stops its model.
    stop_and_check(&b, &alice, &mut ws, id, &answer, streamed).await;
    // The next message, posted on node B, is answered there.
    let r = post(&b, &alice, id, json!({ "text": "A short one, please." })).await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let events = events_until(&mut ws, id, "conversation.answer_completed").await;
    let started = &of_type(&events, "conversation.answer_started")[0]["payload"];
    assert_eq!(started["node"], b.node_id.as_str());
}

#[actix_web::test]
async fn an_answer_left_by_a_stopped_node_gives_way_to_the_next_message() {
    use tessera_events::conversations::{conversation_stream, ConversationEvent};
    use tessera_events::{CommandContext, EventStore, ExpectedVersion, PgEventStore};

    let app = spawn_app_with(&[
        ("chat.max_answer_tokens", "8"),
        ("chat.answer_timeout_secs", "1"),
    ])
    .await;
    let alice_tokens = app.register(&email("alice")).await;
    let alice = alice_tokens.access;
    let id = start(&app, &alice, json!({})).await;
    // A node took a message and died before its answer ended.
    let store = PgEventStore::new(app.db.pool.clone());
    let stream = conversation_stream(id);
    let gone = Uuid::now_v7();
    let events = [
        ConversationEvent::MessagePosted {
            message_id: MessageId(Uuid::now_v7()),
            text: "Hello?".into(),
            attachments: vec![],
        },
        ConversationEvent::AnswerStarted {
            answer_id: AnswerId(gone),
            in_reply_to: MessageId(Uuid::nil()),
            provider: "local".into(),
            model: "smollm2-135m-instruct".into(),
            node: "a-node-that-died".into(),
        },
    ];
    let data = CommandContext::new(Some(UserId(alice_tokens.user_id)))
        .to_event_data(&stream, &events, Some(UserId(alice_tokens.user_id)))
        .unwrap();
    store
        .append(&stream, ExpectedVersion::Exact(1), data)
        .await
        .unwrap();
    let r = post(&app, &alice, id, json!({ "text": "Anyone?" })).await;
    assert_eq!((r.status.as_u16(), r.code()), (409, "answer_in_progress"));
    // Longer than any answer may take: the answer is abandoned and the message goes through.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let r = post(&app, &alice, id, json!({ "text": "Anyone?" })).await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let view = settled(&app, &alice, id, 4).await;
    assert_eq!(view["items"][1]["id"], gone.to_string());
    assert_eq!(view["items"][1]["status"], "failed");
    assert_eq!(view["items"][1]["error_code"], "answer_abandoned");
    assert_eq!(view["items"][3]["role"], "assistant");
}

#[actix_web::test]
async fn a_reloaded_page_replays_the_answer_so_far_and_follows_the_rest() {
    let app = spawn_app_with(&[("chat.max_answer_tokens", "120")]).await;
    let alice = app.register(&email("alice")).await.access;
    let mut first = app.socket(&alice).await;
    let id = start(&app, &alice, json!({})).await;
    answer_id(
        &app,
        &alice,
        id,
        json!({ "text": "Tell me a story about a fox and a crow." }),
    )
    .await;
    let stream = format!("conversation-{id}");
    // The page sees the message and the first pieces, then reloads.
    let before = loop {
        let f = first.next_json_within(ANSWER_WAIT).await;
        if f["stream"] == stream.as_str() && f["event_type"] == "conversation.message_posted" {
            break f["position"].as_u64().unwrap() - 1;
        }
    };
    loop {
        let f = first.next_json_within(ANSWER_WAIT).await;
        if f["stream"] == stream.as_str() && f["event_type"] == "conversation.answer_streamed" {
            break;
        }
    }
    drop(first);
    // The reloaded page authenticates with the last position it kept.
    let mut again = WsClient::connect(&app.ws_url("/api/ws")).await;
    again
        .send_json(json!({ "v": 1, "type": "auth", "token": alice, "resume_from": before }))
        .await;
    let events = events_until(&mut again, id, "conversation.answer_completed").await;
    let types: Vec<&str> = events
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(types[0], "conversation.message_posted", "{types:?}");
    assert_eq!(types[1], "conversation.answer_started", "{types:?}");
    let positions: Vec<u64> = events
        .iter()
        .map(|e| e["position"].as_u64().unwrap())
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "in order, each once"
    );
    let pieces = of_type(&events, "conversation.answer_streamed");
    let seqs: Vec<u64> = pieces
        .iter()
        .map(|p| p["payload"]["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
    let text: String = pieces
        .iter()
        .map(|p| p["payload"]["delta"].as_str().unwrap())
        .collect();
    let done = &of_type(&events, "conversation.answer_completed")[0]["payload"];
    assert_eq!(
        done["text"],
        text.as_str(),
        "the whole answer, nothing twice"
    );
}

/// A question about the user's own files looks through their analysed items: the closest one
/// goes into the answer's context as a passage; another user's items never do.
#[actix_web::test]
async fn a_question_about_my_notes_brings_the_closest_note_into_the_context() {
    let app = spawn_app_with(&[
        ("chat.max_answer_tokens", "4"),
        ("processing.enabled", "true"),
    ])
    .await;
    let alice = app.register(&email("alice")).await.access;
    let bob = app.register(&email("bob")).await.access;
    let mut ws = app.socket(&alice).await;
    let mut notes = Vec::new();
    for (access, text) in [
        (
            &alice,
            "Our boat is called the Blue Heron. It is moored at pier seven.",
        ),
        (&bob, "Bob's boat is called the Red Kestrel."),
    ] {
        let r = app
            .call_as(
                Method::POST,
                "/api/content/notes",
                access,
                Some(&json!({ "title": "Boat", "text": text })),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        notes.push(r.body["id"].as_str().unwrap().to_owned());
    }
    for (access, id) in [(&alice, &notes[0]), (&bob, &notes[1])] {
        eventually_within(ANSWER_WAIT, "the note's analysis", || async {
            let r = app.get_as(&format!("/api/content/{id}"), access).await;
            let state = r.body["analysis"]["state"].clone();
            assert_ne!(state, "failed", "{:?}", r.body);
            (state == "ready").then_some(())
        })
        .await;
        // Retrieval goes through the search index, which follows the analysis a little later.
        eventually_within(ANSWER_WAIT, "the note in the search index", || async {
            let r = app.get_as("/api/search?q=boat", access).await;
            let items = r.body["items"].as_array()?;
            items
                .iter()
                .any(|hit| hit["item"]["id"] == id.as_str())
                .then_some(())
        })
        .await;
    }

    let id = start(&app, &alice, json!({})).await;
    let answer = answer_id(
        &app,
        &alice,
        id,
        json!({ "text": "What is the boat called in my notes?" }),
    )
    .await;
    let events = events_until(&mut ws, id, "conversation.answer_completed").await;
    let done = &of_type(&events, "conversation.answer_completed")[0]["payload"];
    assert_eq!(done["answer_id"], answer.as_str());
    let context = done["context"].as_array().unwrap();
    assert_eq!(context.len(), 1, "only Alice's note: {done}");
    assert_eq!(context[0]["content_id"], notes[0].as_str(), "{done}");
    assert_eq!(context[0]["parts"], json!(["passage"]), "{done}");
    // The answer rests on the note's paragraph, and says where it is.
    let text = "Our boat is called the Blue Heron. It is moored at pier seven.";
    assert!(
        context[0]["places"]
            .as_array()
            .unwrap()
            .contains(&json!({ "type": "paragraph", "start": 0, "end": text.len() })),
        "{done}"
    );
}

/// An attachment longer than its share of the context is not cut at its start: the passages of
/// it that rank best for the question go in instead, each with its paragraph.
#[actix_web::test]
async fn a_long_attachment_gives_the_passages_that_answer_the_question() {
    let app = spawn_app_with(&[
        ("chat.max_answer_tokens", "4"),
        ("chat.context_chars", "800"),
        ("processing.enabled", "true"),
    ])
    .await;
    let alice = app.register(&email("alice")).await.access;
    let mut ws = app.socket(&alice).await;
    let fact = "The lighthouse keeper is called Ortega, and he lights the lamp at dusk.";
    let mut paragraphs: Vec<String> = (0..40)
        .map(|i| {
            format!(
                "Day {i} at the harbour: the wind turned in the afternoon, the ferries ran late \
                 and the gulls followed them out past the breakwater."
            )
        })
        .collect();
    paragraphs[31] = fact.to_owned();
    let text = paragraphs.join("\n\n");
    let at = text.find(fact).unwrap();
    let r = app
        .call_as(
            Method::POST,
            "/api/content/notes",
            &alice,
            Some(&json!({ "title": "Harbour diary", "text": text })),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let note = r.body["id"].as_str().unwrap().to_owned();
    // Its paragraphs are indexed once it is analysed.
    eventually_within(
        ANSWER_WAIT,
        "the note's paragraphs in the search index",
        || async {
            let r = app.get_as("/api/search?q=Ortega", &alice).await;
            let items = r.body["items"].as_array()?;
            items
                .iter()
                .filter(|hit| hit["item"]["id"] == note.as_str())
                .flat_map(|hit| hit["hits"].as_array().into_iter().flatten())
                .any(|h| h["kind"] == "paragraph")
                .then_some(())
        },
    )
    .await;

    let id = start(&app, &alice, json!({})).await;
    answer_id(
        &app,
        &alice,
        id,
        json!({ "text": "Who is the lighthouse keeper?", "attachments": [note] }),
    )
    .await;
    let events = events_until(&mut ws, id, "conversation.answer_completed").await;
    let done = &of_type(&events, "conversation.answer_completed")[0]["payload"];
    let context = &done["context"][0];
    assert_eq!(context["content_id"], note.as_str(), "{done}");
    // The note's summary stays; its text gives way to passages.
    assert_eq!(context["parts"], json!(["summary", "passage"]), "{done}");
    // The paragraph that answers comes first (it matches by words and by meaning), 31
    // paragraphs into the note: cut at its start, the note would not have reached it.
    let places = context["places"].as_array().unwrap();
    assert_eq!(
        places[0],
        json!({ "type": "paragraph", "start": at, "end": at + fact.len() }),
        "{done}"
    );
    // As many as fit the budget, no more.
    let given: usize = places
        .iter()
        .map(|p| (p["end"].as_u64().unwrap() - p["start"].as_u64().unwrap()) as usize)
        .sum();
    assert!(given <= 800, "{done}");
}
