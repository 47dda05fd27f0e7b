//! `GET /upstream-oauth-links/{id}`: one link.

use poem::web::Data;
use poem_openapi::{OpenApi, param::Path, payload::Json};

use super::{SingleUpstreamOAuthLink, UpstreamOAuthLinkResource, link_by_id};
use crate::http::{
    AppState,
    admin::{
        AdminTag,
        auth::AdminAuth,
        error::{BAD_REQUEST, NOT_FOUND, OpError},
    },
};

pub struct Api;

#[OpenApi(tag = "AdminTag::UpstreamOAuthLink")]
impl Api {
    /// Get an upstream OAuth link
    #[oai(
        path = "/upstream-oauth-links/:id",
        method = "get",
        operation_id = "getUpstreamOAuthLink"
    )]
    async fn get(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        /// The link's ID.
        #[oai(validator(pattern = "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$"))]
        id: Path<String>,
    ) -> Result<Json<SingleUpstreamOAuthLink>, OpError<{ BAD_REQUEST | NOT_FOUND }>> {
        let link = link_by_id(&mut state.store.reader().await?, &id).await?;
        Ok(UpstreamOAuthLinkResource::from(link).single())
    }
}
