//! Search over the API with the real models: a note's paragraph is found by meaning, the words
//! on a sign by their box, a spoken sentence by its second; nobody finds anyone else's items;
//! more like this; cursors; and hostile queries get a 4xx or nothing, never a 500.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::media::{sign_png, speak};
use crate::helpers::{email, eventually_within, query_value as q, spawn_app_with, TestApp};

const PATIENCE: Duration = Duration::from_secs(300);

const NOTE: &str = "Trip planning for the spring.\n\n\
    The cake recipe needs flour, eggs, butter and sugar, baked for forty minutes.\n\n\
    Remember to water the tomatoes in the greenhouse every morning.";

async fn search(app: &TestApp, access: &str, query: &str) -> Value {
    let r = app.get_as(&format!("/api/search?{query}"), access).await;
    assert_eq!(r.status, 200, "{query}: {:?}", r.body);
    r.body
}

/// The best item's hit of `kind`, waiting until the index has the item's findings and the item
/// ranks first.
async fn found(app: &TestApp, access: &str, query: &str, item: &str, kind: &str) -> (Value, Value) {
    eventually_within(
        PATIENCE,
        &format!("search {query:?} finds {item}'s {kind}"),
        || async {
            let body = search(app, access, query).await;
            let first = body["items"][0].clone();
            if first["item"]["id"] != item {
                return None;
            }
            let hit = first["hits"]
                .as_array()?
                .iter()
                .find(|h| h["kind"] == kind)?
                .clone();
            Some((first, hit))
        },
    )
    .await
}

/// Asks `path` and expects a refusal: its status and error code, checked against `want`.
async fn refused(app: &TestApp, access: &str, path: &str, want: (u16, &str)) -> Value {
    let r = app.get_as(path, access).await;
    assert_eq!((r.status.as_u16(), r.code()), want, "{path}: {:?}", r.body);
    r.body
}

fn ids(body: &Value) -> Vec<String> {
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["item"]["id"].as_str().unwrap().to_owned())
        .collect()
}

