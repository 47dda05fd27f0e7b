//! Email addresses attached to users. Every stored address counts as verified (as in MAS).

use chrono::{DateTime, Utc};
use ulid::Ulid;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserEmail {
    pub id: Ulid,
    pub user_id: Ulid,
    pub email: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a valid email address")]
pub struct InvalidEmail(pub String);

/// Accept an address of the form `local@domain` (RFC 5322 addr-spec, no display name), as the
/// `email_address` crate parses it. The address is kept as given: case is preserved.
pub fn validate_email(email: &str) -> Result<(), InvalidEmail> {
    let valid = email.len() <= 254
        && email.contains('@')
        && !email.contains(['<', '>', ' '])
        && email_address::EmailAddress::is_valid(email);
    if valid {
        Ok(())
    } else {
        Err(InvalidEmail(email.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert!(validate_email("alice@example.org").is_ok());
        assert!(validate_email("Alice.Smith+tag@Example.ORG").is_ok());
        assert!(validate_email("not-an-email").is_err());
        assert!(validate_email("a@").is_err());
        assert!(validate_email("Alice <alice@example.org>").is_err());
        assert!(validate_email("").is_err());
    }
}
