//! Events appended straight to the log, for tests of what reads it.

use serde_json::json;
use tessera_events::{EventData, EventStore, ExpectedVersion, Metadata, StreamId};
use uuid::Uuid;

/// Appends one `test.happened` event per tag (payload `{"tag", "i"}`), owned by `owner`, to the
/// owner's own stream; returns the position of the last one.
pub async fn append_tagged(store: &dyn EventStore, owner: Option<Uuid>, tags: &[&str]) -> u64 {
    let stream = StreamId::for_entity("test", owner.unwrap_or_else(Uuid::nil));
    let events = tags
        .iter()
        .enumerate()
        .map(|(i, tag)| {
            EventData::new("test.happened", json!({ "tag": tag, "i": i })).with_metadata(Metadata {
                owner: owner.map(Into::into),
                ..Default::default()
            })
        })
        .collect();
    store
        .append(&stream, ExpectedVersion::Any, events)
        .await
        .expect("append")
        .last_position
}

/// Appends `n` events tagged `tag` (see [`append_tagged`]).
pub async fn append_owned(store: &dyn EventStore, owner: Option<Uuid>, n: usize, tag: &str) -> u64 {
    append_tagged(store, owner, &vec![tag; n]).await
}
