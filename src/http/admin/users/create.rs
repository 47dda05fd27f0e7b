//! `POST /users`: create a user (and queue its provisioning in the homeserver).

use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};

use super::{SingleUser, UserResource};
use crate::{
    http::{
        AppState,
        admin::{
            AdminTag,
            auth::AdminAuth,
            error::{BAD_REQUEST, CONFLICT, OpError, UNPROCESSABLE, UNSUPPORTED_MEDIA_TYPE},
        },
    },
    services::accounts::{self, Registration},
};

/// A new user.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct CreateUserRequest {
    /// The Matrix localpart: lower-case letters, digits and `._=-/+`.
    #[oai(validator(min_length = 1, max_length = 255))]
    pub username: String,
    /// Accepted for MAS compatibility; Gatehouse does not ask the homeserver first.
    #[oai(default)]
    pub skip_homeserver_check: bool,
    /// Display name to set in the homeserver when the user is provisioned.
    pub displayname: Option<String>,
}

impl poem_openapi::types::Example for CreateUserRequest {
    fn example() -> Self {
        Self {
            username: "alice".to_owned(),
            skip_homeserver_check: false,
            displayname: Some("Alice Liddell".to_owned()),
        }
    }
}

#[derive(Debug, ApiResponse)]
pub enum Created {
    /// The user was created.
    #[oai(status = 201)]
    Created(Json<SingleUser>),
}

pub struct Api;

#[OpenApi(tag = "AdminTag::User")]
impl Api {
    /// Create a user
    ///
    /// The user has no password and no email; it is provisioned in the homeserver by a job.
    /// A taken username is a 409, an invalid one a 422.
    #[oai(path = "/users", method = "post", operation_id = "createUser")]
    async fn create(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        body: Json<CreateUserRequest>,
    ) -> Result<Created, OpError<{ BAD_REQUEST | CONFLICT | UNSUPPORTED_MEDIA_TYPE | UNPROCESSABLE }>>
    {
        let body = body.0;
        let user = accounts::register_user(
            &state.store,
            state.clock.as_ref(),
            &state.passwords,
            Registration {
                username: body.username,
                display_name: body.displayname,
                ..Registration::default()
            },
        )
        .await?;
        Ok(Created::Created(UserResource::from(user).single()))
    }
}
