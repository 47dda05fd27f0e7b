//! `POST /logout` and `POST /logout/all` for compat sessions. The device is removed from Synapse
//! at once (Synapse then rejects the token even if it cached the introspection answer); if that
//! fails, the queued device sync removes it later.

use poem::{
    Request, handler,
    web::{Data, Json},
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{bearer_token, parse_json};
use crate::{
    http::{AppState, matrix_error::MatrixError},
    services::access::{SessionRef, resolve_access_token},
    services::compat_sessions,
};

/// The compat session behind the request's token.
async fn current_session(
    req: &Request,
    state: &AppState,
) -> Result<(ulid::Ulid, crate::domain::users::User, Option<String>), MatrixError> {
    let token = bearer_token(req)?;
    let mut reader = state.store.reader().await?;
    let active = resolve_access_token(&mut reader, &token, state.clock.now())
        .await?
        .ok_or_else(|| MatrixError::unknown_token("Unknown or expired access token."))?;
    match (active.session, active.user) {
        (SessionRef::Compat(id), Some(user)) => Ok((id, user, active.device_id)),
        _ => Err(MatrixError::unknown_token(
            "Only sessions made by /login can log out here; end other sessions in your account.",
        )),
    }
}

#[handler]
pub async fn logout(
    req: &Request,
    Data(state): Data<&AppState>,
) -> Result<Json<Value>, MatrixError> {
    let (session_id, user, device_id) = current_session(req, state).await?;
    compat_sessions::finish(&state.store, state.clock.as_ref(), session_id).await?;
    if let Some(device_id) = device_id
        && let Err(error) = state
            .synapse
            .delete_device(&user.username, &device_id)
            .await
    {
        tracing::warn!(%error, user = %user.username, "could not delete the device now; the queued device sync will");
    }
    state.jobs_wake.notify_one();
    Ok(Json(json!({})))
}

#[derive(Debug, Deserialize)]
struct LogoutAllRequest {
    #[serde(default, rename = "io.element.only_compat_is_fine")]
    only_compat_is_fine: bool,
}

#[handler]
pub async fn logout_all(
    req: &Request,
    Data(state): Data<&AppState>,
    body: poem::Body,
) -> Result<Json<Value>, MatrixError> {
    let body = body
        .into_bytes()
        .await
        .map_err(|_| MatrixError::bad_json("Could not read the request body."))?;
    let request: LogoutAllRequest = parse_json(&body)?;
    let (_, user, _) = current_session(req, state).await?;
    if !request.only_compat_is_fine {
        // Other kinds of sessions (OAuth 2.0 apps) are not ended by this endpoint, so the client
        // must say that ending only the legacy sessions is what it wants, as with MAS.
        return Err(MatrixError::unknown(
            "Logging out of all sessions is done in the account management page; send \
             \"io.element.only_compat_is_fine\": true to end only the sessions made by /login.",
        ));
    }
    let sessions = {
        let mut reader = state.store.reader().await?;
        reader.compat().active_sessions(user.id).await?
    };
    compat_sessions::finish_all(&state.store, state.clock.as_ref(), user.id).await?;
    for device_id in sessions.iter().filter_map(|s| s.device_id.as_deref()) {
        if let Err(error) = state.synapse.delete_device(&user.username, device_id).await {
            tracing::warn!(%error, user = %user.username, "could not delete a device now; the queued device sync will");
            break;
        }
    }
    state.jobs_wake.notify_one();
    Ok(Json(json!({})))
}
