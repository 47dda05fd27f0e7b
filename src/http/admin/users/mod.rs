//! `/users`: user accounts. One file per operation.

mod bulk;
mod by_username;
mod create;
mod deactivate;
mod export_csv;
mod get;
mod import;
mod list;
mod lock;
mod reactivate;
mod set_admin;
mod set_displayname;
mod set_password;
mod unlock;

use chrono::{DateTime, Utc};
use poem_openapi::Object;
use ulid::Ulid;

use super::{error::AdminError, example, pagination::resource};
use crate::{domain::users::User, store::Reader};

/// What the admin API shows of a user.
#[derive(Debug, Clone, Object)]
pub struct UserAttributes {
    /// The Matrix localpart.
    pub username: String,
    pub created_at: DateTime<Utc>,
    /// When the user was locked (`null` when not locked).
    pub locked_at: Option<DateTime<Utc>>,
    /// When the user was deactivated (`null` when active).
    pub deactivated_at: Option<DateTime<Utc>>,
    /// Whether the user may request admin scopes.
    pub admin: bool,
    /// A guest account carried over from Synapse.
    pub legacy_guest: bool,
}

/// The example user, `@alice:example.com`.
pub(crate) const EXAMPLE_ID: Ulid = example::id("01JDS0S2T84TFF59TDWH9EDD1R");

impl poem_openapi::types::Example for UserAttributes {
    fn example() -> Self {
        Self {
            username: "alice".to_owned(),
            created_at: example::time("2024-11-28T09:14:05Z"),
            locked_at: None,
            deactivated_at: None,
            admin: false,
            legacy_guest: false,
        }
    }
}

resource!(
    /// A user account.
    UserResource, SingleUser, UserList, UserAttributes, "user", "/users", EXAMPLE_ID
);

impl From<User> for UserResource {
    fn from(user: User) -> Self {
        UserResource::new(
            user.id,
            UserAttributes {
                username: user.username,
                created_at: user.created_at,
                locked_at: user.locked_at,
                deactivated_at: user.deactivated_at,
                admin: user.can_request_admin,
                legacy_guest: user.is_guest,
            },
        )
    }
}

/// A ULID path parameter (checked by the spec's pattern too).
pub(crate) fn parse_id(what: &str, id: &str) -> Result<Ulid, AdminError> {
    Ulid::from_string(id)
        .map_err(|_| AdminError::bad_request(format!("{what} ID {id:?} is not a ULID")))
}

/// The user with this ID, or a 404.
pub(crate) async fn user_by_id(reader: &mut Reader, id: &str) -> Result<User, AdminError> {
    let id = parse_id("User", id)?;
    reader
        .users()
        .find_by_id(id)
        .await?
        .ok_or_else(|| AdminError::not_found(format!("User ID {id} not found")))
}

pub(crate) fn apis() -> impl poem_openapi::OpenApi {
    (
        list::Api,
        create::Api,
        get::Api,
        by_username::Api,
        set_password::Api,
        set_admin::Api,
        deactivate::Api,
        reactivate::Api,
        lock::Api,
        unlock::Api,
        set_displayname::Api,
        bulk::Api,
        export_csv::Api,
        import::Api,
    )
}
