//! `POST /oauth2/token` (RFC 6749 §3.2): the client, authenticated by
//! [`super::client_auth`], trades a grant for tokens. Four grants: `authorization_code`,
//! `refresh_token`, `client_credentials` and the device code (RFC 8628 §3.4). The rules live in
//! [`crate::services::oauth2_sessions`]; this module reads the form, signs the ID token and,
//! for a new session with a device, creates the device in the homeserver before answering.

use chrono::Duration;
use poem::{
    IntoResponse, Request, Response, handler,
    http::header,
    web::{Data, Form, Json},
};
use serde::{Deserialize, Serialize};

use super::{
    OAuthError,
    client_auth::{ClientCredentialsForm, authenticate_client},
    id_token::{IdTokenFacts, sign_id_token},
};
use crate::{
    domain::{
        redact::{Redacted, RedactedOption},
        scopes::{OPENID, Scope, device_from_scopes},
    },
    http::AppState,
    services::oauth2_sessions::{self, CodeExchange, IssuedTokens, RefreshRequest},
};

/// RFC 8628 §3.4's grant type.
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

#[derive(Deserialize)]
pub struct TokenRequest {
    grant_type: String,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    redirect_uri: Option<String>,
    #[serde(default)]
    code_verifier: Option<String>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    device_code: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(flatten)]
    credentials: ClientCredentialsForm,
}

impl std::fmt::Debug for TokenRequest {
    // Codes, verifiers and tokens are credentials: they stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenRequest")
            .field("grant_type", &self.grant_type)
            .field("code", &RedactedOption(&self.code))
            .field("redirect_uri", &self.redirect_uri)
            .field("code_verifier", &RedactedOption(&self.code_verifier))
            .field("refresh_token", &RedactedOption(&self.refresh_token))
            .field("device_code", &RedactedOption(&self.device_code))
            .field("scope", &self.scope)
            .field("credentials", &self.credentials)
            .finish()
    }
}

/// RFC 6749 §5.1.
#[derive(Serialize)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &Redacted)
            .field("expires_in", &self.expires_in)
            .field("refresh_token", &RedactedOption(&self.refresh_token))
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

fn required<'a>(value: &'a Option<String>, name: &str) -> Result<&'a str, OAuthError> {
    value
        .as_deref()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| OAuthError::invalid_request(format!("`{name}` is required")))
}

fn parse_scope(scope: Option<&str>) -> Result<Option<Scope>, OAuthError> {
    scope
        .map(|text| Scope::parse(text).map_err(|_| OAuthError::invalid_scope("malformed `scope`")))
        .transpose()
}

