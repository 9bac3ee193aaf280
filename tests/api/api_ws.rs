//! `/api/ws` on the real application: real sign-in, real tokens, events produced by real HTTP
//! calls, delivered only to their owner.

use std::time::Duration;

use crate::helpers::{spawn_app, Tokens, WsClient};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Error as WsError;

fn assert_ready(frame: &Value, user: &Tokens) {
    assert_eq!(frame["v"], 1, "{frame}");
    assert_eq!(frame["type"], "ready", "{frame}");
    assert_eq!(frame["user_id"], user.user_id.to_string(), "{frame}");
    assert!(frame["position"].is_u64(), "{frame}");
}

/// The `event` frame of `stream`'s first event, skipping the user's other events (ones the
/// router had not reached when the session became ready may come first).
async fn first_event_of(socket: &mut WsClient, stream: &str) -> Value {
    loop {
        let f = socket.next_json().await;
        assert_eq!(
            (f["v"].as_u64(), f["type"].as_str()),
            (Some(1), Some("event")),
            "{f}"
        );
        if f["stream"] == stream {
            return f;
        }
    }
}

#[actix_web::test]
async fn a_signed_in_user_gets_their_own_events_and_nobody_elses() {
    let app = spawn_app().await;
    let alice = app.register("alice@example.com").await;
    let bob = app.register("bob@example.com").await;

    let mut alice_ws = WsClient::connect_bearer(&app.ws_url("/api/ws"), Some(&alice.access))
        .await
        .expect("alice connects");
    assert_ready(&alice_ws.next_json().await, &alice);
    let mut bob_ws = WsClient::connect_bearer(&app.ws_url("/api/ws"), Some(&bob.access))
        .await
        .expect("bob connects");
    assert_ready(&bob_ws.next_json().await, &bob);

    let (alice_key, _) = app.create_api_key(&alice.access, "alice's key").await;
    let f = first_event_of(&mut alice_ws, &format!("apikey-{alice_key}")).await;
    assert_eq!(f["event_type"], "apikey.created", "{f}");
    assert_eq!(f["payload"]["user_id"], alice.user_id.to_string(), "{f}");
    assert_eq!(f["payload"]["name"], "alice's key", "{f}");
    let alice_position = f["position"].as_u64().expect("position");

    // Bob's frames up to his own, later key are all his: events come in log order, so had
    // Alice's key reached him, it would be among them. (The ready position is where the node's
    // router stood, so Bob may first get his own sign-up events that it had not routed yet.)
    let (bob_key, _) = app.create_api_key(&bob.access, "bob's key").await;
    loop {
        let f = bob_ws.next_json().await;
        assert_eq!(f["type"], "event", "{f}");
        assert_ne!(f["stream"], format!("apikey-{alice_key}"), "bob got {f}");
        assert_ne!(
            f["payload"]["user_id"],
            alice.user_id.to_string(),
            "bob got {f}"
        );
        if f["stream"] == format!("apikey-{bob_key}") {
            assert!(f["position"].as_u64().is_some_and(|p| p > alice_position));
            break;
        }
    }
    // ...and Alice hears nothing of Bob's.
    while let Some(f) = alice_ws.try_next_json(Duration::from_millis(300)).await {
        assert_ne!(f["stream"], format!("apikey-{bob_key}"), "alice got {f}");
        assert_ne!(
            f["payload"]["user_id"],
            bob.user_id.to_string(),
            "alice got {f}"
        );
    }

    // The protocol's ping works on an authenticated session.
    alice_ws
        .send_json(json!({ "v": 1, "type": "ping", "id": 7 }))
        .await;
    assert_eq!(
        alice_ws.next_json().await,
        json!({ "v": 1, "type": "pong", "id": 7 })
    );
}

