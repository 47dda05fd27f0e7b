//! Personal sessions: long-lived access for scripts and admin tooling, one `mpt_` token at a time.
//! The owner (a user or an OAuth client) created it; the actor is the user it acts as.

use chrono::{DateTime, Utc};
use ulid::Ulid;

use super::scopes::Scope;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonalSession {
    pub id: Ulid,
    pub owner_user_id: Option<Ulid>,
    pub owner_client_id: Option<Ulid>,
    pub actor_user_id: Ulid,
    pub human_name: String,
    pub scope: Scope,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_active_at: Option<DateTime<Utc>>,
    pub last_active_ip: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonalAccessToken {
    pub id: Ulid,
    pub session_id: Ulid,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl PersonalAccessToken {
    pub fn is_valid(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|expires_at| now < expires_at)
    }
}
