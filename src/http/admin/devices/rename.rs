//! `PUT /users/{id}/devices/{device_id}`: rename a device.

use poem::web::Data;
use poem_openapi::{Object, OpenApi, param::Path, payload::Json};

use super::{DeviceResource, SingleDevice, device_session};
use crate::domain::jobs::Job;
use crate::http::{
    AppState,
    admin::{
        AdminTag,
        auth::AdminAuth,
        error::{AdminError, BAD_REQUEST, NOT_FOUND, OpError, UNSUPPORTED_MEDIA_TYPE},
    },
};

#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct RenameDeviceRequest {
    /// The new display name (`null` removes it).
    #[oai(validator(max_length = 255))]
    pub display_name: Option<String>,
}

impl poem_openapi::types::Example for RenameDeviceRequest {
    fn example() -> Self {
        Self {
            display_name: Some("Alice's phone".to_owned()),
        }
    }
}

pub struct Api;

#[OpenApi(tag = "AdminTag::Device")]
impl Api {
    /// Rename a device
    ///
    /// Sets the display name Gatehouse keeps for the device (the compatibility session's
    /// `human_name`) and queues the same change in the homeserver, where the user's other
    /// clients see it.
    #[oai(
        path = "/users/:id/devices/:device_id",
        method = "put",
        operation_id = "renameUserDevice"
    )]
    async fn rename(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        /// The user's ID.
        #[oai(validator(pattern = "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$"))]
        id: Path<String>,
        /// The device ID.
        #[oai(validator(min_length = 1, max_length = 255))]
        device_id: Path<String>,
        body: Json<RenameDeviceRequest>,
    ) -> Result<Json<SingleDevice>, OpError<{ BAD_REQUEST | NOT_FOUND | UNSUPPORTED_MEDIA_TYPE }>>
    {
        let (user, mut session) =
            device_session(&mut state.store.reader().await?, &id, &device_id).await?;
        let mut repo = state.store.repo().await?;
        let display_name = body.0.display_name;
        repo.compat()
            .set_human_name(&mut session, display_name.clone())
            .await?;
        // The homeserver shows device names to the user's other clients: tell it too.
        if let Some(device_id) = session.device_id.clone() {
            repo.jobs()
                .push(
                    state.clock.as_ref(),
                    &Job::UpdateDeviceDisplayName {
                        user_id: user.id,
                        device_id,
                        // Synapse takes a string; an empty one clears the name.
                        display_name: display_name.unwrap_or_default(),
                    },
                )
                .await?;
        }
        repo.save().await?;
        state.jobs_wake.notify_one();
        DeviceResource::from_session(session)
            .map(DeviceResource::single)
            .ok_or_else(|| AdminError::not_found("Device not found").into())
    }
}
