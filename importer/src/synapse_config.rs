//! Synapse's `homeserver.yaml`: the keys a migration needs. Several files merge the way Synapse's
//! own loader does it: top-level keys of a later file replace those of an earlier one (no deep
//! merge). Unknown keys are ignored; Synapse has hundreds.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_yaml_ng::{Mapping, Value};

#[derive(Debug, thiserror::Error)]
pub enum SynapseConfigError {
    #[error("cannot read Synapse configuration {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("Synapse configuration {} is not valid YAML: {source}", path.display())]
    Yaml {
        path: PathBuf,
        source: serde_yaml_ng::Error,
    },
    #[error("Synapse configuration {} must be a mapping at the top level", path.display())]
    NotAMapping { path: PathBuf },
    #[error("Synapse configuration: {0}")]
    Invalid(String),
}

/// The merged Synapse configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SynapseConfig {
    pub server_name: String,
    pub public_baseurl: Option<String>,
    pub pid_file: Option<PathBuf>,
    pub database: Option<DatabaseSection>,
    pub password_config: PasswordConfig,
    pub bcrypt_rounds: Option<u32>,
    pub allow_guest_access: bool,
    pub enable_registration: bool,
    pub enable_registration_captcha: bool,
    pub recaptcha_public_key: Option<String>,
    pub recaptcha_private_key: Option<String>,
    /// Synapse's own default is true, but MAS mode refuses it only when set explicitly; like
    /// MAS's tool, a missing key counts as false.
    pub enable_3pid_changes: bool,
    pub enable_set_display_name: Option<bool>,
    pub login_via_existing_session: LoginViaExistingSession,
    pub user_consent: Option<Value>,
    pub cas_config: Option<Value>,
    pub saml2_config: Option<Value>,
    pub jwt_config: Option<Value>,
    pub password_providers: Option<Vec<Value>>,
    pub oidc_providers: Option<Vec<OidcProvider>>,
    /// The legacy single-provider form; its IdP id is `oidc`.
    pub oidc_config: Option<OidcProvider>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSection {
    pub name: String,
    #[serde(default)]
    pub args: Mapping,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct PasswordConfig {
    pub enabled: PasswordEnabled,
    pub localdb_enabled: bool,
    pub pepper: Option<String>,
}

impl Default for PasswordConfig {
    fn default() -> Self {
        Self {
            enabled: PasswordEnabled::Bool(true),
            localdb_enabled: true,
            pepper: None,
        }
    }
}

/// `password_config.enabled`: true, false, or `only_for_reauth`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum PasswordEnabled {
    Bool(bool),
    Other(String),
}

impl PasswordConfig {
    /// Whether users log in with passwords Synapse checks against its own database.
    pub fn login_enabled(&self) -> bool {
        matches!(self.enabled, PasswordEnabled::Bool(true))
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct LoginViaExistingSession {
    pub enabled: bool,
}

/// One entry of `oidc_providers` (or the legacy `oidc_config`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct OidcProvider {
    pub idp_id: Option<String>,
    pub idp_name: Option<String>,
    pub idp_brand: Option<String>,
    pub enabled: Option<bool>,
    pub discover: Option<bool>,
    pub skip_verification: Option<bool>,
    pub issuer: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub client_secret_path: Option<String>,
    pub client_secret_jwt_key: Option<Value>,
    pub client_auth_method: Option<String>,
    pub pkce_method: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub authorization_endpoint: Option<String>,
    pub token_endpoint: Option<String>,
    pub userinfo_endpoint: Option<String>,
    pub jwks_uri: Option<String>,
    pub user_profile_method: Option<String>,
    pub attribute_requirements: Option<Value>,
    pub additional_authorization_parameters: Option<Mapping>,
    pub user_mapping_provider: Option<Value>,
}

impl OidcProvider {
    /// The `auth_provider` Synapse writes in `user_external_ids` for this provider.
    pub fn synapse_idp_id(&self, legacy: bool) -> String {
        match (&self.idp_id, legacy) {
            (_, true) | (None, _) => "oidc".to_owned(),
            (Some(id), false) if id.starts_with("oidc-") => id.clone(),
            (Some(id), false) => format!("oidc-{id}"),
        }
    }
}

fn section_enabled(section: &Option<Value>) -> bool {
    match section {
        None | Some(Value::Null) => false,
        Some(value) => value
            .get("enabled")
            .and_then(Value::as_bool)
            .unwrap_or(true),
    }
}

impl SynapseConfig {
    /// Read and merge `paths` in order (later top-level keys win).
    pub fn load(paths: &[PathBuf]) -> Result<Self, SynapseConfigError> {
        let mut merged = Mapping::new();
        for path in paths {
            for (key, value) in read_mapping(path)? {
                merged.insert(key, value);
            }
        }
        Self::from_value(Value::Mapping(merged))
    }

