//! Integration tests: one binary (so the large dependency tree is linked once), one module per
//! area. Every storage test runs on SQLite and on PostgreSQL; see `common`.

// Tests make throwaway ids (database names, unknown-resource probes) without a clock; the ban
// on `Ulid::new` keeps the server's own ids on the injected clock.
#![allow(clippy::disallowed_methods)]

mod admin;
mod browser;
mod browser_pages;
mod cli;
mod client_auth;
mod common;
mod compat_http;
mod hardening;
mod harness;
mod html_forms;
mod matrix_sdk_login;
mod node_peer;
mod oauth2_grants;
mod oauth_authorize;
mod oauth_device;
mod oauth_token;
mod openapi;
mod openid_client;
mod password_upgrade;
mod registration;
mod server;
mod store_compat;
mod store_jobs;
mod store_users;
mod syn2mas;
mod syn2mas_e2e;
mod syn2mas_sources;
mod synapse;
mod synapse_e2e;
mod tls;
mod token_ending;
