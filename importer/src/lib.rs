//! `gatehouse-importer`: reads a Synapse homeserver (its `homeserver.yaml` and its database, on
//! PostgreSQL or SQLite) and turns what it finds into neutral records, handed in batches to a
//! [`Sink`]. It knows Synapse, not Gatehouse's tables: the `gatehouse` crate implements the sink
//! over its own store.
//!
//! Identifiers are ULIDs chosen by the importer, so that child records (emails, sessions, tokens)
//! can point at their user and session without a lookup in the target.
//!
//! - [`synapse_config`]: `homeserver.yaml` (several files merge like Synapse does).
//! - [`source`]: the Synapse database, read-only, streamed.
//! - [`checks`]: what must hold before migrating (`syn2mas check`).
//! - [`migrate`]: rows to records to the sink; [`report`] and [`progress`] say what happened.

pub mod checks;
pub mod migrate;
pub mod net;
mod pg_copy;
pub mod progress;
pub mod records;
pub mod report;
pub mod sink;
pub mod source;
pub mod synapse_config;
mod user_index;

pub use records::{
    AccessTokenRecord, CompatSessionRecord, EmailRecord, PasswordRecord, RefreshTokenRecord,
    UnsupportedThreepidRecord, UpstreamLinkRecord, UserRecord,
};
pub use sink::Sink;
