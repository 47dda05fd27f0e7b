//! `GET /user-sessions/{id}`: one browser session.

use poem::web::Data;
use poem_openapi::{OpenApi, param::Path, payload::Json};

use super::{SingleUserSession, UserSessionResource, session_by_id};
use crate::http::{
    AppState,
    admin::{
        AdminTag,
        auth::AdminAuth,
        error::{BAD_REQUEST, NOT_FOUND, OpError},
    },
};

pub struct Api;

#[OpenApi(tag = "AdminTag::UserSession")]
impl Api {
    /// Get a user session
    #[oai(
        path = "/user-sessions/:id",
        method = "get",
        operation_id = "getUserSession"
    )]
    async fn get(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        /// The session's ID.
        #[oai(validator(pattern = "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$"))]
        id: Path<String>,
    ) -> Result<Json<SingleUserSession>, OpError<{ BAD_REQUEST | NOT_FOUND }>> {
        let session = session_by_id(&mut state.store.reader().await?, &id).await?;
        Ok(UserSessionResource::from(session).single())
    }
}
