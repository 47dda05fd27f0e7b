//! Gatehouse: a Matrix authentication service (OAuth 2.0 / OpenID Connect provider for Synapse).
//!
//! The binary in `main.rs` only parses the command line; everything else lives here so that
//! integration tests and benchmarks drive the same code the CLI does.

pub mod cli;
pub mod config;
pub mod crypto;
pub mod domain;
pub mod http;
pub mod jobs;
pub mod services;
pub mod store;
pub mod synapse;
pub mod templates;
