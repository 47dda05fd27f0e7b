//! OAuth 2.0 errors: the codes of RFC 6749 and the specs around it ([`OAuthErrorCode`]), and
//! [`OAuthError`], answered as the RFC 6749 §5.2 JSON body by the back-channel endpoints, or
//! sent to the client's redirect URI by `/authorize` (see [`super::authorization_response`]).

use std::{borrow::Cow, fmt};

use poem::{
    IntoResponse, Response,
    http::{HeaderValue, StatusCode, header},
};
use serde::Serialize;

/// The realm of the `Basic` challenge sent with `invalid_client`.
const BASIC_CHALLENGE: &str = "Basic realm=\"gatehouse\", charset=\"UTF-8\"";

/// An `error` code, with the spec that defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OAuthErrorCode {
    // RFC 6749 §4.1.2.1 and §5.2.
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
    AccessDenied,
    UnsupportedResponseType,
    ServerError,
    TemporarilyUnavailable,
    // OpenID Connect Core 1.0 §3.1.2.6.
    InteractionRequired,
    LoginRequired,
    AccountSelectionRequired,
    ConsentRequired,
    InvalidRequestUri,
    InvalidRequestObject,
    RequestNotSupported,
    RequestUriNotSupported,
    RegistrationNotSupported,
    // RFC 7591 §3.2.2.
    InvalidRedirectUri,
    InvalidClientMetadata,
    InvalidSoftwareStatement,
    UnapprovedSoftwareStatement,
    // RFC 8628 §3.5.
    AuthorizationPending,
    SlowDown,
    ExpiredToken,
    // RFC 7009 §2.2.1.
    UnsupportedTokenType,
}

impl OAuthErrorCode {
    pub const ALL: [Self; 27] = [
        Self::InvalidRequest,
        Self::InvalidClient,
        Self::InvalidGrant,
        Self::UnauthorizedClient,
        Self::UnsupportedGrantType,
        Self::InvalidScope,
        Self::AccessDenied,
        Self::UnsupportedResponseType,
        Self::ServerError,
        Self::TemporarilyUnavailable,
        Self::InteractionRequired,
        Self::LoginRequired,
        Self::AccountSelectionRequired,
        Self::ConsentRequired,
        Self::InvalidRequestUri,
        Self::InvalidRequestObject,
        Self::RequestNotSupported,
        Self::RequestUriNotSupported,
        Self::RegistrationNotSupported,
        Self::InvalidRedirectUri,
        Self::InvalidClientMetadata,
        Self::InvalidSoftwareStatement,
        Self::UnapprovedSoftwareStatement,
        Self::AuthorizationPending,
        Self::SlowDown,
        Self::ExpiredToken,
        Self::UnsupportedTokenType,
    ];

