//! The `config.yaml` model (MAS section and key names), loading, validation and generation.
//!
//! Gatehouse reads the same configuration file as Element's Matrix Authentication Service, so
//! every section and key here keeps the MAS name, shape and default. Each section lives in its
//! own file; this module owns [`RootConfig`] (the whole file), [`ConfigError`] and the
//! cross-section validation entry point [`RootConfig::validate`].
//!
//! - [`load`] / [`from_str`]: read, deep-merge and deserialize YAML, collecting unknown keys as
//!   warnings and naming the key path of any bad value.
//! - [`generate`] / [`to_yaml`]: produce a fresh configuration with random secrets and dump it.
//!
//! Secrets (keys, passwords, shared secrets) appear in YAML dumps but never in `Debug` output.

mod account;
mod build;

mod clients;
mod database;
mod email;
mod from_synapse;
mod generate;
mod http;
mod load;
mod matrix;
mod other;
mod passwords;
pub mod policy;
mod secrets;
mod templates;
#[cfg(test)]
mod tests;
mod upstream;
mod util;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use account::AccountConfig;
pub use clients::{ClientAuthMethod, ClientConfig};
pub use database::{DEFAULT_DATABASE_URI, DatabaseConfig, PgSslMode};
pub use email::{EmailConfig, EmailTransport, EmailTransportKind, SmtpMode};
pub use from_synapse::apply_synapse_config;
pub use generate::{generate, to_yaml};
pub use http::{BindConfig, FdKind, HttpConfig, ListenerConfig, LoadedTls, Resource, TlsConfig};
pub use load::{Loaded, config_paths, from_str, from_value, load, merge_values};
pub use matrix::{HomeserverKind, MatrixConfig};
pub use other::{
    AccountRecoveryRateLimit, BrandingConfig, CaptchaConfig, CaptchaService,
    DeviceCodeEntryRateLimit, EmailAuthenticationRateLimit, ExperimentalConfig,
    InactiveSessionExpirationConfig, LoginRateLimit, OAuthConfig, RateLimiterConfig,
    RateLimitingConfig,
};
pub use passwords::{PasswordAlgorithm, PasswordSchemeConfig, PasswordsConfig};
pub use policy::PolicyData;
pub use secrets::{KeyConfig, LoadedKey, SecretsConfig};
pub use templates::TemplatesConfig;
pub use upstream::{UpstreamOAuth2Config, UpstreamProviderConfig};

/// Everything that can go wrong while loading, validating or generating a configuration.
///
/// The `Display` of [`ConfigError::Invalid`] and [`ConfigError::File`] starts with the key path
/// (`passwords.schemes[1].algorithm: ...`) so that admins can find the offending line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A configuration file could not be read.
    #[error("could not read configuration file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A configuration file is not valid YAML.
    #[error("configuration file {} is not valid YAML: {source}", path.display())]
    Yaml {
        path: PathBuf,
        source: serde_yaml_ng::Error,
    },
    /// A value is missing, has the wrong type or fails a semantic check.
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    /// A file referenced from the configuration (`*_file` keys, `keys_dir`) could not be read.
    #[error("{key}: could not read {}: {source}", file.display())]
    File {
        key: String,
        file: PathBuf,
        source: std::io::Error,
    },
    /// Generating a fresh secret or key failed.
    #[error("could not generate {what}: {message}")]
    Generate { what: &'static str, message: String },
    /// Serializing the configuration failed.
    #[error("could not serialize the configuration: {0}")]
    Serialize(String),
}

impl ConfigError {
    /// A semantic error about the value at `path`.
    pub fn invalid(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            path: path.into(),
            message: message.into(),
        }
    }

    /// The key path this error is about, when it is about one.
    pub fn key_path(&self) -> Option<&str> {
        match self {
            Self::Invalid { path, .. } => Some(path),
            Self::File { key, .. } => Some(key),
            _ => None,
        }
    }
}

/// The whole configuration file. Every section is optional in YAML and falls back to the MAS
/// default; `secrets` and `matrix.secret` have no usable default and fail [`Self::validate`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RootConfig {
    /// Static OAuth 2.0 clients, synced into the database.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub clients: Vec<ClientConfig>,
    pub http: HttpConfig,
    pub database: DatabaseConfig,
    /// Not typed yet: kept so MAS configs load without warnings.
    #[serde(skip_serializing_if = "util::is_empty_value")]
    pub telemetry: serde_yaml_ng::Value,
    #[serde(skip_serializing_if = "TemplatesConfig::is_empty")]
    pub templates: TemplatesConfig,
    pub email: EmailConfig,
    pub secrets: SecretsConfig,
    pub passwords: PasswordsConfig,
    pub matrix: MatrixConfig,
    /// Not typed yet: kept so MAS configs load without warnings.
    #[serde(skip_serializing_if = "util::is_empty_value")]
    pub policy: serde_yaml_ng::Value,
    pub rate_limiting: RateLimitingConfig,
    #[serde(skip_serializing_if = "UpstreamOAuth2Config::is_empty")]
    pub upstream_oauth2: UpstreamOAuth2Config,
    pub branding: BrandingConfig,
    pub captcha: CaptchaConfig,
    pub account: AccountConfig,
    pub oauth: OAuthConfig,
    pub experimental: ExperimentalConfig,
}

impl Default for RootConfig {
    fn default() -> Self {
        Self {
            clients: Vec::new(),
            http: HttpConfig::default(),
            database: DatabaseConfig::default(),
            telemetry: util::empty_map(),
            templates: TemplatesConfig::default(),
            email: EmailConfig::default(),
            secrets: SecretsConfig::default(),
            passwords: PasswordsConfig::default(),
            matrix: MatrixConfig::default(),
            policy: util::empty_map(),
            rate_limiting: RateLimitingConfig::default(),
            upstream_oauth2: UpstreamOAuth2Config::default(),
            branding: BrandingConfig::default(),
            captcha: CaptchaConfig::default(),
            account: AccountConfig::default(),
            oauth: OAuthConfig::default(),
            experimental: ExperimentalConfig::default(),
        }
    }
}

impl RootConfig {
    /// Semantic checks that serde cannot express. Returns the first problem, naming its key
    /// path. Does not read any file referenced by the configuration.
    pub fn validate(&self) -> Result<(), ConfigError> {
        clients::validate(&self.clients)?;
        self.http.validate()?;
        self.database.validate()?;
        self.email.validate()?;
        self.secrets.validate()?;
        self.passwords.validate()?;
        self.matrix.validate()?;
        self.rate_limiting.validate()?;
        self.captcha.validate()?;
        self.upstream_oauth2.validate()?;
        self.experimental.validate()?;
        self.policy_data()?;
        Ok(())
    }

    /// The typed parts of `policy.data`.
    pub fn policy_data(&self) -> Result<PolicyData, ConfigError> {
        PolicyData::from_policy(&self.policy)
    }

    /// Non-fatal remarks about the configuration (deprecated keys and the like).
    pub fn deprecation_warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if self.account.registration_token_required {
            warnings.push(
                "account.registration_token_required is deprecated; use account.password_registration_token_required"
                    .to_owned(),
            );
        }
        warnings
    }
}
