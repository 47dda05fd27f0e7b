//! `POST /oauth2/revoke` (RFC 7009). Revoking an access or a refresh token ends its whole
//! session at once (matrix-rust-sdk's logout is this one call, MSC4254), and the device it had
//! is then removed from the homeserver. An unknown token, or another client's, changes nothing
//! and is answered 200 all the same (RFC 7009 §2.2), so the endpoint tells nothing about tokens.

use poem::{
    Request, handler,
    http::StatusCode,
    web::{Data, Form},
};
use serde::Deserialize;

use super::{
    OAuthError,
    client_auth::{ClientCredentialsForm, authenticate_client},
};
use crate::{domain::redact::Redacted, http::AppState, services::oauth2_sessions};

#[derive(Deserialize)]
pub struct RevocationRequest {
    token: String,
    #[serde(default)]
    #[allow(dead_code)]
    // RFC 7009 §2.1: a hint the server may ignore; the prefix says the type.
    token_type_hint: Option<String>,
    #[serde(flatten)]
    credentials: ClientCredentialsForm,
}

impl std::fmt::Debug for RevocationRequest {
    // The token stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RevocationRequest")
            .field("token", &Redacted)
            .field("token_type_hint", &self.token_type_hint)
            .field("credentials", &self.credentials)
            .finish()
    }
}

#[handler]
pub async fn revoke(
    req: &Request,
    Data(state): Data<&AppState>,
    form: poem::Result<Form<RevocationRequest>>,
) -> Result<StatusCode, OAuthError> {
    let Form(form) =
        form.map_err(|_| OAuthError::invalid_request("expected a form with a `token` parameter"))?;
    let client = authenticate_client(state, req.headers(), &form.credentials)
        .await?
        .client;
    let ended = oauth2_sessions::revoke(&state.store, state.clock.as_ref(), client.id, &form.token)
        .await
        .map_err(|e| OAuthError::server_error("revocation: database error", &e))?;
    if ended.is_some() {
        // The device sync that removes the session's device from the homeserver.
        state.jobs_wake.notify_one();
    }
    Ok(StatusCode::OK)
}
