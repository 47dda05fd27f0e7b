//! The `oauth` resource: OAuth 2.0 / OIDC endpoints under `/oauth2/`.

mod error;
pub mod introspect;
mod keys;

use poem::{Route, get, post};

pub use error::OAuthError;

pub fn mount(route: Route) -> Route {
    route
        .at("/oauth2/keys.json", get(keys::jwks))
        .at("/oauth2/introspect", post(introspect::introspect))
}
