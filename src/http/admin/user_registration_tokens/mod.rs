//! `/user-registration-tokens`: codes that let people register when registration needs one.

mod create;
mod get;
mod list;
mod revoke;
mod unrevoke;
mod update;

use chrono::{DateTime, Utc};
use poem_openapi::Object;

use ulid::Ulid;

use super::{error::AdminError, example, pagination::resource, users::parse_id};
use crate::{domain::registration_tokens::RegistrationToken, store::Reader};

#[derive(Clone, Object)]
pub struct RegistrationTokenAttributes {
    /// The code to give to people who may register.
    pub token: String,
    /// Whether it would accept one more registration now.
    pub valid: bool,
    /// How many registrations it allows (`null`: unlimited).
    pub usage_limit: Option<u32>,
    /// How many registrations used it.
    pub times_used: u32,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it stops working (`null`: never).
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was revoked (`null`: not revoked).
    pub revoked_at: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for RegistrationTokenAttributes {
    // Secrets stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistrationTokenAttributes")
            .field("token", &crate::domain::redact::Redacted)
            .field("valid", &self.valid)
            .field("usage_limit", &self.usage_limit)
            .field("times_used", &self.times_used)
            .field("created_at", &self.created_at)
            .field("last_used_at", &self.last_used_at)
            .field("expires_at", &self.expires_at)
            .field("revoked_at", &self.revoked_at)
            .finish()
    }
}

/// A token for ten registrations, three of them used.
const EXAMPLE_ID: Ulid = example::id("01JGXXS5V0M2FT2W5K70WJCC2S");

impl poem_openapi::types::Example for RegistrationTokenAttributes {
    fn example() -> Self {
        Self {
            token: "Xq7Lm2pVt9Rk4Wd8Nc3B".to_owned(),
            valid: true,
            usage_limit: Some(10),
            times_used: 3,
            created_at: example::time("2025-01-06T13:45:00Z"),
            last_used_at: Some(example::time("2025-01-17T18:22:09Z")),
            expires_at: Some(example::time("2025-03-31T23:59:59Z")),
            revoked_at: None,
        }
    }
}

resource!(
    /// A user registration token.
    RegistrationTokenResource, SingleRegistrationToken, RegistrationTokenList,
    RegistrationTokenAttributes, "user-registration_token", "/user-registration-tokens",
    EXAMPLE_ID
);

impl RegistrationTokenResource {
    fn at(token: RegistrationToken, now: DateTime<Utc>) -> Self {
        RegistrationTokenResource::new(
            token.id,
            RegistrationTokenAttributes {
                valid: token.is_valid(now),
                token: token.token,
                usage_limit: token.usage_limit,
                times_used: token.times_used,
                created_at: token.created_at,
                last_used_at: token.last_used_at,
                expires_at: token.expires_at,
                revoked_at: token.revoked_at,
            },
        )
    }
}

async fn token_by_id(reader: &mut Reader, id: &str) -> Result<RegistrationToken, AdminError> {
    let id = parse_id("Registration token", id)?;
    reader
        .registration_tokens()
        .find_by_id(id)
        .await?
        .ok_or_else(|| AdminError::not_found(format!("Registration token ID {id} not found")))
}

pub(crate) fn apis() -> impl poem_openapi::OpenApi {
    (
        list::Api,
        create::Api,
        get::Api,
        update::Api,
        revoke::Api,
        unrevoke::Api,
    )
}
