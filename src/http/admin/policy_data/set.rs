//! `POST /policy-data`: set new policy data, in force at once on every replica.

use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};
use serde_json::Value;

use super::{PolicyDataResource, SinglePolicyData};
use crate::{
    http::{
        AppState,
        admin::{
            AdminTag,
            auth::AdminAuth,
            error::{AdminError, BAD_REQUEST, OpError, UNSUPPORTED_MEDIA_TYPE},
        },
    },
    services::policy::SetPolicyError,
};

/// New policy data.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct SetPolicyDataRequest {
    /// A JSON object laid over `policy.data` from the configuration: objects merge key by key,
    /// lists add to the configuration's, other values replace it. Keys Gatehouse does not read
    /// are kept.
    pub data: Value,
}

impl poem_openapi::types::Example for SetPolicyDataRequest {
    fn example() -> Self {
        Self {
            data: super::example_data(),
        }
    }
}

#[derive(Debug, ApiResponse)]
pub enum Created {
    /// The data was stored and is in force.
    #[oai(status = 201)]
    Created(Json<SinglePolicyData>),
}

pub struct Api;

#[OpenApi(tag = "AdminTag::PolicyData")]
impl Api {
    /// Set the current policy data
    ///
    /// Data that the rules cannot read (a wrong type, an ID that is not a ULID) is a 400
    /// naming its key, and changes nothing.
    #[oai(path = "/policy-data", method = "post", operation_id = "setPolicyData")]
    async fn set(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        body: Json<SetPolicyDataRequest>,
    ) -> Result<Created, OpError<{ BAD_REQUEST | UNSUPPORTED_MEDIA_TYPE }>> {
        let row = state
            .policy
            .set(&state.store, state.clock.as_ref(), body.0.data)
            .await
            .map_err(|error| match error {
                SetPolicyError::Invalid(invalid) => AdminError::bad_request(format!(
                    "Invalid policy data: {}: {}",
                    invalid.key_under("data"),
                    invalid.message
                )),
                SetPolicyError::Store(error) => AdminError::from(error),
            })?;
        tracing::info!(policy_data_id = %row.id, "policy data set");
        Ok(Created::Created(PolicyDataResource::from(row).single()))
    }
}
