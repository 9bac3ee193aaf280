//! A user's control of their account: a new password, signing out everywhere; and an admin
//! disabling an account, which ends its sign-ins and keys for good.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{spawn_app, tokens_of, TestApp, PASSWORD};

const NEW_PASSWORD: &str = "Another-Horse-77";

fn code_of(r: &crate::helpers::Reply) -> (u16, &str) {
    (r.status.as_u16(), r.code())
}

async fn me(app: &TestApp, credential: &str) -> crate::helpers::Reply {
    app.get_as("/api/me", credential).await
}

#[actix_web::test]
async fn a_new_password_ends_every_other_sign_in_and_signs_the_caller_in_again() {
    let app = spawn_app().await;
    let laptop = app.register("ada@example.com").await;
    let phone = app.login("ada@example.com").await;
    let change =
        |current: &str| json!({ "current_password": current, "new_password": NEW_PASSWORD });

    let r = app
        .call_as(
            Method::POST,
            "/api/me/password",
            &laptop.access,
            Some(&change("Wrong-Guess-1")),
        )
        .await;
    assert_eq!(code_of(&r), (422, "validation_failed"));
    assert_eq!(r.body["error"]["field"], "current_password");
    let weak = json!({ "current_password": PASSWORD, "new_password": "short" });
    let r = app
        .call_as(
            Method::POST,
            "/api/me/password",
            &laptop.access,
            Some(&weak),
        )
        .await;
    assert_eq!(code_of(&r), (422, "weak_password"));
    assert_eq!(
        me(&app, &phone.access).await.status,
        StatusCode::OK,
        "nothing changed yet"
    );

    let r = app
        .call_as(
            Method::POST,
            "/api/me/password",
            &laptop.access,
            Some(&change(PASSWORD)),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let fresh = tokens_of(&r.body).expect("a new sign-in");
    assert_eq!(me(&app, &fresh.access).await.status, StatusCode::OK);
    for old in [&laptop, &phone] {
        assert_eq!(
            code_of(&me(&app, &old.access).await),
            (401, "session_ended")
        );
        assert_eq!(
            code_of(&app.try_refresh(&old.refresh).await),
            (401, "session_ended")
        );
    }
    assert_eq!(app.try_refresh(&fresh.refresh).await.status, StatusCode::OK);
    assert_eq!(
        code_of(&app.try_login("ada@example.com", PASSWORD).await),
        (401, "invalid_credentials")
    );
    assert_eq!(
        app.try_login("ada@example.com", NEW_PASSWORD).await.status,
        StatusCode::OK
    );
}

#[actix_web::test]
async fn signing_out_everywhere_ends_every_sign_in_but_not_api_keys() {
    let app = spawn_app().await;
    let one = app.register("ada@example.com").await;
    let two = app.login("ada@example.com").await;
    let (_, key) = app.create_api_key(&one.access, "ci").await;
    let r = app
        .call_as(Method::POST, "/api/auth/logout-all", &two.access, None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
    for old in [&one, &two] {
        assert_eq!(
            code_of(&me(&app, &old.access).await),
            (401, "session_ended")
        );
        assert_eq!(
            code_of(&app.try_refresh(&old.refresh).await),
            (401, "session_ended")
        );
    }
    assert_eq!(
        me(&app, &key).await.status,
        StatusCode::OK,
        "keys are not sign-ins"
    );
    let again = app.login("ada@example.com").await;
    assert_eq!(me(&app, &again.access).await.status, StatusCode::OK);
}

#[actix_web::test]
async fn a_disabled_account_comes_back_without_its_old_sign_ins_and_keys() {
    let app = spawn_app().await;
    let admin = app.make_admin("root@example.com").await;
    let user = app.register("ada@example.com").await;
    let (_, key) = app.create_api_key(&user.access, "ci").await;
    let id = user.user_id;
    for action in ["disable", "enable"] {
        let r = app
            .call_as(
                Method::POST,
                &format!("/api/admin/users/{id}/{action}"),
                &admin.access,
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{action}: {r:?}");
    }
    assert_eq!(
        code_of(&me(&app, &user.access).await),
        (401, "session_ended")
    );
    assert_eq!(code_of(&me(&app, &key).await), (401, "session_ended"));
    assert_eq!(
        code_of(&app.try_refresh(&user.refresh).await),
        (401, "session_ended")
    );
    // A new sign-in and a new key work.
    let again = app.login("ada@example.com").await;
    assert_eq!(me(&app, &again.access).await.status, StatusCode::OK);
    let (_, new_key) = app.create_api_key(&again.access, "ci 2").await;
    assert_eq!(me(&app, &new_key).await.status, StatusCode::OK);
}

async fn new_key(
    app: &TestApp,
    credential: &str,
    body: serde_json::Value,
) -> crate::helpers::Reply {
    app.call_as(Method::POST, "/api/me/api-keys", credential, Some(&body))
        .await
}

#[actix_web::test]
async fn api_keys_act_only_within_their_scopes_and_until_they_expire() {
    let app = crate::helpers::spawn_app_with(&[("auth.max_api_keys", "3")]).await;
    let admin = app.make_admin("root@example.com").await;
    let user = app.register("ada@example.com").await;
    let note = json!({"title": "n", "text": "by a key"});

    // Default: read and write, not admin even for an admin.
    let r = new_key(&app, &admin.access, json!({"name": "plain"})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    assert_eq!(r.body["scopes"], json!(["read", "write"]));
    let plain = r.body["key"].as_str().unwrap().to_owned();
    assert_eq!(me(&app, &plain).await.status, StatusCode::OK);
    let users = app.get_as("/api/admin/users", &plain).await;
    assert_eq!(code_of(&users), (403, "insufficient_scope"));
    let r = new_key(
        &app,
        &admin.access,
        json!({"name": "ops", "scopes": ["read", "admin"]}),
    )
    .await;
    let ops = r.body["key"].as_str().unwrap().to_owned();
    assert_eq!(
        app.get_as("/api/admin/users", &ops).await.status,
        StatusCode::OK
    );
    let r = new_key(
        &app,
        &user.access,
        json!({"name": "x", "scopes": ["admin"]}),
    )
    .await;
    assert_eq!(code_of(&r), (403, "forbidden"));

    // Read only: reads pass, changes do not; a key without `keys` makes no keys.
    let r = new_key(
        &app,
        &user.access,
        json!({"name": "ro", "scopes": ["read"]}),
    )
    .await;
    let ro = r.body["key"].as_str().unwrap().to_owned();
    assert_eq!(me(&app, &ro).await.status, StatusCode::OK);
    let r = app
        .call_as(Method::POST, "/api/content/notes", &ro, Some(&note))
        .await;
    assert_eq!(code_of(&r), (403, "insufficient_scope"));
    let r = new_key(&app, &ro, json!({"name": "child"})).await;
    assert_eq!(code_of(&r), (403, "insufficient_scope"));
    // A key that manages keys gives no scope it lacks itself.
    let r = new_key(
        &app,
        &user.access,
        json!({"name": "mgr", "scopes": ["read", "keys"]}),
    )
    .await;
    let mgr = r.body["key"].as_str().unwrap().to_owned();
    let r = new_key(
        &app,
        &mgr,
        json!({"name": "child", "scopes": ["read", "write"]}),
    )
    .await;
    assert_eq!(code_of(&r), (403, "insufficient_scope"));

    // Expiry: never in the past; a key stops at its time.
    let past = (chrono::Utc::now() - chrono::Duration::minutes(1)).to_rfc3339();
    let r = new_key(
        &app,
        &admin.access,
        json!({"name": "old", "expires_at": past}),
    )
    .await;
    assert_eq!(code_of(&r), (422, "validation_failed"));
    let soon = (chrono::Utc::now() + chrono::Duration::milliseconds(1500)).to_rfc3339();
    let r = new_key(
        &app,
        &admin.access,
        json!({"name": "brief", "expires_at": soon}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let brief = r.body["key"].as_str().unwrap().to_owned();
    assert_eq!(me(&app, &brief).await.status, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(1700)).await;
    assert_eq!(code_of(&me(&app, &brief).await), (401, "token_expired"));

    // At most three in force: the expired one does not count.
    crate::helpers::eventually("the keys are listed", || async {
        let r = app.get_as("/api/me/api-keys", &admin.access).await;
        (r.body["api_keys"].as_array().map(Vec::len) == Some(3)).then_some(())
    })
    .await;
    let r = new_key(&app, &admin.access, json!({"name": "third"})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    crate::helpers::eventually("the third is listed", || async {
        let r = app.get_as("/api/me/api-keys", &admin.access).await;
        (r.body["api_keys"].as_array().map(Vec::len) == Some(4)).then_some(())
    })
    .await;
    let r = new_key(&app, &admin.access, json!({"name": "fourth"})).await;
    assert_eq!(code_of(&r), (409, "too_many_api_keys"));
    let listed = app.get_as("/api/me/api-keys", &admin.access).await;
    let ops_row = listed.body["api_keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "ops")
        .unwrap()
        .clone();
    assert_eq!(ops_row["scopes"], json!(["read", "admin"]));
}

#[actix_web::test]
async fn the_setup_link_creates_the_first_administrator_once() {
    let app = spawn_app().await;
    let (token, _) = app
        .auth
        .issue_setup_link()
        .await
        .expect("issue")
        .expect("a fresh install has no administrator");
    use secrecy::ExposeSecret as _;
    let token = token.expose_secret().to_owned();
    let setup = |token: &str, password: &str| {
        json!({ "token": token, "email": "root@example.com", "password": password,
                "display_name": "Root" })
    };
    // A refused account does not use the link up.
    let r = app
        .send(app.post_json("/api/auth/setup", &setup(&token, "short")))
        .await;
    assert_eq!(code_of(&r), (422, "weak_password"));
    let forged = format!("{}x", &token[..token.len() - 1]);
    let r = app
        .send(app.post_json("/api/auth/setup", &setup(&forged, PASSWORD)))
        .await;
    assert_eq!(code_of(&r), (410, "link_invalid"));

    let r = app
        .send(app.post_json("/api/auth/setup", &setup(&token, PASSWORD)))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    assert_eq!(r.body["role"], "admin");
    let admin = tokens_of(&r.body).expect("signed in");
    assert_eq!(
        app.get_as("/api/admin/users", &admin.access).await.status,
        StatusCode::OK
    );
    // Done: the link, and any other, does nothing more; no new link is issued.
    let r = app
        .send(app.post_json("/api/auth/setup", &setup(&token, PASSWORD)))
        .await;
    assert_eq!(code_of(&r), (409, "setup_done"));
    assert!(app.auth.issue_setup_link().await.expect("issue").is_none());
}

#[actix_web::test]
async fn a_reset_link_sets_a_new_password_once_and_ends_every_sign_in() {
    let app = spawn_app().await;
    let admin = app.make_admin("root@example.com").await;
    let user = app.register("ada@example.com").await;
    let r = app
        .call_as(
            Method::POST,
            &format!("/api/admin/users/{}/reset-link", user.user_id),
            &user.access,
            None,
        )
        .await;
    assert_eq!(code_of(&r), (403, "forbidden"), "users issue no links");
    let r = app
        .call_as(
            Method::POST,
            &format!("/api/admin/users/{}/reset-link", user.user_id),
            &admin.access,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let url = r.body["url"].as_str().unwrap();
    let token = url
        .split_once("/reset#")
        .expect("a /reset link")
        .1
        .to_owned();
    let reset = |password: &str| json!({ "token": token, "new_password": password });
    let r = app
        .send(app.post_json("/api/auth/password-reset", &reset("short")))
        .await;
    assert_eq!(code_of(&r), (422, "weak_password"));
    let r = app
        .send(app.post_json("/api/auth/password-reset", &reset(NEW_PASSWORD)))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
    assert_eq!(
        code_of(&me(&app, &user.access).await),
        (401, "session_ended")
    );
    assert_eq!(
        app.try_login("ada@example.com", NEW_PASSWORD).await.status,
        StatusCode::OK
    );
    let r = app
        .send(app.post_json("/api/auth/password-reset", &reset("Yet-Another-99")))
        .await;
    assert_eq!(code_of(&r), (410, "link_invalid"), "once only");
}

/// Reads frames (events the user's own actions cause) until the server closes the socket.
async fn closed_with(ws: &mut crate::helpers::WsClient) -> String {
    ws.closed().await
}

#[actix_web::test]
async fn a_socket_closes_when_its_sign_in_ends() {
    let app = spawn_app().await;
    let laptop = app.register("ada@example.com").await;
    let phone = app.login("ada@example.com").await;
    let (_, key) = app.create_api_key(&laptop.access, "ci").await;
    let mut on_laptop = app.socket(&laptop.access).await;
    let mut on_phone = app.socket(&phone.access).await;
    let mut by_key = app.socket(&key).await;

    // Signing out on the laptop closes the laptop's socket, not the phone's.
    let r = app
        .send(app.post_json(
            "/api/auth/logout",
            &json!({ "refresh_token": laptop.refresh }),
        ))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
    assert_eq!(closed_with(&mut on_laptop).await, "session_ended");
    // The phone's socket still answers (after the events of the sign-out).
    on_phone
        .send_json(json!({"v": 1, "type": "ping", "id": 7}))
        .await;
    loop {
        let frame = on_phone.next_json().await;
        if frame["type"] == "pong" {
            assert_eq!(frame["id"], 7);
            break;
        }
    }

    // Signing out everywhere closes every signed-in socket of the account. The API key still
    // stands, and so does its socket.
    let r = app
        .call_as(Method::POST, "/api/auth/logout-all", &phone.access, None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
    assert_eq!(closed_with(&mut on_phone).await, "session_ended");
    assert_eq!(me(&app, &key).await.status, StatusCode::OK);
    by_key
        .send_json(json!({"v": 1, "type": "ping", "id": 8}))
        .await;
    loop {
        let frame = by_key.next_json().await;
        if frame["type"] == "pong" {
            assert_eq!(frame["id"], 8);
            break;
        }
    }
    // Disabling the account ends its keys, and the key's socket closes.
    let admin = app.make_admin("root@example.com").await;
    let disable = format!("/api/admin/users/{}/disable", laptop.user_id);
    let r = app
        .call_as(Method::POST, &disable, &admin.access, None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
    assert_eq!(closed_with(&mut by_key).await, "account_disabled");
}

#[actix_web::test]
async fn a_user_sees_their_sign_ins_and_ends_one() {
    let app = spawn_app().await;
    let laptop = app.register("ada@example.com").await;
    let phone = app.login("ada@example.com").await;
    let other = app.register("bob@example.com").await;
    let listed = crate::helpers::eventually("both sign-ins are listed", || async {
        let r = app.get_as("/api/me/sessions", &laptop.access).await;
        (r.body["sessions"].as_array().map(Vec::len) == Some(2)).then_some(r.body)
    })
    .await;
    let sessions = listed["sessions"].as_array().unwrap();
    assert_eq!(
        sessions.iter().filter(|s| s["current"] == true).count(),
        1,
        "{listed}"
    );
    let phone_id = sessions.iter().find(|s| s["current"] == false).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Bob cannot end Ada's sign-in; Ada can.
    let path = format!("/api/me/sessions/{phone_id}");
    let r = app
        .call_as(Method::DELETE, &path, &other.access, None)
        .await;
    assert_eq!(code_of(&r), (404, "not_found"));
    let r = app
        .call_as(Method::DELETE, &path, &laptop.access, None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
    assert_eq!(
        code_of(&me(&app, &phone.access).await),
        (401, "session_ended")
    );
    assert_eq!(
        app.try_refresh(&phone.refresh).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(me(&app, &laptop.access).await.status, StatusCode::OK);
    crate::helpers::eventually("one sign-in is left", || async {
        let r = app.get_as("/api/me/sessions", &laptop.access).await;
        (r.body["sessions"].as_array().map(Vec::len) == Some(1)).then_some(())
    })
    .await;
}

/// Where sign-ups need approval (the default): signing up answers the same for a free address
/// and a registered one, and writes nothing for the registered one; the pending account cannot
/// sign in (answered exactly like a wrong password) until an administrator approves it.
#[actix_web::test]
async fn sign_up_answers_the_same_whether_or_not_the_address_is_registered() {
    let app = crate::helpers::spawn_app_with(&[("auth.approve_new_accounts", "true")]).await;
    let admin = app.make_admin("root@example.com").await;
    let owner = app
        .auth
        .register(tessera::auth::NewUser {
            email: "taken@example.com".into(),
            password: PASSWORD.to_owned().into(),
            display_name: "Owner".into(),
        })
        .await
        .expect("existing account");
    let head_before: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&app.db.pool)
        .await
        .expect("count events");

    let sign_up = |email: &str, password: &str| json!({ "email": email, "password": password, "display_name": "Someone" });
    let taken = app
        .send(app.post_json(
            "/api/auth/register",
            &sign_up("Taken@Example.com", "Different-Pass-93"),
        ))
        .await;
    let free = app
        .send(app.post_json(
            "/api/auth/register",
            &sign_up("free@example.com", "Different-Pass-93"),
        ))
        .await;
    assert_eq!(taken.status, StatusCode::ACCEPTED, "{taken:?}");
    assert_eq!((free.status, &free.body), (taken.status, &taken.body));
    assert_eq!(taken.body, json!({ "status": "awaiting_approval" }));
    assert!(free.headers.get("set-cookie").is_none() && taken.headers.get("set-cookie").is_none());
    // Only the free address got an account; the registered one is untouched.
    let head_after: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&app.db.pool)
        .await
        .expect("count events");
    assert_eq!(
        head_after - head_before,
        2,
        "a user event and an email claim"
    );
    app.login("taken@example.com").await;
    let taken_attempt = app
        .try_login("taken@example.com", "Different-Pass-93")
        .await;
    let pending_attempt = app.try_login("free@example.com", "Different-Pass-93").await;
    assert_eq!(code_of(&taken_attempt), (401, "invalid_credentials"));
    assert_eq!(code_of(&pending_attempt), code_of(&taken_attempt));
    let message = |r: &crate::helpers::Reply| r.body["error"]["message"].clone();
    assert_eq!(message(&pending_attempt), message(&taken_attempt));

    // The administrator sees the request and approves it; then it signs in.
    let pending_id = crate::helpers::eventually("the sign-up is listed as pending", || async {
        let users = app
            .get_as("/api/admin/users?limit=100", &admin.access)
            .await;
        users.body["users"].as_array()?.iter().find_map(|u| {
            (u["email"] == "free@example.com" && u["pending"] == true)
                .then(|| u["id"].as_str().map(str::to_owned))
                .flatten()
        })
    })
    .await;
    let users = app
        .get_as("/api/admin/users?limit=100", &admin.access)
        .await;
    let owner_row = users.body["users"]
        .as_array()
        .expect("users")
        .iter()
        .find(|u| u["id"] == owner.user_id.to_string())
        .expect("owner listed")
        .clone();
    assert_eq!(owner_row["pending"], false);
    assert_eq!(owner_row["display_name"], "Owner");
    let approve = format!("/api/admin/users/{pending_id}/approve");
    let stranger = app.login("taken@example.com").await;
    let r = app
        .call_as(Method::POST, &approve, &stranger.access, None)
        .await;
    assert_eq!(code_of(&r), (403, "forbidden"));
    let r = app
        .call_as(Method::POST, &approve, &admin.access, None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
    let r = app
        .call_as(Method::POST, &approve, &admin.access, None)
        .await;
    assert_eq!(
        r.status,
        StatusCode::NO_CONTENT,
        "approving twice changes nothing: {r:?}"
    );
    let signed = app.try_login("free@example.com", "Different-Pass-93").await;
    assert_eq!(signed.status, StatusCode::OK, "{signed:?}");
    let me_now = me(
        &app,
        tokens_of(&signed.body).expect("tokens").access.as_str(),
    )
    .await;
    assert_eq!(me_now.body["email"], "free@example.com");
    // Validation errors say nothing about the address and come before any of it.
    let weak = app
        .send(app.post_json(
            "/api/auth/register",
            &sign_up("taken@example.com", "password"),
        ))
        .await;
    assert_eq!(code_of(&weak), (422, "weak_password"));
}
