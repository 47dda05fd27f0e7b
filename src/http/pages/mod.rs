//! The `human` resource: Gatehouse's own server-rendered pages. They work without JavaScript;
//! every form carries a CSRF token tied to a private cookie. Cookies are encrypted with a key
//! derived from `secrets.encryption`.

mod compat_sso;
mod login;

use poem::{
    EndpointExt, IntoResponse, Response, Route, get,
    http::StatusCode,
    middleware::CookieJarManager,
    web::{
        Html,
        cookie::{Cookie, CookieJar, CookieKey, SameSite},
    },
};
use subtle::ConstantTimeEq;

use super::AppState;
use crate::{domain::tokens::random_alphanumeric, store::browser_sessions::BrowserSession};

const SESSION_COOKIE: &str = "gatehouse-session";
const CSRF_COOKIE: &str = "gatehouse-csrf";

pub fn mount(route: Route) -> Route {
    route
        .at("/", get(login::index))
        .at("/login", get(login::show).post(login::submit))
        .at("/logout", poem::post(login::logout))
        .at(
            "/complete-compat-sso/:id",
            get(compat_sso::show).post(compat_sso::confirm),
        )
}

/// The pages need the cookie jar with our key; applied where the routes are assembled.
pub fn with_cookies(
    endpoint: impl poem::Endpoint + 'static,
    encryption_key: &[u8; 32],
) -> poem::endpoint::BoxEndpoint<'static> {
    endpoint
        .with(CookieJarManager::with_key(CookieKey::derive_from(
            encryption_key,
        )))
        .map_to_response()
        .boxed()
}

/// Render a page, or a plain 500 if the template itself fails (logged).
pub(crate) fn page(state: &AppState, name: &str, context: minijinja::Value) -> Response {
    let templates = &state.templates;
    match templates.render(name, context) {
        Ok(html) => Html(html).into_response(),
        Err(error) => {
            tracing::error!(%error, template = name, "template failed to render");
            StatusCode::INTERNAL_SERVER_ERROR
                .with_body("internal error")
                .into_response()
        }
    }
}

pub(crate) fn error_page(
    state: &AppState,
    status: StatusCode,
    title: &str,
    message: &str,
) -> Response {
    let mut response = page(
        state,
        "error.html",
        minijinja::context! { service => service(state), title => title, message => message },
    );
    response.set_status(status);
    response
}

pub(crate) fn service(state: &AppState) -> minijinja::Value {
    let base = state.config.http.public_base.path().to_owned();
    let name = state
        .config
        .branding
        .service_name
        .clone()
        .unwrap_or_else(|| "Gatehouse".to_owned());
    minijinja::context! { name => name, base => base }
}

/// The CSRF token for this browser, made (and stored in a private cookie) on first use.
pub(crate) fn csrf_token(jar: &CookieJar) -> String {
    if let Some(cookie) = jar.private().get(CSRF_COOKIE) {
        return cookie.value_str().to_owned();
    }
    let token = random_alphanumeric(&mut rand::rngs::OsRng, 32);
    jar.private().add(secure_cookie(CSRF_COOKIE, token.clone()));
    token
}

/// Whether a submitted form carries this browser's CSRF token.
pub(crate) fn csrf_ok(jar: &CookieJar, submitted: &str) -> bool {
    jar.private()
        .get(CSRF_COOKIE)
        .is_some_and(|cookie| bool::from(cookie.value_str().as_bytes().ct_eq(submitted.as_bytes())))
}

fn secure_cookie(name: &'static str, value: String) -> Cookie {
    let mut cookie = Cookie::new_with_str(name, value);
    cookie.set_http_only(true);
    cookie.set_same_site(SameSite::Lax);
    cookie.set_path("/");
    cookie
}

/// The signed-in browser session, if any (and still active, for an active user).
pub(crate) async fn current_session(
    state: &AppState,
    jar: &CookieJar,
) -> Option<(BrowserSession, crate::domain::users::User)> {
    let id = jar
        .private()
        .get(SESSION_COOKIE)?
        .value_str()
        .parse::<ulid::Ulid>()
        .ok()?;
    let mut reader = state.store.reader().await.ok()?;
    let session = reader.browser_sessions().find(id).await.ok()??;
    if session.finished_at.is_some() {
        return None;
    }
    let user = reader.users().find_by_id(session.user_id).await.ok()??;
    user.is_active().then_some((session, user))
}

pub(crate) fn set_session_cookie(jar: &CookieJar, session: &BrowserSession) {
    jar.private()
        .add(secure_cookie(SESSION_COOKIE, session.id.to_string()));
}

pub(crate) fn clear_session_cookie(jar: &CookieJar) {
    jar.private().remove(SESSION_COOKIE);
}

/// Only same-site relative paths may be `next` targets (no open redirects).
pub(crate) fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(next) if next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') => {
            next.to_owned()
        }
        _ => "/".to_owned(),
    }
}
