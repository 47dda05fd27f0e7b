//! `GET /login` (the login flows) and `POST /login` with `m.login.password` and `m.login.token`.

use poem::{
    Request, handler,
    http::StatusCode,
    web::{Data, Json},
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::parse_json;
use crate::{
    domain::{
        compat::{generate_device_id, is_valid_device_id},
        users::User,
    },
    http::{AppState, client_ip::client_ip, matrix_error::MatrixError},
    services::compat_sessions::{self, SessionRequest},
    services::sign_in::{LoginError, may_sign_in},
};

#[handler]
pub async fn flows(Data(state): Data<&AppState>) -> Json<Value> {
    let mut flows = Vec::new();
    if state.config.passwords.enabled {
        flows.push(json!({ "type": "m.login.password" }));
    }
    flows.push(json!({
        "type": "m.login.sso",
        "identity_providers": [],
        "oauth_aware_preferred": true,
        "org.matrix.msc3824.delegated_oidc_compatibility": true,
    }));
    flows.push(json!({ "type": "m.login.token" }));
    Json(json!({ "flows": flows }))
}

#[derive(Deserialize)]
struct LoginRequest {
    #[serde(rename = "type")]
    login_type: String,
    #[serde(default)]
    identifier: Option<Identifier>,
    /// Legacy top-level user field (before `identifier`).
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    device_id: Option<String>,
    #[serde(default)]
    initial_device_display_name: Option<String>,
    #[serde(default)]
    refresh_token: bool,
}

impl std::fmt::Debug for LoginRequest {
    // Secrets stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest")
            .field("login_type", &self.login_type)
            .field("identifier", &self.identifier)
            .field("user", &self.user)
            .field(
                "password",
                &crate::domain::redact::RedactedOption(&self.password),
            )
            .field("token", &crate::domain::redact::RedactedOption(&self.token))
            .field("device_id", &self.device_id)
            .field(
                "initial_device_display_name",
                &self.initial_device_display_name,
            )
            .field("refresh_token", &self.refresh_token)
            .finish()
    }
}

#[derive(Debug, Deserialize)]
struct Identifier {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    user: Option<String>,
}

const WRONG_CREDENTIALS: &str = "Invalid username or password";

#[handler]
pub async fn login(
    req: &Request,
    Data(state): Data<&AppState>,
    body: poem::Body,
) -> Result<Json<Value>, MatrixError> {
    let body = body
        .into_bytes()
        .await
        .map_err(|_| MatrixError::bad_json("Could not read the request body."))?;
    let request: LoginRequest = parse_json(&body)?;
    let ip = client_ip(req, &state.trusted_proxies);
    // The SSO login a login token came from, linked to the session it starts.
    let (user, sso_login) = match request.login_type.as_str() {
        "m.login.password" => (password_login(state, &request, ip).await?, None),
        "m.login.token" => {
            let (user, login) = token_login(state, &request).await?;
            (user, Some(login))
        }
        "m.login.application_service" => {
            return Err(MatrixError::new(
                StatusCode::BAD_REQUEST,
                "M_APPSERVICE_LOGIN_UNSUPPORTED",
                "Application service login is not supported; register appservice users with inhibit_login.",
            ));
        }
        other => return Err(MatrixError::unknown(format!("Unknown login type {other}"))),
    };

    let device_id = match request.device_id {
        Some(device_id) if !is_valid_device_id(&device_id) => {
            return Err(MatrixError::new(
                StatusCode::BAD_REQUEST,
                "M_INVALID_PARAM",
                "Invalid device_id.",
            ));
        }
        Some(device_id) => device_id,
        None => generate_device_id(&mut state.random.rng()),
    };
    let refreshable = request.refresh_token.then(|| {
        chrono::Duration::seconds(
            i64::try_from(state.config.experimental.compat_token_ttl).unwrap_or(300),
        )
    });
    let started = compat_sessions::start(
        &state.store,
        state.clock.as_ref(),
        &mut state.random.rng(),
        &user,
        SessionRequest {
            device_id: device_id.clone(),
            display_name: request.initial_device_display_name.clone(),
            refreshable,
            is_synapse_admin: false,
            user_agent: req
                .headers()
                .get(poem::http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(|ua| ua.chars().take(512).collect()),
            ip: ip.map(|ip| ip.to_string()),
            sso_login,
        },
    )
    .await?;

    // The device must exist in Synapse before the token is any use there.
    if let Err(error) = state
        .synapse
        .upsert_device(
            &user.username,
            &device_id,
            request.initial_device_display_name.as_deref(),
        )
        .await
    {
        tracing::warn!(%error, user = %user.username, "could not create the device in the homeserver; login refused");
        compat_sessions::finish(&state.store, state.clock.as_ref(), started.session.id).await?;
        state.jobs_wake.notify_one();
        return Err(MatrixError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "M_UNKNOWN",
            "The homeserver is unavailable; try again later.",
        ));
    }

    let mut response = json!({
        "user_id": state.mxid(&user.username),
        "access_token": started.access_token,
        "device_id": device_id,
        "home_server": state.config.matrix.homeserver,
    });
    if let (Some(refresh_token), Some(expires_in)) = (started.refresh_token, started.expires_in) {
        response["refresh_token"] = json!(refresh_token);
        response["expires_in_ms"] = json!(expires_in.num_milliseconds());
    }
    Ok(Json(response))
}

