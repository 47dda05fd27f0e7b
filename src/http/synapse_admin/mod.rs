//! Synapse's admin API for users, served by Gatehouse (the `adminapi` resource), so that tools
//! like synapse-admin keep working once Synapse delegates accounts: `/_synapse/admin/v2/users`,
//! `/v2/users/{user_id}`, `/v1/reset_password/{user_id}`, `/v1/deactivate/{user_id}`,
//! `/v1/users/{user_id}/admin` and `/v1/whois/{user_id}`. The reverse proxy sends these paths
//! here instead of to Synapse. Answers and errors use Synapse's shapes (`errcode`, `error`).

mod account;
mod users;

use poem::{IntoResponse, Request, Response, Route, get, http::StatusCode, post, web::Json};
use serde_json::json;

use crate::{
    crypto::passwords::PasswordError,
    domain::{scopes::SYNAPSE_ADMIN, users::User},
    http::AppState,
    services::access::{ActiveToken, resolve_access_token},
    services::accounts::AccountError,
    store::StoreError,
};

/// A Matrix error answer.
#[derive(Debug)]
pub struct MatrixError {
    status: StatusCode,
    errcode: &'static str,
    error: String,
}

impl MatrixError {
    fn new(status: StatusCode, errcode: &'static str, error: impl Into<String>) -> Self {
        Self {
            status,
            errcode,
            error: error.into(),
        }
    }

    fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "M_NOT_FOUND", "User not found")
    }

    fn invalid(error: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "M_INVALID_PARAM", error)
    }
}

impl IntoResponse for MatrixError {
    fn into_response(self) -> Response {
        Json(json!({"errcode": self.errcode, "error": self.error}))
            .with_status(self.status)
            .into_response()
    }
}

impl From<MatrixError> for poem::Error {
    fn from(error: MatrixError) -> Self {
        poem::Error::from_response(error.into_response())
    }
}

impl From<StoreError> for MatrixError {
    fn from(error: StoreError) -> Self {
        tracing::error!(%error, "synapse admin API: storage error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "M_UNKNOWN",
            "Internal server error",
        )
    }
}

impl From<AccountError> for MatrixError {
    fn from(error: AccountError) -> Self {
        match error {
            AccountError::UnknownUser(_) => Self::not_found(),
            AccountError::UsernameTaken(_) => {
                Self::new(StatusCode::BAD_REQUEST, "M_USER_IN_USE", error.to_string())
            }
            AccountError::Password(PasswordError::TooWeak { .. }) => Self::new(
                StatusCode::BAD_REQUEST,
                "M_WEAK_PASSWORD",
                error.to_string(),
            ),
            AccountError::InvalidUsername(_)
            | AccountError::InvalidEmail(_)
            | AccountError::DuplicateEmail(_) => Self::invalid(error.to_string()),
            AccountError::Store(store) => store.into(),
            other => {
                tracing::error!(error = %other, "synapse admin API: account operation failed");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "M_UNKNOWN",
                    "Internal server error",
                )
            }
        }
    }
}

pub type MatrixResult<T> = Result<T, MatrixError>;

/// The requester: an active token with `urn:synapse:admin:*` (a compat token issued with
/// `--yes-i-want-to-grant-synapse-admin-privileges`, or a personal token with that scope).
pub(crate) async fn require_admin(state: &AppState, req: &Request) -> MatrixResult<ActiveToken> {
    let header = req
        .headers()
        .get(poem::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    let Some(token) = header else {
        return Err(MatrixError::new(
            StatusCode::UNAUTHORIZED,
            "M_MISSING_TOKEN",
            "Missing access token",
        ));
    };
    let mut reader = state.store.reader().await?;
    let Some(active) = resolve_access_token(&mut reader, token.trim(), state.clock.now()).await?
    else {
        return Err(MatrixError::new(
            StatusCode::UNAUTHORIZED,
            "M_UNKNOWN_TOKEN",
            "Unknown access token",
        ));
    };
    let ip = crate::http::client_ip::client_ip(req, &state.trusted_proxies);
    state.activity.token_used(&active, state.clock.now(), ip);
    if !active.has_scope(SYNAPSE_ADMIN) {
        return Err(MatrixError::new(
            StatusCode::FORBIDDEN,
            "M_FORBIDDEN",
            "You are not a server admin",
        ));
    }
    Ok(active)
}

/// `@localpart:server` → localpart, for users of this server only.
pub(crate) fn local_username<'a>(state: &AppState, user_id: &'a str) -> MatrixResult<&'a str> {
    let server = &state.config.matrix.homeserver;
    user_id
        .strip_prefix('@')
        .and_then(|rest| rest.split_once(':'))
        .filter(|(_, domain)| domain == server)
        .map(|(localpart, _)| localpart)
        .ok_or_else(|| MatrixError::invalid("Can only look up local users"))
}

pub(crate) fn matrix_id(state: &AppState, user: &User) -> String {
    format!("@{}:{}", user.username, state.config.matrix.homeserver)
}

/// The routes, to nest at `/_synapse/admin`.
pub fn routes() -> Route {
    Route::new()
        .at("/v2/users", get(users::list))
        .at("/v2/users/:user_id", get(users::get).put(users::put))
        .at("/v1/reset_password/:user_id", post(account::reset_password))
        .at("/v1/deactivate/:user_id", post(account::deactivate))
        .at(
            "/v1/users/:user_id/admin",
            get(account::get_admin).put(account::put_admin),
        )
        .at("/v1/whois/:user_id", get(account::whois))
}
