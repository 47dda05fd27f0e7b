//! The `compat` resource: the Matrix client-server legacy auth endpoints that Synapse no longer
//! serves in MAS mode (`/_matrix/client/{r0,v3,…}/login`, `/logout`, `/logout/all`, `/refresh`,
//! `/login/sso/redirect`). A reverse proxy routes these paths to Gatehouse.

mod login;
mod logout;
mod refresh;
mod sso;

use poem::{Request, Route, get, post};

use super::matrix_error::MatrixError;

pub fn mount(route: Route) -> Route {
    route
        .at(
            "/_matrix/client/:version/login",
            get(login::flows).post(login::login),
        )
        .at("/_matrix/client/:version/logout", post(logout::logout))
        .at(
            "/_matrix/client/:version/logout/all",
            post(logout::logout_all),
        )
        .at("/_matrix/client/:version/refresh", post(refresh::refresh))
        .at(
            "/_matrix/client/:version/login/sso/redirect",
            get(sso::redirect),
        )
        .at(
            "/_matrix/client/:version/login/sso/redirect/",
            get(sso::redirect),
        )
        .at(
            "/_matrix/client/:version/login/sso/redirect/:idp",
            get(sso::redirect_idp),
        )
}

/// The access token of a Matrix request: `Authorization: Bearer …` or `?access_token=`.
pub(crate) fn bearer_token(req: &Request) -> Result<String, MatrixError> {
    if let Some(value) = req.headers().get(poem::http::header::AUTHORIZATION) {
        let value = value.to_str().map_err(|_| MatrixError::missing_token())?;
        return match value.split_once(' ') {
            Some((scheme, token))
                if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
            {
                Ok(token.trim().to_owned())
            }
            _ => Err(MatrixError::missing_token()),
        };
    }
    req.uri()
        .query()
        .and_then(|query| {
            url::form_urlencoded::parse(query.as_bytes())
                .find(|(key, _)| key == "access_token")
                .map(|(_, value)| value.into_owned())
        })
        .filter(|token| !token.is_empty())
        .ok_or_else(MatrixError::missing_token)
}

/// Parse a JSON body: not JSON at all is `M_NOT_JSON`, JSON of the wrong shape `M_BAD_JSON`.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, MatrixError> {
    let value: serde_json::Value = if body.is_empty() {
        serde_json::Value::Object(serde_json::Map::new())
    } else {
        serde_json::from_slice(body).map_err(|_| MatrixError::not_json())?
    };
    if !value.is_object() {
        return Err(MatrixError::bad_json(
            "The request body must be a JSON object.",
        ));
    }
    serde_json::from_value(value).map_err(|e| MatrixError::bad_json(e.to_string()))
}
