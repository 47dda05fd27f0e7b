//! `POST /user-emails`: add a (verified) address to a user.

use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};

use super::{SingleUserEmail, UserEmailResource};
use crate::{
    http::{
        AppState,
        admin::{
            AdminTag,
            auth::AdminAuth,
            error::{
                BAD_REQUEST, CONFLICT, NOT_FOUND, OpError, UNPROCESSABLE, UNSUPPORTED_MEDIA_TYPE,
            },
            users::{self, user_by_id},
        },
    },
    services::accounts,
};

#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct AddUserEmailRequest {
    /// The user's ID.
    #[oai(validator(pattern = "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$"))]
    pub user_id: String,
    /// The address; it is treated as verified.
    #[oai(validator(min_length = 3, max_length = 254))]
    pub email: String,
}

impl poem_openapi::types::Example for AddUserEmailRequest {
    fn example() -> Self {
        Self {
            user_id: users::EXAMPLE_ID.to_string(),
            email: "alice@example.com".to_owned(),
        }
    }
}

#[derive(Debug, ApiResponse)]
pub enum Added {
    /// The address was added.
    #[oai(status = 201)]
    Created(Json<SingleUserEmail>),
}

pub struct Api;

#[OpenApi(tag = "AdminTag::UserEmail")]
impl Api {
    /// Add a user email
    ///
    /// An unknown user is a 404, an address the user already has a 409, an invalid address a 422.
    #[oai(path = "/user-emails", method = "post", operation_id = "addUserEmail")]
    async fn add(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        body: Json<AddUserEmailRequest>,
    ) -> Result<
        Added,
        OpError<{ BAD_REQUEST | NOT_FOUND | CONFLICT | UNSUPPORTED_MEDIA_TYPE | UNPROCESSABLE }>,
    > {
        let user = user_by_id(&mut state.store.reader().await?, &body.user_id).await?;
        let email =
            accounts::add_email(&state.store, state.clock.as_ref(), user.id, &body.email).await?;
        Ok(Added::Created(UserEmailResource::from(email).single()))
    }
}
