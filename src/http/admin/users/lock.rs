//! `POST /users/{id}/lock`: lock a user.

use poem::web::Data;
use poem_openapi::{OpenApi, param::Path, payload::Json};

use super::{SingleUser, UserResource, user_by_id};
use crate::{
    http::{
        AppState,
        admin::{
            AdminTag,
            auth::AdminAuth,
            error::{BAD_REQUEST, NOT_FOUND, OpError},
        },
    },
    services::accounts,
};

pub struct Api;

#[OpenApi(tag = "AdminTag::User")]
impl Api {
    /// Lock a user
    ///
    /// Its tokens stop working at once and it cannot log in; the homeserver is told.
    #[oai(path = "/users/:id/lock", method = "post", operation_id = "lockUser")]
    async fn lock(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        /// The user's ID.
        #[oai(validator(pattern = "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$"))]
        id: Path<String>,
    ) -> Result<Json<SingleUser>, OpError<{ BAD_REQUEST | NOT_FOUND }>> {
        let user = user_by_id(&mut state.store.reader().await?, &id).await?;
        let user = accounts::lock_user(&state.store, state.clock.as_ref(), user.id, false).await?;
        Ok(UserResource::from(user).single())
    }
}
