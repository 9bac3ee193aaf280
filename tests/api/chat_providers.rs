//! Chat providers other than the node's own model: another Tessera serving its OpenAI-compatible
//! `/v1` answers a conversation; providers that send garbage or nothing end the answer with a
//! clear error; a provider configured off is refused until an admin enables it.

use std::time::Duration;

use crate::helpers::{email, eventually, spawn_app_with, TestApp, WsClient};
use reqwest::Method;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(120);

/// The payload of the event that ended the conversation's answer.
async fn answer_end(socket: &mut WsClient, conversation: Uuid) -> (String, Value, String) {
    let stream = format!("conversation-{conversation}");
    let mut streamed = String::new();
    loop {
        let f = socket.next_json_within(WAIT).await;
        if f["stream"] != stream.as_str() {
            continue;
        }
        let t = f["event_type"].as_str().unwrap_or_default().to_owned();
        match t.as_str() {
            "conversation.answer_streamed" => {
                streamed.push_str(f["payload"]["delta"].as_str().unwrap())
            }
            "conversation.answer_completed"
            | "conversation.answer_failed"
            | "conversation.answer_cancelled" => return (t, f["payload"].clone(), streamed),
            _ => {}
        }
    }
}

async fn ask(app: &TestApp, access: &str, provider: &str, text: &str) -> Uuid {
    let r = app
        .call_as(
            Method::POST,
            "/api/conversations",
            access,
            Some(&json!({ "provider": provider })),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let id: Uuid = r.body["id"].as_str().unwrap().parse().unwrap();
    let r = app
        .call_as(
            Method::POST,
            &format!("/api/conversations/{id}/messages"),
            access,
            Some(&json!({ "text": text })),
        )
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    id
}

/// A server that accepts connections and answers every request with `response` (or, when it
/// is `None`, reads the request and never answers).
async fn fault_server(response: Option<&'static str>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                let _ = conn.read(&mut buf).await;
                match response {
                    Some(r) => {
                        let _ = conn.write_all(r.as_bytes()).await;
                        let _ = conn.shutdown().await;
                    }
                    None => tokio::time::sleep(Duration::from_secs(600)).await,
                }
            });
        }
    });
    format!("http://{address}/v1")
}

