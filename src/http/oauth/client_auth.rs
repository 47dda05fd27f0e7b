//! OAuth 2.0 client authentication at the back-channel endpoints (RFC 6749 §2.3): `none` (a
//! public client names itself), `client_secret_basic`, `client_secret_post`, and the JWT
//! assertions of RFC 7523 §2.2 / OIDC Core §9, `client_secret_jwt` and `private_key_jwt`.
//! A client must use the method it is registered with, and exactly one.

use chrono::{DateTime, Duration, Utc};
use poem::http::{HeaderMap, header};
use serde::Deserialize;
use serde_json::{Map, Value};
use subtle::ConstantTimeEq;
use ulid::Ulid;

use super::OAuthError;
use crate::{
    crypto::jwt::{self, JwtError, PublicKeySet, VerifiedJwt},
    domain::oauth2_clients::{OAuth2Client, TokenEndpointAuthMethod},
    http::AppState,
};

/// RFC 7523 §2.2: the only `client_assertion_type` there is.
pub const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// How far the client's clock may be off from ours, for `exp`, `nbf` and `iat`.
const CLOCK_LEEWAY: Duration = Duration::seconds(30);
/// An assertion issued longer ago than this is refused whatever its `exp` says.
const MAX_ASSERTION_AGE: Duration = Duration::hours(1);
/// An assertion valid for longer than this from now is refused: its `jti` would have to be
/// remembered that long (RFC 7523 §3 lets the server bound it).
const MAX_ASSERTION_LIFETIME: Duration = Duration::hours(1);
/// The longest `jti` accepted.
const MAX_JTI_LEN: usize = 256;

/// The client authentication parameters of a back-channel request's form body.
#[derive(Default, Clone, Deserialize)]
pub struct ClientCredentialsForm {
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub client_secret: Option<String>,
    #[serde(default)]
    pub client_assertion_type: Option<String>,
    #[serde(default)]
    pub client_assertion: Option<String>,
}

impl std::fmt::Debug for ClientCredentialsForm {
    // The secret and the assertion (a bearer credential until it expires) stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::domain::redact::RedactedOption;
        f.debug_struct("ClientCredentialsForm")
            .field("client_id", &self.client_id)
            .field("client_secret", &RedactedOption(&self.client_secret))
            .field("client_assertion_type", &self.client_assertion_type)
            .field("client_assertion", &RedactedOption(&self.client_assertion))
            .finish()
    }
}

/// A client that proved who it is, and how.
#[derive(Debug, Clone)]
pub struct AuthenticatedClient {
    pub client: OAuth2Client,
    pub method: TokenEndpointAuthMethod,
}

/// What the request presents, before anything is checked.
enum Presented {
    /// Only a `client_id`: a public client.
    ClientId,
    Basic {
        secret: String,
    },
    Post {
        secret: String,
    },
    Assertion {
        jwt: String,
    },
}

impl Presented {
    fn describe(&self) -> &'static str {
        match self {
            Self::ClientId => "none",
            Self::Basic { .. } => "client_secret_basic",
            Self::Post { .. } => "client_secret_post",
            Self::Assertion { .. } => "a JWT assertion",
        }
    }

    fn fits(&self, method: TokenEndpointAuthMethod) -> bool {
        use TokenEndpointAuthMethod as M;
        matches!(
            (self, method),
            (Self::ClientId, M::None)
                | (Self::Basic { .. }, M::ClientSecretBasic)
                | (Self::Post { .. }, M::ClientSecretPost)
                | (
                    Self::Assertion { .. },
                    M::ClientSecretJwt | M::PrivateKeyJwt
                )
        )
    }
}

