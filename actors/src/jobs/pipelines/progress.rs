//! Where a running job reports its stages, and the language-model tokens a piece of work used.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use tessera_events::jobs::{job_stream, JobEvent};
use tessera_events::{CommandContext, EventStore, ExpectedVersion, JobId, UserId};

/// Where a running job reports its progress (`job.progress` events, throttled by the caller's
/// stage changes).
#[derive(Clone)]
pub struct ProgressSink {
    store: Option<Arc<dyn EventStore>>,
    job_id: JobId,
    attempt: u32,
    /// The content's owner: their live sessions receive the progress.
    owner: Option<uuid::Uuid>,
}

impl ProgressSink {
    pub fn new(store: Arc<dyn EventStore>, job_id: JobId, attempt: u32, owner: UserId) -> Self {
        ProgressSink {
            store: Some(store),
            job_id,
            attempt,
            owner: Some(owner.0),
        }
    }

    /// A sink for work that is not a job (an interactive request): reports go nowhere.
    pub fn silent() -> Self {
        ProgressSink {
            store: None,
            job_id: JobId(uuid::Uuid::nil()),
            attempt: 0,
            owner: None,
        }
    }

    /// Records that the job reached `stage`, `percent` done. Best effort: a lost progress
    /// event changes nothing.
    pub async fn report(&self, stage: &str, percent: u8) {
        let Some(store) = &self.store else {
            return;
        };
        let stream = job_stream(self.job_id);
        let event = JobEvent::Progress {
            attempt: self.attempt,
            stage: stage.to_owned(),
            percent: percent.min(100),
        };
        let ctx = CommandContext::new(None);
        if let Ok(data) = ctx.to_event_data(&stream, &[event], self.owner.map(UserId)) {
            if let Err(e) = store.append(&stream, ExpectedVersion::Any, data).await {
                tracing::debug!(job = %self.job_id, error = %e, "progress not recorded");
            }
        }
    }
}

/// Language-model tokens used by the work run inside [`count_tokens`].
#[derive(Debug, Default)]
struct TokenCount {
    prompt: AtomicU64,
    completion: AtomicU64,
}

tokio::task_local! {
    static TOKENS: Arc<TokenCount>;
}

/// Runs `work` and answers, beside its output, the language-model tokens it read and wrote
/// (prompt, completion); results read from the cache cost none.
pub async fn count_tokens<F: std::future::Future>(work: F) -> (F::Output, (u64, u64)) {
    let count = Arc::new(TokenCount::default());
    let out = TOKENS.scope(count.clone(), work).await;
    (
        out,
        (count.prompt.load(Relaxed), count.completion.load(Relaxed)),
    )
}

/// Adds a generation's tokens to the count of the work it runs in, if any.
pub(super) fn note_tokens(g: &tessera_models::runtime::llama::Generation) {
    let _ = TOKENS.try_with(|t| {
        t.prompt.fetch_add(g.prompt_tokens as u64, Relaxed);
        t.completion.fetch_add(g.completion_tokens as u64, Relaxed);
    });
}
