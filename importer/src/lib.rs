//! `gatehouse-importer`: reads a Synapse homeserver (its `homeserver.yaml` and its database, on
//! PostgreSQL or SQLite) and turns what it finds into neutral records, handed in batches to a
//! [`Sink`]. It knows Synapse, not Gatehouse's tables: the `gatehouse` crate implements the sink
//! over its own store.
//!
//! Identifiers are ULIDs chosen by the importer, so that child records (emails, sessions, tokens)
//! can point at their user and session without a lookup in the target.

pub mod records;
pub mod sink;

pub use records::{
    AccessTokenRecord, CompatSessionRecord, EmailRecord, RefreshTokenRecord,
    UnsupportedThreepidRecord, UpstreamLinkRecord, UserRecord,
};
pub use sink::Sink;
