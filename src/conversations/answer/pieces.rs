//! An answer's pieces appended to its conversation as they come: the first at once, later
//! ones at most every `chat.stream_interval_ms`, whatever arrived meanwhile together. A
//! conflicting append means someone else wrote to the conversation; if the answer was stopped
//! there, the model is stopped too.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tessera_events::aggregate;
use tessera_events::conversations::{conversation_stream, Conversation, ConversationEvent};
use tessera_events::{AnswerId, EventStore, ExpectedVersion};
use tokio::sync::mpsc;

use super::Generation;
use crate::conversations::ChatFailure;

/// How the streaming of pieces ended.
pub(super) enum Streamed {
    /// Every piece is in the log.
    Done,
    /// The answer was stopped (or the conversation deleted) elsewhere.
    Stopped,
}

impl Generation {
    /// Appends the pieces as they come; whatever arrived during an append goes in the next.
    pub(super) async fn stream_pieces(
        &self,
        mut rx: mpsc::UnboundedReceiver<String>,
        cancel: Arc<AtomicBool>,
    ) -> Result<Streamed, ChatFailure> {
        let inner = &self.service.inner;
        let stream = conversation_stream(self.conversation);
        let mut version = self.version;
        let mut seq = 0u32;
        let interval = Duration::from_millis(inner.settings.stream_interval_ms);
        let mut last_append: Option<Instant> = None;
        while let Some(first) = rx.recv().await {
            // The first piece goes at once; later ones at most once per interval, together.
            if let Some(at) = last_append {
                let next = at + interval;
                if next > Instant::now() {
                    tokio::time::sleep_until(next.into()).await;
                }
            }
            let mut delta = first;
            while let Ok(more) = rx.try_recv() {
                delta.push_str(&more);
            }
            loop {
                let event = ConversationEvent::AnswerStreamed {
                    answer_id: AnswerId(self.answer_id),
                    seq: seq + 1,
                    delta: delta.clone(),
                };
                let ctx = self.service.ctx(self.owner);
                let data = ctx.to_event_data(&stream, &[event], Some(self.owner))?;
                match inner
                    .store
                    .append(&stream, ExpectedVersion::Exact(version), data)
                    .await
                {
                    Ok(r) => {
                        version = r.next_expected_version;
                        seq += 1;
                        last_append = Some(Instant::now());
                        break;
                    }
                    Err(e) if e.is_concurrency_conflict() => {
                        let loaded = aggregate::load::<Conversation>(&inner.store, &stream).await?;
                        match &loaded.state.answering {
                            Some(a) if a.answer_id == self.answer_id && !loaded.state.deleted => {
                                version = loaded.version;
                                seq = a.seq;
                            }
                            _ => {
                                // Stopped elsewhere: stop the model; dropping the receiver
                                // ends the generation at its next piece too.
                                cancel.store(true, Ordering::SeqCst);
                                return Ok(Streamed::Stopped);
                            }
                        }
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(Streamed::Done)
    }
}
