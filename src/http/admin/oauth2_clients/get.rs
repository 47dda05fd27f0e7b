//! `GET /oauth2-clients/{id}`: one OAuth 2.0 client.

use poem::web::Data;
use poem_openapi::{OpenApi, param::Path, payload::Json};

use super::{OAuth2ClientResource, SingleOAuth2Client, client_by_id};
use crate::http::{
    AppState,
    admin::{
        AdminTag,
        auth::AdminAuth,
        error::{BAD_REQUEST, NOT_FOUND, OpError},
    },
};

pub struct Api;

#[OpenApi(tag = "AdminTag::OAuth2Client")]
impl Api {
    /// Get an OAuth 2.0 client
    #[oai(
        path = "/oauth2-clients/:id",
        method = "get",
        operation_id = "getOAuth2Client"
    )]
    async fn get(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        /// The client's ID.
        #[oai(validator(pattern = "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$"))]
        id: Path<String>,
    ) -> Result<Json<SingleOAuth2Client>, OpError<{ BAD_REQUEST | NOT_FOUND }>> {
        let client = client_by_id(&mut state.store.reader().await?, &id).await?;
        Ok(OAuth2ClientResource::from(client).single())
    }
}
