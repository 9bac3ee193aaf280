//! The auth, me and admin routes over HTTP (actix's in-process test server), with the bad input
//! of issue 2: each case gets its stable error code.

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::{test, web, App};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::SecretString;
use serde_json::{json, Value};
use tessera::auth::AuthService;
use tessera::config::AuthSettings;
use tessera::routes;
use tessera_testkit::auth::{
    project, quotas, service, service_with, settings, AUTH_SECRET as SECRET,
};
use tessera_testkit::TestDb;
use uuid::Uuid;

const PASSWORD: &str = "correct horse battery";

async fn app(
    auth: AuthService,
) -> impl Service<
    actix_http::Request,
    Response = ServiceResponse<impl MessageBody>,
    Error = actix_web::Error,
> {
    test::init_service(
        App::new()
            .app_data(web::Data::new(auth))
            .configure(routes::auth::configure)
            .configure(routes::me::configure)
            .configure(routes::admin_users::configure),
    )
    .await
}

/// Sends a request; returns status, headers and the JSON body (Null when empty).
async fn send<S, B>(
    app: &S,
    req: test::TestRequest,
) -> (StatusCode, actix_web::http::header::HeaderMap, Value)
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let res = test::call_service(app, req.to_request()).await;
    let status = res.status();
    let headers = res.headers().clone();
    let body = test::read_body(res).await;
    let json = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body)
            .unwrap_or_else(|_| json!({ "raw": String::from_utf8_lossy(&body) }))
    };
    (status, headers, json)
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<none>")
}

fn post_json(path: &str, body: Value) -> test::TestRequest {
    test::TestRequest::post().uri(path).set_json(body)
}

fn bearer(req: test::TestRequest, token: &str) -> test::TestRequest {
    req.insert_header(("Authorization", format!("Bearer {token}")))
}

fn register_body(email: &str) -> Value {
    json!({ "email": email, "password": PASSWORD, "display_name": "Someone" })
}

async fn register<S, B>(app: &S, email: &str) -> Value
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let (status, _, body) = send(app, post_json("/api/auth/register", register_body(email))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

fn claims(sub: &str, exp_offset: i64) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({ "sub": sub, "role": "admin", "iat": now, "exp": now + exp_offset, "iss": "tessera",
            "aud": "tessera-api", "jti": Uuid::new_v4() })
}

fn hs_signed(header: Value, claims: &Value, secret: &str) -> String {
    let message = format!("{}.{}", b64(&header), b64(claims));
    let sig = jsonwebtoken::crypto::sign(
        message.as_bytes(),
        &EncodingKey::from_secret(secret.as_bytes()),
        Algorithm::HS256,
    )
    .expect("sign");
    format!("{message}.{sig}")
}

#[actix_web::test]
async fn malformed_bodies_get_stable_codes() {
    let db = TestDb::new().await;
    let app = app(service(&db)).await;

    let malformed = test::TestRequest::post()
        .uri("/api/auth/register")
        .insert_header(("content-type", "application/json"))
        .set_payload("{\"email\": \"a@example.com\",");
    let (status, _, body) = send(&app, malformed).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_json")
    );

    let mut unknown = register_body("a@example.com");
    unknown["role"] = json!("admin");
    let (status, _, body) = send(&app, post_json("/api/auth/register", unknown)).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_json")
    );
    assert_eq!(body["error"]["field"], "role");

    let (status, _, body) = send(
        &app,
        post_json("/api/auth/login", json!({ "email": "a@example.com" })),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_json")
    );
    assert_eq!(body["error"]["field"], "password");

    let wrong_type = test::TestRequest::post()
        .uri("/api/auth/login")
        .insert_header(("content-type", "text/plain"))
        .set_payload(register_body("a@example.com").to_string());
    let (status, _, body) = send(&app, wrong_type).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
    );

    let huge =
        json!({ "email": "a@example.com", "password": "x".repeat(20_000), "display_name": "n" });
    let (status, _, body) = send(&app, post_json("/api/auth/register", huge)).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
    );

    // A value of the wrong type is refused without being echoed.
    let (status, _, body) = send(
        &app,
        post_json(
            "/api/auth/login",
            json!({ "email": "a@example.com", "password": 1234567890123_u64 }),
        ),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_json")
    );
    assert!(!body.to_string().contains("1234567890123"));
}

