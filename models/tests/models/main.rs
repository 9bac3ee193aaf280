//! The model crate's integration tests in one binary: each module was a test file of its own.
//! `cargo nextest` still runs every test in its own process.

mod support;

mod audio;
mod catalog;
mod chat;
mod media;
mod roundtrip;
mod speech;
mod text_embed;
mod video;
mod vision;
