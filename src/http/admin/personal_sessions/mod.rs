//! `/personal-sessions`: long-lived sessions for scripts and admin tooling, one `mpt_` token
//! at a time. The token string is shown once, when it is created or regenerated.

mod create;
mod get;
mod list;
mod regenerate;
mod revoke;

use chrono::{DateTime, Utc};
use poem_openapi::Object;

use ulid::Ulid;

use super::{error::AdminError, example, pagination::resource, users, users::parse_id};
use crate::{
    domain::personal::PersonalSession, services::accounts::IssuedPersonalToken, store::Reader,
    store::personal::PersonalSessionWithExpiry,
};

#[derive(Clone, Object)]
pub struct PersonalSessionAttributes {
    pub created_at: DateTime<Utc>,
    /// When it was revoked (`null` while active).
    pub revoked_at: Option<DateTime<Utc>>,
    /// The user who created it (`null` when a client did).
    pub owner_user_id: Option<String>,
    /// The OAuth client that created it (`null` when a user did).
    pub owner_client_id: Option<String>,
    /// The user the token acts as.
    pub actor_user_id: String,
    /// What it is for, for a human.
    pub human_name: String,
    /// The space-separated scope of its tokens.
    pub scope: String,
    pub last_active_at: Option<DateTime<Utc>>,
    pub last_active_ip: Option<String>,
    /// When its current token expires (`null`: never, or no valid token).
    pub expires_at: Option<DateTime<Utc>>,
    /// The `mpt_` token: only in the answers of create and regenerate, never shown again.
    #[oai(skip_serializing_if_is_none)]
    pub access_token: Option<String>,
}

impl std::fmt::Debug for PersonalSessionAttributes {
    // Secrets stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersonalSessionAttributes")
            .field("created_at", &self.created_at)
            .field("revoked_at", &self.revoked_at)
            .field("owner_user_id", &self.owner_user_id)
            .field("owner_client_id", &self.owner_client_id)
            .field("actor_user_id", &self.actor_user_id)
            .field("human_name", &self.human_name)
            .field("scope", &self.scope)
            .field("last_active_at", &self.last_active_at)
            .field("last_active_ip", &self.last_active_ip)
            .field("expires_at", &self.expires_at)
            .field(
                "access_token",
                &crate::domain::redact::RedactedOption(&self.access_token),
            )
            .finish()
    }
}

/// The example user's token for a backup script.
const EXAMPLE_ID: Ulid = example::id("01JJ1JF880YA61ZCBW4E8C34PF");

impl poem_openapi::types::Example for PersonalSessionAttributes {
    /// As listed or fetched: without `access_token`.
    fn example() -> Self {
        Self {
            created_at: example::time("2025-01-20T10:00:00Z"),
            revoked_at: None,
            owner_user_id: Some(users::EXAMPLE_ID.to_string()),
            owner_client_id: None,
            actor_user_id: users::EXAMPLE_ID.to_string(),
            human_name: "Nightly backup script".to_owned(),
            scope: "urn:matrix:client:api:*".to_owned(),
            last_active_at: Some(example::time("2025-01-21T02:00:04Z")),
            last_active_ip: Some("198.51.100.7".to_owned()),
            expires_at: Some(example::time("2025-04-20T10:00:00Z")),
            access_token: None,
        }
    }
}

resource!(
    /// A personal session.
    PersonalSessionResource, SinglePersonalSession, PersonalSessionList, PersonalSessionAttributes,
    "personal-session", "/personal-sessions", EXAMPLE_ID
);

impl PersonalSessionResource {
    fn build(
        session: PersonalSession,
        expires_at: Option<DateTime<Utc>>,
        access_token: Option<String>,
    ) -> Self {
        PersonalSessionResource::new(
            session.id,
            PersonalSessionAttributes {
                created_at: session.created_at,
                revoked_at: session.revoked_at,
                owner_user_id: session.owner_user_id.map(|id| id.to_string()),
                owner_client_id: session.owner_client_id.map(|id| id.to_string()),
                actor_user_id: session.actor_user_id.to_string(),
                human_name: session.human_name,
                scope: session.scope.to_string(),
                last_active_at: session.last_active_at,
                last_active_ip: session.last_active_ip,
                expires_at,
                access_token,
            },
        )
    }
}

impl From<PersonalSessionWithExpiry> for PersonalSessionResource {
    fn from(found: PersonalSessionWithExpiry) -> Self {
        Self::build(found.session, found.expires_at, None)
    }
}

impl From<IssuedPersonalToken> for PersonalSessionResource {
    fn from(issued: IssuedPersonalToken) -> Self {
        Self::build(
            issued.session,
            issued.token.expires_at,
            Some(issued.access_token),
        )
    }
}

async fn session_by_id(
    reader: &mut Reader,
    id: &str,
) -> Result<PersonalSessionWithExpiry, AdminError> {
    let id = parse_id("Personal session", id)?;
    reader
        .personal()
        .find_session_with_expiry(id)
        .await?
        .ok_or_else(|| AdminError::not_found(format!("Personal session ID {id} not found")))
}

/// `expires_in` seconds as a duration (at most about 100 years).
fn expires_in(seconds: Option<u32>) -> Option<chrono::Duration> {
    seconds.map(|seconds| chrono::Duration::seconds(i64::from(seconds)))
}

pub(crate) fn apis() -> impl poem_openapi::OpenApi {
    (
        list::Api,
        create::Api,
        get::Api,
        revoke::Api,
        regenerate::Api,
    )
}
