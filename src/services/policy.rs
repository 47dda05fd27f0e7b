//! The policy data in force: `policy.data` from the configuration with the newest version set
//! through the admin API laid over it (as MAS merges its dynamic data over the static data).
//! Every replica reads the newest version when it applies a rule, so a change made on one
//! replica holds on all of them at once.

use std::sync::{Arc, Mutex};

use serde_json::Value;
use ulid::Ulid;

use crate::{
    config::{
        ConfigError,
        policy::{InvalidPolicyData, PolicyData},
    },
    domain::{
        Clock,
        ids::new_id,
        policy_data::{StoredPolicyData, merge},
    },
    store::{Store, StoreError},
};

/// Where the rules' data comes from. One per server, shared by every request.
#[derive(Debug)]
pub struct PolicySource {
    /// `policy.data` as JSON: what a stored version is laid over.
    config: Value,
    /// `policy.data` parsed: in force while no version is stored.
    from_config: Arc<PolicyData>,
    /// The last stored version parsed, so an unchanged version is not merged and parsed again.
    parsed: Mutex<Option<(Ulid, Arc<PolicyData>)>>,
}

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Stored data that no longer parses (it was checked when it was set).
    #[error("stored policy data {id} is invalid: {error}")]
    StoredInvalid { id: Ulid, error: InvalidPolicyData },
}

/// Why data given to [`PolicySource::set`] was refused, or the store failed.
#[derive(Debug, thiserror::Error)]
pub enum SetPolicyError {
    #[error(transparent)]
    Invalid(InvalidPolicyData),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl PolicySource {
    /// From the configuration's (untyped) `policy` section.
    pub fn from_config(policy: &serde_yaml_ng::Value) -> Result<Self, ConfigError> {
        let config = PolicyData::json_of_policy(policy)?;
        let from_config = PolicyData::from_json(&config)
            .map_err(|e| ConfigError::invalid(e.key_under("policy.data"), e.message))?;
        Ok(Self {
            config,
            from_config: Arc::new(from_config),
            parsed: Mutex::new(None),
        })
    }

    /// The rules' data if `data` were set: laid over the configuration's, then parsed. The
    /// error names the key inside `data`.
    pub fn check(&self, data: &Value) -> Result<PolicyData, InvalidPolicyData> {
        if !data.is_object() {
            return Err(InvalidPolicyData {
                key: ".".to_owned(),
                message: "expected a JSON object".to_owned(),
            });
        }
        let mut merged = self.config.clone();
        merge(&mut merged, data.clone()).map_err(|e| InvalidPolicyData {
            key: e.at.clone(),
            message: e.to_string(),
        })?;
        PolicyData::from_json(&merged)
    }

    /// Check `data` and store it as the newest version.
    pub async fn set(
        &self,
        store: &Store,
        clock: &dyn Clock,
        data: Value,
    ) -> Result<StoredPolicyData, SetPolicyError> {
        let parsed = self.check(&data).map_err(SetPolicyError::Invalid)?;
        let row = StoredPolicyData {
            id: new_id(clock),
            created_at: clock.now(),
            data,
        };
        let mut repo = store.repo().await?;
        repo.policy_data().add(&row).await?;
        repo.save().await?;
        self.remember(row.id, Arc::new(parsed));
        Ok(row)
    }

    /// The data in force now. One lookup of the newest stored version (an index read) per
    /// call: the rules that need it (client registration, the client credentials grant) are
    /// rare enough that a cache, and the delay it would put on other replicas, buys nothing.
    pub async fn current(&self, store: &Store) -> Result<Arc<PolicyData>, PolicyError> {
        let latest = store.reader().await?.policy_data().latest().await?;
        let Some(latest) = latest else {
            return Ok(self.from_config.clone());
        };
        if let Some(parsed) = self.remembered(latest.id) {
            return Ok(parsed);
        }
        let parsed =
            Arc::new(
                self.check(&latest.data)
                    .map_err(|error| PolicyError::StoredInvalid {
                        id: latest.id,
                        error,
                    })?,
            );
        self.remember(latest.id, parsed.clone());
        Ok(parsed)
    }

    fn remembered(&self, id: Ulid) -> Option<Arc<PolicyData>> {
        let parsed = self.parsed.lock().unwrap_or_else(|p| p.into_inner());
        parsed
            .as_ref()
            .filter(|(known, _)| *known == id)
            .map(|(_, data)| data.clone())
    }

    fn remember(&self, id: Ulid, data: Arc<PolicyData>) {
        let mut parsed = self.parsed.lock().unwrap_or_else(|p| p.into_inner());
        // Keep the newest: a slower request must not put an older version back.
        if parsed.as_ref().is_none_or(|(known, _)| *known < id) {
            *parsed = Some((id, data));
        }
    }
}
