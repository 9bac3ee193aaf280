//! Signing up, signing in, tokens and API keys against the real application over real HTTP,
//! with the bad input of issue 2: each case answers its stable error code.

use crate::helpers::{
    eventually, registration, spawn_app, spawn_app_with, Reply, TestApp, PASSWORD, SECRET,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

/// A throwaway RSA key that protects nothing (the one the unit tests use).
const TEST_RSA_KEY: &str = include_str!("../../src/auth/testdata/rsa_test_key.pem");

fn assert_error(reply: &Reply, status: StatusCode, code: &str) {
    assert_eq!(
        (reply.status, reply.code()),
        (status, code),
        "{:?}",
        reply.body
    );
}

#[actix_web::test]
async fn register_login_and_me_by_header_and_by_cookie() {
    let app = spawn_app().await;
    let reply = app
        .send(app.post_json(
            "/api/auth/register",
            &registration("Ada@Example.com", PASSWORD),
        ))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    assert_eq!(reply.body["token_type"], "Bearer");
    assert_eq!(reply.body["role"], "user");
    assert!(reply.body["expires_in"]
        .as_i64()
        .is_some_and(|s| s > 0 && s <= 900));
    let registered = crate::helpers::tokens_of(&reply.body).expect("tokens");

    let reply = app.try_login("ada@example.com", PASSWORD).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let cookies: Vec<&str> = reply
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert!(
        cookies.iter().any(|c| c.starts_with("access_token=")
            && c.contains("HttpOnly")
            && c.contains("SameSite=Strict")),
        "{cookies:?}"
    );
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("refresh_token=") && c.contains("Path=/api/auth")),
        "{cookies:?}"
    );
    let login = crate::helpers::tokens_of(&reply.body).expect("tokens");
    assert_eq!(login.user_id, registered.user_id);
    assert_ne!(login.refresh, registered.refresh, "a new session");

    for access in [&registered.access, &login.access] {
        let me = app.get_as("/api/me", access).await;
        assert_eq!(me.status, StatusCode::OK, "{me:?}");
        assert_eq!(me.body["id"], registered.user_id.to_string());
        assert_eq!(me.body["email"], "ada@example.com", "normalised");
        assert_eq!(me.body["display_name"], "Test User");
        assert_eq!(me.body["role"], "user");
        assert_eq!(
            me.body["quota"],
            json!({
                "storage_bytes": crate::helpers::DEFAULT_STORAGE_BYTES,
                "uploads_per_day": crate::helpers::DEFAULT_UPLOADS_PER_DAY,
                "processing_seconds_per_day": crate::helpers::DEFAULT_PROCESSING_SECONDS,
            })
        );
    }

    // The browser's way: the access-token cookie alone.
    let me = app
        .send(
            app.get("/api/me")
                .header("cookie", format!("access_token={}", login.access)),
        )
        .await;
    assert_eq!(me.status, StatusCode::OK, "{me:?}");
    assert_eq!(me.body["id"], registered.user_id.to_string());
    // A change made with the cookie must come from a page of this site.
    let note = json!({"title": "n", "text": "made by a page"});
    for (origin, status) in [
        (None, StatusCode::FORBIDDEN),
        (Some("https://evil.example"), StatusCode::FORBIDDEN),
        (Some(app.address.as_str()), StatusCode::CREATED),
    ] {
        let mut request = app
            .post_json("/api/content/notes", &note)
            .header("cookie", format!("access_token={}", login.access));
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        let reply = app.send(request).await;
        assert_eq!(reply.status, status, "{origin:?}: {reply:?}");
        if status == StatusCode::FORBIDDEN {
            assert_eq!(reply.code(), "cross_origin");
        }
    }

    // A wrong password and an unknown account look the same.
    let wrong = app.try_login("ada@example.com", "Wrong-Password-1").await;
    assert_error(&wrong, StatusCode::UNAUTHORIZED, "invalid_credentials");
    let unknown = app.try_login("nobody@example.com", PASSWORD).await;
    assert_error(&unknown, StatusCode::UNAUTHORIZED, "invalid_credentials");
    assert_eq!(
        wrong.body["error"]["message"],
        unknown.body["error"]["message"]
    );

    let anonymous = app.send(app.get("/api/me")).await;
    assert_error(&anonymous, StatusCode::UNAUTHORIZED, "unauthenticated");
}

