//! The projection crate's integration tests in one binary: each module was a test file of its
//! own. `cargo nextest` still runs every test in its own process.

mod support;

mod poison;
mod read_models;
mod runtime;
