//! Chat on this node's model: one generation, its pieces streamed as they come and stopped by
//! a cancel flag (checked between tokens), with the prompt cache shared only among one user's
//! requests.

use std::ops::ControlFlow;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use tessera_actors::jobs::Pipelines;
use tessera_actors::models::{Infer, InferError};
use tessera_events::content::Modality;
use tessera_events::UserId;
use tessera_models::runtime::llama::{ChatMessage, Finish, GenerateOptions, Generation};
use tessera_models::text::chat::{ChatModel, ChatRequest, TokenSink};
use tokio::sync::mpsc;

use super::metering::{kind, Metered};
use super::{Inference, InferenceError};

/// A conversation for the model to answer.
#[derive(Debug, Clone)]
pub struct ChatWork {
    pub messages: Vec<ChatMessage>,
    pub options: GenerateOptions,
    /// Drop the oldest turns until the prompt fits the context window, instead of refusing.
    pub fit: bool,
}

/// Takes each piece as it is generated; answers false when nobody reads any more, which ends
/// the generation.
pub type Pieces = Box<dyn FnMut(String) -> bool + Send>;

/// What a started chat reports: its pieces (when streamed), then its outcome.
#[derive(Debug)]
pub enum ChatEvent {
    Piece(String),
    Done(Result<Generation, InferError>),
}

/// One generation on the node's chat model for `user`.
pub async fn generate(
    pipelines: &Pipelines,
    user: UserId,
    work: ChatWork,
    cancel: Arc<AtomicBool>,
    pieces: Option<Pieces>,
) -> Result<Generation, InferError> {
    let on_token: Option<TokenSink> = pieces.map(|mut take| {
        // Memory is bounded by max_tokens; a reader that is gone ends the generation.
        Box::new(move |piece: &str| {
            if take(piece.to_owned()) {
                ControlFlow::Continue(())
            } else {
                ControlFlow::Break(())
            }
        }) as TokenSink
    });
    let options = GenerateOptions {
        // Cached prompt state is shared only among one user's requests.
        cache_scope: Some(user.to_string()),
        ..work.options
    };
    let request = ChatRequest {
        messages: work.messages,
        options,
        cancel,
        on_token,
        fit: work.fit,
    };
    match pipelines
        .chat
        .instance
        .send(Infer::<ChatModel>(request))
        .await
    {
        Ok(r) => r,
        Err(e) => Err(InferError::Stopped(e.to_string())),
    }
}

impl Inference {
    /// Checks `user`'s quota, then starts a chat in a task of its own: it outlives a caller
    /// that goes away, so the work done is metered (as `model`) whoever still listens. Pieces
    /// (when `stream`) and the outcome arrive on the returned channel.
    pub async fn start_chat(
        &self,
        user: UserId,
        model: String,
        work: ChatWork,
        stream: bool,
        cancel: Arc<AtomicBool>,
    ) -> Result<mpsc::UnboundedReceiver<ChatEvent>, InferenceError> {
        self.metering.gate(user).await?;
        let (tx, rx) = mpsc::unbounded_channel();
        let pieces: Option<Pieces> = stream.then(|| {
            let tx = tx.clone();
            Box::new(move |piece| tx.send(ChatEvent::Piece(piece)).is_ok()) as Pieces
        });
        let this = self.clone();
        actix_web::rt::spawn(async move {
            let started = Instant::now();
            let outcome = generate(&this.pipelines, user, work, cancel, pieces).await;
            if let Ok(g) = &outcome {
                let metered = Metered::since(kind::CHAT, Modality::Text, model, started)
                    .tokens(g.prompt_tokens as u64, g.completion_tokens as u64);
                this.metering.record_done(user, metered).await;
                if g.finish == Finish::Cancelled {
                    tracing::info!(%user, tokens = g.completion_tokens, "chat completion cancelled");
                }
            }
            let _ = tx.send(ChatEvent::Done(outcome));
        });
        Ok(rx)
    }
}
