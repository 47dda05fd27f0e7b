//! `POST /oauth2-sessions/{id}/finish`: end an OAuth 2.0 session and its tokens.

use poem::web::Data;
use poem_openapi::{OpenApi, param::Path, payload::Json};

use super::{OAuth2SessionResource, SingleOAuth2Session, session_by_id};
use crate::{
    http::{
        AppState,
        admin::{
            AdminTag,
            auth::AdminAuth,
            error::{AdminError, BAD_REQUEST, CONFLICT, NOT_FOUND, OpError},
        },
    },
    services::oauth2_sessions,
};

pub struct Api;

#[OpenApi(tag = "AdminTag::OAuth2Session")]
impl Api {
    /// Finish an OAuth 2.0 session
    ///
    /// Its access and refresh tokens are revoked. Finishing a finished session is a 409.
    #[oai(
        path = "/oauth2-sessions/:id/finish",
        method = "post",
        operation_id = "finishOAuth2Session"
    )]
    async fn finish(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        /// The session's ID.
        #[oai(validator(pattern = "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$"))]
        id: Path<String>,
    ) -> Result<Json<SingleOAuth2Session>, OpError<{ BAD_REQUEST | NOT_FOUND | CONFLICT }>> {
        let session = session_by_id(&mut state.store.reader().await?, &id).await?;
        if session.finished_at.is_some() {
            return Err(AdminError::conflict(format!(
                "OAuth 2.0 session ID {} is already finished",
                session.id
            ))
            .into());
        }
        // Through the service: the device sync that removes the session's device from the
        // homeserver is queued with it.
        let session = oauth2_sessions::finish(&state.store, state.clock.as_ref(), session.id)
            .await?
            .unwrap_or(session);
        state.jobs_wake.notify_one();
        Ok(OAuth2SessionResource::from(session).single())
    }
}
