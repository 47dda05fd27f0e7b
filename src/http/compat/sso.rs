//! `GET /login/sso/redirect[/{idp}]?redirectUrl=…`: start a compat SSO login and send the
//! browser to Gatehouse's confirmation page. The `idp` segment is accepted and ignored: every
//! login goes through Gatehouse's own page (which offers the upstream providers).

use poem::{
    Request, handler,
    http::StatusCode,
    web::{Data, Redirect},
};

use crate::http::{AppState, matrix_error::MatrixError};

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

async fn start(req: &Request, state: &AppState) -> Result<Redirect, MatrixError> {
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
