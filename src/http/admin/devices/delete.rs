//! `DELETE /users/{id}/devices/{device_id}`: log a device out.

use poem::web::Data;
use poem_openapi::{ApiResponse, OpenApi, param::Path};

use super::device_session;
use crate::{
    http::{
        AppState,
        admin::{
            AdminTag,
            auth::AdminAuth,
            error::{BAD_REQUEST, NOT_FOUND, OpError},
        },
    },
    services::compat_sessions,
};

#[derive(Debug, ApiResponse)]
pub enum Deleted {
    /// The device's session is finished; the homeserver's device list is synced by a job.
    #[oai(status = 204)]
    NoContent,
}

pub struct Api;

#[OpenApi(tag = "AdminTag::Device")]
impl Api {
    /// Delete a device
    ///
    /// Finishes the compatibility session behind it (its tokens stop working at once) and queues
    /// a device sync with the homeserver.
    #[oai(
        path = "/users/:id/devices/:device_id",
        method = "delete",
        operation_id = "deleteUserDevice"
    )]
    async fn delete(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        /// The user's ID.
        #[oai(validator(pattern = "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$"))]
        id: Path<String>,
        /// The device ID.
        #[oai(validator(min_length = 1, max_length = 255))]
        device_id: Path<String>,
    ) -> Result<Deleted, OpError<{ BAD_REQUEST | NOT_FOUND }>> {
        let (_, session) =
            device_session(&mut state.store.reader().await?, &id, &device_id).await?;
        compat_sessions::finish(&state.store, state.clock.as_ref(), session.id).await?;
        Ok(Deleted::NoContent)
    }
}
