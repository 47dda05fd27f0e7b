//! The `oauth` resource: OAuth 2.0 / OIDC endpoints under `/oauth2/`.

pub mod authorization_response;
pub mod authorize;
pub mod client_auth;
mod device;
pub mod error;
mod grant_errors;
pub mod id_token;
pub mod introspect;
pub mod jwks_cache;
mod keys;
pub mod registration;
mod revoke;
pub mod token;
mod userinfo;

use poem::{Route, get, post};

pub use authorization_response::{AuthorizationResponse, RedirectUriError, ResponseMode};
pub use client_auth::{AuthenticatedClient, ClientCredentialsForm, authenticate_client};
pub use error::{OAuthError, OAuthErrorCode};
pub use jwks_cache::JwksCache;

pub fn mount(route: Route) -> Route {
    route
        .at("/oauth2/keys.json", get(keys::jwks))
        .at("/oauth2/introspect", post(introspect::introspect))
        .at("/oauth2/registration", post(registration::registration))
        .at("/oauth2/token", post(token::token))
        .at("/oauth2/revoke", post(revoke::revoke))
        .at(
            "/oauth2/userinfo",
            get(userinfo::userinfo).post(userinfo::userinfo),
        )
        .at("/oauth2/device", post(device::device_authorization))
}
