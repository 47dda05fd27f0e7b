//! `GET|POST /consent/{grant_id}`: after `/authorize`, the browser signs in (again, when
//! `prompt` or `max_age` ask for it) and the person allows the client what it asked for, or
//! not. Consent given before for as much skips the page unless `prompt=consent`. Only the
//! browser that made the request may answer it: `/authorize` keeps the grant's id in a private
//! cookie, so a consent link sent to someone else leads nowhere.

use chrono::{DateTime, Utc};
use poem::{
    IntoResponse, Response, handler,
    http::StatusCode,
    web::{Data, Form, Path, Redirect, cookie::CookieJar},
};
use serde::Deserialize;
use ulid::Ulid;

use super::{csrf_ok, csrf_token, current_session, error_page, page, private_cookie, service};
use crate::{
    domain::{
        browser_sessions::BrowserSession,
        oauth2_clients::OAuth2Client,
        oauth2_grants::AuthorizationGrant,
        scopes::{
            DEVICE_PREFIX, DEVICE_PREFIX_UNSTABLE, MAS_ADMIN, MATRIX_API, MATRIX_API_UNSTABLE,
            SYNAPSE_ADMIN, Scope,
        },
        users::User,
    },
    http::{
        AppState,
        oauth::{
            OAuthError,
            authorize::response_for,
            id_token::{IdTokenFacts, sign_id_token},
        },
    },
    services::oauth2_sessions::{self, GrantError},
    store::StoreError,
    templates::{ConsentPage, ConsentPermission},
};

/// The private cookie listing the authorization requests this browser made and has not
/// answered yet.
const GRANTS_COOKIE: &str = "gatehouse-authorizations";
/// How many unanswered requests a browser keeps: a few sign-ins at once in several tabs.
const REMEMBERED_GRANTS: usize = 8;