/// Authenticate the client of a back-channel request from its `Authorization` header and form
/// parameters. Failures are `invalid_client` (401 with a `Basic` challenge), but for requests
/// that present several methods or malformed parameters, which are `invalid_request`.
pub async fn authenticate_client(
    state: &AppState,
    headers: &HeaderMap,
    form: &ClientCredentialsForm,
) -> Result<AuthenticatedClient, OAuthError> {
    let (client_id, presented) = presented_credentials(headers, form)?;
    let client = find_client(state, &client_id).await?;
    // RFC 7591 §2: a registration that does not say means `client_secret_basic`.
    let method = client
        .token_endpoint_auth_method
        .unwrap_or(TokenEndpointAuthMethod::ClientSecretBasic);
    if !presented.fits(method) {
        return Err(OAuthError::invalid_client(format!(
            "the client is not registered for {}",
            presented.describe()
        )));
    }
    match presented {
        Presented::ClientId => {}
        Presented::Basic { secret } | Presented::Post { secret } => {
            let stored = stored_secret(state, &client)?;
            if !secrets_match(&stored, &secret) {
                return Err(OAuthError::invalid_client("client authentication failed"));
            }
        }
        Presented::Assertion { jwt } => {
            let verified = verify_assertion(state, &client, method, &jwt).await?;
            let audiences = accepted_audiences(state);
            let (jti, expires_at) = check_assertion_claims(
                &verified.claims,
                &client.id.to_string(),
                &audiences,
                state.clock.now(),
            )?;
            record_jti(state, client.id, &jti, expires_at).await?;
        }
    }
    Ok(AuthenticatedClient { client, method })
}

/// The client id and the one method the request presents. RFC 6749 §2.3: a client uses one
/// method per request.
fn presented_credentials(
    headers: &HeaderMap,
    form: &ClientCredentialsForm,
) -> Result<(String, Presented), OAuthError> {
    let basic = match headers.get(header::AUTHORIZATION) {
        None => None,
        Some(value) => {
            let value = value
                .to_str()
                .map_err(|_| OAuthError::invalid_client("malformed Authorization header"))?;
            match value.split_once(' ') {
                Some((scheme, credentials)) if scheme.eq_ignore_ascii_case("basic") => {
                    Some(basic_credentials(credentials)?)
                }
                _ => {
                    return Err(OAuthError::invalid_client(
                        "unsupported Authorization scheme",
                    ));
                }
            }
        }
    };
    let assertion = match (&form.client_assertion_type, &form.client_assertion) {
        (None, None) => None,
        (Some(kind), Some(jwt)) if kind == JWT_BEARER_ASSERTION => Some(jwt.clone()),
        (Some(_), Some(_)) => {
            return Err(OAuthError::invalid_request(format!(
                "client_assertion_type must be {JWT_BEARER_ASSERTION}"
            )));
        }
        _ => {
            return Err(OAuthError::invalid_request(
                "client_assertion and client_assertion_type go together",
            ));
        }
    };
    let count = usize::from(basic.is_some())
        + usize::from(form.client_secret.is_some())
        + usize::from(assertion.is_some());
    if count > 1 {
        return Err(OAuthError::invalid_request(
            "use exactly one client authentication method",
        ));
    }
    let form_id = form.client_id.as_deref();
    let same_id = |id: &str| form_id.is_none_or(|form_id| form_id == id);
    if let Some((id, secret)) = basic {
        if !same_id(&id) {
            return Err(OAuthError::invalid_request(
                "client_id does not match the Authorization header",
            ));
        }
        return Ok((id, Presented::Basic { secret }));
    }
    if let Some(jwt) = assertion {
        // RFC 7523 §3: `sub` is the client id. Unverified here: it only says which client's
        // keys to verify the assertion with.
        let claims = jwt::unverified_claims(&jwt).map_err(assertion_error)?;
        let Some(id) = claims.get("sub").and_then(Value::as_str) else {
            return Err(OAuthError::invalid_client("the assertion has no `sub`"));
        };
        if !same_id(id) {
            return Err(OAuthError::invalid_request(
                "client_id does not match the assertion's `sub`",
            ));
        }
        return Ok((id.to_owned(), Presented::Assertion { jwt }));
    }
    let Some(id) = form_id else {
        return Err(OAuthError::invalid_client(
            "client authentication is required",
        ));
    };
    Ok(match &form.client_secret {
        Some(secret) => (
            id.to_owned(),
            Presented::Post {
                secret: secret.clone(),
            },
        ),
        None => (id.to_owned(), Presented::ClientId),
    })
}

