//! Browser sessions: a person signed in to Gatehouse's own pages (a cookie names the session).
//! A session is open until it is finished (sign-out, an admin, ending all of a user's sessions)
//! or it outlives its [`BrowserSessionLimits`]: an absolute lifetime and an idle timeout.

use chrono::{DateTime, Duration, Utc};
use ulid::Ulid;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserSession {
    pub id: Ulid,
    pub user_id: Ulid,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub user_agent: Option<String>,
    pub last_active_at: Option<DateTime<Utc>>,
    pub last_active_ip: Option<String>,
}

/// How long a browser session may last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrowserSessionLimits {
    /// From its start, whatever happens.
    pub lifetime: Duration,
    /// Since it was last used.
    pub idle_timeout: Duration,
}

/// How often a session's activity is written at most: finer records are not worth a write on
/// every page view.
pub const ACTIVITY_GRANULARITY: Duration = Duration::minutes(1);

impl BrowserSession {
    /// When it was last known to be used.
    pub fn last_seen(&self) -> DateTime<Utc> {
        self.last_active_at.unwrap_or(self.created_at)
    }

    /// Whether it still signs its browser in at `now`.
    pub fn is_open(&self, now: DateTime<Utc>, limits: &BrowserSessionLimits) -> bool {
        self.finished_at.is_none()
            && now < self.created_at + limits.lifetime
            && now < self.last_seen() + limits.idle_timeout
    }

    /// Whether using it at `now` should be recorded (the record is older than the granularity).
    pub fn activity_is_stale(&self, now: DateTime<Utc>) -> bool {
        now - self.last_seen() >= ACTIVITY_GRANULARITY
    }
}

impl BrowserSessionLimits {
    /// Sessions started before this instant have outlived their lifetime at `now`.
    pub fn started_before(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now - self.lifetime
    }

    /// Sessions last seen before this instant have been idle too long at `now`.
    pub fn seen_before(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now - self.idle_timeout
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_ends_at_its_lifetime_or_idle_timeout() {
        let start = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        let limits = BrowserSessionLimits {
            lifetime: Duration::days(30),
            idle_timeout: Duration::days(7),
        };
        let mut session = BrowserSession {
            id: Ulid::nil(),
            user_id: Ulid::nil(),
            created_at: start,
            finished_at: None,
            user_agent: None,
            last_active_at: None,
            last_active_ip: None,
        };
        assert!(session.is_open(start + Duration::days(6), &limits));
        assert!(!session.is_open(start + Duration::days(7), &limits), "idle");
        session.last_active_at = Some(start + Duration::days(25));
        assert!(session.is_open(start + Duration::days(29), &limits));
        assert!(
            !session.is_open(start + Duration::days(30), &limits),
            "lifetime"
        );
        session.finished_at = Some(start + Duration::days(1));
        assert!(
            !session.is_open(start + Duration::days(2), &limits),
            "finished"
        );
        assert!(session.activity_is_stale(start + Duration::days(25) + Duration::seconds(60)));
        assert!(!session.activity_is_stale(start + Duration::days(25) + Duration::seconds(59)));
    }
}
