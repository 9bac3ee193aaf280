//! The admin API against the real application over real HTTP: who may use it, what each action
//! does to the target's access, the last-admin rule, and the projections endpoint.

use std::collections::BTreeSet;

use crate::helpers::{eventually, spawn_app, Reply, TestApp, Tokens, PASSWORD};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tessera_events::UserId;
use uuid::Uuid;

fn assert_error(reply: &Reply, status: StatusCode, code: &str) {
    assert_eq!(
        (reply.status, reply.code()),
        (status, code),
        "{:?}",
        reply.body
    );
}

/// Every admin operation on `target`, with a body where it takes one.
fn admin_calls(target: Uuid) -> Vec<(Method, String, Option<Value>)> {
    vec![
        (Method::GET, "/api/admin/users".into(), None),
        (
            Method::POST,
            format!("/api/admin/users/{target}/disable"),
            None,
        ),
        (
            Method::POST,
            format!("/api/admin/users/{target}/enable"),
            None,
        ),
        (
            Method::POST,
            format!("/api/admin/users/{target}/approve"),
            None,
        ),
        (
            Method::PUT,
            format!("/api/admin/users/{target}/role"),
            Some(json!({ "role": "admin" })),
        ),
        (
            Method::PUT,
            format!("/api/admin/users/{target}/quota"),
            Some(json!({ "storage_bytes": 1 })),
        ),
        (Method::GET, "/api/admin/projections".into(), None),
        (
            Method::POST,
            "/api/admin/projections/users/rebuild".into(),
            None,
        ),
    ]
}

async fn admin_call(app: &TestApp, who: &Tokens, action: &str, target: Uuid) -> Reply {
    let path = format!("/api/admin/users/{target}/{action}");
    app.call_as(Method::POST, &path, &who.access, None).await
}

async fn set_role(app: &TestApp, who: &Tokens, target: Uuid, role: &str) -> Reply {
    let path = format!("/api/admin/users/{target}/role");
    app.call_as(
        Method::PUT,
        &path,
        &who.access,
        Some(&json!({ "role": role })),
    )
    .await
}

async fn user_ids(app: &TestApp, admin: &Tokens) -> BTreeSet<String> {
    let reply = app
        .get_as("/api/admin/users?limit=100", &admin.access)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    reply.body["users"]
        .as_array()
        .expect("users")
        .iter()
        .map(|u| u["id"].as_str().expect("id").to_owned())
        .collect()
}

#[actix_web::test]
async fn non_admins_are_forbidden_everywhere_and_change_nothing() {
    let app = spawn_app().await;
    let admin = app.make_admin("root@example.com").await;
    let user = app.register("user@example.com").await;
    let (_, key) = app.create_api_key(&user.access, "mine").await;
    for credential in [&user.access, &key] {
        for (method, path, body) in admin_calls(admin.user_id) {
            let reply = app
                .call_as(method.clone(), &path, credential, body.as_ref())
                .await;
            assert_error(&reply, StatusCode::FORBIDDEN, "forbidden");
            assert!(reply.body["error"]["request_id"].is_string());
        }
    }
    // Without credentials: 401, not 403.
    for (method, path, body) in admin_calls(admin.user_id) {
        let mut request = app.request(method, &path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let reply = app.send(request).await;
        assert_error(&reply, StatusCode::UNAUTHORIZED, "unauthenticated");
    }
    // The admin was neither disabled nor demoted by any of it.
    assert_eq!(
        app.get_as("/api/admin/users", &admin.access).await.status,
        StatusCode::OK
    );
    let me = app.get_as("/api/me", &user.access).await;
    assert_eq!(me.body["role"], "user");
}

#[actix_web::test]
async fn admins_page_through_users() {
    let app = spawn_app().await;
    let admin = app.make_admin("root@example.com").await;
    let mut ids = BTreeSet::from([admin.user_id.to_string()]);
    for name in ["a", "b", "c", "d"] {
        ids.insert(
            app.register(&format!("{name}@example.com"))
                .await
                .user_id
                .to_string(),
        );
    }
    eventually("the users read model has everyone", || async {
        (user_ids(&app, &admin).await == ids).then_some(())
    })
    .await;

    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &after {
            Some(a) => format!("/api/admin/users?limit=2&after={a}"),
            None => "/api/admin/users?limit=2".to_owned(),
        };
        let reply = app.get_as(&path, &admin.access).await;
        assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
        let users = reply.body["users"].as_array().expect("users");
        assert!(users.len() <= 2, "{reply:?}");
        for u in users {
            assert!(u["email"]
                .as_str()
                .is_some_and(|e| e.ends_with("@example.com")));
            assert_eq!(u["disabled"], false);
            assert!(u.get("password_hash").is_none());
            seen.push(u["id"].as_str().expect("id").to_owned());
        }
        pages += 1;
        assert!(pages <= 4, "pagination does not end");
        match reply.body["next_after"].as_str() {
            Some(next) => {
                assert_eq!(Some(next), seen.last().map(String::as_str));
                after = Some(next.to_owned());
            }
            None => break,
        }
    }
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted, "pages come in id order");
    assert_eq!(seen.len(), 5, "no user twice, none missing: {seen:?}");
    assert_eq!(seen.into_iter().collect::<BTreeSet<_>>(), ids);

    let roles: Vec<Value> = app.get_as("/api/admin/users", &admin.access).await.body["users"]
        .as_array()
        .expect("users")
        .iter()
        .filter(|u| u["id"] == admin.user_id.to_string())
        .map(|u| u["role"].clone())
        .collect();
    assert_eq!(roles, vec![json!("admin")]);

    for bad in ["limit=abc", "after=not-a-uuid", "colour=blue"] {
        let reply = app
            .get_as(&format!("/api/admin/users?{bad}"), &admin.access)
            .await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_query");
    }
}

