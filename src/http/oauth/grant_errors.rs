//! How the grant services' refusals ([`GrantError`]) are answered: one RFC 6749 / RFC 8628
//! error code each. Store failures are logged once and answered `server_error`.

use super::OAuthError;
use crate::services::oauth2_sessions::GrantError;

impl From<GrantError> for OAuthError {
    fn from(error: GrantError) -> Self {
        let description = error.to_string();
        match error {
            GrantError::InvalidGrant(_)
            | GrantError::CodeReplayed
            | GrantError::RefreshReplayed => OAuthError::invalid_grant(description),
            GrantError::InvalidRequest(_) => OAuthError::invalid_request(description),
            GrantError::UnauthorizedClient(_) => OAuthError::unauthorized_client(description),
            GrantError::InvalidScope(_) => OAuthError::invalid_scope(description),
            GrantError::AuthorizationPending => OAuthError::authorization_pending(description),
            GrantError::SlowDown => OAuthError::slow_down(description),
            GrantError::ExpiredToken => OAuthError::expired_token(description),
            GrantError::AccessDenied => OAuthError::access_denied(description),
            GrantError::Store(error) => OAuthError::server_error("grant: database error", &error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::oauth::OAuthErrorCode;

    #[test]
    fn each_refusal_has_its_code() {
        let cases = [
            (GrantError::InvalidGrant("x"), OAuthErrorCode::InvalidGrant),
            (GrantError::CodeReplayed, OAuthErrorCode::InvalidGrant),
            (GrantError::RefreshReplayed, OAuthErrorCode::InvalidGrant),
            (
                GrantError::InvalidRequest("x"),
                OAuthErrorCode::InvalidRequest,
            ),
            (
                GrantError::UnauthorizedClient("x"),
                OAuthErrorCode::UnauthorizedClient,
            ),
            (GrantError::InvalidScope("x"), OAuthErrorCode::InvalidScope),
            (
                GrantError::AuthorizationPending,
                OAuthErrorCode::AuthorizationPending,
            ),
            (GrantError::SlowDown, OAuthErrorCode::SlowDown),
            (GrantError::ExpiredToken, OAuthErrorCode::ExpiredToken),
            (GrantError::AccessDenied, OAuthErrorCode::AccessDenied),
            (
                GrantError::Store(crate::store::StoreError::Conflict("x")),
                OAuthErrorCode::ServerError,
            ),
        ];
        for (error, code) in cases {
            let answer = OAuthError::from(error);
            assert_eq!(answer.code, code);
            assert_eq!(
                answer.status().as_u16(),
                if code == OAuthErrorCode::ServerError {
                    500
                } else {
                    400
                }
            );
        }
    }
}
