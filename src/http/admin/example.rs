//! What the OpenAPI document's examples are built from. Every request and response body
//! carries one (`#[oai(example)]` and `impl Example`), written beside the type it shows and
//! built from that type, so it is valid against its schema by construction. Resources refer to
//! each other through their modules' `EXAMPLE_ID`s (an email's `user_id` is the example user's
//! ID), and the time in each ULID is its resource's `created_at`.

use chrono::{DateTime, Utc};
use ulid::Ulid;

/// A ULID from its text, checked when compiling.
pub(crate) const fn id(text: &str) -> Ulid {
    match Ulid::from_string(text) {
        Ok(id) => id,
        Err(_) => panic!("an example ID is not a ULID"),
    }
}

/// A timestamp from its RFC 3339 text.
pub(crate) fn time(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("an example timestamp is RFC 3339")
        .to_utc()
}
