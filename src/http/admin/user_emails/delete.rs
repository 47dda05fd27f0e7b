//! `DELETE /user-emails/{id}`: remove an address (the homeserver is told).

use poem::web::Data;
use poem_openapi::{ApiResponse, OpenApi, param::Path};

use crate::{
    http::{
        AppState,
        admin::{
            AdminTag,
            auth::AdminAuth,
            error::{BAD_REQUEST, NOT_FOUND, OpError},
            users::parse_id,
        },
    },
    services::accounts,
};

#[derive(Debug, ApiResponse)]
pub enum Deleted {
    /// The address was removed.
    #[oai(status = 204)]
    NoContent,
}

pub struct Api;

#[OpenApi(tag = "AdminTag::UserEmail")]
impl Api {
    /// Delete a user email
    #[oai(
        path = "/user-emails/:id",
        method = "delete",
        operation_id = "deleteUserEmail"
    )]
    async fn delete(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        /// The address's ID.
        #[oai(validator(pattern = "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$"))]
        id: Path<String>,
    ) -> Result<Deleted, OpError<{ BAD_REQUEST | NOT_FOUND }>> {
        let id = parse_id("User email", &id)?;
        accounts::remove_email(&state.store, state.clock.as_ref(), id).await?;
        Ok(Deleted::NoContent)
    }
}
