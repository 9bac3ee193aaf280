//! What the client sends: text messages, fragments reassembled, binary frames refused, and a
//! token bucket over all of them.

use std::time::Instant;

use actix::prelude::*;
use actix_ws::Item;

use super::{AuthState, SessionActor};
use crate::session::protocol::{
    parse_client_message, ClientMessage, CloseCause, ErrorCode, ServerMessage,
};
use crate::session::settings::SessionSettings;

/// A token bucket over the client's messages.
pub(super) struct Bucket {
    tokens: f64,
    refilled: Instant,
}

impl Bucket {
    pub(super) fn full(settings: &SessionSettings) -> Self {
        Self {
            tokens: f64::from(settings.message_burst.max(1)),
            refilled: Instant::now(),
        }
    }

    pub(super) fn take(&mut self, settings: &SessionSettings) -> bool {
        let now = Instant::now();
        let elapsed = now.duration_since(self.refilled).as_secs_f64();
        self.refilled = now;
        self.tokens = (self.tokens + elapsed * f64::from(settings.messages_per_second))
            .min(f64::from(settings.message_burst.max(1)));
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// A fragmented message being reassembled.
pub(super) struct Fragments {
    pub(super) text: bool,
    pub(super) bytes: Vec<u8>,
}

impl SessionActor {
    pub(super) fn on_text(&mut self, text: &str, ctx: &mut Context<Self>) {
        match parse_client_message(text) {
            Err(violation) => self.send_error(violation.code, &violation.message, ctx),
            Ok(ClientMessage::Ping { id }) => {
                self.send_message(&ServerMessage::Pong { id: id.as_ref() }, ctx)
            }
            Ok(ClientMessage::Auth {
                token,
                resume_from,
                topics,
            }) => match self.auth {
                AuthState::Waiting => {
                    if resume_from.is_some() {
                        self.options.resume_from = resume_from;
                    }
                    if let Some(topics) = topics {
                        self.options.topics = topics;
                    }
                    self.verify(token, ctx)
                }
                AuthState::Verifying | AuthState::Ready(_) => self.send_error(
                    ErrorCode::AlreadyAuthenticated,
                    "this session is already authenticated",
                    ctx,
                ),
            },
            Ok(ClientMessage::Subscribe { topics }) => {
                self.options.topics = topics;
                self.send_message(
                    &ServerMessage::Subscribed {
                        topics: topics.names(),
                    },
                    ctx,
                );
            }
            Ok(ClientMessage::Resume { position }) => match self.auth {
                AuthState::Ready(_) => {
                    self.send_message(&ServerMessage::Resumed { position }, ctx);
                    self.start_catch_up(position, ctx);
                }
                // Applies when the session becomes ready.
                AuthState::Waiting | AuthState::Verifying => {
                    self.options.resume_from = Some(position)
                }
            },
        }
    }

    /// Whether the client may send another message now; refuses it otherwise, and closes a
    /// client that keeps flooding.
    pub(super) fn admit(&mut self, ctx: &mut Context<Self>) -> bool {
        if self.bucket.take(&self.settings) {
            self.refused_in_row = 0;
            return true;
        }
        self.refused_in_row += 1;
        if self.refused_in_row >= self.settings.flood_close_after.max(1) {
            tracing::info!(
                session_id = %self.id,
                user_id = ?self.user_id(),
                "client keeps exceeding the message rate; closing"
            );
            self.send_error(
                ErrorCode::RateLimited,
                "too many messages; closing the session",
                ctx,
            );
            self.close(CloseCause::RateLimited, ctx);
        } else {
            let message = format!(
                "too many messages: at most {} per second (bursts of {}); this one was dropped",
                self.settings.messages_per_second, self.settings.message_burst
            );
            self.send_error(ErrorCode::RateLimited, &message, ctx);
        }
        false
    }

    pub(super) fn on_fragment(&mut self, item: Item, ctx: &mut Context<Self>) {
        let (first, text, chunk, last) = match item {
            Item::FirstText(b) => (true, true, b, false),
            Item::FirstBinary(b) => (true, false, b, false),
            Item::Continue(b) => (false, false, b, false),
            Item::Last(b) => (false, false, b, true),
        };
        if first == self.fragments.is_some() {
            // A new message inside another, or a continuation of nothing.
            return self.close(CloseCause::ProtocolError, ctx);
        }
        let fragments = self.fragments.get_or_insert_with(|| Fragments {
            text,
            bytes: Vec::new(),
        });
        if fragments.bytes.len() + chunk.len() > self.settings.max_frame_bytes {
            return self.close(CloseCause::FrameTooLarge, ctx);
        }
        fragments.bytes.extend_from_slice(&chunk);
        if !last {
            return;
        }
        let Some(Fragments { text, bytes }) = self.fragments.take() else {
            return;
        };
        if !self.admit(ctx) {
            return;
        }
        if !text {
            return self.on_binary(ctx);
        }
        match String::from_utf8(bytes) {
            Ok(text) => self.on_text(&text, ctx),
            Err(_) => self.close(CloseCause::ProtocolError, ctx),
        }
    }

    pub(super) fn on_binary(&mut self, ctx: &mut Context<Self>) {
        self.send_error(
            ErrorCode::UnsupportedFrame,
            "binary frames are not supported; send JSON text frames",
            ctx,
        );
    }
}
