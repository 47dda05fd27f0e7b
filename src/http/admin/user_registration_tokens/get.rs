//! `GET /user-registration-tokens/{id}`: one registration token.

use poem::web::Data;
use poem_openapi::{OpenApi, param::Path, payload::Json};

use super::{RegistrationTokenResource, SingleRegistrationToken, token_by_id};
use crate::http::{
    AppState,
    admin::{
        AdminTag,
        auth::AdminAuth,
        error::{BAD_REQUEST, NOT_FOUND, OpError},
    },
};

pub struct Api;

#[OpenApi(tag = "AdminTag::UserRegistrationToken")]
impl Api {
    /// Get a registration token
    #[oai(
        path = "/user-registration-tokens/:id",
        method = "get",
        operation_id = "getUserRegistrationToken"
    )]
    async fn get(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        /// The token's ID.
        #[oai(validator(pattern = "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$"))]
        id: Path<String>,
    ) -> Result<Json<SingleRegistrationToken>, OpError<{ BAD_REQUEST | NOT_FOUND }>> {
        let token = token_by_id(&mut state.store.reader().await?, &id).await?;
        Ok(RegistrationTokenResource::at(token, state.clock.now()).single())
    }
}
