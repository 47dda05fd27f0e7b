//! The admin API's errors: a status and `{"errors": [{"title": "…"}]}`, as MAS answers. Every
//! failure a handler can meet maps to one [`AdminError`] variant here (internal errors are
//! logged once and answered without detail); each operation answers an [`OpError`] that
//! documents only the statuses that operation can return.

use poem::http::StatusCode;
use poem_openapi::{
    ApiResponse, Object, ResponseContent,
    payload::Json,
    registry::{MetaResponse, MetaResponses, Registry},
};

use crate::{
    crypto::passwords::PasswordError, services::accounts::AccountError, store::StoreError,
};

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

/// What went wrong, whatever the operation. Handlers and their helpers return this; the
/// operation's [`OpError`] decides which of these its spec documents.
#[derive(Debug)]
pub enum AdminError {
    /// 400: a bad parameter, an invalid ID, or contradicting pagination.
    BadRequest(Json<ErrorBody>),
    /// 401: the token is refused.
    Unauthorized(Json<ErrorBody>),
    /// 404: the resource does not exist.
    NotFound(Json<ErrorBody>),
    /// 409: the request conflicts with the current state.
    Conflict(Json<ErrorBody>),
    /// 422: the request is well-formed but its content is refused.
    Unprocessable(Json<ErrorBody>),
    /// 500: details are in the log.
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
        Self::internal_without_log()
    }

    fn internal_without_log() -> Self {
        Self::Internal(ErrorBody::new("Internal server error"))
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The first title of the body.
    pub fn title(&self) -> Option<&str> {
        let (Self::BadRequest(body)
        | Self::Unauthorized(body)
        | Self::NotFound(body)
        | Self::Conflict(body)
        | Self::Unprocessable(body)
        | Self::Internal(body)) = self;
        body.0.errors.first().map(|detail| detail.title.as_str())
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

impl poem::IntoResponse for AdminError {
    fn into_response(self) -> poem::Response {
        let status = self.status();
        let (Self::BadRequest(body)
        | Self::Unauthorized(body)
        | Self::NotFound(body)
        | Self::Conflict(body)
        | Self::Unprocessable(body)
        | Self::Internal(body)) = self;
        poem::IntoResponse::into_response(poem::IntoResponse::with_status(body, status))
    }
}

/// A poem error carrying the finished answer, so the admin API's catch-all passes it on as is.
impl From<AdminError> for poem::Error {
    fn from(error: AdminError) -> Self {
        poem::Error::from_response(poem::IntoResponse::into_response(error))
    }
}

// What an operation may answer besides 401 (every operation needs a token) and 500 (every
// operation reads the database), as bits of `OpError`'s parameter.
/// 400: a parameter or the body does not parse or fails its schema, or an ID is not a ULID.
/// Every operation that takes a parameter or a body has it (poem-openapi's own parse errors).
pub const BAD_REQUEST: u16 = 1;
/// 404: a resource the request names does not exist.
pub const NOT_FOUND: u16 = 1 << 1;
/// 409: the request conflicts with the current state.
pub const CONFLICT: u16 = 1 << 2;
/// 415: the body is not of the content type the operation takes. Every operation with a body
/// has it (poem-openapi checks the content type before the handler runs).
pub const UNSUPPORTED_MEDIA_TYPE: u16 = 1 << 3;
/// 422: the request is well-formed but its content is refused.
pub const UNPROCESSABLE: u16 = 1 << 4;

/// Each status an operation may document: its bit (`None`: every operation), code and
/// description in the spec. Ascending, as the spec lists them.
const DOCUMENTED: [(Option<u16>, u16, &str); 7] = [
    (
        Some(BAD_REQUEST),
        400,
        "The request is malformed: a parameter or the body does not parse or fails its \
         schema, an ID is not a ULID, or pagination contradicts itself.",
    ),
    (
        None,
        401,
        "The bearer token is missing, unknown, expired, revoked, its user is locked, or it \
         lacks the `urn:mas:admin` scope.",
    ),
    (
        Some(NOT_FOUND),
        404,
        "A resource the request names does not exist.",
    ),
    (
        Some(CONFLICT),
        409,
        "The request conflicts with the current state (a taken name, a duplicate address, a \
         session already finished…).",
    ),
    (
        Some(UNSUPPORTED_MEDIA_TYPE),
        415,
        "The request body is not of a content type the operation takes (e.g. JSON where CSV is \
         expected, or no body at all for an operation that needs one).",
    ),
    (
        Some(UNPROCESSABLE),
        422,
        "The request is well-formed but its content is refused (an invalid username, a weak \
         password…).",
    ),
    (
        None,
        500,
        "Something failed on the server; details are in its log.",
    ),
];

/// The error of one operation: an [`AdminError`], documented in the spec as 401, 500 and the
/// statuses whose bits are in `STATUSES` (`OpError<{ BAD_REQUEST | NOT_FOUND }>`). The spec is
/// the contract: an error of a status the operation does not document (a unique-constraint
/// conflict where none is expected, say) is logged and answered as a 500.
#[derive(Debug)]
pub struct OpError<const STATUSES: u16 = 0>(AdminError);

impl<const STATUSES: u16> OpError<STATUSES> {
    /// Whether this operation documents `status`.
    fn documents(status: u16) -> bool {
        DOCUMENTED
            .iter()
            .any(|(bit, code, _)| *code == status && bit.is_none_or(|bit| STATUSES & bit != 0))
    }

    pub fn into_inner(self) -> AdminError {
        self.0
    }
}

impl<const STATUSES: u16> From<AdminError> for OpError<STATUSES> {
    fn from(error: AdminError) -> Self {
        let status = error.status().as_u16();
        if Self::documents(status) {
            return Self(error);
        }
        tracing::error!(
            status,
            title = error.title().unwrap_or_default(),
            "admin API: the operation does not document this status; answering 500"
        );
        Self(AdminError::internal_without_log())
    }
}

impl<const STATUSES: u16> From<StoreError> for OpError<STATUSES> {
    fn from(error: StoreError) -> Self {
        AdminError::from(error).into()
    }
}

impl<const STATUSES: u16> From<AccountError> for OpError<STATUSES> {
    fn from(error: AccountError) -> Self {
        AdminError::from(error).into()
    }
}

impl<const STATUSES: u16> poem::IntoResponse for OpError<STATUSES> {
    fn into_response(self) -> poem::Response {
        self.0.into_response()
    }
}

impl<const STATUSES: u16> From<OpError<STATUSES>> for poem::Error {
    fn from(error: OpError<STATUSES>) -> Self {
        error.0.into()
    }
}

impl<const STATUSES: u16> ApiResponse for OpError<STATUSES> {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: DOCUMENTED
                .iter()
                .filter(|(_, code, _)| Self::documents(*code))
                .map(|(_, code, description)| MetaResponse {
                    description,
                    status: Some(*code),
                    status_range: None,
                    content: <Json<ErrorBody> as ResponseContent>::media_types(),
                    headers: Vec::new(),
                })
                .collect(),
        }
    }

    fn register(registry: &mut Registry) {
        <Json<ErrorBody> as ResponseContent>::register(registry);
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
            | AccountError::UnknownUserId(_)
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
