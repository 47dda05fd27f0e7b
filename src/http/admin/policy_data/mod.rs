//! `/policy-data`: versions of the data Gatehouse's policy rules read (client registration,
//! `admin_clients`), laid over `policy.data` from the configuration. The newest is in force.

mod get;
mod get_latest;
mod set;

use chrono::{DateTime, Utc};
use poem_openapi::Object;
use serde_json::{Value, json};
use ulid::Ulid;

use super::{example, pagination::resource};
use crate::domain::policy_data::StoredPolicyData;

#[derive(Debug, Clone, Object)]
pub struct PolicyDataAttributes {
    pub created_at: DateTime<Utc>,
    /// The data as it was set (a JSON object, before it is laid over `policy.data`).
    pub data: Value,
}

/// Insecure redirect URIs allowed for a local test deployment.
pub(crate) const EXAMPLE_ID: Ulid = example::id("01JHJ2M7C0Y8B5TZ3Q6W4N1R9V");

impl poem_openapi::types::Example for PolicyDataAttributes {
    fn example() -> Self {
        Self {
            created_at: example::time("2025-01-14T12:00:00Z"),
            data: example_data(),
        }
    }
}

fn example_data() -> Value {
    json!({"client_registration": {"allow_insecure_uris": true}})
}

// MAS lists no policy data, and the macro also makes a list type: it stays unused.
#[allow(dead_code)]
mod documents {
    use super::{EXAMPLE_ID, PolicyDataAttributes, resource};

    resource!(
        /// A version of the policy data.
        PolicyDataResource, SinglePolicyData, PolicyDataList, PolicyDataAttributes,
        "policy-data", "/policy-data", EXAMPLE_ID
    );
}

pub use documents::{PolicyDataResource, SinglePolicyData};

impl From<StoredPolicyData> for PolicyDataResource {
    fn from(row: StoredPolicyData) -> Self {
        PolicyDataResource::new(
            row.id,
            PolicyDataAttributes {
                created_at: row.created_at,
                data: row.data,
            },
        )
    }
}

pub(crate) fn apis() -> impl poem_openapi::OpenApi {
    (set::Api, get_latest::Api, get::Api)
}
