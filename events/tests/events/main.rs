//! The event store's integration tests in one binary (`cargo nextest` runs each test in its own
//! process).

mod event_store;
