//! `GET /users/{id}/devices`: a user's devices.

use poem::web::Data;
use poem_openapi::{OpenApi, param::Path, payload::Json};

use super::{DeviceList, DeviceResource};
use crate::http::{
    AppState,
    admin::{
        AdminTag,
        auth::AdminAuth,
        error::{BAD_REQUEST, NOT_FOUND, OpError},
        users::user_by_id,
    },
};

pub struct Api;

#[OpenApi(tag = "AdminTag::Device")]
impl Api {
    /// List a user's devices
    ///
    /// Its active compatibility sessions that have a device, oldest first (not paginated).
    #[oai(
        path = "/users/:id/devices",
        method = "get",
        operation_id = "listUserDevices"
    )]
    async fn list(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        /// The user's ID.
        #[oai(validator(pattern = "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$"))]
        id: Path<String>,
    ) -> Result<Json<DeviceList>, OpError<{ BAD_REQUEST | NOT_FOUND }>> {
        let mut reader = state.store.reader().await?;
        let user = user_by_id(&mut reader, &id).await?;
        let data: Vec<DeviceResource> = reader
            .compat()
            .active_sessions(user.id)
            .await?
            .into_iter()
            .filter_map(DeviceResource::from_session)
            .collect();
        Ok(Json(DeviceList::new(&user.id.to_string(), data)))
    }
}