/// RFC 6749 §2.3.1: `base64(urlencode(id) ":" urlencode(secret))`.
fn basic_credentials(encoded: &str) -> Result<(String, String), OAuthError> {
    use base64::Engine as _;
    let bad = || OAuthError::invalid_client("malformed Basic credentials");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| bad())?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(bad)?;
    Ok((
        form_urldecode(id).ok_or_else(bad)?,
        form_urldecode(secret).ok_or_else(bad)?,
    ))
}

/// `application/x-www-form-urlencoded` decoding of one value: `+` is a space, `%XX` a byte.
/// Any other byte, `&` and `=` included, stands for itself.
fn form_urldecode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        match byte {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

async fn find_client(state: &AppState, client_id: &str) -> Result<OAuth2Client, OAuthError> {
    let unknown = || OAuthError::invalid_client("client authentication failed");
    let Ok(id) = Ulid::from_string(client_id) else {
        return Err(unknown());
    };
    let mut reader =
        state.store.reader().await.map_err(|e| {
            OAuthError::server_error("client authentication: database unavailable", &e)
        })?;
    reader
        .oauth2_clients()
        .find(id)
        .await
        .map_err(|e| OAuthError::server_error("client authentication: client lookup failed", &e))?
        .ok_or_else(unknown)
}

fn stored_secret(state: &AppState, client: &OAuth2Client) -> Result<String, OAuthError> {
    let failed = || OAuthError::invalid_client("client authentication failed");
    let encrypted = client
        .encrypted_client_secret
        .as_deref()
        .ok_or_else(failed)?;
    state.encrypter.decrypt_str(encrypted).map_err(|_| {
        // `secrets.encryption` changed since the secret was stored: the admin must act.
        tracing::error!(client_id = %client.id, "cannot decrypt the stored client secret");
        failed()
    })
}

/// Constant-time comparison; hashing first hides the length too.
fn secrets_match(stored: &str, presented: &str) -> bool {
    let stored = crate::crypto::sha256(stored);
    let presented = crate::crypto::sha256(presented);
    bool::from(stored.ct_eq(&presented))
}

fn assertion_error(error: JwtError) -> OAuthError {
    OAuthError::invalid_client(format!("invalid client assertion: {error}"))
}

async fn verify_assertion(
    state: &AppState,
    client: &OAuth2Client,
    method: TokenEndpointAuthMethod,
    jwt: &str,
) -> Result<VerifiedJwt, OAuthError> {
    if method == TokenEndpointAuthMethod::ClientSecretJwt {
        let secret = stored_secret(state, client)?;
        return jwt::verify_with_secret(jwt, secret.as_bytes()).map_err(assertion_error);
    }
    if let Some(text) = &client.jwks {
        let keys = PublicKeySet::from_json(text.as_bytes()).map_err(|e| {
            tracing::warn!(client_id = %client.id, error = %e, "the client's stored JWK Set is unusable");
            OAuthError::invalid_client("the client's JWK Set is unusable")
        })?;
        return keys.verify(jwt).map_err(assertion_error);
    }
    let Some(uri) = &client.jwks_uri else {
        return Err(OAuthError::invalid_client("the client has no JWK Set"));
    };
    let fetch_failed = |e: super::jwks_cache::JwksFetchError| {
        tracing::warn!(client_id = %client.id, jwks_uri = %uri, error = %e, "cannot fetch the client's JWK Set");
        OAuthError::invalid_client("the client's JWK Set could not be fetched")
    };
    let now = state.clock.now();
    let keys = state.jwks_cache.get(uri, now).await.map_err(fetch_failed)?;
    match keys.verify(jwt) {
        // A key the cached set lacks: the client may have rotated its keys since.
        Err(JwtError::UnknownKid(_) | JwtError::NoKeyForAlgorithm(_)) => {
            let keys = state
                .jwks_cache
                .refetch(uri, now)
                .await
                .map_err(fetch_failed)?;
            keys.verify(jwt).map_err(assertion_error)
        }
        other => other.map_err(assertion_error),
    }
}

/// RFC 7523 §3: the assertion's `aud` must identify this server: its token endpoint or issuer.
fn accepted_audiences(state: &AppState) -> Vec<String> {
    let issuer = state.config.http.issuer().to_string();
    let mut audiences = vec![state.public_url("oauth2/token")];
    audiences.push(issuer.trim_end_matches('/').to_owned());
    audiences.push(issuer);
    audiences
}

fn numeric_date(
    claims: &Map<String, Value>,
    name: &str,
) -> Result<Option<DateTime<Utc>>, OAuthError> {
    let Some(value) = claims.get(name) else {
        return Ok(None);
    };
    // RFC 7519 §2: seconds since the epoch, possibly with a fraction.
    value
        .as_i64()
        .or_else(|| value.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
        .and_then(|seconds| DateTime::from_timestamp(seconds, 0))
        .map(Some)
        .ok_or_else(|| {
            OAuthError::invalid_client(format!("the assertion's `{name}` is not a date"))
        })
}

/// RFC 7523 §3's checks of a verified assertion's claims. Returns its `jti` and expiry.
fn check_assertion_claims(
    claims: &Map<String, Value>,
    client_id: &str,
    audiences: &[String],
    now: DateTime<Utc>,
) -> Result<(String, DateTime<Utc>), OAuthError> {
    let refuse = |why: &str| {
        Err(OAuthError::invalid_client(format!(
            "invalid client assertion: {why}"
        )))
    };
    let text = |name| claims.get(name).and_then(Value::as_str);
    if text("iss") != Some(client_id) || text("sub") != Some(client_id) {
        return refuse("`iss` and `sub` must both be the client id");
    }
    let aud_matches = match claims.get("aud") {
        Some(Value::String(aud)) => audiences.contains(aud),
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(Value::as_str)
            .any(|aud| audiences.iter().any(|a| a == aud)),
        _ => false,
    };
    if !aud_matches {
        return refuse("`aud` must be the token endpoint or the issuer");
    }
    let Some(expires_at) = numeric_date(claims, "exp")? else {
        return refuse("`exp` is required");
    };
    // Arithmetic on `now` only: a date near the end of time plus the leeway would overflow.
    if expires_at <= now - CLOCK_LEEWAY {
        return refuse("the assertion has expired");
    }
    if expires_at > now + MAX_ASSERTION_LIFETIME {
        return refuse("`exp` is too far in the future");
    }
    if let Some(not_before) = numeric_date(claims, "nbf")?
        && not_before > now + CLOCK_LEEWAY
    {
        return refuse("the assertion is not valid yet");
    }
    if let Some(issued_at) = numeric_date(claims, "iat")? {
        if issued_at > now + CLOCK_LEEWAY {
            return refuse("`iat` is in the future");
        }
        if issued_at < now - MAX_ASSERTION_AGE {
            return refuse("the assertion was issued too long ago");
        }
    }
    let jti = match text("jti") {
        Some(jti) if !jti.is_empty() && jti.len() <= MAX_JTI_LEN => jti.to_owned(),
        _ => return refuse("`jti` is required (a string of at most 256 bytes)"),
    };
    // Kept until the latest instant the assertion could still be accepted.
    Ok((jti, expires_at + CLOCK_LEEWAY))
}

/// RFC 7523 §3: a `jti` is accepted once.
async fn record_jti(
    state: &AppState,
    client_id: Ulid,
    jti: &str,
    expires_at: DateTime<Utc>,
) -> Result<(), OAuthError> {
    let failed = |e: crate::store::StoreError| {
        OAuthError::server_error("client authentication: recording the assertion failed", &e)
    };
    let mut repo = state.store.repo().await.map_err(failed)?;
    let fresh = repo
        .client_assertions()
        .use_jti(client_id, jti, expires_at, state.clock.now())
        .await
        .map_err(failed)?;
    repo.save().await.map_err(failed)?;
    if fresh {
        Ok(())
    } else {
        Err(OAuthError::invalid_client(
            "invalid client assertion: this `jti` was already used",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn form(pairs: &[(&str, &str)]) -> ClientCredentialsForm {
        let mut form = ClientCredentialsForm::default();
        for (key, value) in pairs {
            let value = Some((*value).to_owned());
            match *key {
                "client_id" => form.client_id = value,
                "client_secret" => form.client_secret = value,
                "client_assertion_type" => form.client_assertion_type = value,
                "client_assertion" => form.client_assertion = value,
                other => panic!("unknown field {other}"),
            }
        }
        form
    }

    fn basic(id: &str, secret: &str) -> HeaderMap {
        use base64::Engine as _;
        let mut headers = HeaderMap::new();
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
        headers.insert(
            header::AUTHORIZATION,
            format!("Basic {encoded}").parse().expect("header"),
        );
        headers
    }

    fn assertion_for(sub: &str) -> String {
        use base64::Engine as _;
        let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        format!(
            "{}.{}.c2ln",
            b64(json!({"alg": "RS256"})),
            b64(json!({"sub": sub}))
        )
    }

    #[test]
    fn one_method_per_request() {
        let code = |headers: &HeaderMap, form: &ClientCredentialsForm| {
            presented_credentials(headers, form)
                .err()
                .map(|e| e.code.as_str())
        };
        let none = HeaderMap::new();
        let jwt = assertion_for("c");
        let with_assertion = |extra: &[(&str, &str)]| {
            let mut pairs = vec![
                ("client_assertion_type", JWT_BEARER_ASSERTION),
                ("client_assertion", jwt.as_str()),
            ];
            pairs.extend_from_slice(extra);
            form(&pairs)
        };
        assert_eq!(
            code(&basic("c", "s"), &form(&[("client_secret", "s")])),
            Some("invalid_request")
        );
        assert_eq!(
            code(&basic("c", "s"), &with_assertion(&[])),
            Some("invalid_request")
        );
        assert_eq!(
            code(&none, &with_assertion(&[("client_secret", "s")])),
            Some("invalid_request")
        );
        assert_eq!(code(&none, &form(&[])), Some("invalid_client"));
        assert_eq!(
            code(&none, &form(&[("client_assertion", jwt.as_str())])),
            Some("invalid_request")
        );
        assert_eq!(
            code(
                &none,
                &form(&[
                    ("client_assertion_type", "urn:x"),
                    ("client_assertion", jwt.as_str())
                ])
            ),
            Some("invalid_request")
        );
        // A client_id beside other credentials must agree with them.
        assert_eq!(
            code(&basic("c", "s"), &form(&[("client_id", "d")])),
            Some("invalid_request")
        );
        assert_eq!(
            code(&none, &with_assertion(&[("client_id", "d")])),
            Some("invalid_request")
        );
        assert_eq!(code(&basic("c", "s"), &form(&[("client_id", "c")])), None);

        let mut bearer = HeaderMap::new();
        bearer.insert(header::AUTHORIZATION, "Bearer x".parse().expect("header"));
        assert_eq!(
            code(&bearer, &form(&[("client_id", "c")])),
            Some("invalid_client")
        );

        let (id, presented) = presented_credentials(&none, &with_assertion(&[])).expect("ok");
        assert_eq!(id, "c");
        assert!(presented.fits(TokenEndpointAuthMethod::PrivateKeyJwt));
        assert!(presented.fits(TokenEndpointAuthMethod::ClientSecretJwt));
        assert!(!presented.fits(TokenEndpointAuthMethod::ClientSecretBasic));
        let (_, presented) =
            presented_credentials(&none, &form(&[("client_id", "c")])).expect("ok");
        assert!(presented.fits(TokenEndpointAuthMethod::None));
        assert!(!presented.fits(TokenEndpointAuthMethod::ClientSecretPost));
    }

    #[test]
    fn basic_credentials_are_form_urlencoded() {
        use base64::Engine as _;
        let encode = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        assert_eq!(
            basic_credentials(&encode("my%20client:a+b%3Ac%26d")).expect("decodes"),
            ("my client".to_owned(), "a b:c&d".to_owned())
        );
        // Unencoded `&` and `=` stand for themselves (an old decoder cut the secret at `&`).
        assert_eq!(
            basic_credentials(&encode("id:x&y=z")).expect("decodes"),
            ("id".to_owned(), "x&y=z".to_owned())
        );
        for bad in [
            encode("no-colon"),
            "!!!".to_owned(),
            encode("id:%zz"),
            encode("id:%4"),
        ] {
            assert_eq!(
                basic_credentials(&bad).map_err(|e| e.code.as_str()),
                Err("invalid_client"),
                "{bad}"
            );
        }
    }

    #[test]
    fn secret_comparison() {
        assert!(secrets_match("s3cret", "s3cret"));
        assert!(!secrets_match("s3cret", "s3cret "));
        assert!(!secrets_match("s3cret", ""));
    }

    #[test]
    fn assertion_claim_rules() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).expect("time");
        let t = now.timestamp();
        let audiences = vec!["https://auth.example.org/oauth2/token".to_owned()];
        let good = json!({
            "iss": "c", "sub": "c", "aud": "https://auth.example.org/oauth2/token",
            "exp": t + 60, "iat": t, "jti": "j1",
        });
        let check = |claims: &Value| {
            check_assertion_claims(claims.as_object().expect("object"), "c", &audiences, now)
                .map_err(|e| e.description.unwrap_or_default())
        };
        let (jti, expires_at) = check(&good).expect("accepted");
        assert_eq!(jti, "j1");
        assert_eq!(expires_at.timestamp(), t + 60 + 30);
        let with = |key: &str, value: Value| {
            let mut claims = good.clone();
            claims[key] = value;
            claims
        };
        let without = |key: &str| {
            let mut claims = good.clone();
            claims.as_object_mut().expect("object").remove(key);
            claims
        };
        assert!(
            check(&with("aud", json!(["x", audiences[0]]))).is_ok(),
            "aud in a list"
        );
        assert!(
            check(&with("exp", json!(t - 10))).is_ok(),
            "within the leeway"
        );
        assert!(
            check(&with("exp", json!((t + 60) as f64 + 0.5))).is_ok(),
            "fractional"
        );
        for (claims, why) in [
            (with("iss", json!("d")), "`iss` and `sub`"),
            (with("sub", json!("d")), "`iss` and `sub`"),
            (without("iss"), "`iss` and `sub`"),
            (with("aud", json!("https://elsewhere.example/")), "`aud`"),
            (with("aud", json!(["x"])), "`aud`"),
            (without("aud"), "`aud`"),
            (without("exp"), "`exp` is required"),
            (with("exp", json!("soon")), "not a date"),
            (with("exp", json!(t - 31)), "expired"),
            (with("exp", json!(t + 2 * 3600)), "too far"),
            (
                with("exp", json!(DateTime::<Utc>::MAX_UTC.timestamp())),
                "too far",
            ),
            (with("nbf", json!(t + 120)), "not valid yet"),
            (with("iat", json!(t - 2 * 3600)), "too long ago"),
            (with("iat", json!(t + 120)), "in the future"),
            (without("jti"), "`jti` is required"),
            (with("jti", json!("")), "`jti` is required"),
            (with("jti", json!(7)), "`jti` is required"),
            (with("jti", json!("j".repeat(257))), "`jti` is required"),
        ] {
            let error = check(&claims).expect_err(why);
            assert!(error.contains(why), "{why}: {error}");
        }
    }
}
