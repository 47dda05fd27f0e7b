//! `GET /login/sso/redirect[/{idp}]?redirectUrl=…`: start a compat SSO login and send the
//! browser to Gatehouse's confirmation page. The `idp` segment is accepted and ignored: every
//! login goes through Gatehouse's own page (which offers the upstream providers).

use poem::{
    Request, handler,
    http::StatusCode,
    web::{Data, Redirect},
};

use std::time::Instant;

use crate::{
    http::{AppState, client_ip::client_ip, matrix_error::MatrixError},
    services::rate_limit::ClientKey,
};

#[handler]
pub async fn redirect(
    req: &Request,
    Data(state): Data<&AppState>,
) -> Result<Redirect, MatrixError> {
    start(req, state).await
}

#[handler]
pub async fn redirect_idp(
    req: &Request,
    Data(state): Data<&AppState>,
) -> Result<Redirect, MatrixError> {
    start(req, state).await
}

/// The longest `redirectUrl` taken: each request stores one, unauthenticated.
const MAX_REDIRECT_URL_LENGTH: usize = 2048;

async fn start(req: &Request, state: &AppState) -> Result<Redirect, MatrixError> {
    // Every request stores a pending login: limit them per client before anything else.
    let client = ClientKey::of(client_ip(req, &state.trusted_proxies));
    state
        .compat_sso_limit
        .check(&client, Instant::now())
        .map_err(|wait| {
            MatrixError::limit_exceeded(wait.as_millis().try_into().unwrap_or(u64::MAX))
        })?;
    let redirect_url = req
        .uri()
        .query()
        .and_then(|query| {
            url::form_urlencoded::parse(query.as_bytes())
                .find(|(key, _)| key == "redirectUrl")
                .map(|(_, value)| value.into_owned())
        })
        .ok_or_else(|| {
            MatrixError::new(
                StatusCode::BAD_REQUEST,
                "M_MISSING_PARAM",
                "Missing redirectUrl.",
            )
        })?;
    let too_long = || {
        MatrixError::new(
            StatusCode::BAD_REQUEST,
            "M_INVALID_PARAM",
            format!("redirectUrl is longer than {MAX_REDIRECT_URL_LENGTH} bytes."),
        )
    };
    if redirect_url.len() > MAX_REDIRECT_URL_LENGTH {
        return Err(too_long());
    }
    let parsed = url::Url::parse(&redirect_url).map_err(|_| {
        MatrixError::new(
            StatusCode::BAD_REQUEST,
            "M_INVALID_PARAM",
            "redirectUrl is not an absolute URL.",
        )
    })?;
    // A javascript: or data: URL would run in our origin's navigation; only real locations.
    if parsed.cannot_be_a_base() {
        return Err(MatrixError::new(
            StatusCode::BAD_REQUEST,
            "M_INVALID_PARAM",
            "redirectUrl is not a usable URL.",
        ));
    }
    // Parsing percent-encodes what needs it, which can lengthen the URL that is stored.
    if parsed.as_str().len() > MAX_REDIRECT_URL_LENGTH {
        return Err(too_long());
    }
    let login = crate::services::compat_sso::start(
        &state.store,
        state.clock.as_ref(),
        &mut state.random.rng(),
        parsed.as_str(),
    )
    .await?;
    Ok(Redirect::see_other(
        state.public_url(&format!("complete-compat-sso/{}", login.id)),
    ))
}
