//! `/compat-sessions`: sessions from the legacy Matrix `/login` (one per device).

mod finish;
mod get;
mod list;

pub(crate) use list::SessionStatus;

use chrono::{DateTime, Utc};
use poem_openapi::Object;

use ulid::Ulid;

use super::{error::AdminError, example, pagination::resource, users, users::parse_id};
use crate::{domain::compat::CompatSession, store::Reader};

#[derive(Debug, Clone, Object)]
pub struct CompatSessionAttributes {
    /// The user's ID.
    pub user_id: String,
    /// The Matrix device ID (`null` for device-less tokens carried over from Synapse).
    pub device_id: Option<String>,
    /// The browser session it was made from, if any.
    pub user_session_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub user_agent: Option<String>,
    pub last_active_at: Option<DateTime<Utc>>,
    pub last_active_ip: Option<String>,
    /// When it ended (`null` while active).
    pub finished_at: Option<DateTime<Utc>>,
    /// The device's display name.
    pub human_name: Option<String>,
    /// Where the SSO login it came from sent the client back (`null` for other logins).
    pub redirect_uri: Option<String>,
}

/// The session of the example user's phone.
pub(crate) const EXAMPLE_ID: Ulid = example::id("01JHHZ01BGHM8HEE7QV4YSR5S4");

impl poem_openapi::types::Example for CompatSessionAttributes {
    fn example() -> Self {
        Self {
            user_id: users::EXAMPLE_ID.to_string(),
            device_id: Some("QWERTYUIOP".to_owned()),
            user_session_id: None,
            created_at: example::time("2025-01-14T08:31:02Z"),
            user_agent: Some("Element/1.11.90 (Pixel 8; Android 15)".to_owned()),
            last_active_at: Some(example::time("2025-01-14T09:05:19Z")),
            last_active_ip: Some("203.0.113.24".to_owned()),
            finished_at: None,
            human_name: Some("Alice's phone".to_owned()),
            redirect_uri: None,
        }
    }
}

resource!(
    /// A compatibility session.
    CompatSessionResource, SingleCompatSession, CompatSessionList, CompatSessionAttributes,
    "compat-session", "/compat-sessions", EXAMPLE_ID
);

impl From<CompatSession> for CompatSessionResource {
    fn from(session: CompatSession) -> Self {
        CompatSessionResource::new(
            session.id,
            CompatSessionAttributes {
                user_id: session.user_id.to_string(),
                device_id: session.device_id,
                user_session_id: None,
                created_at: session.created_at,
                user_agent: session.user_agent,
                last_active_at: session.last_active_at,
                last_active_ip: session.last_active_ip,
                finished_at: session.finished_at,
                human_name: session.human_name,
                redirect_uri: session.redirect_uri,
            },
        )
    }
}

async fn session_by_id(reader: &mut Reader, id: &str) -> Result<CompatSession, AdminError> {
    let id = parse_id("Compatibility session", id)?;
    reader
        .compat()
        .find_session(id)
        .await?
        .ok_or_else(|| AdminError::not_found(format!("Compatibility session ID {id} not found")))
}

pub(crate) fn apis() -> impl poem_openapi::OpenApi {
    (list::Api, get::Api, finish::Api)
}
