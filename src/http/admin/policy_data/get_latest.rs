//! `GET /policy-data/latest`: the policy data in force.

use poem::web::Data;
use poem_openapi::{OpenApi, payload::Json};

use super::{PolicyDataResource, SinglePolicyData};
use crate::http::{
    AppState,
    admin::{
        AdminTag,
        auth::AdminAuth,
        error::{AdminError, NOT_FOUND, OpError},
    },
};

pub struct Api;

#[OpenApi(tag = "AdminTag::PolicyData")]
impl Api {
    /// Get the latest policy data
    ///
    /// A 404 when none was ever set (then `policy.data` from the configuration is in force).
    #[oai(
        path = "/policy-data/latest",
        method = "get",
        operation_id = "getLatestPolicyData"
    )]
    async fn get_latest(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
    ) -> Result<Json<SinglePolicyData>, OpError<{ NOT_FOUND }>> {
        let latest = state.store.reader().await?.policy_data().latest().await?;
        let latest = latest.ok_or_else(|| AdminError::not_found("No policy data set"))?;
        Ok(PolicyDataResource::from(latest).single())
    }
}
