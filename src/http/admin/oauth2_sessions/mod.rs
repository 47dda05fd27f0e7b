//! `/oauth2-sessions`: OAuth 2.0 grants of clients, for a user or for the client itself.

mod finish;
mod get;
mod list;

use chrono::{DateTime, Utc};
use poem_openapi::Object;

use super::{error::AdminError, pagination::resource, users::parse_id};
use crate::store::{Reader, admin_sessions::OAuth2Session};

#[derive(Debug, Clone, Object)]
pub struct OAuth2SessionAttributes {
    pub created_at: DateTime<Utc>,
    /// When it ended (`null` while active).
    pub finished_at: Option<DateTime<Utc>>,
    /// The user's ID (`null` for a client's own session).
    pub user_id: Option<String>,
    /// The browser session it was granted from, if any.
    pub user_session_id: Option<String>,
    /// The client's ID.
    pub client_id: String,
    /// The space-separated scope.
    pub scope: String,
    pub user_agent: Option<String>,
    pub last_active_at: Option<DateTime<Utc>>,
    pub last_active_ip: Option<String>,
    /// A name for the session, for a human.
    pub human_name: Option<String>,
}

resource!(
    /// An OAuth 2.0 session.
    OAuth2SessionResource, SingleOAuth2Session, OAuth2SessionList, OAuth2SessionAttributes,
    "oauth2-session", "/oauth2-sessions"
);

impl From<OAuth2Session> for OAuth2SessionResource {
    fn from(session: OAuth2Session) -> Self {
        OAuth2SessionResource::new(
            session.id,
            OAuth2SessionAttributes {
                created_at: session.created_at,
                finished_at: session.finished_at,
                user_id: session.user_id.map(|id| id.to_string()),
                user_session_id: session.user_session_id.map(|id| id.to_string()),
                client_id: session.client_id.to_string(),
                scope: session.scope,
                user_agent: session.user_agent,
                last_active_at: session.last_active_at,
                last_active_ip: session.last_active_ip,
                human_name: session.human_name,
            },
        )
    }
}

async fn session_by_id(reader: &mut Reader, id: &str) -> Result<OAuth2Session, AdminError> {
    let id = parse_id("OAuth 2.0 session", id)?;
    reader
        .admin_sessions()
        .find_oauth2_session(id)
        .await?
        .ok_or_else(|| AdminError::not_found(format!("OAuth 2.0 session ID {id} not found")))
}

pub(crate) fn apis() -> impl poem_openapi::OpenApi {
    (list::Api, get::Api, finish::Api)
}
