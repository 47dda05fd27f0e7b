//! Single-purpose Synapse admin endpoints: reset a password, deactivate, the admin flag, whois.

use poem::{
    Request, handler,
    web::{Data, Json, Path},
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{MatrixError, MatrixResult, local_username, require_admin, users::find};
use crate::{http::AppState, services::accounts};

fn parse<T: for<'de> Deserialize<'de> + Default>(body: &[u8]) -> MatrixResult<T> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|error| {
        MatrixError::new(
            poem::http::StatusCode::BAD_REQUEST,
            "M_NOT_JSON",
            format!("Content not JSON: {error}"),
        )
    })
}

#[derive(Default, Deserialize)]
pub struct ResetPassword {
    new_password: Option<String>,
    logout_devices: Option<bool>,
}

impl std::fmt::Debug for ResetPassword {
    // Secrets stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResetPassword")
            .field(
                "new_password",
                &crate::domain::redact::RedactedOption(&self.new_password),
            )
            .field("logout_devices", &self.logout_devices)
            .finish()
    }
}

/// `POST /_synapse/admin/v1/reset_password/{user_id}`.
#[handler]
pub async fn reset_password(
    state: Data<&AppState>,
    req: &Request,
    Path(user_id): Path<String>,
    body: Vec<u8>,
) -> MatrixResult<Json<Value>> {
    require_admin(&state, req).await?;
    let username = local_username(&state, &user_id)?;
    let body: ResetPassword = parse(&body)?;
    let Some(password) = body.new_password else {
        return Err(MatrixError::new(
            poem::http::StatusCode::BAD_REQUEST,
            "M_MISSING_PARAM",
            "Missing param new_password",
        ));
    };
    let clock = state.clock.as_ref();
    let user = accounts::find_user(&state.store, username).await?;
    accounts::set_password(
        &state.store,
        clock,
        &state.passwords,
        &user,
        &password,
        false,
    )
    .await?;
    if body.logout_devices.unwrap_or(true) {
        accounts::kill_sessions(&state.store, clock, user.id, false).await?;
    }
    Ok(Json(json!({})))
}

#[derive(Debug, Default, Deserialize)]
pub struct Deactivate {
    #[serde(default)]
    erase: bool,
}

/// `POST /_synapse/admin/v1/deactivate/{user_id}`.
#[handler]
pub async fn deactivate(
    state: Data<&AppState>,
    req: &Request,
    Path(user_id): Path<String>,
    body: Vec<u8>,
) -> MatrixResult<Json<Value>> {
    require_admin(&state, req).await?;
    let username = local_username(&state, &user_id)?;
    let body: Deactivate = parse(&body)?;
    let user = accounts::find_user(&state.store, username).await?;
    accounts::deactivate_user(&state.store, state.clock.as_ref(), user.id, body.erase).await?;
    Ok(Json(json!({"id_server_unbind_result": "success"})))
}

/// `GET /_synapse/admin/v1/users/{user_id}/admin`.
#[handler]
pub async fn get_admin(
    state: Data<&AppState>,
    req: &Request,
    Path(user_id): Path<String>,
) -> MatrixResult<Json<Value>> {
    require_admin(&state, req).await?;
    let username = local_username(&state, &user_id)?;
    let user = find(&state, username)
        .await?
        .ok_or_else(MatrixError::not_found)?;
    Ok(Json(json!({"admin": user.can_request_admin})))
}

#[derive(Debug, Default, Deserialize)]
pub struct SetAdmin {
    admin: Option<bool>,
}

/// `PUT /_synapse/admin/v1/users/{user_id}/admin`.
#[handler]
pub async fn put_admin(
    state: Data<&AppState>,
    req: &Request,
    Path(user_id): Path<String>,
    body: Vec<u8>,
) -> MatrixResult<Json<Value>> {
    require_admin(&state, req).await?;
    let username = local_username(&state, &user_id)?;
    let body: SetAdmin = parse(&body)?;
    let Some(admin) = body.admin else {
        return Err(MatrixError::new(
            poem::http::StatusCode::BAD_REQUEST,
            "M_MISSING_PARAM",
            "Missing param admin",
        ));
    };
    let user = accounts::find_user(&state.store, username).await?;
    accounts::set_admin(&state.store, user.id, admin).await?;
    Ok(Json(json!({})))
}

/// `GET /_synapse/admin/v1/whois/{user_id}`: the user's active sessions and their last use.
#[handler]
pub async fn whois(
    state: Data<&AppState>,
    req: &Request,
    Path(user_id): Path<String>,
) -> MatrixResult<Json<Value>> {
    require_admin(&state, req).await?;
    let username = local_username(&state, &user_id)?;
    let user = find(&state, username)
        .await?
        .ok_or_else(MatrixError::not_found)?;
    let mut reader = state.store.reader().await?;
    let sessions = reader.compat().active_sessions(user.id).await?;
    let mut devices = serde_json::Map::new();
    for session in sessions {
        let connections: Vec<Value> = session
            .last_active_at
            .map(|at| {
                json!({
                    "ip": session.last_active_ip,
                    "last_seen": at.timestamp_millis(),
                    "user_agent": session.user_agent,
                })
            })
            .into_iter()
            .collect();
        devices.insert(
            session.device_id.unwrap_or_default(),
            json!({"sessions": [{"connections": connections}]}),
        );
    }
    Ok(Json(json!({"user_id": user_id, "devices": devices})))
}
