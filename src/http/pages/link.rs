//! `GET|POST /link` and `GET|POST /device/{id}`: the person side of the device authorization
//! grant (RFC 8628 §3.3). The signed-in person types the user code their device shows, sees
//! what the device asks for and where it asked from, and approves or declines.
//!
//! User codes are short, so typing them is rate limited per client address and per user
//! (`rate_limiting.device_code_entry`). The consent step only answers a grant this browser
//! typed the code of, for this user: a private cookie names both, so a forged form cannot
//! approve another grant.

use std::time::{Duration, Instant};

use poem::{
    IntoResponse, Request, Response, handler,
    http::{HeaderValue, StatusCode, header},
    web::{Data, Form, Path, Query, Redirect, cookie::CookieJar},
};
use serde::Deserialize;
use ulid::Ulid;

use super::{
    consent::{Shown, insecure_uris_allowed, shown_uri},
    csrf_ok, csrf_token, current_session, error_page, page, private_cookie, service,
};
use crate::{
    config::RateLimitingConfig,
    domain::{
        oauth2_grants::{DeviceCodeGrant, normalize_user_code},
        users::User,
    },
    http::{AppState, client_ip::client_ip},
    services::{
        oauth2_sessions::{GrantError, answer_device, find_device_by_user_code},
        rate_limit::{ClientKey, RateLimiter},
    },
    templates::{DeviceConsentPage, ErrorPage, LinkPage},
};

/// Names the device grant this browser typed the code of, and for whom.
const DEVICE_COOKIE: &str = "gatehouse-device-link";
/// No user code is longer, however it is spaced; longer input is not looked at.
const MAX_TYPED_CODE: usize = 32;
const UNKNOWN_CODE: &str = "That code is not valid. Check the code on your device and type it again; codes last 20 minutes.";

/// `rate_limiting.device_code_entry`: user codes typed, per client address and per user.
pub struct CodeEntryLimits {
    per_ip: RateLimiter<ClientKey>,
    per_user: RateLimiter<Ulid>,
}

impl CodeEntryLimits {
    pub fn new(config: &RateLimitingConfig) -> Self {
        Self {
            per_ip: RateLimiter::new(&config.device_code_entry.per_ip),
            per_user: RateLimiter::new(&config.device_code_entry.per_user),
        }
    }

    fn check(&self, client: ClientKey, user: Ulid) -> Result<(), Duration> {
        let now = Instant::now();
        self.per_ip.check(&client, now)?;
        self.per_user.check(&user, now)
    }
}

fn disabled(state: &AppState) -> Option<Response> {
    (!state.config.oauth.device_code_grant_enabled).then(|| {
        error_page(
            state,
            StatusCode::NOT_FOUND,
            "Device sign-in is off",
            "This server does not let devices sign in with a code.",
        )
    })
}

fn bad_form(state: &AppState) -> Response {
    error_page(
        state,
        StatusCode::BAD_REQUEST,
        "Bad request",
        "The form was incomplete; go back and try again.",
    )
}

fn csrf_refused(state: &AppState) -> Response {
    error_page(
        state,
        StatusCode::FORBIDDEN,
        "Session expired",
        "Go back, reload the page and try again.",
    )
}

fn internal_error(state: &AppState, error: &dyn std::fmt::Display) -> Response {
    tracing::error!(%error, "device link page failed");
    error_page(
        state,
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "Please try again later.",
    )
}

/// Off to `/login`, coming back to `path` (under the public base) afterwards.
fn sign_in_first(state: &AppState, path: &str) -> Response {
    let base = state.config.http.public_base.path();
    let next = format!("{base}{path}");
    let next: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
    Redirect::see_other(format!("{base}login?next={next}")).into_response()
}

#[derive(Debug, Deserialize)]
pub struct LinkQuery {
    #[serde(default)]
    code: Option<String>,
}

#[handler]
pub async fn show(
    Data(state): Data<&AppState>,
    jar: &CookieJar,
    query: poem::Result<Query<LinkQuery>>,
) -> Response {
    if let Some(off) = disabled(state) {
        return off;
    }
    let Ok(Query(query)) = query else {
        return bad_form(state);
    };
    // Only a well-formed code is put back in the page (and in the sign-in detour).
    let code = query
        .code
        .as_deref()
        .filter(|code| code.len() <= MAX_TYPED_CODE)
        .and_then(normalize_user_code);
    if current_session(state, jar).await.is_none() {
        let path = match &code {
            Some(code) => format!("link?code={code}"),
            None => "link".to_owned(),
        };
        return sign_in_first(state, &path);
    }
    link_form(
        state,
        jar,
        code.as_deref().unwrap_or_default(),
        "",
        StatusCode::OK,
    )
}

