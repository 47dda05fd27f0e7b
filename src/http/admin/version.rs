//! `GET /version`: the Gatehouse version.

use poem_openapi::{Object, OpenApi, payload::Json};

use super::{AdminTag, auth::AdminAuth, error::OpError};

/// The running version.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct Version {
    /// Gatehouse's version, e.g. `0.1.0`.
    pub version: String,
}

impl poem_openapi::types::Example for Version {
    fn example() -> Self {
        Self {
            version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }
}

pub struct Api;

#[OpenApi(tag = "AdminTag::Server")]
impl Api {
    /// Get the server version
    #[oai(path = "/version", method = "get", operation_id = "version")]
    async fn version(&self, _auth: AdminAuth) -> Result<Json<Version>, OpError> {
        Ok(Json(Version {
            version: env!("CARGO_PKG_VERSION").to_owned(),
        }))
    }
}
