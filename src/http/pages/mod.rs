//! The `human` resource: Gatehouse's own server-rendered pages. They work without JavaScript;
//! every form carries a CSRF token tied to a private cookie. Cookies are encrypted with a key
//! derived from `secrets.encryption`.

mod compat_sso;
pub(crate) mod consent;
mod link;
mod login;

pub use link::CodeEntryLimits;

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
use crate::{
    domain::{browser_sessions::BrowserSession, tokens::random_alphanumeric},
    services::browser_sessions,
    templates::{ErrorPage, Page, Service},
};

const SESSION_COOKIE: &str = "gatehouse-session";
const CSRF_COOKIE: &str = "gatehouse-csrf";

pub fn mount(route: Route) -> Route {
    route
        .at("/", get(login::index))
        .at("/login", get(login::show).post(login::submit))
        .at("/logout", poem::post(login::logout))
        .at(
            "/authorize",
            get(super::oauth::authorize::get).post(super::oauth::authorize::post),
        )
        .at("/consent/:id", get(consent::show).post(consent::answer))
        .at(
            "/complete-compat-sso/:id",
            get(compat_sso::show).post(compat_sso::confirm),
        )
        .at("/link", get(link::show).post(link::submit))
        .at("/device/:id", get(link::consent).post(link::answer))
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
pub(crate) fn page<P: Page>(state: &AppState, page: &P) -> Response {
    let templates = &state.templates;
    match templates.render(page) {
        // Pages carry CSRF tokens, codes and account details: never stored by a cache.
        Ok(html) => Html(html)
            .with_header(poem::http::header::CACHE_CONTROL, "no-store")
            .into_response(),
        Err(error) => {
            tracing::error!(%error, template = P::TEMPLATE, "template failed to render");
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
        &ErrorPage {
            service: service(state),
            title,
            message,
        },
    );
    response.set_status(status);
    response
}

pub(crate) fn service(state: &AppState) -> Service {
    let base = state.config.http.public_base.path().to_owned();
    let name = state
        .config
        .branding
        .service_name
        .clone()
        .unwrap_or_else(|| "Gatehouse".to_owned());
    Service { name, base }
}

/// The CSRF token for this browser, made (and stored in a private cookie) on first use.
pub(crate) fn csrf_token(state: &AppState, jar: &CookieJar) -> String {
    if let Some(cookie) = jar.private().get(CSRF_COOKIE) {
        return cookie.value_str().to_owned();
    }
    let token = random_alphanumeric(&mut state.random.rng(), 32);
    jar.private()
        .add(private_cookie(state, CSRF_COOKIE, token.clone()));
    token
}

/// Whether a submitted form carries this browser's CSRF token.
pub(crate) fn csrf_ok(jar: &CookieJar, submitted: &str) -> bool {
    jar.private()
        .get(CSRF_COOKIE)
        .is_some_and(|cookie| bool::from(cookie.value_str().as_bytes().ct_eq(submitted.as_bytes())))
}

/// A cookie only our pages read: HTTP-only, same-site lax, and `Secure` whenever Gatehouse is
/// served over https (`http.public_base`), so it never travels in clear.
fn private_cookie(state: &AppState, name: &'static str, value: String) -> Cookie {
    let mut cookie = Cookie::new_with_str(name, value);
    cookie.set_http_only(true);
    cookie.set_same_site(SameSite::Lax);
    cookie.set_path("/");
    cookie.set_secure(state.config.http.public_base.scheme() == "https");
    cookie
}

/// The signed-in browser session, if the cookie names one that is still open for an active
/// user (recording its use).
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

    match browser_sessions::open_session(
        &state.store,
        state.clock.as_ref(),
        &state.config.experimental.browser_session_limits(),
        id,
        None,
    )
    .await
    {
        Ok(found) => found,
        Err(error) => {
            tracing::error!(%error, "could not read the browser session");
            None
        }
    }
}

pub(crate) fn set_session_cookie(state: &AppState, jar: &CookieJar, session: &BrowserSession) {
    jar.private().add(private_cookie(
        state,
        SESSION_COOKIE,
        session.id.to_string(),
    ));
}

pub(crate) fn clear_session_cookie(jar: &CookieJar) {
    jar.private().remove(SESSION_COOKIE);
}

/// Where to send the browser after a page: `next` if it is a URL on Gatehouse's own origin
/// (`http.public_base`), else Gatehouse's start page. `next` is resolved against the public
/// base as a browser would, after refusing control characters and backslashes anywhere in it,
/// which browsers drop or read as `/` (`/\t/evil.example` would become `//evil.example`).
pub(crate) fn safe_next(state: &AppState, next: Option<&str>) -> String {
    let base = &state.config.http.public_base;
    let home = base.to_string();
    let Some(next) = next else {
        return home;
    };
    if next.chars().any(|c| c.is_control() || c == '\\') {
        return home;
    }
    match base.join(next) {
        Ok(target) if target.origin() == base.origin() => target.to_string(),
        _ => home,
    }
}
