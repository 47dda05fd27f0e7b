//! `GET /user-emails/{id}`: one address.

use poem::web::Data;
use poem_openapi::{OpenApi, param::Path, payload::Json};

use super::{SingleUserEmail, UserEmailResource, email_by_id};
use crate::http::{
    AppState,
    admin::{
        AdminTag,
        auth::AdminAuth,
        error::{BAD_REQUEST, NOT_FOUND, OpError},
    },
};

pub struct Api;

#[OpenApi(tag = "AdminTag::UserEmail")]
impl Api {
    /// Get a user email
    #[oai(
        path = "/user-emails/:id",
        method = "get",
        operation_id = "getUserEmail"
    )]
    async fn get(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        /// The address's ID.
        #[oai(validator(pattern = "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$"))]
        id: Path<String>,
    ) -> Result<Json<SingleUserEmail>, OpError<{ BAD_REQUEST | NOT_FOUND }>> {
        let email = email_by_id(&mut state.store.reader().await?, &id).await?;
        Ok(UserEmailResource::from(email).single())
    }
}
