//! Registration tokens: codes an admin hands out so that people may register when
//! `account.password_registration_token_required` is on.

use chrono::{DateTime, Utc};
use ulid::Ulid;

#[derive(Clone, PartialEq, Eq)]
pub struct RegistrationToken {
    pub id: Ulid,
    pub token: String,
    /// How many registrations it allows; `None` = unlimited.
    pub usage_limit: Option<u32>,
    pub times_used: u32,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for RegistrationToken {
    // Secrets stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistrationToken")
            .field("id", &self.id)
            .field("token", &crate::domain::redact::Redacted)
            .field("usage_limit", &self.usage_limit)
            .field("times_used", &self.times_used)
            .field("created_at", &self.created_at)
            .field("last_used_at", &self.last_used_at)
            .field("expires_at", &self.expires_at)
            .field("revoked_at", &self.revoked_at)
            .finish()
    }
}

impl RegistrationToken {
    /// Whether one more registration may use this token at `now`.
    pub fn is_valid(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none()
            && self.expires_at.is_none_or(|expires_at| now < expires_at)
            && self.usage_limit.is_none_or(|limit| self.times_used < limit)
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    #[test]
    fn debug_redacts_the_token() {
        let token = RegistrationToken {
            id: Ulid::nil(),
            token: "let-me-in-7f3a".into(),
            usage_limit: None,
            times_used: 0,
            created_at: DateTime::from_timestamp(1_000_000, 0).unwrap_or_default(),
            last_used_at: None,
            expires_at: None,
            revoked_at: None,
        };
        let debug = format!("{token:?}");
        assert!(!debug.contains("let-me-in-7f3a"), "{debug}");
        assert!(debug.contains("token: [redacted]"), "{debug}");
    }

    #[test]
    fn validity() {
        let now = DateTime::from_timestamp(1_000_000, 0).unwrap_or_default();
        let token = RegistrationToken {
            id: Ulid::nil(),
            token: "abc".into(),
            usage_limit: Some(1),
            times_used: 0,
            created_at: now,
            last_used_at: None,
            expires_at: Some(now + Duration::hours(1)),
            revoked_at: None,
        };
        assert!(token.is_valid(now));
        assert!(!token.is_valid(now + Duration::hours(1)));
        assert!(
            !RegistrationToken {
                times_used: 1,
                ..token.clone()
            }
            .is_valid(now)
        );
        assert!(
            !RegistrationToken {
                revoked_at: Some(now),
                ..token.clone()
            }
            .is_valid(now)
        );
        assert!(
            RegistrationToken {
                usage_limit: None,
                times_used: 99,
                ..token
            }
            .is_valid(now)
        );
    }
}
