//! `POST /compat-sessions/{id}/finish`: end a compatibility session (its device goes away).

use poem::web::Data;
use poem_openapi::{OpenApi, param::Path, payload::Json};

use super::{CompatSessionResource, SingleCompatSession};
use crate::{
    http::{
        AppState,
        admin::{
            AdminTag,
            auth::AdminAuth,
            error::{AdminError, BAD_REQUEST, CONFLICT, NOT_FOUND, OpError},
            users::parse_id,
        },
    },
    services::accounts,
};

pub struct Api;

#[OpenApi(tag = "AdminTag::CompatSession")]
impl Api {
    /// Finish a compatibility session
    ///
    /// Its tokens stop working at once and a device sync with the homeserver is queued.
    /// Finishing a finished session is a 409.
    #[oai(
        path = "/compat-sessions/:id/finish",
        method = "post",
        operation_id = "finishCompatSession"
    )]
    async fn finish(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        /// The session's ID.
        #[oai(validator(pattern = "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$"))]
        id: Path<String>,
    ) -> Result<Json<SingleCompatSession>, OpError<{ BAD_REQUEST | NOT_FOUND | CONFLICT }>> {
        let id = parse_id("Compatibility session", &id)?;
        let session =
            super::session_by_id(&mut state.store.reader().await?, &id.to_string()).await?;
        if session.is_finished() {
            return Err(AdminError::conflict(format!(
                "Compatibility session ID {id} is already finished"
            ))
            .into());
        }
        let session =
            accounts::finish_compat_session(&state.store, state.clock.as_ref(), id).await?;
        Ok(CompatSessionResource::from(session).single())
    }
}
