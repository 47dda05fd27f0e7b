//! `GET|POST /login`, `POST /logout`, `GET /`: signing in to Gatehouse in the browser.

use std::time::Instant;

use poem::{
    IntoResponse, Request, Response, handler,
    http::StatusCode,
    web::{Data, Form, Query, Redirect, cookie::CookieJar},
};
use serde::Deserialize;

use super::{
    clear_session_cookie, csrf_ok, csrf_token, current_session, error_page, page, safe_next,
    service, set_session_cookie,
};
use crate::{
    accounts::{self, AccountError},
    domain::{ids::new_id, users::localpart_from_identifier},
    http::{AppState, client_ip::client_ip},
    store::browser_sessions::BrowserSession,
};

#[handler]
pub async fn index(Data(state): Data<&AppState>, jar: &CookieJar) -> Response {
    let mxid = current_session(state, jar)
        .await
        .map(|(_, user)| state.mxid(&user.username));
    page(
        state,
        "index.html",
        minijinja::context! { service => service(state), mxid => mxid.unwrap_or_default(), csrf => csrf_token(jar) },
    )
}

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

#[handler]
pub async fn show(
    Data(state): Data<&AppState>,
    jar: &CookieJar,
    Query(query): Query<LoginQuery>,
) -> Response {
    let next = safe_next(query.next.as_deref());
    if current_session(state, jar).await.is_some() {
        return Redirect::see_other(next).into_response();
    }
    login_form(state, jar, &next, "", "", StatusCode::OK)
}

fn login_form(
    state: &AppState,
    jar: &CookieJar,
    next: &str,
    username: &str,
    error: &str,
    status: StatusCode,
) -> Response {
    let mut response = page(
        state,
        "login.html",
        minijinja::context! {
            service => service(state),
            csrf => csrf_token(jar),
            next => next,
            username => username,
            error => error,
        },
    );
    response.set_status(status);
    response
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    csrf: String,
    username: String,
    password: String,
    #[serde(default)]
    next: Option<String>,
}

#[handler]
pub async fn submit(
    req: &Request,
    Data(state): Data<&AppState>,
    jar: &CookieJar,
    form: poem::Result<Form<LoginForm>>,
) -> Response {
    let Ok(Form(form)) = form else {
        return error_page(
            state,
            StatusCode::BAD_REQUEST,
            "Bad request",
            "The form was incomplete; go back and try again.",
        );
    };
    let next = safe_next(form.next.as_deref());
    if !csrf_ok(jar, &form.csrf) {
        return login_form(
            state,
            jar,
            &next,
            &form.username,
            "Your session expired; please try again.",
            StatusCode::FORBIDDEN,
        );
    }
    if !state.config.passwords.enabled {
        return error_page(
            state,
            StatusCode::FORBIDDEN,
            "Password sign-in is off",
            "This server does not accept passwords.",
        );
    }
    let localpart = localpart_from_identifier(form.username.trim()).to_lowercase();
    let ip = client_ip(req, &state.trusted_proxies);
    let now = Instant::now();
    let limited = ip.is_some_and(|ip| state.limits.login_per_ip.check(&ip, now).is_err())
        || state
            .limits
            .login_per_account
            .check(&localpart, now)
            .is_err();
    if limited {
        return login_form(
            state,
            jar,
            &next,
            &form.username,
            "Too many attempts; wait a minute and try again.",
            StatusCode::TOO_MANY_REQUESTS,
        );
    }
    const WRONG: &str = "Wrong username or password.";
    let user = match state.store.reader().await {
        Ok(mut reader) => reader
            .users()
            .find_by_username(&localpart)
            .await
            .ok()
            .flatten(),
        Err(_) => None,
    };
    let Some(user) = user else {
        state.passwords.burn_one_verification().await;
        return login_form(
            state,
            jar,
            &next,
            &form.username,
            WRONG,
            StatusCode::UNAUTHORIZED,
        );
    };
    match accounts::verify_password(
        &state.store,
        state.clock.as_ref(),
        &state.passwords,
        &user,
        &form.password,
    )
    .await
    {
        Ok(()) => {}
        Err(AccountError::WrongPassword) => {
            return login_form(
                state,
                jar,
                &next,
                &form.username,
                WRONG,
                StatusCode::UNAUTHORIZED,
            );
        }
        Err(error) => {
            tracing::error!(%error, "password check failed");
            return error_page(
                state,
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "Please try again later.",
            );
        }
    }
    if !user.is_active() || user.is_guest {
        return login_form(
            state,
            jar,
            &next,
            &form.username,
            "This account cannot sign in.",
            StatusCode::FORBIDDEN,
        );
    }
    let session = BrowserSession {
        id: new_id(state.clock.as_ref()),
        user_id: user.id,
        created_at: state.clock.now(),
        finished_at: None,
        user_agent: req
            .headers()
            .get(poem::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(512).collect()),
        last_active_at: Some(state.clock.now()),
        last_active_ip: ip.map(|ip| ip.to_string()),
    };
    let saved = async {
        let mut repo = state.store.repo().await?;
        repo.browser_sessions().add(&session).await?;
        repo.save().await
    }
    .await;
    if let Err(error) = saved {
        tracing::error!(%error, "could not store the browser session");
        return error_page(
            state,
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "Please try again later.",
        );
    }
    set_session_cookie(jar, &session);
    Redirect::see_other(next).into_response()
}

#[derive(Debug, Deserialize)]
pub struct LogoutForm {
    csrf: String,
}

#[handler]
pub async fn logout(
    Data(state): Data<&AppState>,
    jar: &CookieJar,
    form: poem::Result<Form<LogoutForm>>,
) -> Response {
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
    if let Some((session, _)) = current_session(state, jar).await {
        let finished = async {
            let mut repo = state.store.repo().await?;
            repo.browser_sessions()
                .finish(session.id, state.clock.now())
                .await?;
            repo.save().await
        }
        .await;
        if let Err(error) = finished {
            tracing::error!(%error, "could not end the browser session");
        }
    }
    clear_session_cookie(jar);
    Redirect::see_other(state.config.http.public_base.path().to_owned()).into_response()
}
