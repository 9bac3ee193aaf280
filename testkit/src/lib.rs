//! What Tessera's tests and benchmarks share: a fresh database per test cloned from a migrated
//! template ([`db`]), waiting for background work ([`wait`]), appends to the log ([`append`]);
//! with `ws`, the WebSocket client ([`ws`]) and a token verifier for the session actors
//! ([`verifier`]); with `app`, the application itself, in the test ([`app`]) or on a thread or
//! as a child process ([`server`]), sign-in over HTTP ([`signin`]), content calls ([`content`])
//! and the authentication service on its own ([`auth`]).

// Nothing here is tested on its own; an empty unit-test binary spares `--all-targets` linking
// the whole application once more.
#![cfg(not(test))]

pub mod append;
pub mod db;
pub mod wait;

#[cfg(feature = "ws")]
pub mod verifier;
#[cfg(feature = "ws")]
pub mod ws;

#[cfg(feature = "app")]
pub mod app;
#[cfg(feature = "app")]
pub mod auth;
#[cfg(feature = "app")]
pub mod content;
#[cfg(feature = "app")]
pub mod server;
#[cfg(feature = "app")]
pub mod signin;

pub use append::{append_owned, append_tagged};
pub use db::{TestDb, TEST_DATABASE_URL};
pub use wait::{eventually, eventually_within, PATIENCE};

#[cfg(feature = "ws")]
pub use verifier::TestVerifier;
#[cfg(feature = "ws")]
pub use ws::WsClient;