#[actix_web::test]
async fn another_tessera_answers_through_its_openai_compatible_api() {
    // The remote: a Tessera of its own, with a user and an API key for the local one.
    let remote = spawn_app_with(&[("chat.temperature", "0")]).await;
    let owner = remote.register(&email("remote-owner")).await.access;
    let (_, key) = remote.create_api_key(&owner, "peer").await;

    let peer_url = format!("{}/v1", remote.address);
    let app = spawn_app_with(&[
        ("chat.max_answer_tokens", "24"),
        ("chat.providers.peer.name", "Peer Tessera"),
        ("chat.providers.peer.base_url", peer_url.as_str()),
        ("chat.providers.peer.api_key", key.as_str()),
        ("chat.providers.peer.model", "smollm2-135m-instruct"),
        ("chat.providers.peer.enabled", "true"),
    ])
    .await;
    let alice = app.register(&email("alice")).await.access;
    let r = app.get_as("/api/providers", &alice).await;
    let ids: Vec<&str> = r.body["providers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["id"].as_str())
        .collect();
    assert_eq!(ids, ["local", "peer"], "{:?}", r.body);
    let admin = app.make_admin(&email("admin")).await.access;
    let r = app.get_as("/api/admin/providers", &admin).await;
    let listed = r.body.to_string();
    assert!(listed.contains(&peer_url), "{listed}");
    assert!(!listed.contains(&key), "the key is never shown");

    let mut ws = app.socket(&alice).await;
    let id = ask(&app, &alice, "peer", "Name three colours.").await;
    let (end, done, streamed) = answer_end(&mut ws, id).await;
    assert_eq!(end, "conversation.answer_completed", "{done}");
    assert_eq!(done["provider"], "peer");
    assert_eq!(done["model"], "smollm2-135m-instruct");
    assert_eq!(done["text"], streamed.as_str());
    assert!(!streamed.trim().is_empty());
    assert!(done["tokens_out"].as_u64().unwrap() >= 1, "{done}");
    assert!(done["tokens_in"].as_u64().unwrap() > 10, "{done}");

    // The remote metered its own work to the key's owner.
    eventually("the remote's usage", || async {
        let r = remote.get_as("/api/usage", &owner).await;
        (r.body["today"]["tokens"].as_u64() > Some(0)).then_some(())
    })
    .await;
    // Here the tokens count, the remote's time does not.
    let usage = eventually("the local usage", || async {
        let r = app.get_as("/api/usage", &alice).await;
        (r.body["today"]["tokens"].as_u64() > Some(0)).then_some(r.body)
    })
    .await;
    assert_eq!(usage["today"]["processing_seconds"], 0.0, "{usage}");

    // A wrong key is the remote's refusal, reported as such.
    let app2 = spawn_app_with(&[
        ("chat.providers.peer.base_url", peer_url.as_str()),
        ("chat.providers.peer.api_key", "tk_not_a_real_key"),
        ("chat.providers.peer.model", "smollm2-135m-instruct"),
        ("chat.providers.peer.enabled", "true"),
    ])
    .await;
    let bob = app2.register(&email("bob")).await.access;
    let mut ws = app2.socket(&bob).await;
    let id = ask(&app2, &bob, "peer", "Hello?").await;
    let (end, failed, _) = answer_end(&mut ws, id).await;
    assert_eq!(end, "conversation.answer_failed", "{failed}");
    assert_eq!(failed["code"], "provider_refused", "{failed}");
}

#[actix_web::test]
async fn providers_that_send_garbage_or_nothing_end_the_answer_with_a_clear_error() {
    let garbage = fault_server(Some(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n\
         data: {\"choices\": [{\"delta\": {\"content\": \"Hi\"}}]}\n\n\
         data: <html>not json</html>\n\n",
    ))
    .await;
    let silent = fault_server(None).await;
    let app = spawn_app_with(&[
        ("chat.providers.garbage.base_url", garbage.as_str()),
        ("chat.providers.garbage.model", "m"),
        ("chat.providers.garbage.enabled", "true"),
        ("chat.providers.silent.base_url", silent.as_str()),
        ("chat.providers.silent.model", "m"),
        ("chat.providers.silent.timeout_secs", "1"),
        ("chat.providers.silent.enabled", "true"),
        ("chat.providers.off.base_url", "http://127.0.0.1:9/v1"),
        ("chat.providers.off.model", "m"),
    ])
    .await;
    let alice = app.register(&email("alice")).await.access;
    let mut ws = app.socket(&alice).await;

    let id = ask(&app, &alice, "garbage", "Hello?").await;
    let (end, failed, streamed) = answer_end(&mut ws, id).await;
    assert_eq!(end, "conversation.answer_failed", "{failed}");
    assert_eq!(failed["code"], "provider_error", "{failed}");
    assert_eq!(streamed, "Hi");
    assert_eq!(failed["text"], "Hi", "what came before the garbage is kept");

    let id = ask(&app, &alice, "silent", "Hello?").await;
    let (end, failed, _) = answer_end(&mut ws, id).await;
    assert_eq!(end, "conversation.answer_failed", "{failed}");
    assert_eq!(failed["code"], "provider_timeout", "{failed}");
    // The conversation takes the next message.
    let r = app
        .call_as(
            Method::POST,
            &format!("/api/conversations/{id}/messages"),
            &alice,
            Some(&json!({ "text": "Still there?" })),
        )
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);

    // Configured off: refused until an admin enables it.
    let r = app
        .call_as(
            Method::POST,
            "/api/conversations",
            &alice,
            Some(&json!({ "provider": "off" })),
        )
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (409, "provider_disabled"));
    let admin = app.make_admin(&email("admin")).await.access;
    let r = app
        .call_as(
            Method::POST,
            "/api/admin/providers/off/enable",
            &admin,
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    eventually("the provider enabled", || async {
        let r = app
            .call_as(
                Method::POST,
                "/api/conversations",
                &alice,
                Some(&json!({ "provider": "off" })),
            )
            .await;
        (r.status == 201).then_some(())
    })
    .await;
}

#[test]
fn bad_provider_configuration_is_refused_at_start() {
    let long = format!("chat.providers.{}.base_url", "a".repeat(65));
    let settings = |key: &str, value: &str| {
        let model_key = key.replace("base_url", "model");
        tessera::config::Settings::with_overrides(&[
            ("mode", "dev"),
            (key, value),
            (model_key.as_str(), "m"),
        ])
    };
    assert!(settings("chat.providers.peer.base_url", "http://127.0.0.1:1/v1").is_ok());
    for (key, value) in [
        ("chat.providers.local.base_url", "http://127.0.0.1:1/v1"),
        (long.as_str(), "http://127.0.0.1:1/v1"),
        ("chat.providers.x.base_url", "ftp://127.0.0.1/v1"),
        ("chat.providers.x.base_url", "not a url"),
    ] {
        assert!(settings(key, value).is_err(), "{key}={value} was accepted");
    }
}
