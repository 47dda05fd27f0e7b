//! `POST /personal-sessions/{id}/revoke`: end a personal session and its token.

use poem::web::Data;
use poem_openapi::{OpenApi, param::Path, payload::Json};

use super::{PersonalSessionResource, SinglePersonalSession};
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

#[OpenApi(tag = "AdminTag::PersonalSession")]
impl Api {
    /// Revoke a personal session
    ///
    /// Its token stops working at once. Revoking a revoked session is a 409.
    #[oai(
        path = "/personal-sessions/:id/revoke",
        method = "post",
        operation_id = "revokePersonalSession"
    )]
    async fn revoke(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        /// The session's ID.
        #[oai(validator(pattern = "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$"))]
        id: Path<String>,
    ) -> Result<Json<SinglePersonalSession>, OpError<{ BAD_REQUEST | NOT_FOUND | CONFLICT }>> {
        let id = parse_id("Personal session", &id)?;
        let mut repo = state.store.repo().await?;
        let Some(mut session) = repo.personal().find_session(id).await? else {
            return Err(
                AdminError::not_found(format!("Personal session ID {id} not found")).into(),
            );
        };
        if session.revoked_at.is_some() {
            return Err(AdminError::conflict(format!(
                "Personal session ID {id} is already revoked"
            ))
            .into());
        }
        repo.personal()
            .revoke_session(&mut session, state.clock.now())
            .await?;
        repo.save().await?;
        Ok(PersonalSessionResource::build(session, None, None).single())
    }
}