#[actix_web::test]
async fn disabling_a_user_cuts_every_way_in_and_enabling_restores_none_of_the_old_ones() {
    let app = spawn_app().await;
    let admin = app.make_admin("root@example.com").await;
    let user = app.register("target@example.com").await;
    let (_, key) = app.create_api_key(&user.access, "k").await;
    assert_eq!(app.get_as("/api/me", &key).await.status, StatusCode::OK);

    let reply = admin_call(&app, &admin, "disable", user.user_id).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{reply:?}");
    for credential in [&user.access, &key] {
        let reply = app.get_as("/api/me", credential).await;
        assert_error(&reply, StatusCode::FORBIDDEN, "account_disabled");
    }
    let reply = app.try_login("target@example.com", PASSWORD).await;
    assert_error(&reply, StatusCode::FORBIDDEN, "account_disabled");
    let reply = app.try_refresh(&user.refresh).await;
    assert_error(&reply, StatusCode::FORBIDDEN, "account_disabled");
    // A wrong password does not reveal that the account is disabled.
    let reply = app
        .try_login("target@example.com", "Wrong-Password-1")
        .await;
    assert_error(&reply, StatusCode::UNAUTHORIZED, "invalid_credentials");
    // Disabling twice is fine.
    let reply = admin_call(&app, &admin, "disable", user.user_id).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{reply:?}");
    eventually("the listing shows the user disabled", || async {
        let list = app.get_as("/api/admin/users", &admin.access).await;
        list.body["users"]
            .as_array()?
            .iter()
            .any(|u| u["id"] == user.user_id.to_string() && u["disabled"] == true)
            .then_some(())
    })
    .await;

    let reply = admin_call(&app, &admin, "enable", user.user_id).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{reply:?}");
    // The account is back; the sign-ins and keys it had before are not.
    for credential in [&user.access, &key] {
        let reply = app.get_as("/api/me", credential).await;
        assert_error(&reply, StatusCode::UNAUTHORIZED, "session_ended");
    }
    let reply = app.try_refresh(&user.refresh).await;
    assert_error(&reply, StatusCode::UNAUTHORIZED, "session_ended");
    let again = app.login("target@example.com").await;
    assert_eq!(app.try_refresh(&again.refresh).await.status, StatusCode::OK);
}

