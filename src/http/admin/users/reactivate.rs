//! `POST /users/{id}/reactivate`: reactivate a deactivated user.

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
    /// Reactivate a user
    ///
    /// Reactivates a deactivated user, in the homeserver too. A locked user stays locked.
    #[oai(
        path = "/users/:id/reactivate",
        method = "post",
        operation_id = "reactivateUser"
    )]
    async fn reactivate(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        /// The user's ID.
        #[oai(validator(pattern = "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$"))]
        id: Path<String>,
    ) -> Result<Json<SingleUser>, OpError<{ BAD_REQUEST | NOT_FOUND }>> {
        let user = user_by_id(&mut state.store.reader().await?, &id).await?;
        let user = accounts::reactivate_user(&state.store, state.clock.as_ref(), user.id).await?;
        Ok(UserResource::from(user).single())
    }
}
