//! `POST /personal-sessions`: a new personal session and its first token.

use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};

use super::{PersonalSessionResource, SinglePersonalSession, expires_in};
use crate::{
    domain::scopes::Scope,
    http::{
        AppState,
        admin::{
            AdminTag,
            auth::AdminAuth,
            error::{
                AdminError, BAD_REQUEST, NOT_FOUND, OpError, UNPROCESSABLE, UNSUPPORTED_MEDIA_TYPE,
            },
            users::{self, user_by_id},
        },
    },
    services::accounts::{self, PersonalTokenRequest},
};

/// A new personal session.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct CreatePersonalSessionRequest {
    /// The user the token acts as (its ID).
    #[oai(validator(pattern = "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$"))]
    pub actor_user_id: String,
    /// What it is for, for a human.
    #[oai(validator(min_length = 1, max_length = 255))]
    pub human_name: String,
    /// The space-separated scope (`urn:mas:admin` needs an actor who may request admin scopes).
    #[oai(validator(min_length = 1))]
    pub scope: String,
    /// Lifetime of the token in seconds (none: it never expires).
    #[oai(validator(minimum(value = "1")))]
    pub expires_in: Option<u32>,
}

impl poem_openapi::types::Example for CreatePersonalSessionRequest {
    fn example() -> Self {
        Self {
            actor_user_id: users::EXAMPLE_ID.to_string(),
            human_name: "Nightly backup script".to_owned(),
            scope: "urn:matrix:client:api:*".to_owned(),
            expires_in: Some(90 * 24 * 3600),
        }
    }
}

#[derive(Debug, ApiResponse)]
pub enum Created {
    /// The session was created; `access_token` holds its token, shown only here.
    #[oai(status = 201)]
    Created(Json<SinglePersonalSession>),
}

pub struct Api;

#[OpenApi(tag = "AdminTag::PersonalSession")]
impl Api {
    /// Create a personal session
    ///
    /// Owned by the caller, acting as `actor_user_id`. The answer carries the `mpt_` token once.
    /// An unknown actor is a 404; an invalid scope, or an admin scope for a user who may not
    /// request it, a 422.
    #[oai(
        path = "/personal-sessions",
        method = "post",
        operation_id = "createPersonalSession"
    )]
    async fn create(
        &self,
        state: Data<&AppState>,
        auth: AdminAuth,
        body: Json<CreatePersonalSessionRequest>,
    ) -> Result<
        Created,
        OpError<{ BAD_REQUEST | NOT_FOUND | UNSUPPORTED_MEDIA_TYPE | UNPROCESSABLE }>,
    > {
        let body = body.0;
        let actor = user_by_id(&mut state.store.reader().await?, &body.actor_user_id).await?;
        let issued = accounts::issue_personal_token(
            &state.store,
            state.clock.as_ref(),
            &mut state.random.rng(),
            PersonalTokenRequest {
                actor_user_id: actor.id,
                owner_user_id: auth.0.user.as_ref().map(|user| user.id),
                human_name: body.human_name,
                scope: Scope::parse(&body.scope)
                    .map_err(|error| AdminError::unprocessable(error.to_string()))?,
                expires_in: expires_in(body.expires_in),
            },
        )
        .await?;
        Ok(Created::Created(
            PersonalSessionResource::from(issued).single(),
        ))
    }
}
