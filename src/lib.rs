//! Tessera: the edge (CLI, configuration, HTTP, WebSocket, auth) and the wiring of the actor tree.

pub mod auth;
pub mod blob;
pub mod cache;
pub mod cli;
pub mod client_addr;
pub mod config;
pub mod content;
pub mod conversations;
pub mod dead_letters;
pub mod error;
pub mod generate;
pub mod inference;
pub mod openapi;
pub mod processing;
pub mod ratelimit;
pub mod redis_conn;
pub mod routes;
pub mod search;
pub mod site;
pub mod startup;
pub mod state;
pub mod telemetry;
