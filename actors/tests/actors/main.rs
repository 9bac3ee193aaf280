//! The actor crate's integration tests in one binary: each module was a test file of its own.
//! `cargo nextest` still runs every test in its own process.

mod helpers;

mod actors_registry;
mod actors_supervision;
mod model_instances;
mod ws_protocol;
mod ws_resume;