#[actix_web::test]
async fn refresh_rotates_and_reuse_revokes_the_whole_family() {
    let app = spawn_app().await;
    let first = app.register("rotate@example.com").await;

    let reply = app.try_refresh(&first.refresh).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let second = crate::helpers::tokens_of(&reply.body).expect("tokens");
    assert_eq!(second.user_id, first.user_id);
    assert_ne!(second.refresh, first.refresh);
    assert_eq!(
        app.get_as("/api/me", &second.access).await.status,
        StatusCode::OK
    );

    // The refresh cookie works as well as the body.
    let reply = app
        .send(
            app.post_json("/api/auth/refresh", &json!({}))
                .header("cookie", format!("refresh_token={}", second.refresh))
                .header("origin", &app.address),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    // A page gets its tokens as cookies only.
    assert!(reply.body.get("access_token").is_none(), "{reply:?}");
    assert!(reply.body.get("refresh_token").is_none(), "{reply:?}");
    let cookie = |name: &str| {
        reply
            .headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|c| c.strip_prefix(&format!("{name}=")))
            .and_then(|c| c.split(';').next())
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("no {name} cookie: {reply:?}"))
    };
    let third = crate::helpers::Tokens {
        access: cookie("access_token"),
        refresh: cookie("refresh_token"),
        ..second.clone()
    };
    // Another site's page cannot use the cookie.
    let forged = app
        .send(
            app.post_json("/api/auth/refresh", &json!({}))
                .header("cookie", format!("refresh_token={}", third.refresh))
                .header("origin", "https://evil.example"),
        )
        .await;
    assert_error(&forged, StatusCode::FORBIDDEN, "cross_origin");

    // Presenting a used-up token is theft or a bug: the family is revoked, newest token too.
    let reused = app.try_refresh(&first.refresh).await;
    assert_error(&reused, StatusCode::UNAUTHORIZED, "refresh_token_reused");
    let newest = app.try_refresh(&third.refresh).await;
    assert_error(&newest, StatusCode::UNAUTHORIZED, "refresh_token_reused");

    // Other sessions of the same user are untouched.
    let other = app.login("rotate@example.com").await;
    assert_eq!(app.try_refresh(&other.refresh).await.status, StatusCode::OK);

    for junk in ["", "nonsense", "rt_not-a-real-token"] {
        let reply = app.try_refresh(junk).await;
        assert_eq!(
            reply.status,
            StatusCode::UNAUTHORIZED,
            "{junk:?}: {reply:?}"
        );
    }
}

#[actix_web::test]
async fn logout_revokes_the_session_and_clears_the_cookies() {
    let app = spawn_app().await;
    let tokens = app.register("bye@example.com").await;
    let reply = app
        .send(app.post_json(
            "/api/auth/logout",
            &json!({ "refresh_token": tokens.refresh }),
        ))
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{reply:?}");
    let cleared: Vec<&str> = reply
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert_eq!(cleared.len(), 2, "{cleared:?}");
    assert!(cleared
        .iter()
        .all(|c| c.contains("Max-Age=0") || c.contains("Expires=")));

    let after = app.try_refresh(&tokens.refresh).await;
    assert_error(&after, StatusCode::UNAUTHORIZED, "invalid_token");
    // Logging out twice is fine.
    let again = app
        .send(app.post_json(
            "/api/auth/logout",
            &json!({ "refresh_token": tokens.refresh }),
        ))
        .await;
    assert_eq!(again.status, StatusCode::NO_CONTENT, "{again:?}");
}

