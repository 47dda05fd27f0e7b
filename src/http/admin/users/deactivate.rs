//! `POST /users/{id}/deactivate`: lock and deactivate a user, in the homeserver too.

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

#[derive(Debug, Clone, Default, Object)]
#[oai(example)]
pub struct DeactivateRequest {
    /// Do not ask the homeserver to erase the user's data (GDPR erasure is the default).
    #[oai(default)]
    pub skip_erase: bool,
}

impl poem_openapi::types::Example for DeactivateRequest {
    fn example() -> Self {
        Self { skip_erase: false }
    }
}

pub struct Api;

#[OpenApi(tag = "AdminTag::User")]
impl Api {
    /// Deactivate a user
    ///
    /// Locks the user, ends its sessions and queues its deactivation in the homeserver, with
    /// erasure of its data unless `skip_erase`. The body is optional.
    #[oai(
        path = "/users/:id/deactivate",
        method = "post",
        operation_id = "deactivateUser"
    )]
    async fn deactivate(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        /// The user's ID.
        #[oai(validator(pattern = "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$"))]
        id: Path<String>,
        body: Json<Option<DeactivateRequest>>,
    ) -> Result<Json<SingleUser>, OpError<{ BAD_REQUEST | NOT_FOUND | UNSUPPORTED_MEDIA_TYPE }>>
    {
        let skip_erase = body.0.unwrap_or_default().skip_erase;
        let user = user_by_id(&mut state.store.reader().await?, &id).await?;
        let user =
            accounts::deactivate_user(&state.store, state.clock.as_ref(), user.id, !skip_erase)
                .await?;
        Ok(UserResource::from(user).single())
    }
}
