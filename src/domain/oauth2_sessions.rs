//! OAuth 2.0 sessions: what a client was granted, for a user or (client credentials) for
//! itself. A session holds access and refresh tokens; finishing it ends all of them.

use chrono::{DateTime, Utc};
use ulid::Ulid;

use super::scopes::Scope;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuth2Session {
    pub id: Ulid,
    pub client_id: Ulid,
    /// `None` for a client's own session (client credentials).
    pub user_id: Option<Ulid>,
    /// The browser session the user consented in, if any.
    pub user_session_id: Option<Ulid>,
    pub scope: Scope,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub last_active_at: Option<DateTime<Utc>>,
    pub last_active_ip: Option<String>,
    pub user_agent: Option<String>,
    pub human_name: Option<String>,
}

impl OAuth2Session {
    pub fn is_finished(&self) -> bool {
        self.finished_at.is_some()
    }
}
