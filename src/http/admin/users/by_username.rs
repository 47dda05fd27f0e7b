//! `GET /users/by-username/{username}`: look a user up by localpart.

use poem::web::Data;
use poem_openapi::{OpenApi, param::Path, payload::Json};

use super::{SingleUser, UserResource};
use crate::http::{
    AppState,
    admin::{
        AdminTag,
        auth::AdminAuth,
        error::{AdminError, BAD_REQUEST, NOT_FOUND, OpError},
    },
};

pub struct Api;

#[OpenApi(tag = "AdminTag::User")]
impl Api {
    /// Get a user by its username
    #[oai(
        path = "/users/by-username/:username",
        method = "get",
        operation_id = "getUserByUsername"
    )]
    async fn by_username(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        /// The Matrix localpart, e.g. `alice`.
        username: Path<String>,
    ) -> Result<Json<SingleUser>, OpError<{ BAD_REQUEST | NOT_FOUND }>> {
        let mut reader = state.store.reader().await?;
        let user = reader
            .users()
            .find_by_username(&username)
            .await?
            .ok_or_else(|| AdminError::not_found(format!("User {:?} not found", username.0)))?;
        Ok(UserResource::from(user).single())
    }
}
