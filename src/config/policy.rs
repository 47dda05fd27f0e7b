//! `policy.data`: the data MAS's policies read. Gatehouse applies the same rules natively; the
//! rest of the `policy` section (`wasm_module`, entrypoints) is kept so MAS configs load, and
//! ignored.

use serde::Deserialize;

use super::ConfigError;
use crate::domain::client_registration::RegistrationPolicy;

/// The parts of `policy.data` Gatehouse reads. Unknown keys are kept in the file and ignored.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct PolicyData {
    /// `policy.data.client_registration`: how strict dynamic client registration is.
    pub client_registration: RegistrationPolicy,
    /// `policy.data.admin_clients`: the client ids that may obtain `urn:mas:admin` through the
    /// client credentials grant.
    pub admin_clients: Vec<ulid::Ulid>,
}

impl PolicyData {
    /// Read `policy.data` out of the (otherwise untyped) `policy` section.
    pub fn from_policy(policy: &serde_yaml_ng::Value) -> Result<Self, ConfigError> {
        let Some(data) = policy.get("data") else {
            return Ok(Self::default());
        };
        if data.is_null() {
            return Ok(Self::default());
        }
        serde_path_to_error::deserialize(data.clone()).map_err(|e| {
            let inner = e.path().to_string();
            let path = if inner == "." {
                "policy.data".to_owned()
            } else {
                format!("policy.data.{inner}")
            };
            ConfigError::invalid(path, e.into_inner().to_string())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(yaml: &str) -> Result<PolicyData, ConfigError> {
        PolicyData::from_policy(&serde_yaml_ng::from_str(yaml).unwrap())
    }

    #[test]
    fn defaults_and_switches() {
        assert_eq!(read("{}").unwrap(), PolicyData::default());
        assert_eq!(read("data: ~").unwrap(), PolicyData::default());
        let data = read(
            "wasm_module: /x.wasm\ndata:\n  admin_users: [root]\n  client_registration:\n    allow_insecure_uris: true\n    allow_host_mismatch: true\n",
        )
        .unwrap();
        assert!(data.client_registration.allow_insecure_uris);
        assert!(data.client_registration.allow_host_mismatch);
        assert!(!data.client_registration.allow_missing_client_uri);
        assert!(data.client_registration.allow_missing_contacts);
        assert!(data.admin_clients.is_empty());
        let data = read("data:\n  admin_clients: [01JA8ZQ3XK5W7N2M4P6R9T1V3Y]\n").unwrap();
        assert_eq!(data.admin_clients.len(), 1);
        let error = read("data:\n  admin_clients: [not-a-ulid]\n").unwrap_err();
        assert!(
            error
                .key_path()
                .is_some_and(|p| p.starts_with("policy.data.admin_clients")),
            "{error}"
        );
    }

    #[test]
    fn a_bad_value_names_its_key() {
        let error =
            read("data:\n  client_registration:\n    allow_insecure_uris: maybe\n").unwrap_err();
        assert_eq!(
            error.key_path(),
            Some("policy.data.client_registration.allow_insecure_uris")
        );
    }
}
