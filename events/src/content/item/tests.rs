use super::*;
use crate::content::Modality;
use crate::ids::ContentId;
use uuid::Uuid;

fn uploaded(owner: Uuid) -> Uploaded {
    Uploaded {
        owner: UserId(owner),
        title: "cat".into(),
        filename: Some("cat.png".into()),
        modality: Modality::Image,
        mime: "image/png".into(),
        extension: "png".into(),
        size: 10,
        sha256: "ab".repeat(32),
        blob_key: "blobs/ab/x".into(),
        media: MediaFacts::default(),
        description: None,
        tags: vec![],
        source: Source::Upload,
        keep_location: false,
    }
}

fn with(events: &[ContentEvent]) -> Content {
    let mut c = Content::default();
    for e in events {
        c.evolve(e);
    }
    c
}

#[test]
fn only_the_owner_changes_an_item() {
    let owner = Uuid::new_v4();
    let c = with(&[ContentEvent::Uploaded(Box::new(uploaded(owner)))]);
    let other = Actor::User(UserId::from(Uuid::new_v4()));
    let r = c.decide(ContentCommand::Rename {
        by: other,
        title: "x".into(),
    });
    assert!(matches!(r, Err(ContentError::NotFound)));
    let r = c
        .decide(ContentCommand::Rename {
            by: Actor::User(owner.into()),
            title: "dog".into(),
        })
        .unwrap();
    assert_eq!(
        r,
        vec![ContentEvent::Renamed {
            title: "dog".into()
        }]
    );
}

#[test]
fn delete_is_idempotent_and_restore_ends_with_its_period() {
    let owner = Uuid::new_v4();
    let now = Utc::now();
    let by = Actor::User(owner.into());
    let c = with(&[
        ContentEvent::Uploaded(Box::new(uploaded(owner))),
        ContentEvent::Deleted {
            purge_after: now + chrono::Duration::hours(1),
        },
    ]);
    let again = c.decide(ContentCommand::Delete {
        by,
        now,
        retention: chrono::Duration::hours(1),
    });
    assert!(again.unwrap().is_empty());
    assert_eq!(
        c.decide(ContentCommand::Restore { by, now }).unwrap(),
        vec![ContentEvent::Restored {}]
    );
    let late = now + chrono::Duration::hours(2);
    assert!(matches!(
        c.decide(ContentCommand::Restore { by, now: late }),
        Err(ContentError::RestoreExpired)
    ));
    // Editing a deleted item is refused; the system purges only after the period.
    assert!(c
        .decide(ContentCommand::Purge {
            by: Actor::System,
            now
        })
        .unwrap()
        .is_empty());
    assert_eq!(
        c.decide(ContentCommand::Purge {
            by: Actor::System,
            now: late
        })
        .unwrap(),
        vec![ContentEvent::Purged {}]
    );
}

#[test]
fn previews_are_recorded_once() {
    let owner = Uuid::new_v4();
    let c = with(&[
        ContentEvent::Uploaded(Box::new(uploaded(owner))),
        ContentEvent::PreviewsGenerated(Previews::default()),
    ]);
    assert!(c
        .decide(ContentCommand::RecordPreviews(Previews::default()))
        .unwrap()
        .is_empty());
}

#[test]
fn a_generated_item_records_its_sources_and_an_old_upload_still_reads() {
    let owner = Uuid::new_v4();
    let source = Uuid::new_v4();
    let mut item = uploaded(owner);
    item.source = Source::Generated;
    let generation = Generation {
        kind: GenerationKind::Summary,
        generated_from: vec![ContentId(source)],
        parameters: serde_json::json!({ "words": 60 }),
        provenance: vec![],
        processing_ms: 5,
    };
    let events = Content::default()
        .decide(ContentCommand::Generate {
            item: Box::new(item.clone()),
            generation: Box::new(generation.clone()),
        })
        .unwrap();
    assert_eq!(events.len(), 2);
    let c = with(&events);
    assert_eq!(c.generation.as_ref().unwrap().generated_from, vec![source]);
    // A summary from nothing, or a generated item posing as an upload, is refused.
    let orphan = Content::default().decide(ContentCommand::Generate {
        item: Box::new(item),
        generation: Box::new(Generation {
            generated_from: vec![],
            ..generation.clone()
        }),
    });
    assert!(matches!(orphan, Err(ContentError::Invalid(_))));
    let posing = Content::default().decide(ContentCommand::Generate {
        item: Box::new(uploaded(owner)),
        generation: Box::new(generation),
    });
    assert!(matches!(posing, Err(ContentError::Invalid(_))));
    // An upload event written before generation existed decodes unchanged.
    let old = serde_json::json!({ "type": "content.uploaded", "data": {
        "owner": owner, "title": "t", "filename": null, "modality": "text",
        "mime": "text/plain", "extension": "txt", "size": 1, "sha256": "ab",
        "blob_key": "k", "source": "note" } });
    let e: ContentEvent = serde_json::from_value(old).unwrap();
    assert!(matches!(e, ContentEvent::Uploaded(u) if u.source == Source::Note));
}

#[test]
fn bad_titles_and_tags_are_refused() {
    assert!(validate_title("").is_err());
    assert!(validate_title("a\u{0}b").is_err());
    assert!(validate_title(&"x".repeat(301)).is_err());
    assert!(validate_tag("two words").is_err());
    assert!(validate_tag("ok-tag").is_ok());
}