#[actix_web::test]
async fn search_finds_by_meaning_down_to_the_second_and_the_box_and_only_ones_own() {
    let app = spawn_app_with(&[
        ("processing.enabled", "true"),
        ("rate_limits.per_user", "100000"),
    ])
    .await;
    let alice = app.register(&email("alice")).await.access;
    let bob = app.register(&email("bob")).await.access;

    let note = app
        .call_as(
            Method::POST,
            "/api/content/notes",
            &alice,
            Some(&json!({"title": "Spring list", "text": NOTE, "tags": ["home"]})),
        )
        .await;
    assert_eq!(note.status, 201, "{:?}", note.body);
    let note_id = note.body["id"].as_str().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let sign = app
        .upload(
            &alice,
            std::fs::read(sign_png(dir.path())).unwrap(),
            "photo-0412.png",
        )
        .await;
    let sign_id = sign["id"].as_str().unwrap().to_owned();
    let voice = app
        .upload(
            &alice,
            speak("The parcel will arrive on Thursday afternoon."),
            "memo.wav",
        )
        .await;
    let voice_id = voice["id"].as_str().unwrap().to_owned();
    let bobs = app
        .call_as(
            Method::POST,
            "/api/content/notes",
            &bob,
            Some(&json!({"title": "Bob's", "text": "My cake recipe: flour, eggs, butter, sugar."})),
        )
        .await;
    let bobs_id = bobs.body["id"].as_str().unwrap().to_owned();

    // By meaning: no word of the query is in the paragraph.
    let query = format!("q={}&ranking=vector", q("baking ingredients"));
    let (hit, first) = found(&app, &alice, &query, &note_id, "paragraph").await;
    assert_eq!(
        hit["hits"][0], first,
        "the paragraph is the best hit: {hit}"
    );
    let at = &first["at"];
    assert_eq!(at["type"], "paragraph");
    let (s, e) = (
        at["start"].as_u64().unwrap() as usize,
        at["end"].as_u64().unwrap() as usize,
    );
    assert!(NOTE[s..e].starts_with("The cake recipe"), "{at}");
    assert_eq!(hit["item"]["title"], "Spring list");

    // The words on the sign, with their box.
    let (_, ocr) = found(
        &app,
        &alice,
        &format!("q={}", q("open daily")),
        &sign_id,
        "ocr",
    )
    .await;
    assert_eq!(ocr["at"]["type"], "box", "{ocr}");
    assert!(ocr["at"]["width"].as_f64().unwrap() > 10.0, "{ocr}");
    assert!(ocr["by_words"].as_bool().unwrap());
    let marked: Vec<String> = ocr["snippet"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["mark"] == true)
        .map(|p| p["text"].as_str().unwrap().to_lowercase())
        .collect();
    assert!(marked.contains(&"open".to_owned()), "{ocr}");

    // What was said, by meaning, at its second.
    let query = format!("q={}", q("when is the delivery coming"));
    let (_, seg) = found(&app, &alice, &query, &voice_id, "segment").await;
    assert_eq!(seg["at"]["type"], "time");
    assert!(seg["at"]["end"].as_f64().unwrap() > seg["at"]["start"].as_f64().unwrap());

    // Filters: only images; only the tag; only within one item.
    let body = search(
        &app,
        &alice,
        &format!("q={}&modality=image", q("open daily cake")),
    )
    .await;
    assert_eq!(ids(&body), std::slice::from_ref(&sign_id));
    let body = search(
        &app,
        &alice,
        &format!("q={}&tag=home", q("open daily cake")),
    )
    .await;
    assert_eq!(ids(&body), std::slice::from_ref(&note_id));
    let body = search(&app, &alice, &format!("q={}&item={voice_id}", q("cake"))).await;
    assert!(ids(&body).iter().all(|i| *i == voice_id));

    // Nobody finds anyone else's: Bob's cake is his, Alice's are hers.
    let body = search(
        &app,
        &bob,
        &format!("q={}", q("cake recipe flour open daily parcel")),
    )
    .await;
    assert_eq!(ids(&body), std::slice::from_ref(&bobs_id), "{body}");
    let body = search(&app, &alice, &format!("q={}", q("Bob's cake recipe"))).await;
    assert!(!ids(&body).contains(&bobs_id));

    // Pages and their cursors, bound to the query and its caller.
    let body = search(
        &app,
        &alice,
        &format!("q={}&limit=1", q("cake open parcel")),
    )
    .await;
    assert_eq!(ids(&body).len(), 1);
    let cursor = body["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let next = search(
        &app,
        &alice,
        &format!("q={}&limit=1&cursor={cursor}", q("cake open parcel")),
    )
    .await;
    assert_eq!(ids(&next).len(), 1);
    assert_ne!(ids(&next), ids(&body));
    for (who, query) in [(&bob, "cake open parcel"), (&alice, "something else")] {
        let path = format!("/api/search?q={}&limit=1&cursor={cursor}", q(query));
        refused(&app, who, &path, (400, "invalid_cursor")).await;
    }

    // More like this: never the item itself, never someone else's.
    let r = app
        .get_as(&format!("/api/content/{note_id}/similar"), &alice)
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(!ids(&r.body).contains(&note_id));
    assert!(!ids(&r.body).contains(&bobs_id));
    let r = app
        .get_as(&format!("/api/content/{note_id}/similar"), &bob)
        .await;
    assert_eq!(r.status, 404);

    // In the trash: not found.
    let r = app
        .call_as(
            Method::DELETE,
            &format!("/api/content/{sign_id}"),
            &alice,
            None,
        )
        .await;
    assert!(r.status.is_success(), "{:?}", r.body);
    eventually_within(PATIENCE, "the deleted sign is gone from search", || async {
        let body = search(&app, &alice, &format!("q={}", q("open daily"))).await;
        (!ids(&body).contains(&sign_id)).then_some(())
    })
    .await;
}