    /// The `error` value on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::InteractionRequired => "interaction_required",
            Self::LoginRequired => "login_required",
            Self::AccountSelectionRequired => "account_selection_required",
            Self::ConsentRequired => "consent_required",
            Self::InvalidRequestUri => "invalid_request_uri",
            Self::InvalidRequestObject => "invalid_request_object",
            Self::RequestNotSupported => "request_not_supported",
            Self::RequestUriNotSupported => "request_uri_not_supported",
            Self::RegistrationNotSupported => "registration_not_supported",
            Self::InvalidRedirectUri => "invalid_redirect_uri",
            Self::InvalidClientMetadata => "invalid_client_metadata",
            Self::InvalidSoftwareStatement => "invalid_software_statement",
            Self::UnapprovedSoftwareStatement => "unapproved_software_statement",
            Self::AuthorizationPending => "authorization_pending",
            Self::SlowDown => "slow_down",
            Self::ExpiredToken => "expired_token",
            Self::UnsupportedTokenType => "unsupported_token_type",
        }
    }

    /// The status of a JSON error answer with this code. RFC 6749 §5.2: 400 but for
    /// `invalid_client` (401, with a challenge); `server_error` and `temporarily_unavailable`
    /// exist as codes because a redirect cannot carry a 500 or 503, but a JSON answer can.
    pub fn status(self) -> StatusCode {
        match self {
            Self::InvalidClient => StatusCode::UNAUTHORIZED,
            Self::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            Self::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl fmt::Display for OAuthErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An OAuth 2.0 error: a code, an optional description for the client's developer (never
/// internal detail) and an optional `error_uri`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub code: OAuthErrorCode,
    pub description: Option<String>,
    pub uri: Option<String>,
}

macro_rules! constructors {
    ($($(#[$doc:meta])* $name:ident => $code:ident,)*) => {
        $(
            $(#[$doc])*
            pub fn $name(description: impl Into<String>) -> Self {
                Self::new(OAuthErrorCode::$code).with_description(description)
            }
        )*
    };
}

impl OAuthError {
    /// An error with no description.
    pub fn new(code: OAuthErrorCode) -> Self {
        Self {
            code,
            description: None,
            uri: None,
        }
    }

    #[must_use]
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// `error_uri`: a page about the error for the client's developer.
    #[must_use]
    pub fn with_uri(mut self, uri: impl Into<String>) -> Self {
        self.uri = Some(uri.into());
        self
    }

    constructors! {
        invalid_request => InvalidRequest,
        /// Answered 401 with a `Basic` challenge: RFC 6749 §5.2 requires it when the client
        /// used the Authorization header, and a 401 always carries one (RFC 9110 §15.5.2).
        invalid_client => InvalidClient,
        invalid_grant => InvalidGrant,
        unauthorized_client => UnauthorizedClient,
        unsupported_grant_type => UnsupportedGrantType,
        invalid_scope => InvalidScope,
        access_denied => AccessDenied,
        unsupported_response_type => UnsupportedResponseType,
        temporarily_unavailable => TemporarilyUnavailable,
        interaction_required => InteractionRequired,
        login_required => LoginRequired,
        account_selection_required => AccountSelectionRequired,
        consent_required => ConsentRequired,
        invalid_request_uri => InvalidRequestUri,
        invalid_request_object => InvalidRequestObject,
        request_not_supported => RequestNotSupported,
        request_uri_not_supported => RequestUriNotSupported,
        registration_not_supported => RegistrationNotSupported,
        invalid_redirect_uri => InvalidRedirectUri,
        invalid_client_metadata => InvalidClientMetadata,
        invalid_software_statement => InvalidSoftwareStatement,
        unapproved_software_statement => UnapprovedSoftwareStatement,
        authorization_pending => AuthorizationPending,
        slow_down => SlowDown,
        expired_token => ExpiredToken,
        unsupported_token_type => UnsupportedTokenType,
    }

    /// A `server_error`: the cause is logged here, once, and the client learns nothing of it.
    pub fn server_error(context: &str, cause: &dyn fmt::Display) -> Self {
        tracing::error!(%cause, "{context}");
        Self::new(OAuthErrorCode::ServerError).with_description("internal server error")
    }

    pub fn status(&self) -> StatusCode {
        self.code.status()
    }

    /// This error answered 429 with `Retry-After` (whole seconds, at least one): for a client
    /// over a rate limit.
    pub fn too_many_requests(self, retry_after: std::time::Duration) -> Response {
        let mut response = self.into_response();
        response.set_status(StatusCode::TOO_MANY_REQUESTS);
        let seconds = retry_after.as_secs_f64().ceil().max(1.0).to_string();
        if let Ok(value) = HeaderValue::from_str(&seconds) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }

    /// The `error_description` as sent: RFC 6749 §5.2 allows only `%x20-21 / %x23-5B /
    /// %x5D-7E`, so a double quote becomes a single one and anything else outside is `?`.
    pub fn wire_description(&self) -> Option<Cow<'_, str>> {
        self.description.as_deref().map(wire_text)
    }

    /// The `error_uri` as sent: RFC 6749 §5.2 allows `%x21 / %x23-5B / %x5D-7E`.
    pub fn wire_uri(&self) -> Option<Cow<'_, str>> {
        self.uri.as_deref().map(wire_text)
    }

    /// The parameters of this error in an authorization response (RFC 6749 §4.1.2.1), in order.
    pub fn response_parameters(&self) -> Vec<(&'static str, String)> {
        let mut params = vec![("error", self.code.as_str().to_owned())];
        if let Some(description) = self.wire_description() {
            params.push(("error_description", description.into_owned()));
        }
        if let Some(uri) = self.wire_uri() {
            params.push(("error_uri", uri.into_owned()));
        }
        params
    }
}

fn wire_text(text: &str) -> Cow<'_, str> {
    let allowed = |c: char| matches!(c, '\x20'..='\x21' | '\x23'..='\x5B' | '\x5D'..='\x7E');
    if text.chars().all(allowed) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| match c {
                '"' => '\'',
                c if allowed(c) => c,
                _ => '?',
            })
            .collect(),
    )
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.description {
            Some(description) => write!(f, "{}: {description}", self.code),
            None => write!(f, "{}", self.code),
        }
    }
}

impl std::error::Error for OAuthError {}

impl poem::error::ResponseError for OAuthError {
    fn status(&self) -> StatusCode {
        self.code.status()
    }

