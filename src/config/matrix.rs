//! The `matrix` section: which homeserver Gatehouse serves, how to reach it and the shared
//! secret both sides use for the `/_synapse/mas` API.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use url::Url;

use super::ConfigError;
use super::util::{Redacted, check_exclusive, read_trimmed_string};

/// `matrix.kind`: the homeserver flavour and which API is used to talk to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HomeserverKind {
    /// Synapse with the `/_synapse/mas` API.
    #[default]
    Synapse,
    /// Same as `synapse`.
    SynapseModern,
    /// `synapse`, but nothing is ever written to the homeserver.
    SynapseReadOnly,
    /// Older Synapse, driven through `/_synapse/admin`.
    SynapseLegacy,
}

/// `matrix`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MatrixConfig {
    pub kind: HomeserverKind,
    /// The homeserver's `server_name`.
    pub homeserver: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_file: Option<PathBuf>,
    /// Where Gatehouse reaches the homeserver.
    pub endpoint: Url,
}

impl Default for MatrixConfig {
    fn default() -> Self {
        Self {
            kind: HomeserverKind::default(),
            homeserver: "localhost:8008".to_owned(),
            secret: None,
            secret_file: None,
            endpoint: Url::parse("http://localhost:8008/")
                .unwrap_or_else(|_| unreachable!("constant URL parses")),
        }
    }
}

impl MatrixConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        check_exclusive(
            "matrix",
            ("secret", self.secret.is_some()),
            ("secret_file", self.secret_file.is_some()),
            true,
        )?;
        if self.homeserver.is_empty() {
            return Err(ConfigError::invalid(
                "matrix.homeserver",
                "must not be empty",
            ));
        }
        if !matches!(self.endpoint.scheme(), "http" | "https") {
            return Err(ConfigError::invalid(
                "matrix.endpoint",
                "must be an http(s) URL",
            ));
        }
        Ok(())
    }

    /// The shared secret, from `secret` or the (trimmed) contents of `secret_file`.
    pub fn secret(&self) -> Result<String, ConfigError> {
        match (&self.secret, &self.secret_file) {
            (Some(secret), _) => Ok(secret.clone()),
            (None, Some(file)) => read_trimmed_string("matrix.secret_file", file),
            (None, None) => Err(ConfigError::invalid(
                "matrix.secret",
                "one of `secret` or `secret_file` is required",
            )),
        }
    }
}

impl fmt::Debug for MatrixConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MatrixConfig")
            .field("kind", &self.kind)
            .field("homeserver", &self.homeserver)
            .field("secret", &Redacted(&self.secret))
            .field("secret_file", &self.secret_file)
            .field("endpoint", &self.endpoint)
            .finish()
    }
}
