//! `GET|POST /login`, `POST /logout`, `GET /`: signing in to Gatehouse in the browser.

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
    http::{AppState, client_ip::client_ip},
    services::{browser_sessions, sign_in::LoginError},
    templates::{IndexPage, LoginPage},
};

#[handler]
pub async fn index(Data(state): Data<&AppState>, jar: &CookieJar) -> Response {
    let mxid = current_session(state, jar)
        .await
        .map(|(_, user)| state.mxid(&user.username));
    page(
        state,
        &IndexPage {
            service: service(state),
            mxid: mxid.as_deref().unwrap_or_default(),
            csrf: &csrf_token(state, jar),
        },
    )
}

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
    /// `login`: show the form even to a signed-in browser (an OAuth 2.0 client asked for a
    /// fresh sign-in); signing in replaces the open session.
    prompt: Option<String>,
    /// Filled in for the person (from an OAuth 2.0 `login_hint`).
    username: Option<String>,
}

/// Longer than any username; a longer prefill is dropped.
const MAX_PREFILL: usize = 255;

#[handler]
pub async fn show(
    Data(state): Data<&AppState>,
    jar: &CookieJar,
    query: poem::Result<Query<LoginQuery>>,
) -> Response {
    let Ok(Query(query)) = query else {
        return error_page(
            state,
            StatusCode::BAD_REQUEST,
            "Bad request",
            "The address of this page is malformed.",
        );
    };
    let next = safe_next(state, query.next.as_deref());
    let again = query.prompt.as_deref() == Some("login");
    if !again && current_session(state, jar).await.is_some() {
        return Redirect::see_other(next).into_response();
    }
    let username = query
        .username
        .as_deref()
        .filter(|name| name.len() <= MAX_PREFILL)
        .unwrap_or_default();
    login_form(state, jar, &next, username, "", StatusCode::OK)
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
        &LoginPage {
            service: service(state),
            csrf: &csrf_token(state, jar),
            next,
            username,
            error,
        },
    );
    response.set_status(status);
    response
}

#[derive(Deserialize)]
pub struct LoginForm {
    csrf: String,
    username: String,
    password: String,
    #[serde(default)]
    next: Option<String>,
}

impl std::fmt::Debug for LoginForm {
    // Secrets stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginForm")
            .field("csrf", &crate::domain::redact::Redacted)
            .field("username", &self.username)
            .field("password", &crate::domain::redact::Redacted)
            .field("next", &self.next)
            .finish()
    }
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
    let next = safe_next(state, form.next.as_deref());
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
    let ip = client_ip(req, &state.trusted_proxies);
    let user = match state
        .sign_in
        .authenticate_password(&form.username, &form.password, ip)
        .await
    {
        Ok(user) => user,
        Err(error) => {
            let (message, status) = match error {
                LoginError::PasswordsDisabled => {
                    return error_page(
                        state,
                        StatusCode::FORBIDDEN,
                        "Password sign-in is off",
                        "This server does not accept passwords.",
                    );
                }
                LoginError::RateLimited { .. } => (
                    "Too many attempts; wait a minute and try again.",
                    StatusCode::TOO_MANY_REQUESTS,
                ),
                LoginError::WrongCredentials => {
                    ("Wrong username or password.", StatusCode::UNAUTHORIZED)
                }
                LoginError::Deactivated | LoginError::Locked | LoginError::Guest => {
                    ("This account cannot sign in.", StatusCode::FORBIDDEN)
                }
                LoginError::Store(_) | LoginError::Hashing(_) => {
                    tracing::error!(%error, "password sign-in failed");
                    return error_page(
                        state,
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "Something went wrong",
                        "Please try again later.",
                    );
                }
            };
            return login_form(state, jar, &next, &form.username, message, status);
        }
    };
    let user_agent = req
        .headers()
        .get(poem::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| ua.chars().take(512).collect());
    let started = browser_sessions::start(
        &state.store,
        state.clock.as_ref(),
        &user,
        user_agent,
        ip.map(|ip| ip.to_string()),
    )
    .await;
    match started {
        Ok(session) => {
            set_session_cookie(state, jar, &session);
            Redirect::see_other(next).into_response()
        }
        Err(error) => {
            tracing::error!(%error, "could not store the browser session");
            error_page(
                state,
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "Please try again later.",
            )
        }
    }
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
    if let Some((session, _)) = current_session(state, jar).await
        && let Err(error) =
            browser_sessions::finish(&state.store, state.clock.as_ref(), session.id).await
    {
        tracing::error!(%error, "could not end the browser session");
    }
    clear_session_cookie(jar);
    Redirect::see_other(state.config.http.public_base.to_string()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_password_and_csrf() {
        let form: LoginForm = serde_json::from_value(serde_json::json!({
            "csrf": "csrf-token-value",
            "username": "alice",
            "password": "hunter2-password",
        }))
        .expect("form");
        let debug = format!("{form:?}");
        assert!(!debug.contains("hunter2-password"), "{debug}");
        assert!(!debug.contains("csrf-token-value"), "{debug}");
        assert!(debug.contains("alice"), "{debug}");
    }
}
