//! `GET /upstream-oauth-providers/{id}`: one upstream provider.

use poem::web::Data;
use poem_openapi::{OpenApi, param::Path, payload::Json};

use super::{SingleUpstreamOAuthProvider, UpstreamOAuthProviderResource, provider_by_id};
use crate::http::{
    AppState,
    admin::{
        AdminTag,
        auth::AdminAuth,
        error::{BAD_REQUEST, NOT_FOUND, OpError},
    },
};

pub struct Api;

#[OpenApi(tag = "AdminTag::UpstreamOAuthProvider")]
impl Api {
    /// Get an upstream OAuth provider
    #[oai(
        path = "/upstream-oauth-providers/:id",
        method = "get",
        operation_id = "getUpstreamOAuthProvider"
    )]
    async fn get(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        /// The provider's ID.
        #[oai(validator(pattern = "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$"))]
        id: Path<String>,
    ) -> Result<Json<SingleUpstreamOAuthProvider>, OpError<{ BAD_REQUEST | NOT_FOUND }>> {
        let provider = provider_by_id(&mut state.store.reader().await?, &id).await?;
        Ok(UpstreamOAuthProviderResource::from(provider).single())
    }
}
