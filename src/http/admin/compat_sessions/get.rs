//! `GET /compat-sessions/{id}`: one compatibility session.

use poem::web::Data;
use poem_openapi::{OpenApi, param::Path, payload::Json};

use super::{CompatSessionResource, SingleCompatSession, session_by_id};
use crate::http::{
    AppState,
    admin::{
        AdminTag,
        auth::AdminAuth,
        error::{BAD_REQUEST, NOT_FOUND, OpError},
    },
};

pub struct Api;

#[OpenApi(tag = "AdminTag::CompatSession")]
impl Api {
    /// Get a compatibility session
    #[oai(
        path = "/compat-sessions/:id",
        method = "get",
        operation_id = "getCompatSession"
    )]
    async fn get(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        /// The session's ID.
        #[oai(validator(pattern = "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$"))]
        id: Path<String>,
    ) -> Result<Json<SingleCompatSession>, OpError<{ BAD_REQUEST | NOT_FOUND }>> {
        let session = session_by_id(&mut state.store.reader().await?, &id).await?;
        Ok(CompatSessionResource::from(session).single())
    }
}
