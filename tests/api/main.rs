//! The root crate's integration tests in one binary: each module was a test file of its own.
//! They share the application, sign-in and the WebSocket client of the test kit, through
//! `helpers`. `cargo nextest` still runs every test in its own process.

mod helpers;

mod accounts;
mod api_admin;
mod api_auth;
mod api_content;
mod api_content_lifecycle;
mod api_edge;
mod api_uploads;
mod api_ws;
mod auth_http;
mod auth_read_models;
mod auth_service;
mod behind_a_proxy;
mod blob_store;
mod chat_providers;
mod cli;
mod content_previews;
mod content_s3;
mod conversations;
mod cross_node_processes;
mod generate;
mod hostile_input;
mod hot_cache;
mod openai_v1;
mod processing;
mod processing_media;
mod rate_limits;
mod search;
mod web_ui;
mod ws_sessions;