#[actix_web::test]
async fn registration_input_is_validated_with_stable_codes() {
    let db = TestDb::new().await;
    let app = app(service(&db)).await;
    let cases = [
        (
            register_body("not-an-email"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_email",
            "email",
        ),
        (
            register_body(&format!("{}@example.com", "a".repeat(250))),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_email",
            "email",
        ),
        (
            json!({ "email": "w@example.com", "password": "password", "display_name": "W" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "weak_password",
            "password",
        ),
        (
            json!({ "email": "w@example.com", "password": "password12345", "display_name": "W" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "weak_password",
            "password",
        ),
        (
            json!({ "email": "w@example.com", "password": format!("A{}", "a".repeat(300)), "display_name": "W" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "password",
        ),
        (
            json!({ "email": "w@example.com", "password": PASSWORD, "display_name": "n".repeat(101) }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "display_name",
        ),
    ];
    for (body, want_status, want_code, want_field) in cases {
        let (status, _, res) = send(&app, post_json("/api/auth/register", body.clone())).await;
        assert_eq!((status, code(&res)), (want_status, want_code), "{body}");
        assert_eq!(res["error"]["field"], want_field, "{body}");
    }

    register(&app, "dup@example.com").await;
    let (status, _, body) = send(
        &app,
        post_json("/api/auth/register", register_body("DUP@example.com")),
    )
    .await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "email_taken"));
}

#[actix_web::test]
async fn closed_registration_is_forbidden() {
    let db = TestDb::new().await;
    let app = app(service_with(
        &db,
        AuthSettings {
            open_registration: false,
            max_api_keys: 25,
            ..settings()
        },
        quotas(),
    ))
    .await;
    let (status, _, body) = send(
        &app,
        post_json("/api/auth/register", register_body("a@example.com")),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::FORBIDDEN, "registration_closed")
    );
}

#[actix_web::test]
async fn tokens_sign_in_by_header_and_cookie_and_bad_tokens_are_refused() {
    let db = TestDb::new().await;
    let app = app(service(&db)).await;
    // The read-model schemas exist once the projector runtime has started.
    project(&db).await;
    let reg = register(&app, "me@example.com").await;
    let access = reg["access_token"]
        .as_str()
        .expect("access token")
        .to_owned();
    let user_id = reg["user_id"].as_str().expect("id").to_owned();
    assert_eq!(reg["token_type"], "Bearer");
    assert!(reg["expires_in"]
        .as_i64()
        .is_some_and(|s| s > 0 && s <= 900));

    // Login sets HttpOnly, SameSite=Strict cookies and forbids caching.
    let (status, headers, login) = send(
        &app,
        post_json(
            "/api/auth/login",
            json!({ "email": "me@example.com", "password": PASSWORD }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers.get("cache-control").map(|v| v.as_bytes()),
        Some(&b"no-store"[..])
    );
    let cookies: Vec<String> = headers
        .get_all("set-cookie")
        .map(|v| v.to_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(cookies.len(), 2, "{cookies:?}");
    assert!(cookies
        .iter()
        .all(|c| c.contains("HttpOnly") && c.contains("SameSite=Strict")));
    assert!(cookies
        .iter()
        .any(|c| c.starts_with("refresh_token=") && c.contains("Path=/api/auth")));

    let (status, _, me) = send(
        &app,
        bearer(test::TestRequest::get().uri("/api/me"), &access),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["id"], user_id.as_str());
    assert_eq!(me["email"], "me@example.com");
    assert_eq!(me["role"], "user");
    assert_eq!(
        me["quota"],
        json!({ "storage_bytes": 1000, "uploads_per_day": 10, "processing_seconds_per_day": 60 })
    );

    let cookie_access = login["access_token"].as_str().expect("token");
    let (status, _, _) = send(
        &app,
        test::TestRequest::get()
            .uri("/api/me")
            .cookie(actix_web::cookie::Cookie::new(
                "access_token",
                cookie_access,
            )),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let (status, _, body) = send(&app, test::TestRequest::get().uri("/api/me")).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "unauthenticated")
    );

    let c = claims(&user_id, 600);
    let bad_tokens = [
        ("garbage", "not.a.jwt".to_owned(), "invalid_token"),
        (
            "wrong secret",
            hs_signed(
                json!({"alg": "HS256"}),
                &c,
                "some-other-secret-some-other-secret",
            ),
            "invalid_token",
        ),
        (
            "alg none",
            format!(
                "{}.{}.",
                b64(&json!({"alg": "none", "typ": "JWT"})),
                b64(&c)
            ),
            "invalid_token",
        ),
        (
            "RS256 header, HMAC signature",
            hs_signed(json!({"alg": "RS256", "typ": "JWT"}), &c, SECRET),
            "invalid_token",
        ),
        (
            "expired",
            hs_signed(json!({"alg": "HS256"}), &claims(&user_id, -10), SECRET),
            "token_expired",
        ),
        (
            "unknown user",
            hs_signed(
                json!({"alg": "HS256"}),
                &claims(&Uuid::now_v7().to_string(), 600),
                SECRET,
            ),
            "invalid_token",
        ),
        (
            "unknown api key",
            format!("tsk_{}_{}", Uuid::new_v4().simple(), "A".repeat(43)),
            "invalid_token",
        ),
    ];
    for (what, token, want) in bad_tokens {
        let (status, _, body) = send(
            &app,
            bearer(test::TestRequest::get().uri("/api/me"), &token),
        )
        .await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::UNAUTHORIZED, want),
            "{what}"
        );
    }
    // A forged token signed with our secret works only because it *is* ours: proves the
    // refusals above are about their one defect.
    let ours = hs_signed(json!({"alg": "HS256"}), &c, SECRET);
    let (status, _, body) =
        send(&app, bearer(test::TestRequest::get().uri("/api/me"), &ours)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["role"], "user",
        "the current role counts, not the token's claim"
    );

    let (status, _, body) = send(
        &app,
        test::TestRequest::get()
            .uri("/api/me")
            .insert_header(("Authorization", format!("Basic {access}"))),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );

    let _ = jsonwebtoken::encode(&Header::default(), &c, &EncodingKey::from_secret(b"x"));
}

#[actix_web::test]
async fn a_reused_refresh_token_revokes_the_family() {
    let db = TestDb::new().await;
    let app = app(service(&db)).await;
    let reg = register(&app, "r@example.com").await;
    let t1 = reg["refresh_token"].as_str().expect("t1").to_owned();

    let (status, _, rotated) = send(
        &app,
        post_json("/api/auth/refresh", json!({ "refresh_token": t1 })),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let t2 = rotated["refresh_token"].as_str().expect("t2").to_owned();

    let (status, _, body) = send(
        &app,
        post_json("/api/auth/refresh", json!({ "refresh_token": t1 })),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "refresh_token_reused")
    );
    let (status, _, body) = send(
        &app,
        post_json("/api/auth/refresh", json!({ "refresh_token": t2 })),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "refresh_token_reused"),
        "the newest token dies too"
    );

    let (status, _, body) = send(
        &app,
        post_json("/api/auth/refresh", json!({ "refresh_token": "nonsense" })),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );
    let (status, _, body) = send(&app, post_json("/api/auth/refresh", json!({}))).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "unauthenticated")
    );

    // The cookie works as well, and logout revokes and clears.
    let (_, _, login) = send(
        &app,
        post_json(
            "/api/auth/login",
            json!({ "email": "r@example.com", "password": PASSWORD }),
        ),
    )
    .await;
    let t = login["refresh_token"].as_str().expect("t").to_owned();
    let cookie = actix_web::cookie::Cookie::new("refresh_token", t.clone());
    // (A page of this site: it names its origin, and gets the new tokens as cookies only.)
    let (status, headers, cookie_rotated) = send(
        &app,
        post_json("/api/auth/refresh", json!({}))
            .cookie(cookie)
            .insert_header(("origin", "http://localhost:8080")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{cookie_rotated}");
    assert!(cookie_rotated.get("refresh_token").is_none());
    let t_new = headers
        .get_all("set-cookie")
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix("refresh_token="))
        .and_then(|c| c.split(';').next())
        .expect("the new refresh cookie")
        .to_owned();
    let (status, headers, _) = send(
        &app,
        post_json("/api/auth/logout", json!({ "refresh_token": t_new })),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(headers
        .get_all("set-cookie")
        .all(|v| v.to_str().unwrap_or_default().contains("Max-Age=0")));
    let (status, _, body) = send(
        &app,
        post_json("/api/auth/refresh", json!({ "refresh_token": t_new })),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );
    let (status, _, _) = send(&app, post_json("/api/auth/logout", json!({}))).await;
    assert_eq!(
        status,
        StatusCode::NO_CONTENT,
        "logging out without a token just clears cookies"
    );
}

#[actix_web::test]
async fn login_failures_are_throttled_with_retry_after() {
    let db = TestDb::new().await;
    let app = app(service(&db)).await;
    register(&app, "t@example.com").await;
    for _ in 0..3 {
        let (status, _, body) = send(
            &app,
            post_json(
                "/api/auth/login",
                json!({ "email": "t@example.com", "password": "wrong password 1" }),
            ),
        )
        .await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::UNAUTHORIZED, "invalid_credentials")
        );
    }
    let (status, headers, body) = send(
        &app,
        post_json(
            "/api/auth/login",
            json!({ "email": "t@example.com", "password": PASSWORD }),
        ),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::TOO_MANY_REQUESTS, "login_throttled")
    );
    let retry: u64 = headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=300).contains(&retry));
}