#[actix_web::test]
async fn api_keys_are_shown_once_work_as_bearer_and_stop_when_revoked() {
    let app = spawn_app().await;
    let owner = app.register("keys@example.com").await;
    let reply = app
        .call_as(
            Method::POST,
            "/api/me/api-keys",
            &owner.access,
            Some(&json!({ "name": "CI uploader" })),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let key = reply.body["key"].as_str().expect("key").to_owned();
    let prefix = reply.body["prefix"].as_str().expect("prefix").to_owned();
    let key_id: Uuid = reply.body["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("id");
    assert!(key.starts_with("tsk_"), "{key}");
    assert!(
        key.starts_with(&prefix) && prefix.len() < key.len(),
        "{prefix}"
    );
    assert_eq!(reply.body["name"], "CI uploader");

    let me = app.get_as("/api/me", &key).await;
    assert_eq!(me.status, StatusCode::OK, "{me:?}");
    assert_eq!(me.body["id"], owner.user_id.to_string());

    // The listing shows the prefix, never the key, and records the use.
    let listed = eventually("the key's use is recorded", || async {
        let list = app.get_as("/api/me/api-keys", &owner.access).await;
        assert_eq!(list.status, StatusCode::OK, "{list:?}");
        let k = list.body["api_keys"]
            .as_array()?
            .iter()
            .find(|k| k["id"] == key_id.to_string())?
            .clone();
        (!k["last_used_at"].is_null()).then_some((list.body, k))
    })
    .await;
    let (list, listed) = listed;
    assert_eq!(listed["prefix"], prefix.as_str());
    assert_eq!(listed["name"], "CI uploader");
    assert!(listed["revoked_at"].is_null());
    assert!(listed.get("key").is_none());
    let secret_part = &key[prefix.len()..];
    assert!(
        !list.to_string().contains(secret_part),
        "the listing leaks the key"
    );

    // Someone else's key id is "not found", and the key survives the attempt.
    let other = app.register("other@example.com").await;
    let path = format!("/api/me/api-keys/{key_id}");
    let reply = app
        .call_as(Method::DELETE, &path, &other.access, None)
        .await;
    assert_error(&reply, StatusCode::NOT_FOUND, "not_found");
    let unknown = format!("/api/me/api-keys/{}", Uuid::new_v4());
    let reply = app
        .call_as(Method::DELETE, &unknown, &owner.access, None)
        .await;
    assert_error(&reply, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(app.get_as("/api/me", &key).await.status, StatusCode::OK);

    let reply = app
        .call_as(Method::DELETE, &path, &owner.access, None)
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{reply:?}");
    let refused = app.get_as("/api/me", &key).await;
    assert_error(&refused, StatusCode::UNAUTHORIZED, "invalid_token");
    let again = app
        .call_as(Method::DELETE, &path, &owner.access, None)
        .await;
    assert_eq!(
        again.status,
        StatusCode::NO_CONTENT,
        "revoking twice is fine"
    );
    eventually("the listing shows the revocation", || async {
        let list = app.get_as("/api/me/api-keys", &owner.access).await;
        let k = list.body["api_keys"]
            .as_array()?
            .iter()
            .find(|k| k["id"] == key_id.to_string())?
            .clone();
        (!k["revoked_at"].is_null()).then_some(())
    })
    .await;

    // A key that was never issued, and a tampered one, are refused.
    let forged = format!("{}{}", &key[..key.len() - 4], "AAAA");
    for bad in [
        forged,
        format!("tsk_{}_{}", Uuid::new_v4().simple(), "A".repeat(43)),
    ] {
        let reply = app.get_as("/api/me", &bad).await;
        assert_error(&reply, StatusCode::UNAUTHORIZED, "invalid_token");
    }
}

async fn post_raw(app: &TestApp, path: &str, content_type: &str, body: String) -> Reply {
    app.send(
        app.request(Method::POST, path)
            .header("content-type", content_type)
            .body(body),
    )
    .await
}

#[actix_web::test]
async fn bad_input_gets_stable_codes() {
    let app = spawn_app().await;
    let register = "/api/auth/register";

    let reply = post_raw(&app, register, "application/json", "{\"email\": ".into()).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_json");
    let reply = post_raw(&app, register, "application/json", "[1, 2]".into()).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_json");

    let mut unknown = registration("x@example.com", PASSWORD);
    unknown["role"] = json!("admin");
    let reply = app.send(app.post_json(register, &unknown)).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_json");
    assert_eq!(reply.body["error"]["field"], "role");

    let reply = app
        .send(app.post_json(register, &json!({ "email": "x@example.com" })))
        .await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_json");

    // Values are never echoed back in errors.
    let reply = post_raw(
        &app,
        register,
        "application/json",
        r#"{"email":"x@example.com","password":12345678901,"display_name":"x"}"#.into(),
    )
    .await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_json");
    assert!(!reply.body.to_string().contains("12345678901"));

    let mut long_name = registration("x@example.com", PASSWORD);
    long_name["display_name"] = json!("n".repeat(101));
    let reply = app.send(app.post_json(register, &long_name)).await;
    assert_error(
        &reply,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert_eq!(reply.body["error"]["field"], "display_name");

    let long_email = format!("{}@example.com", "e".repeat(250));
    for (email, why) in [
        (long_email.as_str(), "too long"),
        ("not-an-email", "no @"),
        ("a@b", "no dot in the domain"),
    ] {
        let reply = app
            .send(app.post_json(register, &registration(email, PASSWORD)))
            .await;
        assert_error(&reply, StatusCode::UNPROCESSABLE_ENTITY, "invalid_email");
        assert_eq!(reply.body["error"]["field"], "email", "{why}");
    }

    for weak in ["short1A", "password12345", "qwertyuiop123", "X@Example.com"] {
        let mut body = registration("x@example.com", PASSWORD);
        body["password"] = json!(weak);
        let reply = app.send(app.post_json(register, &body)).await;
        assert_error(&reply, StatusCode::UNPROCESSABLE_ENTITY, "weak_password");
        assert!(
            !reply.body.to_string().contains(weak),
            "the password is echoed"
        );
    }

    // Nothing above created an account.
    let first = app.register("dup@example.com").await;
    let reply = app
        .send(app.post_json(register, &registration(" DUP@Example.COM ", PASSWORD)))
        .await;
    assert_error(&reply, StatusCode::CONFLICT, "email_taken");
    assert_eq!(app.login("dup@example.com").await.user_id, first.user_id);

    let reply = post_raw(
        &app,
        register,
        "text/plain",
        registration("y@example.com", PASSWORD).to_string(),
    )
    .await;
    assert_error(
        &reply,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );

    let mut huge = registration("y@example.com", PASSWORD);
    huge["display_name"] = json!("h".repeat(64 * 1024));
    let reply = app.send(app.post_json(register, &huge)).await;
    assert_error(&reply, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    // Other routes have their own, smaller limit.
    let reply = app
        .call_as(
            Method::POST,
            "/api/me/api-keys",
            &first.access,
            Some(&json!({ "name": "k".repeat(8 * 1024) })),
        )
        .await;
    assert_error(&reply, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    let reply = app
        .call_as(
            Method::POST,
            "/api/me/api-keys",
            &first.access,
            Some(&json!({ "name": "k".repeat(101) })),
        )
        .await;
    assert_error(
        &reply,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert_eq!(reply.body["error"]["field"], "name");
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

fn claims(sub: Uuid, exp_offset: i64) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({
        "sub": sub, "role": "user", "iat": now - 5, "exp": now + exp_offset,
        "iss": "tessera", "aud": "tessera-api", "jti": Uuid::new_v4(),
    })
}

fn hs256(claims: &Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("sign")
}

#[actix_web::test]
async fn forged_expired_and_wrong_algorithm_tokens_are_refused() {
    let app = spawn_app().await;
    let user = app.register("tokens@example.com").await;

    // A token crafted with the app's secret works: each refusal below is about its one defect.
    let good = hs256(&claims(user.user_id, 600), SECRET);
    assert_eq!(app.get_as("/api/me", &good).await.status, StatusCode::OK);

    let parts: Vec<&str> = user.access.split('.').collect();
    assert_eq!(parts.len(), 3);
    let other_secret = hs256(
        &claims(user.user_id, 600),
        "another-secret-another-secret-0123",
    );
    let other_signature = other_secret.rsplit('.').next().expect("signature");
    let mut elevated = claims(user.user_id, 600);
    elevated["role"] = json!("admin");
    let rsa = EncodingKey::from_rsa_pem(TEST_RSA_KEY.as_bytes()).expect("test RSA key");
    let rs256 = jsonwebtoken::encode(
        &Header::new(Algorithm::RS256),
        &claims(user.user_id, 600),
        &rsa,
    )
    .expect("RS256 sign");
    let hmac_claiming_rs256 = {
        let message = format!(
            "{}.{}",
            b64(&json!({ "alg": "RS256", "typ": "JWT" })),
            b64(&claims(user.user_id, 600))
        );
        let signature = jsonwebtoken::crypto::sign(
            message.as_bytes(),
            &EncodingKey::from_secret(SECRET.as_bytes()),
            Algorithm::HS256,
        )
        .expect("sign");
        format!("{message}.{signature}")
    };

    let cases = [
        (
            "signature replaced",
            format!("{}.{}.{other_signature}", parts[0], parts[1]),
            "invalid_token",
        ),
        (
            "claims changed under the old signature",
            format!("{}.{}.{}", parts[0], b64(&elevated), parts[2]),
            "invalid_token",
        ),
        (
            "signed with another secret",
            other_secret.clone(),
            "invalid_token",
        ),
        (
            "alg none",
            format!(
                "{}.{}.",
                b64(&json!({ "alg": "none", "typ": "JWT" })),
                b64(&claims(user.user_id, 600))
            ),
            "invalid_token",
        ),
        ("RS256 signed", rs256, "invalid_token"),
        (
            "RS256 header, HMAC signature",
            hmac_claiming_rs256,
            "invalid_token",
        ),
        (
            "expired",
            hs256(&claims(user.user_id, -60), SECRET),
            "token_expired",
        ),
        (
            "unknown user",
            hs256(&claims(Uuid::now_v7(), 600), SECRET),
            "invalid_token",
        ),
        ("not a JWT", "not.a.jwt".to_owned(), "invalid_token"),
    ];
    for (what, token, code) in cases {
        let reply = app.get_as("/api/me", &token).await;
        assert_eq!(
            (reply.status, reply.code()),
            (StatusCode::UNAUTHORIZED, code),
            "{what}: {:?}",
            reply.body
        );
        // The cookie path refuses them the same way.
        let reply = app
            .send(
                app.get("/api/me")
                    .header("cookie", format!("access_token={token}")),
            )
            .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{what} (cookie)");
    }

    let reply = app
        .send(
            app.get("/api/me")
                .header("authorization", format!("Basic {}", user.access)),
        )
        .await;
    assert_error(&reply, StatusCode::UNAUTHORIZED, "invalid_token");
}

#[actix_web::test]
async fn failed_logins_are_throttled_with_retry_after() {
    let app = spawn_app_with(&[("auth.login_attempts_per_account", "3")]).await;
    app.register("victim@example.com").await;
    for attempt in 1..=3 {
        let reply = app
            .try_login("victim@example.com", "Wrong-Password-1")
            .await;
        assert_error(&reply, StatusCode::UNAUTHORIZED, "invalid_credentials");
        assert!(reply.header("retry-after").is_none(), "attempt {attempt}");
    }
    for password in ["Wrong-Password-1", PASSWORD] {
        let reply = app.try_login("Victim@Example.com", password).await;
        assert_error(&reply, StatusCode::TOO_MANY_REQUESTS, "login_throttled");
        let retry: u64 = reply
            .header("retry-after")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no Retry-After: {reply:?}"));
        assert!((1..=300).contains(&retry), "{retry}");
    }
    // Another account is not throttled by this one's failures.
    app.register("bystander@example.com").await;
    assert_eq!(
        app.try_login("bystander@example.com", PASSWORD)
            .await
            .status,
        StatusCode::OK
    );
}

/// Each sign-up costs a password hash: an address may open only so many accounts per window.
#[actix_web::test]
async fn sign_ups_are_throttled_per_address() {
    let app = spawn_app_with(&[("auth.registrations_per_address", "2")]).await;
    app.register("first@example.com").await;
    app.register("second@example.com").await;
    let reply = app
        .send(app.post_json(
            "/api/auth/register",
            &crate::helpers::registration("third@example.com", PASSWORD),
        ))
        .await;
    assert_error(
        &reply,
        StatusCode::TOO_MANY_REQUESTS,
        "registration_throttled",
    );
    let retry: u64 = reply
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!(retry > 0 && retry <= 300, "{retry}");
    // Nothing was written for the refused sign-up.
    assert_eq!(
        app.try_login("third@example.com", crate::helpers::PASSWORD)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}
