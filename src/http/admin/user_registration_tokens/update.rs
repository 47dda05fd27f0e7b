//! `PUT /user-registration-tokens/{id}`: change a token's expiry or usage limit.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{Object, OpenApi, param::Path, payload::Json, types::MaybeUndefined};

use super::{RegistrationTokenResource, SingleRegistrationToken};
use crate::http::{
    AppState,
    admin::{
        AdminTag,
        auth::AdminAuth,
        error::{AdminError, BAD_REQUEST, NOT_FOUND, OpError, UNSUPPORTED_MEDIA_TYPE},
        example,
        users::parse_id,
    },
};

/// The fields to change: a missing field is kept, `null` clears it.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct UpdateRegistrationTokenRequest {
    /// When it stops working (`null`: never).
    pub expires_at: MaybeUndefined<DateTime<Utc>>,
    /// How many registrations it allows in all (`null`: unlimited).
    pub usage_limit: MaybeUndefined<u32>,
}

impl poem_openapi::types::Example for UpdateRegistrationTokenRequest {
    /// A new expiry, and no limit any more.
    fn example() -> Self {
        Self {
            expires_at: MaybeUndefined::Value(example::time("2025-06-30T23:59:59Z")),
            usage_limit: MaybeUndefined::Null,
        }
    }
}

pub struct Api;

#[OpenApi(tag = "AdminTag::UserRegistrationToken")]
impl Api {
    /// Update a registration token
    ///
    /// Sets `expires_at` and/or `usage_limit`; a field left out is kept, `null` removes the limit.
    #[oai(
        path = "/user-registration-tokens/:id",
        method = "put",
        operation_id = "updateUserRegistrationToken"
    )]
    async fn update(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        /// The token's ID.
        #[oai(validator(pattern = "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$"))]
        id: Path<String>,
        body: Json<UpdateRegistrationTokenRequest>,
    ) -> Result<
        Json<SingleRegistrationToken>,
        OpError<{ BAD_REQUEST | NOT_FOUND | UNSUPPORTED_MEDIA_TYPE }>,
    > {
        let id = parse_id("Registration token", &id)?;
        let body = body.0;
        let mut repo = state.store.repo().await?;
        let Some(mut token) = repo.registration_tokens().find_by_id(id).await? else {
            return Err(
                AdminError::not_found(format!("Registration token ID {id} not found")).into(),
            );
        };
        match body.expires_at {
            MaybeUndefined::Undefined => {}
            MaybeUndefined::Null => token.expires_at = None,
            MaybeUndefined::Value(at) => token.expires_at = Some(at),
        }
        match body.usage_limit {
            MaybeUndefined::Undefined => {}
            MaybeUndefined::Null => token.usage_limit = None,
            MaybeUndefined::Value(limit) => token.usage_limit = Some(limit),
        }
        repo.registration_tokens().update(&token).await?;
        repo.save().await?;
        Ok(RegistrationTokenResource::at(token, state.clock.now()).single())
    }
}
