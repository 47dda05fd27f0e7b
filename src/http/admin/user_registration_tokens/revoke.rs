//! `POST /user-registration-tokens/{id}/revoke`.

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
    /// Revoke a registration token
    ///
    /// It accepts no more registrations. Revoking a revoked token is a 409.
    #[oai(
        path = "/user-registration-tokens/:id/revoke",
        method = "post",
        operation_id = "revokeUserRegistrationToken"
    )]
    async fn revoke(
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
        if token.revoked_at.is_some() {
            return Err(AdminError::conflict(format!(
                "Registration token ID {id} is already revoked"
            ))
            .into());
        }
        token.revoked_at = Some(state.clock.now());
        repo.registration_tokens().update(&token).await?;
        repo.save().await?;
        Ok(RegistrationTokenResource::at(token, state.clock.now()).single())
    }
}
