//! `/oauth2-sessions`: OAuth 2.0 grants of clients, for a user or for the client itself.

mod finish;
mod get;
mod list;

use chrono::{DateTime, Utc};
use poem_openapi::Object;

use ulid::Ulid;

use super::{
    error::AdminError, example, oauth2_clients, pagination::resource, user_sessions, users,
    users::parse_id,
};
use crate::{domain::oauth2_sessions::OAuth2Session, store::Reader};

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

/// The example user's grant to the example client.
const EXAMPLE_ID: Ulid = example::id("01JHHZ16F0TEP0Y8EXPSPATJH6");

impl poem_openapi::types::Example for OAuth2SessionAttributes {
    fn example() -> Self {
        Self {
            created_at: example::time("2025-01-14T08:31:40Z"),
            finished_at: None,
            user_id: Some(users::EXAMPLE_ID.to_string()),
            user_session_id: Some(user_sessions::EXAMPLE_ID.to_string()),
            client_id: oauth2_clients::EXAMPLE_ID.to_string(),
            scope: "openid urn:matrix:client:api:* urn:matrix:client:device:AYTRBLMXPQ".to_owned(),
            user_agent: Some(
                "Mozilla/5.0 (X11; Linux x86_64; rv:134.0) Gecko/20100101 Firefox/134.0".to_owned(),
            ),
            last_active_at: Some(example::time("2025-01-14T09:01:12Z")),
            last_active_ip: Some("203.0.113.24".to_owned()),
            human_name: Some("Element on Firefox".to_owned()),
        }
    }
}

resource!(
    /// An OAuth 2.0 session.
    OAuth2SessionResource, SingleOAuth2Session, OAuth2SessionList, OAuth2SessionAttributes,
    "oauth2-session", "/oauth2-sessions", EXAMPLE_ID
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
                scope: session.scope.to_string(),
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
        .oauth2_sessions()
        .find(id)
        .await?
        .ok_or_else(|| AdminError::not_found(format!("OAuth 2.0 session ID {id} not found")))
}

pub(crate) fn apis() -> impl poem_openapi::OpenApi {
    (list::Api, get::Api, finish::Api)
}
