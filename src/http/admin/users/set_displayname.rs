//! `POST /users/{id}/set-displayname` and `/unset-displayname` (beyond MAS): the user's display
//! name in the homeserver, set by the provisioning job.

use poem::web::Data;
use poem_openapi::{Object, OpenApi, param::Path, payload::Json};

use super::{SingleUser, UserResource, user_by_id};
use crate::{
    http::{
        AppState,
        admin::{
            AdminTag,
            auth::AdminAuth,
            error::{BAD_REQUEST, NOT_FOUND, OpError, UNSUPPORTED_MEDIA_TYPE},
        },
    },
    services::accounts,
};

#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct SetDisplayNameRequest {
    /// The new display name.
    #[oai(validator(min_length = 1, max_length = 256))]
    pub displayname: String,
}

impl poem_openapi::types::Example for SetDisplayNameRequest {
    fn example() -> Self {
        Self {
            displayname: "Alice Liddell".to_owned(),
        }
    }
}

pub struct Api;

#[OpenApi(tag = "AdminTag::User")]
impl Api {
    /// Set a user's display name
    ///
    /// Gatehouse keeps no profile: the name is sent to the homeserver by the provisioning job.
    #[oai(
        path = "/users/:id/set-displayname",
        method = "post",
        operation_id = "setUserDisplayName"
    )]
    async fn set(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        /// The user's ID.
        #[oai(validator(pattern = "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$"))]
        id: Path<String>,
        body: Json<SetDisplayNameRequest>,
    ) -> Result<Json<SingleUser>, OpError<{ BAD_REQUEST | NOT_FOUND | UNSUPPORTED_MEDIA_TYPE }>>
    {
        let user = user_by_id(&mut state.store.reader().await?, &id).await?;
        let user = accounts::set_display_name(
            &state.store,
            state.clock.as_ref(),
            user.id,
            Some(body.0.displayname),
        )
        .await?;
        Ok(UserResource::from(user).single())
    }

    /// Remove a user's display name
    ///
    /// The provisioning job clears it in the homeserver.
    #[oai(
        path = "/users/:id/unset-displayname",
        method = "post",
        operation_id = "unsetUserDisplayName"
    )]
    async fn unset(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        /// The user's ID.
        #[oai(validator(pattern = "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$"))]
        id: Path<String>,
    ) -> Result<Json<SingleUser>, OpError<{ BAD_REQUEST | NOT_FOUND }>> {
        let user = user_by_id(&mut state.store.reader().await?, &id).await?;
        let user =
            accounts::set_display_name(&state.store, state.clock.as_ref(), user.id, None).await?;
        Ok(UserResource::from(user).single())
    }
}