    fn as_response(&self) -> Response {
        self.clone().into_response()
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_description: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_uri: Option<Cow<'a, str>>,
}

/// The RFC 6749 §5.2 JSON answer.
impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.code.as_str(),
            error_description: self.wire_description(),
            error_uri: self.wire_uri(),
        };
        let body = serde_json::to_vec(&body).unwrap_or_else(|_| {
            // Unreachable (strings only), but never a panic on an error path.
            br#"{"error":"server_error"}"#.to_vec()
        });
        let mut response = Response::builder()
            .status(self.code.status())
            .content_type("application/json")
            // RFC 6749 §5.1/§5.2: token endpoint answers are never cached.
            .header(header::CACHE_CONTROL, "no-store")
            .header(header::PRAGMA, "no-cache")
            .body(body);
        if self.code == OAuthErrorCode::InvalidClient {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(BASIC_CHALLENGE),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_its_name_and_status() {
        let expected = [
            ("invalid_request", 400),
            ("invalid_client", 401),
            ("invalid_grant", 400),
            ("unauthorized_client", 400),
            ("unsupported_grant_type", 400),
            ("invalid_scope", 400),
            ("access_denied", 400),
            ("unsupported_response_type", 400),
            ("server_error", 500),
            ("temporarily_unavailable", 503),
            ("interaction_required", 400),
            ("login_required", 400),
            ("account_selection_required", 400),
            ("consent_required", 400),
            ("invalid_request_uri", 400),
            ("invalid_request_object", 400),
            ("request_not_supported", 400),
            ("request_uri_not_supported", 400),
            ("registration_not_supported", 400),
            ("invalid_redirect_uri", 400),
            ("invalid_client_metadata", 400),
            ("invalid_software_statement", 400),
            ("unapproved_software_statement", 400),
            ("authorization_pending", 400),
            ("slow_down", 400),
            ("expired_token", 400),
            ("unsupported_token_type", 400),
        ];
        assert_eq!(OAuthErrorCode::ALL.len(), expected.len());
        for (code, (name, status)) in OAuthErrorCode::ALL.into_iter().zip(expected) {
            assert_eq!(code.as_str(), name);
            assert_eq!(code.status().as_u16(), status, "{name}");
            assert_eq!(code.to_string(), name);
        }
        let mut names: Vec<_> = OAuthErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), OAuthErrorCode::ALL.len(), "no name twice");
    }

    #[test]
    fn constructors_keep_their_names() {
        // The names other modules (client authentication, introspection) call.
        assert_eq!(
            OAuthError::invalid_client("x").code,
            OAuthErrorCode::InvalidClient
        );
        assert_eq!(
            OAuthError::invalid_request("x").code,
            OAuthErrorCode::InvalidRequest
        );
        assert_eq!(
            OAuthError::invalid_grant("x").code,
            OAuthErrorCode::InvalidGrant
        );
        assert_eq!(
            OAuthError::access_denied("x").description.as_deref(),
            Some("x")
        );
        assert_eq!(OAuthError::slow_down("x").code, OAuthErrorCode::SlowDown);
        let internal = OAuthError::server_error("context", &"secret detail");
        assert_eq!(internal.code, OAuthErrorCode::ServerError);
        assert!(
            !internal.to_string().contains("secret detail"),
            "the cause is logged, not answered"
        );
    }

    async fn answer(error: OAuthError) -> (Response, serde_json::Value) {
        let mut response = error.into_response();
        let body = response.take_body().into_vec().await.expect("body");
        let json = serde_json::from_slice(&body).expect("JSON body");
        (response, json)
    }

    #[tokio::test]
    async fn json_answer_shape_and_headers() {
        let (response, body) = answer(OAuthError::invalid_grant("code already used")).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            body,
            serde_json::json!({"error": "invalid_grant", "error_description": "code already used"})
        );
        let headers = response.headers();
        assert_eq!(headers[header::CACHE_CONTROL], "no-store");
        assert_eq!(headers[header::PRAGMA], "no-cache");
        assert_eq!(headers[header::CONTENT_TYPE], "application/json");
        assert!(headers.get(header::WWW_AUTHENTICATE).is_none());

        let (response, body) = answer(
            OAuthError::new(OAuthErrorCode::TemporarilyUnavailable)
                .with_uri("https://docs.example.org/errors#busy"),
        )
        .await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            body,
            serde_json::json!({"error": "temporarily_unavailable", "error_uri": "https://docs.example.org/errors#busy"}),
            "absent fields are left out, not null"
        );
    }

    #[tokio::test]
    async fn invalid_client_challenges_with_basic() {
        let (response, body) = answer(OAuthError::invalid_client("unknown client")).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let challenge = response.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .expect("ASCII");
        assert!(challenge.starts_with("Basic realm=\""), "{challenge}");
        assert_eq!(body["error"], "invalid_client");
    }

    #[tokio::test]
    async fn descriptions_keep_to_the_rfc_charset() {
        let error = OAuthError::invalid_scope("unknown scope \"caf\u{e9}\"\\\n");
        assert_eq!(
            error.wire_description().as_deref(),
            Some("unknown scope 'caf?'??")
        );
        let (_, body) = answer(error).await;
        assert_eq!(body["error_description"], "unknown scope 'caf?'??");
        let plain = OAuthError::invalid_request("expected a form with a `token` parameter");
        assert!(matches!(plain.wire_description(), Some(Cow::Borrowed(_))));
    }
}