#[actix_web::test]
async fn hostile_queries_get_a_clear_error_or_nothing() {
    let app = spawn_app_with(&[("rate_limits.per_user", "100000")]).await;
    let alice = app.register(&email("alice")).await.access;
    let long = "a".repeat(10_000);
    for (query, field) in [
        ("q=".to_owned(), "q"),
        ("q=%20%20".to_owned(), "q"),
        (format!("q={long}"), "q"),
        ("q=cat&modality=sculpture".to_owned(), "modality"),
        ("q=cat&ranking=psychic".to_owned(), "ranking"),
        (
            "q=cat&from=2026-05-01T00:00:00Z&to=2026-04-01T00:00:00Z".to_owned(),
            "to",
        ),
    ] {
        let path = format!("/api/search?{query}");
        let body = refused(&app, &alice, &path, (400, "invalid_query")).await;
        if field != "q" {
            assert_eq!(body["error"]["field"], field, "{query}");
        }
    }
    for query in [
        "q=cat&from=yesterday",
        "q=cat&item=not-a-uuid",
        "q=cat&limit=-1",
        "nothing=1",
    ] {
        refused(
            &app,
            &alice,
            &format!("/api/search?{query}"),
            (400, "invalid_query"),
        )
        .await;
    }
    let cursor = "/api/search?q=cat&cursor=bm90IG91cnM";
    refused(&app, &alice, cursor, (400, "invalid_cursor")).await;
    refused(
        &app,
        &alice,
        "/api/search?q=cat&scope=all",
        (403, "forbidden"),
    )
    .await;
    // Punctuation only finds nothing; query syntax is only words.
    for text in [
        "?!...---",
        "'); DROP TABLE events; --",
        "cat & !dog | (:* <->",
        "%00\u{E000}",
    ] {
        let body = search(&app, &alice, &format!("q={}", q(text))).await;
        assert_eq!(body["items"], json!([]), "{text}");
    }
    let r = app.get_as("/api/search?q=cat", "forged.token.value").await;
    assert_eq!(r.status, 401);
}

#[actix_web::test]
async fn an_admin_may_search_everyone_and_that_search_is_on_record() {
    let app = spawn_app_with(&[("rate_limits.per_user", "100000")]).await;
    let alice = app.register(&email("alice")).await.access;
    let bob = app.register(&email("bob")).await.access;
    let admin = app.make_admin("root@example.com").await;
    let note = app
        .call_as(
            Method::POST,
            "/api/content/notes",
            &alice,
            Some(&json!({"title": "Lighthouse keeper's log", "text": "Calm sea."})),
        )
        .await;
    let id = note.body["id"].as_str().unwrap().to_owned();
    // Titles are indexed from the upload itself, before any analysis.
    let query = format!("q={}", q("lighthouse keeper"));
    eventually_within(PATIENCE, "Alice finds her note", || async {
        ids(&search(&app, &alice, &query).await)
            .contains(&id)
            .then_some(())
    })
    .await;
    assert!(ids(&search(&app, &bob, &query).await).is_empty());
    assert!(
        ids(&search(&app, &admin.access, &query).await).is_empty(),
        "an admin's own search is their own"
    );
    assert!(app.events_of_type("admin.searched").await.is_empty());
    let everyone = search(&app, &admin.access, &format!("{query}&scope=all")).await;
    assert_eq!(ids(&everyone), std::slice::from_ref(&id));
    let audits = app.events_of_type("admin.searched").await;
    assert_eq!(audits.len(), 1, "{audits:?}");
    assert_eq!(audits[0].0, format!("audit-{}", admin.user_id));
    assert_eq!(audits[0].1["query"], "lighthouse keeper");
}