#[actix_web::test]
async fn roles_apply_at_once_and_the_last_admin_cannot_step_down() {
    let app = spawn_app().await;
    let root = app.make_admin("root@example.com").await;
    let user = app.register("promoted@example.com").await;
    app.projections_settled(&root.access).await;

    // The only admin cannot lock everyone out.
    let reply = set_role(&app, &root, root.user_id, "user").await;
    assert_error(&reply, StatusCode::CONFLICT, "last_admin");
    let reply = admin_call(&app, &root, "disable", root.user_id).await;
    assert_error(&reply, StatusCode::CONFLICT, "last_admin");
    assert_eq!(
        app.get_as("/api/admin/users", &root.access).await.status,
        StatusCode::OK
    );

    // Promotion works with the token the user already holds.
    assert_error(
        &app.get_as("/api/admin/users", &user.access).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    let reply = set_role(&app, &root, user.user_id, "admin").await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{reply:?}");
    assert_eq!(
        app.get_as("/api/admin/users", &user.access).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.get_as("/api/me", &user.access).await.body["role"],
        "admin"
    );

    // With a second admin (once the read model knows it), the first may step down.
    app.projections_settled(&root.access).await;
    let reply = set_role(&app, &root, root.user_id, "user").await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{reply:?}");
    assert_error(
        &app.get_as("/api/admin/users", &root.access).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    // ...and now the promoted one is the last admin.
    app.projections_settled(&user.access).await;
    let reply = admin_call(&app, &user, "disable", user.user_id).await;
    assert_error(&reply, StatusCode::CONFLICT, "last_admin");

    let reply = set_role(&app, &user, root.user_id, "superuser").await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_json");
}

#[actix_web::test]
async fn quotas_show_in_the_profile_with_defaults_for_unset_limits() {
    let app = spawn_app().await;
    let admin = app.make_admin("root@example.com").await;
    let user = app.register("quota@example.com").await;
    let path = format!("/api/admin/users/{}/quota", user.user_id);
    let quota_of = |body: &Value| body["quota"].clone();
    // Read the profile first, so a cached copy exists that the change must invalidate.
    eventually("the profile is readable", || async {
        let me = app.get_as("/api/me", &user.access).await;
        (me.status == StatusCode::OK).then_some(())
    })
    .await;
    let before = app.get_as("/api/me", &user.access).await;
    assert_eq!(
        before.body["quota"]["uploads_per_day"],
        json!(crate::helpers::DEFAULT_UPLOADS_PER_DAY)
    );

    let reply = app
        .call_as(
            Method::PUT,
            &path,
            &admin.access,
            Some(&json!({ "storage_bytes": 5_000, "uploads_per_day": 3 })),
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{reply:?}");
    let want = json!({
        "storage_bytes": 5_000,
        "uploads_per_day": 3,
        "processing_seconds_per_day": crate::helpers::DEFAULT_PROCESSING_SECONDS,
    });
    eventually("the profile shows the new quota", || async {
        let me = app.get_as("/api/me", &user.access).await;
        (quota_of(&me.body) == want).then_some(())
    })
    .await;

    // Setting again replaces the whole set: what is left out reverts to the default.
    let reply = app
        .call_as(
            Method::PUT,
            &path,
            &admin.access,
            Some(&json!({ "processing_seconds_per_day": 60 })),
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{reply:?}");
    let want = json!({
        "storage_bytes": crate::helpers::DEFAULT_STORAGE_BYTES,
        "uploads_per_day": crate::helpers::DEFAULT_UPLOADS_PER_DAY,
        "processing_seconds_per_day": 60,
    });
    eventually("the profile shows the replaced quota", || async {
        let me = app.get_as("/api/me", &user.access).await;
        (quota_of(&me.body) == want).then_some(())
    })
    .await;
    // Another user keeps the defaults.
    let me = app.get_as("/api/me", &admin.access).await;
    assert_eq!(
        me.body["quota"]["processing_seconds_per_day"],
        crate::helpers::DEFAULT_PROCESSING_SECONDS
    );

    for (body, status, code) in [
        (
            json!({ "storage_bytes": u64::MAX }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            json!({ "storage_bytes": -1 }),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            json!({ "disk": 1 }),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
    ] {
        let reply = app
            .call_as(Method::PUT, &path, &admin.access, Some(&body))
            .await;
        assert_error(&reply, status, code);
    }
}

#[actix_web::test]
async fn admin_actions_on_unknown_users_are_not_found() {
    let app = spawn_app().await;
    let admin = app.make_admin("root@example.com").await;
    let unknown = Uuid::now_v7();
    for (method, path, body) in admin_calls(unknown)
        .into_iter()
        .filter(|(_, p, _)| p.contains(&unknown.to_string()))
    {
        let reply = app
            .call_as(method.clone(), &path, &admin.access, body.as_ref())
            .await;
        assert_error(&reply, StatusCode::NOT_FOUND, "not_found");
        assert!(!reply.is_unknown_route(), "{method} {path}");
    }
    let reply = admin_call(&app, &admin, "disable", Uuid::nil()).await;
    assert_error(&reply, StatusCode::NOT_FOUND, "not_found");
    let reply = app
        .call_as(
            Method::POST,
            "/api/admin/users/not-a-uuid/disable",
            &admin.access,
            None,
        )
        .await;
    assert_error(&reply, StatusCode::NOT_FOUND, "not_found");
    // Nothing was created for the unknown ids.
    let ids = user_ids(&app, &admin).await;
    assert!(!ids.contains(&unknown.to_string()));
}

fn projection<'a>(view: &'a Value, name: &str) -> &'a Value {
    view["projections"]
        .as_array()
        .and_then(|all| all.iter().find(|p| p["name"] == name))
        .unwrap_or_else(|| panic!("no projection {name} in {view}"))
}

#[actix_web::test]
async fn projections_report_their_lag_and_rebuild_without_losing_users() {
    let app = spawn_app().await;
    let admin = app.make_admin("root@example.com").await;
    let mut ids = BTreeSet::from([admin.user_id.to_string()]);
    for name in ["p", "q", "r"] {
        let t = app.register(&format!("{name}@example.com")).await;
        app.create_api_key(&t.access, "k").await;
        ids.insert(t.user_id.to_string());
    }
    let view = app.projections_settled(&admin.access).await;
    assert_eq!(view["node"], app.node_id.as_str());
    let names: BTreeSet<&str> = view["projections"]
        .as_array()
        .expect("projections")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(
        names,
        BTreeSet::from([
            "api_keys",
            "content",
            "conversations",
            "jobs",
            "providers",
            "quotas",
            "search",
            "sessions",
            "usage",
            "users"
        ])
    );
    for name in names {
        let p = projection(&view, name);
        assert!(p["head"].as_u64().is_some_and(|h| h > 0), "{p}");
        assert_eq!(p["position"], p["head"], "{p}");
        assert_eq!(p["lag"], 0, "{p}");
        assert_eq!(p["version"], p["target_version"], "{p}");
        assert!(p["epoch"].as_u64().is_some_and(|e| e >= 1), "{p}");
        assert_eq!(p["owner_node"], app.node_id.as_str(), "{p}");
    }
    assert_eq!(user_ids(&app, &admin).await, ids);
    let epoch_before = projection(&view, "users")["epoch"].as_u64().expect("epoch");

    let reply = app
        .call_as(
            Method::POST,
            "/api/admin/projections/users/rebuild",
            &admin.access,
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{reply:?}");
    assert_eq!(reply.body, json!({ "name": "users", "status": "started" }));

    // Throughout the rebuild and swap, the listing keeps every user.
    eventually("the rebuilt users projection is swapped in", || async {
        assert_eq!(
            user_ids(&app, &admin).await,
            ids,
            "users vanished mid-rebuild"
        );
        let view = app.get_as("/api/admin/projections", &admin.access).await;
        let users = projection(&view.body, "users");
        let newer = users["epoch"].as_u64().is_some_and(|e| e > epoch_before);
        (newer && users["lag"] == 0).then_some(())
    })
    .await;
    assert_eq!(user_ids(&app, &admin).await, ids);
    // The listing says how the rebuild ended (once its task has recorded it).
    let last = eventually("the rebuild's outcome is listed", || async {
        let view = app.get_as("/api/admin/projections", &admin.access).await;
        let users = projection(&view.body, "users").clone();
        (users["rebuilding_here"] == false && !users["last_rebuild_here"].is_null())
            .then(|| users["last_rebuild_here"].clone())
    })
    .await;
    assert_eq!(last["succeeded"], true, "{last}");
    assert!(
        last["events"].as_u64().unwrap() >= ids.len() as u64,
        "{last}"
    );
    assert!(last["error"].is_null());
    // The live projector is back and following the log.
    let late = app.register("late@example.com").await;
    ids.insert(late.user_id.to_string());
    eventually("a user registered after the rebuild is listed", || async {
        (user_ids(&app, &admin).await == ids).then_some(())
    })
    .await;

    let reply = app
        .call_as(
            Method::POST,
            "/api/admin/projections/nonexistent/rebuild",
            &admin.access,
            None,
        )
        .await;
    assert_error(&reply, StatusCode::NOT_FOUND, "not_found");
    assert!(!reply.is_unknown_route());
}

/// The last-admin rule is decided on the log (the admin roster stream), not on the read model,
/// which may trail: right after disabling the only other admin, demoting oneself is refused.
#[actix_web::test]
async fn the_last_admin_rule_holds_right_after_another_admin_is_disabled() {
    let app = spawn_app().await;
    let first = app.make_admin("first@example.com").await;
    let second = app.make_admin("second@example.com").await;
    app.projections_settled(&first.access).await;

    let reply = admin_call(&app, &first, "disable", second.user_id).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{reply:?}");
    let reply = set_role(&app, &first, first.user_id, "user").await;
    assert_error(&reply, StatusCode::CONFLICT, "last_admin");
    assert_eq!(
        app.get_as("/api/admin/users", &first.access).await.status,
        StatusCode::OK,
        "nobody is left to administer"
    );
}

/// Two admins demoting each other at the same moment: the roster's expected version lets only
/// one through, so an active admin always remains.
#[actix_web::test]
async fn two_admins_removing_each_other_at_once_leave_one_admin() {
    let app = spawn_app().await;
    let first = app.make_admin("one@example.com").await;
    let second = app.make_admin("two@example.com").await;
    // Both may lose their race in a round (each retry meets the other's append); on a busy
    // machine that can happen several rounds running, so give it room to settle.
    for _ in 0..20 {
        let (a, b) = tokio::join!(
            set_role(&app, &first, second.user_id, "user"),
            set_role(&app, &second, first.user_id, "user"),
        );
        let ok = [&a, &b]
            .iter()
            .filter(|r| r.status == StatusCode::NO_CONTENT)
            .count();
        assert!(ok <= 1, "both demotions went through: {a:?} {b:?}");
        if ok == 1 {
            break;
        }
    }
    let still_admin = [
        app.get_as("/api/admin/users", &first.access).await.status,
        app.get_as("/api/admin/users", &second.access).await.status,
    ];
    assert_eq!(
        still_admin.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "exactly one admin remains: {still_admin:?}"
    );
}

/// The projections stalled before a quarantined event, as `/ready` lists them.
async fn stalled(app: &TestApp) -> Vec<(String, u64)> {
    let reply = app.send(app.get("/ready")).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let list = reply.body["stalled_projections"]
        .as_array()
        .expect("stalled_projections");
    assert_eq!(reply.body["degraded"], !list.is_empty(), "{:?}", reply.body);
    list.iter()
        .map(|s| {
            let name = s["name"].as_str().expect("name").to_owned();
            (name, s["position"].as_u64().expect("position"))
        })
        .collect()
}

/// An event a read model cannot apply stalls that read model alone: it is quarantined, `/ready`
/// and the admin listing say so, a retry counts one more attempt, and a skip (recorded in the log
/// with who decided and why) lets it catch up.
#[actix_web::test]
async fn a_poison_event_stalls_only_its_projection_until_an_admin_skips_it() {
    use tessera_events::{EventData, EventStore, ExpectedVersion, PgEventStore, StreamId};

    let app = spawn_app().await;
    let admin = app.make_admin("root@example.com").await;
    let user = app.register("pat@example.com").await;
    app.projections_settled(&admin.access).await;
    assert!(stalled(&app).await.is_empty());

    // A registration whose payload the users read model cannot decode, as a broken or older
    // writer might have left it in the log.
    let store = PgEventStore::new(app.db.pool.clone());
    let stream = StreamId::for_entity("user", Uuid::now_v7());
    let bad = EventData::new("user.registered", json!({ "unexpected": true }));
    let appended = store
        .append(&stream, ExpectedVersion::NoStream, vec![bad])
        .await
        .expect("append");
    let poisoned = appended.last_position;

    let stuck = eventually("the users read model stalls", || async {
        let stuck = stalled(&app).await;
        stuck
            .iter()
            .any(|(name, _)| name == "users")
            .then_some(stuck)
    })
    .await;
    assert!(stuck.iter().all(|(_, p)| *p == poisoned), "{stuck:?}");
    // The content read model is not among them and keeps following the log.
    assert!(stuck.iter().all(|(name, _)| name != "content"), "{stuck:?}");
    let note = app
        .call_as(
            Method::POST,
            "/api/content/notes",
            &user.access,
            Some(&json!({ "title": "still here", "text": "written while users is stalled" })),
        )
        .await;
    assert_eq!(note.status, StatusCode::CREATED, "{note:?}");
    let id = note.body["id"].as_str().expect("id").to_owned();
    eventually("the note is listed", || async {
        let list = app.get_as("/api/content", &user.access).await;
        list.body["items"]
            .as_array()?
            .iter()
            .any(|i| i["id"] == id.as_str())
            .then_some(())
    })
    .await;

    let view = app.get_as("/api/admin/projections", &admin.access).await;
    let users = projection(&view.body, "users");
    assert_eq!(users["stalled_at"], poisoned, "{users}");
    let letter = &users["dead_letters"][0];
    assert_eq!(letter["position"], poisoned, "{letter}");
    assert_eq!(letter["event_type"], "user.registered");
    assert_eq!(letter["stream_id"], stream.as_str());
    assert_eq!(letter["attempts"], 1);
    assert!(letter["resolution"].is_null(), "{letter}");
    assert!(
        letter["error"]
            .as_str()
            .is_some_and(|e| e.contains("decode")),
        "{letter}"
    );
    assert!(projection(&view.body, "content")["stalled_at"].is_null());

    let path = |what: &str, position: u64| {
        format!("/api/admin/projections/users/dead-letters/{position}/{what}")
    };
    let reason = json!({ "reason": "written by a broken importer" });
    // Only admins decide, only about a quarantined event, and a skip says why.
    let reply = app
        .call_as(Method::POST, &path("retry", poisoned), &user.access, None)
        .await;
    assert_error(&reply, StatusCode::FORBIDDEN, "forbidden");
    let reply = app
        .call_as(
            Method::POST,
            &path("retry", poisoned - 1),
            &admin.access,
            None,
        )
        .await;
    assert_error(&reply, StatusCode::NOT_FOUND, "not_found");
    let reply = app
        .call_as(
            Method::POST,
            &path("skip", poisoned),
            &admin.access,
            Some(&json!({ "reason": "  " })),
        )
        .await;
    assert_error(
        &reply,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );

    // A retry fails the same way: one more attempt, still stalled.
    let reply = app
        .call_as(Method::POST, &path("retry", poisoned), &admin.access, None)
        .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{reply:?}");
    eventually("the retry is attempted", || async {
        let view = app.get_as("/api/admin/projections", &admin.access).await;
        let users = projection(&view.body, "users");
        (users["dead_letters"][0]["attempts"] == 2).then_some(())
    })
    .await;
    assert!(stalled(&app).await.iter().any(|(n, _)| n == "users"));

    for (name, position) in stalled(&app).await {
        let skip = format!("/api/admin/projections/{name}/dead-letters/{position}/skip");
        let reply = app
            .call_as(Method::POST, &skip, &admin.access, Some(&reason))
            .await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{reply:?}");
        assert_eq!(reply.body["decision"], "skip");
    }
    eventually("no read model is stalled", || async {
        stalled(&app).await.is_empty().then_some(())
    })
    .await;
    let view = app.projections_settled(&admin.access).await;
    let users = projection(&view, "users");
    assert!(users["stalled_at"].is_null(), "{users}");
    assert_eq!(users["dead_letters"][0]["resolution"], "skipped", "{users}");
    let reply = app
        .call_as(
            Method::POST,
            &path("skip", poisoned),
            &admin.access,
            Some(&reason),
        )
        .await;
    assert_error(&reply, StatusCode::CONFLICT, "dead_letter_resolved");

    // The decision is in the log, with who made it and why.
    let decisions = store
        .read_stream(&tessera_events::projection_ops::stream("users"), 0, 10)
        .await
        .expect("read decisions");
    let skip = decisions
        .iter()
        .find(|e| e.event_type == "projection.event_skipped")
        .expect("a skip event");
    assert_eq!(skip.metadata.actor, Some(UserId(admin.user_id)));
    assert_eq!(skip.payload["reason"], "written by a broken importer");
    assert_eq!(skip.payload["position"], poisoned);
    // And the read model follows the log again.
    let late = app.register("late@example.com").await;
    eventually("a user registered after the skip is listed", || async {
        user_ids(&app, &admin)
            .await
            .contains(&late.user_id.to_string())
            .then_some(())
    })
    .await;
}
