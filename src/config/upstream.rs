//! The `upstream_oauth2` section: upstream OAuth 2.0 / OIDC identity providers, synced into the
//! `upstream_oauth_providers` table. Keys and defaults follow MAS; the deeper structures
//! (`claims_imports`, `additional_authorization_parameters`, `sign_in_with_apple`) are kept as
//! YAML until upstream login uses them.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_yaml_ng::Value;
use ulid::Ulid;

use super::ConfigError;
use super::util::{Redacted, check_exclusive, read_trimmed_string, ulid_string};

/// `upstream_oauth2`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UpstreamOAuth2Config {
    pub providers: Vec<UpstreamProviderConfig>,
}

impl UpstreamOAuth2Config {
    pub fn is_empty(&self) -> bool {
        self.providers.is_empty()
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        for (index, provider) in self.providers.iter().enumerate() {
            let path = format!("upstream_oauth2.providers[{index}]");
            if self.providers[..index].iter().any(|p| p.id == provider.id) {
                return Err(ConfigError::invalid(
                    format!("{path}.id"),
                    format!("duplicate provider id {}", provider.id),
                ));
            }
            check_exclusive(
                &path,
                ("client_secret", provider.client_secret.is_some()),
                ("client_secret_file", provider.client_secret_file.is_some()),
                false,
            )?;
            if provider.issuer.is_none()
                && provider.discovery_mode.as_deref().unwrap_or("oidc") != "disabled"
            {
                return Err(ConfigError::invalid(
                    format!("{path}.issuer"),
                    "required unless discovery_mode is disabled",
                ));
            }
        }
        Ok(())
    }
}

fn default_true() -> bool {
    true
}

fn is_true(value: &bool) -> bool {
    *value
}

/// `upstream_oauth2.providers[]`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct UpstreamProviderConfig {
    #[serde(with = "ulid_string")]
    pub id: Ulid,
    #[serde(default = "default_true", skip_serializing_if = "is_true")]
    pub enabled: bool,
    /// Synapse's IdP id (`oidc-<idp_id>`, or `oidc`), for syn2mas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synapse_idp_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub human_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brand_name: Option<String>,
    pub client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_file: Option<PathBuf>,
    /// `none|client_secret_basic|client_secret_post|client_secret_jwt|private_key_jwt|sign_in_with_apple`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign_in_with_apple: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_signing_alg: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_signed_response_alg: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// `oidc` (default), `insecure` or `disabled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery_mode: Option<String>,
    /// `auto` (default), `always` or `never`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pkce_method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetch_userinfo: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userinfo_signed_response_alg: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userinfo_endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// `query` (default) or `form_post`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_authorization_parameters: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forward_login_hint: Option<bool>,
    /// `do_nothing` (default), `logout_browser_only` or `logout_all`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_backchannel_logout: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_token_required: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claims_imports: Option<Value>,
}

impl UpstreamProviderConfig {
    /// A provider with only the required keys set.
    pub fn new(id: Ulid, client_id: impl Into<String>) -> Self {
        Self {
            id,
            enabled: true,
            synapse_idp_id: None,
            issuer: None,
            human_name: None,
            brand_name: None,
            client_id: client_id.into(),
            client_secret: None,
            client_secret_file: None,
            token_endpoint_auth_method: None,
            sign_in_with_apple: None,
            token_endpoint_auth_signing_alg: None,
            id_token_signed_response_alg: None,
            scope: None,
            discovery_mode: None,
            pkce_method: None,
            fetch_userinfo: None,
            userinfo_signed_response_alg: None,
            authorization_endpoint: None,
            token_endpoint: None,
            userinfo_endpoint: None,
            jwks_uri: None,
            response_mode: None,
            additional_authorization_parameters: None,
            forward_login_hint: None,
            on_backchannel_logout: None,
            registration_token_required: None,
            claims_imports: None,
        }
    }

    /// The client secret, from `client_secret` or `client_secret_file`.
    pub fn client_secret(&self) -> Result<Option<String>, ConfigError> {
        match (&self.client_secret, &self.client_secret_file) {
            (Some(secret), _) => Ok(Some(secret.clone())),
            (None, Some(file)) => Ok(Some(read_trimmed_string(
                &format!("upstream_oauth2.providers[{}].client_secret_file", self.id),
                file,
            )?)),
            (None, None) => Ok(None),
        }
    }

    /// `token_endpoint_auth_method`, defaulting like MAS (basic when there is a secret).
    pub fn auth_method(&self) -> &str {
        match &self.token_endpoint_auth_method {
            Some(method) => method,
            None if self.client_secret.is_some() || self.client_secret_file.is_some() => {
                "client_secret_basic"
            }
            None => "none",
        }
    }

    /// `scope`, default `openid email profile`.
    pub fn scope(&self) -> &str {
        self.scope.as_deref().unwrap_or("openid email profile")
    }
}

impl fmt::Debug for UpstreamProviderConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpstreamProviderConfig")
            .field("id", &self.id)
            .field("synapse_idp_id", &self.synapse_idp_id)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &Redacted(&self.client_secret))
            .finish_non_exhaustive()
    }
}
