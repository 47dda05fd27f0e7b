//! `GET|POST /complete-compat-sso/{id}`: the signed-in person confirms that the legacy client
//! that started an SSO login may sign in; the browser then goes back to the client with a
//! single-use `loginToken`.

use poem::{
    IntoResponse, Response, handler,
    http::StatusCode,
    web::{Data, Form, Path, Redirect, cookie::CookieJar},
};
use serde::Deserialize;

use super::{csrf_ok, csrf_token, current_session, error_page, page, service};
use crate::{http::AppState, templates::CompatSsoPage};

fn not_found(state: &AppState) -> Response {
    error_page(
        state,
        StatusCode::NOT_FOUND,
        "This sign-in link is not valid",
        "It may have expired or been used already. Start the sign-in again from your app.",
    )
}

#[handler]
pub async fn show(
    Data(state): Data<&AppState>,
    jar: &CookieJar,
    Path(id): Path<String>,
) -> Response {
    let Ok(id) = id.parse::<ulid::Ulid>() else {
        return not_found(state);
    };
    let Some((_, user)) = current_session(state, jar).await else {
        let next = format!(
            "{}complete-compat-sso/{id}",
            state.config.http.public_base.path()
        );
        let login = format!(
            "{}login?next={}",
            state.config.http.public_base.path(),
            urlencode(&next)
        );
        return Redirect::see_other(login).into_response();
    };
    let login = match state.store.reader().await {
        Ok(mut reader) => reader.compat_sso().find(id).await.ok().flatten(),
        Err(_) => None,
    };
    let Some(login) = login.filter(|l| l.fulfilled_at.is_none()) else {
        return not_found(state);
    };
    let client_host = url::Url::parse(&login.redirect_uri)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| login.redirect_uri.clone());
    page(
        state,
        &CompatSsoPage {
            service: service(state),
            csrf: &csrf_token(state, jar),
            mxid: &state.mxid(&user.username),
            client_host: &client_host,
            action: &format!(
                "{}complete-compat-sso/{id}",
                state.config.http.public_base.path()
            ),
        },
    )
}

#[derive(Debug, Deserialize)]
pub struct ConfirmForm {
    csrf: String,
}

#[handler]
pub async fn confirm(
    Data(state): Data<&AppState>,
    jar: &CookieJar,
    Path(id): Path<String>,
    form: poem::Result<Form<ConfirmForm>>,
) -> Response {
    let Ok(id) = id.parse::<ulid::Ulid>() else {
        return not_found(state);
    };
    let Ok(Form(form)) = form else {
        return error_page(
            state,
            StatusCode::BAD_REQUEST,
            "Bad request",
            "The form was incomplete.",
        );
    };
    if !csrf_ok(jar, &form.csrf) {
        return error_page(
            state,
            StatusCode::FORBIDDEN,
            "Session expired",
            "Go back, reload the page and try again.",
        );
    }
    let Some((session, _)) = current_session(state, jar).await else {
        return error_page(
            state,
            StatusCode::UNAUTHORIZED,
            "Not signed in",
            "Sign in and start again from your app.",
        );
    };
    match crate::services::compat_sso::fulfil(
        &state.store,
        state.clock.as_ref(),
        &mut state.random.rng(),
        id,
        session.id,
    )
    .await
    {
        Ok(Some((login, token))) => {
            let mut target = match url::Url::parse(&login.redirect_uri) {
                Ok(url) => url,
                Err(_) => return not_found(state),
            };
            target.query_pairs_mut().append_pair("loginToken", &token);
            Redirect::see_other(target.to_string())
                // It carries the login token.
                .with_header(poem::http::header::CACHE_CONTROL, "no-store")
                .into_response()
        }
        Ok(None) => not_found(state),
        Err(error) => {
            tracing::error!(%error, "could not complete the compat SSO login");
            error_page(
                state,
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "Please try again later.",
            )
        }
    }
}

fn urlencode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}