#[actix_web::test]
async fn the_first_message_can_authenticate_but_the_url_never_does() {
    let app = spawn_app().await;
    let carol = app.register("carol@example.com").await;

    // A token in the query string is ignored: the socket stays unauthenticated and hears nothing.
    let path = format!(
        "/api/ws?access_token={0}&token={0}&authorization=Bearer%20{0}",
        carol.access
    );
    let mut socket = WsClient::connect_bearer(&app.ws_url(&path), None)
        .await
        .expect("connects");
    app.create_api_key(&carol.access, "while unauthenticated")
        .await;
    assert_eq!(
        socket.try_next_json(Duration::from_millis(500)).await,
        None,
        "an unauthenticated socket got a frame"
    );

    // It can still authenticate by its first message, which would be refused as
    // `already_authenticated` had the URL's token counted.
    socket
        .send_json(json!({ "v": 1, "type": "auth", "token": carol.access }))
        .await;
    assert_ready(&socket.next_json().await, &carol);
    let (key_id, key) = app.create_api_key(&carol.access, "after auth").await;
    let f = first_event_of(&mut socket, &format!("apikey-{key_id}")).await;
    assert_eq!(f["event_type"], "apikey.created", "{f}");
    assert_eq!(f["payload"]["user_id"], carol.user_id.to_string(), "{f}");

    // A second `auth` is refused, and the session stays open.
    socket
        .send_json(json!({ "v": 1, "type": "auth", "token": carol.access }))
        .await;
    let f = socket.next_json().await;
    assert_eq!(
        (f["type"].as_str(), f["code"].as_str()),
        (Some("error"), Some("already_authenticated")),
        "{f}"
    );

    // An API key authenticates a socket too.
    let mut by_key = WsClient::connect_bearer(&app.ws_url("/api/ws"), Some(&key))
        .await
        .expect("connects");
    assert_ready(&by_key.next_json().await, &carol);
}

#[actix_web::test]
async fn invalid_credentials_are_refused_before_the_upgrade_or_by_a_close() {
    let app = spawn_app().await;
    let dave = app.register("dave@example.com").await;

    // A bad header: the API's JSON 401 before any upgrade.
    let forged = format!("{}x", dave.access);
    match WsClient::connect_bearer(&app.ws_url("/api/ws"), Some(&forged)).await {
        Err(WsError::Http(response)) => {
            assert_eq!(
                response.status().as_u16(),
                StatusCode::UNAUTHORIZED.as_u16()
            );
            let body: Value =
                serde_json::from_slice(response.body().as_deref().unwrap_or_default())
                    .expect("a JSON error");
            assert_eq!(body["error"]["code"], "invalid_token");
        }
        Ok(_) => panic!("upgraded with a forged token"),
        Err(e) => panic!("unexpected error: {e}"),
    }

    // A bad token in the first message: an error frame, then the close with its reason.
    let mut socket = WsClient::connect_bearer(&app.ws_url("/api/ws"), None)
        .await
        .expect("connects");
    socket
        .send_json(json!({ "v": 1, "type": "auth", "token": forged }))
        .await;
    let f = socket.next_json().await;
    assert_eq!(f["code"], "invalid_token", "{f}");
    assert_eq!(socket.closed().await, "invalid_token");

    // A disabled user's token stops opening sockets.
    let admin = app.make_admin("root@example.com").await;
    let path = format!("/api/admin/users/{}/disable", dave.user_id);
    let reply = app
        .call_as(reqwest::Method::POST, &path, &admin.access, None)
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{reply:?}");
    assert!(matches!(
        WsClient::connect_bearer(&app.ws_url("/api/ws"), Some(&dave.access)).await,
        Err(WsError::Http(r)) if r.status().as_u16() == 401
    ));
}

/// Disabling a user closes their live sockets, with a reason the client can show.
#[actix_web::test]
async fn disabling_a_user_closes_their_open_sockets() {
    let app = spawn_app().await;
    let admin = app.make_admin("boss@example.com").await;
    let user = app.register("leaving@example.com").await;
    let mut socket = WsClient::connect_bearer(&app.ws_url("/api/ws"), Some(&user.access))
        .await
        .expect("upgrade");
    assert_ready(&socket.next_json().await, &user);

    let reply = app
        .call_as(
            reqwest::Method::POST,
            &format!("/api/admin/users/{}/disable", user.user_id),
            &admin.access,
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{reply:?}");

    assert_eq!(socket.closed().await, "account_disabled");
}