/// A user's conversations are searched with their library, down to the paragraph of what was
/// said; another user's never are, a filter on items leaves them out, and a deleted one is gone.
#[actix_web::test]
async fn search_finds_ones_own_conversations_by_what_was_said() {
    // Answers come from a provider that is down: they fail at once, and no model decodes while
    // the test process exits (a process that exits while llama.cpp decodes can crash in its
    // static destructors).
    let app = spawn_app_with(&[
        ("chat.providers.down.base_url", "http://127.0.0.1:9/v1"),
        ("chat.providers.down.model", "none"),
        ("chat.providers.down.enabled", "true"),
        ("chat.providers.down.timeout_secs", "5"),
        ("rate_limits.per_user", "100000"),
    ])
    .await;
    let alice = app.register(&email("alice")).await.access;
    let bob = app.register(&email("bob")).await.access;
    let said = "Our sailing boat is called the Blue Heron, and it is moored at pier seven.";
    let mut conversations = Vec::new();
    for (access, text) in [
        (&alice, format!("Where do we keep it?\n\n{said}")),
        (
            &bob,
            "My boat, the Red Kestrel, needs new sails.".to_owned(),
        ),
    ] {
        let r = app
            .call_as(
                Method::POST,
                "/api/conversations",
                access,
                Some(&json!({ "title": "Boats", "provider": "down" })),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        let id = r.body["id"].as_str().unwrap().to_owned();
        let r = app
            .call_as(
                Method::POST,
                &format!("/api/conversations/{id}/messages"),
                access,
                Some(&json!({ "text": text })),
            )
            .await;
        assert_eq!(r.status, 202, "{:?}", r.body);
        eventually_within(Duration::from_secs(60), "the failed answer", || async {
            let r = app
                .get_as(&format!("/api/conversations/{id}"), access)
                .await;
            (r.status == 200
                && r.body["items"].as_array().map(Vec::len) == Some(2)
                && r.body["answering"].is_null())
            .then_some(())
        })
        .await;
        conversations.push(id);
    }
    let (mine, bobs) = (&conversations[0], &conversations[1]);

    let found = eventually_within(
        Duration::from_secs(60),
        "the message in the index",
        || async {
            let body = search(&app, &alice, "q=Heron").await;
            let c = body["conversations"].as_array()?.first()?.clone();
            (c["id"] == mine.as_str()).then_some(c)
        },
    )
    .await;
    assert_eq!(found["title"], "Boats", "{found}");
    let hit = &found["hits"][0];
    assert_eq!(hit["role"], "user", "{found}");
    // The paragraph that says it, as a byte range of the message.
    let start = "Where do we keep it?\n\n".len();
    assert_eq!(
        hit["at"],
        json!({ "type": "paragraph", "start": start, "end": start + said.len() }),
        "{found}"
    );
    assert_eq!(hit["by_words"], true, "{found}");
    let marked: Vec<&str> = hit["snippet"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["mark"] == true)
        .map(|p| p["text"].as_str().unwrap())
        .collect();
    assert_eq!(marked, ["Heron"], "{found}");

    // Found by meaning too, without the word.
    let body = search(&app, &alice, "q=where%20is%20the%20sailboat%20docked").await;
    assert!(
        body["conversations"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["id"] == mine.as_str())),
        "{body}"
    );
    // Never another user's: each finds only their own.
    eventually_within(
        Duration::from_secs(60),
        "bob's message in the index",
        || async {
            let body = search(&app, &bob, "q=Kestrel").await;
            (body["conversations"][0]["id"] == bobs.as_str()).then_some(())
        },
    )
    .await;
    for (access, query, other) in [(&alice, "q=Kestrel", bobs), (&bob, "q=Heron", mine)] {
        let body = search(&app, access, query).await;
        let ids: Vec<&Value> = body["conversations"]
            .as_array()
            .map(|c| c.iter().map(|c| &c["id"]).collect())
            .unwrap_or_default();
        assert!(!ids.contains(&&json!(other)), "{query}: {body}");
    }
    // A filter on items leaves conversations out.
    let body = search(&app, &alice, "q=Heron&modality=text").await;
    assert!(body.get("conversations").is_none(), "{body}");

    // Deleted, it is no longer found.
    let r = app
        .call_as(
            Method::DELETE,
            &format!("/api/conversations/{mine}"),
            &alice,
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    eventually_within(
        Duration::from_secs(60),
        "the deletion in the index",
        || async {
            let body = search(&app, &alice, "q=Heron").await;
            body.get("conversations").is_none().then_some(())
        },
    )
    .await;
}
