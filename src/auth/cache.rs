//! Aggregates kept in memory and caught up from their streams.
//!
//! A read catches up by asking the store only for events after the cached version, so a
//! consistent read costs one indexed query that usually returns nothing, and a read that accepts
//! a little staleness (`max_age`) often costs none. This keeps authentication off the read
//! models (no projection lag) and off the database on the hot path.

use std::time::{Duration, Instant};

use dashmap::mapref::entry::Entry::{Occupied, Vacant};
use dashmap::DashMap;
use tessera_events::{Aggregate, DomainEvent, EventStore, StoreError, StreamId};
use uuid::Uuid;

/// Past this many entries the cache starts over; entries are small, and rebuilding one costs a
/// single stream read.
const MAX_ENTRIES: usize = 100_000;
const BATCH: usize = 500;

struct Entry<A> {
    state: A,
    version: u64,
    /// When it was last caught up; `None` once invalidated.
    checked_at: Option<Instant>,
}

/// Folded aggregates by entity id.
pub struct StreamCache<A> {
    entries: DashMap<Uuid, Entry<A>>,
}

impl<A> Default for StreamCache<A> {
    fn default() -> Self {
        Self {
            entries: DashMap::new(),
        }
    }
}

impl<A: Aggregate + Clone + Sync> StreamCache<A> {
    /// Reads `f` of the aggregate: from memory if it was caught up less than `max_age` ago, else
    /// after catching up with the store. A stream with no events gives `f(&A::default())`.
    pub async fn read<R>(
        &self,
        store: &dyn EventStore,
        id: Uuid,
        stream: &StreamId,
        max_age: Duration,
        f: impl FnOnce(&A) -> R,
    ) -> Result<R, StoreError> {
        let (mut state, mut version) = match self.entries.get(&id) {
            Some(e) if e.checked_at.is_some_and(|t| t.elapsed() < max_age) => {
                return Ok(f(&e.state))
            }
            Some(e) => (e.state.clone(), e.version),
            None => (A::default(), 0),
        };
        // No map guard is held across this await.
        loop {
            let batch = store.read_stream(stream, version, BATCH).await?;
            for e in &batch {
                state.evolve(&A::Event::decode(e)?);
                version = e.stream_version;
            }
            if batch.len() < BATCH {
                break;
            }
        }
        let out = f(&state);
        // Unknown ids are not remembered: anyone can present them, so they must not fill memory.
        if version > 0 {
            if self.entries.len() >= MAX_ENTRIES {
                self.entries.clear();
            }
            let fresh = Entry {
                state,
                version,
                checked_at: Some(Instant::now()),
            };
            match self.entries.entry(id) {
                // A concurrent reader may have caught up further; keep the newer state.
                Occupied(o) if o.get().version > version => {}
                Occupied(mut o) => {
                    o.insert(fresh);
                }
                Vacant(v) => {
                    v.insert(fresh);
                }
            }
        }
        Ok(out)
    }

    /// Forgets an entry, so the next read catches up whatever its `max_age`.
    pub fn invalidate(&self, id: Uuid) {
        // Keep the folded state (catching up from it is cheap); only mark it stale.
        if let Some(mut e) = self.entries.get_mut(&id) {
            e.checked_at = None;
        }
    }
}
