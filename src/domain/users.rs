//! Users: the account a person logs in to, and the rules for its username (a Matrix localpart).

use chrono::{DateTime, Utc};
use ulid::Ulid;

/// A user account, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: Ulid,
    /// The Matrix localpart: `@<username>:<server_name>`.
    pub username: String,
    pub created_at: DateTime<Utc>,
    pub locked_at: Option<DateTime<Utc>>,
    pub deactivated_at: Option<DateTime<Utc>>,
    /// May ask for admin scopes (`urn:mas:admin`, `urn:synapse:admin:*`).
    pub can_request_admin: bool,
    /// A guest account carried over from Synapse ("legacy guest"); cannot log in.
    pub is_guest: bool,
}

impl User {
    /// Whether the user may get new sessions and use existing ones.
    pub fn is_active(&self) -> bool {
        self.locked_at.is_none() && self.deactivated_at.is_none()
    }
}

/// Why a username cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsernameError {
    #[error("username is empty")]
    Empty,
    #[error("username is longer than 255 characters")]
    TooLong,
    #[error("username {0:?} may only contain lower-case letters, digits and the characters ._=-/+")]
    InvalidCharacters(String),
}

/// Check a username against the Matrix localpart grammar Synapse enforces for new users
/// (spec "User Identifiers": `a-z 0-9 . _ = - / +`).
pub fn validate_username(username: &str) -> Result<(), UsernameError> {
    if username.is_empty() {
        return Err(UsernameError::Empty);
    }
    if username.len() > 255 {
        return Err(UsernameError::TooLong);
    }
    let allowed = |c: char| {
        c.is_ascii_lowercase()
            || c.is_ascii_digit()
            || matches!(c, '.' | '_' | '=' | '-' | '/' | '+')
    };
    if !username.chars().all(allowed) {
        return Err(UsernameError::InvalidCharacters(username.to_owned()));
    }
    Ok(())
}

/// Reduce what a client typed as a user identifier to a localpart: `@alice:example.org`
/// becomes `alice`, `alice` stays as it is.
pub fn localpart_from_identifier(identifier: &str) -> &str {
    match identifier.strip_prefix('@') {
        Some(rest) => rest
            .split_once(':')
            .map_or(rest, |(localpart, _)| localpart),
        None => identifier,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert!(validate_username("alice").is_ok());
        assert!(validate_username("a.b_c=d-e/f+1").is_ok());
        assert_eq!(validate_username(""), Err(UsernameError::Empty));
        assert!(matches!(
            validate_username("Alice"),
            Err(UsernameError::InvalidCharacters(_))
        ));
        assert!(matches!(
            validate_username("al ice"),
            Err(UsernameError::InvalidCharacters(_))
        ));
        assert!(matches!(
            validate_username("ålice"),
            Err(UsernameError::InvalidCharacters(_))
        ));
        assert_eq!(
            validate_username(&"a".repeat(256)),
            Err(UsernameError::TooLong)
        );
    }

    #[test]
    fn identifiers() {
        assert_eq!(localpart_from_identifier("@alice:example.org"), "alice");
        assert_eq!(localpart_from_identifier("alice"), "alice");
        assert_eq!(localpart_from_identifier("@alice"), "alice");
    }
}
