//! `POST /user-sessions/{id}/finish`: sign a browser session out.

use poem::web::Data;
use poem_openapi::{OpenApi, param::Path, payload::Json};

use super::{SingleUserSession, UserSessionResource, session_by_id};
use crate::http::{
    AppState,
    admin::{
        AdminTag,
        auth::AdminAuth,
        error::{AdminError, BAD_REQUEST, CONFLICT, NOT_FOUND, OpError},
    },
};

pub struct Api;

#[OpenApi(tag = "AdminTag::UserSession")]
impl Api {
    /// Finish a user session
    ///
    /// The browser is signed out of Gatehouse's pages. Finishing a finished session is a 409.
    #[oai(
        path = "/user-sessions/:id/finish",
        method = "post",
        operation_id = "finishUserSession"
    )]
    async fn finish(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        /// The session's ID.
        #[oai(validator(pattern = "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$"))]
        id: Path<String>,
    ) -> Result<Json<SingleUserSession>, OpError<{ BAD_REQUEST | NOT_FOUND | CONFLICT }>> {
        let mut session = session_by_id(&mut state.store.reader().await?, &id).await?;
        if session.finished_at.is_some() {
            return Err(AdminError::conflict(format!(
                "User session ID {} is already finished",
                session.id
            ))
            .into());
        }
        let now = state.clock.now();
        let mut repo = state.store.repo().await?;
        repo.browser_sessions().finish(session.id, now).await?;
        repo.save().await?;
        session.finished_at = Some(now);
        Ok(UserSessionResource::from(session).single())
    }
}
