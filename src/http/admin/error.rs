//! The admin API's errors: a status and `{"errors": [{"title": "…"}]}`, as MAS answers. Every
//! failure a handler can meet maps to one variant here; internal errors are logged once and
//! answered without detail.

use poem::http::StatusCode;
use poem_openapi::{ApiResponse, Object, payload::Json};

use crate::{accounts::AccountError, crypto::passwords::PasswordError, store::StoreError};

/// One problem.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct ErrorDetail {
    /// What went wrong, for a human.
    pub title: String,
}

/// The body of every error response.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct ErrorBody {
    pub errors: Vec<ErrorDetail>,
}

impl poem_openapi::types::Example for ErrorDetail {
    fn example() -> Self {
        Self {
            title: "User ID 01J0000000000000000000000A not found".to_owned(),
        }
    }
}

impl poem_openapi::types::Example for ErrorBody {
    fn example() -> Self {
        Self {
            errors: vec![<ErrorDetail as poem_openapi::types::Example>::example()],
        }
    }
}

impl ErrorBody {
    pub fn new(title: impl Into<String>) -> Json<Self> {
        Json(Self {
            errors: vec![ErrorDetail {
                title: title.into(),
            }],
        })
    }
}

/// One answer for every kind of refused token: telling them apart would help an attacker.
const UNAUTHORIZED: &str = "Missing, invalid or insufficient access token: the admin API needs an active token with the urn:mas:admin scope";

#[derive(Debug, ApiResponse)]
pub enum AdminError {
    /// The request is malformed: a bad parameter, an invalid ID, or contradicting pagination.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// The bearer token is missing, unknown, expired, revoked, its user is locked, or it lacks
    /// the `urn:mas:admin` scope.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// The resource does not exist.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// The request conflicts with the current state (a taken username, a duplicate address…).
    #[oai(status = 409)]
    Conflict(Json<ErrorBody>),
    /// The request body is not of a content type the operation takes (e.g. JSON where CSV is
    /// expected, or no body at all for an operation that needs one).
    #[oai(status = 415)]
    UnsupportedMediaType(Json<ErrorBody>),
    /// The request is well-formed but its content is refused (invalid username, weak password…).
    #[oai(status = 422)]
    Unprocessable(Json<ErrorBody>),
    /// Something failed on the server; details are in its log.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
}

impl AdminError {
    pub fn bad_request(title: impl Into<String>) -> Self {
        Self::BadRequest(ErrorBody::new(title))
    }

    pub fn not_found(title: impl Into<String>) -> Self {
        Self::NotFound(ErrorBody::new(title))
    }

    pub fn conflict(title: impl Into<String>) -> Self {
        Self::Conflict(ErrorBody::new(title))
    }

    pub fn unprocessable(title: impl Into<String>) -> Self {
        Self::Unprocessable(ErrorBody::new(title))
    }

    pub fn unauthorized() -> Self {
        Self::Unauthorized(ErrorBody::new(UNAUTHORIZED))
    }

    pub fn internal(error: &dyn std::error::Error) -> Self {
        tracing::error!(%error, "admin API: internal error");
        Self::Internal(ErrorBody::new("Internal server error"))
    }

    /// A poem error (a bad parameter, an unknown route…) in the admin API's body format.
    pub fn from_poem(error: &poem::Error) -> poem::Response {
        let status = error.status();
        let title = match status {
            StatusCode::NOT_FOUND => "Not found".to_owned(),
            StatusCode::METHOD_NOT_ALLOWED => "Method not allowed".to_owned(),
            StatusCode::UNAUTHORIZED => UNAUTHORIZED.to_owned(),
            _ if status.is_server_error() => {
                tracing::error!(%error, "admin API: internal error");
                "Internal server error".to_owned()
            }
            _ => error.to_string(),
        };
        poem::IntoResponse::into_response(poem::IntoResponse::with_status(
            ErrorBody::new(title),
            status,
        ))
    }
}

impl From<StoreError> for AdminError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict(what) => Self::conflict(format!("{what} already exists")),
            other => Self::internal(&other),
        }
    }
}

impl From<AccountError> for AdminError {
    fn from(error: AccountError) -> Self {
        match error {
            AccountError::UnknownUser(_)
            | AccountError::UnknownEmail(_)
            | AccountError::UnknownCompatSession(_) => Self::not_found(error.to_string()),
            AccountError::UsernameTaken(_) | AccountError::DuplicateEmail(_) => {
                Self::conflict(error.to_string())
            }
            AccountError::InvalidUsername(_)
            | AccountError::InvalidEmail(_)
            | AccountError::InvalidDeviceId(_)
            | AccountError::InvalidScope(_)
            | AccountError::NoScope
            | AccountError::AdminScopeNotAllowed(_) => Self::unprocessable(error.to_string()),
            AccountError::Password(PasswordError::TooWeak { .. }) => {
                Self::unprocessable(error.to_string())
            }
            AccountError::Store(store) => store.into(),
            other => Self::internal(&other),
        }
    }
}