fn started_grants(jar: &CookieJar) -> Vec<Ulid> {
    jar.private()
        .get(GRANTS_COOKIE)
        .map(|cookie| {
            cookie
                .value_str()
                .split(' ')
                .filter_map(|id| id.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

fn store_grants(state: &AppState, jar: &CookieJar, ids: &[Ulid]) {
    if ids.is_empty() {
        jar.private().remove(GRANTS_COOKIE);
        return;
    }
    let value = ids
        .iter()
        .map(Ulid::to_string)
        .collect::<Vec<_>>()
        .join(" ");
    jar.private()
        .add(private_cookie(state, GRANTS_COOKIE, value));
}

/// Bind the grant to this browser: only it may answer it.
pub(crate) fn remember_grant(state: &AppState, jar: &CookieJar, id: Ulid) {
    let mut ids = started_grants(jar);
    ids.retain(|known| *known != id);
    ids.push(id);
    let excess = ids.len().saturating_sub(REMEMBERED_GRANTS);
    ids.drain(..excess);
    store_grants(state, jar, &ids);
}

fn forget_grant(state: &AppState, jar: &CookieJar, id: Ulid) {
    let mut ids = started_grants(jar);
    ids.retain(|known| *known != id);
    store_grants(state, jar, &ids);
}

fn consent_path(state: &AppState, id: Ulid) -> String {
    format!("{}consent/{id}", state.config.http.public_base.path())
}

/// What happens next with a pending grant, for this browser.
enum Step {
    /// To the sign-in page; `again` when a session is open but too old for the request.
    SignIn { again: bool },
    /// The person must see the consent page.
    Ask,
    /// Consent was given before for as much: approve without asking.
    Approve,
    /// `prompt=none` and the person would have to act.
    Refuse(OAuthError),
}

async fn next_step(
    state: &AppState,
    grant: &AuthorizationGrant,
    signed_in: Option<&(BrowserSession, User)>,
) -> Result<Step, StoreError> {
    let silent = grant.has_prompt("none");
    let Some((session, user)) = signed_in else {
        return Ok(if silent {
            Step::Refuse(OAuthError::login_required("nobody is signed in"))
        } else {
            Step::SignIn { again: false }
        });
    };
    if !grant.accepts_sign_in(session.created_at, state.clock.now()) {
        return Ok(if silent {
            Step::Refuse(OAuthError::login_required(
                "the sign-in is older than max_age allows",
            ))
        } else {
            Step::SignIn { again: true }
        });
    }
    // `select_account`: there is one account per browser; the page shows which, with a way
    // to switch.
    let ask = grant.has_prompt("consent")
        || grant.has_prompt("select_account")
        || oauth2_sessions::consent_needed(&state.store, user, grant).await?;
    Ok(match (ask, silent) {
        (false, _) => Step::Approve,
        (true, true) => Step::Refuse(OAuthError::consent_required(
            "the user has not consented to this scope",
        )),
        (true, false) => Step::Ask,
    })
}

/// Where `/authorize` sends the browser once the grant is recorded: sign-in, the consent page,
/// or straight back to the client when nothing needs asking.
pub(crate) async fn continue_from_authorize(
    state: &AppState,
    jar: &CookieJar,
    grant: &AuthorizationGrant,
) -> Response {
    proceed(state, jar, grant, false).await
}

/// The next step for `grant`; the consent page is rendered when `render`, else redirected to.
async fn proceed(
    state: &AppState,
    jar: &CookieJar,
    grant: &AuthorizationGrant,
    render: bool,
) -> Response {
    let signed_in = current_session(state, jar).await;
    let step = match next_step(state, grant, signed_in.as_ref()).await {
        Ok(step) => step,
        Err(error) => return store_failed(state, &error),
    };
    match (step, signed_in) {
        (Step::SignIn { again }, _) => sign_in(state, grant, again),
        (Step::Approve, Some((session, user))) => approve(state, jar, grant, &user, &session).await,
        (Step::Ask, Some((session, user))) if render => {
            consent_page(state, jar, grant, &session, &user).await
        }
        (Step::Ask, _) => Redirect::see_other(consent_path(state, grant.id)).into_response(),
        (Step::Refuse(error), _) => refuse(state, jar, grant, &error).await,
        // `Approve` always comes with a session.
        (Step::Approve, None) => sign_in(state, grant, false),
    }
}

/// To the sign-in page, coming back here after; the username filled in from an MSC4198
/// `login_hint` (`mxid:@user:server`) naming an account of this server.
fn sign_in(state: &AppState, grant: &AuthorizationGrant, again: bool) -> Response {
    let mut login = format!(
        "{}login?next={}",
        state.config.http.public_base.path(),
        urlencode(&consent_path(state, grant.id))
    );
    if again {
        login.push_str("&prompt=login");
    }
    if let Some(username) = hinted_username(state, grant.login_hint.as_deref()) {
        login.push_str("&username=");
        login.push_str(&urlencode(username));
    }
    Redirect::see_other(login).into_response()
}

fn hinted_username<'a>(state: &AppState, hint: Option<&'a str>) -> Option<&'a str> {
    let (localpart, server) = hint?.strip_prefix("mxid:@")?.split_once(':')?;
    (!localpart.is_empty() && server == state.config.matrix.homeserver).then_some(localpart)
}

async fn approve(
    state: &AppState,
    jar: &CookieJar,
    grant: &AuthorizationGrant,
    user: &User,
    session: &BrowserSession,
) -> Response {
    let approved = oauth2_sessions::fulfil_authorization(
        &state.store,
        state.clock.as_ref(),
        &mut state.random.rng(),
        grant.id,
        user,
        Some(session.id),
    )
    .await;
    let (grant, code) = match approved {
        Ok(approved) => approved,
        Err(GrantError::InvalidGrant(_)) => return answered(state),
        Err(GrantError::Store(error)) => return store_failed(state, &error),
        // The request cannot be granted to this user (admin scopes, a locked account).
        Err(error) => return refuse(state, jar, grant, &OAuthError::from(error)).await,
    };
    forget_grant(state, jar, grant.id);
    tracing::info!(grant.id = %grant.id, user.id = %user.id, "authorization approved");
    let Some(response) = response_for(state, &grant) else {
        return broken_grant(state);
    };
    if !grant.response_type_id_token {
        return response.param("code", code).into_response();
    }
    match hybrid_id_token(state, &grant, user, session, &code).await {
        Ok(id_token) => response
            .param("code", code)
            .param("id_token", id_token)
            .into_response(),
        // The code was made but is never handed out: the client hears why.
        Err(error) => response.error(&error).into_response(),
    }
}

/// OIDC Core §3.3.2.11: the hybrid flow's ID token, bound to the code by `c_hash`.
async fn hybrid_id_token(
    state: &AppState,
    grant: &AuthorizationGrant,
    user: &User,
    session: &BrowserSession,
    code: &str,
) -> Result<String, OAuthError> {
    let client = match client_of(state, grant).await {
        Ok(Some(client)) => client,
        Ok(None) => return Err(OAuthError::invalid_client("the client is gone")),
        Err(error) => {
            return Err(OAuthError::server_error(
                "authorization: database error",
                &error,
            ));
        }
    };
    sign_id_token(
        state,
        &IdTokenFacts {
            user,
            client: &client,
            nonce: grant.nonce.as_deref(),
            auth_time: Some(session.created_at),
            access_token: None,
            code: Some(code),
            browser_session_id: Some(session.id),
        },
    )
}

/// Cancel the grant and tell the client why.
async fn refuse(
    state: &AppState,
    jar: &CookieJar,
    grant: &AuthorizationGrant,
    error: &OAuthError,
) -> Response {
    let grant =
        match oauth2_sessions::decline_authorization(&state.store, state.clock.as_ref(), grant.id)
            .await
        {
            Ok(grant) => grant,
            Err(GrantError::Store(error)) => return store_failed(state, &error),
            Err(_) => return answered(state),
        };
    forget_grant(state, jar, grant.id);
    match response_for(state, &grant) {
        Some(response) => response.error(error).into_response(),
        None => broken_grant(state),
    }
}

async fn consent_page(
    state: &AppState,
    jar: &CookieJar,
    grant: &AuthorizationGrant,
    session: &BrowserSession,
    user: &User,
) -> Response {
    let client = match client_of(state, grant).await {
        Ok(Some(client)) => client,
        Ok(None) => return not_found(state),
        Err(error) => return store_failed(state, &error),
    };
    let redirect = url::Url::parse(&grant.redirect_uri).ok();
    let redirect_host = redirect
        .as_ref()
        .map(|url| {
            url.host_str()
                .map_or_else(|| format!("{}:", url.scheme()), str::to_owned)
        })
        .unwrap_or_default();
    let client_name = client
        .client_name
        .clone()
        .unwrap_or_else(|| format!("The application at {redirect_host}"));
    let shown = Shown::of(&grant.scope, &service(state).name);
    let path = consent_path(state, grant.id);
    let switch_account = format!(
        "{}login?prompt=login&next={}",
        state.config.http.public_base.path(),
        urlencode(&path)
    );
    let insecure_ok = insecure_uris_allowed(state).await;
    page(
        state,
        &ConsentPage {
            service: service(state),
            csrf: &csrf_token(state, jar),
            action: &path,
            session: &session.id.to_string(),
            mxid: &state.mxid(&user.username),
            client_name: &client_name,
            client_uri: shown_uri(insecure_ok, client.client_uri.as_deref()),
            logo_uri: shown_uri(insecure_ok, client.metadata.logo_uri.as_deref()),
            redirect_host: &redirect_host,
            admin: shown.permissions.iter().any(|p| p.admin),
            permissions: shown.permissions,
            device_id: shown.device.as_deref(),
            switch_account: &switch_account,
        },
    )
}

async fn client_of(
    state: &AppState,
    grant: &AuthorizationGrant,
) -> Result<Option<OAuth2Client>, StoreError> {
    state
        .store
        .reader()
        .await?
        .oauth2_clients()
        .find(grant.client_id)
        .await
}

/// Whether the policy in force lets clients use plain-http URIs (`policy.data.client_registration
/// .allow_insecure_uris`); if the policy cannot be read, no.
pub(crate) async fn insecure_uris_allowed(state: &AppState) -> bool {
    match state.policy.current(&state.store).await {
        Ok(policy) => policy.client_registration.allow_insecure_uris,
        Err(error) => {
            tracing::error!(%error, "could not read the policy data; plain-http client links hidden");
            false
        }
    }
}

/// A URL the page may link or load: https, or http where the registration policy allows
/// insecure URIs (`insecure_ok`); never a scheme that runs code (`javascript:`).
pub(crate) fn shown_uri(insecure_ok: bool, uri: Option<&str>) -> Option<&str> {
    let url = url::Url::parse(uri?).ok()?;
    let allowed = match url.scheme() {
        "https" => true,
        "http" => insecure_ok,
        _ => false,
    };
    allowed.then_some(uri).flatten()
}

/// A scope in words, for the consent pages (this one and the device grant's).
pub(crate) struct Shown {
    pub(crate) permissions: Vec<ConsentPermission>,
    pub(crate) device: Option<String>,
}

impl Shown {
    pub(crate) fn of(scope: &Scope, service_name: &str) -> Self {
        let mut shown = Shown {
            permissions: Vec::new(),
            device: None,
        };
        for token in scope.iter() {
            let (text, admin) = match token {
                MATRIX_API | MATRIX_API_UNSTABLE => (
                    "Use your Matrix account: read and send messages, join rooms and change your \
                     settings"
                        .to_owned(),
                    false,
                ),
                SYNAPSE_ADMIN => (
                    "Administer the homeserver: every account and every room (Synapse admin API)"
                        .to_owned(),
                    true,
                ),
                MAS_ADMIN => (
                    format!(
                        "Administer the accounts of {service_name}: create, lock and remove them"
                    ),
                    true,
                ),
                "openid" => ("Know your Matrix ID".to_owned(), false),
                "email" => ("See your email addresses".to_owned(), false),
                "urn:mas:graphql:*" => (format!("Manage your {service_name} account"), false),
                other => {
                    if let Some(device) = other
                        .strip_prefix(DEVICE_PREFIX)
                        .or_else(|| other.strip_prefix(DEVICE_PREFIX_UNSTABLE))
                    {
                        shown.device = Some(device.to_owned());
                        continue;
                    }
                    (format!("Use the permission \u{201c}{other}\u{201d}"), false)
                }
            };
            if !shown.permissions.iter().any(|p| p.text == text) {
                shown.permissions.push(ConsentPermission { text, admin });
            }
        }
        shown
    }
}

/// The pending grant `id` if this browser made it and may still answer it; else the page that
/// says why not.
async fn pending_grant(
    state: &AppState,
    jar: &CookieJar,
    id: &str,
) -> Result<AuthorizationGrant, Response> {
    let Ok(id) = id.parse::<Ulid>() else {
        return Err(not_found(state));
    };
    let found = async { state.store.reader().await?.oauth2_grants().find(id).await };
    let grant = match found.await {
        Ok(Some(grant)) => grant,
        Ok(None) => return Err(not_found(state)),
        Err(error) => return Err(store_failed(state, &error)),
    };
    // A replayed answer is told so; the state of a request says nothing secret.
    if grant.fulfilled_at.is_some() || grant.cancelled_at.is_some() || grant.exchanged_at.is_some()
    {
        return Err(answered(state));
    }
    if !started_grants(jar).contains(&grant.id) {
        return Err(error_page(
            state,
            StatusCode::FORBIDDEN,
            "This sign-in was started elsewhere",
            "Only the browser that started a sign-in can continue it. If you did not start \
             it, close this page. Otherwise go back to the application and start again here.",
        ));
    }
    let now: DateTime<Utc> = state.clock.now();
    if !grant.awaits_user(now) {
        return Err(error_page(
            state,
            StatusCode::BAD_REQUEST,
            "This sign-in request expired",
            "It waited too long. Go back to the application and sign in again.",
        ));
    }
    Ok(grant)
}

#[handler]
pub async fn show(
    Data(state): Data<&AppState>,
    jar: &CookieJar,
    Path(id): Path<String>,
) -> Response {
    match pending_grant(state, jar, &id).await {
        Ok(grant) => proceed(state, jar, &grant, true).await,
        Err(response) => response,
    }
}

#[derive(Debug, Deserialize)]
pub struct ConsentForm {
    /// Missing reads as empty, and is refused like a wrong one.
    #[serde(default)]
    csrf: String,
    /// The browser session the page was shown to.
    session: String,
    /// `approve` or `deny`.
    action: String,
}

#[handler]
pub async fn answer(
    Data(state): Data<&AppState>,
    jar: &CookieJar,
    Path(id): Path<String>,
    form: poem::Result<Form<ConsentForm>>,
) -> Response {
    let Ok(Form(form)) = form else {
        return error_page(
            state,
            StatusCode::BAD_REQUEST,
            "Bad request",
            "The form was incomplete; go back and try again.",
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
    let grant = match pending_grant(state, jar, &id).await {
        Ok(grant) => grant,
        Err(response) => return response,
    };
    let Some((session, user)) = current_session(state, jar).await else {
        return sign_in(state, &grant, false);
    };
    if form.session != session.id.to_string() {
        // Signed in as someone else since the page was shown: show it again, for them.
        return Redirect::see_other(consent_path(state, grant.id)).into_response();
    }
    if !grant.accepts_sign_in(session.created_at, state.clock.now()) {
        return sign_in(state, &grant, true);
    }
    match form.action.as_str() {
        "approve" => approve(state, jar, &grant, &user, &session).await,
        "deny" => {
            tracing::info!(grant.id = %grant.id, user.id = %user.id, "authorization declined");
            refuse(
                state,
                jar,
                &grant,
                &OAuthError::access_denied("the user declined the request"),
            )
            .await
        }
        _ => error_page(
            state,
            StatusCode::BAD_REQUEST,
            "Bad request",
            "Choose to allow or to cancel.",
        ),
    }
}

fn not_found(state: &AppState) -> Response {
    error_page(
        state,
        StatusCode::NOT_FOUND,
        "This sign-in request is not known",
        "Go back to the application and sign in again.",
    )
}

fn answered(state: &AppState) -> Response {
    error_page(
        state,
        StatusCode::BAD_REQUEST,
        "This sign-in request was already answered",
        "Go back to the application; start again there if it did not sign you in.",
    )
}

fn broken_grant(state: &AppState) -> Response {
    tracing::error!("a stored authorization grant has an unusable redirect URI");
    error_page(
        state,
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "Please try again later.",
    )
}

fn store_failed(state: &AppState, error: &StoreError) -> Response {
    tracing::error!(%error, "authorization: database error");
    error_page(
        state,
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "Please try again later.",
    )
}

fn urlencode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_in_words_call_out_admin_rights() {
        let scope = Scope::parse(
            "openid urn:matrix:client:api:* urn:matrix:org.matrix.msc2967.client:api:* \
             urn:matrix:org.matrix.msc2967.client:device:ABCDEFGHIJ urn:synapse:admin:* odd",
        )
        .expect("scope");
        let shown = Shown::of(&scope, "Gatehouse");
        assert_eq!(shown.device.as_deref(), Some("ABCDEFGHIJ"));
        let texts: Vec<&str> = shown.permissions.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(texts.len(), 4, "the two API forms read as one: {texts:?}");
        assert!(texts.iter().any(|t| t.contains("\u{201c}odd\u{201d}")));
        let admin: Vec<&str> = shown
            .permissions
            .iter()
            .filter(|p| p.admin)
            .map(|p| p.text.as_str())
            .collect();
        assert_eq!(admin.len(), 1);
        assert!(admin[0].contains("Synapse admin"));
        let mas = Shown::of(&Scope::parse("urn:mas:admin").expect("scope"), "Gatehouse");
        assert!(mas.permissions[0].admin && mas.device.is_none());
    }
}
