//! `GET /oauth2-clients`: list OAuth 2.0 clients.

use poem::web::Data;
use poem_openapi::{Enum, OpenApi, param::Query, payload::Json};

use super::{OAuth2ClientList, OAuth2ClientResource};
use crate::{
    http::{
        AppState,
        admin::{
            AdminTag,
            auth::AdminAuth,
            error::{BAD_REQUEST, OpError},
            pagination::{CountMode, Linker, PageParams},
        },
    },
    store::oauth2_clients::{GrantTypeFilter, OAuth2ClientFilter},
};

/// `filter[client-kind]` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum ClientKind {
    /// From the configuration.
    Static,
    /// Registered dynamically.
    Dynamic,
}

impl ClientKind {
    /// The value as it is written in a query string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Static => "static",
            Self::Dynamic => "dynamic",
        }
    }
}

/// `filter[grant-type]` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum GrantType {
    #[oai(rename = "authorization_code")]
    AuthorizationCode,
    #[oai(rename = "refresh_token")]
    RefreshToken,
    #[oai(rename = "client_credentials")]
    ClientCredentials,
    #[oai(rename = "urn:ietf:params:oauth:grant-type:device_code")]
    DeviceCode,
}

impl GrantType {
    fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::ClientCredentials => "client_credentials",
            GrantType::DeviceCode => "urn:ietf:params:oauth:grant-type:device_code",
        }
    }
}

pub struct Api;

#[OpenApi(tag = "AdminTag::OAuth2Client")]
impl Api {
    /// List OAuth 2.0 clients
    #[oai(
        path = "/oauth2-clients",
        method = "get",
        operation_id = "listOAuth2Clients"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        /// Page size, from the start of the range.
        #[oai(
            name = "page[first]",
            validator(minimum(value = "1"), maximum(value = "1000"))
        )]
        first: Query<Option<u32>>,
        /// Page size, from the end of the range.
        #[oai(
            name = "page[last]",
            validator(minimum(value = "1"), maximum(value = "1000"))
        )]
        last: Query<Option<u32>>,
        /// Only items before this cursor.
        #[oai(
            name = "page[before]",
            validator(pattern = "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$")
        )]
        before: Query<Option<String>>,
        /// Only items after this cursor.
        #[oai(
            name = "page[after]",
            validator(pattern = "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$")
        )]
        after: Query<Option<String>>,
        /// Include the total count (`true`, the default), leave it out (`false`), or answer it alone (`only`).
        count: Query<Option<CountMode>>,
        /// Only static (configured) or dynamic (registered) clients.
        #[oai(name = "filter[client-kind]")]
        client_kind: Query<Option<ClientKind>>,
        /// Only clients whose name contains this text.
        #[oai(name = "filter[client-name]", validator(min_length = 1))]
        client_name: Query<Option<String>>,
        /// Only clients with this exact client URI.
        #[oai(name = "filter[client-uri]", validator(min_length = 1))]
        client_uri: Query<Option<String>>,
        /// Only clients allowed this grant type.
        #[oai(name = "filter[grant-type]")]
        grant_type: Query<Option<GrantType>>,
        /// Only clients with (`true`) or without (`false`) at least one active OAuth 2.0
        /// session.
        #[oai(name = "filter[has-active-sessions]")]
        has_active_sessions: Query<Option<bool>>,
    ) -> Result<Json<OAuth2ClientList>, OpError<{ BAD_REQUEST }>> {
        let params = PageParams {
            first: first.0,
            last: last.0,
            before: before.0,
            after: after.0,
            count: count.0,
        };
        let pagination = params.pagination()?;
        let filter = OAuth2ClientFilter {
            is_static: client_kind.0.map(|kind| kind == ClientKind::Static),
            client_name: client_name.0.clone(),
            client_uri: client_uri.0.clone(),
            grant_type: grant_type.0.map(|grant| match grant {
                GrantType::AuthorizationCode => GrantTypeFilter::AuthorizationCode,
                GrantType::RefreshToken => GrantTypeFilter::RefreshToken,
                GrantType::ClientCredentials => GrantTypeFilter::ClientCredentials,
                GrantType::DeviceCode => GrantTypeFilter::DeviceCode,
            }),
            has_active_sessions: has_active_sessions.0,
        };
        let linker = Linker::new("/oauth2-clients")
            .filter("filter[client-kind]", client_kind.0.map(ClientKind::as_str))
            .filter("filter[client-name]", client_name.0)
            .filter("filter[client-uri]", client_uri.0)
            .filter("filter[grant-type]", grant_type.0.map(GrantType::as_str))
            .filter("filter[has-active-sessions]", has_active_sessions.0);
        let (page, count) = params
            .read(
                &state.store,
                async |reader| reader.oauth2_clients().list(&filter, &pagination).await,
                async |reader| reader.oauth2_clients().count(&filter).await,
            )
            .await?;
        let page = page.map(|page| page.map(OAuth2ClientResource::from));
        Ok(OAuth2ClientList::new(&linker, &params, page, count))
    }
}
