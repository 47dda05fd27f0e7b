//! The `oauth` resource: OAuth 2.0 / OIDC endpoints under `/oauth2/`.

pub mod authorization_response;
pub mod error;
mod grant_errors;
pub mod introspect;
mod keys;

use poem::{Route, get, post};

pub use authorization_response::{AuthorizationResponse, RedirectUriError, ResponseMode};
pub use error::{OAuthError, OAuthErrorCode};

pub fn mount(route: Route) -> Route {
    route
        .at("/oauth2/keys.json", get(keys::jwks))
        .at("/oauth2/introspect", post(introspect::introspect))
}