async fn password_login(
    state: &AppState,
    request: &LoginRequest,
    ip: Option<std::net::IpAddr>,
) -> Result<User, MatrixError> {
    if !state.config.passwords.enabled {
        return Err(MatrixError::unknown(
            "Password login is disabled on this server.",
        ));
    }
    let identifier = match (&request.identifier, &request.user) {
        (Some(identifier), _) if identifier.kind == "m.id.user" => identifier
            .user
            .as_deref()
            .ok_or_else(|| MatrixError::bad_json("identifier.user is required"))?,
        (Some(identifier), _) => {
            return Err(MatrixError::unknown(format!(
                "Unsupported identifier type {}; log in with your username",
                identifier.kind
            )));
        }
        (None, Some(user)) => user.as_str(),
        (None, None) => return Err(MatrixError::bad_json("identifier is required")),
    };
    let password = request
        .password
        .as_deref()
        .ok_or_else(|| MatrixError::bad_json("password is required"))?;
    state
        .sign_in
        .authenticate_password(identifier, password, ip)
        .await
        .map_err(login_error)
}

/// A failed sign-in as Matrix answers it.
fn login_error(error: LoginError) -> MatrixError {
    match error {
        LoginError::PasswordsDisabled => {
            MatrixError::unknown("Password login is disabled on this server.")
        }
        LoginError::RateLimited { retry_after } => {
            MatrixError::limit_exceeded(retry_after.as_millis().try_into().unwrap_or(u64::MAX))
        }
        LoginError::WrongCredentials => MatrixError::forbidden(WRONG_CREDENTIALS),
        LoginError::Deactivated => MatrixError::new(
            StatusCode::FORBIDDEN,
            "M_USER_DEACTIVATED",
            "This account has been deactivated.",
        ),
        LoginError::Locked => MatrixError {
            soft_logout: Some(true),
            ..MatrixError::new(
                StatusCode::UNAUTHORIZED,
                "M_USER_LOCKED",
                "This account has been locked.",
            )
        },
        LoginError::Guest => MatrixError::forbidden("Guest accounts cannot log in."),
        LoginError::Store(error) => error.into(),
        LoginError::Hashing(error) => MatrixError::internal("password check failed", &error),
    }
}

/// The user a login token was confirmed by, and the SSO login it belongs to.
async fn token_login(
    state: &AppState,
    request: &LoginRequest,
) -> Result<(User, ulid::Ulid), MatrixError> {
    let token = request
        .token
        .as_deref()
        .ok_or_else(|| MatrixError::bad_json("token is required"))?;
    let user = crate::services::compat_sso::exchange(
        &state.store,
        state.clock.as_ref(),
        &state.config.experimental.browser_session_limits(),
        token,
    )
    .await?
    .ok_or_else(|| MatrixError::forbidden("Invalid or expired login token."))?;
    may_sign_in(&user.0).map_err(login_error)?;
    Ok(user)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_password_and_token() {
        let request: LoginRequest = serde_json::from_value(serde_json::json!({
            "type": "m.login.password",
            "user": "alice",
            "password": "hunter2-password",
            "token": "login-token-value",
        }))
        .expect("request");
        let debug = format!("{request:?}");
        assert!(!debug.contains("hunter2-password"), "{debug}");
        assert!(!debug.contains("login-token-value"), "{debug}");
        assert!(debug.contains("alice"), "{debug}");
        assert!(debug.contains("password: Some([redacted])"), "{debug}");
    }
}
