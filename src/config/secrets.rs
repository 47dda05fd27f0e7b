//! The `secrets` section: the symmetric encryption key and where the signing keys come from.
//!
//! This module only locates and reads key material ([`SecretsConfig::key_sources`]); parsing
//! and validating the keys themselves belongs to the crypto module.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::ConfigError;
use super::util::{Redacted, check_exclusive, read_file, read_trimmed_string, strip_line_ending};

/// `secrets`.
#[derive(Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SecretsConfig {
    /// 32 bytes as 64 hex characters. Must never change once data has been encrypted with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<KeyConfig>,
    /// A directory whose files are (unencrypted) signing keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keys_dir: Option<PathBuf>,
}

/// `secrets.keys[]`.
#[derive(Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct KeyConfig {
    /// Key ID; when absent the crypto module uses the RFC 7638 thumbprint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// Inline PEM.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// A PEM or DER file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// Password of an encrypted PKCS#8 key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
}

/// Raw key material gathered by [`SecretsConfig::key_sources`].
#[derive(Clone, PartialEq, Eq)]
pub struct LoadedKey {
    pub kid: Option<String>,
    /// PEM text or DER bytes, exactly as found.
    pub pem_or_der: Vec<u8>,
    /// Password for an encrypted PKCS#8 key (a trailing line ending of a file is removed).
    pub password: Option<Vec<u8>>,
}

impl SecretsConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        check_exclusive(
            "secrets",
            ("encryption", self.encryption.is_some()),
            ("encryption_file", self.encryption_file.is_some()),
            true,
        )?;
        if let Some(encryption) = &self.encryption {
            decode_encryption_key("secrets.encryption", encryption)?;
        }
        if self.keys.is_empty() && self.keys_dir.is_none() {
            return Err(ConfigError::invalid(
                "secrets.keys",
                "at least one signing key is required (set `keys` or `keys_dir`)",
            ));
        }
        for (i, key) in self.keys.iter().enumerate() {
            let path = format!("secrets.keys[{i}]");
            check_exclusive(
                &path,
                ("key", key.key.is_some()),
                ("key_file", key.key_file.is_some()),
                true,
            )?;
            check_exclusive(
                &path,
                ("password", key.password.is_some()),
                ("password_file", key.password_file.is_some()),
                false,
            )?;
        }
        Ok(())
    }

    /// The 32-byte encryption key, from `encryption` or the file named by `encryption_file`.
    pub fn encryption_key(&self) -> Result<[u8; 32], ConfigError> {
        match (&self.encryption, &self.encryption_file) {
            (Some(value), _) => decode_encryption_key("secrets.encryption", value),
            (None, Some(file)) => {
                let value = read_trimmed_string("secrets.encryption_file", file)?;
                decode_encryption_key("secrets.encryption_file", &value)
            }
            (None, None) => Err(ConfigError::invalid(
                "secrets.encryption",
                "one of `encryption` or `encryption_file` is required",
            )),
        }
    }

    /// Key material of every configured signing key: `keys[]` in order, then each regular,
    /// non-hidden file of `keys_dir` in file-name order. Relative paths are relative to the
    /// working directory.
    pub fn key_sources(&self) -> Result<Vec<LoadedKey>, ConfigError> {
        let mut loaded = Vec::new();
        for (i, key) in self.keys.iter().enumerate() {
            let pem_or_der = match (&key.key, &key.key_file) {
                (Some(pem), _) => pem.clone().into_bytes(),
                (None, Some(file)) => read_file(&format!("secrets.keys[{i}].key_file"), file)?,
                (None, None) => {
                    return Err(ConfigError::invalid(
                        format!("secrets.keys[{i}].key"),
                        "one of `key` or `key_file` is required",
                    ));
                }
            };
            let password = match (&key.password, &key.password_file) {
                (Some(password), _) => Some(password.clone().into_bytes()),
                (None, Some(file)) => Some(strip_line_ending(read_file(
                    &format!("secrets.keys[{i}].password_file"),
                    file,
                )?)),
                (None, None) => None,
            };
            loaded.push(LoadedKey {
                kid: key.kid.clone(),
                pem_or_der,
                password,
            });
        }
        if let Some(dir) = &self.keys_dir {
            let dir_error = |source| ConfigError::File {
                key: "secrets.keys_dir".to_owned(),
                file: dir.clone(),
                source,
            };
            let mut files = Vec::new();
            for entry in std::fs::read_dir(dir).map_err(dir_error)? {
                let entry = entry.map_err(dir_error)?;
                let path = entry.path();
                let hidden = entry.file_name().to_string_lossy().starts_with('.');
                // `metadata` follows symlinks (Kubernetes secret volumes are symlinks).
                let is_file = std::fs::metadata(&path).is_ok_and(|m| m.is_file());
                if !hidden && is_file {
                    files.push(path);
                }
            }
            files.sort();
            for file in files {
                loaded.push(LoadedKey {
                    kid: None,
                    pem_or_der: read_file("secrets.keys_dir", &file)?,
                    password: None,
                });
            }
        }
        Ok(loaded)
    }
}

fn decode_encryption_key(path: &str, value: &str) -> Result<[u8; 32], ConfigError> {
    let mut key = [0u8; 32];
    if value.len() != 64 {
        return Err(ConfigError::invalid(
            path,
            format!(
                "must be 64 hexadecimal characters (32 bytes), found {} characters",
                value.len()
            ),
        ));
    }
    hex::decode_to_slice(value, &mut key)
        .map_err(|_| ConfigError::invalid(path, "must be 64 hexadecimal characters (32 bytes)"))?;
    Ok(key)
}

impl fmt::Debug for SecretsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretsConfig")
            .field("encryption", &Redacted(&self.encryption))
            .field("encryption_file", &self.encryption_file)
            .field("keys", &self.keys)
            .field("keys_dir", &self.keys_dir)
            .finish()
    }
}

impl fmt::Debug for KeyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyConfig")
            .field("kid", &self.kid)
            .field("key", &Redacted(&self.key))
            .field("key_file", &self.key_file)
            .field("password", &Redacted(&self.password))
            .field("password_file", &self.password_file)
            .finish()
    }
}

impl fmt::Debug for LoadedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadedKey")
            .field("kid", &self.kid)
            .field(
                "pem_or_der",
                &format_args!("<{} bytes>", self.pem_or_der.len()),
            )
            .field("password", &Redacted(&self.password))
            .finish()
    }
}