    pub fn from_value(value: Value) -> Result<Self, SynapseConfigError> {
        let config: SynapseConfig = serde_yaml_ng::from_value(value)
            .map_err(|e| SynapseConfigError::Invalid(e.to_string()))?;
        if config.server_name.is_empty() {
            return Err(SynapseConfigError::Invalid(
                "server_name is missing".to_owned(),
            ));
        }
        Ok(config)
    }

    /// Every OIDC provider Synapse knows, with the `auth_provider` id it uses for it.
    pub fn oidc_providers(&self) -> Vec<(String, &OidcProvider)> {
        let mut providers = Vec::new();
        if let Some(legacy) = &self.oidc_config
            && legacy.enabled.unwrap_or(true)
        {
            providers.push((legacy.synapse_idp_id(true), legacy));
        }
        for provider in self.oidc_providers.iter().flatten() {
            if provider.enabled.unwrap_or(true) {
                providers.push((provider.synapse_idp_id(false), provider));
            }
        }
        providers
    }

    pub fn cas_enabled(&self) -> bool {
        section_enabled(&self.cas_config)
    }

    pub fn saml2_enabled(&self) -> bool {
        section_enabled(&self.saml2_config)
    }

    pub fn jwt_enabled(&self) -> bool {
        section_enabled(&self.jwt_config)
    }

    pub fn user_consent_enabled(&self) -> bool {
        !matches!(self.user_consent, None | Some(Value::Null))
    }

    /// The password pepper (`password_config.pepper`), empty when unset.
    pub fn pepper(&self) -> &str {
        self.password_config.pepper.as_deref().unwrap_or("")
    }
}

fn read_mapping(path: &Path) -> Result<Mapping, SynapseConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| SynapseConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let value: Value =
        serde_yaml_ng::from_str(&text).map_err(|source| SynapseConfigError::Yaml {
            path: path.to_owned(),
            source,
        })?;
    match value {
        Value::Mapping(mapping) => Ok(mapping),
        Value::Null => Ok(Mapping::new()),
        _ => Err(SynapseConfigError::NotAMapping {
            path: path.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_files_replace_top_level_keys() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.yaml");
        let b = dir.path().join("b.yaml");
        std::fs::write(
            &a,
            "server_name: a.test\npassword_config: {pepper: one, localdb_enabled: false}\nallow_guest_access: true\n",
        )
        .unwrap();
        std::fs::write(&b, "server_name: b.test\npassword_config: {pepper: two}\n").unwrap();
        let config = SynapseConfig::load(&[a, b]).unwrap();
        assert_eq!(config.server_name, "b.test");
        assert_eq!(config.pepper(), "two");
        // Not a deep merge: b's password_config replaced a's entirely.
        assert!(config.password_config.localdb_enabled);
        assert!(config.allow_guest_access);
    }

    #[test]
    fn oidc_ids_follow_synapse() {
        let config = SynapseConfig::from_value(
            serde_yaml_ng::from_str(
                "server_name: x\noidc_providers: [{idp_id: keycloak}, {idp_id: oidc-google}, {idp_id: off, enabled: false}]\noidc_config: {issuer: 'https://l'}\n",
            )
            .unwrap(),
        )
        .unwrap();
        let ids: Vec<String> = config
            .oidc_providers()
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        assert_eq!(ids, ["oidc", "oidc-keycloak", "oidc-google"]);
    }
}
