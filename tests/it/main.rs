//! Integration tests: one binary (so the large dependency tree is linked once), one module per
//! area. Every storage test runs on SQLite and on PostgreSQL; see `common`.

mod admin;
mod cli;
mod common;
mod compat_http;
mod harness;
mod openapi;
mod password_upgrade;
mod server;
mod store_compat;
mod store_jobs;
mod store_users;
mod syn2mas;
mod syn2mas_e2e;
mod syn2mas_sources;
mod synapse;
mod synapse_e2e;