fn link_form(
    state: &AppState,
    jar: &CookieJar,
    code: &str,
    error: &str,
    status: StatusCode,
) -> Response {
    let mut response = page(
        state,
        &LinkPage {
            service: service(state),
            csrf: &csrf_token(state, jar),
            code,
            error,
        },
    );
    response.set_status(status);
    response
}

#[derive(Deserialize)]
pub struct LinkForm {
    /// Missing is refused as a wrong token (403), not as an incomplete form.
    #[serde(default)]
    csrf: String,
    code: String,
}

impl std::fmt::Debug for LinkForm {
    // The CSRF token stays out of logs; a user code is only a guess until it matches.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkForm")
            .field("csrf", &crate::domain::redact::Redacted)
            .field("code", &crate::domain::redact::Redacted)
            .finish()
    }
}

#[handler]
pub async fn submit(
    req: &Request,
    Data(state): Data<&AppState>,
    jar: &CookieJar,
    form: poem::Result<Form<LinkForm>>,
) -> Response {
    if let Some(off) = disabled(state) {
        return off;
    }
    let Ok(Form(form)) = form else {
        return bad_form(state);
    };
    if !csrf_ok(jar, &form.csrf) {
        return csrf_refused(state);
    }
    let Some((_, user)) = current_session(state, jar).await else {
        return sign_in_first(state, "link");
    };
    let client = ClientKey::of(client_ip(req, &state.trusted_proxies));
    if let Err(retry_after) = state.device_code_entry_limits.check(client, user.id) {
        return too_many_attempts(state, retry_after);
    }
    let typed = form.code.trim();
    // What was typed goes back in the field only if it could be a code at all.
    let shown = if typed.len() <= MAX_TYPED_CODE && !typed.chars().any(char::is_control) {
        typed
    } else {
        ""
    };
    if typed.len() > MAX_TYPED_CODE {
        return link_form(state, jar, shown, UNKNOWN_CODE, StatusCode::BAD_REQUEST);
    }
    let grant = match find_device_by_user_code(&state.store, state.clock.as_ref(), typed).await {
        Ok(Some(grant)) => grant,
        // Unknown, expired and answered codes get the same answer: nothing to enumerate.
        Ok(None) => return link_form(state, jar, shown, UNKNOWN_CODE, StatusCode::BAD_REQUEST),
        Err(error) => return internal_error(state, &error),
    };
    jar.private().add(private_cookie(
        state,
        DEVICE_COOKIE,
        binding(grant.id, user.id),
    ));
    let base = state.config.http.public_base.path();
    Redirect::see_other(format!("{base}device/{}", grant.id)).into_response()
}

