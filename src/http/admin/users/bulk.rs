//! `POST /users/bulk` (beyond MAS): lock, unlock, deactivate or log out many users at once,
//! with one result per user.

use poem::web::Data;
use poem_openapi::{Enum, Object, OpenApi, payload::Json};
use ulid::Ulid;

use crate::{
    http::{
        AppState,
        admin::{
            AdminTag,
            auth::AdminAuth,
            error::{AdminError, BAD_REQUEST, OpError, UNSUPPORTED_MEDIA_TYPE},
            users,
        },
    },
    services::accounts,
};

/// A user ID that the examples do not know.
const EXAMPLE_UNKNOWN_ID: &str = "01JE43WTF01HEAD8X4A1JH69RE";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "kebab-case")]
pub enum BulkAction {
    /// Lock (as `POST /users/{id}/lock`).
    Lock,
    /// Unlock (as `POST /users/{id}/unlock`).
    Unlock,
    /// Deactivate (as `POST /users/{id}/deactivate`, erasing unless `skip_erase`).
    Deactivate,
    /// Finish every compatibility session (log out every device).
    KillSessions,
}

#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct BulkRequest {
    pub action: BulkAction,
    /// The users' IDs (at most 1000).
    #[oai(validator(max_items = 1000))]
    pub user_ids: Vec<String>,
    /// With `deactivate`: do not ask the homeserver to erase the users' data.
    #[oai(default)]
    pub skip_erase: bool,
}

impl poem_openapi::types::Example for BulkRequest {
    fn example() -> Self {
        Self {
            action: BulkAction::Lock,
            user_ids: vec![users::EXAMPLE_ID.to_string(), EXAMPLE_UNKNOWN_ID.to_owned()],
            skip_erase: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum BulkStatus {
    /// Done.
    Ok,
    /// No user has this ID.
    NotFound,
    /// It failed; see `title`.
    Error,
}

/// What happened to one user.
#[derive(Debug, Clone, Object)]
pub struct BulkResult {
    pub user_id: String,
    pub status: BulkStatus,
    /// Why it was not done (absent when `ok`).
    #[oai(skip_serializing_if_is_none)]
    pub title: Option<String>,
}

/// One result per requested user, in the order of the request.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct BulkResponse {
    pub results: Vec<BulkResult>,
}

impl poem_openapi::types::Example for BulkResponse {
    /// The answer to the request's example.
    fn example() -> Self {
        Self {
            results: vec![
                BulkResult {
                    user_id: users::EXAMPLE_ID.to_string(),
                    status: BulkStatus::Ok,
                    title: None,
                },
                BulkResult {
                    user_id: EXAMPLE_UNKNOWN_ID.to_owned(),
                    status: BulkStatus::NotFound,
                    title: Some(format!("User ID {EXAMPLE_UNKNOWN_ID} not found")),
                },
            ],
        }
    }
}

pub struct Api;

#[OpenApi(tag = "AdminTag::User")]
impl Api {
    /// Act on many users
    ///
    /// Applies `action` to each user in turn, each in its own transaction: a failure for one
    /// user does not stop the others. The answer lists one result per user.
    #[oai(path = "/users/bulk", method = "post", operation_id = "bulkUsers")]
    async fn bulk(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        body: Json<BulkRequest>,
    ) -> Result<Json<BulkResponse>, OpError<{ BAD_REQUEST | UNSUPPORTED_MEDIA_TYPE }>> {
        let body = body.0;
        let mut results = Vec::with_capacity(body.user_ids.len());
        for user_id in body.user_ids {
            let (status, title) = match apply(&state, body.action, body.skip_erase, &user_id).await
            {
                Ok(()) => (BulkStatus::Ok, None),
                Err(AdminError::NotFound(error)) => (
                    BulkStatus::NotFound,
                    error.0.errors.into_iter().next().map(|e| e.title),
                ),
                Err(AdminError::Internal(_)) => {
                    (BulkStatus::Error, Some("Internal server error".to_owned()))
                }
                Err(other) => (BulkStatus::Error, other.title().map(str::to_owned)),
            };
            results.push(BulkResult {
                user_id,
                status,
                title,
            });
        }
        Ok(Json(BulkResponse { results }))
    }
}

async fn apply(
    state: &AppState,
    action: BulkAction,
    skip_erase: bool,
    user_id: &str,
) -> Result<(), AdminError> {
    let id = Ulid::from_string(user_id)
        .map_err(|_| AdminError::bad_request(format!("User ID {user_id:?} is not a ULID")))?;
    let user = state
        .store
        .reader()
        .await?
        .users()
        .find_by_id(id)
        .await?
        .ok_or_else(|| AdminError::not_found(format!("User ID {id} not found")))?;
    let (store, clock) = (&state.store, state.clock.as_ref());
    match action {
        BulkAction::Lock => {
            accounts::lock_user(store, clock, user.id, false).await?;
        }
        BulkAction::Unlock => {
            accounts::unlock_user(store, clock, user.id, false).await?;
        }
        BulkAction::Deactivate => {
            accounts::deactivate_user(store, clock, user.id, !skip_erase).await?;
        }
        BulkAction::KillSessions => {
            accounts::kill_sessions(store, clock, user.id, false).await?;
        }
    }
    Ok(())
}
