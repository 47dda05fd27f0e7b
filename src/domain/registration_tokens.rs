//! Registration tokens: codes an admin hands out so that people may register when
//! `account.password_registration_token_required` is on.

use chrono::{DateTime, Utc};
use ulid::Ulid;

#[derive(Debug, Clone, PartialEq, Eq)]
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
