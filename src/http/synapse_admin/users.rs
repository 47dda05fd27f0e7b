//! `GET /_synapse/admin/v2/users`, `GET|PUT /_synapse/admin/v2/users/{user_id}`.

use poem::{
    IntoResponse, Request, Response, handler,
    http::StatusCode,
    web::{Data, Json, Path, Query},
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{MatrixError, MatrixResult, local_username, matrix_id, require_admin};
use crate::{
    domain::users::User,
    http::AppState,
    services::accounts::{self, Registration},
    store::users::SynapseUserQuery,
};

/// Synapse's boolean query parameters are `true`/`false` strings.
fn flag(value: &Option<String>, default: bool) -> MatrixResult<bool> {
    match value.as_deref() {
        None => Ok(default),
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(other) => Err(MatrixError::invalid(format!(
            "Boolean query parameter has unrecognised value {other:?}"
        ))),
    }
}

#[derive(Debug, Deserialize)]
pub struct ListParams {
    from: Option<String>,
    limit: Option<String>,
    name: Option<String>,
    user_id: Option<String>,
    guests: Option<String>,
    deactivated: Option<String>,
    locked: Option<String>,
    order_by: Option<String>,
    dir: Option<String>,
}

fn list_entry(state: &AppState, user: &User) -> Value {
    json!({
        "name": matrix_id(state, user),
        "user_type": null,
        "is_guest": i32::from(user.is_guest),
        "admin": i32::from(user.can_request_admin),
        "deactivated": i32::from(user.deactivated_at.is_some()),
        "erased": false,
        "shadow_banned": 0,
        "displayname": null,
        "avatar_url": null,
        "creation_ts": user.created_at.timestamp_millis(),
        "approved": true,
        "locked": user.locked_at.is_some(),
        "last_seen_ts": null,
    })
}

/// `GET /_synapse/admin/v2/users`: offset pagination as in Synapse (`from`, `limit`,
/// `next_token`, `total`).
#[handler]
pub async fn list(
    state: Data<&AppState>,
    req: &Request,
    params: poem::Result<Query<ListParams>>,
) -> MatrixResult<Json<Value>> {
    require_admin(&state, req).await?;
    // A query that does not parse (a repeated parameter, bad percent-encoding) is a bad
    // parameter in Matrix terms too, not poem's plain-text answer.
    let Query(params) = params.map_err(|error| {
        MatrixError::invalid(format!("Query parameters could not be read: {error}"))
    })?;
    // The databases take a signed 64-bit OFFSET/LIMIT: a larger number is refused here, as a
    // bad parameter, rather than failing the query.
    let number = |name: &str, value: &Option<String>, default: u64| -> MatrixResult<u64> {
        value.as_deref().map_or(Ok(default), |text| {
            text.parse::<i64>()
                .ok()
                .and_then(|number| u64::try_from(number).ok())
                .ok_or_else(|| {
                    MatrixError::invalid(format!(
                        "Query parameter {name} must be an integer from 0 to {}",
                        i64::MAX
                    ))
                })
        })
    };
    let offset = number("from", &params.from, 0)?;
    let limit = number("limit", &params.limit, 100)?.min(1000);
    let by_creation = match params.order_by.as_deref() {
        None | Some("name") | Some("displayname") => false,
        Some("creation_ts") => true,
        // Other Synapse orders (admin, deactivated, …) fall back to the username.
        Some(_) => false,
    };
    let descending = match params.dir.as_deref() {
        None | Some("f") => false,
        Some("b") => true,
        Some(_) => {
            return Err(MatrixError::invalid(
                "Unknown direction: dir must be f or b",
            ));
        }
    };
    let search = params
        .name
        .as_deref()
        .or(params.user_id.as_deref())
        .map(|name| {
            // synapse-admin searches with the full ID or a localpart.
            name.strip_prefix('@')
                .map_or(name, |rest| rest.split(':').next().unwrap_or(rest))
                .to_owned()
        })
        .filter(|name| !name.is_empty());
    let query = SynapseUserQuery {
        name: search,
        include_guests: flag(&params.guests, true)?,
        include_deactivated: flag(&params.deactivated, false)?,
        include_locked: flag(&params.locked, false)?,
        by_creation,
        descending,
        offset,
        limit,
    };
    let mut reader = state.store.reader().await?;
    let (users, total) = reader.users().list_synapse(&query).await?;
    let users: Vec<Value> = users.iter().map(|user| list_entry(&state, user)).collect();
    let mut body = json!({"users": users, "total": total});
    let next = offset + users.len() as u64;
    if next < total && !users.is_empty() {
        body["next_token"] = Value::String(next.to_string());
    }
    Ok(Json(body))
}

/// The full user as `GET /_synapse/admin/v2/users/{user_id}` shows it.
pub(crate) async fn user_details(state: &AppState, user: &User) -> MatrixResult<Value> {
    let mut reader = state.store.reader().await?;
    let emails = reader.emails().list_for_user(user.id).await?;
    let others = reader.emails().list_unsupported_threepids(user.id).await?;
    let mut threepids: Vec<Value> = emails
        .iter()
        .map(|email| {
            let at = email.created_at.timestamp_millis();
            json!({"medium": "email", "address": email.email, "added_at": at, "validated_at": at})
        })
        .collect();
    threepids.extend(others.iter().map(|threepid| {
        let at = threepid.created_at.timestamp_millis();
        json!({"medium": threepid.medium, "address": threepid.address, "added_at": at, "validated_at": at})
    }));
    Ok(json!({
        "name": matrix_id(state, user),
        "displayname": null,
        "avatar_url": null,
        "threepids": threepids,
        "is_guest": user.is_guest,
        "admin": user.can_request_admin,
        "deactivated": user.deactivated_at.is_some(),
        "erased": false,
        "shadow_banned": false,
        "locked": user.locked_at.is_some(),
        "creation_ts": user.created_at.timestamp_millis(),
        "appservice_id": null,
        "consent_server_notice_sent": null,
        "consent_version": null,
        "consent_ts": null,
        "external_ids": [],
        "user_type": null,
        "approved": true,
        "last_seen_ts": null,
    }))
}

pub(crate) async fn find(state: &AppState, username: &str) -> MatrixResult<Option<User>> {
    let mut reader = state.store.reader().await?;
    Ok(reader.users().find_by_username(username).await?)
}

#[handler]
pub async fn get(
    state: Data<&AppState>,
    req: &Request,
    Path(user_id): Path<String>,
) -> MatrixResult<Json<Value>> {
    require_admin(&state, req).await?;
    let username = local_username(&state, &user_id)?;
    let user = find(&state, username)
        .await?
        .ok_or_else(MatrixError::not_found)?;
    Ok(Json(user_details(&state, &user).await?))
}

#[derive(Debug, Deserialize)]
pub struct Threepid {
    medium: String,
    address: String,
}

/// `PUT /_synapse/admin/v2/users/{user_id}`: every field is optional.
#[derive(Default, Deserialize)]
#[serde(default)]
pub struct PutUser {
    password: Option<String>,
    logout_devices: Option<bool>,
    displayname: Option<String>,
    threepids: Option<Vec<Threepid>>,
    admin: Option<bool>,
    deactivated: Option<bool>,
    locked: Option<bool>,
}

impl std::fmt::Debug for PutUser {
    // Secrets stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PutUser")
            .field(
                "password",
                &crate::domain::redact::RedactedOption(&self.password),
            )
            .field("logout_devices", &self.logout_devices)
            .field("displayname", &self.displayname)
            .field("threepids", &self.threepids)
            .field("admin", &self.admin)
            .field("deactivated", &self.deactivated)
            .field("locked", &self.locked)
            .finish()
    }
}

