//! `POST /oauth2/introspect` (RFC 7662). Synapse calls it for every client request it has not
//! cached, authenticating with `Authorization: Bearer <matrix.secret>`; confidential OAuth
//! clients may call it authenticated by any method of [`super::client_auth`]. Unknown,
//! malformed, expired and revoked tokens, and tokens of locked or deactivated users, are all
//! `{"active": false}` with status 200.

use poem::{
    Request, Response, handler,
    http::header,
    web::{Data, Form},
};
use serde::Deserialize;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use super::{
    OAuthError,
    client_auth::{ClientCredentialsForm, authenticate_client},
};
use crate::{
    domain::{
        oauth2_clients::TokenEndpointAuthMethod,
        scopes::{DEVICE_PREFIX, device_fits_in_scope, with_matrix_twins},
    },
    http::AppState,
    services::access::ActiveToken,
};

#[derive(Deserialize)]
pub struct IntrospectionRequest {
    token: String,
    #[serde(default)]
    #[allow(dead_code)] // RFC 7662 §2.1: a hint the server may ignore; every type is tried.
    token_type_hint: Option<String>,
    // The client credentials are listed rather than a flattened `ClientCredentialsForm`:
    // serde buffers every field of a struct with a flattened one, and Synapse, the caller on
    // almost every request, sends none. With `security_headers`' static values, this took
    // 0.3 µs of allocator time off each request of bench/introspection.sh (perf).
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    client_secret: Option<String>,
    #[serde(default)]
    client_assertion_type: Option<String>,
    #[serde(default)]
    client_assertion: Option<String>,
}

impl IntrospectionRequest {
    fn credentials(&self) -> ClientCredentialsForm {
        ClientCredentialsForm {
            client_id: self.client_id.clone(),
            client_secret: self.client_secret.clone(),
            client_assertion_type: self.client_assertion_type.clone(),
            client_assertion: self.client_assertion.clone(),
        }
    }
}

impl std::fmt::Debug for IntrospectionRequest {
    // Secrets stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntrospectionRequest")
            .field("token", &crate::domain::redact::Redacted)
            .field("token_type_hint", &self.token_type_hint)
            .field("credentials", &self.credentials())
            .finish()
    }
}

#[handler]
pub async fn introspect(
    req: &Request,
    Data(state): Data<&AppState>,
    form: poem::Result<Form<IntrospectionRequest>>,
) -> Result<Response, OAuthError> {
    let form =
        form.map_err(|_| OAuthError::invalid_request("expected a form with a `token` parameter"))?;
    authenticate_caller(req, state, &form).await?;

    let now = state.clock.now();
    let active = state
        .token_cache
        .resolve(&state.store, &form.token, now)
        .await
        .map_err(|e| OAuthError::server_error("introspection: lookup failed", &e))?;
    let supports_device_id = req
        .headers()
        .get("x-mas-supports-device-id")
        .is_some_and(|v| v.as_bytes() == b"1");
    let body = match active {
        Some(active) => {
            // Synapse's address is not the client's: only the time is recorded.
            if active.use_worth_noting(now) {
                state.activity.token_used(&active.token, now, None);
            }
            // Everything but the expiry is the same on every request for this answer.
            let fixed = active.rendering(usize::from(supports_device_id), |token| {
                describe(state, token, supports_device_id).to_string()
            });
            with_expiry(fixed, active.token.expires_at, now)
        }
        None => r#"{"active":false}"#.to_owned(),
    };
    Ok(Response::builder()
        .content_type("application/json")
        .body(body))
}

