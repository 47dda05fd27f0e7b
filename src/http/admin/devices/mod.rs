//! `/users/{id}/devices` (beyond MAS): a user's Matrix devices, i.e. its active compatibility
//! sessions that have a device ID.

mod delete;
mod list;
mod rename;

use chrono::{DateTime, Utc};
use poem_openapi::Object;

use super::{error::AdminError, pagination::SelfLinks, users::user_by_id};
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
pub struct DeviceList {
    pub meta: DeviceListMeta,
    pub data: Vec<DeviceResource>,
    pub links: SelfLinks,
}

fn devices_path(user: &User) -> String {
    format!("{}/users/{}/devices", super::BASE_PATH, user.id)
}

fn device_link(user: &User, device_id: &str) -> SelfLinks {
    let encoded: String = url::form_urlencoded::byte_serialize(device_id.as_bytes()).collect();
    SelfLinks {
        self_: format!("{}/{encoded}", devices_path(user)),
    }
}

impl DeviceResource {
    /// `None` for a session without a device.
    fn from_session(user: &User, session: CompatSession) -> Option<Self> {
        let device_id = session.device_id?;
        Some(DeviceResource {
            type_: "device".to_owned(),
            links: device_link(user, &device_id),
            id: device_id.clone(),
            attributes: DeviceAttributes {
                device_id,
                display_name: session.human_name,
                compat_session_id: session.id.to_string(),
                created_at: session.created_at,
                last_active_at: session.last_active_at,
                last_active_ip: session.last_active_ip,
                user_agent: session.user_agent,
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
