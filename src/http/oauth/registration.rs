//! `POST /oauth2/registration`: dynamic client registration (RFC 7591). Anyone may register;
//! `policy.data.client_registration` decides what is accepted (see
//! [`crate::domain::client_registration`]) and `rate_limiting.client_registration` how often one
//! address may try.

use std::time::Instant;

use poem::{
    Body, IntoResponse, Request, Response, handler,
    http::{StatusCode, header},
    web::{Data, Json},
};
use serde_json::{Map, Value, json};

use super::OAuthError;
use crate::{
    domain::{
        client_registration::{self, RegistrationError},
        oauth2_clients::{GrantType, OAuth2Client, TokenEndpointAuthMethod},
    },
    http::{AppState, client_ip::client_ip},
    services::{
        client_registration::{Registered, register},
        rate_limit::ClientKey,
    },
};

#[handler]
pub async fn registration(req: &Request, body: Body, Data(state): Data<&AppState>) -> Response {
    match handle(req, body, state).await {
        Ok(registered) => {
            let mut response = Json(describe(&registered))
                .with_status(StatusCode::CREATED)
                .into_response();
            let headers = response.headers_mut();
            // The answer may carry a client secret (RFC 6749 §5.1 asks the same of tokens).
            headers.insert(
                header::CACHE_CONTROL,
                header::HeaderValue::from_static("no-store"),
            );
            headers.insert(header::PRAGMA, header::HeaderValue::from_static("no-cache"));
            response
        }
        Err(Refusal::Error(error)) => error.into_response(),
        Err(Refusal::RateLimited(retry_after)) => OAuthError::temporarily_unavailable(
            "too many client registrations from this address; retry later",
        )
        .too_many_requests(retry_after),
    }
}

enum Refusal {
    Error(OAuthError),
    RateLimited(std::time::Duration),
}

impl From<OAuthError> for Refusal {
    fn from(error: OAuthError) -> Self {
        Self::Error(error)
    }
}

async fn handle(req: &Request, body: Body, state: &AppState) -> Result<Registered, Refusal> {
    let client = ClientKey::of(client_ip(req, &state.trusted_proxies));
    state
        .client_registration_limiter
        .check(&client, Instant::now())
        .map_err(Refusal::RateLimited)?;

    let bytes = body
        .into_bytes()
        .await
        .map_err(|_| OAuthError::invalid_request("the request body could not be read"))?;
    let request: Map<String, Value> = match serde_json::from_slice(&bytes) {
        Ok(Value::Object(request)) => request,
        Ok(_) => {
            return Err(OAuthError::invalid_client_metadata(
                "the registration must be a JSON object",
            )
            .into());
        }
        Err(_) => {
            return Err(
                OAuthError::invalid_client_metadata("the registration is not valid JSON").into(),
            );
        }
    };
    // The newest policy data set through the admin API is in force at once.
    let policy_data = (state.policy.current(&state.store).await)
        .map_err(|e| OAuthError::server_error("policy data", &e))?;
    let policy_registration_rules = &policy_data.client_registration;
    let algorithms = state.keystore.algorithms();
    let valid = client_registration::validate(&request, policy_registration_rules, &algorithms)
        .map_err(|error| match error {
            RegistrationError::InvalidRedirectUri(why) => OAuthError::invalid_redirect_uri(why),
            RegistrationError::InvalidClientMetadata(why) => {
                OAuthError::invalid_client_metadata(why)
            }
        })?;
    let registered = register(
        &state.store,
        state.clock.as_ref(),
        &mut state.random.rng(),
        &state.encrypter,
        valid,
    )
    .await
    .map_err(|e| OAuthError::server_error("client registration", &e))?;
    if !registered.reused {
        tracing::info!(
            client_id = %registered.client.id,
            method = ?registered.client.token_endpoint_auth_method,
            "registered OAuth 2.0 client"
        );
    }
    Ok(registered)
}

/// RFC 7591 §3.2.1: the client id, its secret when it has one, and what was registered.
fn describe(registered: &Registered) -> Value {
    let client: &OAuth2Client = &registered.client;
    let metadata = &client.metadata;
    let method = client
        .token_endpoint_auth_method
        .unwrap_or(TokenEndpointAuthMethod::ClientSecretBasic);
    let mut answer = json!({
        "client_id": client.id.to_string(),
        "client_id_issued_at": client.created_at.timestamp(),
        "redirect_uris": client.redirect_uris.iter().map(|uri| uri.as_str()).collect::<Vec<_>>(),
        "token_endpoint_auth_method": method.as_str(),
        "grant_types": client.grant_types.iter().map(GrantType::as_str).collect::<Vec<_>>(),
        "response_types": metadata.response_types,
        "application_type": metadata.application_type.as_str(),
    });
    let Some(fields) = answer.as_object_mut() else {
        return answer;
    };
    if let Some(secret) = &registered.client_secret {
        fields.insert("client_secret".into(), json!(secret));
        // RFC 7591 §3.2.1: 0 means the secret does not expire.
        fields.insert("client_secret_expires_at".into(), json!(0));
    }
    let optional = [
        ("client_name", client.client_name.as_ref()),
        ("client_uri", client.client_uri.as_ref()),
        ("logo_uri", metadata.logo_uri.as_ref()),
        ("tos_uri", metadata.tos_uri.as_ref()),
        ("policy_uri", metadata.policy_uri.as_ref()),
        (
            "id_token_signed_response_alg",
            metadata.id_token_signed_response_alg.as_ref(),
        ),
        (
            "userinfo_signed_response_alg",
            metadata.userinfo_signed_response_alg.as_ref(),
        ),
        (
            "token_endpoint_auth_signing_alg",
            metadata.token_endpoint_auth_signing_alg.as_ref(),
        ),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            fields.insert(name.into(), json!(value));
        }
    }
    if !metadata.contacts.is_empty() {
        fields.insert("contacts".into(), json!(metadata.contacts));
    }
    for (name, value) in &metadata.localized {
        fields.insert(name.clone(), json!(value));
    }
    if let Some(jwks) = client
        .jwks
        .as_deref()
        .and_then(|text| serde_json::from_str::<Value>(text).ok())
    {
        fields.insert("jwks".into(), jwks);
    }
    answer
}
