//! Compatibility-layer sessions: what a legacy Matrix `/login` creates. One session is one Matrix
//! device; it holds access tokens (and, when the client asked, refresh tokens that rotate them).

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use ulid::Ulid;

use super::tokens::random_alphanumeric;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompatSession {
    pub id: Ulid,
    pub user_id: Ulid,
    /// The Matrix device ID. `None` for device-less tokens carried over from Synapse.
    pub device_id: Option<String>,
    pub human_name: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The session carries Synapse admin rights (`urn:synapse:admin:*`).
    pub is_synapse_admin: bool,
    pub last_active_at: Option<DateTime<Utc>>,
    pub last_active_ip: Option<String>,
    pub user_agent: Option<String>,
    /// Where the SSO login it came from sent the client back (`None` for password logins).
    /// Read from that login; not written with the session.
    pub redirect_uri: Option<String>,
}

impl CompatSession {
    pub fn is_finished(&self) -> bool {
        self.finished_at.is_some()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompatAccessToken {
    pub id: Ulid,
    pub session_id: Ulid,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was first used; recorded for expiring tokens (those a refresh token rotates).
    pub first_used_at: Option<DateTime<Utc>>,
}

impl CompatAccessToken {
    pub fn is_valid(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_none_or(|expires_at| now < expires_at)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompatRefreshToken {
    pub id: Ulid,
    pub session_id: Ulid,
    pub access_token_id: Ulid,
    pub created_at: DateTime<Utc>,
    pub consumed_at: Option<DateTime<Utc>>,
    /// The refresh token that replaced this one when it was consumed.
    pub next_id: Option<Ulid>,
}

/// What presenting a refresh token leads to (RFC 9700 §4.14.2, with MAS's tolerance of a
/// client that refreshed twice because it lost the first answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshDecision {
    /// An unused refresh token: rotate it.
    Rotate,
    /// A consumed token whose successor nobody has used yet: the client lost the answer and
    /// retries. The successor is withdrawn and the rotation done again.
    RotateAgain,
    /// A consumed token presented after its successor was used: one of the two holders is not
    /// the client. End the session.
    Replay,
}

impl RefreshDecision {
    /// Decide for `presented`, given whether its successor (if it has one) was used: its own
    /// refresh token consumed, or its access token used.
    pub fn for_token(presented: &CompatRefreshToken, successor_used: bool) -> Self {
        Self::decide(presented.consumed_at.is_some(), successor_used)
    }

    /// Decide for a refresh token (compat or OAuth 2.0) that was `consumed` or not.
    pub fn decide(consumed: bool, successor_used: bool) -> Self {
        match (consumed, successor_used) {
            (false, _) => RefreshDecision::Rotate,
            (true, false) => RefreshDecision::RotateAgain,
            (true, true) => RefreshDecision::Replay,
        }
    }
}

/// Device IDs Gatehouse makes up when a client does not bring one: 10 letters and digits, as MAS.
pub fn generate_device_id(rng: &mut impl Rng) -> String {
    random_alphanumeric(rng, 10)
}

/// Device IDs must fit Synapse's limits (1..=255 characters) and carry no control characters.
pub fn is_valid_device_id(device_id: &str) -> bool {
    (1..=255).contains(&device_id.len()) && !device_id.chars().any(char::is_control)
}

/// When a refreshable compat access token made now expires.
pub fn refreshable_expiry(now: DateTime<Utc>, ttl: Duration) -> DateTime<Utc> {
    now + ttl
}

#[cfg(test)]
mod tests {
    use rand::{SeedableRng, rngs::StdRng};

    use super::*;

    #[test]
    fn device_ids() {
        let mut rng = StdRng::seed_from_u64(3);
        let id = generate_device_id(&mut rng);
        assert_eq!(id.len(), 10);
        assert!(is_valid_device_id(&id));
        assert!(!is_valid_device_id(""));
        assert!(!is_valid_device_id("bad\ndevice"));
        assert!(!is_valid_device_id(&"x".repeat(256)));
    }

    #[test]
    fn refresh_decisions() {
        let now = DateTime::from_timestamp(1_000_000, 0).unwrap_or_default();
        let mut token = CompatRefreshToken {
            id: Ulid::nil(),
            session_id: Ulid::nil(),
            access_token_id: Ulid::nil(),
            created_at: now,
            consumed_at: None,
            next_id: None,
        };
        assert_eq!(
            RefreshDecision::for_token(&token, false),
            RefreshDecision::Rotate
        );
        token.consumed_at = Some(now);
        assert_eq!(
            RefreshDecision::for_token(&token, false),
            RefreshDecision::RotateAgain
        );
        assert_eq!(
            RefreshDecision::for_token(&token, true),
            RefreshDecision::Replay
        );
    }

    #[test]
    fn token_expiry() {
        let now = DateTime::from_timestamp(1_000_000, 0).unwrap_or_default();
        let token = CompatAccessToken {
            id: Ulid::nil(),
            session_id: Ulid::nil(),
            created_at: now,
            expires_at: Some(refreshable_expiry(now, Duration::seconds(300))),
            first_used_at: None,
        };
        assert!(token.is_valid(now + Duration::seconds(299)));
        assert!(!token.is_valid(now + Duration::seconds(300)));
        let forever = CompatAccessToken {
            expires_at: None,
            ..token
        };
        assert!(forever.is_valid(now + Duration::days(10_000)));
    }
}
