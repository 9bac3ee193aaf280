//! Aggregates: fold a stream's events into state (`evolve`), decide a command (`decide`).

use serde::de::DeserializeOwned;
use serde::Serialize;
use uuid::Uuid;

use crate::error::StoreError;
use crate::event::{EventData, Metadata, RecordedEvent, StreamId};
use crate::ids::UserId;
use crate::store::{EventStore, ExpectedVersion};

/// A typed domain event. Implementors are enums tagged as
/// `#[serde(tag = "type", content = "data")]` with each variant renamed to its event type
/// (e.g. `user.registered`); the tag becomes the `event_type` column, the content the payload.
pub trait DomainEvent: Serialize + DeserializeOwned + Send + Sync {
    /// The schema version new events are written with.
    const SCHEMA_VERSION: i32 = 1;

    /// Splits the event into (event type, payload).
    fn encode(&self) -> Result<(String, serde_json::Value), StoreError> {
        let mut v = serde_json::to_value(self)?;
        let t = v
            .get("type")
            .and_then(|t| t.as_str())
            .map(str::to_owned)
            .ok_or_else(|| StoreError::Invalid("domain event has no type tag".into()))?;
        let data = v
            .get_mut("data")
            .map(serde_json::Value::take)
            .unwrap_or(serde_json::Value::Null);
        Ok((t, data))
    }

    /// Rebuilds the event from a recorded one (already upcast).
    fn decode(event: &RecordedEvent) -> Result<Self, StoreError> {
        let v = serde_json::json!({ "type": event.event_type, "data": event.payload });
        Ok(serde_json::from_value(v)?)
    }
}

/// Who issued a command, and the id that makes a retry of it idempotent.
#[derive(Debug, Clone, Default)]
pub struct CommandContext {
    /// The same id for every retry of one command; event ids derive from it.
    pub command_id: Uuid,
    pub metadata: Metadata,
}

impl CommandContext {
    pub fn new(actor: Option<UserId>) -> Self {
        Self {
            command_id: Uuid::new_v4(),
            metadata: Metadata {
                actor,
                ..Metadata::default()
            },
        }
    }

    /// Event id `index` of this command: stable across retries of the same command.
    pub fn event_id(&self, stream: &StreamId, index: usize) -> Uuid {
        let name = format!("{}/{}/{}", self.command_id, stream, index);
        Uuid::new_v5(&Uuid::NAMESPACE_OID, name.as_bytes())
    }

    /// Encodes typed events for `stream`, with ids derived from the command id.
    pub fn to_event_data<E: DomainEvent>(
        &self,
        stream: &StreamId,
        events: &[E],
        owner: Option<UserId>,
    ) -> Result<Vec<EventData>, StoreError> {
        events
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let (t, payload) = e.encode()?;
                let mut metadata = self.metadata.clone();
                metadata.owner = owner.or(metadata.owner);
                Ok(EventData {
                    event_id: self.event_id(stream, i),
                    event_type: t,
                    schema_version: E::SCHEMA_VERSION,
                    payload,
                    metadata,
                })
            })
            .collect()
    }
}

/// State folded from a stream, and the rules for what may happen next.
pub trait Aggregate: Default + Send {
    type Event: DomainEvent;
    type Command;
    type Error: From<StoreError>;

    fn evolve(&mut self, event: &Self::Event);
    fn decide(&self, command: Self::Command) -> Result<Vec<Self::Event>, Self::Error>;
}

/// An aggregate's state with the version it was folded to.
pub struct Loaded<A> {
    pub state: A,
    pub version: u64,
}

/// Reads a stream and folds it.
pub async fn load<A: Aggregate>(
    store: &dyn EventStore,
    stream: &StreamId,
) -> Result<Loaded<A>, StoreError> {
    let mut state = A::default();
    let mut version = 0;
    loop {
        let batch = store.read_stream(stream, version, 1000).await?;
        let done = batch.len() < 1000;
        for e in &batch {
            state.evolve(&A::Event::decode(e)?);
            version = e.stream_version;
        }
        if done {
            return Ok(Loaded { state, version });
        }
    }
}

/// Loads, decides and appends with the loaded version as expectation; on a concurrent write it
/// reloads and decides again (a few times). Returns the new events and the stream version after.
pub async fn execute<A: Aggregate>(
    store: &dyn EventStore,
    stream: &StreamId,
    ctx: &CommandContext,
    owner: Option<UserId>,
    command: impl Fn() -> A::Command,
) -> Result<(Vec<A::Event>, u64), A::Error> {
    let mut attempts = 0;
    loop {
        attempts += 1;
        let loaded = load::<A>(store, stream).await?;
        let events = loaded.state.decide(command())?;
        if events.is_empty() {
            return Ok((events, loaded.version));
        }
        let data = ctx.to_event_data(stream, &events, owner)?;
        let expected = if loaded.version == 0 {
            ExpectedVersion::NoStream
        } else {
            ExpectedVersion::Exact(loaded.version)
        };
        match store.append(stream, expected, data).await {
            Ok(r) => return Ok((events, r.next_expected_version)),
            Err(e) if e.is_concurrency_conflict() && attempts < 5 => continue,
            Err(e) => return Err(e.into()),
        }
    }
}
