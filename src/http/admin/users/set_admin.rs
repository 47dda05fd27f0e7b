//! `POST /users/{id}/set-admin`: allow or forbid admin scopes.

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
pub struct SetAdminRequest {
    /// Whether the user may request admin scopes (`can_request_admin`).
    pub admin: bool,
}

impl poem_openapi::types::Example for SetAdminRequest {
    fn example() -> Self {
        Self { admin: true }
    }
}

pub struct Api;

#[OpenApi(tag = "AdminTag::User")]
impl Api {
    /// Set whether a user may request admin scopes
    #[oai(
        path = "/users/:id/set-admin",
        method = "post",
        operation_id = "userSetAdmin"
    )]
    async fn set_admin(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        /// The user's ID.
        #[oai(validator(pattern = "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$"))]
        id: Path<String>,
        body: Json<SetAdminRequest>,
    ) -> Result<Json<SingleUser>, OpError<{ BAD_REQUEST | NOT_FOUND | UNSUPPORTED_MEDIA_TYPE }>>
    {
        let user = user_by_id(&mut state.store.reader().await?, &id).await?;
        let user = accounts::set_admin(&state.store, user.id, body.admin).await?;
        Ok(UserResource::from(user).single())
    }
}
