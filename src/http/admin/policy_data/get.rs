//! `GET /policy-data/{id}`: one version of the policy data.

use poem::web::Data;
use poem_openapi::{OpenApi, param::Path, payload::Json};

use super::{PolicyDataResource, SinglePolicyData};
use crate::http::{
    AppState,
    admin::{
        AdminTag,
        auth::AdminAuth,
        error::{AdminError, BAD_REQUEST, NOT_FOUND, OpError},
        users::parse_id,
    },
};

pub struct Api;

#[OpenApi(tag = "AdminTag::PolicyData")]
impl Api {
    /// Get policy data by ID
    #[oai(
        path = "/policy-data/:id",
        method = "get",
        operation_id = "getPolicyData"
    )]
    async fn get(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        /// The version's ID.
        #[oai(validator(pattern = "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$"))]
        id: Path<String>,
    ) -> Result<Json<SinglePolicyData>, OpError<{ BAD_REQUEST | NOT_FOUND }>> {
        let id = parse_id("Policy data", &id)?;
        let row = state.store.reader().await?.policy_data().find(id).await?;
        let row =
            row.ok_or_else(|| AdminError::not_found(format!("Policy data ID {id} not found")))?;
        Ok(PolicyDataResource::from(row).single())
    }
}
