//! `DELETE /upstream-oauth-links/{id}`: remove a link.

use poem::web::Data;
use poem_openapi::{ApiResponse, OpenApi, param::Path};

use crate::http::{
    AppState,
    admin::{
        AdminTag,
        auth::AdminAuth,
        error::{AdminError, BAD_REQUEST, NOT_FOUND, OpError},
        users::parse_id,
    },
};

#[derive(Debug, ApiResponse)]
pub enum Deleted {
    /// The link was removed.
    #[oai(status = 204)]
    NoContent,
}

pub struct Api;

#[OpenApi(tag = "AdminTag::UpstreamOAuthLink")]
impl Api {
    /// Delete an upstream OAuth link
    #[oai(
        path = "/upstream-oauth-links/:id",
        method = "delete",
        operation_id = "deleteUpstreamOAuthLink"
    )]
    async fn delete(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        /// The link's ID.
        #[oai(validator(pattern = "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$"))]
        id: Path<String>,
    ) -> Result<Deleted, OpError<{ BAD_REQUEST | NOT_FOUND }>> {
        let id = parse_id("Upstream OAuth link", &id)?;
        let mut repo = state.store.repo().await?;
        if !repo.upstream().delete_link(id).await? {
            return Err(
                AdminError::not_found(format!("Upstream OAuth link ID {id} not found")).into(),
            );
        }
        repo.save().await?;
        Ok(Deleted::NoContent)
    }
}
