//! HTTP client for Synapse's `/_synapse/mas/*` API (Synapse >= 1.136 with
//! `matrix_authentication_service` enabled), authenticated with the shared `matrix.secret`.
//! Every call is idempotent on Synapse's side, so jobs may retry them freely.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::json;
use url::Url;

use crate::config::{HomeserverKind, MatrixConfig};

#[derive(Debug, thiserror::Error)]
pub enum SynapseError {
    #[error("cannot reach the homeserver at {endpoint}: {message}")]
    Unreachable { endpoint: String, message: String },
    #[error("the homeserver answered {status} to {path}: {errcode} {error}")]
    Status {
        path: &'static str,
        status: u16,
        errcode: String,
        error: String,
    },
    #[error(
        "the homeserver rejected the shared secret (403): check matrix.secret against Synapse's matrix_authentication_service.secret"
    )]
    Forbidden,
    #[error(
        "the homeserver does not serve /_synapse/mas (404): is matrix_authentication_service enabled in Synapse?"
    )]
    IntegrationDisabled,
    #[error("unexpected answer from the homeserver to {path}: {message}")]
    BadResponse { path: &'static str, message: String },
    #[error("matrix.endpoint is not a usable URL: {0}")]
    BadEndpoint(String),
}

impl SynapseError {
    /// The Matrix errcode, when the homeserver answered with one.
    pub fn errcode(&self) -> Option<&str> {
        match self {
            SynapseError::Status { errcode, .. } => Some(errcode),
            _ => None,
        }
    }
}

/// What `query_user` tells about a user.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SynapseUser {
    pub user_id: String,
    pub display_name: Option<String>,
    pub avatar_url: Option<String>,
    #[serde(default)]
    pub is_suspended: bool,
    #[serde(default)]
    pub is_deactivated: bool,
}

/// A `provision_user` request: create the user if missing, then apply what is set.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProvisionRequest {
    pub localpart: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub set_displayname: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub unset_displayname: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub set_emails: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locked: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct MatrixErrorBody {
    #[serde(default)]
    errcode: String,
    #[serde(default)]
    error: String,
}

/// The homeserver connection.
#[derive(Clone)]
pub struct SynapseClient {
    http: reqwest::Client,
    endpoint: Url,
    secret: String,
    server_name: String,
    /// `matrix.kind: synapse_read_only`: reads go through, writes are skipped.
    read_only: bool,
}

impl std::fmt::Debug for SynapseClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SynapseClient")
            .field("endpoint", &self.endpoint.as_str())
            .field("server_name", &self.server_name)
            .field("read_only", &self.read_only)
            .finish_non_exhaustive()
    }
}

impl SynapseClient {
    pub fn new(config: &MatrixConfig, secret: String) -> Result<Self, SynapseError> {
        crate::crypto::install_tls_provider();
        let http = reqwest::Client::builder()
            .user_agent(concat!("gatehouse/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| SynapseError::BadEndpoint(e.to_string()))?;
        let mut endpoint = config.endpoint.clone();
        if !endpoint.path().ends_with('/') {
            endpoint.set_path(&format!("{}/", endpoint.path()));
        }
        Ok(Self {
            http,
            endpoint,
            secret,
            server_name: config.homeserver.clone(),
            read_only: config.kind == HomeserverKind::SynapseReadOnly,
        })
    }

    pub fn server_name(&self) -> &str {
        &self.server_name
    }

    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    /// `@localpart:server_name`.
    pub fn mxid(&self, localpart: &str) -> String {
        format!("@{localpart}:{}", self.server_name)
    }

    async fn call(
        &self,
        method: Method,
        path: &'static str,
        query: Option<(&str, &str)>,
        body: Option<serde_json::Value>,
    ) -> Result<(StatusCode, bytes::Bytes), SynapseError> {
        let url = self
            .endpoint
            .join(path.trim_start_matches('/'))
            .map_err(|e| SynapseError::BadEndpoint(e.to_string()))?;
        let mut request = self.http.request(method, url).bearer_auth(&self.secret);
        if let Some((key, value)) = query {
            request = request.query(&[(key, value)]);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| SynapseError::Unreachable {
                endpoint: self.endpoint.to_string(),
                message: e.without_url().to_string(),
            })?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| SynapseError::Unreachable {
                endpoint: self.endpoint.to_string(),
                message: e.without_url().to_string(),
            })?;
        Ok((status, bytes))
    }

    /// Call and require a 2xx answer; other answers become errors with the Matrix errcode.
    async fn call_ok(
        &self,
        method: Method,
        path: &'static str,
        query: Option<(&str, &str)>,
        body: Option<serde_json::Value>,
    ) -> Result<(StatusCode, bytes::Bytes), SynapseError> {
        let (status, bytes) = self.call(method, path, query, body).await?;
        if status.is_success() {
            return Ok((status, bytes));
        }
        Err(status_error(path, status, &bytes))
    }

    pub async fn query_user(&self, localpart: &str) -> Result<Option<SynapseUser>, SynapseError> {
        const PATH: &str = "_synapse/mas/query_user";
        let (status, bytes) = self
            .call(Method::GET, PATH, Some(("localpart", localpart)), None)
            .await?;
        if status == StatusCode::NOT_FOUND && is_matrix_not_found(&bytes) {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(status_error(PATH, status, &bytes));
        }
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| SynapseError::BadResponse {
                path: PATH,
                message: e.to_string(),
            })
    }

