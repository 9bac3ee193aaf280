//! The quota gate before interactive model work and the ledger entry after it.
//!
//! The gate is the owner's `processing_seconds_per_day`; tokens and audio seconds are recorded
//! beside the processing time so `GET /api/usage` shows them per day and modality.

use std::time::Instant;

use chrono::Utc;
use tessera_events::content::{usage_stream, Ledger, LedgerCommand, Modality};
use tessera_events::{Aggregate, CommandContext, ExpectedVersion, UserId};

use crate::content::{ContentFailure, ContentService};

/// What the ledger calls each kind of interactive work.
pub mod kind {
    /// A chat answer (`/v1` or a conversation).
    pub const CHAT: &str = "chat";
    /// Texts embedded for `/v1`.
    pub const EMBEDDINGS: &str = "embeddings";
    /// A file transcribed for `/v1`.
    pub const TRANSCRIPTION: &str = "transcription";
    /// Text spoken for `/v1`.
    pub const SPEECH: &str = "speech";
}

/// What one piece of interactive work used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metered {
    /// What was done: `chat`, `speech`, `transcription`, `embeddings`, `summary`, ...
    pub kind: String,
    pub modality: Modality,
    /// The model (catalog id, or a provider's model name).
    pub model: String,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub audio_ms: u64,
    pub processing_ms: u64,
}

impl Metered {
    /// Work of `kind` on `model` that started at `started` and ends now, before its counts.
    pub fn since(kind: &str, modality: Modality, model: String, started: Instant) -> Self {
        Metered {
            kind: kind.to_owned(),
            modality,
            model,
            tokens_in: 0,
            tokens_out: 0,
            audio_ms: 0,
            processing_ms: started.elapsed().as_millis() as u64,
        }
    }

    /// Tokens the model read and wrote.
    pub fn tokens(mut self, tokens_in: u64, tokens_out: u64) -> Self {
        self.tokens_in = tokens_in;
        self.tokens_out = tokens_out;
        self
    }

    /// Audio heard or spoken, in seconds.
    pub fn audio_seconds(mut self, seconds: f64) -> Self {
        self.audio_ms = (seconds * 1000.0).round() as u64;
        self
    }
}

/// The caller's processing quota and ledger.
#[derive(Clone)]
pub struct Metering {
    content: ContentService,
}

impl Metering {
    /// The gate and ledger of the library's users.
    pub fn new(content: ContentService) -> Self {
        Metering { content }
    }

    /// Refuses work for `user` when today's processing time is used up (`quota_exceeded`,
    /// naming `processing_seconds_per_day`).
    pub async fn gate(&self, user: UserId) -> Result<(), ContentFailure> {
        let limits = self.content.limits(user).await?;
        let ledger = Ledger::load(self.content.store(), &usage_stream(user)).await?;
        ledger
            .state
            .check_processing(Utc::now().date_naive(), limits)?;
        Ok(())
    }

    /// Records finished work in `user`'s ledger. Work already done is recorded even when it
    /// took the user past a limit; the next request is the one refused.
    pub async fn record(&self, user: UserId, metered: Metered) -> Result<(), ContentFailure> {
        let stream = usage_stream(user);
        let mut ctx = CommandContext::new(None);
        ctx.metadata.node = Some(self.content.node().to_owned());
        let store = self.content.store();
        let _ledger = self.content.lock_ledger(user).await;
        for _ in 0..8 {
            let ledger = Ledger::load(store, &stream).await?;
            let events = ledger.state.decide(LedgerCommand::RecordGeneration {
                kind: metered.kind.clone(),
                modality: metered.modality,
                model: metered.model.clone(),
                tokens_in: metered.tokens_in,
                tokens_out: metered.tokens_out,
                audio_ms: metered.audio_ms,
                processing_ms: metered.processing_ms,
                today: Utc::now().date_naive(),
            })?;
            let expected = if ledger.version == 0 {
                ExpectedVersion::NoStream
            } else {
                ExpectedVersion::Exact(ledger.version)
            };
            let data = ctx.to_event_data(&stream, &events, Some(user))?;
            match tessera_events::EventStore::append(store, &stream, expected, data).await {
                Ok(_) => return Ok(()),
                Err(e) if e.is_concurrency_conflict() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ContentFailure::Internal(
            "recording usage kept conflicting".into(),
        ))
    }

    /// Records work whose answer goes out whatever happens here: a failure to record is
    /// logged, not returned.
    pub async fn record_done(&self, user: UserId, metered: Metered) {
        let kind = metered.kind.clone();
        if let Err(e) = self.record(user, metered).await {
            tracing::error!(%user, kind, error = %e, "usage was not recorded");
        }
    }
}
