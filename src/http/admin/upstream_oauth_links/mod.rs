//! `/upstream-oauth-links`: links between upstream accounts (provider, subject) and users. One
//! file per operation.

mod add;
mod delete;
mod get;
mod list;

use chrono::{DateTime, Utc};
use poem_openapi::Object;

use ulid::Ulid;

use super::{
    error::AdminError, example, pagination::resource, upstream_oauth_providers, users,
    users::parse_id,
};
use crate::{domain::upstream::UpstreamLink, store::Reader};

#[derive(Debug, Clone, Object)]
pub struct UpstreamOAuthLinkAttributes {
    pub created_at: DateTime<Utc>,
    /// The upstream provider's ID.
    pub provider_id: String,
    /// The account's subject at the provider.
    pub subject: String,
    /// The user's ID (none while a login through the provider is not linked yet).
    pub user_id: Option<String>,
    /// A name of the upstream account for humans.
    pub human_account_name: Option<String>,
}

/// The example user's Google account.
const EXAMPLE_ID: Ulid = example::id("01JDS0RVZGG7KYHRJXJG7DJ13N");

impl poem_openapi::types::Example for UpstreamOAuthLinkAttributes {
    fn example() -> Self {
        Self {
            created_at: example::time("2024-11-28T09:13:58Z"),
            provider_id: upstream_oauth_providers::EXAMPLE_ID.to_string(),
            subject: "110248495921238986420".to_owned(),
            user_id: Some(users::EXAMPLE_ID.to_string()),
            human_account_name: Some("alice@gmail.com".to_owned()),
        }
    }
}

resource!(
    /// A link between an upstream account and a user.
    UpstreamOAuthLinkResource, SingleUpstreamOAuthLink, UpstreamOAuthLinkList,
    UpstreamOAuthLinkAttributes, "upstream-oauth-link", "/upstream-oauth-links", EXAMPLE_ID
);

impl From<UpstreamLink> for UpstreamOAuthLinkResource {
    fn from(link: UpstreamLink) -> Self {
        UpstreamOAuthLinkResource::new(
            link.id,
            UpstreamOAuthLinkAttributes {
                created_at: link.created_at,
                provider_id: link.provider_id.to_string(),
                subject: link.subject,
                user_id: link.user_id.map(|id| id.to_string()),
                human_account_name: link.human_account_name,
            },
        )
    }
}

async fn link_by_id(reader: &mut Reader, id: &str) -> Result<UpstreamLink, AdminError> {
    let id = parse_id("Upstream OAuth link", id)?;
    reader
        .upstream()
        .find_link(id)
        .await?
        .ok_or_else(|| AdminError::not_found(format!("Upstream OAuth link ID {id} not found")))
}

pub(crate) fn apis() -> impl poem_openapi::OpenApi {
    (list::Api, add::Api, get::Api, delete::Api)
}