fn too_many_attempts(state: &AppState, retry_after: Duration) -> Response {
    let mut response = error_page(
        state,
        StatusCode::TOO_MANY_REQUESTS,
        "Too many attempts",
        "Too many codes were tried. Wait a minute, then type the code again.",
    );
    let seconds = retry_after.as_secs_f64().ceil().max(1.0).to_string();
    if let Ok(value) = HeaderValue::from_str(&seconds) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// The cookie value that ties a grant to the browser that typed its code, for one user.
fn binding(grant_id: Ulid, user_id: Ulid) -> String {
    format!("{grant_id}.{user_id}")
}

/// Whether this browser typed the code of `grant_id` while signed in as `user`.
fn bound_here(jar: &CookieJar, grant_id: Ulid, user: &User) -> bool {
    jar.private()
        .get(DEVICE_COOKIE)
        .is_some_and(|cookie| cookie.value_str() == binding(grant_id, user.id))
}

fn not_typed_here(state: &AppState) -> Response {
    error_page(
        state,
        StatusCode::FORBIDDEN,
        "Type the code first",
        "To connect a device, type the code it shows on this server's link page.",
    )
}

fn no_longer_waiting(state: &AppState) -> Response {
    error_page(
        state,
        StatusCode::BAD_REQUEST,
        "This request is over",
        "It expired or was already answered. Start again on your device.",
    )
}

#[handler]
pub async fn consent(
    Data(state): Data<&AppState>,
    jar: &CookieJar,
    Path(id): Path<String>,
) -> Response {
    if let Some(off) = disabled(state) {
        return off;
    }
    let Ok(id) = id.parse::<Ulid>() else {
        return not_typed_here(state);
    };
    let Some((_, user)) = current_session(state, jar).await else {
        return sign_in_first(state, &format!("device/{id}"));
    };
    if !bound_here(jar, id, &user) {
        return not_typed_here(state);
    }
    let (grant, client) = match load(state, id).await {
        Ok(Some(found)) => found,
        Ok(None) => return no_longer_waiting(state),
        Err(error) => return internal_error(state, &error),
    };
    let client_name = client
        .client_name
        .clone()
        .unwrap_or_else(|| client.id.to_string());
    let client_uri = shown_uri(
        insecure_uris_allowed(state).await,
        client.client_uri.as_deref(),
    )
    .unwrap_or_default();
    let shown = Shown::of(&grant.scope, &service(state).name);
    let base = state.config.http.public_base.path();
    page(
        state,
        &DeviceConsentPage {
            service: service(state),
            csrf: &csrf_token(state, jar),
            mxid: &state.mxid(&user.username),
            client_name: &client_name,
            client_uri,
            admin: shown.permissions.iter().any(|permission| permission.admin),
            permissions: shown.permissions,
            device_id: shown.device.as_deref().unwrap_or_default(),
            ip_address: grant.ip_address.as_deref().unwrap_or_default(),
            user_agent: grant.user_agent.as_deref().unwrap_or_default(),
            action: &format!("{base}device/{id}"),
        },
    )
}

/// The grant and its client, if the grant still awaits an answer.
async fn load(
    state: &AppState,
    id: Ulid,
) -> Result<
    Option<(DeviceCodeGrant, crate::domain::oauth2_clients::OAuth2Client)>,
    crate::store::StoreError,
> {
    let mut reader = state.store.reader().await?;
    let Some(grant) = reader.oauth2_grants().find_device(id).await? else {
        return Ok(None);
    };
    if !grant.awaits_user(state.clock.now()) {
        return Ok(None);
    }
    let client = reader.oauth2_clients().find(grant.client_id).await?;
    Ok(client.map(|client| (grant, client)))
}

#[derive(Debug, Deserialize)]
pub struct AnswerForm {
    #[serde(default)]
    csrf: String,
    action: String,
}

#[handler]
pub async fn answer(
    Data(state): Data<&AppState>,
    jar: &CookieJar,
    Path(id): Path<String>,
    form: poem::Result<Form<AnswerForm>>,
) -> Response {
    if let Some(off) = disabled(state) {
        return off;
    }
    let Ok(id) = id.parse::<Ulid>() else {
        return not_typed_here(state);
    };
    let Ok(Form(form)) = form else {
        return bad_form(state);
    };
    if !csrf_ok(jar, &form.csrf) {
        return csrf_refused(state);
    }
    let approve = match form.action.as_str() {
        "approve" => true,
        "deny" => false,
        _ => return bad_form(state),
    };
    let Some((session, user)) = current_session(state, jar).await else {
        return error_page(
            state,
            StatusCode::UNAUTHORIZED,
            "Not signed in",
            "Sign in, then type the code from your device again.",
        );
    };
    if !bound_here(jar, id, &user) {
        return not_typed_here(state);
    }
    let answered = answer_device(
        &state.store,
        state.clock.as_ref(),
        id,
        &user,
        Some(session.id),
        approve,
    )
    .await;
    match answered {
        Ok(grant) => {
            jar.private().remove(DEVICE_COOKIE);
            tracing::info!(grant_id = %grant.id, user_id = %user.id, approve, "device authorization answered");
            let (title, message) = if approve {
                (
                    "Device connected",
                    "You can go back to your device; it will finish signing in by itself.",
                )
            } else {
                (
                    "Request declined",
                    "The device was not given access. You can close this page.",
                )
            };
            page(
                state,
                &ErrorPage {
                    service: service(state),
                    title,
                    message,
                },
            )
        }
        Err(GrantError::InvalidGrant(_)) => no_longer_waiting(state),
        Err(GrantError::InvalidScope(_)) => error_page(
            state,
            StatusCode::FORBIDDEN,
            "Not allowed for this account",
            "The device asks for administrator rights this account may not give.",
        ),
        Err(GrantError::AccessDenied) => error_page(
            state,
            StatusCode::FORBIDDEN,
            "Not allowed for this account",
            "This account cannot sign in devices.",
        ),
        Err(error) => internal_error(state, &error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_csrf_and_code() {
        let form: LinkForm = serde_json::from_value(serde_json::json!({
            "csrf": "csrf-token-value",
            "code": "BCDF-GHJK",
        }))
        .expect("form");
        let printed = format!("{form:?}");
        assert!(!printed.contains("csrf-token-value"), "{printed}");
        assert!(!printed.contains("BCDF-GHJK"), "{printed}");
    }

    #[test]
    fn the_binding_names_grant_and_user() {
        let grant = Ulid::from_parts(1, 1);
        let user = Ulid::from_parts(1, 2);
        assert_ne!(binding(grant, user), binding(user, grant));
        assert_ne!(binding(grant, user), binding(grant, grant));
    }
}