    /// Whether Synapse would accept this localpart for a new user. Taken, invalid and
    /// appservice-reserved localparts are all "not available".
    pub async fn is_localpart_available(&self, localpart: &str) -> Result<bool, SynapseError> {
        const PATH: &str = "_synapse/mas/is_localpart_available";
        match self
            .call_ok(Method::GET, PATH, Some(("localpart", localpart)), None)
            .await
        {
            Ok(_) => Ok(true),
            Err(SynapseError::Status { ref errcode, .. })
                if matches!(
                    errcode.as_str(),
                    "M_USER_IN_USE" | "M_INVALID_USERNAME" | "M_EXCLUSIVE"
                ) =>
            {
                Ok(false)
            }
            Err(error) => Err(error),
        }
    }

    /// Doctor's check: `is_localpart_available` without a localpart answers 400 exactly when
    /// the shared secret is accepted.
    pub async fn check_shared_secret(&self) -> Result<(), SynapseError> {
        const PATH: &str = "_synapse/mas/is_localpart_available";
        let (status, bytes) = self.call(Method::GET, PATH, None, None).await?;
        match status {
            StatusCode::BAD_REQUEST => Ok(()),
            StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED => Err(SynapseError::Forbidden),
            StatusCode::NOT_FOUND => Err(SynapseError::IntegrationDisabled),
            other => Err(status_error(PATH, other, &bytes)),
        }
    }

    /// Create or update the user. Returns true when Synapse created it.
    pub async fn provision_user(&self, request: &ProvisionRequest) -> Result<bool, SynapseError> {
        if self.skip_write("provision_user") {
            return Ok(false);
        }
        let body = serde_json::to_value(request).map_err(|e| SynapseError::BadResponse {
            path: "_synapse/mas/provision_user",
            message: e.to_string(),
        })?;
        let (status, _) = self
            .call_ok(
                Method::POST,
                "_synapse/mas/provision_user",
                None,
                Some(body),
            )
            .await?;
        Ok(status == StatusCode::CREATED)
    }

    pub async fn delete_user(&self, localpart: &str, erase: bool) -> Result<(), SynapseError> {
        self.write(
            "_synapse/mas/delete_user",
            json!({ "localpart": localpart, "erase": erase }),
        )
        .await
    }

    pub async fn reactivate_user(&self, localpart: &str) -> Result<(), SynapseError> {
        self.write(
            "_synapse/mas/reactivate_user",
            json!({ "localpart": localpart }),
        )
        .await
    }

    pub async fn set_displayname(
        &self,
        localpart: &str,
        displayname: &str,
    ) -> Result<(), SynapseError> {
        self.write(
            "_synapse/mas/set_displayname",
            json!({ "localpart": localpart, "displayname": displayname }),
        )
        .await
    }

    pub async fn unset_displayname(&self, localpart: &str) -> Result<(), SynapseError> {
        self.write(
            "_synapse/mas/unset_displayname",
            json!({ "localpart": localpart }),
        )
        .await
    }

    pub async fn allow_cross_signing_reset(&self, localpart: &str) -> Result<(), SynapseError> {
        self.write(
            "_synapse/mas/allow_cross_signing_reset",
            json!({ "localpart": localpart }),
        )
        .await
    }

    pub async fn upsert_device(
        &self,
        localpart: &str,
        device_id: &str,
        display_name: Option<&str>,
    ) -> Result<(), SynapseError> {
        let mut body = json!({ "localpart": localpart, "device_id": device_id });
        if let Some(name) = display_name {
            body["display_name"] = json!(name);
        }
        self.write("_synapse/mas/upsert_device", body).await
    }

    pub async fn delete_device(
        &self,
        localpart: &str,
        device_id: &str,
    ) -> Result<(), SynapseError> {
        self.write(
            "_synapse/mas/delete_device",
            json!({ "localpart": localpart, "device_id": device_id }),
        )
        .await
    }

    pub async fn update_device_display_name(
        &self,
        localpart: &str,
        device_id: &str,
        display_name: &str,
    ) -> Result<(), SynapseError> {
        self.write(
            "_synapse/mas/update_device_display_name",
            json!({ "localpart": localpart, "device_id": device_id, "display_name": display_name }),
        )
        .await
    }

    /// Make Synapse's device list for the user exactly `devices`.
    pub async fn sync_devices(
        &self,
        localpart: &str,
        devices: &[String],
    ) -> Result<(), SynapseError> {
        self.write(
            "_synapse/mas/sync_devices",
            json!({ "localpart": localpart, "devices": devices }),
        )
        .await
    }

    async fn write(&self, path: &'static str, body: serde_json::Value) -> Result<(), SynapseError> {
        if self.skip_write(path) {
            return Ok(());
        }
        self.call_ok(Method::POST, path, None, Some(body))
            .await
            .map(|_| ())
    }

    fn skip_write(&self, what: &str) -> bool {
        if self.read_only {
            tracing::debug!(
                call = what,
                "matrix.kind is synapse_read_only: not writing to the homeserver"
            );
        }
        self.read_only
    }
}

fn is_matrix_not_found(bytes: &[u8]) -> bool {
    serde_json::from_slice::<MatrixErrorBody>(bytes).is_ok_and(|body| body.errcode == "M_NOT_FOUND")
}

fn status_error(path: &'static str, status: StatusCode, bytes: &[u8]) -> SynapseError {
    match status {
        StatusCode::FORBIDDEN => SynapseError::Forbidden,
        StatusCode::NOT_FOUND if !is_matrix_not_found(bytes) => SynapseError::IntegrationDisabled,
        _ => {
            let body =
                serde_json::from_slice::<MatrixErrorBody>(bytes).unwrap_or(MatrixErrorBody {
                    errcode: String::new(),
                    error: String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned(),
                });
            SynapseError::Status {
                path,
                status: status.as_u16(),
                errcode: body.errcode,
                error: body.error,
            }
        }
    }
}
