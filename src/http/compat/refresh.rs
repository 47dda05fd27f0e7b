//! `POST /refresh`: rotate a compat refresh token.

use poem::{
    handler,
    web::{Data, Json},
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::parse_json;
use crate::{
    http::{AppState, matrix_error::MatrixError},
    services::compat_sessions::{self, RefreshError},
};

#[derive(Deserialize)]
struct RefreshRequest {
    refresh_token: String,
}

impl std::fmt::Debug for RefreshRequest {
    // Secrets stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshRequest")
            .field("refresh_token", &crate::domain::redact::Redacted)
            .finish()
    }
}

#[handler]
pub async fn refresh(
    Data(state): Data<&AppState>,
    body: poem::Body,
) -> Result<Json<Value>, MatrixError> {
    let body = body
        .into_bytes()
        .await
        .map_err(|_| MatrixError::bad_json("Could not read the request body."))?;
    let request: RefreshRequest = parse_json(&body)?;
    let ttl = chrono::Duration::seconds(
        i64::try_from(state.config.experimental.compat_token_ttl).unwrap_or(300),
    );
    // A replay is told from a retry by whether the successor was used: write the uses this
    // process has noted first.
    if let Err(error) = state.activity.flush(&state.store).await {
        tracing::warn!(%error, "could not record token uses before a refresh");
    }
    match compat_sessions::refresh(
        &state.store,
        state.clock.as_ref(),
        &mut state.random.rng(),
        &request.refresh_token,
        ttl,
    )
    .await
    {
        Ok((started, _user)) => Ok(Json(json!({
            "access_token": started.access_token,
            "refresh_token": started.refresh_token,
            "expires_in_ms": ttl.num_milliseconds(),
        }))),
        Err(error @ (RefreshError::Invalid | RefreshError::Replayed)) => {
            if matches!(error, RefreshError::Replayed) {
                tracing::warn!(
                    "a replaced compat refresh token was presented again; its session was ended"
                );
                state.jobs_wake.notify_one();
            }
            Err(MatrixError {
                soft_logout: Some(false),
                ..MatrixError::unknown_token("Unknown, used or revoked refresh token.")
            })
        }
        Err(RefreshError::Store(error)) => Err(error.into()),
    }
}