/// The introspection answer for an active token, but for its expiry: the fields Synapse reads
/// (`active`, `scope`, `username`, `sub`, `device_id`) and the usual RFC 7662 ones.
fn describe(state: &AppState, active: &ActiveToken, supports_device_id: bool) -> Value {
    let mut scope = active.scope.clone();
    let mut device_field = None;
    if let Some(device_id) = &active.device_id {
        let in_scopes = crate::domain::scopes::device_from_scopes(&scope).is_some();
        if supports_device_id {
            device_field = Some(device_id.clone());
        } else if !in_scopes && device_fits_in_scope(device_id) {
            scope.insert(&format!("{DEVICE_PREFIX}{device_id}"));
        }
    }
    let mut body = json!({
        "active": true,
        "scope": with_matrix_twins(&scope).to_string(),
        "client_id": active.client_id,
        "token_type": "access_token",
        "iat": active.issued_at.timestamp(),
        "nbf": active.issued_at.timestamp(),
        "iss": state.config.http.issuer().as_str(),
    });
    // MAS sends `jti` for OAuth 2.0 tokens only.
    if active.token_type == crate::domain::tokens::TokenType::AccessToken {
        body["jti"] = json!(active.token_id.to_string());
    }
    // A client's own token (client credentials) has no user: no `sub`, no `username`.
    if let Some(user) = &active.user {
        body["username"] = json!(user.username);
        body["sub"] = json!(user.id.to_string());
    }
    if let Some(device_id) = device_field {
        body["device_id"] = json!(device_id);
    }
    body
}

/// `described` (a JSON object) with `exp` and `expires_in` added when the token expires.
fn with_expiry(
    described: &str,
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
    now: chrono::DateTime<chrono::Utc>,
) -> String {
    let Some(expires_at) = expires_at else {
        return described.to_owned();
    };
    let open = described.strip_suffix('}').unwrap_or(described);
    format!(
        r#"{open},"exp":{},"expires_in":{}}}"#,
        expires_at.timestamp(),
        (expires_at - now).num_seconds().max(0)
    )
}

/// Synapse's shared secret as a bearer token, or a confidential client authenticated by
/// [`authenticate_client`]. RFC 7662 §2.1: public clients may not introspect.
async fn authenticate_caller(
    req: &Request,
    state: &AppState,
    form: &IntrospectionRequest,
) -> Result<(), OAuthError> {
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if let Some(value) = authorization
        && value.len() > 7
        && value[..7].eq_ignore_ascii_case("bearer ")
    {
        let presented = value[7..].trim().as_bytes();
        return if bool::from(presented.ct_eq(state.matrix_secret.as_bytes())) {
            Ok(())
        } else {
            Err(OAuthError::invalid_client("unknown bearer credential"))
        };
    }
    let caller = authenticate_client(state, req.headers(), &form.credentials()).await?;
    if caller.method == TokenEndpointAuthMethod::None {
        return Err(OAuthError::invalid_client(
            "public clients may not introspect tokens",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_the_token_and_client_secret() {
        let request: IntrospectionRequest = serde_json::from_value(serde_json::json!({
            "token": "mct_tokenvalue",
            "client_id": "01JC9R4V8B5D7M3N2P6Q8S0T1W",
            "client_secret": "s3cret-value",
            "client_assertion": "eyJhbGciOiJIUzI1NiJ9.assertion.value",
        }))
        .expect("request");
        let debug = format!("{request:?}");
        assert!(!debug.contains("assertion.value"), "{debug}");
        assert!(!debug.contains("mct_tokenvalue"), "{debug}");
        assert!(!debug.contains("s3cret-value"), "{debug}");
        assert!(debug.contains("01JC9R4V8B5D7M3N2P6Q8S0T1W"), "{debug}");
        assert!(debug.contains("[redacted]"), "{debug}");
    }

    #[test]
    fn expiry_is_added_to_the_fixed_part() {
        let now = chrono::DateTime::from_timestamp(1_700_000_000, 0).expect("time");
        let fixed = r#"{"active":true,"sub":"x"}"#;
        assert_eq!(with_expiry(fixed, None, now), fixed);
        let answer: Value = serde_json::from_str(&with_expiry(
            fixed,
            Some(now + chrono::Duration::seconds(300)),
            now,
        ))
        .expect("valid JSON");
        assert_eq!(
            answer,
            json!({"active": true, "sub": "x", "exp": 1_700_000_300, "expires_in": 300})
        );
        // Expired between the lookup and the answer: never a negative lifetime.
        let late: Value = serde_json::from_str(&with_expiry(
            fixed,
            Some(now - chrono::Duration::seconds(1)),
            now,
        ))
        .expect("valid JSON");
        assert_eq!(late["expires_in"], 0);
    }
}
