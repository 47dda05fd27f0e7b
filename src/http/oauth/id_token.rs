//! OpenID Connect ID tokens (OIDC Core §2): who signed in, for which client, signed with the
//! configured keys in the algorithm the client registered (`id_token_signed_response_alg`,
//! RS256 when it did not say). `at_hash` and `c_hash` (§3.3.2.11) bind the token to the
//! access token and code issued with it.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256, Sha384};
use ulid::Ulid;

use super::OAuthError;
use crate::{
    crypto::jwt::{self, DEFAULT_ALGORITHM},
    domain::{oauth2_clients::OAuth2Client, users::User},
    http::AppState,
};

/// How long an ID token is valid. It is read once, right after the token response.
const ID_TOKEN_LIFETIME: Duration = Duration::hours(1);

/// What an ID token states.
#[derive(Debug, Clone, Copy)]
pub struct IdTokenFacts<'a> {
    pub user: &'a User,
    pub client: &'a OAuth2Client,
    pub nonce: Option<&'a str>,
    /// When the person signed in (the browser session's start).
    pub auth_time: Option<DateTime<Utc>>,
    /// The access token issued with it, for `at_hash`.
    pub access_token: Option<&'a str>,
    /// The authorization code issued with it (hybrid flow), for `c_hash`.
    pub code: Option<&'a str>,
    /// The browser session, as `sid`.
    pub browser_session_id: Option<Ulid>,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: String,
    aud: String,
    iat: i64,
    exp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    at_hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    c_hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sid: Option<String>,
}

/// The algorithm the client's ID tokens are signed with.
pub fn algorithm_for(client: &OAuth2Client) -> &str {
    client
        .metadata
        .id_token_signed_response_alg
        .as_deref()
        .unwrap_or(DEFAULT_ALGORITHM)
}

/// Sign an ID token for `facts`.
pub fn sign_id_token(state: &AppState, facts: &IdTokenFacts<'_>) -> Result<String, OAuthError> {
    let alg = algorithm_for(facts.client);
    let now = state.clock.now();
    let issuer = state.config.http.issuer();
    let claims = Claims {
        iss: issuer.as_str(),
        sub: facts.user.id.to_string(),
        aud: facts.client.id.to_string(),
        iat: now.timestamp(),
        exp: (now + ID_TOKEN_LIFETIME).timestamp(),
        auth_time: facts.auth_time.map(|at| at.timestamp()),
        nonce: facts.nonce,
        at_hash: facts.access_token.map(|token| half_hash(alg, token)),
        c_hash: facts.code.map(|code| half_hash(alg, code)),
        sid: facts.browser_session_id.map(|id| id.to_string()),
    };
    jwt::sign(&state.keystore, Some(alg), &claims)
        .map_err(|error| OAuthError::server_error("ID token: signing failed", &error))
}

/// OIDC Core §3.1.3.6: the base64url of the left half of the value's hash, with the hash of
/// the signing algorithm (SHA-384 for the 384-bit algorithms, else SHA-256).
fn half_hash(alg: &str, value: &str) -> String {
    let digest: Vec<u8> = if alg.ends_with("384") {
        Sha384::digest(value.as_bytes()).to_vec()
    } else {
        Sha256::digest(value.as_bytes()).to_vec()
    };
    URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_hash_matches_the_oidc_example() {
        // OIDC Core §A.4: the code of the `code id_token` example and its c_hash (RS256).
        let code = "Qcb0Orv1zh30vL1MPRsbm-diHiMwcLyZvn1arpZv-Jxf_11jnpEX3Tgfvk";
        assert_eq!(half_hash("RS256", code), "LDktKdoQak3Pk0cnXxCltA");
    }

    #[test]
    fn the_384_bit_algorithms_hash_with_sha384() {
        let sha256 = half_hash("ES256", "code");
        let sha384 = half_hash("ES384", "code");
        assert_eq!(URL_SAFE_NO_PAD.decode(sha256).map(|v| v.len()), Ok(16));
        assert_eq!(URL_SAFE_NO_PAD.decode(sha384).map(|v| v.len()), Ok(24));
    }
}