#[handler]
pub async fn token(
    req: &Request,
    Data(state): Data<&AppState>,
    form: poem::Result<Form<TokenRequest>>,
) -> Result<Response, OAuthError> {
    let Form(form) = form.map_err(|_| {
        OAuthError::invalid_request("expected a form body with a `grant_type` parameter")
    })?;
    let client = authenticate_client(state, req.headers(), &form.credentials)
        .await?
        .client;
    let access_ttl = Duration::seconds(
        i64::try_from(state.config.experimental.access_token_ttl).unwrap_or(i64::MAX / 1000),
    );
    let store = &state.store;
    let clock = state.clock.as_ref();
    let mut rng = state.random.rng();
    let (issued, starts_session) = match form.grant_type.as_str() {
        "authorization_code" => {
            let exchange = CodeExchange {
                code: required(&form.code, "code")?,
                redirect_uri: form.redirect_uri.as_deref(),
                code_verifier: form.code_verifier.as_deref(),
            };
            let issued = oauth2_sessions::exchange_code(
                store, clock, &mut rng, &client, exchange, access_ttl,
            )
            .await;
            (issued.inspect_err(|_| state.jobs_wake.notify_one())?, true)
        }
        "refresh_token" => {
            let presented = required(&form.refresh_token, "refresh_token")?;
            let scope = parse_scope(form.scope.as_deref())?;
            let issued = oauth2_sessions::refresh(
                store,
                clock,
                &mut rng,
                &state.refresh_successors,
                &client,
                RefreshRequest {
                    refresh_token: presented,
                    scope: scope.as_ref(),
                },
                access_ttl,
            )
            .await;
            (issued.inspect_err(|_| state.jobs_wake.notify_one())?, false)
        }
        "client_credentials" => {
            let scope = parse_scope(form.scope.as_deref())?.unwrap_or_default();
            let policy = (state.policy.current(store).await)
                .map_err(|e| OAuthError::server_error("policy data", &e))?;
            let issued = oauth2_sessions::client_credentials(
                store,
                clock,
                &mut rng,
                &client,
                scope,
                &policy.admin_clients,
                access_ttl,
            )
            .await?;
            (issued, false)
        }
        DEVICE_CODE_GRANT => {
            let device_code = required(&form.device_code, "device_code")?;
            let issued = oauth2_sessions::exchange_device_code(
                store,
                clock,
                &mut rng,
                &client,
                device_code,
                access_ttl,
            )
            .await?;
            (issued, true)
        }
        other => {
            return Err(OAuthError::unsupported_grant_type(format!(
                "unsupported grant_type `{}`",
                other.chars().take(64).collect::<String>()
            )));
        }
    };
    if starts_session {
        create_device(state, &issued).await?;
    }
    let id_token = id_token_for(state, &client, &issued).await?;
    let body = TokenResponse {
        access_token: issued.access_token,
        token_type: "Bearer",
        expires_in: issued.expires_in.num_seconds(),
        refresh_token: issued.refresh_token,
        scope: issued.session.scope.to_string(),
        id_token,
    };
    Ok(Json(body)
        .with_header(header::CACHE_CONTROL, "no-store")
        .with_header(header::PRAGMA, "no-cache")
        .into_response())
}

/// A session with a device scope: the device must exist in the homeserver before its token is
/// any use there. If the homeserver cannot be reached, the session is ended again and the
/// client told to retry; nothing is left half-made.
async fn create_device(state: &AppState, issued: &IssuedTokens) -> Result<(), OAuthError> {
    let (Some(user), Some(device_id)) = (&issued.user, device_from_scopes(&issued.session.scope))
    else {
        return Ok(());
    };
    let Err(error) = state
        .synapse
        .upsert_device(&user.username, device_id, None)
        .await
    else {
        return Ok(());
    };
    tracing::warn!(%error, user = %user.username, "could not create the device in the homeserver; token request refused");
    oauth2_sessions::finish(&state.store, state.clock.as_ref(), issued.session.id)
        .await
        .map_err(|e| OAuthError::server_error("token: could not end the session", &e))?;
    state.jobs_wake.notify_one();
    Err(OAuthError::temporarily_unavailable(
        "the homeserver is unavailable; try again later",
    ))
}

/// An ID token when the session has the `openid` scope and a user, and the grant was an
/// authorization (OIDC Core §3.1.3.3) or a refresh (§12.2) of one.
async fn id_token_for(
    state: &AppState,
    client: &crate::domain::oauth2_clients::OAuth2Client,
    issued: &IssuedTokens,
) -> Result<Option<String>, OAuthError> {
    let Some(user) = &issued.user else {
        return Ok(None);
    };
    if !issued.session.scope.contains(OPENID) {
        return Ok(None);
    }
    let browser_session = match issued.session.user_session_id {
        Some(id) => {
            let mut reader = state
                .store
                .reader()
                .await
                .map_err(|e| OAuthError::server_error("token: database error", &e))?;
            reader
                .browser_sessions()
                .find(id)
                .await
                .map_err(|e| OAuthError::server_error("token: database error", &e))?
        }
        None => None,
    };
    let facts = IdTokenFacts {
        user,
        client,
        // The nonce is returned only with the authorization it was sent in (OIDC Core §12.2).
        nonce: issued
            .grant
            .as_ref()
            .and_then(|grant| grant.nonce.as_deref()),
        auth_time: browser_session.as_ref().map(|session| session.created_at),
        access_token: Some(&issued.access_token),
        code: None,
        browser_session_id: issued.session.user_session_id,
    };
    sign_id_token(state, &facts).map(Some)
}
