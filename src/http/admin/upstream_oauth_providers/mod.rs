//! `/upstream-oauth-providers`: the upstream OAuth 2.0 / OIDC providers (read-only; they come
//! from the configuration). One file per operation.

mod get;
mod list;

use chrono::{DateTime, Utc};
use poem_openapi::Object;

use ulid::Ulid;

use super::{error::AdminError, example, pagination::resource, users::parse_id};
use crate::{domain::upstream::UpstreamProvider, store::Reader};

#[derive(Debug, Clone, Object)]
pub struct UpstreamOAuthProviderAttributes {
    /// The OIDC issuer, when it has one.
    pub issuer: Option<String>,
    /// The name shown on the login page.
    pub human_name: Option<String>,
    /// The brand (`google`, `github`…) the login page may show an icon for.
    pub brand_name: Option<String>,
    pub created_at: DateTime<Utc>,
    /// When it was disabled (none: enabled).
    pub disabled_at: Option<DateTime<Utc>>,
    /// Whether registering a new account through it needs a registration token (its
    /// `registration_token_required` setting).
    pub registration_token_required: bool,
}

/// Google, as an OIDC provider.
pub(crate) const EXAMPLE_ID: Ulid = example::id("01JD49BP00JMRNV7E9Z0C1HT0H");

impl poem_openapi::types::Example for UpstreamOAuthProviderAttributes {
    fn example() -> Self {
        Self {
            issuer: Some("https://accounts.google.com".to_owned()),
            human_name: Some("Google".to_owned()),
            brand_name: Some("google".to_owned()),
            created_at: example::time("2024-11-20T08:00:00Z"),
            disabled_at: None,
            registration_token_required: false,
        }
    }
}

resource!(
    /// An upstream OAuth 2.0 / OIDC provider (its client secret is never shown).
    UpstreamOAuthProviderResource, SingleUpstreamOAuthProvider, UpstreamOAuthProviderList,
    UpstreamOAuthProviderAttributes, "upstream-oauth-provider", "/upstream-oauth-providers",
    EXAMPLE_ID
);

impl From<UpstreamProvider> for UpstreamOAuthProviderResource {
    fn from(provider: UpstreamProvider) -> Self {
        UpstreamOAuthProviderResource::new(
            provider.id,
            UpstreamOAuthProviderAttributes {
                issuer: provider.issuer,
                human_name: provider.human_name,
                brand_name: provider.brand_name,
                created_at: provider.created_at,
                disabled_at: provider.disabled_at,
                registration_token_required: provider
                    .config
                    .get("registration_token_required")
                    .and_then(serde_json::Value::as_bool)
                    .unwrap_or(false),
            },
        )
    }
}

/// The provider with this ID, or a 404.
pub(crate) async fn provider_by_id(
    reader: &mut Reader,
    id: &str,
) -> Result<UpstreamProvider, AdminError> {
    let id = parse_id("Upstream OAuth provider", id)?;
    reader
        .upstream()
        .find_provider(id)
        .await?
        .ok_or_else(|| AdminError::not_found(format!("Upstream OAuth provider ID {id} not found")))
}

pub(crate) fn apis() -> impl poem_openapi::OpenApi {
    (list::Api, get::Api)
}
