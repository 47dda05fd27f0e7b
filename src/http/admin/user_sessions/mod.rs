//! `/user-sessions`: browser sessions, a person signed in to Gatehouse's own pages.

mod finish;
mod get;
mod list;

use chrono::{DateTime, Utc};
use poem_openapi::Object;

use ulid::Ulid;

use super::{error::AdminError, example, pagination::resource, users, users::parse_id};
use crate::{domain::browser_sessions::BrowserSession, store::Reader};

#[derive(Debug, Clone, Object)]
pub struct UserSessionAttributes {
    pub created_at: DateTime<Utc>,
    /// When it ended (`null` while active).
    pub finished_at: Option<DateTime<Utc>>,
    /// The user's ID.
    pub user_id: String,
    pub user_agent: Option<String>,
    pub last_active_at: Option<DateTime<Utc>>,
    pub last_active_ip: Option<String>,
}

/// The example user's browser session.
pub(crate) const EXAMPLE_ID: Ulid = example::id("01JHHYYFHR27H6P3AMKDQG6STT");

impl poem_openapi::types::Example for UserSessionAttributes {
    fn example() -> Self {
        Self {
            created_at: example::time("2025-01-14T08:30:11Z"),
            finished_at: None,
            user_id: users::EXAMPLE_ID.to_string(),
            user_agent: Some(
                "Mozilla/5.0 (X11; Linux x86_64; rv:134.0) Gecko/20100101 Firefox/134.0".to_owned(),
            ),
            last_active_at: Some(example::time("2025-01-14T09:02:47Z")),
            last_active_ip: Some("203.0.113.24".to_owned()),
        }
    }
}

resource!(
    /// A browser session.
    UserSessionResource, SingleUserSession, UserSessionList, UserSessionAttributes,
    "user-session", "/user-sessions", EXAMPLE_ID
);

impl From<BrowserSession> for UserSessionResource {
    fn from(session: BrowserSession) -> Self {
        UserSessionResource::new(
            session.id,
            UserSessionAttributes {
                created_at: session.created_at,
                finished_at: session.finished_at,
                user_id: session.user_id.to_string(),
                user_agent: session.user_agent,
                last_active_at: session.last_active_at,
                last_active_ip: session.last_active_ip,
            },
        )
    }
}

async fn session_by_id(reader: &mut Reader, id: &str) -> Result<BrowserSession, AdminError> {
    let id = parse_id("User session", id)?;
    reader
        .browser_sessions()
        .find(id)
        .await?
        .ok_or_else(|| AdminError::not_found(format!("User session ID {id} not found")))
}

pub(crate) fn apis() -> impl poem_openapi::OpenApi {
    (list::Api, get::Api, finish::Api)
}
