//! Matrix error bodies (`{"errcode": …, "error": …}`) for the Matrix-facing endpoints.

use poem::{IntoResponse, Response, http::StatusCode};
use serde_json::json;

#[derive(Debug, Clone)]
pub struct MatrixError {
    pub status: StatusCode,
    pub errcode: &'static str,
    pub error: String,
    pub retry_after_ms: Option<u64>,
    pub soft_logout: Option<bool>,
}

impl MatrixError {
    pub fn new(status: StatusCode, errcode: &'static str, error: impl Into<String>) -> Self {
        Self {
            status,
            errcode,
            error: error.into(),
            retry_after_ms: None,
            soft_logout: None,
        }
    }

    pub fn forbidden(error: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "M_FORBIDDEN", error)
    }

    pub fn bad_json(error: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "M_BAD_JSON", error)
    }

    pub fn not_json() -> Self {
        Self::new(StatusCode::BAD_REQUEST, "M_NOT_JSON", "Content not JSON.")
    }

    pub fn unknown_token(error: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "M_UNKNOWN_TOKEN", error)
    }

    pub fn missing_token() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "M_MISSING_TOKEN",
            "Missing access token.",
        )
    }

    pub fn unknown(error: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "M_UNKNOWN", error)
    }

    pub fn limit_exceeded(retry_after_ms: u64) -> Self {
        Self {
            retry_after_ms: Some(retry_after_ms),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "M_LIMIT_EXCEEDED",
                "Too many requests.",
            )
        }
    }

    /// An internal failure: logged once here with its cause, answered without detail.
    pub fn internal(context: &str, cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(%cause, "{context}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "M_UNKNOWN",
            "Internal server error.",
        )
    }
}

impl std::fmt::Display for MatrixError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.errcode, self.error)
    }
}

impl std::error::Error for MatrixError {}

impl poem::error::ResponseError for MatrixError {
    fn status(&self) -> StatusCode {
        self.status
    }

    fn as_response(&self) -> Response {
        self.clone().into_response()
    }
}

impl IntoResponse for MatrixError {
    fn into_response(self) -> Response {
        let mut body = json!({ "errcode": self.errcode, "error": self.error });
        if let Some(retry) = self.retry_after_ms {
            body["retry_after_ms"] = json!(retry);
        }
        if let Some(soft_logout) = self.soft_logout {
            body["soft_logout"] = json!(soft_logout);
        }
        let mut response = poem::web::Json(body)
            .with_status(self.status)
            .into_response();
        if let Some(retry) = self.retry_after_ms {
            let seconds = retry.div_ceil(1000).to_string();
            if let Ok(value) = seconds.parse() {
                response
                    .headers_mut()
                    .insert(poem::http::header::RETRY_AFTER, value);
            }
        }
        response
    }
}

impl From<crate::store::StoreError> for MatrixError {
    fn from(error: crate::store::StoreError) -> Self {
        MatrixError::internal("storage error", &error)
    }
}
