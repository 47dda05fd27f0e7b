//! `POST /user-registration-tokens/{id}/unrevoke`.

use poem::web::Data;
use poem_openapi::{OpenApi, param::Path, payload::Json};

use super::{RegistrationTokenResource, SingleRegistrationToken};
use crate::http::{
    AppState,
    admin::{
        AdminTag,
        auth::AdminAuth,
        error::{AdminError, BAD_REQUEST, CONFLICT, NOT_FOUND, OpError},
        users::parse_id,
    },
};

pub struct Api;

#[OpenApi(tag = "AdminTag::UserRegistrationToken")]
impl Api {
    /// Unrevoke a registration token
    ///
    /// It works again (within its expiry and usage limit). Unrevoking a token that is not revoked is a 409.
    #[oai(
        path = "/user-registration-tokens/:id/unrevoke",
        method = "post",
        operation_id = "unrevokeUserRegistrationToken"
    )]
    async fn unrevoke(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        /// The token's ID.
        #[oai(validator(pattern = "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$"))]
        id: Path<String>,
    ) -> Result<Json<SingleRegistrationToken>, OpError<{ BAD_REQUEST | NOT_FOUND | CONFLICT }>>
    {
        let id = parse_id("Registration token", &id)?;
        let mut repo = state.store.repo().await?;
        let Some(mut token) = repo.registration_tokens().find_by_id(id).await? else {
            return Err(
                AdminError::not_found(format!("Registration token ID {id} not found")).into(),
            );
        };
        if token.revoked_at.is_none() {
            return Err(
                AdminError::conflict(format!("Registration token ID {id} is not revoked")).into(),
            );
        }
        token.revoked_at = None;
        repo.registration_tokens().update(&token).await?;
        repo.save().await?;
        Ok(RegistrationTokenResource::at(token, state.clock.now()).single())
    }
}
