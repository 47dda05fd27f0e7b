//! `POST /oauth2/device`: the device authorization endpoint (RFC 8628 §3.1). A device that
//! cannot show a browser (a TV, a command-line client) gets a device code to poll the token
//! endpoint with and a short user code for its person to type on `/link`. Each request stores
//! a grant, so they are limited per client address (`rate_limiting.device_authorization`).

use std::time::Instant;

use poem::{
    IntoResponse, Request, Response, handler,
    http::{HeaderValue, header},
    web::{Data, Form, Json},
};
use serde::{Deserialize, Serialize};

use super::{
    OAuthError,
    client_auth::{ClientCredentialsForm, authenticate_client},
};
use crate::{
    domain::{redact::Redacted, scopes::Scope},
    http::{AppState, client_ip::client_ip},
    services::{oauth2_sessions::start_device_authorization, rate_limit::ClientKey},
};

/// The longest scope accepted: a Matrix client's is under 200 characters, and an
/// unauthenticated public client must not make us store megabytes.
const MAX_SCOPE_LEN: usize = 4096;
/// The longest user agent kept with a device authorization (it is shown on the consent page).
const MAX_USER_AGENT_CHARS: usize = 512;

#[derive(Debug, Deserialize)]
pub struct DeviceAuthorizationRequest {
    /// RFC 8628 §3.1: optional; a missing scope is the empty one.
    #[serde(default)]
    scope: Option<String>,
    #[serde(flatten)]
    credentials: ClientCredentialsForm,
}

/// RFC 8628 §3.2.
#[derive(Serialize)]
struct DeviceAuthorizationResponse {
    device_code: String,
    user_code: String,
    verification_uri: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    verification_uri_complete: Option<String>,
    expires_in: i64,
    interval: i64,
}

impl std::fmt::Debug for DeviceAuthorizationResponse {
    // The device code is a bearer credential until it is exchanged.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceAuthorizationResponse")
            .field("device_code", &Redacted)
            .field("user_code", &self.user_code)
            .field("expires_in", &self.expires_in)
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

#[handler]
pub async fn device_authorization(
    req: &Request,
    Data(state): Data<&AppState>,
    form: poem::Result<Form<DeviceAuthorizationRequest>>,
) -> Response {
    let client = ClientKey::of(client_ip(req, &state.trusted_proxies));
    if let Err(retry_after) = state
        .device_authorization_limiter
        .check(&client, Instant::now())
    {
        let refused = OAuthError::temporarily_unavailable(
            "too many device authorizations from this address; retry later",
        );
        return no_store(refused.too_many_requests(retry_after));
    }
    let answer = match handle(req, state, form).await {
        Ok(answer) => Json(answer).into_response(),
        Err(error) => error.into_response(),
    };
    // RFC 8628 §3.2 answers like the token endpoint (RFC 6749 §5.1): never cached.
    no_store(answer)
}

async fn handle(
    req: &Request,
    state: &AppState,
    form: poem::Result<Form<DeviceAuthorizationRequest>>,
) -> Result<DeviceAuthorizationResponse, OAuthError> {
    if !state.config.oauth.device_code_grant_enabled {
        return Err(OAuthError::unauthorized_client(
            "the device authorization grant is turned off on this server",
        ));
    }
    let Form(form) = form.map_err(|_| {
        OAuthError::invalid_request("expected a form body with client_id and scope")
    })?;
    let client = authenticate_client(state, req.headers(), &form.credentials).await?;
    let scope = form.scope.as_deref().unwrap_or_default();
    if scope.len() > MAX_SCOPE_LEN {
        return Err(OAuthError::invalid_scope("the scope is too long"));
    }
    let scope = Scope::parse(scope)
        .map_err(|_| OAuthError::invalid_scope("the scope does not follow RFC 6749 §3.3"))?;
    let ip = client_ip(req, &state.trusted_proxies).map(|ip| ip.to_string());
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
        .map(|agent| agent.chars().take(MAX_USER_AGENT_CHARS).collect());
    let (grant, device_code) = start_device_authorization(
        &state.store,
        state.clock.as_ref(),
        &mut state.random.rng(),
        &client.client,
        scope,
        ip,
        user_agent,
    )
    .await?;
    tracing::info!(
        client_id = %client.client.id,
        grant_id = %grant.id,
        "device authorization started"
    );
    let verification_uri = state.public_url("link");
    // RFC 8628 §5.4: a link with the code in it lets a phisher send a person straight to the
    // approval of the phisher's device, so it is published only when the operator opts in.
    let verification_uri_complete = state
        .config
        .oauth
        .device_code_user_code_auto_fill_enabled
        .then(|| {
            let mut uri = url::Url::parse(&verification_uri).ok()?;
            uri.query_pairs_mut().append_pair("code", &grant.user_code);
            Some(uri.to_string())
        })
        .flatten();
    Ok(DeviceAuthorizationResponse {
        device_code,
        user_code: grant.user_code,
        verification_uri,
        verification_uri_complete,
        expires_in: (grant.expires_at - grant.created_at).num_seconds(),
        interval: grant.interval.num_seconds(),
    })
}

fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_the_device_code() {
        let answer = DeviceAuthorizationResponse {
            device_code: "secret-device-code".to_owned(),
            user_code: "BCDF-GHJK".to_owned(),
            verification_uri: "https://auth.example.com/link".to_owned(),
            verification_uri_complete: None,
            expires_in: 1200,
            interval: 5,
        };
        let printed = format!("{answer:?}");
        assert!(!printed.contains("secret-device-code"), "{printed}");
        assert!(printed.contains("BCDF-GHJK"), "{printed}");
    }
}
