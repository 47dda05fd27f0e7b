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

/// Policy data that does not parse: the key path inside the data (`.` for the whole) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct InvalidPolicyData {
    pub key: String,
    pub message: String,
}

impl InvalidPolicyData {
    /// The key path under `prefix` (`policy.data`, `data`).
    pub fn key_under(&self, prefix: &str) -> String {
        if self.key == "." {
            prefix.to_owned()
        } else if self.key.starts_with('[') {
            format!("{prefix}{}", self.key)
        } else {
            format!("{prefix}.{}", self.key)
        }
    }
}

impl PolicyData {
    /// Read `policy.data` out of the (otherwise untyped) `policy` section.
    pub fn from_policy(policy: &serde_yaml_ng::Value) -> Result<Self, ConfigError> {
        Self::from_json(&Self::json_of_policy(policy)?)
            .map_err(|e| ConfigError::invalid(e.key_under("policy.data"), e.message))
    }

    /// `policy.data` as a JSON value (`{}` when left out), the base that policy data set at
    /// run time is laid over.
    pub fn json_of_policy(policy: &serde_yaml_ng::Value) -> Result<serde_json::Value, ConfigError> {
        match policy.get("data") {
            None => Ok(serde_json::Value::Object(serde_json::Map::new())),
            Some(data) if data.is_null() => Ok(serde_json::Value::Object(serde_json::Map::new())),
            Some(data) => serde_json::to_value(data)
                .map_err(|e| ConfigError::invalid("policy.data", e.to_string())),
        }
    }

    /// Parse policy data given as JSON (the configuration's, or one set at run time).
    pub fn from_json(data: &serde_json::Value) -> Result<Self, InvalidPolicyData> {
        if data.is_null() {
            return Ok(Self::default());
        }
        serde_path_to_error::deserialize(data).map_err(|e| InvalidPolicyData {
            key: e.path().to_string(),
            message: e.into_inner().to_string(),
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
    fn json_data_names_the_key_inside_it() {
        let error = PolicyData::from_json(&serde_json::json!({
            "client_registration": {"allow_host_mismatch": "sometimes"}
        }))
        .unwrap_err();
        assert_eq!(error.key, "client_registration.allow_host_mismatch");
        assert_eq!(
            error.key_under("data"),
            "data.client_registration.allow_host_mismatch"
        );
        let error = PolicyData::from_json(&serde_json::json!("strict")).unwrap_err();
        assert_eq!(error.key_under("data"), "data");
        // serde reads a list as a struct's fields in order.
        let error = PolicyData::from_json(&serde_json::json!([1])).unwrap_err();
        assert_eq!(error.key_under("data"), "data[0]");
        let data = PolicyData::from_json(&serde_json::json!({"unknown": 1})).unwrap();
        assert_eq!(data, PolicyData::default());
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