#[actix_web::test]
async fn api_keys_belong_to_their_owner_and_others_get_not_found() {
    let db = TestDb::new().await;
    let app = app(service(&db)).await;
    // The read-model schemas exist once the projector runtime has started.
    project(&db).await;
    let alice = register(&app, "alice@example.com").await;
    let bob = register(&app, "bob@example.com").await;
    let alice_token = alice["access_token"].as_str().expect("t");
    let bob_token = bob["access_token"].as_str().expect("t");

    let (status, headers, created) = send(
        &app,
        bearer(
            post_json("/api/me/api-keys", json!({ "name": "laptop" })),
            alice_token,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(
        headers.get("cache-control").map(|v| v.as_bytes()),
        Some(&b"no-store"[..])
    );
    let key = created["key"].as_str().expect("key").to_owned();
    let key_id = created["id"].as_str().expect("id").to_owned();

    // The key signs in as Alice.
    let (status, _, me) = send(&app, bearer(test::TestRequest::get().uri("/api/me"), &key)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["email"], "alice@example.com");

    let (status, _, body) = send(
        &app,
        bearer(
            post_json("/api/me/api-keys", json!({ "name": "" })),
            alice_token,
        ),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
    );
    let (status, _, body) = send(
        &app,
        bearer(
            post_json("/api/me/api-keys", json!({ "name": "n".repeat(101) })),
            alice_token,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, _, body) = send(
        &app,
        bearer(
            post_json("/api/me/api-keys", json!({ "name": "x", "scope": "all" })),
            alice_token,
        ),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_json")
    );

    // Bob cannot see or revoke it: 404, never 403.
    let path = format!("/api/me/api-keys/{key_id}");
    let (status, _, body) = send(
        &app,
        bearer(test::TestRequest::delete().uri(&path), bob_token),
    )
    .await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    let (status, _, body) = send(
        &app,
        bearer(
            test::TestRequest::delete().uri("/api/me/api-keys/not-a-uuid"),
            bob_token,
        ),
    )
    .await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    project(&db).await;
    let (status, _, list) = send(
        &app,
        bearer(test::TestRequest::get().uri("/api/me/api-keys"), bob_token),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["api_keys"], json!([]));
    let (_, _, list) = send(
        &app,
        bearer(
            test::TestRequest::get().uri("/api/me/api-keys"),
            alice_token,
        ),
    )
    .await;
    assert_eq!(list["api_keys"][0]["id"], key_id.as_str());
    assert!(
        list["api_keys"][0].get("key").is_none(),
        "the key itself is never listed"
    );

    let (status, _, _) = send(
        &app,
        bearer(test::TestRequest::delete().uri(&path), alice_token),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, body) = send(&app, bearer(test::TestRequest::get().uri("/api/me"), &key)).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );
}

#[actix_web::test]
async fn admin_routes_need_the_admin_role_and_apply_their_rules() {
    let db = TestDb::new().await;
    let auth = service(&db);
    let admin_id = auth
        .create_admin("root@example.com", SecretString::from(PASSWORD), "Root")
        .await
        .expect("admin");
    let app = app(auth).await;
    let (_, _, admin) = send(
        &app,
        post_json(
            "/api/auth/login",
            json!({ "email": "root@example.com", "password": PASSWORD }),
        ),
    )
    .await;
    let admin_token = admin["access_token"].as_str().expect("t").to_owned();
    let user = register(&app, "u@example.com").await;
    let user_token = user["access_token"].as_str().expect("t").to_owned();
    let user_id = user["user_id"].as_str().expect("id").to_owned();
    project(&db).await;

    let (status, _, body) = send(
        &app,
        bearer(
            test::TestRequest::get().uri("/api/admin/users"),
            &user_token,
        ),
    )
    .await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"));
    let (status, _, body) = send(&app, test::TestRequest::get().uri("/api/admin/users")).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "unauthenticated")
    );

    let (status, _, page) = send(
        &app,
        bearer(
            test::TestRequest::get().uri("/api/admin/users?limit=1"),
            &admin_token,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["users"].as_array().map(Vec::len), Some(1));
    let next = page["next_after"].as_str().expect("more pages").to_owned();
    let (_, _, page2) = send(
        &app,
        bearer(
            test::TestRequest::get().uri(&format!("/api/admin/users?limit=1&after={next}")),
            &admin_token,
        ),
    )
    .await;
    assert_eq!(page2["users"][0]["email"], "u@example.com");
    for bad in [
        "/api/admin/users?limit=abc",
        "/api/admin/users?after=nope",
        "/api/admin/users?sort=name",
    ] {
        let (status, _, body) = send(
            &app,
            bearer(test::TestRequest::get().uri(bad), &admin_token),
        )
        .await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::BAD_REQUEST, "invalid_query"),
            "{bad}"
        );
    }

    // Quota, then the user's profile shows it over the defaults.
    let quota_path = format!("/api/admin/users/{user_id}/quota");
    let (status, _, body) = send(
        &app,
        bearer(
            test::TestRequest::put()
                .uri(&quota_path)
                .set_json(json!({ "uploads_per_day": 3 })),
            &admin_token,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, _, body) = send(
        &app,
        bearer(
            test::TestRequest::put()
                .uri(&quota_path)
                .set_json(json!({ "uploads": 3 })),
            &admin_token,
        ),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_json")
    );
    project(&db).await;
    let (_, _, me) = send(
        &app,
        bearer(test::TestRequest::get().uri("/api/me"), &user_token),
    )
    .await;
    assert_eq!(me["quota"]["uploads_per_day"], 3);
    assert_eq!(me["quota"]["storage_bytes"], 1000);

    let role_path = format!("/api/admin/users/{user_id}/role");
    let (status, _, body) = send(
        &app,
        bearer(
            test::TestRequest::put()
                .uri(&role_path)
                .set_json(json!({ "role": "superuser" })),
            &admin_token,
        ),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_json")
    );

    // Disabling shuts the user out at once.
    let (status, _, _) = send(
        &app,
        bearer(
            test::TestRequest::post().uri(&format!("/api/admin/users/{user_id}/disable")),
            &admin_token,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, body) = send(
        &app,
        bearer(test::TestRequest::get().uri("/api/me"), &user_token),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::FORBIDDEN, "account_disabled")
    );
    let (status, _, body) = send(
        &app,
        post_json(
            "/api/auth/login",
            json!({ "email": "u@example.com", "password": PASSWORD }),
        ),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::FORBIDDEN, "account_disabled")
    );
    let (status, _, _) = send(
        &app,
        bearer(
            test::TestRequest::post().uri(&format!("/api/admin/users/{user_id}/enable")),
            &admin_token,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // Enabled again, but the token from before stays ended.
    let (status, _, body) = send(
        &app,
        bearer(test::TestRequest::get().uri("/api/me"), &user_token),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "session_ended")
    );

    // The last admin may not lock themselves out.
    for (req, what) in [
        (
            test::TestRequest::post().uri(&format!("/api/admin/users/{admin_id}/disable")),
            "disable",
        ),
        (
            test::TestRequest::put()
                .uri(&format!("/api/admin/users/{admin_id}/role"))
                .set_json(json!({ "role": "user" })),
            "demote",
        ),
    ] {
        let (status, _, body) = send(&app, bearer(req, &admin_token)).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::CONFLICT, "last_admin"),
            "{what}"
        );
    }

    for path in [
        format!("/api/admin/users/{}/disable", Uuid::now_v7()),
        "/api/admin/users/not-a-uuid/disable".to_owned(),
    ] {
        let (status, _, body) = send(
            &app,
            bearer(test::TestRequest::post().uri(&path), &admin_token),
        )
        .await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::NOT_FOUND, "not_found"),
            "{path}"
        );
    }
}

// `test` here is actix's module, so name the built-in attribute in full.
#[::core::prelude::v1::test]
fn every_route_is_in_the_openapi_parts() {
    let mut doc = routes::auth::openapi();
    doc.merge(routes::me::openapi());
    doc.merge(routes::admin_users::openapi());
    let paths: Vec<&String> = doc.paths.paths.keys().collect();
    for p in [
        "/api/auth/register",
        "/api/auth/login",
        "/api/auth/refresh",
        "/api/auth/logout",
        "/api/me",
        "/api/me/api-keys",
        "/api/me/api-keys/{id}",
        "/api/admin/users",
        "/api/admin/users/{id}/disable",
        "/api/admin/users/{id}/enable",
        "/api/admin/users/{id}/role",
        "/api/admin/users/{id}/quota",
    ] {
        assert!(
            paths.iter().any(|k| k.as_str() == p),
            "{p} missing from {paths:?}"
        );
    }
    let schemas = doc.components.expect("components").schemas;
    for s in [
        "TokenResponse",
        "RegisterRequest",
        "MeResponse",
        "UserList",
        "ErrorBody",
    ] {
        assert!(schemas.contains_key(s), "{s}");
    }
}
