//! `GET /oauth2-sessions/{id}`: one OAuth 2.0 session.

use poem::web::Data;
use poem_openapi::{OpenApi, param::Path, payload::Json};

use super::{OAuth2SessionResource, SingleOAuth2Session, session_by_id};
use crate::http::{
    AppState,
    admin::{
        AdminTag,
        auth::AdminAuth,
        error::{BAD_REQUEST, NOT_FOUND, OpError},
    },
};

pub struct Api;

#[OpenApi(tag = "AdminTag::OAuth2Session")]
impl Api {
    /// Get an OAuth 2.0 session
    #[oai(
        path = "/oauth2-sessions/:id",
        method = "get",
        operation_id = "getOAuth2Session"
    )]
    async fn get(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        /// The session's ID.
        #[oai(validator(pattern = "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$"))]
        id: Path<String>,
    ) -> Result<Json<SingleOAuth2Session>, OpError<{ BAD_REQUEST | NOT_FOUND }>> {
        let session = session_by_id(&mut state.store.reader().await?, &id).await?;
        Ok(OAuth2SessionResource::from(session).single())
    }
}
