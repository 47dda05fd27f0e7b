//! `POST /upstream-oauth-links`: link an upstream account to a user.

use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};

use super::{SingleUpstreamOAuthLink, UpstreamOAuthLinkResource};
use crate::{
    domain::ids::new_id,
    domain::upstream::UpstreamLink,
    http::{
        AppState,
        admin::{
            AdminTag,
            auth::AdminAuth,
            error::{BAD_REQUEST, CONFLICT, NOT_FOUND, OpError, UNSUPPORTED_MEDIA_TYPE},
            upstream_oauth_providers::{self, provider_by_id},
            users::{self, user_by_id},
        },
    },
};

#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct AddUpstreamOAuthLinkRequest {
    /// The user's ID.
    #[oai(validator(pattern = "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$"))]
    pub user_id: String,
    /// The upstream provider's ID.
    #[oai(validator(pattern = "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$"))]
    pub provider_id: String,
    /// The account's subject at the provider.
    #[oai(validator(min_length = 1, max_length = 255))]
    pub subject: String,
    /// A name of the upstream account for humans.
    #[oai(validator(max_length = 255))]
    pub human_account_name: Option<String>,
}

impl poem_openapi::types::Example for AddUpstreamOAuthLinkRequest {
    fn example() -> Self {
        Self {
            user_id: users::EXAMPLE_ID.to_string(),
            provider_id: upstream_oauth_providers::EXAMPLE_ID.to_string(),
            subject: "110248495921238986420".to_owned(),
            human_account_name: Some("alice@gmail.com".to_owned()),
        }
    }
}

#[derive(Debug, ApiResponse)]
pub enum Added {
    /// The link was created.
    #[oai(status = 201)]
    Created(Json<SingleUpstreamOAuthLink>),
}

pub struct Api;

#[OpenApi(tag = "AdminTag::UpstreamOAuthLink")]
impl Api {
    /// Add an upstream OAuth link
    ///
    /// An unknown user or provider is a 404, a subject of the provider that is already linked
    /// a 409.
    #[oai(
        path = "/upstream-oauth-links",
        method = "post",
        operation_id = "addUpstreamOAuthLink"
    )]
    async fn add(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        body: Json<AddUpstreamOAuthLinkRequest>,
    ) -> Result<Added, OpError<{ BAD_REQUEST | NOT_FOUND | CONFLICT | UNSUPPORTED_MEDIA_TYPE }>>
    {
        let body = body.0;
        let (user, provider) = {
            let mut reader = state.store.reader().await?;
            let user = user_by_id(&mut reader, &body.user_id).await?;
            let provider = provider_by_id(&mut reader, &body.provider_id).await?;
            (user, provider)
        };
        let link = UpstreamLink {
            id: new_id(state.clock.as_ref()),
            provider_id: provider.id,
            user_id: Some(user.id),
            subject: body.subject,
            human_account_name: body.human_account_name,
            created_at: state.clock.now(),
        };
        let mut repo = state.store.repo().await?;
        repo.upstream().add_link(&link).await?;
        repo.save().await?;
        Ok(Added::Created(
            UpstreamOAuthLinkResource::from(link).single(),
        ))
    }
}
