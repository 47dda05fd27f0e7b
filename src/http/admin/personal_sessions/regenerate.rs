//! `POST /personal-sessions/{id}/regenerate`: a new token for a personal session.

use poem::web::Data;
use poem_openapi::{Object, OpenApi, param::Path, payload::Json};

use super::{PersonalSessionResource, SinglePersonalSession, expires_in, session_by_id};
use crate::{
    http::{
        AppState,
        admin::{
            AdminTag,
            auth::AdminAuth,
            error::{
                AdminError, BAD_REQUEST, CONFLICT, NOT_FOUND, OpError, UNSUPPORTED_MEDIA_TYPE,
            },
        },
    },
    services::accounts,
};

#[derive(Debug, Clone, Default, Object)]
#[oai(example)]
pub struct RegenerateRequest {
    /// Lifetime of the new token in seconds (none: it never expires).
    #[oai(validator(minimum(value = "1")))]
    pub expires_in: Option<u32>,
}

impl poem_openapi::types::Example for RegenerateRequest {
    fn example() -> Self {
        Self {
            expires_in: Some(90 * 24 * 3600),
        }
    }
}

pub struct Api;

#[OpenApi(tag = "AdminTag::PersonalSession")]
impl Api {
    /// Regenerate a personal session's token
    ///
    /// Issues a new `mpt_` token (in `access_token`, shown only in this answer) and revokes the
    /// previous one. A revoked session is a 409. The body is optional.
    #[oai(
        path = "/personal-sessions/:id/regenerate",
        method = "post",
        operation_id = "regeneratePersonalSession"
    )]
    async fn regenerate(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        /// The session's ID.
        #[oai(validator(pattern = "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$"))]
        id: Path<String>,
        body: Json<Option<RegenerateRequest>>,
    ) -> Result<
        Json<SinglePersonalSession>,
        OpError<{ BAD_REQUEST | NOT_FOUND | CONFLICT | UNSUPPORTED_MEDIA_TYPE }>,
    > {
        let body = body.0.unwrap_or_default();
        let session = session_by_id(&mut state.store.reader().await?, &id).await?;
        let id = session.session.id;
        if session.session.revoked_at.is_some() {
            return Err(
                AdminError::conflict(format!("Personal session ID {id} is revoked")).into(),
            );
        }
        let issued = accounts::regenerate_personal_token(
            &state.store,
            state.clock.as_ref(),
            &mut state.random.rng(),
            id,
            expires_in(body.expires_in),
        )
        .await?
        .ok_or_else(|| AdminError::conflict(format!("Personal session ID {id} is revoked")))?;
        Ok(PersonalSessionResource::from(issued).single())
    }
}
