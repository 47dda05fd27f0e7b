//! The `passwords` section: whether local passwords are enabled, the minimum zxcvbn score and
//! the versioned hashing schemes (the highest version hashes new passwords).

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::ConfigError;
use super::util::{Redacted, check_exclusive, is_false, read_file, strip_line_ending};

/// Cost used for bcrypt when `cost` is not set.
pub const DEFAULT_BCRYPT_COST: u32 = 12;

/// `passwords`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PasswordsConfig {
    /// When false, only upstream (OIDC) login is possible.
    pub enabled: bool,
    pub schemes: Vec<PasswordSchemeConfig>,
    /// zxcvbn score, 0 to 4.
    pub minimum_complexity: u8,
}

impl Default for PasswordsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            schemes: vec![PasswordSchemeConfig {
                version: 1,
                algorithm: PasswordAlgorithm::Argon2id,
                cost: None,
                secret: None,
                secret_file: None,
                unicode_normalization: false,
            }],
            minimum_complexity: 3,
        }
    }
}

/// `passwords.schemes[].algorithm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PasswordAlgorithm {
    #[default]
    Argon2id,
    Bcrypt,
    Pbkdf2,
}

/// `passwords.schemes[]`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct PasswordSchemeConfig {
    /// Unique; the highest version is used for new hashes.
    pub version: u16,
    #[serde(default)]
    pub algorithm: PasswordAlgorithm,
    /// bcrypt cost; see [`PasswordSchemeConfig::bcrypt_cost`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<u32>,
    /// Pepper.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_file: Option<PathBuf>,
    /// Apply NFKC before hashing, as Synapse does.
    #[serde(default, skip_serializing_if = "is_false")]
    pub unicode_normalization: bool,
}

impl PasswordSchemeConfig {
    /// The bcrypt cost: `cost`, or 12.
    pub fn bcrypt_cost(&self) -> u32 {
        self.cost.unwrap_or(DEFAULT_BCRYPT_COST)
    }

    /// The pepper: `secret`, or the contents of `secret_file` without a trailing line ending.
    pub fn pepper(&self) -> Result<Option<Vec<u8>>, ConfigError> {
        match (&self.secret, &self.secret_file) {
            (Some(secret), _) => Ok(Some(secret.clone().into_bytes())),
            (None, Some(file)) => {
                let key = format!("passwords.schemes[version {}].secret_file", self.version);
                Ok(Some(strip_line_ending(read_file(&key, file)?)))
            }
            (None, None) => Ok(None),
        }
    }
}

impl PasswordsConfig {
    /// The scheme used to hash new passwords (the highest version).
    pub fn current_scheme(&self) -> Option<&PasswordSchemeConfig> {
        self.schemes.iter().max_by_key(|s| s.version)
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.minimum_complexity > 4 {
            return Err(ConfigError::invalid(
                "passwords.minimum_complexity",
                format!("must be between 0 and 4, found {}", self.minimum_complexity),
            ));
        }
        if self.enabled && self.schemes.is_empty() {
            return Err(ConfigError::invalid(
                "passwords.schemes",
                "at least one scheme is required when passwords are enabled",
            ));
        }
        let mut seen = HashMap::new();
        for (i, scheme) in self.schemes.iter().enumerate() {
            let path = format!("passwords.schemes[{i}]");
            if seen.insert(scheme.version, i).is_some() {
                return Err(ConfigError::invalid(
                    format!("{path}.version"),
                    format!("duplicate version {}", scheme.version),
                ));
            }
            if scheme.algorithm == PasswordAlgorithm::Bcrypt
                && let Some(cost) = scheme.cost
                && !(4..=31).contains(&cost)
            {
                return Err(ConfigError::invalid(
                    format!("{path}.cost"),
                    format!("bcrypt cost must be between 4 and 31, found {cost}"),
                ));
            }
            check_exclusive(
                &path,
                ("secret", scheme.secret.is_some()),
                ("secret_file", scheme.secret_file.is_some()),
                false,
            )?;
        }
        Ok(())
    }
}

impl fmt::Debug for PasswordSchemeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordSchemeConfig")
            .field("version", &self.version)
            .field("algorithm", &self.algorithm)
            .field("cost", &self.cost)
            .field("secret", &Redacted(&self.secret))
            .field("secret_file", &self.secret_file)
            .field("unicode_normalization", &self.unicode_normalization)
            .finish()
    }
}
