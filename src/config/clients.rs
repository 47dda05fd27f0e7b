//! The `clients` section: statically configured OAuth 2.0 clients, synced into the database at
//! startup (additions and changes; removals only with `config sync --prune`).

use std::collections::HashSet;
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use url::Url;

use super::ConfigError;
use super::util::{Redacted, check_exclusive, read_trimmed_string, ulid_string};

/// `clients[].client_auth_method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthMethod {
    None,
    ClientSecretBasic,
    ClientSecretPost,
    ClientSecretJwt,
    PrivateKeyJwt,
}

impl ClientAuthMethod {
    /// The RFC 7591 name (`client_secret_basic`, …), as written in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::ClientSecretJwt => "client_secret_jwt",
            Self::PrivateKeyJwt => "private_key_jwt",
        }
    }

    /// Whether this method authenticates with a shared client secret.
    pub fn uses_secret(self) -> bool {
        matches!(
            self,
            Self::ClientSecretBasic | Self::ClientSecretPost | Self::ClientSecretJwt
        )
    }
}

impl From<ClientAuthMethod> for crate::domain::oauth2_clients::TokenEndpointAuthMethod {
    fn from(method: ClientAuthMethod) -> Self {
        match method {
            ClientAuthMethod::None => Self::None,
            ClientAuthMethod::ClientSecretBasic => Self::ClientSecretBasic,
            ClientAuthMethod::ClientSecretPost => Self::ClientSecretPost,
            ClientAuthMethod::ClientSecretJwt => Self::ClientSecretJwt,
            ClientAuthMethod::PrivateKeyJwt => Self::PrivateKeyJwt,
        }
    }
}

/// `clients[]`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientConfig {
    #[serde(with = "ulid_string")]
    pub client_id: ulid::Ulid,
    pub client_auth_method: ClientAuthMethod,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_file: Option<PathBuf>,
    /// An inline JWK set, for `private_key_jwt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<Url>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redirect_uris: Vec<Url>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_uri: Option<Url>,
}

impl ClientConfig {
    /// The client secret, from `client_secret` or the (trimmed) `client_secret_file`.
    pub fn client_secret(&self) -> Result<Option<String>, ConfigError> {
        match (&self.client_secret, &self.client_secret_file) {
            (Some(secret), _) => Ok(Some(secret.clone())),
            (None, Some(file)) => {
                let key = format!("clients[{}].client_secret_file", self.client_id);
                read_trimmed_string(&key, file).map(Some)
            }
            (None, None) => Ok(None),
        }
    }

    fn validate(&self, path: &str) -> Result<(), ConfigError> {
        check_exclusive(
            path,
            ("client_secret", self.client_secret.is_some()),
            ("client_secret_file", self.client_secret_file.is_some()),
            self.client_auth_method.uses_secret(),
        )?;
        check_exclusive(
            path,
            ("jwks", self.jwks.is_some()),
            ("jwks_uri", self.jwks_uri.is_some()),
            self.client_auth_method == ClientAuthMethod::PrivateKeyJwt,
        )?;
        if let Some(jwks) = &self.jwks {
            crate::crypto::jwt::PublicKeySet::from_jwks(jwks)
                .map_err(|e| ConfigError::invalid(format!("{path}.jwks"), e.to_string()))?;
        }
        if let Some(uri) = &self.jwks_uri
            && !fetchable_over_tls_or_loopback(uri)
        {
            return Err(ConfigError::invalid(
                format!("{path}.jwks_uri"),
                "must be an https URL (plain http only on a loopback address)",
            ));
        }
        Ok(())
    }
}

/// `https`, or `http` to this host only: the keys that authenticate a client must not travel
/// where anyone on the path could replace them.
fn fetchable_over_tls_or_loopback(uri: &Url) -> bool {
    match (uri.scheme(), uri.host()) {
        ("https", Some(_)) => true,
        ("http", Some(url::Host::Ipv4(ip))) => ip.is_loopback(),
        ("http", Some(url::Host::Ipv6(ip))) => ip.is_loopback(),
        ("http", Some(url::Host::Domain(name))) => name.eq_ignore_ascii_case("localhost"),
        _ => false,
    }
}

pub(crate) fn validate(clients: &[ClientConfig]) -> Result<(), ConfigError> {
    let mut seen = HashSet::new();
    for (i, client) in clients.iter().enumerate() {
        let path = format!("clients[{i}]");
        if !seen.insert(client.client_id) {
            return Err(ConfigError::invalid(
                format!("{path}.client_id"),
                format!("duplicate client_id {}", client.client_id),
            ));
        }
        client.validate(&path)?;
    }
    Ok(())
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("client_id", &self.client_id)
            .field("client_auth_method", &self.client_auth_method)
            .field("client_name", &self.client_name)
            .field("client_secret", &Redacted(&self.client_secret))
            .field("client_secret_file", &self.client_secret_file)
            .field("jwks", &self.jwks)
            .field("jwks_uri", &self.jwks_uri)
            .field("redirect_uris", &self.redirect_uris)
            .field("client_uri", &self.client_uri)
            .finish()
    }
}
