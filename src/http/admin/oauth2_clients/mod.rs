//! `/oauth2-clients`: the OAuth 2.0 clients Gatehouse knows (read-only; static clients come
//! from the configuration).

mod get;
mod list;

pub(crate) use list::ClientKind;

use chrono::{DateTime, Utc};
use poem_openapi::Object;

use ulid::Ulid;
use url::Url;

use super::{error::AdminError, example, pagination::resource, users::parse_id};
use crate::{domain::oauth2_clients::OAuth2Client, store::Reader};

#[derive(Debug, Clone, Object)]
pub struct OAuth2ClientAttributes {
    /// The `client_id` clients authenticate with (the same as the resource ID).
    pub client_id: String,
    /// Whether it comes from the `clients` section of the configuration.
    pub is_static: bool,
    pub client_name: Option<String>,
    pub client_uri: Option<String>,
    /// The logo it registered (`logo_uri`, RFC 7591 §2).
    pub logo_uri: Option<String>,
    pub redirect_uris: Vec<String>,
    /// The grant types it may use.
    pub grant_types: Vec<String>,
    /// How it authenticates at the token endpoint (`none`, `client_secret_basic`…).
    pub token_endpoint_auth_method: Option<String>,
    /// Whether it has a client secret (never shown).
    pub has_client_secret: bool,
    pub created_at: DateTime<Utc>,
}

/// A public client registered by Element.
pub(crate) const EXAMPLE_ID: Ulid = example::id("01JDHFSFAR2R00K6AGV0VFCXEC");

impl poem_openapi::types::Example for OAuth2ClientAttributes {
    fn example() -> Self {
        Self {
            client_id: EXAMPLE_ID.to_string(),
            is_static: false,
            client_name: Some("Element".to_owned()),
            client_uri: Some("https://element.io/".to_owned()),
            logo_uri: Some("https://element.io/mobile-icon.png".to_owned()),
            redirect_uris: vec!["https://app.element.io/".to_owned()],
            grant_types: vec!["authorization_code".to_owned(), "refresh_token".to_owned()],
            token_endpoint_auth_method: Some("none".to_owned()),
            has_client_secret: false,
            created_at: example::time("2024-11-25T11:02:31Z"),
        }
    }
}

resource!(
    /// An OAuth 2.0 client.
    OAuth2ClientResource, SingleOAuth2Client, OAuth2ClientList, OAuth2ClientAttributes,
    "oauth2-client", "/oauth2-clients", EXAMPLE_ID
);

impl From<OAuth2Client> for OAuth2ClientResource {
    fn from(client: OAuth2Client) -> Self {
        let grant_types = client
            .grant_types
            .iter()
            .map(|grant| grant.as_str().to_owned())
            .collect();
        OAuth2ClientResource::new(
            client.id,
            OAuth2ClientAttributes {
                client_id: client.id.to_string(),
                is_static: client.is_static,
                client_name: client.client_name,
                client_uri: client.client_uri,
                logo_uri: client.metadata.logo_uri,
                redirect_uris: client.redirect_uris.iter().map(Url::to_string).collect(),
                grant_types,
                token_endpoint_auth_method: client
                    .token_endpoint_auth_method
                    .map(|method| method.as_str().to_owned()),
                has_client_secret: client.encrypted_client_secret.is_some(),
                created_at: client.created_at,
            },
        )
    }
}

async fn client_by_id(reader: &mut Reader, id: &str) -> Result<OAuth2Client, AdminError> {
    let id = parse_id("OAuth 2.0 client", id)?;
    reader
        .oauth2_clients()
        .find(id)
        .await?
        .ok_or_else(|| AdminError::not_found(format!("OAuth 2.0 client ID {id} not found")))
}

pub(crate) fn apis() -> impl poem_openapi::OpenApi {
    (list::Api, get::Api)
}
