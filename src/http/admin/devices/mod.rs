//! `/users/{id}/devices` (beyond MAS): a user's Matrix devices, i.e. its active compatibility
//! sessions that have a device ID.

mod delete;
mod list;
mod rename;

use chrono::{DateTime, Utc};
use poem_openapi::Object;

use super::{
    compat_sessions::CompatSessionResource,
    error::AdminError,
    pagination::SelfLinks,
    users::{self, user_by_id},
};
use crate::{
    domain::{compat::CompatSession, users::User},
    store::Reader,
};

#[derive(Debug, Clone, Object)]
pub struct DeviceAttributes {
    /// The Matrix device ID.
    pub device_id: String,
    /// The device's display name.
    pub display_name: Option<String>,
    /// The compatibility session behind it.
    pub compat_session_id: String,
    pub created_at: DateTime<Utc>,
    pub last_active_at: Option<DateTime<Utc>>,
    pub last_active_ip: Option<String>,
    pub user_agent: Option<String>,
}

/// A device of a user.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct DeviceResource {
    /// Always `device`.
    #[oai(rename = "type")]
    pub type_: String,
    /// The device ID.
    pub id: String,
    pub attributes: DeviceAttributes,
    pub links: SelfLinks,
}

/// A single device.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct SingleDevice {
    pub data: DeviceResource,
    pub links: SelfLinks,
}

/// `meta` of the device list.
#[derive(Debug, Clone, Object)]
pub struct DeviceListMeta {
    /// How many devices the user has.
    pub count: u64,
}

/// All devices of a user, oldest first.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct DeviceList {
    pub meta: DeviceListMeta,
    pub data: Vec<DeviceResource>,
    pub links: SelfLinks,
}

fn devices_path(user_id: &str) -> String {
    format!("{}/users/{user_id}/devices", super::BASE_PATH)
}

fn device_link(user_id: &str, device_id: &str) -> SelfLinks {
    let encoded: String = url::form_urlencoded::byte_serialize(device_id.as_bytes()).collect();
    SelfLinks {
        self_: format!("{}/{encoded}", devices_path(user_id)),
    }
}

impl DeviceResource {
    /// `None` for a session without a device.
    fn from_session(session: impl Into<CompatSessionResource>) -> Option<Self> {
        let session = session.into();
        let attributes = session.attributes;
        let device_id = attributes.device_id?;
        Some(DeviceResource {
            type_: "device".to_owned(),
            links: device_link(&attributes.user_id, &device_id),
            id: device_id.clone(),
            attributes: DeviceAttributes {
                device_id,
                display_name: attributes.human_name,
                compat_session_id: session.id,
                created_at: attributes.created_at,
                last_active_at: attributes.last_active_at,
                last_active_ip: attributes.last_active_ip,
                user_agent: attributes.user_agent,
            },
        })
    }

    fn single(self) -> poem_openapi::payload::Json<SingleDevice> {
        poem_openapi::payload::Json(SingleDevice {
            links: self.links.clone(),
            data: self,
        })
    }
}

impl poem_openapi::types::Example for DeviceResource {
    /// The device of the example compatibility session.
    fn example() -> Self {
        let session = <CompatSessionResource as poem_openapi::types::Example>::example();
        Self::from_session(session).expect("the example compatibility session has a device")
    }
}

impl poem_openapi::types::Example for SingleDevice {
    fn example() -> Self {
        DeviceResource::example().single().0
    }
}

impl DeviceList {
    fn new(user_id: &str, data: Vec<DeviceResource>) -> Self {
        DeviceList {
            meta: DeviceListMeta {
                count: data.len() as u64,
            },
            data,
            links: SelfLinks {
                self_: devices_path(user_id),
            },
        }
    }
}

impl poem_openapi::types::Example for DeviceList {
    fn example() -> Self {
        Self::new(
            &users::EXAMPLE_ID.to_string(),
            vec![DeviceResource::example()],
        )
    }
}

/// The user and its active session for `device_id`, or a 404.
async fn device_session(
    reader: &mut Reader,
    user_id: &str,
    device_id: &str,
) -> Result<(User, CompatSession), AdminError> {
    let user = user_by_id(reader, user_id).await?;
    let session = reader
        .compat()
        .active_sessions(user.id)
        .await?
        .into_iter()
        .find(|session| session.device_id.as_deref() == Some(device_id))
        .ok_or_else(|| {
            AdminError::not_found(format!("User ID {} has no device {device_id:?}", user.id))
        })?;
    Ok((user, session))
}

pub(crate) fn apis() -> impl poem_openapi::OpenApi {
    (list::Api, rename::Api, delete::Api)
}