/// Create (201) or modify (200) a user, as Synapse does.
#[handler]
pub async fn put(
    state: Data<&AppState>,
    req: &Request,
    Path(user_id): Path<String>,
    body: poem::Result<Json<PutUser>>,
) -> MatrixResult<Response> {
    require_admin(&state, req).await?;
    let username = local_username(&state, &user_id)?.to_owned();
    let Json(body) = body.map_err(|error| {
        MatrixError::new(StatusCode::BAD_REQUEST, "M_NOT_JSON", error.to_string())
    })?;
    let emails: Option<Vec<String>> = body.threepids.as_ref().map(|threepids| {
        threepids
            .iter()
            .filter(|threepid| threepid.medium == "email")
            .map(|threepid| threepid.address.clone())
            .collect()
    });
    let clock = state.clock.as_ref();
    let existing = find(&state, &username).await?;
    let status = match existing {
        None => {
            let user = accounts::register_user(
                &state.store,
                clock,
                &state.passwords,
                Registration {
                    username: username.clone(),
                    password: body.password.clone(),
                    emails: emails.clone().unwrap_or_default(),
                    admin: body.admin.unwrap_or(false),
                    display_name: body.displayname.clone(),
                    check_complexity: false,
                },
            )
            .await?;
            if body.locked == Some(true) {
                accounts::lock_user(&state.store, clock, user.id, false).await?;
            }
            if body.deactivated == Some(true) {
                accounts::deactivate_user(&state.store, clock, user.id, false).await?;
            }
            StatusCode::CREATED
        }
        Some(user) => {
            if let Some(password) = &body.password {
                accounts::set_password(
                    &state.store,
                    clock,
                    &state.passwords,
                    &user,
                    password,
                    false,
                )
                .await?;
                if body.logout_devices.unwrap_or(true) {
                    accounts::kill_sessions(&state.store, clock, user.id, false).await?;
                }
            }
            if let Some(admin) = body.admin {
                accounts::set_admin(&state.store, user.id, admin).await?;
            }
            if let Some(displayname) = &body.displayname {
                let name = Some(displayname.clone()).filter(|name| !name.is_empty());
                accounts::set_display_name(&state.store, clock, user.id, name).await?;
            }
            if let Some(emails) = &emails {
                let mut reader = state.store.reader().await?;
                let current = reader.emails().list_for_user(user.id).await?;
                drop(reader);
                for email in &current {
                    if !emails.iter().any(|e| e.eq_ignore_ascii_case(&email.email)) {
                        accounts::remove_email(&state.store, clock, email.id).await?;
                    }
                }
                for email in emails {
                    if !current.iter().any(|c| c.email.eq_ignore_ascii_case(email)) {
                        accounts::add_email(&state.store, clock, user.id, email).await?;
                    }
                }
            }
            match body.deactivated {
                Some(true) if user.deactivated_at.is_none() => {
                    accounts::deactivate_user(&state.store, clock, user.id, false).await?;
                }
                Some(false) if user.deactivated_at.is_some() => {
                    accounts::reactivate_user(&state.store, clock, user.id).await?;
                    // Synapse's reactivation leaves the account usable.
                    accounts::unlock_user(&state.store, clock, user.id, false).await?;
                }
                _ => {}
            }
            match body.locked {
                Some(true) => {
                    accounts::lock_user(&state.store, clock, user.id, false).await?;
                }
                Some(false) if body.deactivated != Some(true) => {
                    accounts::unlock_user(&state.store, clock, user.id, false).await?;
                }
                _ => {}
            }
            StatusCode::OK
        }
    };
    let user = find(&state, &username)
        .await?
        .ok_or_else(MatrixError::not_found)?;
    Ok(Json(user_details(&state, &user).await?)
        .with_status(status)
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_the_password() {
        let body: PutUser = serde_json::from_value(json!({
            "password": "hunter2-password",
            "admin": true,
        }))
        .expect("body");
        let debug = format!("{body:?}");
        assert!(!debug.contains("hunter2-password"), "{debug}");
        assert!(debug.contains("admin: Some(true)"), "{debug}");
    }
}
