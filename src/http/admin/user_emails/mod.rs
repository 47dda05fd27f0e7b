//! `/user-emails`: users' (verified) email addresses. One file per operation.

mod add;
mod delete;
mod get;
mod list;

use chrono::{DateTime, Utc};
use poem_openapi::Object;

use ulid::Ulid;

use super::{error::AdminError, example, pagination::resource, users, users::parse_id};
use crate::{domain::emails::UserEmail, store::Reader};

#[derive(Debug, Clone, Object)]
pub struct UserEmailAttributes {
    pub created_at: DateTime<Utc>,
    /// The user's ID.
    pub user_id: String,
    pub email: String,
}

/// The example user's address.
const EXAMPLE_ID: Ulid = example::id("01JDS0S3SGH4QX4FR84G98PBSK");

impl poem_openapi::types::Example for UserEmailAttributes {
    fn example() -> Self {
        Self {
            created_at: example::time("2024-11-28T09:14:06Z"),
            user_id: users::EXAMPLE_ID.to_string(),
            email: "alice@example.com".to_owned(),
        }
    }
}

resource!(
    /// An email address of a user (every stored address is verified).
    UserEmailResource, SingleUserEmail, UserEmailList, UserEmailAttributes, "user-email", "/user-emails",
    EXAMPLE_ID
);

impl From<UserEmail> for UserEmailResource {
    fn from(email: UserEmail) -> Self {
        UserEmailResource::new(
            email.id,
            UserEmailAttributes {
                created_at: email.created_at,
                user_id: email.user_id.to_string(),
                email: email.email,
            },
        )
    }
}

async fn email_by_id(reader: &mut Reader, id: &str) -> Result<UserEmail, AdminError> {
    let id = parse_id("User email", id)?;
    reader
        .emails()
        .find(id)
        .await?
        .ok_or_else(|| AdminError::not_found(format!("User email ID {id} not found")))
}

pub(crate) fn apis() -> impl poem_openapi::OpenApi {
    (list::Api, add::Api, get::Api, delete::Api)
}
