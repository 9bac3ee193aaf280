//! Metering of interactive model work (chat answers, speech, transcriptions, embeddings,
//! generated items): the quota gate before the work starts and the ledger entry after it.
//!
//! The gate is the owner's `processing_seconds_per_day`; tokens and audio seconds are recorded
//! beside the processing time so `GET /api/usage` shows them per day and modality.

use chrono::Utc;
use tessera_events::content::{usage_stream, Ledger, LedgerCommand, Modality};
use tessera_events::{Aggregate, CommandContext, ExpectedVersion};
use uuid::Uuid;

use super::error::ContentFailure;
use super::service::ContentService;

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

impl ContentService {
    /// Refuses work for `user` when today's processing time is used up (`quota_exceeded`,
    /// naming `processing_seconds_per_day`).
    pub async fn check_processing_quota(&self, user: Uuid) -> Result<(), ContentFailure> {
        let limits = self.limits(user).await?;
        let ledger = Ledger::load(self.store(), &usage_stream(user)).await?;
        ledger
            .state
            .check_processing(Utc::now().date_naive(), limits)?;
        Ok(())
    }

    /// Records finished work in `user`'s ledger. Work already done is recorded even when it
    /// took the user past a limit; the next request is the one refused.
    pub async fn record_generation(
        &self,
        user: Uuid,
        metered: Metered,
    ) -> Result<(), ContentFailure> {
        let stream = usage_stream(user);
        let mut ctx = CommandContext::new(None);
        ctx.metadata.node = Some(self.node().to_owned());
        let _ledger = self.lock_ledger(user).await;
        for _ in 0..8 {
            let ledger = Ledger::load(self.store(), &stream).await?;
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
            match tessera_events::EventStore::append(self.store(), &stream, expected, data).await {
                Ok(_) => return Ok(()),
                Err(e) if e.is_concurrency_conflict() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ContentFailure::Internal(
            "recording usage kept conflicting".into(),
        ))
    }
}
