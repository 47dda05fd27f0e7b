//! `GET|POST /oauth2/userinfo` (OIDC Core §5.3): who the bearer of an OAuth 2.0 access token
//! with the `openid` scope is. `sub` always; the email address with the `email` scope.
//! Failures are RFC 6750 §3 challenges: `invalid_token` (401) for a token that is not an
//! active OAuth access token of a user, `insufficient_scope` (403) without `openid`.

use poem::{
    IntoResponse, Request, Response, handler,
    http::{StatusCode, header},
    web::{Data, Json},
};
use serde_json::json;

use crate::{
    domain::{
        scopes::{EMAIL, OPENID},
        tokens::TokenType,
    },
    http::{AppState, client_ip::client_ip},
};

fn challenge(status: StatusCode, error: &str, description: &str) -> Response {
    let value = format!(r#"Bearer error="{error}", error_description="{description}""#);
    Response::builder()
        .status(status)
        .header(header::WWW_AUTHENTICATE, value)
        .header(header::CACHE_CONTROL, "no-store")
        .content_type("application/json")
        .body(json!({"error": error, "error_description": description}).to_string())
}

fn invalid_token() -> Response {
    challenge(
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        "the access token is missing, unknown, expired or revoked",
    )
}

#[handler]
pub async fn userinfo(req: &Request, Data(state): Data<&AppState>) -> Response {
    let Some(token) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
    else {
        return invalid_token();
    };
    let now = state.clock.now();
    let resolved = match state.token_cache.resolve(&state.store, token, now).await {
        Ok(Some(resolved)) => resolved,
        Ok(None) => return invalid_token(),
        Err(error) => {
            tracing::error!(%error, "userinfo: token lookup failed");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let active = &resolved.token;
    // Compat and personal tokens are not OpenID Connect tokens; a client's own token has no
    // user to describe.
    let Some(user) = active
        .user
        .as_ref()
        .filter(|_| active.token_type == TokenType::AccessToken)
    else {
        return invalid_token();
    };
    if !active.scope.contains(OPENID) {
        return challenge(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "the access token lacks the openid scope",
        );
    }
    if resolved.use_worth_noting(now) {
        state
            .activity
            .token_used(active, now, client_ip(req, &state.trusted_proxies));
    }
    let mut claims = json!({ "sub": user.id.to_string() });
    if active.scope.contains(EMAIL) {
        let emails = match state.store.reader().await {
            Ok(mut reader) => reader.emails().list_for_user(user.id).await,
            Err(error) => Err(error),
        };
        match emails {
            Ok(emails) => {
                if let Some(first) = emails.first() {
                    claims["email"] = json!(first.email);
                    // Gatehouse stores only addresses that were verified (or imported as such).
                    claims["email_verified"] = json!(true);
                }
            }
            Err(error) => {
                tracing::error!(%error, "userinfo: could not read the user's emails");
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            }
        }
    }
    Json(claims)
        .with_header(header::CACHE_CONTROL, "no-store")
        .into_response()
}
