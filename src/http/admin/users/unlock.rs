//! `POST /users/{id}/unlock`: unlock a user.

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
    /// Unlock a user
    ///
    /// A deactivated user stays deactivated: reactivate it separately.
    #[oai(
        path = "/users/:id/unlock",
        method = "post",
        operation_id = "unlockUser"
    )]
    async fn unlock(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        /// The user's ID.
        #[oai(validator(pattern = "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$"))]
        id: Path<String>,
    ) -> Result<Json<SingleUser>, OpError<{ BAD_REQUEST | NOT_FOUND }>> {
        let user = user_by_id(&mut state.store.reader().await?, &id).await?;
        let user =
            accounts::unlock_user(&state.store, state.clock.as_ref(), user.id, false).await?;
        Ok(UserResource::from(user).single())
    }
}
